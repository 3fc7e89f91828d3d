#!/usr/bin/env bash
#
# tests/netns/test_control.sh - the control socket of a running ctsyncd
# (issue "Nothing lost under faults, bad input and attack": the socket
# refuses anyone without permission, malformed requests get an error
# reply, never a crash).
#
# One ctsyncd in a namespace of its own (no peer answers: the sync link is
# an address on lo), its socket in the run's temp dir with
# control.group $CTS_CTL_GROUP (default nogroup) and mode 0660.  Checks:
#   1. the socket is a socket, mode 0660, group $CTS_CTL_GROUP;
#   2. ctctl status as uid nobody with group $CTS_OTHER_GROUP (default
#      users) and no supplementary groups is refused: exit 1 and
#      "permission denied (connect ...: Permission denied)"; with
#      $CTS_CTL_GROUP as its group, or as a supplementary group, it works;
#   3. raw frames over the socket (socat): garbage, a length field over
#      CTL_MAX_FRAME or under the header, a truncated frame followed by a
#      half or a full close, an unknown request type, requests whose body
#      length is wrong, requests pipelined before a malformed frame.  Each
#      gets the reply ctsync/ctl.h gives it (DONE -EPROTO and the
#      connection closed for a malformed stream; DONE -EOPNOTSUPP or
#      -EINVAL for a bad request, the connection kept), and afterwards
#      ctsyncd still runs, answers ctctl status and holds no more file
#      descriptors than before;
#   4. ctctl against a path where no daemon listens (none there, a stale
#      socket file) says "ctsyncd not running" and exits 1;
#   5. ctsyncd stops cleanly on SIGTERM (status 0, no sanitizer report)
#      and removes its socket;
#   6. (run between 3 and 4) against a stopped ctsyncd (SIGSTOP), ctctl
#      -t 2 exits 1 within its deadline both when the request is taken but
#      never answered and when the listen backlog is full (connect() would
#      block: ctl_hostile.py fill), and says which;
#   7. (then) out of descriptors (prlimit --nofile on ctsyncd, 12 idle
#      connections): ctsyncd uses under 20 % of a CPU and logs at most 3
#      lines in 2 s, ctctl status still gets an answer (idle clients are
#      closed to make room), and once the idle clients go it answers;
#      control.accept_errors and control.evicted count it;
#   9. (then) careless operators: `ctctl master` exits 1 and names the
#      interface when an announce interface has gone (0 while it was
#      there); with net.netfilter.nf_conntrack_events at 0 `ctctl ready`
#      exits 1 and says why, and is ready again once it is 1; a second
#      ctsyncd with the same sync address and port (another control
#      socket) refuses to start and says the address is in use;
#   8. (then) three clients pipelining dump requests of 20,000 flows and
#      one pipelining stats, none reading its replies: ctsyncd's VmRSS
#      grows less than 48 MiB, ctctl dump internal gets all flows and
#      ctctl status an answer meanwhile, and when they go no reply byte
#      is left counted.
#
# Frames are written in host byte order, as ctsync/ctl.h specifies.
#
# Exit: 0 pass, 1 fail, 77 skip (not root, tools or binaries missing).
# Environment: CTSYNCD CTCTL (paths; default build/), CTS_CTL_GROUP,
# CTS_OTHER_GROUP, CTS_USER (default nobody), CTS_KEEP=1 keeps the logs.
set -uo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTL_GROUP=${CTS_CTL_GROUP:-nogroup}
OTHER_GROUP=${CTS_OTHER_GROUP:-users}
USER_=${CTS_USER:-nobody}

cts_init control || exit $?
need_bins CTSYNCD CTCTL CTGEN
for t in python3 prlimit jq; do
	command -v "$t" >/dev/null 2>&1 || { warn "SKIP: '$t' not found"; exit 77; }
done
if ! command -v setpriv >/dev/null 2>&1; then
	warn "SKIP: 'setpriv' not found (util-linux)"
	exit 77
fi
for g in "$CTL_GROUP" "$OTHER_GROUP"; do
	getent group "$g" >/dev/null || { warn "SKIP: no group '$g' (set CTS_CTL_GROUP / CTS_OTHER_GROUP)"; exit 77; }
done
getent passwd "$USER_" >/dev/null || { warn "SKIP: no user '$USER_' (set CTS_USER)"; exit 77; }
CTL_GID=$(getent group "$CTL_GROUP" | cut -d: -f3)
OTHER_GID=$(getent group "$OTHER_GROUP" | cut -d: -f3)
if [[ $CTL_GID == "$OTHER_GID" ]]; then
	warn "SKIP: groups '$CTL_GROUP' and '$OTHER_GROUP' have the same id $CTL_GID"
	exit 77
fi

