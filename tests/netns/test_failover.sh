#!/usr/bin/env bash
#
# tests/netns/test_failover.sh
#
# Failover of a firewall pair with keepalived and ctsyncd, with real
# traffic through it (topology in lib.sh: client - LAN outside - fw1/fw2 -
# LAN inside - server; strict forwarding policy, tcp_loose=0).
#
# keepalived on fw1 and fw2: one vrrp_sync_group for the VIPs 198.51.100.1
# (outside) and 203.0.113.1 (inside), VRRPv3, advert_int 0.1 s, nopreempt,
# both BACKUP, fw1 (priority 150) started first; transitions go through
# keepalived's notify FIFO to scripts/ctsync-keepalived, which runs
# `ctctl master` (commit, announce, resync) or `ctctl backup`.  The
# client and the server route through the VIPs.  flowgen keeps 200 TCP
# connections and 20 UDP flows (plus 20 + 2 SNATed to the inside VIP from
# a second client address) echoing a small message every 50 ms, from one
# timer, and measures for each flow the longest silence between echoes.
#
#   1. crash: fw1 dies while master: its ports stop passing frames and its
#      keepalived and ctsyncd are killed with SIGKILL at the same moment
#      (SIGKILL alone would leave fw1's kernel holding the VIPs and
#      forwarding, so nothing would fail over); fw2 takes over.
#   2. planned failback: fw1 comes back as after a reboot (ports pass
#      frames again, no VIPs, empty conntrack table), ctsyncd and
#      keepalived restarted on it; 50 + 5 plain and 10 + 2 SNATed flows are
#      opened while fw2 is master; once fw1 holds fw2's table, fw2's
#      keepalived is stopped cleanly (SIGTERM: priority-0 adverts): fw1
#      takes over.  fw2's keepalived is then started again, as backup.
#   3. link failure: fw1's LAN links go down (keepalived: FAULT); fw2
#      takes over.  Before it, with ctsyncd, fw2's daemon is restarted
#      (SIGKILL) while backup and 20 + 2 flows are opened: it must start
#      as backup (no VIPs) and have them in its kernel (hot standby).
#
# Pass: in every scenario every flow (TCP and UDP) still echoes after the
# traffic went on >= 3 s past the takeover, no TCP connection broke; the
# longest silence is at most CTS_SILENCE_LIMIT_MS (default 1000: VRRP
# master-down interval 3 x 0.1 s + skew, + 100 ms, + the next TCP
# retransmission); the planned failback drops no packet as ct state
# invalid on the new master.  Prints one table with every figure, then
# notes: each takeover's timeline (keepalived MASTER and GARPs, ctctl
# master, commit, from the time-stamped logs), the packets the new master
# found invalid (traced with nftables: when, which flow, which flags),
# the caches' sizes before each fault.  When flows do not survive: which
# client sets they belong to, conntrack -L and the external cache on the
# new master for some of them, ctctl stats, and after the last scenario
# a probe: do they come back with nf_conntrack_tcp_be_liberal=1 (then
# their entries failed TCP window checks)?
#
# keepalived 0.1 s adverts on a loaded machine can flap: before each
# fault the roles are checked (VIPs, and each ctsyncd's last role) and,
# if a spurious takeover swapped them, restored and noted.
#
# With CTS_BIG=N (or the argument "big N"), N further TCP entries are
# created with ctgen in fw1's kernel before the first fault and must be
# replicated (and, hot, in fw2's kernel) first: failover time must not
# grow with the table.  The global nf_conntrack_max is raised for it from
# the root namespace and restored on exit.
#
# With CTS_DAEMON=conntrackd the same scenarios run with Debian's
# conntrackd (FTFW, external cache, sized for the table as its
# documentation recommends) driven by keepalived through Debian's own
# primary-backup.sh (notify_master/backup/fault of the sync group), for
# tests/bench/failover_bench.sh.  With CTS_RESULTS=FILE one TSV row per
# scenario is written there (daemon, scenario, survived, total, TCP
# broken, longest silence ms, invalid drops, commit logged ms after the
# fault).
#
# Exit: 0 pass, 1 fail, 77 skip (not root, tools or binaries missing).
# Environment: CTSYNCD CTCTL FLOWGEN CTGEN CONNTRACKD (default build/,
# tests/, PATH),
# CTS_STANDBY (hot|cold, failover.standby; default hot),
# KEEPALIVED, CTS_KEEP=1 keeps the logs, CTS_LOG_LEVEL=debug,
# CTS_SILENCE_LIMIT_MS, CTS_NTCP (200), CTS_NUDP (20).
set -uo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLOWGEN=${FLOWGEN:-$CTS_BUILD/tests/flowgen}
KEEPALIVED=${KEEPALIVED:-$(command -v keepalived || echo /usr/sbin/keepalived)}
ADVERT=0.1
PRIO1=150 PRIO2=100
NTCP=${CTS_NTCP:-200}
NUDP=${CTS_NUDP:-20}
TICK_MS=50
LIMIT_MS=${CTS_SILENCE_LIMIT_MS:-1000}
TRAFFIC_S=3			# traffic after the takeover before the verdict
PORT=7000
SERVER=203.0.113.10
BIG=${CTS_BIG:-0}
[[ ${1-} == big ]] && BIG=${2:?"usage: test_failover.sh [big N]"}
HOLD_S=30			# wait for a peer's table
COMMIT_S=10			# wait for the commit after a takeover
((BIG)) && HOLD_S=$((30 + BIG / 5000)) COMMIT_S=$((10 + BIG / 20000))

DAEMON=${CTS_DAEMON:-ctsyncd}
CONNTRACKD=${CONNTRACKD:-$(command -v conntrackd || echo /usr/sbin/conntrackd)}
PRIMARY_BACKUP=${PRIMARY_BACKUP:-/usr/share/doc/conntrackd/examples/sync/primary-backup.sh}
RESULTS=${CTS_RESULTS:-}
case $DAEMON in ctsyncd | conntrackd) ;; *) echo "CTS_DAEMON: ctsyncd or conntrackd" >&2; exit 2 ;; esac

