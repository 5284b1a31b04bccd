#!/usr/bin/env python3
"""Draws the guard's cost per request against the floor and the peers: docs/guard-cost.svg.

Reads the medians the benches write (nanoseconds per call, `{"<case>": {"<routine>": ns}}`,
see `write_medians` in benches/support/mod.rs) from `$CARGO_TARGET_DIR/criterion/` (else
`target/criterion/`):

- guard-medians.json (`cargo bench --bench guard`), case "hs256": echo, layer,
  layer_remembered, floor_mac, floor, jsonwebtoken_decode, jwt_authorizer_echo,
  jwt_authorizer;
- axum-medians.json (optional), case "hs256": bare, ours, ours_remembered, peer.

Overheads are differences against each one's bare service: ours = layer - echo, memo on =
layer_remembered - echo, jwt-authorizer = jwt_authorizer - jwt_authorizer_echo, in axum
x - bare. A bar whose routines are missing is left out (said on stderr).

    python3 scripts/chart.py [--out docs/guard-cost.svg] [--guard FILE] [--axum FILE]

Python 3 standard library only; the SVG has no external resources.
"""

import argparse
import json
import math
import os
import sys
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASE = "hs256"

# Segment colours (colour-blind safe: Okabe-Ito) and their legend labels.
HMAC = ("#0072B2", "HMAC-SHA256 (floor)")
DECODE = ("#56B4E9", "base64url + JSON parse (floor)")
FLOOR = ("#CC79A7", "the floor (whole)")
REST = ("#E69F00", "everything else in our guard")
MEMO = ("#009E73", "our guard, memo on (whole)")
WHOLE = ("#D55E00", "our guard, memo off (whole)")
PEER = ("#999999", "other crates (whole)")

WIDTH = 800
LABEL_W = 250  # bar labels, right-aligned at LABEL_W - 10
VALUE_W = 90  # room for the value after the longest bar
BAR_H = 22
ROW_H = 34
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


def warn(message):
    print(f"chart.py: {message}", file=sys.stderr)


def load(path, required):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        if required:
            sys.exit(f"chart.py: {path} not found (run `cargo bench --bench guard` first)")
        warn(f"{path} not found: no axum bars")
        return None
    except (OSError, ValueError) as e:
        sys.exit(f"chart.py: cannot read {path}: {e}")
    case = data.get(CASE) if isinstance(data, dict) else None
    if not isinstance(case, dict):
        warn(f'{path} has no case "{CASE}"')
        return {}
    return {k: float(v) for k, v in case.items() if isinstance(v, (int, float))}


def diff(medians, source, minuend, subtrahend, what):
    """minuend - subtrahend, or None (said on stderr) when either is missing."""
    missing = [r for r in (minuend, subtrahend) if r not in medians]
    if missing:
        warn(f"{what}: left out, {source} lacks {', '.join(missing)}")
        return None
    return medians[minuend] - medians[subtrahend]


def fmt_ns(ns):
    if abs(ns) >= 1000:
        return f"{ns:,.0f} ns"
    if abs(ns) >= 100:
        return f"{ns:.0f} ns"
    return f"{ns:.1f} ns"


def fmt_ratio(r):
    return f"{r:.1f}×" if r < 10 else f"{r:.0f}×"


