#!/usr/bin/env bash
# make run: starts the demo's downstream target (a second relayftpd on
# 127.0.0.1:2122, examples/demo-target.ini), then the demo server on
# 127.0.0.1:2121 in the foreground. Stopping the demo server (Ctrl-C) stops
# the target too.
set -euo pipefail
bin=${1:-build/relayftpd}
mkdir -p demo
"$bin" --config examples/demo-target.ini >demo/target.out 2>demo/target.log &
target=$!
trap 'kill $target 2>/dev/null; wait $target 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	grep -q "listening on" demo/target.out 2>/dev/null && break
	kill -0 $target 2>/dev/null || { cat demo/target.log >&2; exit 1; }
	sleep 0.1
done
echo "demo target: $(cat demo/target.out) (log: demo/target.log, files: demo/target/)"
echo "demo server: user demo / password demo; uploads are mirrored to demo/target/incoming/demo/"
"$bin" --config relayftpd.ini.example