summary() {
	echo
	echo "== control socket of ctsyncd: group $CTL_GROUP, mode 0660; $USER_ as group $OTHER_GROUP refused, as $CTL_GROUP let in; malformed requests answered"
	report_failed
}
ok() { say "ok: $*"; }
# brief TEXT: TEXT on one line, at most 200 bytes (for fail messages).
brief() { local t=${1//$'\n'/ | }; printf '%s' "${t:0:200}"; }

NS=$CTS_P-ctl
SOCK=$CTS_TMP/ctl.sock
CONF=$CTS_TMP/ctsyncd.yaml
RAWD=$CTS_TMP/raw

# The unprivileged users must reach the socket through the temp dir: open
# it to search (not listing) and keep what the test writes there its own.
# The daemon starts with the usual umask 022, as under systemd.
umask 077
chmod 0711 "$CTS_TMP"
mkdir "$RAWD"
# ctctl where any user may run it (the build dir may not be reachable).
if ! install -d -m 0755 "$CTS_TMP/bin" || ! install -m 0755 "$CTCTL" "$CTS_TMP/bin/ctctl"; then
	die "copying ctctl into $CTS_TMP/bin"
fi
CTL=$CTS_TMP/bin/ctctl

# as GROUP [--groups=G] CMD...: CMD in NS as $USER_ with group GROUP and
# only the supplementary groups given (none by default).
as() {
	local g=$1 sup=--clear-groups
	shift
	if [[ ${1-} == --groups=* ]]; then sup=$1; shift; fi
	nsx "$NS" setpriv --reuid="$USER_" --regid="$g" "$sup" "$@"
}

ctsyncd_up() { nsx "$NS" "$CTL" -s "$SOCK" status >/dev/null 2>&1; }

# ------------------------------------------------------------- the daemon

say "control socket test, prefix $CTS_P"
ns_add "$NS" || die "creating namespace $NS"
# sync.local must be an address here; the peer is one nobody listens on
# (the datagrams to it meet a closed port: a peer that is down).
ip -n "$NS" addr add 192.0.2.1/30 dev lo || die "address on lo in $NS"
# An interface to announce on (section 9 takes it away).
veth ann0 "$NS" ann1 "$NS" || die "veth ann0 in $NS"
{
	echo "node_id: 1"
	echo "sync:"
	echo "  transport: udp"
	echo "  local: 192.0.2.1"
	echo "  peers: [192.0.2.2]"
	echo "  port: 3780"
	echo "kernel:"
	echo "  event_buffer: 8M"
	echo "control:"
	echo "  socket: $SOCK"
	echo "  group: $CTL_GROUP"
	echo "  mode: 0660"
	echo "failover:"
	echo "  announce: [\"ann0 198.51.100.1\"]"
	echo "log:"
	echo "  level: ${CTS_LOG_LEVEL:-info}"
} >"$CONF"
out=$(nsx "$NS" "$CTSYNCD" -c "$CONF" -n 2>&1)
[[ $out == *"configuration OK"* ]] || die "ctsyncd -n: $out"
: >"$CTS_TMP/ctl.log"	# (created 0600 before the umask changes)
umask 022
start_ctsyncd ctl "$NS" "$CONF"
umask 077
DPID=${CTS_DPID[ctl]}
wait_until 15 ctsyncd_up || die "ctsyncd not answering on $SOCK within 15 s"
say "ctsyncd up (pid $DPID) in $NS, control socket $SOCK"

# --------------------------------------------------- 1. mode and group

if ! st=$(stat -c '%F %a %U %G' "$SOCK" 2>&1); then
	fail "stat $SOCK: $st"
elif [[ $st != "socket 660 root $CTL_GROUP" ]]; then
	fail "socket $SOCK is \"$st\", want \"socket 660 root $CTL_GROUP\" (type, mode, owner, group)"
else
	ok "socket $SOCK: mode 0660, owner root, group $CTL_GROUP"
fi

# -------------------------------------------------------- 2. permission

# Refused: no group of the process is the socket's group.  The process can
# reach the file (search on the dirs), so it is the socket's mode that
# refuses it, not the path.
ids=$(as "$OTHER_GROUP" id -u -G 2>&1)
if [[ " $ids " == *" $CTL_GID "* ]] || ! as "$OTHER_GROUP" test -S "$SOCK"; then
	fail "setup: $USER_ as group $OTHER_GROUP (ids: $(brief "$ids")) is in group $CTL_GROUP or cannot reach $SOCK"
else
	out=$(as "$OTHER_GROUP" "$CTL" -s "$SOCK" status 2>&1)
	rc=$?
	want="ctctl: permission denied (connect $SOCK: Permission denied); run as root or as a member of group $CTL_GROUP"
	if ((rc != 1)); then
		fail "ctctl status as $USER_, group $OTHER_GROUP: exit $rc, want 1 (output: $(brief "$out"))"
	elif [[ $out != "$want" ]]; then
		fail "ctctl status as $USER_, group $OTHER_GROUP: \"$(brief "$out")\", want \"$want\""
	else
		ok "$USER_ as group $OTHER_GROUP: ctctl status refused, exit 1: $out"
	fi
fi

# Let in: the socket's group as the process's group, or as a supplementary
# group (an operator who is a member of it).
for how in "$CTL_GROUP" "$OTHER_GROUP --groups=$CTL_GROUP"; do
	# shellcheck disable=SC2086  # two words for as()
	out=$(as $how "$CTL" -s "$SOCK" -j status 2>&1)
	rc=$?
	label="$USER_ as group ${how/ --groups=/ with supplementary group }"
	if ((rc != 0)); then
		fail "ctctl status as $label: exit $rc: $(brief "$out")"
	elif ! v=$(jq -er .daemon.version <<<"$out" 2>/dev/null); then
		fail "ctctl -j status as $label: no daemon.version in: $(brief "$out")"
	else
		ok "$label: ctctl status works (ctsyncd $v)"
	fi
done

# ---------------------------------------------------- 3. raw requests

# Frames in host byte order (ctsync/ctl.h).
HOST_LE=0
[[ $(printf '\001\000' | od -An -tu2 | tr -d ' ') == 1 ]] && HOST_LE=1
# hexb N BYTES: N as BYTES bytes in host order, as printf %b escapes.
hexb() {
	local v=$1 n=$2 i s=''
	for ((i = 0; i < n; i++)); do
		if ((HOST_LE)); then
			s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255)))
		else
			s+=$(printf '\\x%02x' $(((v >> (8 * (n - 1 - i))) & 255)))
		fi
	done
	printf '%s' "$s"
}
# hdr LEN TYPE: a frame header (flags 0).  frame TYPE [BODY]: a whole
# frame, BODY in %b escapes ("\x01").
hdr() { printf '%s%s%s' "$(hexb "$1" 4)" "$(hexb "$2" 2)" "$(hexb 0 2)"; }
frame() {
	local body=${2-} n
	n=$(printf '%b' "$body" | wc -c)
	printf '%s%s' "$(hdr $((8 + n)) "$1")" "$body"
}

