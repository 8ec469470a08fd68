#!/bin/sh
# Runs recheck (npm) and ringfence's analysis on the labelled corpus in one run and prints both
# scores side by side (bench/regex_corpus_bench compare), with ringfence's analysis time.
# Usage: bench/regex_compare.sh BUILD_DIR NODE_MODULES
#   NODE_MODULES: a node_modules where `npm install` of bench/regex_recheck.package.json was done.
# Takes a few minutes (recheck gets 10 s per pattern). Corpus: tests/regex_corpus/README.md.
set -eu
build=${1:?usage: bench/regex_compare.sh BUILD_DIR NODE_MODULES}
modules=${2:?usage: bench/regex_compare.sh BUILD_DIR NODE_MODULES}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "recheck $(node -p "require('$modules/recheck/package.json').version"), node $(node --version)"
grep -v '^#' "$here/tests/regex_corpus/corpus.tsv" | cut -f2 > "$tmp/patterns.tsv"
NODE_PATH="$modules" node "$here/bench/regex_recheck.mjs" "$tmp/patterns.tsv" > "$tmp/recheck.jsonl"
"$build/bench/regex_corpus_bench" compare "$here/tests/regex_corpus/corpus.tsv" "$tmp/recheck.jsonl"
