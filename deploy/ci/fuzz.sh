#!/bin/sh
# Runs every Go fuzz target in the repository briefly, sharing a total time
# budget between them (FUZZ_TOTAL seconds, default 120; at least 3 s each).
# A crash fails the run, and Go writes the input that found it under the
# package's testdata/fuzz/, where it becomes a regression case of plain
# `go test`: commit it with the fix. Used by `make fuzz` and CI.
set -eu
cd "$(dirname "$0")/../.."

targets=$(grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg=./$(dirname "${f#./}")
	grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func ||; s|^|$pkg |"
done)
n=$(printf '%s\n' "$targets" | grep -c . || true)
[ "$n" -gt 0 ] || { echo "fuzz: no targets"; exit 0; }
total=${FUZZ_TOTAL:-120}
each=$((total / n))
[ "$each" -ge 3 ] || each=3
echo "fuzz: $n targets, ${each}s each"
printf '%s\n' "$targets" | while read -r pkg name; do
	echo "--- $pkg $name"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "${each}s" "$pkg"
done