# Linux errno values the daemon answers with.
EINVAL=22 EPROTO=71 EOPNOTSUPP=95
REQ_STATUS=1 REQ_DUMP=3 REQ_FLUSH=5 REP_DONE=199

# A raw client: socat between a FIFO (its input, held open on RAW_FD) and
# the socket; what it receives is in $RAW.out, its log (-d -d -d) in
# $RAW.log, where "socket 2 ... is at EOF" means ctsyncd closed the
# connection (or finished after our half close) and "transferred N bytes
# from 0" that it sent what we wrote.
RAW='' RAW_PID='' RAW_FD='' RAW_N=0
raw_open() {
	RAW_N=$((RAW_N + 1))
	RAW=$RAWD/$RAW_N
	mkfifo "$RAW.in" || return 1
	: >"$RAW.out"
	ip netns exec "$NS" socat -d -d -d -t 30 - "UNIX-CONNECT:$SOCK" \
		<"$RAW.in" >"$RAW.out" 2>"$RAW.log" &
	RAW_PID=$!
	CTS_PIDS+=("$RAW_PID")
	exec {RAW_FD}>"$RAW.in"
	wait_until 5 grep -q 'starting data transfer loop' "$RAW.log"
}
# raw_send ESCAPES: write bytes, in one write(2) (bash's printf may split
# them, and a daemon that answers the first part and closes would make
# socat's second write fail with EPIPE before it reads the answer), in a
# subshell: a client already gone must not SIGPIPE the test.
raw_send() {
	printf '%b' "$1" >"$RAW.msg"
	(cat "$RAW.msg" >&"$RAW_FD") 2>/dev/null
}
# raw_shut: close our side (socat half-closes the connection).
raw_shut() { [[ -n $RAW_FD ]] && exec {RAW_FD}>&-; RAW_FD=; }
# raw_close: our side closed, socat gone (after a bounded wait for it to
# finish by itself), reaped.
raw_close() {
	raw_shut
	wait_until 5 pids_gone "$RAW_PID" || true
	kill_wait TERM 5 "$RAW_PID" || kill_wait KILL 5 "$RAW_PID"
}
# ctsyncd closed the connection: an EOF, or, when it closed with bytes of
# ours still unread (a malformed request is answered and dropped at
# once), a reset on reading from it (AF_UNIX resets then; seen in CI).
raw_eof() {
	grep -qE 'socket 2 \(fd [0-9]*\) is at EOF|read\([0-9]+, .*\): Connection reset by peer' "$RAW.log"
}