cts_init failover || exit $?
need_bins CTSYNCD CTCTL FLOWGEN KEEPALIVED
((BIG)) && need_bins CTGEN
if [[ $DAEMON == conntrackd ]]; then
	need_bins CONNTRACKD
	[[ -r $PRIMARY_BACKUP ]] || { echo "SKIP: no $PRIMARY_BACKUP (conntrackd's example script)"; exit 77; }
fi

SOCK1=$CTS_TMP/fw1.sock
SOCK2=$CTS_TMP/fw2.sock
ROWS=()
NOTES=()
summary() {
	local r
	echo
	echo "== failover ($DAEMON$([[ $DAEMON == ctsyncd ]] && echo ", standby ${CTS_STANDBY:-hot}")): ${NTCP} + ${NUDP} flows + SNATed set$( ((BIG)) && echo " + $BIG generated"); VRRPv3 advert_int ${ADVERT} s; silence limit ${LIMIT_MS} ms"
	printf '   %-30s %12s %10s %9s %9s %9s %9s %14s\n' scenario survived/total "TCP broken" "silence" "TCP" "UDP" "p99" "invalid drops"
	printf '   %-30s %12s %10s %9s %9s %9s %9s %14s\n' "" "" "" "(ms)" "(ms)" "(ms)" "(ms)" "fwd+in"
	for r in "${ROWS[@]}"; do echo "   $r"; done
	for r in "${NOTES[@]}"; do echo "   $r"; done
	report_failed
}

# ------------------------------------------------------------ helpers

# ------------------------------------------------- the daemon under test
#
# Each node's daemon is named by its namespace and ctsyncd's socket path
# ($CTS_TMP/fwN.sock); conntrackd's files sit beside it.

cd_conf_of() { echo "${1%.sock}.conntrackd.conf"; }
cdctl() { local ns=$1 sock=$2; shift 2; nsx "$ns" "$CONNTRACKD" -C "$(cd_conf_of "$sock")" "$@"; }

# daemon_up NS SOCK: the daemon answers.
daemon_up() {
	if [[ $DAEMON == ctsyncd ]]; then
		ctctl_in "$1" "$2" status >/dev/null 2>&1
	else
		cdctl "$1" "$2" -s >/dev/null 2>&1
	fi
}
# ready NS SOCK: the daemon holds its peer's table (conntrackd has no such
# notion: ready once it answers).
ready() {
	if [[ $DAEMON == ctsyncd ]]; then
		ctctl_in "$1" "$2" ready >/dev/null 2>&1
	else
		daemon_up "$1" "$2"
	fi
}
# ext_dump NS SOCK: the external cache, one flow a line (conntrack's format).
ext_dump() {
	if [[ $DAEMON == ctsyncd ]]; then
		ctctl_in "$1" "$2" dump external
	else
		cdctl "$1" "$2" -e
	fi
}
# cache_size NS SOCK internal|external
cache_size() {
	if [[ $DAEMON == ctsyncd ]]; then
		cache_count "$@"
	else
		cdctl "$1" "$2" -s 2>/dev/null | awk -v c="cache $3:" '
			$0 == c { f = 1; next } f && /current active connections/ { print $NF; n = 1; exit }
			END { if (!n) print -1 }'
	fi
}
# start_daemon NAME NS: fwN's daemon, its output time-stamped in NAME.log.
start_daemon() {
	local name=$1 ns=$2
	if [[ $DAEMON == ctsyncd ]]; then
		start_ctsyncd_ts "$name" "$ns" "$CTS_TMP/$name.yaml" "${VFLAG[@]}"
		return
	fi
	rm -f "$CTS_TMP/$name.conntrackd.lock"
	CTS_DLOG[$name]=$CTS_TMP/$name.log
	echo "==== start $(date +%T.%N) ====" >>"${CTS_DLOG[$name]}"
	ip netns exec "$ns" "$CONNTRACKD" -C "$CTS_TMP/$name.conntrackd.conf" \
		> >(ts_log "${CTS_DLOG[$name]}") 2>&1 </dev/null &
	CTS_DPID[$name]=$!
	CTS_PIDS+=("$!")
}
# daemon_config N: fwN's configuration, checked.
daemon_config() {
	local n=$1 out
	if [[ $DAEMON == ctsyncd ]]; then
		ctsyncd_failover_config "$CTS_TMP/fw$n.yaml" "$n"
		out=$(nsx "$CTS_P-fw$n" "$CTSYNCD" -c "$CTS_TMP/fw$n.yaml" -n 2>&1)
		[[ $out == *"configuration OK"* ]] || die "ctsyncd -n on fw$n's config: $out"
		return
	fi
	cd_sizing $((BIG + 10000))
	# the firewall's own addresses, as conntrackd's documentation asks
	conntrackd_conf "$CTS_TMP/fw$n.conntrackd.conf" "$n" "$CTS_TMP" \
		"${CTS_LOCAL_ADDRS[@]}" 224.0.0.0/4
	sed -i -e "s|LogFile .*|LogFile $CTS_TMP/fw$n.conntrackd.log|" \
		-e "s|LockFile .*|LockFile $CTS_TMP/fw$n.conntrackd.lock|" \
		-e "s|Path .*\.ctl|Path $CTS_TMP/fw$n.conntrackd.ctl|" "$CTS_TMP/fw$n.conntrackd.conf"
}
# stop_daemon_clean NAME: SIGTERM, a clean exit (and for ctsyncd no
# sanitizer report).
stop_daemon_clean() {
	if [[ $DAEMON == ctsyncd ]]; then
		stop_clean "$1"
	elif ! stop_ctsyncd "$1" TERM; then
		fail "conntrackd on $1 did not exit within 10 s of SIGTERM"
	fi
}