def nice_step(top, ticks=5):
    """A round tick step (1, 2 or 5 × 10^k) giving about `ticks` ticks up to `top`."""
    raw = top / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def bars_from(guard, axum):
    """The rows to draw: ("heading", text) or ("bar", label, [(ns, colour), ...], total)."""
    rows = []
    src = "guard-medians.json"
    mac = guard.get("floor_mac")
    floor = guard.get("floor")
    floor_parts = None
    if mac is not None and floor is not None:
        floor_parts = [(mac, HMAC[0]), (floor - mac, DECODE[0])]
    elif floor is not None:
        warn(f"the floor: drawn whole, {src} lacks floor_mac")
        floor_parts = [(floor, FLOOR[0])]
    ours = diff(guard, src, "layer", "echo", "our guard (memo off)")
    memo = diff(guard, src, "layer_remembered", "echo", "our guard (memo on)")
    peer = diff(guard, src, "jwt_authorizer", "jwt_authorizer_echo", "jwt-authorizer")
    jwt = guard.get("jsonwebtoken_decode")

    rows.append(("heading", "Tower services, HS256: the guard's cost over the bare service"))
    if floor_parts:
        rows.append(("bar", "floor: HMAC + decode + parse", floor_parts, floor))
    else:
        warn(f"the floor: left out, {src} lacks floor")
    if ours is not None:
        if floor_parts and ours >= floor:
            parts = floor_parts + [(ours - floor, REST[0])]
        else:
            if floor_parts:
                warn(f"our guard ({fmt_ns(ours)}) below the floor ({fmt_ns(floor)}): "
                     "drawn whole")
            parts = [(ours, WHOLE[0])]
        rows.append(("bar", "tower-jwt-auth guard, memo off", parts, ours))
    if memo is not None:
        rows.append(("bar", "tower-jwt-auth guard, memo on", [(memo, MEMO[0])], memo))
    if jwt is not None:
        rows.append(("bar", "jsonwebtoken::decode (no service)", [(jwt, PEER[0])], jwt))
    else:
        warn(f"jsonwebtoken::decode: left out, {src} lacks jsonwebtoken_decode")
    if peer is not None:
        rows.append(("bar", "jwt-authorizer 0.15 layer", [(peer, PEER[0])], peer))

    ratios = []
    if ours is not None and floor:
        ratios.append(f"our guard / floor = {fmt_ratio(ours / floor)}")
    if ours and peer is not None:
        ratios.append(f"jwt-authorizer / our guard = {fmt_ratio(peer / ours)}")

    if axum is not None:
        src = "axum-medians.json"
        in_axum = [
            ("ours", "tower-jwt-auth in axum, memo off", WHOLE[0]),
            ("ours_remembered", "tower-jwt-auth in axum, memo on", MEMO[0]),
            ("peer", "axum-jwt-auth 0.7 in axum", PEER[0]),
        ]
        drawn = {}
        for routine, label, colour in in_axum:
            ns = diff(axum, src, routine, "bare", label)
            if ns is not None:
                drawn[routine] = (label, [(ns, colour)], ns)
        if drawn:
            rows.append(("heading", "axum routers, HS256: the guard's cost over the bare router"))
            rows.extend(("bar", *drawn[r]) for r, _, _ in in_axum if r in drawn)
        if "ours" in drawn and "peer" in drawn and drawn["ours"][2]:
            ratios.append(
                f"axum-jwt-auth / ours in axum = {fmt_ratio(drawn['peer'][2] / drawn['ours'][2])}"
            )
    return rows, ratios


