#!/usr/bin/env bash
#
# tests/netns/test_burst.sh [-n N] [-r REPS] [-b EVENT_BUFFER] [-g MS] [-d "ctsyncd conntrackd"]
#
# Nothing lost at the kernel's full speed.  A pair (fw1, fw2: two network
# namespaces joined by sync0) runs each daemon at its defaults (only the
# addresses and the control socket set); on fw1, ctgen creates N entries
# as fast as the kernel takes them (unpaced, large batches), then updates
# all N (a new mark), then deletes all N.  After each phase fw2's external
# cache must equal fw1's kernel table within CTS_SETTLE_S seconds:
#   creates: N flows (and, for N <= 300,000, the same flow set, field by
#            field, as conntrack -L on fw1);
#   updates: N flows, every one with the phase's mark;
#   deletes: none.
# Between creates and updates, ctsyncd's fw2 commits its whole external
# cache into its kernel (`ctctl commit`, then re-reads its table; the
# commit runs in slices, so fw2 must answer stats and take fw1's datagrams
# meanwhile, skip flows fw1 deletes meanwhile (N/10 UDP flows made for
# it), and answer a resync sent meanwhile only after it), then
# becomes a hot-standby backup (`ctctl backup`: every flow written into
# its kernel again, in steps; the updates and deletes that follow are
# written there too as they arrive).  In
# none of it may either daemon take the other for down, and neither may
# be silent on the sync link (sync.tx_gap_max_ms, over the whole
# repetition) for longer than -g MS (default 500: two heartbeats; CI's
# sanitizer build on a shared machine is given more).
# An unpaced burst overruns the event socket; ctsyncd must then re-read
# the table (and again if it overruns while re-reading) until its caches
# equal the kernel's.  -b sets ctsyncd's kernel.event_buffer (default:
# the daemon's): a buffer that holds more events than the daemon reads in
# one turn (2,048) but far fewer than the burst, such as 4M, makes the
# overruns certain, also while the table is being re-read.
#
# Prints one line per repetition and phase: the time until fw2 held the
# kernel's table (from the end of the generator), the flows missing at
# the deadline, fw1's overruns, events lost and table re-reads.  With -d
# listing conntrackd too, the same runs on a conntrackd pair (FTFW,
# sized for N as in tests/bench) are reported beside, not judged.
#
# Exit: 0 when ctsyncd missed nothing in any phase, 1 otherwise, 2 usage,
# 77 skip.  Environment: CTSYNCD CTCTL CTGEN (paths), CTS_SETTLE_S
# (default 60), CTS_BATCH (ctgen's batch, default 2048), CTS_RESULTS (a
# file to append one tab-separated row per phase to: daemon, N, rep,
# phase, ctgen rate, seconds until held or "-", missing, overruns, events
# lost, dumps; tests/bench/burst_bench.sh reads it), CTS_KEEP=1.
set -uo pipefail

N=300000 REPS=1 DAEMONS=ctsyncd EVENT_BUFFER= GAP_MS=500
while (($#)); do
	case $1 in
	-g) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [-n N] [-r REPS] [-b SIZE] [-g MS] [-d DAEMONS]" >&2; exit 2; }
	    GAP_MS=$2; shift ;;
	-b) [[ ${2-} =~ ^[0-9]+[KMG]?$ ]] || { echo "usage: $0 [-n N] [-r REPS] [-b SIZE] [-g MS] [-d DAEMONS]" >&2; exit 2; }
	    EVENT_BUFFER=$2; shift ;;
	-n) [[ ${2-} =~ ^[0-9]+$ ]] || { echo "usage: $0 [-n N] [-r REPS] [-b SIZE] [-g MS] [-d DAEMONS]" >&2; exit 2; }
	    N=$2; shift ;;
	-r) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [-n N] [-r REPS] [-b SIZE] [-g MS] [-d DAEMONS]" >&2; exit 2; }
	    REPS=$2; shift ;;
	-d) DAEMONS=${2-}; shift ;;
	*) echo "usage: $0 [-n N] [-r REPS] [-b SIZE] [-g MS] [-d DAEMONS]" >&2; exit 2 ;;
	esac
	shift
done
for d in $DAEMONS; do
	[[ $d == ctsyncd || $d == conntrackd ]] || { echo "$0: -d: '$d'?" >&2; exit 2; }
