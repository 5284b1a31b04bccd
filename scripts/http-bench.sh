#!/usr/bin/env bash
# HTTP measurements of the example server on loopback, with wrk (apt-get install -y wrk):
#   1. GET /whoami (JwtRequired, answers from the token alone) against GET /health
#      (unguarded): requests per second, interleaved rounds, median ratio.
#   2. Login storm: 64 concurrent clients on POST /token for 11 s: successful logins per
#      second against the machine's Argon2 limit (cores / time of one hash), and the p99
#      latency of GET /me and of GET /whoami at a steady 200 requests/s during the storm
#      against the same without it (scripts/latency-probe.rs, built with rustc).
# Usage: scripts/http-bench.sh [rounds]   (default 9; every run is bounded in time)
# PASSWORD_HASH_CONCURRENCY (default: cores) sets the server's hashing threads.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --example server -q
work=$(mktemp -d)
rustc -O --edition 2021 scripts/latency-probe.rs -o "$work/latency-probe"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
APP_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$work/bench.db" \
  JWT_SECRET_KEY="http-bench-secret-0123456789abcdefghijkl" RUST_LOG=warn \
  PASSWORD_HASH_CONCURRENCY="${PASSWORD_HASH_CONCURRENCY:-$(nproc)}" \
  "${CARGO_TARGET_DIR:-target}/release/examples/server" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

curl -sf "$base/users" -H 'content-type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"bench password"}' >/dev/null
token=$(curl -sf "$base/token" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

rps() { wrk -t1 -c32 -d3s "$@" | awk '/Requests\/sec/ {print $2}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== GET /whoami vs GET /health ($rounds interleaved rounds of 3 s runs, 32 connections)"
# /health twice: as is, and carrying the same Authorization header as /whoami (so that both
# requests have the same size and only the guard differs).
health=(); health_h=(); whoami=(); ratios=(); ratios_h=()
for r in $(seq "$rounds"); do
  # Odd rounds run /whoami last, even rounds first, so that a drift of the machine's speed
  # within a round does not always favour the same route.
  if [ $((r % 2)) = 0 ]; then w_=$(rps -H "Authorization: Bearer $token" "$base/whoami"); fi
  health+=("$(rps "$base/health")")
  health_h+=("$(rps -H "Authorization: Bearer $token" "$base/health")")
  if [ $((r % 2)) = 1 ]; then w_=$(rps -H "Authorization: Bearer $token" "$base/whoami"); fi
  whoami+=("$w_")
  ratios+=("$(python3 -c "print(${whoami[-1]} / ${health[-1]})")")
  ratios_h+=("$(python3 -c "print(${whoami[-1]} / ${health_h[-1]})")")
  echo "round $r: /health ${health[-1]}, /health+header ${health_h[-1]}, /whoami ${whoami[-1]} req/s"
done
h=$(printf '%s\n' "${health[@]}" | median); hh=$(printf '%s\n' "${health_h[@]}" | median)
w=$(printf '%s\n' "${whoami[@]}" | median)
echo "median: /health $h, /health+header $hh, /whoami $w req/s"
# Each round's three runs are seconds apart; the machine's speed drifts over longer spans.
echo "ratio /whoami : /health, median of the rounds' ratios = $(printf '%s\n' "${ratios[@]}" | median | xargs printf '%.3f') ($(printf '%.3f ' "${ratios[@]}")); /whoami : /health+header = $(printf '%s\n' "${ratios_h[@]}" | median | xargs printf '%.3f')"

echo "== Login storm"
cat >"$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email":"bench@example.com","password":"bench password"}'
wrk.headers["Content-Type"] = "application/json"
LUA
cores=$(nproc)
one=$(wrk -t1 -c1 -d5s -s "$work/login.lua" "$base/token" | awk '/Requests\/sec/ {print $2}')
limit=$(python3 -c "print($one * $cores)")
echo "one login at a time: $one logins/s (one Argon2 hash: $(python3 -c "print(f'{1000/$one:.1f}')") ms); limit with $cores cores: $limit logins/s"

# GET /me and GET /whoami, each at a steady 200 requests/s for 5 s on one keep-alive
# connection: p99 latency in ms, without the storm and then during it. (A closed-loop
# generator would saturate a core by itself.)
probe() { "$work/latency-probe" "$port" "$token" "$1" 1000; }
quiet_me=$(probe /me); quiet_whoami=$(probe /whoami)
echo "p99 without the storm (200 req/s): GET /me $quiet_me ms, GET /whoami $quiet_whoami ms"
storm_s=11  # covers both probes
wrk -t1 -c64 -d${storm_s}s -s "$work/login.lua" "$base/token" >"$work/storm.txt" &
storm=$!
sleep 0.2
busy_me=$(probe /me); busy_whoami=$(probe /whoami)
wait $storm
total=$(awk '/requests in/ {print $1}' "$work/storm.txt")
refused=$(awk '/Non-2xx/ {print $5}' "$work/storm.txt"); refused=${refused:-0}
ok=$(python3 -c "print(f'{($total - $refused) / $storm_s:.1f}')")
echo "storm: $ok successful logins/s ($refused of $total answered 503), $(python3 -c "print(f'{($total - $refused) / $storm_s / $limit:.2f}')") of the Argon2 limit"
echo "p99 during the storm: GET /me $busy_me ms ($(python3 -c "print(f'{$busy_me / $quiet_me:.2f}')")x the quiet p99), GET /whoami $busy_whoami ms ($(python3 -c "print(f'{$busy_whoami / $quiet_whoami:.2f}')")x)"
