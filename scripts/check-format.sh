#!/usr/bin/env bash
# Checks that every C source and header in the repository is formatted by
# .clang-format (Debian 12's clang-format 14). Prints each file that is not
# and exits 1; `clang-format -i FILE` fixes one.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r f; do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (run clang-format -i $f)" >&2
		bad=1
	fi
done < <(git ls-files '*.c' '*.h')
exit "$bad"
