#!/usr/bin/env bash
#
# scripts/demo.sh [--step] - ctsync in two minutes, on this machine only.
#
# Builds ctsync (release, in build-demo/), then two firewalls, a client and
# a server in network namespaces (tests/netns/lib.sh), runs ctsyncd on both
# firewalls, sends real connections and 10,000 generated flows through
# fw1, and shows them replicate to fw2, get destroyed, and get committed
# into fw2's kernel.  Everything is removed at the end, or on Ctrl-C.
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
for b in "$CTSYNCD" "$CTCTL" "$CTGEN"; do
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
topo_pair || exit 1
topo_check || exit 1
say "client 198.51.100.10 reaches server 203.0.113.10 through fw1 (VIPs .1 on fw1)"
say "firewalls: forward policy drop, only established/related and new SYNs pass, tcp_loose=0"
pause

# -------------------------------------------------------------- daemons

# One sync key for both, as an operator would make it (ctsyncd --genkey):
# every datagram between them is authenticated and encrypted.
key=$(key_file_new sync.key 1) || { echo "ctsyncd --genkey failed"; exit 1; }
for n in 1 2; do ctsyncd_config "$CTS_TMP/fw$n.yaml" "$n" udp 4 "key_file=$key" encrypt=true; done
start_ctsyncd fw1 "$NS_FW1" "$CTS_TMP/fw1.yaml"
start_ctsyncd fw2 "$NS_FW2" "$CTS_TMP/fw2.yaml"
ctsyncd_up() { ctctl_in "$1" "$2" status >/dev/null 2>&1; }
if ! wait_until 15 ctsyncd_up "$NS_FW1" "$SOCK1" || ! wait_until 15 ctsyncd_up "$NS_FW2" "$SOCK2"; then
	echo "ctsyncd did not start"
	exit 1
fi
say "ctsyncd runs on fw1 and fw2, syncing over UDP on 192.0.2.1 <-> 192.0.2.2," \
	"encrypted with key 1; fw1 says:"
ctctl_in "$NS_FW1" "$SOCK1" status | indent
pause

# -------------------------------------------------------------- traffic

start_bg "$NS_SV" "$CTS_TMP/server.log" socat -u TCP6-LISTEN:5001,ipv6only=0,fork,reuseaddr OPEN:/dev/null
listening() { [[ -n $(nsx "$NS_SV" ss -Hltn "( sport = :5001 )") ]]; }
wait_until 5 listening || { echo "server did not start"; exit 1; }
declare -A CONN_FD=()
conn() {	# conn NAME SPORT TARGET: a TCP connection held open by a FIFO
	local fifo=$CTS_TMP/$1.fifo fd
	mkfifo "$fifo"
	exec {fd}<>"$fifo"
	CONN_FD[$1]=$fd
	start_bg "$NS_CL" "$CTS_TMP/$1.log" socat -u "OPEN:$fifo" "$3,sourceport=$2"
}
established() { [[ -n $(nsx "$NS_CL" ss -Htn state established "( sport = :$1 )") ]]; }
conn web 41001 TCP4:203.0.113.10:5001
conn nat 40001 TCP4:203.0.113.10:5001
conn v6 41002 'TCP6:[2001:db8:2::10]:5001'
for p in 41001 40001 41002; do wait_until 5 established "$p" || { echo "connection $p failed"; exit 1; }; done
for c in web nat v6; do echo "hello" >&"${CONN_FD[$c]}"; done
say "3 TCP connections open through fw1 (one NATed and marked 42, one IPv6)"

out=$(nsx "$NS_FW1" "$CTGEN" -n "$NFLOWS" 2>&1)
say "ctgen on fw1: $out"
t0=$(cts_now_us)
last=""
while :; do
	n1=$(cache_count "$NS_FW1" "$SOCK1" internal)
	n2=$(cache_count "$NS_FW2" "$SOCK2" external)
	if [[ "$n1 $n2" != "$last" ]]; then
		printf '    fw1 internal %6s   fw2 external %6s\n' "$n1" "$n2"
		last="$n1 $n2"
	fi
	((n1 >= NFLOWS && n1 == n2)) && break
	if (($(cts_now_us) - t0 > 60000000)); then echo "    not replicated after 60 s"; break; fi
	sleep 0.05
done
say "replicated to fw2 in $(fmt_us $(($(cts_now_us) - t0))) s. fw2's status and stats:"
ctctl_in "$NS_FW2" "$SOCK2" status | indent
stats_compact "$NS_FW2" "$SOCK2"
say "fw2: ctctl dump external (the real flows, then a few generated ones)"
ctctl_in "$NS_FW2" "$SOCK2" dump external >"$CTS_TMP/ext.txt" 2>&1
{
	grep -Ev 'src=198\.1[89]\.|^[0-9]+ flows' "$CTS_TMP/ext.txt"
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
	say "fw2's external cache followed: $want flows, $(fmt_us $(($(cts_now_us) - t0))) s after the destroy"
else
	say "fw2's external cache holds $(cache_count "$NS_FW2" "$SOCK2" external) flows, expected $want"
fi
pause

# -------------------------------------------------------------- commit

say "fw2 before commit: $(nsx "$NS_FW2" conntrack -C 2>/dev/null) conntrack entries (its own sync traffic)"
say "ctctl commit on fw2 (what keepalived's notify script will do when fw2 becomes master):"
ctctl_in "$NS_FW2" "$SOCK2" commit 2>&1 | indent
ct_compact "$NS_FW1" >"$CTS_TMP/ct1.txt"
ct_compact "$NS_FW2" >"$CTS_TMP/ct2.txt"
say "conntrack -L, fw1 (where the traffic is) and fw2 (after commit), real flows first:"
side_by_side "$CTS_TMP/ct1.txt" "$CTS_TMP/ct2.txt" \
	"fw1: $(wc -l <"$CTS_TMP/ct1.txt") flows" "fw2: $(wc -l <"$CTS_TMP/ct2.txt") flows" 9
pause

# ------------------------------------------------------------ failover

# HOOK: failover.  Coming with the keepalived integration: start
# keepalived on fw1 and fw2 (VRRP on out0/in0, notify script calling
# `ctctl commit` then the GARP/NA step), stop fw1 (links down or
# SIGKILL), and show that the connections above keep passing through fw2
# under the strict policy (nft counter "invalid" stays 0).  Until then
# vip_move in tests/netns/lib.sh moves the addresses by hand.
demo_failover() {
	say "failover with keepalived: not in this version yet (hook: demo_failover in scripts/demo.sh)"
}
demo_failover

say "done; removing namespaces, processes and temp files"
