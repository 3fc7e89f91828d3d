#!/bin/bash
# test_keepalived.sh - scripts/ctsync-keepalived maps keepalived's
# transitions to ctctl commands, in order, from the FIFO and as a notify
# script.  A fake ctctl records what it is asked.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
script=$here/scripts/ctsync-keepalived
T=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fails=0
check() {	# check NAME WANT GOT
	if [ "$2" = "$3" ]; then echo "ok   $1"; else
		echo "FAIL $1: want '$2', got '$3'"; fails=$((fails + 1)); fi
}
# wait_lines FILE N: until FILE has N lines, at most 5 s.
wait_lines() {
	local end=$((SECONDS + 5))
	while [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -lt "$2" ] && [ $SECONDS -lt $end ]; do
		sleep 0.02
	done
}

cat >"$T/ctctl" <<'F'
#!/bin/sh
# fake ctctl: record "SOCKET CMD" (the socket when -s is given)
if [ "$1" = -s ]; then echo "$2 $3" >>"$CALLS"; else echo "- $1" >>"$CALLS"; fi
F
chmod +x "$T/ctctl"
export CALLS=$T/calls

# FIFO mode, groups: instance lines are ignored, order is kept.
mkfifo "$T/fifo"
"$script" -c "$T/ctctl" -s /x.sock "$T/fifo" 2>"$T/log" &
pid=$!
{
	echo 'INSTANCE "outside" MASTER 150'
	echo 'GROUP "fw" MASTER 150'
	echo 'GROUP "fw" BACKUP 100'
	echo 'GROUP "fw" FAULT 0'
	echo 'GROUP "fw" MASTER 150'
	echo 'GROUP "fw" STOP 0'
} >"$T/fifo"
wait_lines "$CALLS" 5
check "fifo: group transitions in order" \
	"/x.sock master,/x.sock backup,/x.sock backup,/x.sock master,/x.sock backup" \
	"$(paste -sd, "$CALLS")"
kill "$pid"; wait "$pid" 2>/dev/null; pid=

# FIFO mode, one named instance.
: >"$CALLS"
"$script" -o instance -n inside -c "$T/ctctl" "$T/fifo" 2>>"$T/log" &
pid=$!
printf '%s\n' 'INSTANCE "outside" MASTER 150' 'GROUP "fw" MASTER 150' \
	'INSTANCE "inside" MASTER 150' >"$T/fifo"
wait_lines "$CALLS" 1
check "fifo: only the named instance" "- master" "$(paste -sd, "$CALLS")"
kill "$pid"; wait "$pid" 2>/dev/null; pid=

# notify-script mode.
: >"$CALLS"
"$script" -c "$T/ctctl" GROUP fw MASTER 150 2>>"$T/log"
"$script" -c "$T/ctctl" GROUP fw BACKUP 2>>"$T/log"
check "notify: arguments" "- master,- backup" "$(paste -sd, "$CALLS")"

# Bad usage says so.
"$script" 2>"$T/usage"; rc=$?
check "usage: exit 2" 2 "$rc"

[ "$fails" -eq 0 ] && echo "all checks passed"
[ "$fails" -eq 0 ]
