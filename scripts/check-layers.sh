#!/usr/bin/env bash
# Checks the layer rules of STYLE.md by reading the sources (the build
# enforces the same arrows through per-layer include roots; this also
# catches what an include root cannot, such as a second file including a
# library that has one owner):
#   - exactly the owning files include each of <curl/curl.h> (the mirror's
#     libcurl transport), <sodium.h> (the user store: users.c and its
#     password cache pwcache.c), <sqlite3.h> (the
#     queue), OpenSSL's SSL API <openssl/ssl.h> (the server's TLS),
#     libsystemd's <systemd/sd-daemon.h> (the daemon's sd_notify) and
#     <microhttpd.h> (the admin listener's HTTP side);
#   - common/ includes nothing of server/, mirror/, admin/, lib/ or cli/;
#   - admin/ includes nothing of server/ or mirror/;
#   - server/ and mirror/ never include each other;
#   - lib/ (the engine and the public API) includes nothing of cli/ (the
#     daemon's signals and printing), and only cli/ and main.c include
#     lib/; the public header <relayftpd.h> belongs to lib/api.c;
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

# one_owner HEADER OWNER...: HEADER is included by exactly these files.
one_owner() {
	local header=$1 hits h o ok names
	shift
	names=$1
	[ $# -lt 2 ] || names="${*:1:$#-1} and ${!#}"
	hits=$(includes "<$header>")
	while IFS= read -r h; do
		[ -n "$h" ] || continue
		ok=0
		for o in "$@"; do
			[[ "$h" == "$src/$o:"* ]] && ok=1
		done
		[ "$ok" -eq 1 ] || say "${h%%:#*}" "<$header> belongs to $names alone"
	done <<<"$hits"
	for o in "$@"; do
		grep -q "^$src/$o:" <<<"$hits" ||
			say "$src/$o" "<$header> is included nowhere (expected here)"
	done
}

one_owner spawn.h mirror/transport_exec.c
one_owner curl/curl.h mirror/transport_curl.c mirror/transport_hook.c \
	mirror/transport_s3.c mirror/curlbase.h
# The user store's two halves: argon2id (users.c) and the cache of
# verified passwords in front of it (pwcache.c), whose keys and digests
# stay in that one file.
one_owner sodium.h common/users.c common/pwcache.c
one_owner sqlite3.h mirror/queue.c
one_owner openssl/ssl.h server/tls.c
one_owner systemd/sd-daemon.h cli/svcnotify.c
one_owner microhttpd.h admin/http.c

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
layer common server mirror admin lib cli
layer server mirror admin lib cli
layer mirror server admin lib cli
layer admin server mirror lib cli
layer lib cli

# The public header: the API's implementation alone (the engine and the
# daemon use the internal headers).
while IFS= read -r h; do
	[ -n "$h" ] || continue
	[[ "$h" == "$src/lib/api.c:"* ]] ||
		say "${h%%:#*}" "relayftpd.h (the public API) belongs to lib/api.c alone"
done < <(includes '"relayftpd\.h"')

while IFS= read -r h; do
	[ -n "$h" ] || continue
	say "${h%%:#*}" "an include that climbs with .. hides a layer crossing"
done < <(includes '["<][^">]*\.\./')

exit "$bad"
