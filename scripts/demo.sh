#!/usr/bin/env bash
#
# scripts/demo.sh [--step] - ctsync in two minutes, on this machine only.
#
# Builds ctsync (release, in build-demo/), then two firewalls, a client and
# a server in network namespaces (tests/netns/lib.sh), runs ctsyncd and
# keepalived on both firewalls (fw1 master, fw2 a hot-standby backup),
# keeps 66 connections echoing through fw1 (some NATed) and creates
# 10,000 more flows there, shows them replicate into fw2's cache and
# kernel and follow destroys, then kills fw1 (SIGKILL, ports dead) and
# shows every connection carrying on through fw2, with ctsyncd's figures.
# Everything is removed at the end, or on Ctrl-C.
#
#   --step   wait for Enter between steps
#
# Usage: sudo scripts/demo.sh
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
BUILD=${CTS_DEMO_BUILD:-build-demo}
STEP=0
for arg in "$@"; do
	case $arg in
	--step) STEP=1 ;;
	-h | --help) sed -n '3,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
	esac
done
if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: needs root for network namespaces (try: sudo $0)" >&2
	exit 1
fi

NFLOWS=10000
NDESTROY=3000

pause() { ((STEP)) && [[ -t 0 ]] && read -r -p "   [Enter] " _; return 0; }
indent() { sed 's/^/    /'; }

# ------------------------------------------------------------- build

echo "== ctsync demo"
scripts/install-deps.sh | indent || exit 1
if [[ ! -f $BUILD/build.ninja ]]; then
	echo "   configuring a release build in $BUILD/"
	meson setup "$BUILD" --buildtype=release >"/tmp/ctsync-demo-setup.$$.log" 2>&1 ||
		{ tail -n 20 "/tmp/ctsync-demo-setup.$$.log"; rm -f "/tmp/ctsync-demo-setup.$$.log"; exit 1; }
	rm -f "/tmp/ctsync-demo-setup.$$.log"
fi
echo "   building ($BUILD/)"
if ! out=$(ninja -C "$BUILD" 2>&1); then
	echo "$out" | tail -n 30
	echo "demo.sh: build failed" >&2
	exit 1
fi
export CTSYNCD=$ROOT/$BUILD/ctsyncd CTCTL=$ROOT/$BUILD/ctctl CTGEN=$ROOT/$BUILD/tests/ctgen
export FLOWGEN=$ROOT/$BUILD/tests/flowgen
for b in "$CTSYNCD" "$CTCTL" "$CTGEN" "$FLOWGEN"; do
	[[ -x $b ]] || { echo "demo.sh: $b was not built" >&2; exit 1; }
done

# shellcheck source=tests/netns/lib.sh
. "$ROOT/tests/netns/lib.sh"
cts_init demo || exit 1
SOCK1=$CTS_TMP/fw1.sock
SOCK2=$CTS_TMP/fw2.sock

# stats_compact NS SOCK: `ctctl stats`, one line per section.
stats_compact() {
	ctctl_in "$1" "$2" stats 2>&1 | awk '
		/^[^ \t]/ { if (s != "") print "    " s; s = sprintf("%-16s", $0); next }
		NF >= 2   { s = s " " $1 "=" $2 }
		END       { if (s != "") print "    " s }'
}

# ct_compact NS: conntrack -L of NS in short lines, sorted: the real flows
# first, then ctgen's (198.18.0.0/15); the firewalls' own flows left out.
ct_compact() {
	nsx "$1" conntrack -L -o extended 2>/dev/null |
	awk 'BEGIN { abbr["ESTABLISHED"] = "EST"; abbr["TIME_WAIT"] = "TW"; abbr["SYN_SENT"] = "SYN"
		abbr["SYN_RECV"] = "SYNR"; abbr["FIN_WAIT"] = "FIN"; abbr["CLOSE_WAIT"] = "CLW"
		abbr["LAST_ACK"] = "LACK"; abbr["CLOSE"] = "CLOSE" }
	$1 ~ /^ipv[46]$/ {
		delete t1; delete t2; n = 0; mark = 0
		st = ($6 ~ /=/) ? "" : $6
		for (i = 5; i <= NF; i++) {
			if ($i ~ /^src=/) n++
			if (split($i, kv, "=") != 2) continue
			if (n == 1) t1[kv[1]] = kv[2]; else if (n == 2) t2[kv[1]] = kv[2]
			if (kv[1] == "mark") mark = kv[2]
		}
		if (t1["src"] ~ /^192\.0\.2\.|^2001:db8:5:|^fe80:/) next
		if ("type" in t1)
			l = sprintf("%-6s %s > %s type %s id %s", $3, t1["src"], t1["dst"], t1["type"], t1["id"])
		else
			l = sprintf("%s %s %s:%s > %s:%s", $3, abbr[st] ? abbr[st] : st,
				t1["src"], t1["sport"], t1["dst"], t1["dport"])
		if (t2["dst"] != t1["src"]) l = l " nat:" t2["dst"]
		if (mark != 0) l = l " mark:" mark
		print (t1["src"] ~ /^198\.1[89]\./ ? "2 " : "1 ") l
	}' | sort | cut -c3-
}

