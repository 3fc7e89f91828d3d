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
	if [[ -n $CTS_CT_MAX_OLD ]]; then
		sysctl -qw "net.netfilter.nf_conntrack_max=$CTS_CT_MAX_OLD" ||
			warn "could not restore net.netfilter.nf_conntrack_max=$CTS_CT_MAX_OLD"
		CTS_CT_MAX_OLD=
	fi
	if [[ -n $CTS_TMP && -d $CTS_TMP ]]; then
		if [[ $CTS_KEEP == 1 ]]; then
			echo "kept $CTS_TMP"
		else
			rm -rf "$CTS_TMP"
		fi
	fi
	return "$rc"
}

# ct_max_at_least N: raise the global net.netfilter.nf_conntrack_max (root
# namespace only; every namespace shares it) to N if lower; cts_cleanup
# puts the old value back.
CTS_CT_MAX_OLD=
ct_max_at_least() {
	local cur
	cur=$(sysctl -n net.netfilter.nf_conntrack_max) || return 1
	((cur >= $1)) && return 0
	[[ -n $CTS_CT_MAX_OLD ]] || CTS_CT_MAX_OLD=$cur
	sysctl -qw "net.netfilter.nf_conntrack_max=$1"
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

# ctsyncd_config FILE NODE(1|2) TRANSPORT(udp|multicast) FAMILY(4|6) [KEY=VALUE...]
# KEYs: key_file (sync.key_file, default: none), encrypt (sync.encrypt,
# default: not set).
ctsyncd_config() {
	local file=$1 node=$2 transport=$3 family=$4 laddr peer group kv
	local key_file='' encrypt=''
	shift 4
	for kv in "$@"; do
		case ${kv%%=*} in
		key_file) key_file=${kv#*=} ;;
		encrypt) encrypt=${kv#*=} ;;
		*) warn "ctsyncd_config: unknown key '$kv'"; return 1 ;;
		esac
	done
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
		[[ -n $key_file ]] && echo "  key_file: $key_file"
		[[ -n $encrypt ]] && echo "  encrypt: $encrypt"
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

# key_line ID: a new key file line "ID HEX" (ctsyncd --genkey ID).
key_line() { "$CTSYNCD" --genkey "$1"; }

# key_file_write PATH LINE...: PATH holds these lines (keys, comments),
# mode 0600, replaced in one rename so a daemon never reads half of it.
key_file_write() {
	local path=$1
	shift
	( umask 077 && printf '%s\n' "$@" >"$path.tmp" ) &&
		chmod 0600 "$path.tmp" && mv -f "$path.tmp" "$path"
}

# key_file_new NAME ID...: a key file $CTS_TMP/NAME (mode 0600) with a new
# key for each ID, the first one the sealing key; prints its path.
key_file_new() {
	local path=$CTS_TMP/$1 id line lines=()
	shift
	for id in "$@"; do
		if ! line=$(key_line "$id") || [[ $line != "$id "* ]]; then
			warn "ctsyncd --genkey $id failed"
			return 1
		fi
		lines+=("$line")
	done
	key_file_write "$path" "${lines[@]}" && echo "$path"
}

# ctsyncd_check N: `ctsyncd -n` accepts $CTS_TMP/fwN.yaml (and the key
# file it names) in fwN's namespace, or die.
ctsyncd_check() {
	local out
	out=$(nsx "$CTS_P-fw$1" "$CTSYNCD" -c "$CTS_TMP/fw$1.yaml" -n 2>&1)
	[[ $out == *"configuration OK"* ]] || die "ctsyncd -n on fw$1's config: $out"
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

# ------------------------------------------------------- fault injection
#
# Used by test_faults.sh; nothing above depends on them.

# ctsyncd_config_at FILE NODE LOCAL PEER [KEY=VALUE...]: a unicast config
# like ctsyncd_config's, for any local/peer pair (a relay in between, say).
# KEYs: event_buffer (default 64M), max_entries (default: none),
# heartbeat_ms (default 250), peer_timeout_ms (default: the daemon's),
# key_file (sync.key_file, default: none), encrypt (sync.encrypt, default:
# not set).
ctsyncd_config_at() {
	local file=$1 node=$2 laddr=$3 peer=$4 kv
	local event_buffer=64M max_entries='' heartbeat_ms=250 peer_timeout_ms=''
	local key_file='' encrypt=''
	shift 4
	for kv in "$@"; do
		case ${kv%%=*} in
		event_buffer) event_buffer=${kv#*=} ;;
		max_entries) max_entries=${kv#*=} ;;
		heartbeat_ms) heartbeat_ms=${kv#*=} ;;
		peer_timeout_ms) peer_timeout_ms=${kv#*=} ;;
		key_file) key_file=${kv#*=} ;;
		encrypt) encrypt=${kv#*=} ;;
		*) warn "ctsyncd_config_at: unknown key '$kv'"; return 1 ;;
		esac
	done
	[[ $peer == *:*:* ]] && peer="\"$peer\""	# IPv6: YAML flow list
	{
		echo "node_id: $node"
		echo "sync:"
		echo "  transport: udp"
		echo "  local: $laddr"
		echo "  peers: [$peer]"
		echo "  port: 3780"
		echo "  heartbeat_ms: $heartbeat_ms"
		[[ -n $peer_timeout_ms ]] && echo "  peer_timeout_ms: $peer_timeout_ms"
		[[ -n $key_file ]] && echo "  key_file: $key_file"
		[[ -n $encrypt ]] && echo "  encrypt: $encrypt"
		echo "kernel:"
		echo "  event_buffer: $event_buffer"
		echo "filter:"
		echo "  ignore_local: true"
		if [[ -n $max_entries ]]; then
			echo "cache:"
			echo "  max_entries: $max_entries"
		fi
		echo "control:"
		echo "  socket: $CTS_TMP/fw$node.sock"
		echo "log:"
		echo "  level: ${CTS_LOG_LEVEL:-info}"
	} >"$file"
}

# topo_relay: after topo_pair, put a relay namespace ("<prefix>-rl", in
# NS_RL) in the sync path instead of the direct link:
#
#   fw1 sync0 192.0.2.1/30 -- r1 192.0.2.2/30 [rl] r2 192.0.2.5/30 -- fw2 sync0 192.0.2.6/30
#
# No forwarding in the relay namespace: only a relay process there joins
# the two sides.  fw1's peer is 192.0.2.2, fw2's is 192.0.2.5.
NS_RL=
topo_relay() {
	NS_RL=$CTS_P-rl
	ns_add "$NS_RL" || return 1
	nsctl "$NS_RL" net.ipv4.ip_forward=0 || return 1
	ip -n "$NS_FW1" link del sync0 || return 1	# both ends go
	veth sync0 "$NS_FW1" r1 "$NS_RL" &&
	veth sync0 "$NS_FW2" r2 "$NS_RL" || return 1
	nsctl "$NS_FW1" net.ipv4.conf.sync0.rp_filter=1 &&
	nsctl "$NS_FW2" net.ipv4.conf.sync0.rp_filter=1 || return 1
	ip -n "$NS_FW1" addr add 192.0.2.1/30 dev sync0 &&
	ip -n "$NS_RL" addr add 192.0.2.2/30 dev r1 &&
	ip -n "$NS_RL" addr add 192.0.2.5/30 dev r2 &&
	ip -n "$NS_FW2" addr add 192.0.2.6/30 dev sync0 || return 1
	CTS_LOCAL_ADDRS+=(192.0.2.5 192.0.2.6)
}

# sync_loss NS PCT [PORT]: drop PCT % of the sync datagrams (UDP to PORT,
# default 3780) that enter or leave NS through sync0, each at random
# (nftables numgen: no netem here).  Counted; sync_loss_counts shows them.
sync_loss() {
	local ns=$1 pct=$2 port=${3:-3780}
	ip netns exec "$ns" nft -f - <<EOT
table inet ctsync_loss {
	counter dropped_in { }
	counter dropped_out { }
	chain input {
		type filter hook input priority -300; policy accept;
		iifname "sync0" meta l4proto udp udp dport $port numgen random mod 100 < $pct counter name "dropped_in" drop
	}
	chain output {
		type filter hook output priority -300; policy accept;
		oifname "sync0" meta l4proto udp udp dport $port numgen random mod 100 < $pct counter name "dropped_out" drop
	}
}
EOT
}

# sync_loss_counts NS: "in N out M" datagrams dropped so far.
sync_loss_counts() {
	ip netns exec "$1" nft -j list counters table inet ctsync_loss 2>/dev/null |
		jq -r '[.nftables[] | select(.counter) | .counter | "\(.name | sub("dropped_"; "")) \(.packets)"] | join(" ")'
}

sync_loss_off() { ip netns exec "$1" nft delete table inet ctsync_loss; }

# stat_of NS SOCKET JQ: one value from `ctctl -j stats` (empty if the
# daemon does not answer).
stat_of() {
	ctctl_in "$1" "$2" -j stats 2>/dev/null | jq -r "$3" 2>/dev/null
}

# ------------------------------------------------------------- failover
#
# Used by test_failover.sh (keepalived in the topology); nothing above
# depends on them.  After topo_pair, topo_failover takes the fixed VIPs off
# fw1 (keepalived owns 198.51.100.1 and 203.0.113.1 from then on) and adds
# what failover needs:
#   client 198.51.100.12  SNATed to the inside VIP 203.0.113.1 (not to a
#                         firewall's own address, which dies with it);
#   client ephemeral ports 41000-60999, clear of the marked 40000-40099
#                         that lib.sh masquerades to fw1's own address;
#   on both firewalls an input policy (drop by default, invalid counted
#                         as "invalid_in"), so a packet for a VIP that
#                         arrives before its conntrack entry is dropped
#                         rather than answered with a RST by the local
#                         TCP stack.
CTS_VIP4_OUT=198.51.100.1
CTS_VIP4_IN=203.0.113.1
CTS_NAT_SRC=198.51.100.12

topo_failover() {
	local ns
	vip_del "$NS_FW1" || return 1
	ip -n "$NS_CL" addr add "$CTS_NAT_SRC/24" dev eth0 || return 1
	nsctl "$NS_CL" "net.ipv4.ip_local_port_range=41000 60999" || return 1
	for ns in "$NS_FW1" "$NS_FW2"; do
		fw_snat_vip "$ns" && fw_input_policy "$ns" || return 1
	done
}

# fw_snat_vip NS: connections from $CTS_NAT_SRC leave in0 with the inside
# VIP as their source, so the translation is valid on either firewall.
fw_snat_vip() {
	ip netns exec "$1" nft add rule inet ctsync_fw postrouting \
		oifname '"in0"' ip saddr "$CTS_NAT_SRC" snat ip to "$CTS_VIP4_IN"
}

# fw_input_policy NS: what may reach the firewall itself.
fw_input_policy() {
	ip netns exec "$1" nft -f - <<'EOT'
table inet ctsync_input {
	counter invalid_in { }
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		iifname "sync0" accept
		ct state established,related accept
		ct state invalid counter name "invalid_in" drop
		meta l4proto vrrp accept
		meta l4proto { icmp, ipv6-icmp } accept
	}
	# every packet conntrack finds invalid is traced: start_invalid_trace
	chain trace_invalid {
		type filter hook prerouting priority 0; policy accept;
		ct state invalid meta nftrace set 1
	}
}
EOT
}

