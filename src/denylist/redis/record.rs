//! Recording revocations in Redis: one Lua script records and announces any number of
//! entries of one kind atomically, loaded once per process; once Redis holds them, this
//! instance's local view has them too.

use std::sync::atomic::Ordering;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use redis::Script;

use super::{parse_value, until_text, Inner, Kind, EXPIRY_SLACK_MS};
use crate::denylist::DenylistError;
use crate::redis_connection::Failure;

/// Records revocations and announces them, atomically, keeping the larger number (a cut-off
/// never moves back) and the later deadline (`never` wins). Values are `<number> <until>`
/// with `until` in epoch milliseconds or `never`; messages are `<kind> <value> <name>`.
/// Numbers are compared as numbers but kept as written, so no precision is lost. KEYS: the
/// entries. ARGV: kind, number, until, slack, channel, the publishing command (`PUBLISH`,
/// or `SPUBLISH` on a Cluster), then the name of each entry. Answers their values, then how
/// many replicas the primary has connected.
static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(RECORD_CODE));

/// [`RECORD`]'s Lua.
const RECORD_CODE: &str = r"
local function record(key, kind, number, untilv, slack, channel, publish, name)
  local old = redis.call('GET', key)
  if old then
    local old_number, old_until = string.match(old, '^(%S+) (%S+)$')
    if not old_number then old_number, old_until = old, 'never' end
    if tonumber(old_number) and tonumber(old_number) > tonumber(number) then number = old_number end
    if old_until == 'never' or untilv == 'never' then
      untilv = 'never'
    elseif tonumber(old_until) > tonumber(untilv) then
      untilv = old_until
    end
  end
  local value = number .. ' ' .. untilv
  redis.call('SET', key, value)
  if untilv ~= 'never' then
    redis.call('PEXPIREAT', key, string.format('%.0f', tonumber(untilv) + tonumber(slack)))
  end
  redis.call(publish, channel, kind .. ' ' .. value .. ' ' .. name)
  return value
end
local values = {}
for i = 1, #KEYS do
  values[i] = record(KEYS[i], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[6 + i])
end
-- Replicas connected, whatever their state: one still loading its first full copy holds
-- nothing yet, and a failover could promote it (so a revocation waits for it, and fails
-- when it cannot). A user whose ACL denies INFO (@dangerous) sees none: never waited for,
-- as a single node.
local online = 0
local info = redis.pcall('INFO', 'replication')
if type(info) == 'string' then
  online = tonumber(string.match(info, 'connected_slaves:(%d+)')) or 0
