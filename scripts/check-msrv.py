#!/usr/bin/env python3
"""Checks that Cargo.toml's rust-version covers what the dependency tree needs.

Reads `cargo metadata` (the locked versions, all features) and compares the crate's
`rust-version` with the highest `rust-version` of the packages it depends on, for normal and
build dependencies (dev-dependencies do not reach users). Fails when the crate claims less
than a dependency needs. The crate's own code is checked against its `rust-version` by
clippy's `incompatible_msrv` lint, which CI runs with `-D warnings`. No extra toolchain.
"""
import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
packages = {p["id"]: p for p in meta["packages"]}
root = meta["resolve"]["root"]
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}

reached, stack = set(), [root]
while stack:
    node = stack.pop()
    for dep in nodes[node]["deps"]:
        if all(kind["kind"] == "dev" for kind in dep["dep_kinds"]):
            continue
        if dep["pkg"] not in reached:
            reached.add(dep["pkg"])
            stack.append(dep["pkg"])

ours = packages[root].get("rust_version")
if not ours:
    sys.exit("Cargo.toml has no rust-version")
needs = [
    (version(packages[p]["rust_version"]), packages[p]["name"], packages[p]["version"])
    for p in reached
    if packages[p].get("rust_version")
]
highest = max(needs)
print(
    f"rust-version {ours}; the dependency tree needs {'.'.join(map(str, highest[0]))} "
    f"({highest[1]} {highest[2]})"
)
too_new = sorted(n for n in needs if n[0] > version(ours))
if too_new:
    for need, name, ver in too_new:
        print(f"  {name} {ver} needs Rust {'.'.join(map(str, need))}")
    sys.exit(f"rust-version {ours} is lower than the dependencies need")
