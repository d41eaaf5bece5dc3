#!/usr/bin/env bash
# Every figure of BENCHMARKS.md, in one command, into one log:
#
#   bench/run.sh [BASE]    (BASE: the commit of the A/B, default 4520a5a)
#
# Each benchmark measures its baseline in the same run (the floor, the
# naive design, fastcache, the earlier commit, VictoriaMetrics) and
# reports the ratio; run several times (-count) and read medians: on a
# shared machine single runs vary by ±30 %. Takes about an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
base=${1:-4520a5a}
log=${LOG:-$(mktemp -t faultline-bench-XXXXXX.log)}
exec > >(tee "$log") 2>&1

echo "== $(go version), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(git log -1 --format='%h %s')"

step() { echo; echo "== $*"; "$@"; }
# End to end and copies: capture bytes to events against the naive design;
# a redelivered line against a unique one.
step go test -run '^$' -bench 'EndToEnd|Copies' -benchtime 3x -count 3 ./bench/
# Gap tracking against its floor (a hash of the series key and one state lookup).
step go test -run '^$' -bench 'GapTracking' -benchtime 5x -count 3 ./bench/
# The deduper against the fastcache implementation it replaced.
step go test -run '^$' -bench 'AgainstFastcache' -benchtime 20x -count 3 ./dedup/
# The decoder: copies against unique lines, and against line-protocol/v2.
step go test -run '^$' -bench 'DecoderB01|DecoderTelegraf' -benchtime 40x -count 3 ./stream/
# HTTP ingest through the runtime against the engine alone; 1 and 2 shards;
# writes of 10 lines.
step go test -run '^$' -bench 'HTTPIngest|HTTPSmallWrites' -benchtime 2x -count 3 ./input/
# One shard on one core against two on two.
step go test -run '^$' -bench 'Cores' -benchtime 2x -count 3 ./pipeline/
# The engine at a million series, A/B against the base commit.
step bench/ab.sh -r "$base" -n 5 -b 'Engine1M' -t 2000000x
# End to end against the base commit too.
step bench/ab.sh -r "$base" -n 3 -b 'EndToEnd|Copies' -t 3x
# faultline run against VictoriaMetrics through the same HTTP client.
step bench/vm.sh 7
echo
echo "== log: $log"