# frames FILE: the control frames in FILE, one line each: "KV section key",
# "DONE status [message]", "TYPE t len n" (others); then, for bytes left
# over, "PARTIAL n" or "BADLEN n".
frames() {
	od -An -v -tu1 "$1" | awk -v le="$HOST_LE" '
	function u(off, k,   v, j) {
		v = 0
		for (j = 0; j < k; j++) v = v * 256 + (le ? b[off + k - 1 - j] : b[off + j])
		return v
	}
	function str(off, k,   s, j) {
		s = ""
		for (j = 0; j < k; j++) s = s sprintf("%c", b[off + j])
		return s
	}
	{ for (i = 1; i <= NF; i++) b[n++] = $i + 0 }
	END {
		p = 0
		while (p < n) {
			if (n - p < 4) { print "PARTIAL " (n - p); break }
			len = u(p, 4)
			if (len < 8 || len > 65536) { print "BADLEN " len; break }
			if (n - p < len) { print "PARTIAL " (n - p); break }
			type = u(p + 4, 2)
			if (type == 199 && len >= 12) {
				st = u(p + 8, 4)
				if (st >= 2147483648) st -= 4294967296
				m = ""
				for (j = p + 12; j < p + len && b[j] != 0; j++) m = m sprintf("%c", b[j])
				print "DONE " st (m != "" ? " " m : "")
			} else if (type == 100 && len >= 12) {
				print "KV " str(p + 12, b[p + 9]) " " str(p + 12 + b[p + 9], b[p + 10])
			} else
				print "TYPE " type " len " len
			p += len
		}
	}'
}
# replies: the frames received so far on one line, runs of KV as "KV...":
#   "DONE -95 unknown request; KV...; DONE 0"
replies() {
	frames "$RAW.out" | awk '
		/^KV / { if (!kv) s = s (s == "" ? "" : "; ") "KV..."; kv = 1; next }
		{ kv = 0; s = s (s == "" ? "" : "; ") $0 }
		END { print s }'
}
ndone() { frames "$RAW.out" | grep -c '^DONE'; }
dones_at_least() { (($(ndone) >= $1)); }

# A status reply as replies() shows it (some KV, then DONE 0).
STATUS_REPLY="KV...; DONE 0"

# ctsyncd's connections: the sockets it accepted on $SOCK that are still
# open (in its namespace's /proc/net/unix they carry the path and state 03,
# connected), and its file descriptors, counted once none is left.
# shellcheck disable=SC2016  # awk, not shell
accepted() { nsx "$NS" awk -v p="$SOCK" '$NF == p && $6 == "03"' /proc/net/unix | wc -l; }
no_clients() { (($(accepted) == 0)); }
nfds() { find "/proc/$DPID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
wait_until 10 no_clients || fail "setup: ctsyncd still holds $(accepted) control connection(s) of the ctctl runs above"
FDS0=$(nfds)

# serving: ctsyncd runs and answers ctctl status; " (why not)" otherwise.
serving() {
	local o
	ctsyncd_alive ctl || { echo " (ctsyncd is gone)"; return 1; }
	o=$(nsx "$NS" "$CTL" -s "$SOCK" status 2>&1) || { echo " (ctctl status: $(brief "$o"))"; return 1; }
}

# raw_case LABEL BYTES WANT CONN [SECOND_BYTES SECOND_WANT]
#   Send BYTES on a fresh connection; the replies must be WANT (replies()
#   format, "" for none).  CONN: "closed" (ctsyncd closes the connection
#   while ours is still open), "open" (it keeps it: SECOND_BYTES sent on
#   the same connection must get SECOND_WANT), "half-close" (we close our
#   side after BYTES; ctsyncd must close its side with no reply) or
#   "drop" (we close the whole connection at once, mid-frame).  Then
#   ctsyncd must still answer ctctl status.
raw_case() {
	local label=$1 bytes=$2 want=$3 conn=$4 second=${5-} want2=${6-} got n why=''
	if ! raw_open; then
		fail "$label: socat did not connect to $SOCK: $(brief "$(tail -n 3 "$RAW.log")")"
		raw_close
		return 1
	fi
	raw_send "$bytes"
	n=$(grep -o 'DONE' <<<"$want" | wc -l)
	case $conn in
	closed)
		wait_until 10 raw_eof || why="ctsyncd did not close the connection within 10 s"
		;;
	open)
		wait_until 10 dones_at_least "$n" || why="no reply within 10 s"
		;;
	half-close)
		raw_shut
		wait_until 10 raw_eof || why="ctsyncd did not close the connection within 10 s of our half close"
		;;
	drop)
		# the partial frame must have reached ctsyncd before we go
		wait_until 5 grep -q 'transferred [0-9]* bytes from 0 to' "$RAW.log" || true
		raw_close
		;;
	esac
	got=$(replies)
	if [[ -z $why && $got != "$want" ]]; then
		why="replies \"$got\", want \"${want:-nothing}\""
	fi
	if [[ -z $why && $conn == open ]]; then
		if raw_eof; then
			why="ctsyncd closed the connection after \"$got\""
		else
			raw_send "$second"
			n=$(grep -o 'DONE' <<<"$want; $want2" | wc -l)
			wait_until 10 dones_at_least "$n" || true
			got=$(replies)
			[[ $got == "$want; $want2" ]] ||
				why="then on the same connection: replies \"$got\", want \"$want; $want2\""
		fi
	fi
	raw_close
	if [[ -n $why ]]; then
		fail "$label: $why"
	elif ! why=$(serving); then
		fail "$label: afterwards ctsyncd does not answer$why"
	else
		case $conn in
		closed) how="connection closed by ctsyncd" ;;
		open) how="connection kept (next request answered)" ;;
		half-close) how="no reply, ctsyncd closed its side" ;;
		drop) how="no reply" ;;
		esac
		ok "$label: ${want:-nothing}; $how; ctsyncd still answers"
	fi
}

