#!/usr/bin/env bash
# make run: the demo of the README, from the repository's folder.
#
# The first run copies relayftpd.ini.example to relayftpd.ini and
# users.ini.example to users.ini (never over files that exist: they are the
# admin's to edit) and makes a self-signed certificate for localhost and
# 127.0.0.1 (cert.pem, key.pem) with the README's openssl command. Then it
# starts the demo's downstream target (a second relayftpd on 127.0.0.1:2122,
# examples/demo-target.ini) and the demo server on 127.0.0.1:2121, with its
# status page ([admin] of the example config) on http://127.0.0.1:2180/.
#
# Stopping: Ctrl-C in a terminal, or SIGINT/SIGTERM to this script, stops
# both servers cleanly and exits 0. In a terminal the demo server runs as
# the terminal's foreground job (set -m), so Ctrl-C reaches it alone: it
# stops, this script stops the target, and make sees a clean exit instead
# of dying of the same SIGINT. Without a terminal both servers run in the
# background and the script forwards SIGINT/SIGTERM to them.
set -euo pipefail
bin=$(realpath "${1:-build/relayftpd}")
cd "$(dirname "$0")/.."

for f in relayftpd.ini users.ini; do
	if [ ! -e "$f" ]; then
		cp "$f.example" "$f"
		echo "created $f from $f.example (yours to edit; git ignores it)"
	fi
done
if [ ! -e cert.pem ] || [ ! -e key.pem ]; then
	# The README's command, for the names the demo is reached by.
	openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost \
	    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	    -keyout key.pem -out cert.pem 2>/dev/null
	chmod 600 key.pem
	echo "created cert.pem and key.pem (self-signed, for localhost and 127.0.0.1)"
fi
mkdir -p demo

target= server=
stop_all() {
	# A server that already stopped (the same Ctrl-C reached it) is not
	# an error: kill only what is still running, then reap both.
	for p in $server $target; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
		fi
	done
	for p in $server $target; do
		wait "$p" 2>/dev/null || true
	done
}
trap 'stop_all' EXIT

"$bin" --config examples/demo-target.ini >demo/target.out 2>demo/target.log &
target=$!
for _ in $(seq 100); do
	grep -q "listening on" demo/target.out 2>/dev/null && break
	if ! kill -0 "$target" 2>/dev/null; then
		cat demo/target.log >&2
		exit 1
	fi
	sleep 0.1
done
echo "demo target: $(cat demo/target.out) (log: demo/target.log, files: demo/target/)"
echo "demo server: user demo / password demo; uploads are mirrored to demo/target/incoming/demo/"
# The status page, if this relayftpd.ini has one (a copy made before the
# example had [admin] has not: add that section from the example).
admin=$(awk '/^\[/ { s = $0 } s == "[admin]" && $1 == "listen" && $2 == "=" { print $3 }' relayftpd.ini)
if [ -n "$admin" ]; then
	echo "status page: http://$admin/ (metrics: http://$admin/metrics)"
else
	echo "status page: off (relayftpd.ini has no [admin] listen; see relayftpd.ini.example)"
fi

status=0
if [ -t 0 ] && [ -t 1 ]; then
	set -m
	"$bin" --config relayftpd.ini || status=$?
	server=
else
	trap 'stop_all; exit 0' INT TERM
	"$bin" --config relayftpd.ini &
	server=$!
	wait "$server" || status=$?
	server=
fi
stop_all
trap - EXIT
exit "$status"
