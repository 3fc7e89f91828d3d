#!/usr/bin/env bash
#
# tests/netns/test_faults.sh SCENARIO [ARG]  - "nothing lost under faults"
#
#   loss PCT        PCT % (1, 10, 30, ...) of the sync datagrams dropped at
#                   random on fw2's sync0, in and out (nftables numgen)
#   reorder         the sync path through udprelay (tests/tools/udprelay.c)
#                   in a middle namespace: reordering and duplication
#   restart-backup  fw2's ctsyncd SIGKILLed, restarted later
#   restart-master  fw1's ctsyncd SIGKILLed, restarted later: it re-dumps
#                   its kernel, and fw2 must drop the flows destroyed while
#                   it was down
#   link-down       fw2's sync0 down for 30 s, then up
#   overrun         fw1's ctsyncd with kernel.event_buffer 64K; 50,000
#                   creates in one burst overrun it
#   cache-limit     fw2 with cache.max_entries 1000 and 5,000 flows on fw1;
#                   then fw1 down to 500 flows
#   corrupt [PCT]   the sync path through udprelay, one random bit flipped
#                   in PCT % (default 10) of the datagrams each way.  Only
#                   a sealed datagram shows it was corrupted, so both runs
#                   of this scenario use a key file (sync.key_file, made
#                   with ctsyncd --genkey); each node must refuse exactly
#                   the datagrams the relay corrupted towards it (auth
#                   bad_tag > 0, with bad_key and malformed for a flipped
#                   key id, version or AUTH bit) and none in the baseline
#
# Each scenario runs the same workload twice on the same topology (lib.sh),
# with fresh daemons and an empty table each time: first without the fault
# (the baseline), then with it.  The workload is ctgen on fw1 in rounds,
# paced the same both times: each round creates a batch, updates part of
# the previous two batches (a new mark each time), destroys part of the one
# before last and all of an old one, and creates and destroys a short-lived
# batch.  The fault is
# injected while it runs.  After it, fw2's external cache must equal fw1's
# internal cache (keys and replicated fields, the flow sets of
# test_replication.sh), which must equal fw1's kernel table, within
# CTS_CONVERGE_S seconds.  Printed per phase: the time to converge and the
# retransmission overhead, fw1's sync.tx_bytes with the fault divided by
# the baseline's.
#
# Exit: 0 pass, 1 fail, 2 usage, 77 skip (not root, tools or binaries
# missing).  Environment: CTSYNCD CTCTL CTGEN UDPRELAY (paths; default
# build/), CTS_SEED (the relay's seed; random if unset, printed either
# way), CTS_CONVERGE_S (default 30), CTS_KEEP=1 keeps the logs.
set -uo pipefail

usage() {
	echo "usage: $0 loss PCT | reorder | restart-backup | restart-master |" \
		"link-down | overrun | cache-limit | corrupt [PCT]" >&2
	exit 2
}
scenario=${1:-}
arg=${2:-}
case $scenario in
loss)
	[[ $arg =~ ^[0-9]+$ ]] && ((arg >= 1 && arg <= 99)) || usage
	TITLE="loss $arg% on fw2's sync0 (in and out)" ;;
reorder) TITLE="reordering and duplication (udprelay)" ;;
restart-backup) TITLE="fw2's ctsyncd SIGKILLed and restarted" ;;
restart-master) TITLE="fw1's ctsyncd SIGKILLed and restarted" ;;
link-down) TITLE="fw2's sync0 down for 30 s" ;;
overrun) TITLE="kernel event overrun on fw1 (event_buffer 64K)" ;;
cache-limit) TITLE="cache.max_entries 1000 on fw2" ;;
corrupt)
	[[ -z $arg ]] && arg=10
	[[ $arg =~ ^[0-9]+$ ]] && ((arg >= 1 && arg <= 99)) || usage
	TITLE="corruption: one bit flipped in $arg% of the datagrams (udprelay), sync authenticated" ;;
*) usage ;;
esac
[[ $scenario == loss || $scenario == corrupt || -z $arg ]] || usage

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UDPRELAY=${UDPRELAY:-$CTS_BUILD/tests/udprelay}
CONVERGE_S=${CTS_CONVERGE_S:-30}

cts_init "faults-$scenario$arg" || exit $?
need=(CTSYNCD CTCTL CTGEN)
[[ $scenario == reorder || $scenario == corrupt ]] && need+=(UDPRELAY)
need_bins "${need[@]}"

REPORT=()
summary() {
	local r
	echo
	echo "== faults: $TITLE"
	echo "   time to converge (s) from the end of the workload (the fault is still"
	echo "   on for loss, over for the others), and fw1's sync.tx_bytes from the"
	echo "   start of the workload to convergence: overhead = fault run / baseline"
	printf '   %-34s %9s %9s %11s %11s %8s\n' step baseline fault "base bytes" "fault bytes" overhead
	for r in "${REPORT[@]}"; do echo "   $r"; done
	report_failed
}

