#!/bin/bash
# test_check.sh - `ctsyncd -n` checks what a configuration names on this
# host (issue 12): an address not on the host, missing interfaces, a
# missing socket directory, unknown user and group are errors with the
# file:line:col of the value, and the daemon refuses to start with the
# same message.  --no-host-check checks the file alone.  --help and the
# man pages name the same default configuration file.  Needs no root
# and no namespace; nothing is opened (the daemon stops at the check).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
ctsyncd=${CTSYNCD:-$here/build/ctsyncd}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; printf '%s\n' "$2" | sed 's/^/     /'; fails=$((fails + 1)); }

# expect_error NAME FILE WANT [ARGS...]: ctsyncd -n exits 1 and prints WANT.
expect_error() {
	local name=$1 file=$2 want=$3 out rc
	shift 3
	out=$(cd "$T" && "$ctsyncd" -n -c "$file" "$@" 2>&1) && rc=0 || rc=$?
	if ((rc == 1)) && [[ $out == *"$want"* ]] && [[ $out != *"configuration OK"* ]]; then
		ok "$name"
	else
		bad "$name (exit $rc, want: $want)" "$out"
	fi
}

expect_ok() {
	local name=$1 file=$2 out rc
	shift 2
	out=$(cd "$T" && "$ctsyncd" -n -c "$file" "$@" 2>&1) && rc=0 || rc=$?
	if ((rc == 0)) && [[ $out == "configuration OK" ]]; then
		ok "$name"
	else
		bad "$name (exit $rc)" "$out"
	fi
}

# 127.0.0.1 is on every host, lo is always there.
good() {
	printf 'sync:\n  local: 127.0.0.1\n  peers: [127.0.0.1:3781]\n'
	printf 'control:\n  socket: %s/run/ctsyncd.sock\n' "$T"
	printf 'failover:\n  announce: ["lo 127.0.0.5"]\n'
}
good >"$T/good.yaml"
expect_ok "a configuration that fits this host" good.yaml

printf 'sync:\n  local: 198.51.100.77\n  peers: [198.51.100.78]\n' >"$T/local.yaml"
expect_error "sync.local not on this host" local.yaml \
	"local.yaml:2:10: sync.local 198.51.100.77 is not an address of this host"
expect_ok "--no-host-check takes a file written for another host" local.yaml --no-host-check

printf 'sync:\n  transport: multicast\n  local: 127.0.0.1\n  group: 239.1.2.3\n  interface: nosuchif0\n' \
	>"$T/if.yaml"
expect_error "sync.interface missing" if.yaml \
	'if.yaml:5:14: sync.interface: no interface "nosuchif0" on this host'

good >"$T/announce.yaml"
sed -i 's/"lo 127.0.0.5"/"lo 127.0.0.5", "nosuchif1 198.51.100.1"/' "$T/announce.yaml"
expect_error "failover.announce interface missing" announce.yaml \
	'announce.yaml:7:30: failover.announce: no interface "nosuchif1" on this host'

printf 'sync:\n  local: 127.0.0.1\n  peers: [127.0.0.2]\ncontrol:\n  socket: /nonexistent/sub/x.sock\n' \
	>"$T/sock.yaml"
expect_error "control.socket directory missing" sock.yaml \
	"sock.yaml:5:11: control.socket /nonexistent/sub/x.sock: directory /nonexistent/sub does not exist, nor does /nonexistent"
printf 'sync:\n  local: 127.0.0.1\n  peers: [127.0.0.2]\ncontrol:\n  socket: /dev/null/x.sock\n' \
	>"$T/sock2.yaml"
expect_error "control.socket directory is a file" sock2.yaml \
	"sock2.yaml:5:11: control.socket /dev/null/x.sock: /dev/null is not a directory"

{ echo "user: nosuchuser"; good; } >"$T/user.yaml"
expect_error "user unknown" user.yaml \
	'user.yaml:1:7: user "nosuchuser" does not exist on this host'

{ good; printf 'log:\n  level: info\n'; } >"$T/group.yaml"
sed -i "s|^  socket: .*|&\n  group: nosuchgroup|" "$T/group.yaml"
expect_error "control.group unknown" group.yaml \
	'group.yaml:6:10: control.group "nosuchgroup" does not exist on this host'

# Every problem is reported, not only the first.
{ echo "user: nosuchuser"; cat "$T/if.yaml"; } >"$T/all.yaml"
expect_error "all problems at once" all.yaml "all.yaml: 2 errors"

# The daemon refuses at start with the same message, before it opens
# anything (the timeout only guards against a daemon that would run).
out=$(cd "$T" && timeout 10 "$ctsyncd" -c local.yaml 2>&1) && rc=0 || rc=$?
if ((rc == 1)) && [[ $out == *"local.yaml:2:10: sync.local 198.51.100.77 is not an address of this host"* ]]; then
	ok "start refuses with the same message"
else
	bad "start refuses with the same message (exit $rc)" "$out"
fi

out=$("$ctsyncd" --no-host-check -c "$T/good.yaml" 2>&1) && rc=0 || rc=$?
if ((rc == 2)); then ok "--no-host-check without -n is refused"; else bad "--no-host-check without -n (exit $rc)" "$out"; fi

# The default configuration --help names is the one the man pages name
# (meson's sysconfdir defaults to /etc, as Debian's packaging sets it).
help_default=$("$ctsyncd" --help | sed -n 's/.*configuration (default \(.*\))$/\1/p')
man_default=$(sed -n '/^instead of$/{n;s/^\.Pa \([^ ]*\) \.$/\1/p;}' "$here/man/ctsyncd.8")
if [[ -n $help_default && $help_default == "$man_default" ]] &&
   grep -q "^\.Pa $help_default\$" "$here/man/ctsyncd.yaml.5"; then
	ok "default configuration $help_default in --help and the man pages"
else
	bad "default configuration: --help '$help_default', ctsyncd(8) '$man_default'" ""
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
