#!/usr/bin/env bash
#
# scripts/install-deps.sh - install what ctsync needs to build, test and
# run its demo on Debian 12.  Idempotent and non-interactive: when every
# package is already installed it does nothing (no apt-get update).
#
# Usage: sudo scripts/install-deps.sh
set -euo pipefail

# Build: compilers, meson, and the libraries ctsyncd links.
BUILD_PKGS=(
	gcc clang llvm meson ninja-build pkg-config
	libmnl-dev libev-dev libyaml-dev libcmocka-dev libsodium-dev
	libsystemd-dev libcap-ng-dev
)
# Tests and demo: namespaces, firewall, conntrack tools (and conntrackd /
# keepalived to compare with and to fail over), JSON, man lint, traffic.
TEST_PKGS=(
	iproute2 nftables conntrack conntrackd keepalived jq mandoc valgrind
	socat netcat-openbsd procps iputils-ping tcpdump
)

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps.sh: must run as root (try: sudo $0)" >&2
	exit 1
fi

missing=()
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
	if [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null) != "ii "* ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#BUILD_PKGS[@]} build and ${#TEST_PKGS[@]} test packages present"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