SOCK1=$CTS_TMP/fw1.sock
SOCK2=$CTS_TMP/fw2.sock
SETS=$CTS_TMP/sets
mkdir -p "$SETS"

# ------------------------------------------------------------- workload
#
# Round r (0-based) of batch size B: batch r is B flows from 198.18.r.1
# (ports 1024..), TCP for even r and UDP for odd r; flash batch r is F flows
# from 198.19.(r+1).1 that live for the length of one round.
#   create batch r; update batch r-1 [0,U) and batch r-2 [0,U) (mark r+1);
#   destroy batch r-2 [0,D); destroy what is left of batch r-AGE (by source
#   address: conntrack -D -s); create and destroy flash batch r.
# Each step runs on its own (ctgen batches of 256 requests), so fw1's
# daemon sees creates, updates and destroys interleaved with its sending.

B=1000 U=400 D=300 F=100 AGE=12 PACE=0.15
WL_PROG=$CTS_TMP/workload.progress
WL_LOG=$CTS_TMP/workload.log
WL_PID=

proto_of() { if (($1 % 2)); then echo udp; else echo tcp; fi; }
gen() { nsx "$NS_FW1" "$CTGEN" "$@" >>"$WL_LOG" 2>&1 || { echo "ctgen $* failed" >>"$WL_LOG"; return 1; }; }

# one_round R
one_round() {
	local r=$1 p q rc=0
	p=$(proto_of "$r")
	gen -n "$B" -p "$p" --base "198.18.$r.1" || rc=1
	if ((r >= 1)); then
		q=$(proto_of $((r - 1)))
		gen -n "$U" --update --mark "$r" -p "$q" --base "198.18.$((r - 1)).1" || rc=1
	fi
	if ((r >= 2)); then
		q=$(proto_of $((r - 2)))
		gen -n "$U" --update --mark "$r" -p "$q" --base "198.18.$((r - 2)).1" || rc=1
		gen -n "$D" --destroy -p "$q" --base "198.18.$((r - 2)).1" || rc=1
	fi
	if ((r >= AGE)); then
		nsx "$NS_FW1" conntrack -D -s "198.18.$((r - AGE)).1" >>"$WL_LOG" 2>&1 ||
			{ echo "conntrack -D -s 198.18.$((r - AGE)).1 failed" >>"$WL_LOG"; rc=1; }
	fi
	gen -n "$F" -p "$p" --base "198.19.$((r + 1)).1" || rc=1
	gen -n "$F" --destroy -p "$p" --base "198.19.$((r + 1)).1" || rc=1
	return "$rc"
}

# workload FIRST LAST: rounds FIRST..LAST, PACE s apart (pacing, not
# synchronisation: the same rhythm in the baseline and under the fault).
# Writes the last finished round to WL_PROG.  Runs in the background.
workload() {
	local r rc=0
	for ((r = $1; r <= $2; r++)); do
		one_round "$r" || rc=1
		echo "$r" >"$WL_PROG.tmp" && mv "$WL_PROG.tmp" "$WL_PROG"
		((r < $2)) && sleep "$PACE"
	done
	return "$rc"
}

wl_start() {
	rm -f "$WL_PROG"
	echo "-- rounds $1..$2 --" >>"$WL_LOG"
	workload "$1" "$2" &
	WL_PID=$!
	CTS_PIDS+=("$WL_PID")
}
wl_round() { local r; r=$(cat "$WL_PROG" 2>/dev/null) || r=-1; echo "${r:--1}"; }
wl_past() { (($(wl_round) >= $1)); }
wl_running() { pid_alive "$WL_PID"; }
# wl_wait: wait for the workload (bounded) and report ctgen failures.
wl_wait() {
	local rc=0
	wait_until 300 eval '! wl_running' || { fail "workload did not finish within 300 s"; return 1; }
	wait "$WL_PID" || rc=$?
	if ((rc != 0)); then
		fail "workload: ctgen failed (see below)"
		grep -B1 'failed$' "$WL_LOG" | grep -v '^--' | tail -n 6
	fi
	return "$rc"
}
EXTRA_LIVE=0	# flows created besides the rounds (overrun: the burst)
# live_after N: flows the rounds 0..N-1 leave (plus EXTRA_LIVE).
live_after() {
	local n=$1 k live=$EXTRA_LIVE
	for ((k = (n > AGE ? n - AGE : 0); k < n; k++)); do
		live=$((live + B - (k <= n - 3 ? D : 0)))
	done
	echo "$live"
}

# ------------------------------------------------------------- checks

daemons_alive() {
	local n
	for n in fw1 fw2; do
		ctsyncd_alive "$n" || { DEAD=$n; return 1; }
	done
}