MALFORMED="DONE -$EPROTO malformed request"

raw_case "garbage bytes (\"GET / HTTP/1.0\")" 'GET / HTTP/1.0\r\n\r\n' "$MALFORMED" closed
raw_case "length field CTL_MAX_FRAME + 1" "$(hdr 65537 $REQ_STATUS)" "$MALFORMED" closed
raw_case "length field 0xffffffff" "$(hdr 4294967295 $REQ_STATUS)abcd" "$MALFORMED" closed
raw_case "length field 7 (under the header)" "$(hdr 7 $REQ_STATUS)" "$MALFORMED" closed
raw_case "length field 0, the rest never sent" "$(hexb 0 4)" "$MALFORMED" closed
raw_case "truncated header, then half close" '\x10\x00' "" half-close
raw_case "truncated frame (16 of 24 bytes), then half close" \
	"$(hdr 24 $REQ_STATUS)"'\x01\x02\x03\x04\x05\x06\x07\x08' "" half-close
raw_case "truncated frame (8 of 65536 bytes), then close" "$(hdr 65536 $REQ_STATUS)" "" drop
raw_case "unknown request type 4242" "$(frame 4242)" \
	"DONE -$EOPNOTSUPP unknown request" open "$(frame $REQ_STATUS)" "$STATUS_REPLY"
raw_case "a reply type (DONE) sent as a request" "$(frame $REP_DONE '\x00\x00\x00\x00')" \
	"DONE -$EOPNOTSUPP unknown request" open "$(frame $REQ_STATUS)" "$STATUS_REPLY"
raw_case "status with a 4-byte body" "$(frame $REQ_STATUS '\x01\x00\x00\x00')" \
	"DONE -$EINVAL request type $REQ_STATUS: body of 4 bytes, expected 0" open \
	"$(frame $REQ_STATUS)" "$STATUS_REPLY"
raw_case "dump without its 1-byte body" "$(frame $REQ_DUMP)" \
	"DONE -$EINVAL request type $REQ_DUMP: body of 0 bytes, expected 1" open \
	"$(frame $REQ_STATUS)" "$STATUS_REPLY"
raw_case "dump with a 2-byte body" "$(frame $REQ_DUMP '\x01\x00')" \
	"DONE -$EINVAL request type $REQ_DUMP: body of 2 bytes, expected 1" open \
	"$(frame $REQ_STATUS)" "$STATUS_REPLY"
raw_case "flush without its 1-byte body" "$(frame $REQ_FLUSH)" \
	"DONE -$EINVAL request type $REQ_FLUSH: body of 0 bytes, expected 1" open \
	"$(frame $REQ_STATUS)" "$STATUS_REPLY"
raw_case "dump of cache 7 (no such cache)" "$(frame $REQ_DUMP '\x07')" \
	"DONE -$EINVAL dump: internal or external?" open "$(frame $REQ_STATUS)" "$STATUS_REPLY"
raw_case "two status requests and garbage in one write" \
	"$(frame $REQ_STATUS)$(frame $REQ_STATUS)"'\xff\xff\xff\xff' \
	"$STATUS_REPLY; $STATUS_REPLY; $MALFORMED" closed

# The largest frame there is (CTL_MAX_FRAME, 65528 body bytes), a status
# request with a body it does not take: whole, it fills the daemon's input
# buffer exactly.
big=$RAWD/big
{ printf '%b' "$(hdr 65536 $REQ_STATUS)"; head -c 65528 /dev/zero; } >"$big"
raw_big() {
	raw_open || { fail "max-size frame: socat did not connect"; raw_close; return; }
	(cat "$big" >&"$RAW_FD") 2>/dev/null
	raw_send "$(frame $REQ_STATUS)"
	wait_until 10 dones_at_least 2 || true
	got=$(replies)
	want="DONE -$EINVAL request type $REQ_STATUS: body of 65528 bytes, expected 0; $STATUS_REPLY"
	raw_close
	if [[ $got != "$want" ]]; then
		fail "max-size frame (65536 bytes), then status: replies \"$got\", want \"$want\""
	elif ! why=$(serving); then
		fail "max-size frame: afterwards ctsyncd does not answer$why"
	else
		ok "max-size frame (65536 bytes, status with a body), then status: $got; ctsyncd still answers"
	fi
}
raw_big

# Every connection above is gone: ctsyncd closed its side of each, and
# holds the descriptors it held before them.
if ! wait_until 10 no_clients; then
	fail "ctsyncd still holds $(accepted) control connection(s) 10 s after the $RAW_N raw clients went"
elif (($(nfds) != FDS0)); then
	fail "ctsyncd holds $(nfds) file descriptors after the raw connections, $FDS0 before"
