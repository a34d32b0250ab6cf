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
# Go 1.26's fuzz coordinator can end a run at the -fuzztime boundary with a
# bare "context deadline exceeded" and no failing input, when a worker is
# slow to stop on a loaded machine (golang/go#75804, fixed in Go 1.27). A
# real finding always writes its input ("Failing input written to ..."),
# so only that, or any other failure, fails this script.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf '%s\n' "$targets" | while read -r pkg name; do
	echo "--- $pkg $name"
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "${each}s" "$pkg" >"$log" 2>&1; then
		cat "$log"
		continue
	fi
	cat "$log"
	if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log" &&
		[ "$(grep -c -- '^--- FAIL' "$log")" -eq 1 ]; then
		echo "fuzz: $name stopped at the time limit with no failing input (golang/go#75804); not a finding"
		continue
	fi
	exit 1
done
