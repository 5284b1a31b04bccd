//! Recording revocations in Redis: one Lua script records and announces any number of
//! entries of one kind atomically, loaded once per process; once Redis holds them, this
//! instance's local view has them too.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use redis::Script;

use super::{parse_value, until_text, Inner, Kind, EXPIRY_SLACK_MS};
use crate::denylist::DenylistError;

/// Records revocations and announces them, atomically, keeping the larger number (a cut-off
/// never moves back) and the later deadline (`never` wins). Values are `<number> <until>`
/// with `until` in epoch milliseconds or `never`; messages are `<kind> <value> <name>`.
/// Numbers are compared as numbers but kept as written, so no precision is lost. KEYS: the
/// entries. ARGV: kind, number, until, slack, channel, the publishing command (`PUBLISH`,
/// or `SPUBLISH` on a Cluster), then the name of each entry. Answers their values, then how
/// many replicas the primary has connected.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
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
",
    )
});

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
        let mut invocation = RECORD.prepare_invoke();
        for name in names {
            invocation.key(self.key(kind, name));
        }
        invocation
            .arg(kind.letter())
            .arg(number.to_string())
            .arg(until_text(until))
            .arg(EXPIRY_SLACK_MS)
            .arg(&self.channel)
            .arg(self.publish);
        for name in names {
            invocation.arg(*name);
        }
        // The script and its `WAIT` on one connection of their own: `WAIT` holds the
        // connection it is sent on (not the lookups'), and counts that connection's writes.
        let replicas = self.replicas;
        let names_len = names.len();
        let slot_of = self.key(kind, names[0]);
        let (values, waited): (Vec<String>, Option<(u32, u32)>) = self
            .writes
            .run_within(
                self.timeout.saturating_add(replicas.timeout),
                |mut link| async move {
                    let values: Vec<String> = invocation.invoke_async(&mut link).await?;
                    let online = values.get(names_len).and_then(|n| n.parse::<u32>().ok());
                    let wanted = replicas.count.min(online.unwrap_or(0));
                    if wanted == 0 {
                        return Ok((values, None));
                    }
                    let millis = u64::try_from(replicas.timeout.as_millis()).unwrap_or(u64::MAX);
                    // On the primary that ran the script, on its connection: `WAIT` counts
                    // that connection's writes.
                    let wait = redis::cmd("WAIT").arg(wanted).arg(millis.max(1)).clone();
                    let acked: u32 = link.query_at_key(wait, &slot_of).await?;
                    Ok((values, Some((acked, wanted))))
                },
            )
            .await
            .map_err(DenylistError::new)?;
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