# side_by_side FILE1 FILE2 TITLE1 TITLE2 N
side_by_side() {
	local w=72
	printf "    %-${w}s | %s\n" "$3" "$4"
	printf "    %-${w}s | %s\n" "$(printf '%.0s-' $(seq "$w"))" "$(printf '%.0s-' $(seq "$w"))"
	paste -d '\n' <(head -n "$5" "$1") <(head -n "$5" "$2") |
		while IFS= read -r a && IFS= read -r b; do
			printf "    %-${w}.${w}s | %.${w}s\n" "$a" "$b"
		done
}

# ----------------------------------------------------------- topology

say "building the network: client - LAN - fw1/fw2 - LAN - server, namespaces $CTS_P-*"
topo_pair && topo_check && topo_failover || exit 1
say "client 198.51.100.10 reaches server 203.0.113.10 through the VIPs .1, which keepalived will hold"
say "firewalls: forward policy drop, only established/related and new SYNs pass, tcp_loose=0;"
say "a packet of an established connection passes only if its firewall has its state"
pause

# ---------------------------------------------------- daemons, keepalived

# One sync key for both, as an operator would make it (ctsyncd --genkey):
# every datagram between them is authenticated and encrypted.
key=$(key_file_new sync.key 1) || { echo "ctsyncd --genkey failed"; exit 1; }
for n in 1 2; do
	ctsyncd_failover_config "$CTS_TMP/fw$n.yaml" "$n"
	sed -i "/^sync:/a\\  key_file: $key\\n  encrypt: true" "$CTS_TMP/fw$n.yaml"
	start_ctsyncd_ts "fw$n" "$CTS_P-fw$n" "$CTS_TMP/fw$n.yaml"
done
ctsyncd_up() { ctctl_in "$1" "$2" status >/dev/null 2>&1; }
if ! wait_until 15 ctsyncd_up "$NS_FW1" "$SOCK1" || ! wait_until 15 ctsyncd_up "$NS_FW2" "$SOCK2"; then
	echo "ctsyncd did not start"
	exit 1
fi
keepalived_setup_bin || { echo "installing the keepalived scripts failed"; exit 1; }
keepalived_config "$CTS_TMP/ka-fw1.conf" 1 150 0.1
keepalived_config "$CTS_TMP/ka-fw2.conf" 2 100 0.1
log_has() { grep -q -- "$2" "$CTS_TMP/$1.log" 2>/dev/null; }
start_keepalived ka-fw1 "$NS_FW1" "$CTS_TMP/ka-fw1.conf"
wait_until 15 has_vips "$NS_FW1" && wait_until 10 log_has fw1 "becoming master" ||
	{ echo "fw1 did not become master"; exit 1; }
start_keepalived ka-fw2 "$NS_FW2" "$CTS_TMP/ka-fw2.conf"
wait_until 15 log_has fw2 "becoming backup" || { echo "fw2 did not become backup"; exit 1; }
say "ctsyncd and keepalived (VRRPv3, 0.1 s adverts) run on both; sync over UDP 192.0.2.1 <-> .2," \
	"encrypted. keepalived made fw1 master and fw2 backup, through its notify FIFO and ctctl. fw2 says:"
ctctl_in "$NS_FW2" "$SOCK2" status | indent
pause

# -------------------------------------------------------------- traffic

start_bg "$NS_SV" "$CTS_TMP/server.log" "$FLOWGEN" server 7000
listening() { [[ -n $(nsx "$NS_SV" ss -Hltn "( sport = :7000 )") ]]; }
wait_until 5 listening || { echo "flowgen server did not start"; exit 1; }
declare -A CL_PID=()
for c in "A 198.51.100.10 50 5" "N $CTS_NAT_SRC 10 1"; do
	read -r name src ntcp nudp <<<"$c"
	start_bg "$NS_CL" "$CTS_TMP/$name.out" "$FLOWGEN" client -i 50 -n "$ntcp" -u "$nudp" \
		--list --report "$CTS_TMP/$name.json" -s "$src" 203.0.113.10 7000
	CL_PID[$name]=$BG_PID
done
reported() { [[ -s $CTS_TMP/A.json && -s $CTS_TMP/N.json ]]; }
wait_until 10 reported || { echo "flowgen clients did not connect"; exit 1; }
say "66 connections through fw1 (50 TCP + 5 UDP, and 10 TCP + 1 UDP SNATed to 203.0.113.1)," \
	"each echoing a message every 50 ms"