done

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SETTLE_S=${CTS_SETTLE_S:-60}
BATCH=${CTS_BATCH:-2048}
REPORT=()
summary() {
	local r
	echo
	echo "== $N creates, updates and deletes at full speed on fw1 ($REPS repetition(s)," \
		"ctsyncd's event_buffer ${EVENT_BUFFER:-at its default})"
	printf '%-10s %3s  %-8s %11s %9s %8s %9s %9s %7s\n' daemon rep phase "ctgen rate" \
		"held in" missing overruns "ev. lost" dumps
	for r in "${REPORT[@]}"; do echo "$r"; done
	report_failed
}

cts_init burst || exit $?
need_bins CTSYNCD CTCTL CTGEN
[[ " $DAEMONS " == *" conntrackd "* ]] && ! command -v conntrackd >/dev/null &&
	{ warn "SKIP: conntrackd not found"; exit 77; }

ct_max_at_least $((2 * N + 65536)) || die "cannot raise nf_conntrack_max"

# ------------------------------------------------------------- the pair

NS1=$CTS_P-fw1 NS2=$CTS_P-fw2
CTS_LOCAL_ADDRS=(192.0.2.1 192.0.2.2)	# the sync link: not replicated
pair_ns() {
	local i ns
	for i in 1 2; do
		ns=$CTS_P-fw$i
		ns_add "$ns" && nsctl "$ns" net.netfilter.nf_conntrack_events=1 || return 1
		nsx "$ns" nft -f - <<'EOF' || return 1
table inet burst {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
	}
}
EOF
	done
	veth sync0 "$NS1" sync0 "$NS2" &&
	ip -n "$NS1" addr add 192.0.2.1/30 dev sync0 &&
	ip -n "$NS2" addr add 192.0.2.2/30 dev sync0
}

DAEMON='' PID1='' PID2='' SOCK1='' SOCK2='' CONF1='' CONF2=''
pair_start() {
	local d=$1 i
	DAEMON=$d
	if [[ $d == ctsyncd ]]; then
		for i in 1 2; do
			{
				echo "node_id: $i"
				echo "sync:"
				echo "  local: 192.0.2.$i"
				echo "  peers: [192.0.2.$((3 - i))]"
				echo "control:"
				echo "  socket: $CTS_TMP/ctsyncd$i.sock"
				if [[ -n $EVENT_BUFFER ]]; then
					echo "kernel:"
					echo "  event_buffer: $EVENT_BUFFER"
				fi
			} >"$CTS_TMP/ctsyncd$i.yaml"
		done
		CONF1=$CTS_TMP/ctsyncd1.yaml CONF2=$CTS_TMP/ctsyncd2.yaml
		SOCK1=$CTS_TMP/ctsyncd1.sock SOCK2=$CTS_TMP/ctsyncd2.sock
		start_ctsyncd fw2 "$NS2" "$CONF2"; PID2=${CTS_DPID[fw2]}
		start_ctsyncd fw1 "$NS1" "$CONF1"; PID1=${CTS_DPID[fw1]}
	else
		conntrackd_pair "$CTS_TMP" "$N" "$NS1" "$NS2"
	fi
	wait_until 20 pair_ready
}

pair_ready() {
	pid_alive "$PID1" && pid_alive "$PID2" || return 1
	if [[ $DAEMON == ctsyncd ]]; then
		local s
		for s in "$SOCK1" "$SOCK2"; do
			ctctl_in "$NS1" "$s" -j status 2>/dev/null |
				jq -e '.peers[0].state == "up" and .peers[0].table == "complete"' \
				>/dev/null 2>&1 || return 1
		done
	else
		[[ -S $SOCK1 && -S $SOCK2 ]] && [[ $(ext_count) == 0 ]]
	fi
}

pair_stop() {
	if [[ $DAEMON == conntrackd ]]; then
		nsx "$NS1" conntrackd -C "$CONF1" -k >/dev/null 2>&1
		nsx "$NS2" conntrackd -C "$CONF2" -k >/dev/null 2>&1
	fi
	kill_wait TERM 20 "$PID1" "$PID2" || kill_wait KILL 5 "$PID1" "$PID2"
	if [[ $DAEMON == ctsyncd ]]; then
		sanitizer_report fw1 || fail "sanitizer report in fw1's log"
		sanitizer_report fw2 || fail "sanitizer report in fw2's log"
	fi
}

