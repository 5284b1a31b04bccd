#!/usr/bin/env bash
# What the metrics cost the guard (BENCHMARKS.md §7): builds benches/metrics.rs without and
# with the `metrics` feature, then runs `off`, `noop` and `prometheus` in turn for ROUNDS
# rounds (default 3) and prints each round's medians and the ratios to `off`.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
bin() {
    cargo bench --bench metrics "$@" --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "metrics" and m.get("executable"):
        print(m["executable"])' | tail -1
}
tmp=$(mktemp -d)
cp "$(bin)" "$tmp/off"
cp "$(bin --features metrics)" "$tmp/on"
for round in $(seq 1 "$rounds"); do
    off=$("$tmp/off" --bench 2>/dev/null | grep '^MEDIAN')
    noop=$("$tmp/on" --bench 2>/dev/null | grep '^MEDIAN')
    prom=$(METRICS_RECORDER=prometheus "$tmp/on" --bench 2>/dev/null | grep '^MEDIAN')
    python3 - "$off" "$noop" "$prom" "$round" <<'PY'
import sys
rows = [l.split() for l in sys.argv[1:4]]
base = {"accepted": float(rows[0][3]), "refused": float(rows[0][5])}
print(f"round {sys.argv[4]}:", "  ".join(
    f"{r[1]} accepted {float(r[3]):.0f} ns ({float(r[3]) / base['accepted']:.3f}x), "
    f"refused {float(r[5]):.0f} ns ({float(r[5]) / base['refused']:.3f}x)" for r in rows))
PY
done
rm -rf "$tmp"
