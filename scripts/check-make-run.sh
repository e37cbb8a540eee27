#!/usr/bin/env bash
# CI: proves that `make run` works on a machine that has only the packages
# `make run` installs. The test packages are installed on CI's machine (make
# test ran first), so their pkg-config files are hidden from the build:
# PKG_CONFIG_LIBDIR points at a folder holding every .pc file of the system
# except those of test-only packages (cmocka). Then `make run` builds in a
# fresh build folder and starts the demo; once it printed "listening on"
# and the status page answers on 127.0.0.1:2180, the demo script gets SIGTERM and must stop both servers and exit 0, and so
# must make.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-make-run
pcdir=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$pcdir" "$log"' EXIT

test_only_pc=(cmocka.pc)
IFS=: read -r -a pcpath <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pcpath[@]}"; do
	[ -d "$d" ] || continue
	for pc in "$d"/*.pc; do
		[ -e "$pc" ] || continue
		name=$(basename "$pc")
		for hidden in "${test_only_pc[@]}"; do
			[ "$name" = "$hidden" ] && continue 2
		done
		[ -e "$pcdir/$name" ] || ln -s "$pc" "$pcdir/$name"
	done
done
export PKG_CONFIG_LIBDIR=$pcdir
if pkg-config --exists cmocka; then
	echo "check-make-run: cmocka is still visible to pkg-config" >&2
	exit 1
fi
rm -rf "$build"

# make run in a session of its own, so nothing it starts can outlive this.
setsid make run BUILD="$build" >"$log" 2>&1 &
make_pid=$!
for _ in $(seq 1200); do
	grep -q "^listening on 127.0.0.1:2121" "$log" && break
	kill -0 "$make_pid" 2>/dev/null || break
	sleep 0.25
done
if ! grep -q "^listening on 127.0.0.1:2121" "$log"; then
	cat "$log" >&2
	echo "check-make-run: make run did not start the demo" >&2
	kill -KILL -- -"$make_pid" 2>/dev/null || true
	exit 1
fi
# The status page of the README's demo: the page and the metrics answer
# on 127.0.0.1:2180 (the example config's [admin] listen).
page_ok=0
for _ in $(seq 120); do
	if grep -q "^admin listening on http://127.0.0.1:2180/" "$log" &&
	    timeout 10 curl -sf http://127.0.0.1:2180/ | grep -q "<title>" &&
	    timeout 10 curl -sf http://127.0.0.1:2180/metrics |
	    grep -q "^relayftpd_sessions_open "; then
		page_ok=1
		break
	fi
	sleep 0.25
done
if [ "$page_ok" -ne 1 ]; then
	cat "$log" >&2
	echo "check-make-run: no status page on http://127.0.0.1:2180/" >&2
	kill -KILL -- -"$make_pid" 2>/dev/null || true
	exit 1
fi
pkill -TERM -s "$make_pid" -f 'scripts/run-demo.sh'
status=0
wait "$make_pid" || status=$?
if [ "$status" -ne 0 ] || grep -q "Error" "$log" ||
    [ "$(grep -c "info stopped" "$log" demo/target.log |
        awk -F: '{s += $2} END {print s}')" -lt 2 ]; then
	cat "$log" demo/target.log >&2
	echo "check-make-run: make run did not stop cleanly (exit $status)" >&2
	exit 1
fi
echo "check-make-run: make run built without test packages, served (FTP on 2121, the status page on 2180), stopped with exit 0"