# ext_count: flows in fw2's external cache (-1: no answer).
ext_count() {
	if [[ $DAEMON == ctsyncd ]]; then
		cache_count "$NS2" "$SOCK2" external
	else
		nsx "$NS2" conntrackd -C "$CONF2" -s 2>/dev/null |
			awk '/^cache external:/ { f = 1 } f && /current active connections:/ { print $4; exit }' |
			grep . || echo -1
	fi
}
# ext_marked M: flows in fw2's external cache with mark M.
ext_marked() {
	if [[ $DAEMON == ctsyncd ]]; then
		ctctl_in "$NS2" "$SOCK2" dump external 2>/dev/null | grep -c " mark=$1 "
	else
		nsx "$NS2" conntrackd -C "$CONF2" -e 2>/dev/null | grep -c " mark=$1 "
	fi
}
kernel_count() { nsx "$NS1" conntrack -C 2>/dev/null || echo -1; }
fw1_stat() { [[ $DAEMON == ctsyncd ]] && stat_of "$NS1" "$SOCK1" "$1" || echo -; }

held_count() { [[ $(ext_count) == "$1" ]]; }
held_marked() { [[ $(ext_marked "$1") == "$N" ]]; }

# ------------------------------------------------------------- a phase

# phase DAEMON REP NAME CTGEN_ARGS CHECK_CMD...: run ctgen on fw1, wait for
# CHECK_CMD, record the outcome.
phase() {
	local d=$1 rep=$2 name=$3 gen=$4 t0 t1 out missing ok=1
	shift 4
	# shellcheck disable=SC2086
	out=$(nsx "$NS1" "$CTGEN" -n "$N" -b "$BATCH" $gen --json 2>&1) ||
		die "ctgen $gen on fw1 failed: $out"
	t0=$(cts_now_us)
	wait_until "$SETTLE_S" "$@" || ok=0
	t1=$(cts_now_us)
	case $name in
	creates) missing=$((N - $(ext_count))) ;;
	updates) missing=$((N - $(ext_marked "$MARK"))) ;;
	deletes) missing=$(ext_count) ;;	# left over
	esac
	local line
	line=$(printf '%-10s %3s  %-8s %9s/s %9s %8s %9s %9s %7s' "$d" "$rep" "$name" \
		"$(jq -r '.rate' <<<"$out")" "$( ((ok)) && fmt_us $((t1 - t0)) || echo ">$SETTLE_S")" \
		"$missing" "$(fw1_stat .kernel.overruns)" "$(fw1_stat .kernel.events_lost)" \
		"$(fw1_stat .kernel.dumps)")
	REPORT+=("$line")
	say "$line"
	[[ -n ${CTS_RESULTS:-} ]] && printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$N" "$rep" \
		"$name" "$(jq -r '.rate' <<<"$out")" "$( ((ok)) && fmt_us $((t1 - t0)) || echo -)" \
		"$missing" "$(fw1_stat .kernel.overruns)" "$(fw1_stat .kernel.events_lost)" \
		"$(fw1_stat .kernel.dumps)" >>"$CTS_RESULTS"
	if [[ $d == ctsyncd ]] && ((!ok || missing != 0)); then
		fail "ctsyncd rep $rep $name: fw2 misses $missing of $N after ${SETTLE_S} s" \
			"(fw1 internal $(fw1_stat .cache.internal), kernel $(kernel_count))"
	fi
}

# For N small enough to compare field by field: fw2's external cache as a
# flow set equals fw1's kernel table.
compare_sets() {
	((N <= 300000)) && [[ $DAEMON == ctsyncd ]] || return 0
	dump_flowset "$NS2" "$SOCK2" external "$CTS_TMP/ext.set" --kernel ||
		{ fail "dump of fw2's external cache"; return; }
	kernel_flowset "$NS1" >"$CTS_TMP/k1.set"
	local diff
	diff=$(assert_eq_sets "$CTS_TMP/k1.set" "$CTS_TMP/ext.set" "fw1-kernel" "fw2-external") ||
		fail "$1: $diff"
}