# keepalived_conntrackd_config FILE NODE PRIORITY ADVERT: the same VRRP
# setup, with conntrackd's usual integration instead of ours: Debian's
# primary-backup.sh (paths set for this node) as notify_master / backup /
# fault of the sync group, no readiness tracking.  A line is logged to
# fwN.log as the script starts ("becoming ...") and once its commit
# (conntrackd -c) has returned ("committed"), for the timeline.
keepalived_conntrackd_config() {
	local file=$1 node=$2 script=$CTS_KA_BIN/primary-backup-fw$2.sh
	keepalived_config "$file" "$node" "$3" "$4"
	sed -i -e '/notify_fifo/d' -e '/^vrrp_script/,/^}/d' -e '/track_script {/,/}/d' \
		-e '/sync_group_tracking_weight/d' \
		-e "/^vrrp_sync_group fw {/a\\	notify_master \"$script primary\"\n\tnotify_backup \"$script backup\"\n\tnotify_fault \"$script fault\"" \
		"$file"
	{
		echo '#!/bin/sh'
		echo "cd_log() { t=\$((\$(date +%s%6N) - $CTS_T0)); printf '[%4d.%03ds] %s\\n' \$((t / 1000000)) \$((t % 1000000 / 1000)) \"\$*\" >>$CTS_TMP/fw$node.log; }"
		sed -e "s|^CONNTRACKD_BIN=.*|CONNTRACKD_BIN=$CONNTRACKD|" \
		    -e "s|^CONNTRACKD_LOCK=.*|CONNTRACKD_LOCK=$CTS_TMP/fw$node.conntrackd.lock|" \
		    -e "s|^CONNTRACKD_CONFIG=.*|CONNTRACKD_CONFIG=$CTS_TMP/fw$node.conntrackd.conf|" \
		    -e '/^  primary)/a\    cd_log "becoming master"' \
		    -e '/^  backup)/a\    cd_log "becoming backup"' \
		    -e '/^  fault)/a\    cd_log "becoming backup (fault)"' \
		    -e '/CONNTRACKD_CONFIG -f$/i\    cd_log "committed (conntrackd -c returned)"' \
		    "$PRIMARY_BACKUP"
	} >"$script"
	chmod 0755 "$script"
}
log_count() { local n; n=$(grep -c -- "$2" "$CTS_TMP/$1.log" 2>/dev/null); echo "${n:-0}"; }
# log_time NAME PATTERN: the time stamp (s since start) of the last line
# of NAME's log matching PATTERN.
log_time() {
	grep -- "$2" "$CTS_TMP/$1.log" 2>/dev/null | tail -n 1 | sed -n 's/^\[ *\([0-9.]*\)s\].*/\1/p'
}
log_last() { grep -- "$2" "$CTS_TMP/$1.log" 2>/dev/null | tail -n 1; }
count_above() { (($(log_count "$1" "$2") > $3)); }
vips_on() { has_vips "$1" && no_vips "$2"; }	# vips_on HOLDER OTHER
after_us() { (($(cts_now_us) >= $1)); }
# ms_since T0_US [T_US]: milliseconds between two cts_now_us values.
ms_since() { echo $(((${2:-$(cts_now_us)} - $1) / 1000)); }
# rel_ms T0_US SECONDS_SINCE_START: a log time stamp relative to T0, in ms.
rel_ms() {
	[[ -n $2 ]] || { echo "?"; return; }
	awk -v a="$1" -v b="$2" -v z="$CTS_T0" 'BEGIN { printf "%d", (b * 1e6 + z - a) / 1000 }'
}

# rel_s T_US: a cts_now_us value as seconds since start ("S.mmm").
rel_s() { fmt_us $(($1 - CTS_T0)); }

# ------------------------------------------------------------- roles

# last_role NAME: master or backup, as NAME's ctsyncd was last told.
last_role() {
	grep -oE "becoming (master|backup)" "$CTS_TMP/$1.log" 2>/dev/null | tail -n 1 | cut -d' ' -f2
}
# roles_ok MASTER BACKUP (fw1|fw2): the VIPs on MASTER alone, and each
# ctsyncd told its role last.
roles_ok() {
	vips_on "$CTS_P-$1" "$CTS_P-$2" && [[ $(last_role "$1") == master && $(last_role "$2") == backup ]]
}
ROLES_SINCE=0
roles_stable() {	# roles_ok for a whole second
	if ! roles_ok "$@"; then ROLES_SINCE=0; return 1; fi
	((ROLES_SINCE)) || ROLES_SINCE=$(cts_now_us)
	(($(cts_now_us) - ROLES_SINCE >= 1000000))
}
# settle_roles MASTER BACKUP: wait until the roles hold (for 1 s).  If a
# spurious takeover (0.1 s adverts on a loaded machine) left BACKUP as
# master, say so and put the roles back: BACKUP's keepalived stopped
# (SIGTERM) and started again, as backup.
settle_roles() {
	local m=$1 b=$2 c0
	ROLES_SINCE=0
	wait_until 5 roles_stable "$m" "$b" && return 0
	NOTES+=("before '$SCEN': roles not as expected (a spurious takeover?): VIPs on" \
		"$(has_vips "$CTS_P-fw1" && echo fw1) $(has_vips "$CTS_P-fw2" && echo fw2);" \
		"ctsyncd roles fw1 $(last_role fw1), fw2 $(last_role fw2); restoring $m as master")
	say "roles not as expected before '$SCEN': restoring $m as master, $b as backup"
	c0=$(log_count "$m" "becoming master")
	stop_keepalived "ka-$b" TERM || die "keepalived on $b did not stop"
	if [[ $(last_role "$m") != master ]]; then
		wait_until 10 count_above "$m" "becoming master" "$c0" || die "$m did not become master"
	fi
	c0=$(log_count "$b" "becoming backup")
	start_keepalived "ka-$b" "$CTS_P-$b" "$CTS_TMP/ka-$b.conf"
	wait_until 15 count_above "$b" "becoming backup" "$c0" || die "$b's keepalived did not report BACKUP"
	ROLES_SINCE=0
	wait_until 10 roles_stable "$m" "$b" || die "roles did not settle: $m master, $b backup"
}

# ----------------------------------------------------------- flowgen

