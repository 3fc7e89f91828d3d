# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are for the scripts that source it)
#
# tests/netns/lib.sh - helpers for ctsync's network-namespace tests and demo.
#
# Source it, then call cts_init (temp dir, traps) and topo_pair (the
# topology).  Everything a run makes carries a per-run prefix and is
# removed by cts_cleanup, which cts_init registers for EXIT, INT and TERM.
#
#  client ns ── LAN "outside" ──┬── fw1 ns ──┬── LAN "inside" ── server ns
#   198.51.100.10 (.11)         │  sync link │        203.0.113.10
#   2001:db8:1::10 (::11)       └── fw2 ns ──┘        2001:db8:2::10
#
#  fw1: out0 198.51.100.2 + VIP .1   in0 203.0.113.2 + VIP .1   sync0 192.0.2.1/30
#       out0 2001:db8:1::2 + VIP ::1 in0 2001:db8:2::2 + VIP ::1 sync0 2001:db8:5::1/64
#  fw2: out0 198.51.100.3            in0 203.0.113.3            sync0 192.0.2.2/30
#       out0 2001:db8:1::3           in0 2001:db8:2::3          sync0 2001:db8:5::2/64
#
# The two LANs are bridges in a "switch" namespace.  The VIPs sit on fw1
# (no keepalived yet: vip_move is the hook for failover tests).
#
# Interface names live inside the namespaces, so they need no prefix; the
# namespaces are "<prefix>-cl", "-fw1", "-fw2", "-sv", "-sw".
#
# Variables it sets: CTS_ROOT CTS_P CTS_TMP NS_CL NS_FW1 NS_FW2 NS_SV NS_SW
# CTSYNCD CTCTL CTGEN (from the environment, else from $CTS_BUILD or build/).

CTS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CTS_ROOT=$(cd "$CTS_LIB_DIR/../.." && pwd)
CTS_BUILD=${CTS_BUILD:-$CTS_ROOT/build}
CTSYNCD=${CTSYNCD:-$CTS_BUILD/ctsyncd}
CTCTL=${CTCTL:-$CTS_BUILD/ctctl}
CTGEN=${CTGEN:-$CTS_BUILD/tests/ctgen}

export LC_ALL=C

CTS_P=
CTS_TMP=
CTS_T0=
CTS_CLEANED=
CTS_KEEP=${CTS_KEEP:-0}		# 1: keep the temp dir (logs) after the run
CTS_NAMESPACES=()
CTS_PIDS=()
declare -A CTS_DPID=()		# daemon name -> pid
declare -A CTS_DLOG=()		# daemon name -> log file
CTS_LOCAL_ADDRS=()		# every address of fw1/fw2 (for "not local")
WAIT_ELAPSED=0

# ---------------------------------------------------------------- output

