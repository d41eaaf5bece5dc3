#!/usr/bin/env bash
# The one test command: every test of the module and of its nested modules
# (contrib/*, the adapters with heavy dependencies), with the race
# detector, against the real services they need (Alertmanager, Mosquitto,
# Chromium), which it installs from Debian's packages when they are
# missing. No test skips for want of one. .ci/run runs it as it is.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"

# Services the tests run for real (never mocked), and the browser the
# report's tests render it in (headless). Append packages to debs;
# the missing ones are installed with one apt-get update.
debs=(prometheus-alertmanager mosquitto chromium)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}"
fi

echo "== go test -race ./..."
go test -race ./...
for mod in contrib/*/; do
  [ -f "$mod/go.mod" ] || continue
  echo "== go test -race ./... ($mod)"
  (cd "$mod" && go test -race ./...)
done