# commit_phase REP: fw2 commits its external cache (ctsyncd only).
commit_phase() {
	local rep=$1 t0 t1 out before written0 runs0 runs pending left gone M=$((N / 10))
	[[ $DAEMON == ctsyncd ]] || return 0
	# M more flows (UDP, the same addresses) that fw1 deletes while fw2
	# commits: entries leave fw2's external cache under the commit.
	out=$(nsx "$NS1" "$CTGEN" -n "$M" -b "$BATCH" -p udp --json 2>&1) || die "ctgen -p udp on fw1: $out"
	wait_until "$SETTLE_S" held_count $((N + M)) || fail "rep $rep: fw2 holds $(ext_count) of $((N + M)) before its commit"
	before=$(nsx "$NS2" conntrack -C)
	runs0=$(stat_of "$NS2" "$SOCK2" .commit.runs)
	t0=$(cts_now_us)
	# -t 20: a commit longer than that (2M flows) is answered in time
	# only because it reports its progress every 5 s.
	ctctl_in "$NS2" "$SOCK2" -t 20 commit >"$CTS_TMP/commit.out" 2>&1 &
	local cpid=$! crc=0 mid
	# The commit runs in slices: meanwhile fw2 answers other requests
	# and takes fw1's datagrams (its heartbeats at least).
	committing() { [[ $(stat_of "$NS2" "$SOCK2" .commit.pending) =~ ^[1-9] ]]; }
	wait_until 10 committing
	nsx "$NS1" "$CTGEN" -n "$M" -b "$BATCH" -p udp --destroy >"$CTS_TMP/destroy.out" 2>&1 &
	local dpid=$!
	mid=$(commit_served "$cpid")
	wait "$dpid" || die "ctgen -p udp --destroy on fw1: $(<"$CTS_TMP/destroy.out")"
	wait_until "$SETTLE_S" held_count "$N" || fail "rep $rep: fw2 holds $(ext_count), not $N, after fw1 deleted $M"
	left=$(stat_of "$NS2" "$SOCK2" .commit.pending)
	# A request that changes state waits for the commit's end.
	if kill -0 "$cpid" 2>/dev/null; then
		out=$(ctctl_in "$NS2" "$SOCK2" -t 600 resync 2>&1) || fail "rep $rep: ctctl resync on fw2: $out"
		runs=$(stat_of "$NS2" "$SOCK2" .commit.runs)
		pending=$(stat_of "$NS2" "$SOCK2" .commit.pending)
		((runs == runs0 + 1 && pending == 0)) ||
			fail "rep $rep: resync answered during the commit (commit.runs $runs0 -> $runs, pending $pending)"
		mid+="; a resync sent meanwhile was answered after it"
	fi
	wait "$cpid" || crc=$?
	t1=$(cts_now_us)
	out=$(<"$CTS_TMP/commit.out")
	((crc == 0)) || fail "rep $rep: ctctl commit on fw2: $out"
	say "rep $rep: fw2: $out"
	say "rep $rep: during the commit: $mid"
	# Deleted before their turn: skipped (the answer's "gone").
	if [[ $left =~ ^[1-9] ]]; then
		gone=$(awk '$1 == "gone" { print $2 }' <<<"$out")
		[[ $gone =~ ^[1-9] ]] || fail "rep $rep: fw1 deleted $M flows during fw2's commit ($left still to write), but the commit skipped ${gone:-none}"
		say "rep $rep: $gone of the $M flows fw1 deleted during the commit were skipped"
	fi
	# Served mid-commit must be seen when the commit lasted long enough
	# for a few heartbeats (two seconds and more).
	if ((t1 - t0 >= 2000000)) && [[ $mid != served* ]]; then
		fail "rep $rep: fw2 did not serve its loop during a $(fmt_us $((t1 - t0))) s commit: $mid"
	fi
	(($(nsx "$NS2" conntrack -C) >= before + N)) ||
		fail "rep $rep: fw2's kernel holds $(($(nsx "$NS2" conntrack -C) - before)) of $N after its commit"
	step_report commit "$rep" "$t0" "$t1"

	# Hot standby: every flow written again (refreshed), in steps.
	written0=$(stat_of "$NS2" "$SOCK2" .standby.written)
	t0=$(cts_now_us)
	out=$(ctctl_in "$NS2" "$SOCK2" backup 2>&1) || fail "rep $rep: ctctl backup on fw2: $out"
	standby_done() { (($(stat_of "$NS2" "$SOCK2" .standby.written) >= written0 + N)); }
	wait_until "$SETTLE_S" standby_done ||
		fail "rep $rep: fw2 wrote $(($(stat_of "$NS2" "$SOCK2" .standby.written) - written0)) of $N as a hot standby"
	step_report standby "$rep" "$t0" "$(cts_now_us)"
}

