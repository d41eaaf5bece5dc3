#!/usr/bin/env bash
# A/B in one run: this checkout's benchmarks built against an earlier
# commit (A) and against the working tree (B), run alternately, several
# times each; prints every run, then for each benchmark and metric the
# median of A, of B and B/A.
#
#   bench/ab.sh [-r REV] [-n RUNS] [-b REGEXP] [-t BENCHTIME] [-p PACKAGE]
#
#   -r REV        the commit to compare with (default: the merge base with
#                 main, or HEAD~1)
#   -n RUNS       runs of each side (default 5)
#   -b REGEXP     the benchmarks (default Engine1M|EndToEnd|Copies)
#   -t BENCHTIME  go test -benchtime (default 1x)
#   -p PACKAGE    the package of the benchmarks (default ./bench); in
#                 another package each side runs its own benchmark code
#
# The benchmark files that use only the public API (e2e_test.go,
# engine_test.go) are copied over A's bench/ directory, with the helpers
# they use (internal/cputime, internal/compact), so both sides run the
# very same benchmark code. Medians, not means: the
# machine this was written on is shared, and single runs vary by ±30 %.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

rev=$(git merge-base HEAD main 2>/dev/null || git rev-parse HEAD~1)
runs=5
bench='Engine1M|EndToEnd|Copies'
benchtime=1x
pkg=./bench
while getopts r:n:b:t:p: opt; do
  case $opt in
    r) rev=$(git rev-parse "$OPTARG") ;;
    n) runs=$OPTARG ;;
    b) bench=$OPTARG ;;
    t) benchtime=$OPTARG ;;
    p) pkg=$OPTARG ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/a"
git archive "$rev" | tar -x -C "$tmp/a"
if [ "$pkg" = ./bench ]; then
  cp bench/e2e_test.go bench/engine_test.go "$tmp/a/bench/"
  mkdir -p "$tmp/a/internal/cputime" "$tmp/a/internal/compact"
  cp internal/cputime/cputime.go "$tmp/a/internal/cputime/"
  cp internal/compact/compact.go "$tmp/a/internal/compact/"
fi
echo "== A: $(git log -1 --format='%h %s' "$rev")"
echo "== B: working tree of $(git log -1 --format='%h %s' HEAD)"
(cd "$tmp/a" && go test -c -o "$tmp/a.test" "$pkg")
go test -c -o "$tmp/b.test" "$pkg"

: >"$tmp/results"
for i in $(seq "$runs"); do
  for side in a b; do
    echo "-- run $i, ${side^^}"
    out="$tmp/run-$i-$side"
    dir=$pkg
    [ "$side" = a ] && dir=$tmp/a/$pkg
    (cd "$dir" && "$tmp/$side.test" -test.run '^$' -test.bench "$bench" -test.benchtime "$benchtime") >"$out"
    cat "$out"
    awk -v side="$side" '/^Benchmark/ {
        name = $1; sub(/-[0-9]+$/, "", name)
        for (i = 3; i < NF; i += 2) print side, name, $(i + 1), $i
      }' "$out" >>"$tmp/results"
  done
done

echo
echo "== medians of $runs runs (A = ${rev:0:9}, B = working tree)"
printf '%-40s %-22s %14s %14s %8s\n' benchmark metric A B B/A
sort -k2,2 -k3,3 -k1,1 -k4,4g "$tmp/results" | awk '
  function flush() {
    if (key == "") return
    ma = na ? va[int((na + 1) / 2)] : ""; mb = nb ? vb[int((nb + 1) / 2)] : ""
    ratio = (ma != "" && mb != "" && ma != 0) ? sprintf("%.3f", mb / ma) : "-"
    printf "%-40s %-22s %14s %14s %8s\n", bname, bunit, ma, mb, ratio
  }
  {
    k = $2 " " $3
    if (k != key) { flush(); key = k; bname = $2; bunit = $3; na = 0; nb = 0 }
    if ($1 == "a") va[++na] = $4; else vb[++nb] = $4
  }
  END { flush() }'