# stat NODE JQ: a value from NODE's (fw1|fw2) `ctctl -j stats`.
stat() {
	if [[ $1 == fw1 ]]; then stat_of "$NS_FW1" "$SOCK1" "$2"; else stat_of "$NS_FW2" "$SOCK2" "$2"; fi
}
tx_bytes() { local v; v=$(stat fw1 .sync.tx_bytes); echo "${v:-0}"; }

peer_synced() {
	local ns=$1 sock=$2
	ctctl_in "$ns" "$sock" -j status 2>/dev/null |
		jq -e '.peers | length > 0 and all(.state == "up" and .table == "complete")' >/dev/null 2>&1
}
pair_synced() { peer_synced "$NS_FW1" "$SOCK1" && peer_synced "$NS_FW2" "$SOCK2"; }

# replicated: fw1 internal and fw2 external both hold EXPECT flows and
# their flow sets are equal.  CONV_AT: when the successful dump began.
DEAD='' EXPECT='' N1='' N2='' CONV_AT=0 MAX_EXT=0
replicated() {
	local t p1 p2
	daemons_alive || return 0
	N1=$(cache_count "$NS_FW1" "$SOCK1" internal)
	N2=$(cache_count "$NS_FW2" "$SOCK2" external)
	((N2 > MAX_EXT)) && MAX_EXT=$N2
	[[ $N1 == "$EXPECT" && $N2 == "$EXPECT" ]] || return 1
	t=$(cts_now_us)
	dump_flowset "$NS_FW1" "$SOCK1" internal "$SETS/fw1.int" & p1=$!
	dump_flowset "$NS_FW2" "$SOCK2" external "$SETS/fw2.ext" & p2=$!
	wait "$p1" || { wait "$p2"; return 1; }
	wait "$p2" || return 1
	cmp -s "$SETS/fw1.int" "$SETS/fw2.ext" || return 1
	CONV_AT=$t
}

show_stats() {
	echo "fw1 stats: $(stat fw1 'del(.peers) | {kernel, cache, sync}' | jq -c . 2>/dev/null | head -c 1200)"
	echo "fw1 peers: $(stat fw1 .peers | jq -c . 2>/dev/null | head -c 800)"
	echo "fw2 stats: $(stat fw2 '{kernel, cache, sync}' | jq -c . 2>/dev/null | head -c 1200)"
	echo "fw2 peers: $(stat fw2 .peers | jq -c . 2>/dev/null | head -c 800)"
}

# converge LABEL EXPECT T0_US: wait until replicated; CONV_S is the time
# from T0_US to the dump that showed it.  Fails with a diff otherwise.
CONV_S=-
converge() {
	local label=$1 t0=$3
	EXPECT=$2 DEAD='' CONV_AT=0 CONV_S=-
	rm -f "$SETS/fw1.int" "$SETS/fw2.ext"
	if wait_until "$CONVERGE_S" replicated && [[ -z $DEAD ]]; then
		CONV_S=$(fmt_us $((CONV_AT - t0)))
		say "converged: $label: $EXPECT flows, $CONV_S s"
		return 0
	fi
	if [[ -n $DEAD ]]; then
		fail "$label: ctsyncd on $DEAD died"
		return 1
	fi
	fail "$label: not converged after $WAIT_ELAPSED s (want $EXPECT flows; fw1 internal $N1, fw2 external $N2)"
	dump_flowset "$NS_FW1" "$SOCK1" internal "$SETS/fw1.int"
	dump_flowset "$NS_FW2" "$SOCK2" external "$SETS/fw2.ext"
	[[ -f $SETS/fw1.int && -f $SETS/fw2.ext ]] &&
		assert_eq_sets "$SETS/fw1.int" "$SETS/fw2.ext" "fw1-internal" "fw2-external"
	show_stats
	return 1
}

# check_master LABEL MODEL: fw1's kernel holds the flows the workload
# left (MODEL), and fw1's internal cache is that table.
check_master() {
	local label=$1 model=$2 n
	n=$(kernel_flowset "$NS_FW1" | tee "$SETS/fw1.kern" | wc -l)
	((n == model)) || fail "$label: fw1's kernel holds $n forwarded flows, the workload left $model"
	dump_flowset "$NS_FW1" "$SOCK1" internal "$SETS/fw1.intk" --kernel ||
		{ fail "$label: ctctl dump internal on fw1"; return 1; }
	if ! cmp -s "$SETS/fw1.intk" "$SETS/fw1.kern"; then
		fail "$label: fw1's internal cache != fw1's kernel table"
		assert_eq_sets "$SETS/fw1.intk" "$SETS/fw1.kern" "fw1-internal" "fw1-kernel"
	fi
}

# ------------------------------------------------------------- phases

