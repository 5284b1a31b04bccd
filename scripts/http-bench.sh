#!/usr/bin/env bash
# HTTP measurements of the example server on loopback, with wrk (apt-get install -y wrk):
#   1. GET /whoami (JwtRequired, answers from the token alone) against GET /health
#      (unguarded): requests per second in alternating short runs, median of the pairs'
#      ratios; with the memo of verified tokens on (the default) and then off
#      (JWT_VERIFIED_TOKEN_CACHE=false: every request verified from scratch).
#   2. Login storm: 64 concurrent clients on POST /token for 11 s: successful logins per
#      second against the machine's Argon2 limit (cores / time of one login), and the p99
#      latency of GET /me and of GET /whoami at a steady 200 requests/s during the storm
#      against the same without it (scripts/latency-probe.rs, built with rustc); STORMS
#      storms (default 3), each with its own quiet baseline, and their medians.
# Usage: scripts/http-bench.sh [pairs]   (default 21; every run is bounded in time)
# PASSWORD_HASH_CONCURRENCY (default: cores) sets the server's hashing threads. The storm's
# 64 concurrent logins of one user from one address each hold a place in the login
# throttle's (account, address) and address keys until they succeed, and those in flight
# when a storm ends count for the address: those limits are raised above them
# (LOGIN_MAX_FAILURES_PER_ACCOUNT_IP and _PER_IP, default here 1000), so that the storm
# measures the throttle when no key is exhausted.
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
    LOGIN_MAX_FAILURES_PER_ACCOUNT_IP="${LOGIN_MAX_FAILURES_PER_ACCOUNT_IP:-1000}" \
    LOGIN_MAX_FAILURES_PER_IP="${LOGIN_MAX_FAILURES_PER_IP:-1000}" \
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
storms=${STORMS:-3}
# $storms storms, each after its own quiet measurement (the machine's speed drifts):
# the Argon2 limit from one login at a time (cores / time of one login), then GET /me and
# GET /whoami at a steady 200 requests/s for 5 s each on one keep-alive connection, without
# the storm and during it: p99 latency in ms. (A closed-loop generator would saturate a
# core by itself.)
probe() { "$work/latency-probe" "$port" "$token" "$1" 1000; }
storm_s=11  # covers both probes
throughputs=(); me_ratios=(); whoami_ratios=()
for n in $(seq "$storms"); do
  one=$(wrk -t1 -c1 -d4s -s "$work/login.lua" "$base/token" | awk '/Requests\/sec/ {print $2}')
  limit=$(python3 -c "print($one * $cores)")
  quiet_me=$(probe /me); quiet_whoami=$(probe /whoami)
  wrk -t1 -c64 -d${storm_s}s -s "$work/login.lua" "$base/token" >"$work/storm.txt" &
  storm=$!
  sleep 0.2
  busy_me=$(probe /me); busy_whoami=$(probe /whoami)
  wait $storm
  total=$(awk '/requests in/ {print $1}' "$work/storm.txt")
  refused=$(awk '/Non-2xx/ {print $5}' "$work/storm.txt"); refused=${refused:-0}
  throughputs+=("$(python3 -c "print(($total - $refused) / $storm_s / $limit)")")
  me_ratios+=("$(python3 -c "print($busy_me / $quiet_me)")")
  whoami_ratios+=("$(python3 -c "print($busy_whoami / $quiet_whoami)")")
  echo "storm $n: one login at a time $one/s (limit $limit/s with $cores cores);" \
    "$(python3 -c "print(f'{($total - $refused) / $storm_s:.1f}')") successful logins/s" \
    "($refused of $total answered 503) = $(printf '%.2f' "${throughputs[-1]}") of the limit;" \
    "p99 quiet -> storm: GET /me $quiet_me -> $busy_me ms ($(printf '%.2f' "${me_ratios[-1]}")x)," \
    "GET /whoami $quiet_whoami -> $busy_whoami ms ($(printf '%.2f' "${whoami_ratios[-1]}")x)"
done
echo "medians of $storms storms: throughput $(printf '%s\n' "${throughputs[@]}" | stats | cut -d' ' -f1) of the Argon2 limit;" \
  "p99 storm/quiet GET /me $(printf '%s\n' "${me_ratios[@]}" | stats | cut -d' ' -f1)x," \
  "GET /whoami $(printf '%s\n' "${whoami_ratios[@]}" | stats | cut -d' ' -f1)x"
