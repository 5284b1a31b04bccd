#!/usr/bin/env bash
# HTTP measurements of the example server on loopback, with wrk (apt-get install -y wrk):
#   1. GET /whoami (JwtRequired, answers from the token alone) against GET /health
#      (unguarded): requests per second, interleaved rounds, median ratio.
#   2. Login storm: 64 concurrent clients on POST /token for 10 s: successful logins per
#      second against the machine's Argon2 limit (cores / time of one hash), and the p99
#      latency of GET /me at a steady 200 requests/s during the storm against the same
#      without it.
# Usage: scripts/http-bench.sh [rounds]   (default 3; every run is bounded in time)
# PASSWORD_HASH_CONCURRENCY (default: cores) sets the server's hashing threads;
# PROBE_WHOAMI=1 also probes GET /whoami with and without the storm.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --example server -q
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
APP_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$work/bench.db" \
  JWT_SECRET_KEY="http-bench-secret-0123456789abcdefghijkl" RUST_LOG=warn \
  PASSWORD_HASH_CONCURRENCY="${PASSWORD_HASH_CONCURRENCY:-$(nproc)}" \
  target/release/examples/server >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

curl -sf "$base/users" -H 'content-type: application/json' \
  -d '{"username":"bench","email":"bench@example.com","password":"bench password"}' >/dev/null
token=$(curl -sf "$base/token" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"bench password"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

rps() { wrk -t1 -c32 -d5s "$@" | awk '/Requests\/sec/ {print $2}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== GET /whoami vs GET /health ($rounds interleaved rounds of 5 s, 32 connections)"
# /health twice: as is, and carrying the same Authorization header as /whoami (so that both
# requests have the same size and only the guard differs).
health=(); health_h=(); whoami=()
for r in $(seq "$rounds"); do
  health+=("$(rps "$base/health")")
  health_h+=("$(rps -H "Authorization: Bearer $token" "$base/health")")
  whoami+=("$(rps -H "Authorization: Bearer $token" "$base/whoami")")
  echo "round $r: /health ${health[-1]}, /health+header ${health_h[-1]}, /whoami ${whoami[-1]} req/s"
done
h=$(printf '%s\n' "${health[@]}" | median); hh=$(printf '%s\n' "${health_h[@]}" | median)
w=$(printf '%s\n' "${whoami[@]}" | median)
echo "median: /health $h, /health+header $hh, /whoami $w req/s"
echo "ratio /whoami : /health = $(python3 -c "print(f'{$w/$h:.3f}')"); /whoami : /health+header = $(python3 -c "print(f'{$w/$hh:.3f}')")"

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

# GET /me at a steady 200 requests/s for 10 s on one keep-alive connection; prints the p99
# latency in ms. (A closed-loop generator would saturate a core by itself.)
cat >"$work/probe.py" <<'PY'
import http.client, sys, time
port, token = int(sys.argv[1]), sys.argv[2]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
latencies, start = [], time.perf_counter()
for i in range(2000):
    due = start + i / 200
    now = time.perf_counter()
    if due > now:
        time.sleep(due - now)
    t = time.perf_counter()
    conn.request("GET", sys.argv[3] if len(sys.argv) > 3 else "/me", headers={"Authorization": "Bearer " + token})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    latencies.append(time.perf_counter() - t)
latencies.sort()
print(f"{latencies[int(len(latencies) * 0.99)] * 1000:.3f}")
PY
quiet=$(python3 "$work/probe.py" "$port" "$token")
echo "GET /me p99 without the storm (200 req/s): $quiet ms"
wrk -t1 -c64 -d10s -s "$work/login.lua" "$base/token" >"$work/storm.txt" &
storm=$!
busy=$(python3 "$work/probe.py" "$port" "$token")
wait $storm
if [ -n "${PROBE_WHOAMI:-}" ]; then
  q2=$(python3 "$work/probe.py" "$port" "$token" /whoami)
  wrk -t1 -c64 -d10s -s "$work/login.lua" "$base/token" >/dev/null &
  storm=$!
  b2=$(python3 "$work/probe.py" "$port" "$token" /whoami)
  wait $storm
  echo "GET /whoami p99: quiet $q2 ms, storm $b2 ms"
fi
total=$(awk '/requests in/ {print $1}' "$work/storm.txt")
refused=$(awk '/Non-2xx/ {print $5}' "$work/storm.txt"); refused=${refused:-0}
ok=$(python3 -c "print(f'{($total - $refused) / 10:.1f}')")
echo "storm: $ok successful logins/s ($refused of $total answered 503), $(python3 -c "print(f'{($total - $refused) / 10 / $limit:.2f}')") of the Argon2 limit"
echo "GET /me p99 during the storm: $busy ms, $(python3 -c "print(f'{$busy / $quiet:.2f}')")x the quiet p99"