cts_now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$((10#$t))"; }

# fmt_us MICROSECONDS -> "S.mmm"
fmt_us() { printf '%d.%03d' "$(($1 / 1000000))" "$(($1 % 1000000 / 1000))"; }

# say MSG...: one narrated step, with the time since cts_init.
say() {
	local t=0
	[[ -n $CTS_T0 ]] && t=$(($(cts_now_us) - CTS_T0))
	printf '[%7ss] %s\n' "$(fmt_us "$t")" "$*"
}

warn() { printf '%s\n' "$*" >&2; }

# ------------------------------------------------------------- lifecycle

# cts_init [TAG]: per-run prefix, temp dir, traps.  Returns 77 (skip) if
# not root or the tools are missing; the caller decides what to do.
cts_init() {
	local tag=${1:-t} tool
	if [[ $(id -u) -ne 0 ]]; then
		warn "SKIP: network-namespace tests need root (try: sudo $0)"
		return 77
	fi
	for tool in ip nft conntrack jq socat ping ss awk sort comm mkfifo; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			warn "SKIP: '$tool' not found (run scripts/install-deps.sh)"
			return 77
		fi
	done
	# Short and unique: cts + pid (+ a random suffix if a stale run of
	# the same pid left namespaces behind).
	CTS_P=${CTS_PREFIX:-cts$$}
	if ip netns list | grep -q "^${CTS_P}-"; then
		CTS_P=${CTS_P}r$RANDOM
	fi
	CTS_TMP=$(mktemp -d "/tmp/ctsync-$tag.XXXXXX")
	chmod 0700 "$CTS_TMP"
	CTS_T0=$(cts_now_us)
	NS_CL=$CTS_P-cl NS_FW1=$CTS_P-fw1 NS_FW2=$CTS_P-fw2
	NS_SV=$CTS_P-sv NS_SW=$CTS_P-sw
	trap cts_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	return 0
}

# pid_alive PID: true while PID runs (a zombie counts as gone).
pid_alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(cut -d')' -f2 "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $st != " Z"* && -n $st ]]
}

pids_gone() { local p; for p in "$@"; do pid_alive "$p" && return 1; done; return 0; }

# kill_wait SIG TIMEOUT PID...: signal PIDs we started and wait (bounded)
# until they are gone; reaps our own children.  Returns 1 if some remain.
kill_wait() {
	local sig=$1 timeout=$2 pid left
	shift 2
	for pid in "$@"; do
		pid_alive "$pid" && kill "-$sig" "$pid" 2>/dev/null
	done
	wait_until "$timeout" pids_gone "$@" || true
	left=0
	for pid in "$@"; do
		if pid_alive "$pid"; then left=1; else wait "$pid" 2>/dev/null || true; fi
	done
	return "$left"
}

# cts_cleanup: kill what this run started, delete its namespaces and temp
# dir.  Idempotent; runs from the EXIT trap.
cts_cleanup() {
	local rc=$? ns pids name
	[[ -n $CTS_CLEANED ]] && return "$rc"
	CTS_CLEANED=1
	trap - EXIT INT TERM
	set +e
	if ((rc != 0 && rc != 130)) && [[ -n $CTS_TMP ]]; then
		for name in "${!CTS_DLOG[@]}"; do
			[[ -s ${CTS_DLOG[$name]} ]] || continue
			echo "---- last lines of $name's log (${CTS_DLOG[$name]}) ----"
			tail -n 25 "${CTS_DLOG[$name]}"
		done
	fi
	if ((${#CTS_PIDS[@]})); then
		kill_wait TERM 5 "${CTS_PIDS[@]}" || kill_wait KILL 5 "${CTS_PIDS[@]}"
	fi
	# Whatever is still inside our namespaces was started by this run
	# (socat children and the like).
	for ns in "${CTS_NAMESPACES[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		# shellcheck disable=SC2086
		[[ -n $pids ]] && { kill_wait TERM 3 $pids || kill_wait KILL 3 $pids; }
	done
	for ns in "${CTS_NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	CTS_NAMESPACES=()
	if [[ -n $CTS_TMP && -d $CTS_TMP ]]; then
		if [[ $CTS_KEEP == 1 ]]; then
			echo "kept $CTS_TMP"
		else
			rm -rf "$CTS_TMP"
		fi
	fi
	return "$rc"
}

# --------------------------------------------------------------- waiting

# wait_until TIMEOUT CMD...: run CMD until it succeeds or TIMEOUT seconds
# (may be fractional) pass.  Sets WAIT_ELAPSED ("S.mmm").  0 or 1.
wait_until() {
	local timeout=$1 int frac start deadline now
	shift
	int=${timeout%%.*}
	frac=0
	[[ $timeout == *.* ]] && frac=${timeout#*.}
	frac=${frac}000000
	start=$(cts_now_us)
	deadline=$((start + 10#${int:-0} * 1000000 + 10#${frac:0:6}))
	while :; do
		if "$@"; then
			WAIT_ELAPSED=$(fmt_us $(($(cts_now_us) - start)))
			return 0
		fi
		now=$(cts_now_us)
		if ((now >= deadline)); then
			WAIT_ELAPSED=$(fmt_us $((now - start)))
			return 1
		fi
		sleep "${WAIT_INTERVAL:-0.1}"
	done
}

# ------------------------------------------------------------ namespaces

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

nsctl() {
	local ns=$1 kv
	shift
	for kv in "$@"; do
		ip netns exec "$ns" sysctl -qw "$kv" >/dev/null ||
			{ warn "sysctl $kv failed in $ns"; return 1; }
	done
}

ns_add() {
	ip netns add "$1" || return 1
	CTS_NAMESPACES+=("$1")
	ip -n "$1" link set lo up
	# Explicit, not inherited: no DAD delay, no RAs, no reverse-path
	# filtering unless an interface asks for it.
	nsctl "$1" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
}

# veth NAME1 NS1 NAME2 NS2: a veth pair created in place.
veth() {
	ip link add "$1" netns "$2" type veth peer name "$3" netns "$4" || return 1
	ip -n "$2" link set "$1" up && ip -n "$4" link set "$3" up
}

# The firewall policy: strict forwarding, invalid counted, NAT for
# marked client ports 40000-40099 and for the second client address.
fw_ruleset() {
	cat <<'EOF'
table inet ctsync_fw {
	counter invalid { }

	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "out0" tcp sport 40000-40099 ct state new ct mark set 0x2a
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid counter name "invalid" drop
		tcp flags syn / fin,syn,rst,ack ct state new accept
		meta l4proto udp ct state new accept
		meta l4proto { icmp, ipv6-icmp } ct state new accept
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "in0" ct mark 0x2a masquerade
		oifname "in0" ip saddr 198.51.100.11 masquerade
		oifname "in0" ip6 saddr 2001:db8:1::11 masquerade
	}
}
EOF
}

# fw_setup NS N: firewall N (1 or 2), addresses .1+N on both LANs.
fw_setup() {
	local ns=$1 n=$2 h=$(($2 + 1)) ifc
	nsctl "$ns" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.netfilter.nf_conntrack_tcp_loose=0 \
		net.netfilter.nf_conntrack_events=1 || return 1
	for ifc in out0 in0 sync0; do
		nsctl "$ns" "net.ipv4.conf.$ifc.rp_filter=1" || return 1
	done
	ip -n "$ns" addr add "198.51.100.$h/24" dev out0
	ip -n "$ns" addr add "203.0.113.$h/24" dev in0
	ip -n "$ns" addr add "2001:db8:1::$h/64" dev out0 nodad
	ip -n "$ns" addr add "2001:db8:2::$h/64" dev in0 nodad
	ip -n "$ns" addr add "192.0.2.$n/30" dev sync0
	ip -n "$ns" addr add "2001:db8:5::$n/64" dev sync0 nodad
	fw_ruleset | ip netns exec "$ns" nft -f - || { warn "nft failed in $ns"; return 1; }
}

# vip_add NS / vip_del NS: the virtual addresses the hosts route through.
# Hook for failover: keepalived will own these later.
vip_add() {
	ip -n "$1" addr add 198.51.100.1/24 dev out0 &&
	ip -n "$1" addr add 203.0.113.1/24 dev in0 &&
	ip -n "$1" addr add 2001:db8:1::1/64 dev out0 nodad &&
	ip -n "$1" addr add 2001:db8:2::1/64 dev in0 nodad
}
vip_del() {
	ip -n "$1" addr del 198.51.100.1/24 dev out0
	ip -n "$1" addr del 203.0.113.1/24 dev in0
	ip -n "$1" addr del 2001:db8:1::1/64 dev out0
	ip -n "$1" addr del 2001:db8:2::1/64 dev in0
	return 0
}
# vip_move FROM_NS TO_NS: move the VIPs (no GARP yet: the hosts' neighbour
# entries for .1 go stale until they re-resolve).
vip_move() { vip_del "$1"; vip_add "$2"; }

# topo_pair: build the whole topology (see the top of this file).
topo_pair() {
	local ns
	for ns in "$NS_SW" "$NS_CL" "$NS_SV" "$NS_FW1" "$NS_FW2"; do
		ns_add "$ns" || return 1
	done
	# The switch: two bridges, no IPv6 of its own, no bridge netfilter.
	nsctl "$NS_SW" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || return 1
	local k
	for k in iptables ip6tables arptables; do
		if [[ -e /proc/sys/net/bridge/bridge-nf-call-$k ]] ||
		   nsx "$NS_SW" test -e "/proc/sys/net/bridge/bridge-nf-call-$k"; then
			nsctl "$NS_SW" "net.bridge.bridge-nf-call-$k=0" || return 1
		fi
	done
	ip -n "$NS_SW" link add br-out type bridge stp_state 0 mcast_snooping 0 &&
	ip -n "$NS_SW" link add br-in type bridge stp_state 0 mcast_snooping 0 &&
	ip -n "$NS_SW" link set br-out up && ip -n "$NS_SW" link set br-in up || return 1

	veth eth0 "$NS_CL" cl0 "$NS_SW" &&
	veth out0 "$NS_FW1" fw1o "$NS_SW" &&
	veth out0 "$NS_FW2" fw2o "$NS_SW" &&
	veth eth0 "$NS_SV" sv0 "$NS_SW" &&
	veth in0 "$NS_FW1" fw1i "$NS_SW" &&
	veth in0 "$NS_FW2" fw2i "$NS_SW" &&
	veth sync0 "$NS_FW1" sync0 "$NS_FW2" || return 1
	for k in cl0 fw1o fw2o; do ip -n "$NS_SW" link set "$k" master br-out || return 1; done
	for k in sv0 fw1i fw2i; do ip -n "$NS_SW" link set "$k" master br-in || return 1; done

	ip -n "$NS_CL" addr add 198.51.100.10/24 dev eth0 &&
	ip -n "$NS_CL" addr add 198.51.100.11/24 dev eth0 &&
	ip -n "$NS_CL" addr add 2001:db8:1::10/64 dev eth0 nodad &&
	ip -n "$NS_CL" addr add 2001:db8:1::11/64 dev eth0 nodad preferred_lft 0 &&
	ip -n "$NS_CL" route add default via 198.51.100.1 &&
	ip -n "$NS_CL" -6 route add default via 2001:db8:1::1 || return 1
	ip -n "$NS_SV" addr add 203.0.113.10/24 dev eth0 &&
	ip -n "$NS_SV" addr add 2001:db8:2::10/64 dev eth0 nodad &&
	ip -n "$NS_SV" route add default via 203.0.113.1 &&
	ip -n "$NS_SV" -6 route add default via 2001:db8:2::1 || return 1

	fw_setup "$NS_FW1" 1 && fw_setup "$NS_FW2" 2 && vip_add "$NS_FW1" || return 1

	CTS_LOCAL_ADDRS=(192.0.2.1 192.0.2.2 2001:db8:5::1 2001:db8:5::2
		198.51.100.1 198.51.100.2 198.51.100.3 203.0.113.1 203.0.113.2 203.0.113.3
		2001:db8:1::1 2001:db8:1::2 2001:db8:1::3 2001:db8:2::1 2001:db8:2::2 2001:db8:2::3)
}

# topo_check: the paths work (client->server through fw1 on both
# families, the sync link on both).  Creates ICMP conntracks on fw1.
topo_check() {
	local t
	for t in "$NS_CL 203.0.113.10" "$NS_CL 2001:db8:2::10" \
		 "$NS_FW1 192.0.2.2" "$NS_FW1 2001:db8:5::2"; do
		# shellcheck disable=SC2086
		set -- $t
		if ! wait_until 10 nsx "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1; then
			warn "topology: no answer from $2 in ${1##*-}"
			return 1
		fi
	done
}

# ------------------------------------------------------------ background

# start_bg NS OUTFILE CMD...: start CMD in NS in the background, record it
# for cleanup; its pid is in BG_PID.
BG_PID=
start_bg() {
	local ns=$1 out=$2
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 </dev/null &
	BG_PID=$!
	CTS_PIDS+=("$BG_PID")
}

# -------------------------------------------------------------- ctsyncd

# ctsyncd_config FILE NODE(1|2) TRANSPORT(udp|multicast) FAMILY(4|6)
ctsyncd_config() {
	local file=$1 node=$2 transport=$3 family=$4 laddr peer group
	if [[ $family == 6 ]]; then
		laddr=2001:db8:5::$node peer=2001:db8:5::$((3 - node)) group=ff02::3780
	else
		laddr=192.0.2.$node peer=192.0.2.$((3 - node)) group=239.255.37.80
	fi
	{
		echo "node_id: $node"
		echo "sync:"
		echo "  transport: $transport"
		echo "  local: $laddr"
		if [[ $transport == multicast ]]; then
			echo "  group: $group"
			echo "  interface: sync0"
		else
			echo "  peers: [$peer]"
		fi
		echo "  port: 3780"
		echo "  heartbeat_ms: 250"
		echo "kernel:"
		echo "  event_buffer: 64M"
		echo "filter:"
		echo "  ignore_local: true"
		echo "control:"
		echo "  socket: $CTS_TMP/fw$node.sock"
		echo "log:"
		echo "  level: ${CTS_LOG_LEVEL:-info}"
	} >"$file"
}

# start_ctsyncd NAME NS CONFIG [ARGS...]: the daemon in the foreground of
# a background job; log appended to $CTS_TMP/NAME.log.
start_ctsyncd() {
	local name=$1 ns=$2 conf=$3
	shift 3
	CTS_DLOG[$name]=$CTS_TMP/$name.log
	echo "==== start $(date +%T.%N) ====" >>"${CTS_DLOG[$name]}"
	ip netns exec "$ns" "$CTSYNCD" -c "$conf" "$@" >>"${CTS_DLOG[$name]}" 2>&1 </dev/null &
	CTS_DPID[$name]=$!
	CTS_PIDS+=("$!")
}

ctsyncd_alive() { pid_alive "${CTS_DPID[$1]}"; }

# stop_ctsyncd NAME [SIGNAL]: signal, wait (bounded), reap.  Sets
# CTS_EXIT to the exit status (128+n for a signal).  1 if it would not die.
CTS_EXIT=
stop_ctsyncd() {
	local name=$1 sig=${2:-TERM} pid=${CTS_DPID[$1]}
	CTS_EXIT=
	# (stderr off: bash would announce "Killed" for a SIGKILLed job)
	{
		kill "-$sig" "$pid"
		wait_until 10 eval "! pid_alive $pid" || return 1
		CTS_EXIT=0
		wait "$pid" || CTS_EXIT=$?
		: reap-notify
	} 2>/dev/null
	return 0
}

# sanitizer_report NAME: print sanitizer findings in NAME's log; 1 if any.
sanitizer_report() {
	local log=${CTS_DLOG[$1]}
	if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$log"; then
		grep -E -A12 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$log" | head -40
		return 1
	fi
	return 0
}

# cache_count NS SOCKET internal|external: the cache's size from
# `ctctl -j stats` (-1 if the daemon does not answer).
cache_count() {
	ctctl_in "$1" "$2" -j stats 2>/dev/null | jq -e ".cache.$3" 2>/dev/null || echo -1
}

# ctctl_in NS SOCKET ARGS...
ctctl_in() {
	local ns=$1 sock=$2
	shift 2
	ip netns exec "$ns" "$CTCTL" -s "$sock" "$@"
}

# -------------------------------------------------------------- flowsets

# The jq normalisation of a ctctl JSON dump (array of flows): one line per
# flow, sorted.  Keeps identity + replicated state; drops timeout, origin.
#   default:  ... | mark=M state=S status=ASSURED,SEEN_REPLY,SRC_NAT,...
#   --kernel: ... | mark=M state=S assured|- seen_reply|unreplied
#             (what conntrack -L shows, to compare with kernel_flowset)
# shellcheck disable=SC2016  # jq, not shell
CTS_JQ_FLOW='
def num: if type == "number" then .
	elif type == "string" then
		(if test("^0[xX]") then (.[2:] | ascii_downcase | explode
			| reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end)))
		 else tonumber end)
	else 0 end;
def names: ["EXPECTED","SEEN_REPLY","ASSURED","","SRC_NAT","DST_NAT"];
def keep: ["EXPECTED","SEEN_REPLY","ASSURED","SRC_NAT","DST_NAT"];
def statusnames:
	if type == "number" then . % 64 | [ . as $s | range(0;6) | select(. != 3) | select((($s / pow(2;.)) | floor) % 2 == 1) | names[.] ]
	elif type == "array" then map(tostring | ascii_upcase)
	elif type == "string" then
		(if test("^[0-9]+$") then (tonumber | statusnames)
		 else [splits("[|, ]+") | select(length > 0) | ascii_upcase] end)
	elif type == "object" then [to_entries[] | select(.value == true) | .key | ascii_upcase]
	else [] end;
def relevant: map(select(. as $x | keep | index([$x]) != null)) | unique;
def protonums: {"tcp":6,"udp":17,"icmp":1,"icmpv6":58,"ipv6-icmp":58,"sctp":132,"dccp":33,"udplite":136,"gre":47};
(reduce range(0;64) as $i ({}; .["\($i)"] = ($i | statusnames | relevant))) as $stab
| protonums as $pn
| .[]
| (.protonum // $pn[.proto // ""] // .proto) as $p
| (if (.status | type) == "number" then $stab["\(.status % 64)"] else (.status | statusnames | relevant) end) as $st
| (has("type") or $p == 1 or $p == 58) as $icmp
| "\(.family) \($p) zone=\(.zone // 0) src=\(.src) dst=\(.dst) "
  + (if $icmp then "type=\(.type) code=\(.code) id=\(.id)" else "sport=\(.sport) dport=\(.dport)" end)
  + " | src=\(.reply_src) dst=\(.reply_dst) "
  + (if $icmp then "type=\(.reply_type) code=\(.reply_code) id=\(.reply_id)" else "sport=\(.reply_sport) dport=\(.reply_dport)" end)
  + " | mark=\(.mark // 0 | num) state=\(.state // "-" | ascii_upcase)"
  + (if $kernel then
	" " + (if ($st | index(["ASSURED"])) != null then "assured" else "-" end)
	+ " " + (if ($st | index(["SEEN_REPLY"])) != null then "seen_reply" else "unreplied" end)
     else " status=" + ($st | join(",")) end)
'

# json_flowset [--kernel] < dump.json > set.txt
json_flowset() {
	local kernel=false
	[[ ${1-} == --kernel ]] && kernel=true
	jq -r --argjson kernel "$kernel" "$CTS_JQ_FLOW" | sort -u
}

# dump_flowset NS SOCKET internal|external OUT [--kernel]: a daemon's cache
# as a flow set.  Fails if ctctl fails.
dump_flowset() {
	local ns=$1 sock=$2 cache=$3 out=$4 json
	json=$out.json
	ctctl_in "$ns" "$sock" -j dump "$cache" >"$json" 2>"$out.err" || return 1
	json_flowset "${5-}" <"$json" >"$out.tmp" || return 1
	mv "$out.tmp" "$out"
}

# kernel_flowset NS > set.txt: conntrack -L (all families) in the format
# of json_flowset --kernel, without the firewalls' own flows (the daemons
# ignore those: filter.ignore_local): a flow is local when its original
# source or destination or its reply source is a firewall address, a
# link-local or a multicast/broadcast address.  The
# reply destination is not looked at: masquerade puts a firewall address
# there on flows that are forwarded.
kernel_flowset() {
	nsx "$1" conntrack -L -o extended 2>/dev/null |
	awk -v local="${CTS_LOCAL_ADDRS[*]} 127.0.0.1 ::1" '
	BEGIN { n = split(local, a, " "); for (i = 1; i <= n; i++) loc[a[i]] = 1 }
	$1 ~ /^ipv[46]$/ {
		fam = $1; pnum = $4; state = "-"; zone = 0; mark = 0
		assured = "-"; seen = "seen_reply"; o = ""; r = ""; k = 0; skip = 0
		for (i = 5; i <= NF; i++) {
			f = $i
			if (f == "[ASSURED]") assured = "assured"
			else if (f == "[UNREPLIED]") seen = "unreplied"
			else if (i == 6 && f !~ /[=\[]/) state = f
			else if (f ~ /^(src|dst|sport|dport|type|code|id)=/) {
				if (f ~ /^src=/) k++
				if (f ~ /^(src|dst)=/ && (k == 1 || f ~ /^src=/)) {
					v = substr(f, 5)
					if (v in loc || v ~ /^(fe80:|ff[0-9a-f][0-9a-f]:|2(2[4-9]|3[0-9])\.|255\.255\.255\.255$)/)
						skip = 1
				}
				if (k == 1) o = o (o == "" ? "" : " ") f
				else r = r (r == "" ? "" : " ") f
			}
			else if (f ~ /^zone=/) zone = substr(f, 6)
			else if (f ~ /^mark=/) mark = substr(f, 6)
		}
		if (!skip)
			printf "%s %s zone=%s %s | %s | mark=%s state=%s %s %s\n",
				fam, pnum, zone, o, r, mark, state, assured, seen
	}' | sort -u
}

# assert_eq_sets FILE_A FILE_B NAME_A NAME_B: 0 if equal, else a short diff.
assert_eq_sets() {
	local a=$1 b=$2 na=$3 nb=$4
	cmp -s "$a" "$b" && return 0
	echo "sets differ: $na has $(wc -l <"$a"), $nb has $(wc -l <"$b");" \
		"$(comm -23 "$a" "$b" | wc -l) only in $na, $(comm -13 "$a" "$b" | wc -l) only in $nb"
	comm -23 "$a" "$b" | head -n 5 | sed "s|^|  only in $na: |"
	comm -13 "$a" "$b" | head -n 5 | sed "s|^|  only in $nb: |"
	return 1
}
