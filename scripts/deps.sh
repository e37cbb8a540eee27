#!/usr/bin/env bash
# Installs the Debian packages relayftpd needs: "build" for building and
# running, "test" adds the test suite's peers (FTP clients: curl, lftp,
# rclone, ncftp, wput, tnftp, inetutils-ftp; python3, the
# downstream servers, headless Chromium for the status page), valgrind,
# libfaketime (test_mirror_clock.py), the service checks
# (systemd-analyze, mandoc, man, logrotate) and the log readers (fail2ban,
# awstats); "fuzz" adds clang and its libFuzzer runtime.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -euo pipefail
want=${1:-build}
pkgs=(cmake make gcc pkg-config libinih-dev libsodium-dev libssl-dev
      zlib1g-dev libcurl4-openssl-dev libsqlite3-dev libsystemd-dev
      libmicrohttpd-dev)
if [ "$want" = fuzz ]; then
	pkgs+=(clang libclang-rt-14-dev)
fi
if [ "$want" = test ]; then
	pkgs+=(libcmocka-dev clang-format curl lftp python3 python3-pyftpdlib openssh-server
	       vsftpd openssl python3-pycurl valgrind tnftp systemd mandoc man-db
	       logrotate prometheus libfaketime strace)
	# A target on a case-insensitive file system (test_mirror_casefold.py).
	pkgs+=(exfatprogs exfat-fuse)
	# What admins read the logs with (test_log_consumers.py).
	pkgs+=(fail2ban awstats)
	# More FTP clients as users run them (test_clients.py).
	pkgs+=(wput inetutils-ftp rclone ncftp)
	# A German and a Turkish locale, made with localedef from their
	# sources by the library test of an embedding program's locale.
	pkgs+=(locales)
	# The status page test (test_admin_page.py): headless Chromium, and
	# fonts for its screenshots (Latin, and CJK for file names).
	pkgs+=(chromium fonts-dejavu-core fonts-droid-fallback)
	# A firewall that drops a kept connection's flow, in a network
	# namespace of the test's own (test_mirror_netdrop.py).
	pkgs+=(nftables iproute2)
	# The S3 interoperability test installs s3rver with npm into
	# tests/.npm (test_mirror_s3.py). A Node.js from elsewhere (its
	# "nodejs" package conflicts with Debian's npm) brings its own npm.
	command -v npm >/dev/null 2>&1 || pkgs+=(npm)
	# proftpd and pure-ftpd as mirror targets (test_mirror_downstreams.py):
	# both conflict with vsftpd (ftp-server), so only their libraries are
	# installed and the packages are unpacked into tests/.debs below.
	pkgs+=(libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3
	       libcap2 libcrypt1 libpam0g libsodium23 libacl1)
fi
# apt-get download PKG... and dpkg-deb -x into tests/.debs, never installed.
unpack_peers() {
	local dest dl
	dest="$(cd "$(dirname "$0")/.." && pwd)/tests/.debs"
	[ -x "$dest/usr/sbin/proftpd" ] && [ -x "$dest/usr/sbin/pure-ftpd" ] && return 0
	dl=$(mktemp -d)
	chmod 755 "$dl" # apt-get download fetches as _apt
	(cd "$dl" && apt-get download proftpd-core pure-ftpd) >&2
	mkdir -p "$dest"
	for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
	rm -rf "$dl"
}
missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	if [ "$want" = test ] && [ "$(id -u)" -eq 0 ]; then
		unpack_peers
	fi
	exit 0
fi
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "relayftpd needs these Debian packages; run as root:" >&2
	echo "  apt-get update && $cmd" >&2
	exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
if [ "$want" = test ]; then
	unpack_peers
fi
