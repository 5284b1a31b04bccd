#!/usr/bin/env bash
# HTTP measurements of the example server on loopback, with wrk (apt-get install -y wrk):
#   1. GET /whoami (JwtRequired, answers from the token alone) against GET /health
#      (unguarded): requests per second in alternating short runs, median of the pairs'
#      ratios; with the memo of verified tokens on (the default) and then off
#      (JWT_VERIFIED_TOKEN_CACHE=false: every request verified from scratch).
#   2. Login storm: 64 concurrent clients on POST /token for 11 s: successful logins per
#      second against the machine's Argon2 limit (cores / time of one hash), and the p99
#      latency of GET /me and of GET /whoami at a steady 200 requests/s during the storm
#      against the same without it (scripts/latency-probe.rs, built with rustc).
# Usage: scripts/http-bench.sh [pairs]   (default 21; every run is bounded in time)
# PASSWORD_HASH_CONCURRENCY (default: cores) sets the server's hashing threads.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-21}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release --example server -q
work=$(mktemp -d)
rustc -O --edition 2021 scripts/latency-probe.rs -o "$work/latency-probe"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server=""
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT

# Starts the example server (memo of verified tokens on or off) on a fresh database, with
# one user, and logs that user in: $token.
start_server() {
  if [ -n "$server" ]; then kill "$server"; wait "$server" 2>/dev/null || true; fi
  rm -f "$work"/bench.db*
  APP_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$work/bench.db" \
    JWT_SECRET_KEY="http-bench-secret-0123456789abcdefghijkl" RUST_LOG=warn \
    JWT_VERIFIED_TOKEN_CACHE="$1" \
    PASSWORD_HASH_CONCURRENCY="${PASSWORD_HASH_CONCURRENCY:-$(nproc)}" \
    "${CARGO_TARGET_DIR:-target}/release/examples/server" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
  curl -sf "$base/users" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"bench password"}' >/dev/null
  token=$(curl -sf "$base/token" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench password"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}

rps() { wrk -t1 -c32 -d1s "$@" | awk '/Requests\/sec/ {print $2}'; }
# The median and quartiles of numbers, one per line.
stats() { python3 -c 'import sys, statistics as st
v = sorted(float(x) for x in sys.stdin); q = st.quantiles(v, n=4) if len(v) > 1 else v * 3
print(f"{st.median(v):.3f} [{q[0]:.3f}, {q[2]:.3f}]")'; }

# $pairs pairs of 1 s runs, the order alternating, so that the machine's drift (its speed
# moves by tens of percent over seconds) falls on both routes alike.
http_ratio() {
  local ratios=() health=() whoami=() h w
  for r in $(seq "$pairs"); do
    if [ $((r % 2)) = 0 ]; then w=$(rps -H "Authorization: Bearer $token" "$base/whoami"); fi
    h=$(rps "$base/health")
    if [ $((r % 2)) = 1 ]; then w=$(rps -H "Authorization: Bearer $token" "$base/whoami"); fi
    health+=("$h"); whoami+=("$w")
    ratios+=("$(python3 -c "print($w / $h)")")
  done
  echo "  GET /health  req/s: median [quartiles] $(printf '%s\n' "${health[@]}" | stats)"
  echo "  GET /whoami  req/s: median [quartiles] $(printf '%s\n' "${whoami[@]}" | stats)"
  echo "  ratio /whoami : /health, median [quartiles] of $pairs pairs: $(printf '%s\n' "${ratios[@]}" | stats)"
}

echo "== GET /whoami vs GET /health ($pairs pairs of 1 s runs, 32 connections)"
echo "-- memo of verified tokens on (default)"
start_server true
http_ratio
echo "-- memo off (JWT_VERIFIED_TOKEN_CACHE=false)"
start_server false
http_ratio
start_server true

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