# report LABEL: one line, the fault run against the baseline.
report() {
	local l=$1 bb=${BYTES[baseline/$1]:-0} fb=${BYTES[fault/$1]:-0} ov=-
	((bb > 0)) && ov=$(awk -v a="$fb" -v b="$bb" 'BEGIN { printf "%.2f", a / b }')
	# bytes of a run that never converged measure nothing
	[[ ${CONV[fault/$1]:--} == - ]] && ov=n/a
	REPORT+=("$(printf '%-34s %9s %9s %11s %11s %8s' "$l" "${CONV[baseline/$l]:--}" \
		"${CONV[fault/$l]:--}" "$bb" "$fb" "$ov")")
	say "$l: converged in ${CONV[fault/$l]:--} s (baseline ${CONV[baseline/$l]:--} s);" \
		"fw1 sent $fb bytes (baseline $bb): overhead $ov"
}

# counters NODE: the repair counters worth a line.
counters() {
	if [[ $1 == fw1 ]]; then
		stat fw1 '"fw1: tx_datagrams \(.sync.tx_datagrams) retransmitted \(.sync.retransmitted) bulks \(.sync.bulks) window_full \(.sync.window_full) tx_errors \(.sync.tx_errors) overruns \(.kernel.overruns) dumps \(.kernel.dumps); from fw2: nack_rcvd \(.peers[0].nack_rcvd) resync_served \(.peers[0].resync_served)"'
	else
		stat fw2 '"fw2 from fw1: rx_datagrams \(.peers[0].rx_datagrams) rx_dup \(.peers[0].rx_dup) rx_stale \(.peers[0].rx_stale) rx_lost \(.peers[0].rx_lost) rx_void \(.peers[0].rx_void) nack_sent \(.peers[0].nack_sent) resync_requested \(.peers[0].resync_requested) resync_done \(.peers[0].resync_done) swept \(.peers[0].swept) restarts \(.peers[0].restarts) cache_full \(.peers[0].cache_full)"'
	fi
}

PEER1=192.0.2.2 PEER2=192.0.2.1 LOCAL1=192.0.2.1 LOCAL2=192.0.2.2
CONF1=() CONF2=()

# phase_start NAME: empty table on fw1, fresh daemons, peers in sync.
phase_start() {
	PHASE=$1
	nsx "$NS_FW1" conntrack -F >/dev/null 2>&1
	wait_until 10 eval '[[ $(kernel_flowset "$NS_FW1" | wc -l) == 0 ]]' ||
		die "$PHASE: fw1's table not empty after conntrack -F"
	ctsyncd_config_at "$CTS_TMP/fw1.yaml" 1 "$LOCAL1" "$PEER1" "${CONF1[@]}" &&
	ctsyncd_config_at "$CTS_TMP/fw2.yaml" 2 "$LOCAL2" "$PEER2" "${CONF2[@]}" || die "configs"
	ctsyncd_check 1 && ctsyncd_check 2
	start_ctsyncd fw1 "$NS_FW1" "$CTS_TMP/fw1.yaml"
	start_ctsyncd fw2 "$NS_FW2" "$CTS_TMP/fw2.yaml"
	wait_until 15 ctsyncd_up "$NS_FW1" "$SOCK1" || die "$PHASE: ctsyncd on fw1 not answering"
	wait_until 15 ctsyncd_up "$NS_FW2" "$SOCK2" || die "$PHASE: ctsyncd on fw2 not answering"
	wait_until 15 pair_synced || die "$PHASE: the daemons did not see each other's (empty) tables"
	say "$PHASE: ctsyncd up on fw1 and fw2, in sync"
}

ctsyncd_up() { ctctl_in "$1" "$2" status >/dev/null 2>&1; }

# phase_end: both daemons stop cleanly (SIGTERM, status 0, no sanitizer
# report).
phase_end() {
	local n
	for n in fw1 fw2; do stop_clean "$n" "$PHASE"; done
}

# ------------------------------------------------------------- topology

say "fault test: $TITLE, prefix $CTS_P"
topo_pair || die "building the topology"
if [[ $scenario == reorder || $scenario == corrupt ]]; then
	topo_relay || die "building the relay namespace"
	PEER1=192.0.2.2 LOCAL2=192.0.2.6 PEER2=192.0.2.5
fi
# The generated flows must not expire during the test (ctgen gives TCP
# 86400 s, UDP 3600 s); nothing else is forwarded.
sync_ping() { nsx "$NS_FW1" ping -c 1 -W 1 -q "$PEER1" >/dev/null 2>&1 && nsx "$NS_FW2" ping -c 1 -W 1 -q "$PEER2" >/dev/null 2>&1; }
if [[ $scenario != reorder && $scenario != corrupt ]]; then
	wait_until 10 sync_ping || die "sync link: no ping between fw1 and fw2"
fi
: >"$WL_LOG"

# ------------------------------------------- relay (reorder, corrupt)