end
values[#KEYS + 1] = tostring(online)
return values
";

impl Inner {
    /// Records revocations of `names` (of one kind, number and deadline) with one script;
    /// once Redis holds them, this instance's view has them too.
    pub(super) async fn record(
        &self,
        kind: Kind,
        names: &[&str],
        number: f64,
        until: Option<SystemTime>,
    ) -> Result<(), DenylistError> {
        if names.is_empty() || until.is_some_and(|until| until <= self.local.now()) {
            return Ok(()); // nothing to record, or every token it would cover has expired
        }
        let keys: Vec<String> = names.iter().map(|name| self.key(kind, name)).collect();
        let mut args = vec![
            kind.letter().to_owned(),
            number.to_string(),
            until_text(until),
            EXPIRY_SLACK_MS.to_string(),
            self.channel.clone(),
            self.publish.to_owned(),
        ];
        args.extend(names.iter().map(|name| (*name).to_owned()));
        let replicas = self.replicas;
        let slot_of = keys[0].clone();
        let within = self.timeout.saturating_add(replicas.timeout);
        // The script and its `WAIT` on one connection of their own: `WAIT` holds the
        // connection it is sent on (not the lookups'), and counts that connection's writes.
        let (values, waited): (Vec<String>, Option<(u32, u32)>) = if self.writes.is_cluster() {
            self.record_on_cluster(keys, args, &slot_of, within).await?
        } else {
            let mut invocation = RECORD.prepare_invoke();
            for key in &keys {
                invocation.key(key);
            }
            for arg in &args {
                invocation.arg(arg);
            }
            self.writes
                .run_within(within, |mut link| async move {
                    let values: Vec<String> = invocation.invoke_async(&mut link).await?;
                    let wanted = replicas.count.min(online(&values, names.len()));
                    if wanted == 0 {
                        return Ok((values, None));
                    }
                    let acked: u32 = wait(wanted, replicas.timeout)
                        .query_async(&mut link)
                        .await?;
                    Ok((values, Some((acked, wanted))))
                })
                .await
                .map_err(Failure::into_error)?
        };
        for (i, name) in names.iter().enumerate() {
            match values.get(i).and_then(|value| parse_value(value)) {
                Some((number, until)) => self.apply(kind, name, number, until),
                None => self.apply(kind, name, number, until),
            }
        }
        // Done once enough replicas hold it too: what only the primary held could vanish
        // with it in a failover. (This instance's view has it already: it is revoked.)
        match waited {
            Some((acked, wanted)) if acked < wanted => Err(DenylistError::new(format!(
                "redis: the revocation reached {acked} of {wanted} replicas within {:?}",
                replicas.timeout
            ))),
            _ => Ok(()),
        }
    }
}

impl Inner {
    /// On a Cluster, the script and its `WAIT` go as one pipeline to the primary holding
    /// the slot: its client may reconnect a node, or follow a moved slot, between two
    /// commands, and a `WAIT` on another connection would count writes it never made (and
    /// answer at once). How many replicas to wait for is what the script said last time
    /// (at first: as many as asked); when it now says more are connected than were waited
    /// for, the revocation is reported failed, and its retry waits for them.
    async fn record_on_cluster(
        &self,
        keys: Vec<String>,
        args: Vec<String>,
        slot_of: &str,
        within: Duration,
    ) -> Result<(Vec<String>, Option<(u32, u32)>), DenylistError> {
        let replicas = self.replicas;
        let guess = replicas
            .count
            .min(self.replicas_seen.load(Ordering::Relaxed));
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(RECORD_CODE)
            .arg(keys.len())
            .arg(&keys)
            .arg(&args);
        if guess > 0 {
            pipe.add_command(wait(guess, replicas.timeout));
        }
        let names = keys.len();
        let answers: Vec<redis::Value> = self
            .writes
            .run_within(within, |mut link| async move {
                link.pipeline_at_key(pipe, slot_of).await
            })
            .await
            .map_err(Failure::into_error)?;
        let mut answers = answers.into_iter();
        let values: Vec<String> = answers
            .next()
            .ok_or_else(|| "no answer".to_owned())
            .and_then(|v| redis::from_redis_value(v).map_err(|e| e.to_string()))
            .map_err(|e| DenylistError::new(format!("redis: {e}")))?;
        let online = online(&values, names);
        self.replicas_seen.store(online, Ordering::Relaxed);
        let wanted = replicas.count.min(online);
        let acked: u32 = match answers.next() {
            Some(acked) => redis::from_redis_value(acked)
                .map_err(|e| DenylistError::new(format!("redis: {e}")))?,
            None => 0,
        };
        Ok((values, (wanted > 0 || guess > 0).then_some((acked, wanted))))
    }
}

/// How many replicas the record script says the primary has connected (after the values of
/// its `names` entries).
fn online(values: &[String], names: usize) -> u32 {
    values
        .get(names)
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0)
}

/// `WAIT` for `count` replicas, at most `timeout`.
fn wait(count: u32, timeout: Duration) -> redis::Cmd {
    let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    redis::cmd("WAIT").arg(count).arg(millis.max(1)).clone()
}

/// How many replicas must acknowledge a revocation, within what time.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReplicaAcks {
    pub(super) count: u32,
    pub(super) timeout: Duration,
}

impl Default for ReplicaAcks {
    fn default() -> Self {
        Self {
            count: 1,
            timeout: Duration::from_millis(300),
        }
    }
}