out=$(nsx "$NS_FW1" "$CTGEN" -n "$NFLOWS" 2>&1)
say "ctgen on fw1: $out"
t0=$(cts_now_us)
last=""
while :; do
	n1=$(cache_count "$NS_FW1" "$SOCK1" internal)
	n2=$(cache_count "$NS_FW2" "$SOCK2" external)
	k2=$(nsx "$NS_FW2" conntrack -C 2>/dev/null)
	if [[ "$n1 $n2 $k2" != "$last" ]]; then
		printf '    fw1 internal %6s   fw2 external %6s   fw2 kernel %6s\n' "$n1" "$n2" "$k2"
		last="$n1 $n2 $k2"
	fi
	((n1 >= NFLOWS && n1 == n2 && k2 >= n2)) && break
	if (($(cts_now_us) - t0 > 60000000)); then echo "    not replicated after 60 s"; break; fi
	sleep 0.05
done
say "replicated to fw2 in $(fmt_us $(($(cts_now_us) - t0))) s, into its cache and, as a hot" \
	"standby, its kernel. fw2: ctctl dump external (a few real flows, a few generated):"
ctctl_in "$NS_FW2" "$SOCK2" dump external >"$CTS_TMP/ext.txt" 2>&1
{
	grep -Ev 'src=198\.1[89]\.|^[0-9]+ flows' "$CTS_TMP/ext.txt" | grep -m 4 ''
	grep -m 3 'src=198\.1[89]\.' "$CTS_TMP/ext.txt"
	echo "... $(grep -Eo '^[0-9]+ flows' "$CTS_TMP/ext.txt")"
} | cut -c1-140 | indent
pause

# ------------------------------------------------------------- destroy

out=$(nsx "$NS_FW1" "$CTGEN" -n "$NDESTROY" --destroy 2>&1)
say "ctgen on fw1: $out"
t0=$(cts_now_us)
want=$((n1 - NDESTROY))
drained() { [[ $(cache_count "$NS_FW2" "$SOCK2" external) == "$want" ]]; }
if wait_until 30 drained; then
	say "fw2 followed: $want flows, $(fmt_us $(($(cts_now_us) - t0))) s after the destroy;" \
		"its kernel now $(nsx "$NS_FW2" conntrack -C 2>/dev/null) entries"
else
	say "fw2's external cache holds $(cache_count "$NS_FW2" "$SOCK2" external) flows, expected $want"
fi
ct_compact "$NS_FW1" >"$CTS_TMP/ct1.txt"
ct_compact "$NS_FW2" >"$CTS_TMP/ct2.txt"
say "conntrack -L, fw1 (the master, carrying the traffic) and fw2 (the backup), real flows first:"
side_by_side "$CTS_TMP/ct1.txt" "$CTS_TMP/ct2.txt" \
	"fw1: $(wc -l <"$CTS_TMP/ct1.txt") flows" "fw2: $(wc -l <"$CTS_TMP/ct2.txt") flows" 6
pause

# ------------------------------------------------------------ failover

# flows_summary: from fresh flowgen reports: "UP TOTAL LONGEST_SILENCE_MS".
flows_summary() {
	local c seq
	for c in A N; do
		seq=$(jq -r '.report // 0' "$CTS_TMP/$c.json" 2>/dev/null)
		kill -USR1 "${CL_PID[$c]}"
		newer() { (($(jq -r '.report // 0' "$CTS_TMP/$1.json" 2>/dev/null) > $2)); }
		wait_until 5 newer "$c" "$seq"
	done
	jq -s -r '[.[] | .flows[]] | "\(map(select(.state == "up")) | length) \(length) \(map(.interval_silence_ms) | max)"' \
		"$CTS_TMP/A.json" "$CTS_TMP/N.json"
}
read -r up total _ < <(flows_summary)
inv0=$(fw_invalid "$NS_FW2")
say "fw1 dies now: its ports stop passing frames, its keepalived and ctsyncd get SIGKILL" \
	"($up/$total connections up)"
t0=$(cts_now_us)
fw_blackhole "$NS_FW1"
mapfile -t pids < <(proc_tree "${CTS_DPID[ka-fw1]}")
{ kill -KILL "${pids[@]}" "${CTS_DPID[fw1]}"; stop_keepalived ka-fw1 KILL; stop_ctsyncd fw1 KILL; } 2>/dev/null
WAIT_INTERVAL=0.01 wait_until 10 has_vips "$NS_FW2" || { echo "fw2 did not take over"; exit 1; }
t1=$(cts_now_us)
wait_until 10 log_has fw2 "committed" || { echo "fw2's ctsyncd was not told it is master"; exit 1; }
say "fw2 holds the VIPs $(fmt_us $((t1 - t0))) s later (keepalived: 3 missed adverts); ctctl master" \
	"on fw2: $(grep 'committed' "$CTS_TMP/fw2.log" | tail -n 1 | sed 's/^\[[^]]*\] //')"
sleep 3
read -r up total silence < <(flows_summary)
inv1=$(fw_invalid "$NS_FW2")
say "3 s later: $up of $total connections still echoing through fw2; the longest silence any saw:" \
	"$silence ms (VRRP detection + TCP's retransmission); packets fw2 dropped as invalid:" \
	"$((${inv1% *} - ${inv0% *}))"
say "fw2: ctctl stats (one line per section):"
stats_compact "$NS_FW2" "$SOCK2"
pause

say "done; removing namespaces, processes and temp files"
