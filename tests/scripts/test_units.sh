#!/bin/bash
# test_units.sh - the shipped integration files are accepted by the tools
# that read them: systemd-analyze verify on the unit (with this build's
# binary, as installed paths need not exist here) and keepalived -t on
# the example keepalived.conf.  Exit 77 when a tool is missing.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
ctsyncd=${CTSYNCD:-$here/build/ctsyncd}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v systemd-analyze >/dev/null && command -v keepalived >/dev/null || exit 77
fails=0

sed "s|@SBINDIR@/ctsyncd|$ctsyncd|g; s|@SYSCONFDIR@|/etc|g" \
	"$here/systemd/ctsyncd.service.in" >"$T/ctsyncd.service"
if out=$(systemd-analyze verify --man=no "$T/ctsyncd.service" 2>&1) && [ -z "$out" ]; then
	echo "ok   systemd-analyze verify ctsyncd.service"
else
	echo "FAIL systemd-analyze verify ctsyncd.service:"; echo "$out"; fails=$((fails + 1))
fi

# Interfaces of the example do not exist here: only those warnings may show.
out=$(keepalived -t -l -f "$here/conf/keepalived.conf" -p "$T/k.pid" -r "$T/v.pid" \
	-c "$T/c.pid" 2>&1 | grep -v -e "doesn't exist" -e "Non-existent interface")
if [ -z "$out" ]; then
	echo "ok   keepalived -t conf/keepalived.conf"
else
	echo "FAIL keepalived -t conf/keepalived.conf:"; echo "$out"; fails=$((fails + 1))
fi
[ "$fails" -eq 0 ]
