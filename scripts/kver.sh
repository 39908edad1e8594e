#!/bin/bash
# Print the kernel version V that we can both build against (/lib/modules/V/build)
# and boot in the test VM (/boot/vmlinuz-V). The running kernel is irrelevant:
# the build machines run a kernel without module support.
set -euo pipefail

best=
for image in /boot/vmlinuz-*; do
	[[ -e $image ]] || continue
	version=${image#/boot/vmlinuz-}
	[[ -d /lib/modules/$version/build ]] || continue
	best=$(printf '%s\n%s\n' "$best" "$version" | sort -V | tail -n 1)
done

if [[ -z $best ]]; then
	echo "kver.sh: no kernel has both /boot/vmlinuz-V and /lib/modules/V/build;" \
	     "install linux-image-amd64 and linux-headers-amd64 (make deps)" >&2
	exit 1
fi
printf '%s\n' "$best"
