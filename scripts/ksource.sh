#!/bin/bash
# Extract the few files we need from Debian's linux-source-6.1 tarball into
# build/linux-source-6.1/ and print that directory:
#   - kselftest_harness.h and kselftest.h, for the C selftests (never copied
#     into the tree: build/ is gitignored);
#   - checkpatch.pl and the data files it reads, for `make lint`.
# Decompressing the whole tarball takes a while, so this runs once; a stamp
# records which tarball the files came from and a new tarball re-extracts.
set -euo pipefail

tarball=${QKDN_LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
top=linux-source-6.1
members=(
	"$top/tools/testing/selftests/kselftest_harness.h"
	"$top/tools/testing/selftests/kselftest.h"
	"$top/scripts/checkpatch.pl"
	"$top/scripts/spelling.txt"
	"$top/scripts/const_structs.checkpatch"
)

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build
dest=$build/$top
stamp=$dest/.extracted

if [[ ! -r $tarball ]]; then
	echo "ksource.sh: $tarball not found; install linux-source-6.1 (make deps)" >&2
	exit 1
fi

mkdir -p "$build"
# Parallel make targets may ask at the same time: one extracts, the others wait.
exec 9>"$build/.ksource.lock"
flock 9

want=$(stat -c '%n %s %Y' "$tarball")
if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
	tmp=$(mktemp -d "$build/.ksource.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	if ! tar -xJf "$tarball" -C "$tmp" "${members[@]}"; then
		echo "ksource.sh: could not extract ${members[*]} from $tarball" >&2
		exit 1
	fi
	rm -rf "$dest"
	mv "$tmp/$top" "$dest"
	printf '%s\n' "$want" >"$stamp"
fi
printf '%s\n' "$dest"