else
	ok "after $RAW_N raw connections ctsyncd holds none of them and $FDS0 file descriptors, as before"
fi

# ---------------------------------------- 6. a daemon that does not answer

HOSTILE=$(dirname "${BASH_SOURCE[0]}")/ctl_hostile.py
# ctctl_timed OUT_VAR RC_VAR MS_VAR ARGS...: ctctl ARGS in $NS (killed after
# 40 s so a hang fails the test instead of stalling it): its output, exit
# status and run time in ms.
# shellcheck disable=SC2034  # o_ r_ t_ are namerefs: the caller's variables
ctctl_timed() {
	local -n o_=$1 r_=$2 t_=$3
	local t0
	shift 3
	t0=$(cts_now_us)
	o_=$(nsx "$NS" timeout 40 "$CTL" -s "$SOCK" "$@" 2>&1)
	r_=$?
	t_=$((($(cts_now_us) - t0) / 1000))
}
# deadline_case LABEL WANT: ctctl -t 2 ready against the stopped daemon
# must exit 1 with WANT within 2 s (plus 3 s for a loaded machine).
deadline_case() {
	local out rc ms
	ctctl_timed out rc ms -t 2 ready
	if ((rc != 1)); then
		fail "$1: ctctl -t 2 ready: exit $rc after $ms ms, want 1 (output: $(brief "$out"))"
	elif [[ $out != "$2" ]]; then
		fail "$1: ctctl -t 2 ready: \"$(brief "$out")\", want \"$2\""
	elif ((ms < 1900 || ms > 5000)); then
		fail "$1: ctctl -t 2 ready gave up after $ms ms, want 2000-5000"
	else
		ok "$1: ctctl -t 2 ready: exit 1 after $ms ms: $out"
	fi
}

# A stopped daemon whose backlog still has room: connect and send succeed,
# no answer comes.
kill -STOP "$DPID"
deadline_case "ctsyncd stopped" "ctctl: ready: no answer from ctsyncd within 2 s"
# Its backlog full: connect() would block until it accepts (issue 12).
start_bg "$NS" "$CTS_TMP/fill.log" python3 "$HOSTILE" fill "$SOCK"
FILL_PID=$BG_PID
if ! wait_until 10 test -s "$CTS_TMP/fill.log"; then
	fail "setup: ctl_hostile.py fill: $(brief "$(cat "$CTS_TMP/fill.log")")"
else
	say "backlog of $SOCK full with $(cat "$CTS_TMP/fill.log") connections"
	deadline_case "ctsyncd stopped, listen backlog full" \
		"ctctl: ctsyncd not answering on $SOCK within 2 s (listen backlog full)"
fi
kill -CONT "$DPID"
kill_wait TERM 5 "$FILL_PID"
wait_until 10 serving >/dev/null || fail "ctsyncd does not answer after SIGCONT$(serving)"
wait_until 10 no_clients || fail "ctsyncd still holds $(accepted) control connection(s) 10 s after the backlog's clients went"

# ------------------------------------- 7. out of file descriptors

# stat_ctl KEY: ctctl stats' control.KEY, -1 if it cannot be had.
stat_ctl() {
	local v
	v=$(ctctl_in "$NS" "$SOCK" -j stats 2>/dev/null | jq -e ".control.$1 | numbers" 2>/dev/null) || v=-1
	echo "$v"
}
# cpu_ticks: ctsyncd's utime + stime (clock ticks).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DPID/stat"; }
log_lines() { wc -l <"$CTS_TMP/ctl.log"; }

# Room for about 3 clients (a new descriptor takes the lowest free number,
# and only that number is checked against the limit), 12 connections that
# never send a thing: accept() fails with EMFILE while 9 wait in the
# backlog.  Before issue 12 ctsyncd retried at once: one
# CPU and about 179,000 log lines a second until the clients went.
TICK=$(getconf CLK_TCK)
NOFILE0=$(prlimit --pid "$DPID" --nofile --output SOFT --noheadings | tr -d ' ')
NFDS=$(nfds)
ERR0=$(stat_ctl accept_errors)
prlimit --pid "$DPID" --nofile="$((NFDS + 3)):" || fail "setup: prlimit --nofile=$((NFDS + 3)) on ctsyncd"
start_bg "$NS" "$CTS_TMP/idle.log" python3 "$HOSTILE" idle "$SOCK" 12
IDLE_PID=$BG_PID
if ! wait_until 10 test -s "$CTS_TMP/idle.log"; then
	fail "setup: ctl_hostile.py idle: $(brief "$(cat "$CTS_TMP/idle.log")")"
