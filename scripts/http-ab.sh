#!/usr/bin/env bash
# A/B over HTTP: /whoami ÷ /health requests per second of two example-server binaries
# (BINS, default /tmp/server-base /tmp/server-new), memo on and off (MEMOS), in PAIRS (11)
# alternating pairs of 1 s wrk runs on loopback; medians and quartiles of the ratios.
set -euo pipefail
pairs=${PAIRS:-11}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server=""
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
start_server() {
  if [ -n "$server" ]; then kill "$server"; wait "$server" 2>/dev/null || true; fi
  rm -f "$work"/bench.db*
  APP_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$work/bench.db" \
    JWT_SECRET_KEY="http-bench-secret-0123456789abcdefghijkl" RUST_LOG=warn \
    JWT_VERIFIED_TOKEN_CACHE="$2" "$1" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
  curl -sf "$base/users" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.com","password":"bench password"}' >/dev/null
  token=$(curl -sf "$base/token" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench password"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}
rps() { wrk -t1 -c32 -d1s "$@" | awk '/Requests\/sec/ {print $2}'; }
for memo in ${MEMOS:-true false}; do
  for bin in ${BINS:-/tmp/server-base /tmp/server-new}; do
    start_server "$bin" "$memo"
    ratios=()
    for r in $(seq "$pairs"); do
      if [ $((r % 2)) = 0 ]; then w=$(rps -H "Authorization: Bearer $token" "$base/whoami"); fi
      h=$(rps "$base/health")
      if [ $((r % 2)) = 1 ]; then w=$(rps -H "Authorization: Bearer $token" "$base/whoami"); fi
      ratios+=("$(python3 -c "print($w/$h)")")
    done
    printf '%s\n' "${ratios[@]}" | python3 -c 'import sys, statistics as st
v = sorted(float(x) for x in sys.stdin); q = st.quantiles(v, n=4)
print(f"'"$bin memo=$memo"': whoami/health {st.median(v):.3f} [{q[0]:.3f}, {q[2]:.3f}]")'
  done
done