declare -A CL_PID=() CL_REP=()
CLIENTS=()
# start_client NAME FLOWGEN-ARGS...: a flowgen client in the client
# namespace towards the server.
start_client() {
	local name=$1
	shift
	CL_REP[$name]=$CTS_TMP/$name.report.json
	start_bg "$NS_CL" "$CTS_TMP/$name.out" "$FLOWGEN" client -i "$TICK_MS" --list \
		--report "${CL_REP[$name]}" "$@" "$SERVER" "$PORT"
	CL_PID[$name]=$BG_PID
	CLIENTS+=("$name")
}
report_seq() { jq -r '.report // 0' "${CL_REP[$1]}" 2>/dev/null || echo 0; }
# clients_settled NAME...: each client's first report (all connections up
# or failed) is there.
clients_settled() {
	local c
	for c in "$@"; do [[ -s ${CL_REP[$c]} ]] || return 1; done
}
clients_seq_above() {
	local -n _want=$1
	local c
	for c in "${!_want[@]}"; do (($(report_seq "$c") > ${_want[$c]})) || return 1; done
}
# clients_report: a fresh report from every client (SIGUSR1); the silences
# of the next report are measured from here.
clients_report() {
	local c
	local -A before=()
	for c in "${CLIENTS[@]}"; do
		# shellcheck disable=SC2034  # read through a nameref
		before[$c]=$(report_seq "$c")
		kill -USR1 "${CL_PID[$c]}"
	done
	wait_until 5 clients_seq_above before || fail "flowgen clients did not report within 5 s"
}
reports() { local c; for c in "${CLIENTS[@]}"; do cat "${CL_REP[$c]}"; done; }

# flowgen_flows NS SOCK: the flowgen flows in NS's external cache that a
# replica can continue: TCP ESTABLISHED, UDP seen in both directions.
# From the text dump, prefiltered, so a table of 500,000 generated flows
# costs a grep, not a JSON parse.
flowgen_flows() {
	{ ext_dump "$1" "$2" 2>/dev/null || echo FAIL; } |
		grep -F -e " dport=$PORT " -e FAIL | awk -v dst="dst=$SERVER" -v dp="dport=$PORT" '
		$1 == "FAIL" { bad = 1 }
		{
			d = ""; p = ""
			for (i = 1; i <= NF; i++) {
				if (d == "" && $i ~ /^dst=/) d = $i
				if (p == "" && $i ~ /^dport=/) p = $i
			}
			if (d != dst || p != dp) next
			if ($1 == "tcp" && ($3 == "ESTABLISHED" || $4 == "ESTABLISHED")) n++
			else if ($1 == "udp" && $0 !~ /\[UNREPLIED\]/) n++
		}
		END { print bad ? -1 : n + 0 }'
}
# expected_flows: the flows the clients have up now (TCP established and
# not broken, UDP).
expected_flows() {
	reports | jq -s '[.[] | .flows[] | select(.state == "up" or .state == "stalled")] | length'
}
HOLD_N=-1
holds_all() {	# holds_all NS SOCK WANT: NS holds WANT flowgen flows and is ready
	HOLD_N=$(flowgen_flows "$1" "$2")
	((HOLD_N == $3)) && ready "$1" "$2"
}

# ------------------------------------------------------------ topology

say "failover test: prefix $CTS_P, keepalived $("$KEEPALIVED" --version 2>&1 | head -n 1 | awk '{print $2}')"
topo_pair || die "building the topology"
topo_check || die "topology: no path client->fw1->server or fw1->fw2"
topo_failover || die "failover additions to the topology"
for ns in "$NS_FW1" "$NS_FW2"; do
	nsx "$ns" conntrack -F >/dev/null 2>&1
done
start_invalid_trace fw1 "$NS_FW1"
start_invalid_trace fw2 "$NS_FW2"
say "topology up; VIPs taken off fw1 for keepalived; SNAT $CTS_NAT_SRC -> $CTS_VIP4_IN"

start_bg "$NS_SV" "$CTS_TMP/server.log" "$FLOWGEN" server "$PORT"
SERVER_PID=$BG_PID
server_listening() { [[ -n $(nsx "$NS_SV" ss -Hltn "( sport = :$PORT )") ]]; }
wait_until 5 server_listening || die "flowgen server did not start"

# ---------------------------------------------------- ctsyncd, keepalived

keepalived_setup_bin || die "installing ctsync-keepalived and ctctl into $CTS_TMP/ka-bin"
for n in 1 2; do daemon_config "$n"; done
KA_CONFIG=keepalived_config
[[ $DAEMON == conntrackd ]] && KA_CONFIG=keepalived_conntrackd_config
$KA_CONFIG "$CTS_TMP/ka-fw1.conf" 1 "$PRIO1" "$ADVERT"
$KA_CONFIG "$CTS_TMP/ka-fw2.conf" 2 "$PRIO2" "$ADVERT"
for n in 1 2; do
	out=$(nsx "$CTS_P-fw$n" "$KEEPALIVED" -t -f "$CTS_TMP/ka-fw$n.conf" 2>&1) ||
		die "keepalived -t on fw$n's config: $out"
done

VFLAG=()
[[ ${CTS_LOG_LEVEL:-info} == debug ]] && VFLAG=(-v)
start_daemon fw1 "$NS_FW1"
start_daemon fw2 "$NS_FW2"
wait_until 15 daemon_up "$NS_FW1" "$SOCK1" || die "$DAEMON on fw1 not answering"
wait_until 15 daemon_up "$NS_FW2" "$SOCK2" || die "$DAEMON on fw2 not answering"

start_keepalived ka-fw1 "$NS_FW1" "$CTS_TMP/ka-fw1.conf"
wait_until 15 has_vips "$NS_FW1" || die "fw1 did not become master (no VIPs after 15 s)"
wait_until 10 count_above fw1 "committed" 0 || die "fw1 master, but $DAEMON on fw1 did not commit (notify not run?)"
say "fw1 is master: $(log_last fw1 committed | sed 's/^\[[^]]*\] //')"
start_keepalived ka-fw2 "$NS_FW2" "$CTS_TMP/ka-fw2.conf"
wait_until 15 count_above fw2 "becoming backup" 0 ||
	die "fw2's keepalived did not report BACKUP through the FIFO (no 'ctctl backup')"
SCEN=start
settle_roles fw1 fw2
say "fw2 is backup (keepalived -> $([[ $DAEMON == ctsyncd ]] && echo "FIFO -> ctsync-keepalived -> ctctl backup" || echo "primary-backup.sh backup"))"

# -------------------------------------------------------------- traffic