SEED=${CTS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
RELAY_PID=
# relay_start ARGS...: udprelay in the relay namespace, both ways.
relay_start() {
	start_bg "$NS_RL" "$CTS_TMP/relay.$PHASE.log" "$UDPRELAY" 192.0.2.2:3780 192.0.2.6:3780 \
		--bind 192.0.2.5:3780 --seed "$SEED" "$@"
	RELAY_PID=$BG_PID
	wait_until 5 eval "grep -q '^udprelay: seed' '$CTS_TMP/relay.$PHASE.log'" ||
		die "udprelay did not start: $(head -c 300 "$CTS_TMP/relay.$PHASE.log")"
	head -n 1 "$CTS_TMP/relay.$PHASE.log"
}
# relay_stop: SIGTERM, then its counters; RELAY_DUP and RELAY_REORDERED
# sum both directions; RELAY_CORRUPT_TO_FW2 (near->far: fw1 is the near
# side) and RELAY_CORRUPT_TO_FW1 count the datagrams corrupted each way.
RELAY_DUP=0 RELAY_REORDERED=0 RELAY_CORRUPT_TO_FW2=0 RELAY_CORRUPT_TO_FW1=0
relay_count() {
	awk -v dir="$2" -v what="$3" '$0 ~ "^udprelay: " dir {
		for (i = 1; i < NF; i++) if ($i == what) n += $(i + 1) } END { print n + 0 }' "$1"
}
relay_stop() {
	local log=$CTS_TMP/relay.$PHASE.log
	kill_wait TERM 5 "$RELAY_PID" || fail "udprelay did not exit on SIGTERM"
	grep '^udprelay: ' "$log" | tail -n 4
	RELAY_DUP=$(relay_count "$log" '(near|far)->' duplicated)
	RELAY_REORDERED=$(relay_count "$log" '(near|far)->' reordered)
	RELAY_CORRUPT_TO_FW2=$(relay_count "$log" 'near->far' corrupted)
	RELAY_CORRUPT_TO_FW1=$(relay_count "$log" 'far->near' corrupted)
}

# ------------------------------------------------------------- scenarios

# Each scenario runs a baseline phase, then a fault phase, and records the
# convergence time and fw1's bytes of each step in CONV[phase/step] and
# BYTES[phase/step].
declare -A BYTES=() CONV=()

# churn_phase KIND FIRST LAST INJECT: the workload for rounds FIRST..LAST
# with INJECT (a function, may be :) run meanwhile; then convergence.
# Records CONV[KIND/label] and BYTES[KIND/label] (fw1's tx bytes since
# TX0, plus TX_EXTRA for a restarted fw1).
TX_EXTRA=0
churn_phase() {
	local kind=$1 first=$2 last=$3 inject=$4 label=$5 t_end model
	wl_start "$first" "$last"
	"$inject"
	wl_wait
	t_end=$(cts_now_us)
	model=$(live_after $((last + 1)))
	converge "$kind: $label" "$model" "$t_end" || true
	CONV[$kind/$label]=$CONV_S
	BYTES[$kind/$label]=$(($(tx_bytes) - TX0 + TX_EXTRA))
	check_master "$kind: $label" "$model"
	counters fw1
	counters fw2
}

# phase_report LABEL...: one line per label.
phase_report() { local l; for l in "$@"; do report "$l"; done; }

no_inject() { :; }

# --- loss
loss_on() { sync_loss "$NS_FW2" "$arg" || die "nftables loss rule on fw2"; }
scenario_loss() {
	local kind dropped
	ROUNDS=30
	for kind in baseline fault; do
		phase_start "$kind"
		TX0=$(tx_bytes) TX_EXTRA=0
		[[ $kind == fault ]] && loss_on
		churn_phase "$kind" 0 $((ROUNDS - 1)) no_inject "churn (fault run: loss on)"
		if [[ $kind == fault ]]; then
			dropped=$(sync_loss_counts "$NS_FW2")
			say "datagrams dropped by nftables on fw2's sync0: $dropped"
			[[ $dropped =~ in\ [1-9] ]] || fail "the loss rule dropped no incoming datagram ($dropped): nothing tested"
			sync_loss_off "$NS_FW2" || fail "removing the loss rules"
			say "loss removed"
		fi
		TX0=$(tx_bytes)
		churn_phase "$kind" "$ROUNDS" $((ROUNDS + 9)) no_inject "10 more rounds (loss off)"
		phase_end
	done
	phase_report "churn (fault run: loss on)" "10 more rounds (loss off)"
}

# --- reorder
scenario_reorder() {
	local kind
	say "udprelay seed $SEED (replay: CTS_SEED=$SEED $0 reorder)"
	for kind in baseline fault; do
		PHASE=$kind
		if [[ $kind == baseline ]]; then relay_start; else relay_start --reorder 25 --dup 10; fi
		phase_start "$kind"
		TX0=$(tx_bytes) TX_EXTRA=0
		churn_phase "$kind" 0 29 no_inject churn
		relay_stop
		if [[ $kind == fault ]] && ((RELAY_DUP == 0 || RELAY_REORDERED == 0)); then
			fail "the relay duplicated $RELAY_DUP and reordered $RELAY_REORDERED datagrams: nothing tested"
		fi
		# the relay stopped: the stats are final
		phase_end
	done
	phase_report churn
}