def svg(rows, ratios):
    bars = [r for r in rows if r[0] == "bar"]
    if not bars:
        sys.exit("chart.py: nothing to draw")
    for _, label, parts, _ in bars:
        for ns, _ in parts:
            if ns < 0:
                warn(f"{label}: a negative part ({fmt_ns(ns)}, noise?) drawn as zero")
    top = max(max(sum(max(ns, 0) for ns, _ in parts), total) for _, _, parts, total in bars)
    top = max(top, 1e-9)
    step = nice_step(top)
    axis_max = math.ceil(top / step) * step
    plot_w = WIDTH - LABEL_W - VALUE_W
    x_of = lambda ns: LABEL_W + plot_w * max(ns, 0) / axis_max  # noqa: E731

    out = []
    y = 30
    out.append(f'<text x="{WIDTH / 2}" y="{y}" text-anchor="middle" font-size="16" '
               f'font-weight="bold">Guard cost per request (HS256, median ns per call)</text>')
    if ratios:
        y += 22
        out.append(f'<text x="{WIDTH / 2}" y="{y}" text-anchor="middle" font-size="14">'
                   f'{escape("; ".join(ratios))}</text>')
    y += 18
    blocks = []  # (top, bottom) of each heading's bars: the grid spans them only
    for row in rows:
        if row[0] == "heading":
            y += 24
            out.append(f'<text x="10" y="{y}" font-size="13" font-weight="bold" '
                       f'fill="#333">{escape(row[1])}</text>')
            y += 8
            blocks.append([y, y])
            continue
        _, label, parts, total = row
        bar_y = y + (ROW_H - BAR_H) / 2
        out.append(f'<text x="{LABEL_W - 10}" y="{bar_y + BAR_H / 2 + 4.5}" '
                   f'text-anchor="end" font-size="13">{escape(label)}</text>')
        start = 0.0
        for ns, colour in parts:
            x0, x1 = x_of(start), x_of(start + max(ns, 0))
            out.append(f'<rect x="{x0:.1f}" y="{bar_y:.1f}" width="{max(x1 - x0, 0):.1f}" '
                       f'height="{BAR_H}" fill="{colour}"><title>{escape(fmt_ns(ns))}'
                       f'</title></rect>')
            text = fmt_ns(ns).replace(" ns", "")
            if len(parts) > 1 and x1 - x0 > 7.5 * len(text) + 6:
                fill = "#fff" if colour in (HMAC[0], PEER[0]) else "#000"
                out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{bar_y + BAR_H / 2 + 4.5}" '
                           f'text-anchor="middle" font-size="12" fill="{fill}">'
                           f'{escape(text)}</text>')
            start += max(ns, 0)
        out.append(f'<text x="{x_of(max(start, total)) + 6:.1f}" y="{bar_y + BAR_H / 2 + 4.5}" '
                   f'font-size="13">{escape(fmt_ns(total))}</text>')
        y += ROW_H
        blocks[-1][1] = y
    plot_bottom = y + 4
    # The axis: grid lines behind the bars (drawn first), ticks and labels below.
    blocks[-1][1] = plot_bottom
    grid = []
    tick = 0.0
    while tick <= axis_max + step / 2:
        x = x_of(tick)
        for top, bottom in blocks:
            grid.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" '
                        f'stroke="#ddd" stroke-width="1"/>')
        grid.append(f'<text x="{x:.1f}" y="{plot_bottom + 16}" text-anchor="middle" '
                    f'font-size="12" fill="#444">{tick:,.0f}</text>')
        tick += step
    for top, bottom in blocks:
        grid.append(f'<line x1="{LABEL_W}" y1="{top}" x2="{LABEL_W}" y2="{bottom}" '
                    f'stroke="#444" stroke-width="1"/>')
    grid.append(f'<text x="{LABEL_W + plot_w / 2}" y="{plot_bottom + 34}" '
                f'text-anchor="middle" font-size="12" fill="#444">ns per request '
                f'(median; each service less its bare counterpart)</text>')
    y = plot_bottom + 58
    # The legend: the colours actually used, in two columns.
    used = {colour for _, _, parts, _ in bars for _, colour in parts}
    legend = [entry for entry in (HMAC, DECODE, FLOOR, REST, WHOLE, MEMO, PEER) if entry[0] in used]
    col_w = (WIDTH - 40) / 2
    for i, (colour, text) in enumerate(legend):
        lx = 20 + (i % 2) * col_w
        ly = y + (i // 2) * 22
        out.append(f'<rect x="{lx:.1f}" y="{ly - 11}" width="14" height="14" fill="{colour}"/>')
        out.append(f'<text x="{lx + 20:.1f}" y="{ly}" font-size="13">{escape(text)}</text>')
    height = y + math.ceil(len(legend) / 2) * 22 + 6
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="{FONT}">\n'
            f'<rect width="100%" height="100%" fill="#fff"/>\n')
    return head + "\n".join(grid + out) + "\n</svg>\n"


def main():
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    criterion = os.path.join(target, "criterion")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "guard-cost.svg"),
                        help="the SVG to write (default: docs/guard-cost.svg)")
    parser.add_argument("--guard", default=os.path.join(criterion, "guard-medians.json"),
                        help="the guard bench's medians (default: %(default)s)")
    parser.add_argument("--axum", default=os.path.join(criterion, "axum-medians.json"),
                        help="the axum bench's medians, optional (default: %(default)s)")
    args = parser.parse_args()
    guard = load(args.guard, required=True)
    axum = load(args.axum, required=False)
    rows, ratios = bars_from(guard, axum)
    text = svg(rows, ratios)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{args.out}: {sum(r[0] == 'bar' for r in rows)} bars; {'; '.join(ratios)}")


if __name__ == "__main__":
    main()
