#!/usr/bin/env bash
# faultline run against VictoriaMetrics, through the same HTTP client, on
# the same records: starts Debian's victoria-metrics and a faultline run
# built from this checkout, both on 127.0.0.1, posts B01's records to each
# in turn (bench/vmcompare) and prints each server's CPU time per record,
# read from /proc, and their ratio.
#
#   bench/vm.sh [ROUNDS]
#
# Installs victoria-metrics from Debian's packages if it is missing (with
# sudo unless run as root). Both servers run with their defaults, their
# data in a temporary directory removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
rounds=${1:-3}

if ! command -v victoria-metrics >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq victoria-metrics
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/faultline" ./cmd/faultline
go build -o "$tmp/vmcompare" ./bench/vmcompare

# free returns a free TCP port on 127.0.0.1.
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Each round starts both servers afresh (a server that saw the records
# before would find them all duplicates), posts the records to each, and
# stops them.
echo "== $(dpkg-query -W -f='victoria-metrics ${Version}' victoria-metrics 2>/dev/null), $(nproc) CPUs, faultline $(git describe --always --dirty)"
for r in $(seq "$rounds"); do
  flport=$(free)
  vmport=$(free)
  "$tmp/faultline" run --listen "127.0.0.1:$flport" >"$tmp/faultline.log" 2>&1 &
  flpid=$!
  victoria-metrics -httpListenAddr "127.0.0.1:$vmport" -storageDataPath "$tmp/vm-$r" \
    -retentionPeriod 1y -loggerLevel ERROR >"$tmp/vm.log" 2>&1 &
  vmpid=$!
  pids=("$flpid" "$vmpid")
  # wait until both answer their health checks (30 s at most)
  for _ in $(seq 150); do
    if curl -fs "http://127.0.0.1:$flport/healthz" >/dev/null && curl -fs "http://127.0.0.1:$vmport/health" >/dev/null; then
      break
    fi
    sleep 0.2
  done
  curl -fs "http://127.0.0.1:$flport/healthz" >/dev/null || { cat "$tmp/faultline.log"; exit 1; }
  curl -fs "http://127.0.0.1:$vmport/health" >/dev/null || { cat "$tmp/vm.log"; exit 1; }
  "$tmp/vmcompare" -round "$r" \
    -faultline "http://127.0.0.1:$flport" -faultline-pid "$flpid" \
    -vm "http://127.0.0.1:$vmport" -vm-pid "$vmpid" | tee -a "$tmp/rounds"
  kill "$flpid" "$vmpid"
  wait "$flpid" "$vmpid" 2>/dev/null || true
  pids=()
done

# The medians of the rounds' CPU times, and their ratio.
awk '/^round/ { cpu[$3] = cpu[$3] " " $5; lines = $NF }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((n + 1) / 2)]
  }
  END {
    fl = median(cpu["faultline"]); vm = median(cpu["victoria-metrics"])
    printf "median CPU of %d rounds: faultline %.3f s (%.0f rec/cpu-s), victoria-metrics %.3f s (%.0f rec/cpu-s): faultline/victoria-metrics %.2f\n", \
      split(cpu["faultline"], x, " "), fl, lines / fl, vm, lines / vm, vm / fl
  }' "$tmp/rounds"