# --- corrupt
# refused NODE: the datagrams NODE dropped as not opening (auth) or not
# even a header (malformed), "TOTAL bad_tag B bad_key K no_tag N malformed M".
refused() {
	stat "$1" '(.auth.bad_tag + .auth.bad_key + .auth.no_tag + .auth.unexpected_tag) as $a
		| (.malformed | .bad_len + .bad_version + .bad_type + .bad_record + .bad_attr + .bad_status) as $m
		| "\($a + $m) bad_tag \(.auth.bad_tag) bad_key \(.auth.bad_key) no_tag \(.auth.no_tag) malformed \($m)"'
}
refused_is() { local r; r=$(refused "$1"); [[ ${r%% *} == "$2" ]]; }
# check_refused KIND NODE CORRUPTED: NODE refused exactly the CORRUPTED
# datagrams the relay corrupted towards it (none in the baseline), with
# bad_tag among them in the fault run.
check_refused() {
	local kind=$1 node=$2 want=$3 r bt
	wait_until 5 refused_is "$node" "$want"
	r=$(refused "$node")
	bt=$(stat "$node" .auth.bad_tag)
	if [[ ${r%% *} != "$want" ]]; then
		fail "$kind: $node refused ${r%% *} datagrams (${r#* }), the relay corrupted $want towards it"
	elif [[ $kind == fault ]] && ((${bt:-0} == 0)); then
		fail "$kind: $node counted no auth.bad_tag among the $want corrupted datagrams ($r)"
	else
		say "$kind: $node refused all $want datagrams the relay corrupted towards it (${r#* })"
	fi
}
scenario_corrupt() {
	local kind key
	key=$(key_file_new sync.key 1) || die "making a key file"
	CONF1=("key_file=$key") CONF2=("key_file=$key")
	say "udprelay seed $SEED (replay: CTS_SEED=$SEED $0 corrupt $arg); both runs with keys ($key)"
	for kind in baseline fault; do
		PHASE=$kind
		relay_start
		phase_start "$kind"
		# Corrupt only once both daemons listen: a datagram corrupted
		# before its receiver has bound its socket is lost, not refused,
		# and would make the count below one short (seen in CI).
		if [[ $kind == fault ]]; then
			relay_stop
			relay_start --corrupt "$arg"
		fi
		TX0=$(tx_bytes) TX_EXTRA=0
		churn_phase "$kind" 0 29 no_inject churn
		relay_stop
		# the relay stopped: its counts are final
		if [[ $kind == fault ]] && ((RELAY_CORRUPT_TO_FW2 == 0 || RELAY_CORRUPT_TO_FW1 == 0)); then
			fail "the relay corrupted $RELAY_CORRUPT_TO_FW2 datagrams to fw2 and $RELAY_CORRUPT_TO_FW1 to fw1: nothing tested"
		fi
		check_refused "$kind" fw2 "$RELAY_CORRUPT_TO_FW2"
		check_refused "$kind" fw1 "$RELAY_CORRUPT_TO_FW1"
		phase_end
	done
	CONF1=() CONF2=()
	phase_report churn
}

# --- restart-backup / restart-master
DOWN_FROM=0 DOWN_TO=0
kill_restart() {
	local who=$1 ns sock
	if [[ $who == fw1 ]]; then ns=$NS_FW1 sock=$SOCK1; else ns=$NS_FW2 sock=$SOCK2; fi
	wait_until 60 wl_past 7 || { fail "workload stuck before round 8"; return; }
	[[ $who == fw1 ]] && TX_EXTRA=$(($(tx_bytes) - TX0)) TX0=0
	stop_ctsyncd "$who" KILL || die "ctsyncd on $who survives SIGKILL?"
	DOWN_FROM=$(wl_round)
	say "ctsyncd on $who killed (SIGKILL) after round $DOWN_FROM"
	wait_until 60 wl_past $((DOWN_FROM + 20)) || { fail "workload stuck while $who was down"; }
	DOWN_TO=$(wl_round)
	if [[ $who == fw1 ]]; then
		dump_flowset "$NS_FW2" "$SOCK2" external "$SETS/fw2.before" ||
			fail "ctctl dump external on fw2 while fw1's daemon was down"
	fi
	start_ctsyncd "$who" "$ns" "$CTS_TMP/$who.yaml"
	wait_until 15 ctsyncd_up "$ns" "$sock" || die "restarted ctsyncd on $who not answering"
	say "ctsyncd on $who restarted after round $DOWN_TO"
}
inject_kill_fw1() { kill_restart fw1; }
inject_kill_fw2() { kill_restart fw2; }