start_client A -n "$NTCP" -u "$NUDP" -s 198.51.100.10
start_client N -n 20 -u 2 -s "$CTS_NAT_SRC"
wait_until 10 clients_settled A N || die "flowgen clients did not connect within 10 s"
n=$(reports | jq -s '[.[] | .failed_connect + .broken] | add')
((n == 0)) || die "$n flowgen connections failed before any failover: $(reports | jq -c '.problems[:3]')"
say "traffic: $NTCP TCP + $NUDP UDP flows from 198.51.100.10, 20 TCP + 2 UDP SNATed from $CTS_NAT_SRC, every ${TICK_MS} ms"

# --------------------------------------------- hot standby: copies follow

# A flow replicated while it opens, then established: fw2's kernel copy
# must follow it all the way, status included (a copy left without
# SEEN_REPLY makes the kernel call the flow's next packets "new", and a
# strict policy drops them after a failover), and go when it goes.
# copy_of NS: the test flow's line in NS's kernel table, or nothing.
HOT_FLOW=(-p tcp -s 198.51.100.20 -d 203.0.113.10 --sport 4321 --dport 7001)
copy_of() { nsx "$1" conntrack -L "${HOT_FLOW[@]}" 2>/dev/null | grep -F 'sport=4321'; }
copy_is() { local l; l=$(copy_of "$NS_FW2"); [[ $l == *" $1 "* && $l == *"$2"* && $l != *"$3"* ]]; }
copy_gone() { [[ -z $(copy_of "$NS_FW2") ]]; }
if [[ $DAEMON == ctsyncd && ${CTS_STANDBY:-hot} == hot ]]; then
	f0=${#FAILED[@]}
	nsx "$NS_FW1" conntrack -I "${HOT_FLOW[@]}" --state SYN_SENT -t 120 >/dev/null 2>&1 ||
		die "conntrack -I of the test flow on fw1"
	wait_until 5 copy_is SYN_SENT UNREPLIED "ASSURED" ||
		fail "hot standby: fw2's kernel has no copy of a SYN_SENT flow of fw1: '$(copy_of "$NS_FW2")'"
	nsx "$NS_FW1" conntrack -U "${HOT_FLOW[@]}" --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 300 \
		>/dev/null 2>&1 || die "conntrack -U of the test flow on fw1"
	wait_until 5 copy_is ESTABLISHED "[ASSURED]" "UNREPLIED" ||
		fail "hot standby: fw2's copy did not follow the flow to ESTABLISHED, replied, ASSURED: '$(copy_of "$NS_FW2")'"
	nsx "$NS_FW1" conntrack -D "${HOT_FLOW[@]}" >/dev/null 2>&1 || die "conntrack -D of the test flow on fw1"
	wait_until 5 copy_gone || fail "hot standby: fw2's copy outlived the flow: '$(copy_of "$NS_FW2")'"
	((${#FAILED[@]} == f0)) &&
		say "hot standby: fw2's kernel copy of a flow of fw1 followed it from SYN_SENT to ESTABLISHED" \
			"(replied, assured) and went with it"
fi

# ------------------------------------------------------- a large table

# ct_count NS: entries in NS's kernel table.
ct_count() { nsx "$1" cat /proc/sys/net/netfilter/nf_conntrack_count; }
if ((BIG)); then
	ct_max_at_least $((2 * BIG + 100000)) || die "cannot raise nf_conntrack_max"
	t0=$(cts_now_us)
	out=$(nsx "$NS_FW1" "$CTGEN" -n "$BIG" -b 256 --json) || die "ctgen -n $BIG in fw1: $out"
	say "big table: $BIG entries created in fw1's kernel in $(fmt_us $(($(cts_now_us) - t0))) s ($out)"
	want_ext=$((BIG + $(expected_flows)))
	big_held() {
		local n
		n=$(cache_size "$NS_FW2" "$SOCK2" external)
		((n >= want_ext)) && ready "$NS_FW2" "$SOCK2" &&
			{ [[ $DAEMON != ctsyncd || ${CTS_STANDBY:-hot} != hot ]] ||
				(($(ct_count "$NS_FW2") >= want_ext)); }
	}
	wait_until "$HOLD_S" big_held ||
		die "fw2 did not take fw1's $want_ext flows (external $(cache_size "$NS_FW2" "$SOCK2" external), kernel $(ct_count "$NS_FW2"))"
	NOTES+=("big table: fw2 held fw1's $want_ext flows $WAIT_ELAPSED s after the last create" \
		"(kernel: fw1 $(ct_count "$NS_FW1"), fw2 $(ct_count "$NS_FW2") entries)")
	say "big table: fw2 holds $want_ext flows ($WAIT_ELAPSED s), its kernel $(ct_count "$NS_FW2") entries"
fi

# hot_kernel_holds NS NAME: with a large table and a hot standby, the
# backup's kernel holds every flow of its external cache (written in steps,
# part of them through the refresh sweep).
hot_kernel_holds() {
	local ns=$1 name=$2 sock=$CTS_TMP/$2.sock want
	((BIG)) && [[ $DAEMON == ctsyncd && ${CTS_STANDBY:-hot} == hot ]] || return 0
	want=$(cache_size "$ns" "$sock" external)
	kernel_at_least() { (($(ct_count "$1") >= $2)); }
	if wait_until "$HOLD_S" kernel_at_least "$ns" "$want"; then
		say "$SCEN: $name's kernel holds its $want external flows ($WAIT_ELAPSED s)"
	else
		fail "$SCEN: $name's kernel holds $(ct_count "$ns") entries, its external cache $want flows (hot standby)"
	fi
}

# ------------------------------------------------------------ scenarios

# takeover NEW_NAME NEW_NS NEW_SOCK T_FAULT MASTERS_BEFORE COMMITS_BEFORE:
# wait for the new master's VIPs and its commit; note the timeline (from
# the time-stamped logs of keepalived and ctsyncd).
T_VIP=0 T_COMMIT_MS=
takeover() {
	local name=$1 ns=$2 t0=$4 m0=$5 c0=$6 tk tg tm tc commit
	if ! WAIT_INTERVAL=0.01 wait_until 10 has_vips "$ns"; then
		fail "$SCEN: $name did not take the VIPs within 10 s"
		return 1
	fi
	T_VIP=$(cts_now_us)
	if ! wait_until "$COMMIT_S" count_above "$name" "committed" "$c0"; then
		fail "$SCEN: $name holds the VIPs but its $DAEMON did not commit within $COMMIT_S s (notify not run?)"
		return 1
	fi
	tk=$(rel_ms "$t0" "$(log_time "ka-$name" "Entering MASTER STATE")")
	tg=$(rel_ms "$t0" "$(log_time "ka-$name" "Sending gratuitous ARP")")
	tm=$(rel_ms "$t0" "$(log_time "$name" "becoming master")")
	tc=$(rel_ms "$t0" "$(log_time "$name" "committed")")
	commit=$(log_last "$name" committed | sed 's/^\[[^]]*\] //')
	(($(log_count "$name" "becoming master") == m0 + 1)) ||
		NOTES+=("$SCEN: $name became master $(($(log_count "$name" "becoming master") - m0)) times (a flap?)")
	NOTES+=("$SCEN: after the fault: keepalived on $name MASTER (VIPs set) +$tk ms, last GARP +$tg ms;" \
		"$DAEMON 'becoming master' +$tm ms, commit logged +$tc ms ($commit)")
	T_COMMIT_MS=$tc
	say "$SCEN: keepalived MASTER on $name at +$tk ms (VIPs, GARPs), notify 'becoming master' at +$tm ms, $commit at +$tc ms"
}

# verdict NEW_NS INVALID_BEFORE PLANNED(0|1): the clients' reports after
# the traffic went on; one table row; the checks.
verdict() {
	local ns=$1 inv0=$2 planned=$3 t0=$4 inv1 st total up tcpb longest tcpl udpl p99 dfwd din c name pk
	name=${ns##*-}
	inv1=$(fw_invalid "$ns")
	st=$(reports | jq -s -r '
		[.[] | .flows[]] as $f
		| ($f | map(.interval_silence_ms) | sort) as $s
		| [($f | length), ($f | map(select(.state == "up")) | length),
		   ($f | map(select(.proto == "tcp" and (.state == "broken" or .state == "failed_connect"))) | length),
		   ($s | max // 0),
		   ($f | map(select(.proto == "tcp") | .interval_silence_ms) | max // 0),
		   ($f | map(select(.proto == "udp") | .interval_silence_ms) | max // 0),
		   (if ($s | length) > 0 then $s[(((($s | length) * 99 + 99) / 100) | floor) - 1] else 0 end)]
		| @tsv')
	read -r total up tcpb longest tcpl udpl p99 <<<"$st"
	if [[ $inv0 == *"?"* || $inv1 == *"?"* ]]; then
		dfwd="?" din="?"
	else
		dfwd=$((${inv1% *} - ${inv0% *}))
		din=$((${inv1#* } - ${inv0#* }))
	fi
	ROWS+=("$(printf '%-30s %12s %10s %9s %9s %9s %9s %14s' "$SCEN" "$up/$total" "$tcpb" \
		"$longest" "$tcpl" "$udpl" "$p99" "$dfwd+$din")")
	[[ -z $RESULTS ]] || printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DAEMON" "$SCEN" "$up" "$total" \
		"$tcpb" "$longest" "$([[ $dfwd == "?" ]] && echo "?" || echo $((dfwd + din)))" \
		"${T_COMMIT_MS:-?}" >>"$RESULTS"
	say "$SCEN: $up/$total flows survived, $tcpb TCP broken; longest silence $longest ms" \
		"(TCP $tcpl, UDP $udpl, p99 $p99); invalid drops on the new master: forward $dfwd, input $din"
	# which packets were invalid, and when (relative to the fault)
	pk=$(invalid_packets "$CTS_TMP/$name.trace" "$(rel_s "$t0")")
	if [[ -n $pk ]]; then
		NOTES+=("$SCEN: $(wc -l <<<"$pk") invalid packet(s) traced on $name; the first (ms after the fault):")
		while read -r t rest; do
			NOTES+=("      +$(rel_ms "$t0" "$t") $rest")
		done < <(head -n 6 <<<"$pk")
	fi
	((up == total)) || {
		NOTES+=("$SCEN: longest silence of the $up flows that survived: $(reports | jq -s \
			'[.[] | .flows[] | select(.state == "up") | .interval_silence_ms] | max // 0') ms")
		fail "$SCEN: $((total - up)) of $total flows did not survive"
		diagnose "$ns"
	}
	((longest <= LIMIT_MS)) || fail "$SCEN: longest silence $longest ms > $LIMIT_MS ms"
	if ((planned)) && [[ $dfwd != 0 || $din != 0 ]]; then
		fail "$SCEN: planned switch dropped packets as invalid on the new master (forward $dfwd, input $din)"
	fi
	for c in "${CLIENTS[@]}"; do
		pid_alive "${CL_PID[$c]}" || fail "$SCEN: flowgen client $c exited"
	done
}

# diagnose NS: the flows that did not survive, and what NS knows of them.
diagnose() {
	local ns=$1 sock sport proto n=0
	[[ $ns == "$NS_FW1" ]] && sock=$SOCK1 || sock=$SOCK2
	echo "   not surviving, per flowgen client: $(for c in "${CLIENTS[@]}"; do
		jq -r --arg c "$c" '"\($c) \([.flows[] | select(.state != "up")] | length)/\(.flows | length)"' "${CL_REP[$c]}"
	done | paste -sd, -)  (A, N: opened via fw1 before scenario 1; B, BN: opened via fw2 in scenario 2)"
	reports | jq -r '.flows[] | select(.state != "up") | "\(.proto) \(.sport) \(.state) silence \(.silence_ms) ms"' |
		head -n 5 | sed 's/^/   not surviving: /'
	while read -r proto sport; do
		((n++ < 3)) || break
		echo "   conntrack -L on ${ns##*-} for $proto sport $sport:"
		nsx "$ns" conntrack -L -p "$proto" --orig-port-src "$sport" 2>/dev/null | sed 's/^/      /'
		echo "   external cache of ${ns##*-} for it:"
		ext_dump "$ns" "$sock" 2>/dev/null | grep -E "sport=$sport " | sed 's/^/      /'
	done < <(reports | jq -r '.flows[] | select(.state != "up") | "\(.proto) \(.sport)"')
	if [[ $DAEMON == ctsyncd ]]; then
		echo "   ctctl stats on ${ns##*-}: $(ctctl_in "$ns" "$sock" -j stats 2>&1 | jq -c . 2>/dev/null | head -c 1200)"
	else
		echo "   conntrackd -s on ${ns##*-}: $(cdctl "$ns" "$sock" -s 2>&1 | tr -s ' \t\n' ' ' | head -c 1200)"
	fi
}

# probe_liberal NS: after the last scenario, if TCP connections stalled
# although NS has their conntrack entries: turn on liberal TCP window
# tracking on NS (nf_conntrack_tcp_be_liberal=1) and see whether they come
# back at their next retransmission.  If they do, their entries were
# rejecting them on window checks (stale sequence numbers).  A diagnosis
# only: the verdict is already taken.
probe_liberal() {
	local ns=$1 n back
	n=$(reports | jq -s '[.[] | .flows[] | select(.proto == "tcp" and .state == "stalled")] | length')
	((n > 0)) || return 0
	nsctl "$ns" net.netfilter.nf_conntrack_tcp_be_liberal=1 || return 0
	stalled_gone() {
		clients_report
		(($(reports | jq -s '[.[] | .flows[] | select(.proto == "tcp" and .state == "stalled")] | length') == 0))
	}
	WAIT_INTERVAL=0.5 wait_until 15 stalled_gone
	back=$(reports | jq -s '[.[] | .flows[] | select(.proto == "tcp" and .state == "stalled")] | length')
	NOTES+=("$SCEN: probe: with nf_conntrack_tcp_be_liberal=1 on ${ns##*-}, $((n - back)) of the $n stalled" \
		"TCP connections echo again within $WAIT_ELAPSED s")
	nsctl "$ns" net.netfilter.nf_conntrack_tcp_be_liberal=0
}

# crash FW_NS CTSYNCD_NAME KEEPALIVED_NAME: the node dies: ports stop
# passing frames, then its keepalived (whole tree) and ctsyncd get SIGKILL
# together.
crash() {
	local ns=$1 d=$2 k=$3 pids
	fw_blackhole "$ns" || fail "$SCEN: cannot black-hole ${ns##*-}'s ports"
	mapfile -t pids < <(proc_tree "${CTS_DPID[$k]}")
	{	# (stderr off: bash would announce "Killed" for each job)
		kill -KILL "${pids[@]}" "${CTS_DPID[$d]}"
		stop_keepalived "$k" KILL || fail "$SCEN: keepalived on ${ns##*-} survives SIGKILL?"
		stop_ctsyncd "$d" KILL || fail "$SCEN: $DAEMON on ${ns##*-} survives SIGKILL?"
	} 2>/dev/null
}

# ---- 1. crash of the master

SCEN="1 crash of fw1 (SIGKILL)"
settle_roles fw1 fw2
want=$(expected_flows)
wait_until "$HOLD_S" holds_all "$NS_FW2" "$SOCK2" "$want" ||
	die "$SCEN: fw2's external cache holds $HOLD_N flowgen flows, want $want (or ctctl ready fails on fw2)"
say "$SCEN: fw2 holds all $want flowgen flows and is ready ($WAIT_ELAPSED s)"
clients_report
inv0=$(fw_invalid "$NS_FW2")
m0=$(log_count fw2 "becoming master") c0=$(log_count fw2 "committed")
t0=$(cts_now_us)
crash "$NS_FW1" fw1 ka-fw1
say "$SCEN: fw1 black-holed, its keepalived and $DAEMON killed"
if takeover fw2 "$NS_FW2" "$SOCK2" "$t0" "$m0" "$c0"; then
	wait_until $((TRAFFIC_S + 2)) after_us $((T_VIP + TRAFFIC_S * 1000000))
	clients_report
	verdict "$NS_FW2" "$inv0" 0 "$t0"
else
	die "$SCEN: no takeover"
fi

# ---- 2. planned failback to fw1

SCEN="2 planned failback to fw1"
fw_blackhole_off "$NS_FW1" || fail "removing fw1's black hole"
ip -n "$NS_FW1" addr del "$CTS_VIP4_OUT/24" dev out0 2>/dev/null
ip -n "$NS_FW1" addr del "$CTS_VIP4_IN/24" dev in0 2>/dev/null
nsx "$NS_FW1" conntrack -F >/dev/null 2>&1
say "$SCEN: fw1 back as after a reboot (no VIPs, empty conntrack table)"
b1=$(log_count fw1 "becoming backup")
start_daemon fw1 "$NS_FW1"
wait_until 15 daemon_up "$NS_FW1" "$SOCK1" || die "$SCEN: restarted $DAEMON on fw1 not answering"
start_keepalived ka-fw1 "$NS_FW1" "$CTS_TMP/ka-fw1.conf"
wait_until 15 count_above fw1 "becoming backup" "$b1" || die "$SCEN: fw1's keepalived did not report BACKUP"
start_client B -n 50 -u 5 -s 198.51.100.10
start_client BN -n 10 -u 2 -s "$CTS_NAT_SRC"
wait_until 10 clients_settled B BN || die "$SCEN: new flowgen clients did not connect within 10 s"
n=$(reports | jq -s '[.[] | .failed_connect] | add')
((n == 0)) || fail "$SCEN: $n connections could not be opened through fw2"
want=$(expected_flows)
wait_until "$HOLD_S" holds_all "$NS_FW1" "$SOCK1" "$want" ||
	die "$SCEN: fw1's external cache holds $HOLD_N flowgen flows, want $want (or ctctl ready fails on fw1)"
say "$SCEN: 60 TCP + 7 UDP flows opened through fw2; fw1 holds all $want and is ready ($WAIT_ELAPSED s)"
hot_kernel_holds "$NS_FW1" fw1
NOTES+=("$SCEN: before the switch: fw2 external $(cache_size "$NS_FW2" "$SOCK2" external) flows," \
	"fw1 internal $(cache_size "$NS_FW1" "$SOCK1" internal) (fw1 rebooted: its kernel had no forwarded flow until now)")
settle_roles fw2 fw1
wait_until "$HOLD_S" holds_all "$NS_FW1" "$SOCK1" "$want" ||
	die "$SCEN: fw1's external cache holds $HOLD_N flowgen flows, want $want (or ctctl ready fails on fw1)"
clients_report
inv0=$(fw_invalid "$NS_FW1")
m0=$(log_count fw1 "becoming master") c0=$(log_count fw1 "committed")
t0=$(cts_now_us)
kill -TERM "${CTS_DPID[ka-fw2]}"
say "$SCEN: fw2's keepalived stopped (SIGTERM)"
if takeover fw1 "$NS_FW1" "$SOCK1" "$t0" "$m0" "$c0"; then
	wait_until $((TRAFFIC_S + 2)) after_us $((T_VIP + TRAFFIC_S * 1000000))
	clients_report
	verdict "$NS_FW1" "$inv0" 1 "$t0"
else
	die "$SCEN: no takeover"
fi
stop_keepalived ka-fw2 TERM || fail "$SCEN: fw2's keepalived did not exit on SIGTERM"

# ---- 3. LAN links of the master down

SCEN="3 fw1's LAN links down"
b2=$(log_count fw2 "becoming backup")
start_keepalived ka-fw2 "$NS_FW2" "$CTS_TMP/ka-fw2.conf"
wait_until 15 count_above fw2 "becoming backup" "$b2" || die "$SCEN: fw2's keepalived did not report BACKUP"
want=$(expected_flows)
wait_until "$HOLD_S" holds_all "$NS_FW2" "$SOCK2" "$want" ||
	die "$SCEN: fw2's external cache holds $HOLD_N flowgen flows, want $want (or ctctl ready fails on fw2)"
say "$SCEN: fw2 backup again, holds all $want flows and is ready ($WAIT_ELAPSED s)"
hot_kernel_holds "$NS_FW2" fw2

# ctsyncd only: the backup's daemon restarts (an upgrade, a crash) with no
# VRRP transition to tell it its role.  It must take it from the VIPs it
# does not hold and keep a hot standby's copies current: the flows opened
# after the restart must be in fw2's kernel before the fault.
# missing_in_kernel NS CLIENT: flows of CLIENT's report NS's kernel lacks.
missing_in_kernel() {
	local table sp proto n=0
	table=$(nsx "$1" conntrack -L 2>/dev/null | grep -F " dport=$PORT ")
	while read -r proto sp; do
		grep -qE "^$proto .* sport=$sp dport=$PORT " <<<"$table" || n=$((n + 1))
	done < <(jq -r '.flows[] | "\(.proto) \(.sport)"' "${CL_REP[$2]}")
	echo "$n"
}
if [[ $DAEMON == ctsyncd ]]; then
	s0=$(log_count fw2 "starting as backup")
	stop_ctsyncd fw2 KILL || fail "$SCEN: ctsyncd on fw2 survives SIGKILL?"
	start_daemon fw2 "$NS_FW2"
	wait_until 15 daemon_up "$NS_FW2" "$SOCK2" || die "$SCEN: restarted ctsyncd on fw2 not answering"
	count_above fw2 "starting as backup" "$s0" ||
		fail "$SCEN: fw2's restarted ctsyncd did not start as backup: $(log_last fw2 'starting as')"
	start_client C -n 20 -u 2 -s 198.51.100.10
	wait_until 10 clients_settled C || die "$SCEN: flowgen client C did not connect within 10 s"
	want=$(expected_flows)
	wait_until "$HOLD_S" holds_all "$NS_FW2" "$SOCK2" "$want" ||
		die "$SCEN: fw2 (restarted) holds $HOLD_N flowgen flows, want $want (or ctctl ready fails)"
	miss=-1
	copies_in() { miss=$(missing_in_kernel "$NS_FW2" C); ((miss == 0)); }
	[[ ${CTS_STANDBY:-hot} != hot ]] || wait_until 5 copies_in ||
		fail "$SCEN: $miss of the 22 flows opened after fw2's ctsyncd restarted are not in fw2's kernel (hot standby)"
	say "$SCEN: fw2's ctsyncd restarted (SIGKILL) as backup; 22 flows opened since are in its kernel; holds all $want"
	NOTES+=("$SCEN: fw2's ctsyncd was restarted (SIGKILL) before the fault; client C's 20 TCP + 2 UDP flows were opened after")
fi
NOTES+=("$SCEN: before the fault: fw2 external $(cache_size "$NS_FW2" "$SOCK2" external) flows," \
	"fw1 internal $(cache_size "$NS_FW1" "$SOCK1" internal); fw2's kernel $(kernel_flowset "$NS_FW2" | grep -c "dport=$PORT") flowgen entries left from its time as master")
settle_roles fw1 fw2
wait_until "$HOLD_S" holds_all "$NS_FW2" "$SOCK2" "$want" ||
	die "$SCEN: fw2's external cache holds $HOLD_N flowgen flows, want $want (or ctctl ready fails on fw2)"
clients_report
inv0=$(fw_invalid "$NS_FW2")
m0=$(log_count fw2 "becoming master") c0=$(log_count fw2 "committed")
fb=$(log_count fw1 "becoming backup")
t0=$(cts_now_us)
if ! ip -n "$NS_FW1" link set out0 down || ! ip -n "$NS_FW1" link set in0 down; then
	fail "$SCEN: link down"
fi
say "$SCEN: fw1's out0 and in0 down"
if takeover fw2 "$NS_FW2" "$SOCK2" "$t0" "$m0" "$c0"; then
	wait_until $((TRAFFIC_S + 2)) after_us $((T_VIP + TRAFFIC_S * 1000000))
	clients_report
	verdict "$NS_FW2" "$inv0" 0 "$t0"
	probe_liberal "$NS_FW2"
else
	die "$SCEN: no takeover"
fi
wait_until 5 count_above fw1 "becoming backup" "$fb" ||
	NOTES+=("$SCEN: fw1 did not run ctctl backup on FAULT")

# ---------------------------------------------------------------- stop

for c in "${CLIENTS[@]}"; do
	kill -TERM "${CL_PID[$c]}"
	wait "${CL_PID[$c]}"
	rc=$?
	((rc == 0)) || fail "flowgen client $c exited with status $rc"
done
kill_wait TERM 5 "$SERVER_PID" || fail "flowgen server did not exit on SIGTERM"
for k in ka-fw1 ka-fw2; do stop_keepalived "$k" TERM || fail "$k did not exit on SIGTERM"; done
for n in fw1 fw2; do stop_daemon_clean "$n"; done

summary
((${#FAILED[@]} == 0))