# commit_served PID: while the commit (ctctl PID) runs on fw2, ask fw2 for
# its stats until the bytes it took from fw1 (heartbeats at least,
# every 250 ms) rise past the first answer's.  Prints "served: ..." when
# that happened with the commit still under way (commit.pending > 0 in
# both answers); else what was seen.
commit_served() {
	local pid=$1 p1=0 p2 r1 r2 j deadline=$((SECONDS + 10))
	local rx='[.peers[].rx_bytes] | add'
	# (the first answer may come before fw2 has taken the commit)
	while ! [[ $p1 =~ ^[1-9] ]] && ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
		j=$(ctctl_in "$NS2" "$SOCK2" -t 5 -j stats 2>/dev/null) || { echo "no answer to stats"; return; }
		p1=$(jq -r '.commit.pending' <<<"$j") r1=$(jq -r "$rx" <<<"$j") r2=$r1
	done
	kill -0 "$pid" 2>/dev/null || { echo "commit ended before a stats answer showed it under way"; return; }
	while ((r2 <= r1 && SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
		j=$(ctctl_in "$NS2" "$SOCK2" -t 5 -j stats 2>/dev/null) || { echo "no answer to stats"; return; }
		p2=$(jq -r '.commit.pending' <<<"$j") r2=$(jq -r "$rx" <<<"$j")
	done
	if [[ $p1 =~ ^[1-9] && ${p2:-0} =~ ^[1-9] ]] && ((r2 > r1)); then
		echo "served: pending $p1 then $p2 flows, $((r2 - r1)) bytes from fw1 taken in between"
	else
		echo "not served: pending $p1 then ${p2:-?}, bytes from fw1 $r1 then $r2"
	fi
}

# step_report NAME REP T0 T1: a step of fw2's (commit, standby) and its time.
step_report() {
	local line
	line=$(printf '%-10s %3s  %-8s %11s %9s' "$DAEMON" "$2" "$1" - "$(fmt_us $(($4 - $3)))")
	REPORT+=("$line")
	say "$line"
	[[ -n ${CTS_RESULTS:-} ]] && printf '%s\t%s\t%s\t%s\t-\t%s\n' "$DAEMON" "$N" "$2" "$1" \
		"$(fmt_us $(($4 - $3)))" >>"$CTS_RESULTS"
}

# link_check REP: over the whole repetition, no peer taken for down and
# no silence longer than GAP_MS on either side (ctsyncd only).
link_check() {
	local rep=$1 downs g1 g2
	[[ $DAEMON == ctsyncd ]] || return 0
	# A peer taken for down is logged up to peer_timeout_ms (3 s) after
	# the silence began: an absence that no condition can be waited for.
	sleep 3.5
	downs=$(cat "${CTS_DLOG[fw1]}" "${CTS_DLOG[fw2]}" | grep -c 'down (silent')
	g1=$(stat_of "$NS1" "$SOCK1" .sync.tx_gap_max_ms)
	g2=$(stat_of "$NS2" "$SOCK2" .sync.tx_gap_max_ms)
	REPORT+=("$(printf '%-10s %3s  peer taken for down %s times; longest send gap fw1 %s ms, fw2 %s ms' \
		"$DAEMON" "$rep" "$downs" "$g1" "$g2")")
	[[ -n ${CTS_RESULTS:-} ]] && printf '%s\t%s\t%s\tlink\t%s\t%s\t%s\n' "$DAEMON" "$N" "$rep" \
		"$downs" "$g1" "$g2" >>"$CTS_RESULTS"
	say "${REPORT[-1]}"
	((downs == 0)) || fail "rep $rep: a peer was taken for down: $(grep -h 'down (silent' "${CTS_DLOG[fw1]}" "${CTS_DLOG[fw2]}" | head -n 3 | tr '\n' ' ')"
	[[ $g1 =~ ^[0-9]+$ && $g2 =~ ^[0-9]+$ ]] && ((g1 <= GAP_MS && g2 <= GAP_MS)) ||
		fail "rep $rep: silent on the sync link for ${g1:-?} / ${g2:-?} ms (fw1 / fw2), more than $GAP_MS"
}

MARK=0
for d in $DAEMONS; do
	for ((rep = 1; rep <= REPS; rep++)); do
		pair_ns || die "topology"
		pair_start "$d" || die "$d pair did not start: $(tail -n 3 "$CTS_TMP"/*"${d}"*.out "${CTS_DLOG[fw1]:-/dev/null}" 2>/dev/null)"
		say "$d rep $rep: pair up; $N creates at full speed on fw1"
		phase "$d" "$rep" creates "" held_count "$N"
		compare_sets "rep $rep creates"
		commit_phase "$rep"
		MARK=$((rep * 10 + 7))
		# (ctgen --update writes the mark it is given plus one)
		phase "$d" "$rep" updates "--update --mark $((MARK - 1))" held_marked "$MARK"
		phase "$d" "$rep" deletes "--destroy" held_count 0
		link_check "$rep"
		pair_stop
		ip netns del "$NS1" && ip netns del "$NS2"
		CTS_NAMESPACES=()
	done
done

summary
((${#FAILED[@]} == 0))