# destroyed_while_down: of the flows fw2 held while fw1's daemon was down
# (SETS/fw2.before, dumped just before the restart), those destroyed on fw1
# by the rounds that ran entirely in that time are gone from fw2 now.
destroyed_while_down() {
	local r k q dp held left
	: >"$SETS/gone.pat"
	for ((r = DOWN_FROM + 2; r <= DOWN_TO; r++)); do
		if ((r >= AGE)); then
			k=$((r - AGE))
			echo " src=198.18.$k.1 dst=198.19.0.1 " >>"$SETS/gone.pat"
		fi
		k=$((r - 2))
		if [[ $(proto_of "$k") == tcp ]]; then q=6 dp=80; else q=17 dp=53; fi
		awk -v q="$q" -v s="198.18.$k.1" -v n="$D" -v dp="$dp" 'BEGIN {
			for (i = 0; i < n; i++)
				printf "ipv4 %s zone=0 src=%s dst=198.19.0.1 sport=%d dport=%s |\n", q, s, 1024 + i, dp
		}' >>"$SETS/gone.pat"
	done
	held=$(grep -cFf "$SETS/gone.pat" "$SETS/fw2.before")
	left=$(grep -cFf "$SETS/gone.pat" "$SETS/fw2.ext")
	if ((held == 0)); then
		fail "restart-master: fw2 held none of the flows destroyed while fw1's daemon was down: nothing tested"
	elif ((left > 0)); then
		fail "fw2 still holds $left of the $held flows it had that were destroyed on fw1 while fw1's daemon was down"
		grep -Ff "$SETS/gone.pat" "$SETS/fw2.ext" | head -n 3
	else
		say "fw2 dropped all $held flows it held that were destroyed on fw1 while fw1's daemon was down (rounds $((DOWN_FROM + 2))-$DOWN_TO)"
	fi
}

scenario_restart() {
	local who=$1 kind inject
	ROUNDS=40 PACE=0.2
	[[ $who == fw1 ]] && inject=inject_kill_fw1 || inject=inject_kill_fw2
	for kind in baseline fault; do
		phase_start "$kind"
		TX0=$(tx_bytes) TX_EXTRA=0
		if [[ $kind == baseline ]]; then
			churn_phase "$kind" 0 $((ROUNDS - 1)) no_inject churn
		else
			churn_phase "$kind" 0 $((ROUNDS - 1)) "$inject" churn
			[[ $who == fw1 ]] && destroyed_while_down
		fi
		phase_end
	done
	phase_report churn
	[[ $who == fw1 ]] && echo "   (fault: fw1's bytes = the killed daemon's until its last stats + the restarted one's)"
}

# --- link-down
inject_link_down() {
	wait_until 60 wl_past 4 || { fail "workload stuck before round 5"; return; }
	ip -n "$NS_FW2" link set sync0 down || die "ip link set sync0 down"
	local r0 t0
	r0=$(wl_round) t0=$(cts_now_us)
	say "fw2's sync0 down after round $r0"
	# The fault lasts 30 s: a duration, not a wait for anything.
	sleep 30
	ip -n "$NS_FW2" link set sync0 up || die "ip link set sync0 up"
	say "fw2's sync0 up after round $(wl_round) ($(fmt_us $(($(cts_now_us) - t0))) s, $(($(wl_round) - r0)) rounds meanwhile)"
	wl_running || fail "the workload ended while the link was down: lengthen it"
}
scenario_link_down() {
	local kind
	ROUNDS=70 PACE=0.5 B=500 U=200 D=150 F=50
	for kind in baseline fault; do
		phase_start "$kind"
		TX0=$(tx_bytes) TX_EXTRA=0
		if [[ $kind == baseline ]]; then
			churn_phase "$kind" 0 $((ROUNDS - 1)) no_inject churn
		else
			churn_phase "$kind" 0 $((ROUNDS - 1)) inject_link_down churn
		fi
		phase_end
	done
	phase_report churn
}

# --- overrun
BURST=50000
inject_burst() {
	local out
	wait_until 60 wl_past 4 || { fail "workload stuck before round 5"; return; }
	out=$(nsx "$NS_FW1" "$CTGEN" -n "$BURST" -p tcp --base 198.18.250.1 2>&1) || fail "ctgen burst: $out"
	say "burst on fw1 after round $(wl_round): $out"
}
scenario_overrun() {
	local kind ov
	ROUNDS=20 EXTRA_LIVE=$BURST
	for kind in baseline fault; do
		if [[ $kind == baseline ]]; then CONF1=(event_buffer=256M); else CONF1=(event_buffer=64K); fi
		phase_start "$kind"
		TX0=$(tx_bytes) TX_EXTRA=0
		churn_phase "$kind" 0 $((ROUNDS - 1)) inject_burst "churn + $BURST burst"
		ov=$(stat fw1 .kernel.overruns)
		say "$kind: fw1 kernel.overruns $ov, dumps $(stat fw1 .kernel.dumps), reconciled $(stat fw1 .kernel.reconciled)"
		if [[ $kind == fault ]]; then
			((${ov:-0} > 0)) || fail "fw1's ctsyncd reports no overrun (kernel.overruns ${ov:-?}) with a 64K event buffer"
			(($(stat fw1 .kernel.dumps) > 1)) || fail "fw1's ctsyncd did not read its table again after the overrun"
			grep -q 'overrun' "${CTS_DLOG[fw1]}" || fail "no overrun warning in fw1's log"
		elif ((${ov:-0} > 0)); then
			warn "note: the baseline overran too (kernel.overruns $ov): the overhead below is understated"
		fi
		phase_end
	done
	CONF1=()
	phase_report "churn + $BURST burst"
}

