#!/usr/bin/env bash
# Checks the layer rules of STYLE.md by reading the sources (the build
# enforces the same arrows through per-layer include roots; this also
# catches what an include root cannot, such as a second file including a
# library that has one owner):
#   - exactly one file includes each of <curl/curl.h> (the mirror's
#     libcurl transport), <sodium.h> (the user store), <sqlite3.h> (the
#     queue) and OpenSSL's SSL API <openssl/ssl.h> (the server's TLS);
#   - common/ includes nothing of server/ or mirror/;
#   - server/ and mirror/ never include each other;
#   - no include climbs folders with "..".
# Usage: scripts/check-layers.sh [SRC_DIR] (default: src). Prints each
# violation as FILE:LINE: reason and exits 1 if there is any.
set -euo pipefail
src=${1:-"$(dirname "$0")/../src"}
bad=0

say() {
	echo "$1: $2" >&2
	bad=1
}

# includes PATTERN: FILE:LINE:TEXT for every matching #include under src.
includes() {
	grep -rnE --include='*.c' --include='*.h' \
	    "^[[:space:]]*#[[:space:]]*include[[:space:]]*$1" "$src" || true
}

one_owner() {
	local header=$1 owner=$2 hits n
	hits=$(includes "<$header>")
	n=$(printf '%s' "$hits" | grep -c . || true)
	if [ "$n" -ne 1 ] || [[ "$hits" != "$src/$owner:"* ]]; then
		while IFS= read -r h; do
			[ -n "$h" ] || continue
			[[ "$h" == "$src/$owner:"* ]] && continue
			say "${h%%:#*}" "<$header> belongs to $owner alone"
		done <<<"$hits"
		[ "$n" -ge 1 ] || say "$src/$owner" "<$header> is included nowhere (expected here)"
	fi
}

one_owner curl/curl.h mirror/transport_curl.c
one_owner sodium.h common/users.c
one_owner sqlite3.h mirror/queue.c
one_owner openssl/ssl.h server/tls.c

# layer FOLDER FORBIDDEN...: no file of src/FOLDER includes those layers.
layer() {
	local dir=$1 other h
	shift
	for other in "$@"; do
		while IFS= read -r h; do
			[ -n "$h" ] || continue
			say "${h%%:#*}" "$dir/ must not include $other/"
		done < <(includes "[\"<]$other/" | grep "^$src/$dir/" || true)
	done
}
layer common server mirror
layer server mirror
layer mirror server

while IFS= read -r h; do
	[ -n "$h" ] || continue
	say "${h%%:#*}" "an include that climbs with .. hides a layer crossing"
done < <(includes '["<][^">]*\.\./')

exit "$bad"
