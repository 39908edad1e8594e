#!/bin/bash
# Install every Debian 12 package the build, the tests and the VM need.
# Idempotent: a machine that already has everything does no network at all,
# so `make check` can call this on every run.
set -euo pipefail

packages=(
	build-essential pkg-config
	linux-headers-amd64 linux-image-amd64 linux-source-6.1	# module build, VM kernel, kselftest harness, checkpatch
	qemu-system-x86 busybox-static cpio kmod		# the test VM and its initramfs
	iproute2 iputils-ping keyutils tcpdump procps python3 iperf3 jq curl	# used by the selftests inside the VM
	libkeyutils-dev libmnl-dev libssl-dev libevent-dev	# userspace libraries
	libjansson-dev libcurl4-openssl-dev libsqlite3-dev
	libpq-dev postgresql		# qkdn-mgrd's PostgreSQL back end; the server for selftests/host/mgrd_pg.sh
	sparse xz-utils
	chromium fonts-dejavu-core	# qkdn-mgrd host tests: headless screenshot of the web page
	nginx-light			# scripts/bench-etsi014: the reference HTTPS server
	strongswan-charon strongswan-swanctl libstrongswan-standard-plugins	# selftests/secd_ppk: charon (vici) and swanctl
)

missing=()
for pkg in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[[ $status == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

as_root=()
if ((EUID != 0)); then
	if ! command -v sudo >/dev/null; then
		echo "install-deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
	as_root=(sudo)
fi

echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get update -q; then
	echo "install-deps.sh: apt-get update failed" >&2
	exit 1
fi
if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends "${missing[@]}"; then
	echo "install-deps.sh: apt-get install failed for: ${missing[*]}" >&2
	exit 1
fi

# nginx is here for scripts/bench-etsi014 only, which runs its own instance
# in the test VM: a fresh install must not leave one serving port 80.
if [[ " ${missing[*]} " == *" nginx-light "* && -d /run/systemd/system ]]; then
	"${as_root[@]}" systemctl disable --now nginx.service > /dev/null 2>&1 || true
fi