# start_invalid_trace NAME NS: `nft monitor trace` in NS, time-stamped into
# $CTS_TMP/NAME.trace: one "packet:" line (headers) per invalid packet, plus
# the rules it met.  invalid_packets FILE FROM_S summarises it.
start_invalid_trace() {
	ip netns exec "$2" nft monitor trace > >(ts_log "$CTS_TMP/$1.trace") 2>&1 </dev/null &
	CTS_PIDS+=("$!")
}

# invalid_packets TRACE FROM_S [TO_S]: the invalid packets traced from FROM_S
# (seconds since cts_init, as in the time stamps) on, one line each:
# "TIME iif IIF SRC:SPORT > DST:DPORT PROTO flags FLAGS".
invalid_packets() {
	awk -v from="$2" -v to="${3:-1e9}" '
	/ trace_invalid packet: / {
		t = $0; sub(/^\[ */, "", t); sub(/s\].*/, "", t)
		if (t + 0 < from + 0 || t + 0 > to + 0) next
		iif = src = dst = sp = dp = pr = fl = "-"
		for (i = 1; i < NF; i++) {
			if ($i == "iif") iif = $(i + 1)
			else if ($i == "saddr" && ($(i - 1) == "ip" || $(i - 1) == "ip6")) src = $(i + 1)
			else if ($i == "daddr" && ($(i - 1) == "ip" || $(i - 1) == "ip6")) dst = $(i + 1)
			else if ($i == "protocol" || $i == "nexthdr") pr = $(i + 1)
			else if ($i == "sport") sp = $(i + 1)
			else if ($i == "dport") dp = $(i + 1)
		}
		for (i = 1; i < NF - 1; i++)
			if ($i == "tcp" && $(i + 1) == "flags") {
				fl = ""
				for (j = i + 3; j <= NF && $j != "tcp"; j++) fl = fl (fl == "" ? "" : " ") $j
			}
		gsub(/"/, "", iif)
		printf "%s iif %s %s:%s > %s:%s %s flags %s\n", t, iif, src, sp, dst, dp, pr, fl
	}' "$1" 2>/dev/null
}

# fw_invalid NS: "FORWARD INPUT", the packets dropped so far as ct state
# invalid (the forward chain's counter "invalid" of lib.sh's ruleset, the
# input chain's "invalid_in").  "? ?" if unreadable.
fw_invalid() {
	ip netns exec "$1" nft -j list counters 2>/dev/null | jq -r '
		[.nftables[] | .counter? | select(. != null)] as $c
		| "\($c | map(select(.table == "ctsync_fw" and .name == "invalid"))[0].packets // "?")"
		+ " \($c | map(select(.table == "ctsync_input" and .name == "invalid_in"))[0].packets // "?")"' 2>/dev/null ||
		echo "? ?"
}

# fw_blackhole NS / fw_blackhole_off NS: the firewall's ports stop passing
# frames both ways (a node that died with its links up: no ARP answers, no
# forwarding, no VRRP, no sync).
fw_blackhole() {
	ip netns exec "$1" nft -f - <<'EOT'
table netdev ctsync_dead {
	chain ingress {
		type filter hook ingress devices = { "out0", "in0", "sync0" } priority -500; policy drop;
	}
	chain egress {
		type filter hook egress devices = { "out0", "in0", "sync0" } priority -500; policy drop;
	}
}
EOT
}
fw_blackhole_off() { ip netns exec "$1" nft delete table netdev ctsync_dead; }

# has_vips NS: NS holds both IPv4 VIPs.  no_vips NS: it holds neither.
has_vips() {
	local a
	a=$(ip -n "$1" -4 -o addr show 2>/dev/null)
	[[ $a == *" $CTS_VIP4_OUT/"* && $a == *" $CTS_VIP4_IN/"* ]]
}
no_vips() {
	local a
	a=$(ip -n "$1" -4 -o addr show 2>/dev/null)
	[[ $a != *" $CTS_VIP4_OUT/"* && $a != *" $CTS_VIP4_IN/"* ]]
}

# ts_log FILE: copy standard input to FILE, each line prefixed with the
# time since cts_init ("[   12.345s]"), as it arrives.
ts_log() {
	local line t
	while IFS= read -r line; do
		t=${EPOCHREALTIME//[!0-9]/}
		t=$((10#$t - CTS_T0))
		printf '[%4d.%03ds] %s\n' "$((t / 1000000))" "$((t % 1000000 / 1000))" "$line"
	done >>"$1"
}

# start_ctsyncd_ts NAME NS CONFIG [ARGS...]: start_ctsyncd with time-stamped
# log lines ($CTS_TMP/NAME.log).
start_ctsyncd_ts() {
	local name=$1 ns=$2 conf=$3
	shift 3
	CTS_DLOG[$name]=$CTS_TMP/$name.log
	echo "==== start $(date +%T.%N) ====" >>"${CTS_DLOG[$name]}"
	ip netns exec "$ns" "$CTSYNCD" -c "$conf" "$@" > >(ts_log "${CTS_DLOG[$name]}") 2>&1 </dev/null &
	CTS_DPID[$name]=$!
	CTS_PIDS+=("$!")
}

# ctsyncd_failover_config FILE NODE(1|2): ctsyncd_config (udp, IPv4 sync
# link) plus the addresses `ctctl master` announces and no multicast flows;
# failover.standby from CTS_STANDBY (default hot).
ctsyncd_failover_config() {
	local file=$1 node=$2
	{
		echo "node_id: $node"
		echo "sync:"
		echo "  local: 192.0.2.$node"
		echo "  peers: [192.0.2.$((3 - node))]"
		echo "  port: 3780"
		echo "  heartbeat_ms: 250"
		echo "kernel:"
		echo "  event_buffer: 64M"
		echo "filter:"
		echo "  ignore_local: true"
		echo "  ignore: [224.0.0.0/4]"
		echo "control:"
		echo "  socket: $CTS_TMP/fw$node.sock"
		echo "failover:"
		echo "  announce: [\"out0 $CTS_VIP4_OUT\", \"in0 $CTS_VIP4_IN\"]"
		echo "  standby: ${CTS_STANDBY:-hot}"
		echo "log:"
		echo "  level: ${CTS_LOG_LEVEL:-info}"
	} >"$file"
}

# ------------------------------------------------------------ conntrackd
#
# conntrackd (Debian's, the reference peer) configured as its documentation
# recommends for a table of N flows: FTFW over UDP on sync0 (192.0.2.N),
# external cache, netlink buffer and resend queue sized for N (cd_sizing;
# CD_TUNING=example keeps the sizes of Debian's example instead).

pow2_at_least() { local p=1; while ((p < $1)); do p=$((p * 2)); done; echo "$p"; }

# The conntrackd settings for N, also printed in the report.
CD_HASHSIZE=0 CD_HASHLIMIT=0 CD_RSQ=0 CD_NLBUF=0 CD_NLMAX=0 CD_SOCKBUF=0
cd_sizing() {
	local n=$1 mib=$((1024 * 1024))
	if [[ ${CD_TUNING:-sized} == example ]]; then
		CD_HASHSIZE=32768 CD_HASHLIMIT=131072 CD_RSQ=131072
		CD_NLBUF=2097152 CD_NLMAX=8388608 CD_SOCKBUF=1249280
		return
	fi
	CD_HASHSIZE=$(pow2_at_least "$n")
	((CD_HASHSIZE < 32768)) && CD_HASHSIZE=32768
	CD_HASHLIMIT=$((2 * n > 131072 ? 2 * n : 131072))
	CD_RSQ=$((n > 131072 ? n : 131072))
	# ~1.3 KB of receive buffer per queued NEW event (NAMESPACE-NOTES):
	# room for the whole burst, 64 MiB at least, 1 GiB at most.
	CD_NLBUF=$((n * 1536))
	((CD_NLBUF < 64 * mib)) && CD_NLBUF=$((64 * mib))
	((CD_NLBUF > 1024 * mib)) && CD_NLBUF=$((1024 * mib))
	CD_NLMAX=$((2 * CD_NLBUF > 1024 * mib ? 1024 * mib : 2 * CD_NLBUF))
	CD_SOCKBUF=$((8 * mib))		# = ctsyncd's default sndbuf/rcvbuf
}

conntrackd_conf() {
	local file=$1 node=$2 dir=$3 a ignore=""
	shift 3
	for a in "$@"; do
		[[ $a == *:* ]] && ignore+=$'\t\t\tIPv6_address '"$a"$'\n' ||
			ignore+=$'\t\t\tIPv4_address '"$a"$'\n'
	done
	cat >"$file" <<EOF
Sync {
	Mode FTFW {
		ResendQueueSize $CD_RSQ
		DisableExternalCache no
	}
	UDP {
		IPv4_address 192.0.2.$node
		IPv4_Destination_Address 192.0.2.$((3 - node))
		Port 3780
		Interface sync0
		SndSocketBuffer $CD_SOCKBUF
		RcvSocketBuffer $CD_SOCKBUF
		Checksum on
	}
}
General {
	HashSize $CD_HASHSIZE
	HashLimit $CD_HASHLIMIT
	LogFile $dir/conntrackd$node.log
	Syslog off
	LockFile $dir/conntrackd$node.lock
	UNIX {
		Path $dir/conntrackd$node.ctl
	}
	NetlinkBufferSize $CD_NLBUF
	NetlinkBufferSizeMaxGrowth $CD_NLMAX
	Filter From Kernelspace {
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv6_address ::1
			IPv4_address 192.0.2.1
			IPv4_address 192.0.2.2
${ignore%$'\n'}
		}
	}
}
EOF
}

# conntrackd_pair DIR N NS1 NS2: a conntrackd pair sized for N (fw2's
# first), configs, sockets and logs in DIR.  Sets CONF1 CONF2 SOCK1 SOCK2
# PID1 PID2.
conntrackd_pair() {
	local dir=$1 n=$2 i
	cd_sizing "$n"
	for i in 1 2; do conntrackd_conf "$dir/conntrackd$i.conf" "$i" "$dir"; done
	CONF1=$dir/conntrackd1.conf CONF2=$dir/conntrackd2.conf
	SOCK1=$dir/conntrackd1.ctl SOCK2=$dir/conntrackd2.ctl
	start_bg "$4" "$dir/conntrackd2.out" conntrackd -C "$CONF2"; PID2=$BG_PID
	start_bg "$3" "$dir/conntrackd1.out" conntrackd -C "$CONF1"; PID1=$BG_PID
}

# keepalived_setup_bin: a root-owned 0755 directory, $CTS_TMP/ka-bin, with
# copies of scripts/ctsync-keepalived and ctctl (keepalived's script
# security refuses scripts in, or under, directories others may write).
CTS_KA_BIN=
keepalived_setup_bin() {
	CTS_KA_BIN=$CTS_TMP/ka-bin
	install -d -m 0755 -o root -g root "$CTS_KA_BIN" &&
	install -m 0755 -o root -g root "$CTS_ROOT/scripts/ctsync-keepalived" "$CTS_KA_BIN/" &&
	install -m 0755 -o root -g root "$CTCTL" "$CTS_KA_BIN/ctctl"
}

# keepalived_config FILE NODE(1|2) PRIORITY [ADVERT_INT]: conf/keepalived.conf
# for the namespace topology: one vrrp_sync_group "fw" for both LANs,
# VRRPv3, both BACKUP with nopreempt, `ctctl ready` tracked, transitions
# through the notify FIFO to ctsync-keepalived -> ctctl master|backup.
keepalived_config() {
	local file=$1 node=$2 prio=$3 adv=${4:-0.1} sock=$CTS_TMP/fw$2.sock
	cat >"$file" <<EOF
global_defs {
	router_id ${CTS_P}-fw$node
	enable_script_security
	script_user root
	notify_fifo $CTS_TMP/ka-fw$node.fifo
	notify_fifo_script "$CTS_KA_BIN/ctsync-keepalived -o group -s $sock -c $CTS_KA_BIN/ctctl"
	# sub-second adverts on a loaded machine: the VRRP process runs
	# SCHED_RR, as advised for production, so a busy CPU does not make
	# the backup miss three adverts and take over spuriously
	vrrp_rt_priority 50
}

vrrp_script ctsync_ready {
	script "$CTS_KA_BIN/ctctl -s $sock ready"
	interval 1
	fall 1
	rise 1
	weight -100
}

vrrp_sync_group fw {
	group {
		outside
		inside
	}
	# without it keepalived ignores a weighted track_script in a sync
	# group ("ignoring tracked script ... with weights due to SYNC group")
	sync_group_tracking_weight
}

vrrp_instance outside {
	state BACKUP
	nopreempt
	interface out0
	virtual_router_id 51
	priority $prio
	version 3
	advert_int $adv
	virtual_ipaddress {
		$CTS_VIP4_OUT/24 dev out0
	}
	track_script {
		ctsync_ready
	}
}

vrrp_instance inside {
	state BACKUP
	nopreempt
	interface in0
	virtual_router_id 52
	priority $prio
	version 3
	advert_int $adv
	virtual_ipaddress {
		$CTS_VIP4_IN/24 dev in0
	}
	track_script {
		ctsync_ready
	}
}
EOF
}

# start_keepalived NAME NS CONFIG: keepalived in the foreground of a
# background job with its own pid files, VRRP only, log time-stamped in
# $CTS_TMP/NAME.log.  Its pid is CTS_DPID[NAME].
start_keepalived() {
	local name=$1 ns=$2 conf=$3
	CTS_DLOG[$name]=$CTS_TMP/$name.log
	echo "==== start $(date +%T.%N) ====" >>"${CTS_DLOG[$name]}"
	ip netns exec "$ns" "${KEEPALIVED:-keepalived}" -f "$conf" --vrrp \
		-p "$CTS_TMP/$name.pid" -r "$CTS_TMP/$name.vrrp.pid" -c "$CTS_TMP/$name.check.pid" \
		--dont-fork --log-console --log-detail --no-syslog \
		> >(ts_log "${CTS_DLOG[$name]}") 2>&1 </dev/null &
	CTS_DPID[$name]=$!
	CTS_PIDS+=("$!")
}

# proc_tree PID: PID and its descendants, one per line.
proc_tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			n = 1; q[1] = root
			for (i = 1; i <= n; i++) {
				print q[i]
				m = split(kids[q[i]], k, " ")
				for (j = 1; j <= m; j++) q[++n] = k[j]
			}
		}'
}

# stop_keepalived NAME TERM|KILL: TERM: a clean stop (keepalived sends
# priority-0 adverts and drops its addresses).  KILL: the whole process
# tree (parent, VRRP child, notify FIFO reader) at once, like a crash.
# Waits (bounded) for every one of them; 1 if some remain.
stop_keepalived() {
	local name=$1 sig=$2 pids
	mapfile -t pids < <(proc_tree "${CTS_DPID[$name]}")
	{
		if [[ $sig == KILL ]]; then
			kill -KILL "${pids[@]}"
		else
			kill "-$sig" "${CTS_DPID[$name]}"
		fi
		wait_until 10 pids_gone "${pids[@]}" || kill -KILL "${pids[@]}"
		wait "${CTS_DPID[$name]}"
		: reap-notify
	} 2>/dev/null
	wait_until 5 pids_gone "${pids[@]}"
}

# need_bins VAR...: each named variable must name an executable; if one
# does not, the test is skipped (exit 77), not failed.
need_bins() {
	local b
	for b in "$@"; do
		if [[ ! -x ${!b} ]]; then
			warn "SKIP: $b not built (${!b}); build first or set $b"
			exit 77
		fi
	done
}

# fail MSG: a failed check; the test goes on where later steps still make
# sense.  die MSG: a failed step later steps depend on: the test's own
# summary() runs, then it exits 1.
FAILED=()
fail() { echo "FAIL: $*"; FAILED+=("$*"); }
die() {
	fail "$@"
	summary
	exit 1
}

# report_failed: the last lines of a test's summary: what failed, or that
# every check passed.
report_failed() {
	local f
	if ((${#FAILED[@]})); then
		echo "== ${#FAILED[@]} check(s) failed:"
		for f in "${FAILED[@]}"; do echo "   - $f"; done
	else
		echo "== all checks passed"
	fi
}

# stop_clean NAME [CONTEXT]: NAME's ctsyncd is still running, exits with
# status 0 within 10 s of SIGTERM, and left no sanitizer report; each miss
# is a fail (prefixed with CONTEXT when given).
stop_clean() {
	local n=$1 pre=${2:+$2: }
	if ! ctsyncd_alive "$n"; then
		fail "${pre}ctsyncd on $n is not running at the end"
	elif ! stop_ctsyncd "$n" TERM; then
		fail "${pre}ctsyncd on $n did not exit within 10 s of SIGTERM"
	elif ((CTS_EXIT != 0)); then
		fail "${pre}ctsyncd on $n exited with status $CTS_EXIT on SIGTERM"
	fi
	sanitizer_report "$n" || fail "${pre}sanitizer report in $n's log"
}
