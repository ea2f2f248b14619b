#!/usr/bin/env bash
# Captures what xcompat showed of matrix-v8.db before the schema change that
# stores history by change (v9): runs, every diff between runs, the upgrade
# query of every (producer, consumer) pair, and the Markdown report.
# tests/unit/test_store_migration.cpp migrates a copy and expects the same.
#
#   tests/data/store_v8/capture.sh XCOMPAT_BINARY_AT_SCHEMA_V8
#
# matrix-v8.db was made by xcompat at schema v8 (commit a69f02e): five sweeps
# over decoder-rmsnorm and encoder-padmask (1.14.0, 1.19.1, 2.31.10,
# cpp-native; run 3 under tighter tolerances, run 5 safetensors only), then
# run 3's results for decoder-rmsnorm 1.19.1/2.31.10 -> cpp-native float32
# edited to DRIFT and to a flaky CLOSE, so that the diffs have a regression,
# a fix and a flaky cell to show.
set -euo pipefail
xc=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/matrix-v8.db" "$work/m.db"
out=$here/expected
rm -rf "$out" && mkdir -p "$out"
"$xc" runs --db "$work/m.db" --json > "$out/runs.json"
for a in 1 2 3 4 5; do
  for b in 1 2 3 4 5; do
    [ "$a" -lt "$b" ] && "$xc" diff "$a" "$b" --db "$work/m.db" --json > "$out/diff-$a-$b.json"
  done
done
for p in 1.14.0 1.19.1 2.31.10; do
  for c in 1.14.0 1.19.1 2.31.10 cpp-native; do
    "$xc" query --from "$p" --to "$c" --db "$work/m.db" --json > "$out/query-$p-$c.json"
  done
done
"$xc" report --format markdown --db "$work/m.db" --out "$work/md" > /dev/null
cp -r "$work/md" "$out/markdown"