else
	say "$(cat "$CTS_TMP/idle.log") idle connections, ctsyncd's descriptors limited to $((NFDS + 3))"
	sleep 0.5
	c0=$(cpu_ticks) l0=$(log_lines)
	sleep 2
	c1=$(cpu_ticks) l1=$(log_lines)
	# An idle ctsyncd uses a few ticks in 2 s; one spinning, all 2 s.
	if ((c1 - c0 > TICK * 2 / 5)); then
		fail "out of descriptors: ctsyncd used $(((c1 - c0) * 1000 / TICK)) ms of CPU in 2 s, want < 400"
	elif ((l1 - l0 > 3)); then
		fail "out of descriptors: ctsyncd logged $((l1 - l0)) lines in 2 s, want <= 3: $(brief "$(tail -n 3 "$CTS_TMP/ctl.log")")"
	else
		ok "out of descriptors: ctsyncd used $(((c1 - c0) * 1000 / TICK)) ms of CPU and logged $((l1 - l0)) line(s) in 2 s"
	fi
	# The operator still gets in: idle clients are closed to make room.
	ctctl_timed out rc ms -t 20 status
	if ((rc != 0)); then
		fail "out of descriptors, 12 idle clients: ctctl status: exit $rc after $ms ms: $(brief "$out")"
	else
		ok "out of descriptors, 12 idle clients: ctctl status answered after $ms ms"
	fi
fi
kill_wait TERM 5 "$IDLE_PID"
wait_until 10 no_clients || fail "ctsyncd still holds $(accepted) control connection(s) 10 s after the idle clients went"
if ! wait_until 10 serving >/dev/null; then
	fail "out of descriptors: ctsyncd does not answer after the idle clients went$(serving)"
else
	errs=$(stat_ctl accept_errors) ev=$(stat_ctl evicted)
	if ((errs <= ERR0 || ev < 1)); then
		fail "out of descriptors: control.accept_errors $ERR0 -> $errs, control.evicted $ev; want both counted"
	else
		ok "after the idle clients went ctsyncd answers; control.accept_errors $errs, control.evicted $ev"
	fi
	grep -m1 'control socket: accept: Too many open files' "$CTS_TMP/ctl.log" >/dev/null ||
		fail "out of descriptors: no \"control socket: accept: Too many open files\" in the log"
fi
prlimit --pid "$DPID" --nofile="$NOFILE0:" || fail "restoring ctsyncd's descriptor limit $NOFILE0"

# ------------------------------------------ 8. clients that never read

# 20,000 flows make a dump of about 2 MB.  Three clients pipeline 25 dump
# requests each and one 10,000 stats requests (each under the 64 MiB at
# which ctsyncd closed a client before issue 12, which then held them all:
# about 200 MB), and none reads a reply.  ctsyncd stops reading each once
# 1 MiB of its replies is unsent, so its memory grows by a few MB, and a
# client that reads still gets a whole dump and status.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"; }
NFLOWS=20000
out=$(nsx "$NS" "$CTGEN" -n "$NFLOWS" -p udp --base 198.18.0.1 2>&1) || fail "setup: ctgen -n $NFLOWS: $(brief "$out")"
have_flows() { (($(cache_count "$NS" "$SOCK" internal) >= NFLOWS)); }
wait_until 20 have_flows || fail "setup: ctsyncd's internal cache holds $(cache_count "$NS" "$SOCK" internal) flows, want $NFLOWS"
RSS0=$(rss_kb)
FLOOD_PIDS=()
for i in 1 2 3; do
	start_bg "$NS" "$CTS_TMP/flood$i.log" python3 "$HOSTILE" flood "$SOCK" 25 3 1
	FLOOD_PIDS+=("$BG_PID")
done
start_bg "$NS" "$CTS_TMP/flood4.log" python3 "$HOSTILE" flood "$SOCK" 10000 2
FLOOD_PIDS+=("$BG_PID")
flooded() { local i; for i in 1 2 3 4; do [[ -s $CTS_TMP/flood$i.log ]] || return 1; done; }
if ! wait_until 20 flooded; then
	fail "setup: ctl_hostile.py flood: $(brief "$(cat "$CTS_TMP"/flood?.log)")"
else
	say "flood clients: requests taken by their sockets: $(cat "$CTS_TMP"/flood?.log | tr '\n' ' ')"
	sleep 3		# for ctsyncd to handle what it will of them
	RSS1=$(rss_kb)
	if ((RSS1 - RSS0 > 48 * 1024)); then
		fail "clients not reading: ctsyncd's VmRSS grew $(((RSS1 - RSS0) / 1024)) MiB (from $((RSS0 / 1024)) MiB), want < 48"
	else
		ok "clients not reading: ctsyncd's VmRSS grew $(((RSS1 - RSS0) / 1024)) MiB (from $((RSS0 / 1024)) MiB); $(stat_ctl unsent_bytes) bytes unsent"
	fi
	ctctl_timed out rc ms -t 20 dump internal
	n=$(grep -c . <<<"$out")
	if ((rc != 0)) || [[ $(tail -n 1 <<<"$out") != "$NFLOWS flows" ]]; then
		fail "clients not reading: ctctl dump internal: exit $rc, last line \"$(tail -n 1 <<<"$out")\", want \"$NFLOWS flows\""
	else
		ok "clients not reading: ctctl dump internal: $NFLOWS flows ($n lines) in $ms ms"
	fi
	serving >/dev/null || fail "clients not reading: ctctl status$(serving)"