# --- cache-limit
LIMIT=1000
sample_ext() {
	local n
	n=$(cache_count "$NS_FW2" "$SOCK2" external)
	((n > MAX_EXT)) && MAX_EXT=$n
	wl_running && return 1
	return 0
}
fw1_settled() {
	[[ $(stat fw1 '"\(.cache.internal) \(.sync.queued) \(.sync.unacked)"') == "$1 0 0" ]]
}
scenario_cache_limit() {
	local kind t0 n out full
	ROUNDS=10 B=600 U=200 D=125
	for kind in baseline fault; do
		if [[ $kind == fault ]]; then CONF2=("max_entries=$LIMIT"); else CONF2=(); fi
		phase_start "$kind"
		TX0=$(tx_bytes) TX_EXTRA=0
		MAX_EXT=0
		wl_start 0 $((ROUNDS - 1))
		wait_until 120 sample_ext
		wl_wait
		n=$(live_after "$ROUNDS")
		t0=$(cts_now_us)
		if [[ $kind == baseline ]]; then
			converge "$kind: $n flows" "$n" "$t0" || true
			CONV[$kind/$n flows]=$CONV_S
		else
			# fw2 cannot hold them: wait until fw1 sent all and has
			# every ack, sampling fw2's size meanwhile
			wait_until "$CONVERGE_S" eval 'sample_ext; fw1_settled '"$n" ||
				fail "fw1 did not get fw2's acks for its $n flows in $CONVERGE_S s"
			sample_ext
			full=$(stat fw2 '[.peers[].cache_full] | add')
			say "fault: fw1 internal $(cache_count "$NS_FW1" "$SOCK1" internal), fw2 external $(cache_count "$NS_FW2" "$SOCK2" external) (at most $MAX_EXT seen), fw2 peers[].cache_full ${full:-?}"
			((MAX_EXT <= LIMIT)) || fail "fw2's external cache held $MAX_EXT flows, more than max_entries $LIMIT"
			((${full:-0} > 0)) || fail "fw2 did not count the refused flows (peers[].cache_full ${full:-?})"
			ctsyncd_alive fw2 || die "ctsyncd on fw2 died at its cache limit"
			out=$(ctctl_in "$NS_FW2" "$SOCK2" status 2>&1) || fail "ctctl status on fw2 at its limit: $out"
			dump_flowset "$NS_FW2" "$SOCK2" external "$SETS/fw2.full" || fail "ctctl dump external on fw2 at its limit"
			(($(wc -l <"$SETS/fw2.full") <= LIMIT)) || fail "fw2 dumps $(wc -l <"$SETS/fw2.full") flows, limit $LIMIT"
			CONV[$kind/$n flows]="-"
		fi
		BYTES[$kind/$n flows]=$(($(tx_bytes) - TX0))
		counters fw2
		# Down to 500 flows: every batch but the last, and the first
		# 100 of the last (the newest flows, which fw2 refused).
		TX0=$(tx_bytes)
		for ((r = 0; r < ROUNDS - 1; r++)); do
			nsx "$NS_FW1" conntrack -D -s "198.18.$r.1" >/dev/null 2>&1
		done
		out=$(nsx "$NS_FW1" "$CTGEN" -n 100 --destroy -p "$(proto_of $((ROUNDS - 1)))" \
			--base "198.18.$((ROUNDS - 1)).1" 2>&1) || fail "ctgen --destroy: $out"
		t0=$(cts_now_us)
		converge "$kind: down to 500" 500 "$t0" || true
		CONV[$kind/down to 500]=$CONV_S
		BYTES[$kind/down to 500]=$(($(tx_bytes) - TX0))
		check_master "$kind: down to 500" 500
		counters fw1
		counters fw2
		phase_end
	done
	CONF2=()
	phase_report "$(live_after "$ROUNDS") flows" "down to 500"
}

case $scenario in
loss) scenario_loss ;;
reorder) scenario_reorder ;;
restart-backup) scenario_restart fw2 ;;
restart-master) scenario_restart fw1 ;;
link-down) scenario_link_down ;;
overrun) scenario_overrun ;;
cache-limit) scenario_cache_limit ;;
corrupt) scenario_corrupt ;;
esac

summary
((${#FAILED[@]} == 0))