fi
kill_wait TERM 5 "${FLOOD_PIDS[@]}"
wait_until 10 no_clients || fail "ctsyncd still holds $(accepted) control connection(s) 10 s after the flood clients went"
wait_until 10 serving >/dev/null || fail "ctsyncd does not answer after the flood clients went$(serving)"
unsent=$(stat_ctl unsent_bytes)
((unsent == 0)) || fail "control.unsent_bytes is $unsent with no client left, want 0"

# ------------------------------------------------ 9. careless operators

out=$(ctctl_in "$NS" "$SOCK" master 2>&1) && ok "ctctl master with ann0 there: exit 0: $out" ||
	fail "ctctl master with ann0 there: exit $?: $(brief "$out")"
ip -n "$NS" link del ann0 || fail "setup: deleting ann0"
out=$(ctctl_in "$NS" "$SOCK" master 2>&1); rc=$?
if ((rc == 1)) && [[ $out == *"announcements failed"*"ann0"* ]]; then
	ok "ctctl master with ann0 gone: exit 1: $out"
else
	fail "ctctl master with ann0 gone: exit $rc: $(brief "$out")"
fi

nsctl "$NS" net.netfilter.nf_conntrack_events=0 || fail "setup: nf_conntrack_events=0"
out=$(ctctl_in "$NS" "$SOCK" ready 2>&1); rc=$?
if ((rc != 0)) && [[ $out == *"nf_conntrack_events is 0"* ]]; then
	ok "ctctl ready with nf_conntrack_events 0: exit $rc: $out"
else
	fail "ctctl ready with nf_conntrack_events 0: exit $rc: $(brief "$out")"
fi
nsctl "$NS" net.netfilter.nf_conntrack_events=1 || fail "setup: nf_conntrack_events=1"
ctl_ready() { ctctl_in "$NS" "$SOCK" ready >/dev/null 2>&1; }
if wait_until 5 ctl_ready; then
	ok "ready again with nf_conntrack_events 1"
else
	fail "not ready with nf_conntrack_events back at 1: $(brief "$(ctctl_in "$NS" "$SOCK" ready 2>&1)")"
fi
grep -q "nf_conntrack_events is 1 again: re-reading the table" "${CTS_DLOG[ctl]}" ||
	fail "no re-reading of the table logged after nf_conntrack_events came back"

sed -e "s|socket: $SOCK|socket: $CTS_TMP/second.sock|" -e "/^failover:/,+1d" "$CONF" >"$CTS_TMP/second.yaml"
out=$(timeout 10 ip netns exec "$NS" "$CTSYNCD" -c "$CTS_TMP/second.yaml" 2>&1); rc=$?
if ((rc != 0 && rc != 124)) && [[ $out == *"192.0.2.1 port 3780 is in use"* ]]; then
	ok "a second ctsyncd on the same sync address: exit $rc: $(grep 'in use' <<<"$out")"
else
	fail "a second ctsyncd on the same sync address: exit $rc (124: it ran): $(brief "$out")"
fi
ctsyncd_up || fail "the first ctsyncd stopped answering after the second one's attempt"

# --------------------------------------------------- 4. nothing there

# not_running LABEL PATH REASON
not_running() {
	local out rc want="ctctl: ctsyncd not running (connect $2: $3)"
	out=$(nsx "$NS" "$CTL" -s "$2" status 2>&1)
	rc=$?
	if ((rc != 1)); then
		fail "ctctl status on $1: exit $rc, want 1 (output: $(brief "$out"))"
	elif [[ $out != "$want" ]]; then
		fail "ctctl status on $1: \"$(brief "$out")\", want \"$want\""
	else
		ok "$1: exit 1: $out"
	fi
}
not_running "a path with no socket" "$CTS_TMP/none.sock" "No such file or directory"

# A socket file nobody listens on any more (what a daemon that died
# leaves behind).
STALE=$CTS_TMP/stale.sock
start_bg "$NS" "$CTS_TMP/stale.log" socat "UNIX-LISTEN:$STALE,unlink-close=0" /dev/null
if ! wait_until 5 test -S "$STALE"; then
	fail "setup: socat did not create $STALE: $(brief "$(cat "$CTS_TMP/stale.log")")"
elif ! kill_wait TERM 5 "$BG_PID" || [[ ! -S $STALE ]]; then
	fail "setup: socat did not leave $STALE behind"
else
	not_running "a stale socket file" "$STALE" "Connection refused"
fi

# ---------------------------------------------------------------- 5. stop

nfail=${#FAILED[@]}
stop_clean ctl
((${#FAILED[@]} == nfail)) && ok "ctsyncd stopped on SIGTERM: exit 0, no sanitizer report"
if [[ -e $SOCK ]]; then
	fail "ctsyncd left $SOCK behind"
else
	not_running "the socket path after ctsyncd stopped" "$SOCK" "No such file or directory"
fi

summary
((${#FAILED[@]} == 0))
