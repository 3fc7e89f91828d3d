#!/usr/bin/env bash
#
# tests/bench/bench.sh [-n N,...] [--quick] [-o FILE] - ctsyncd and
# conntrackd side by side, same workload, same machine, one run.
#
#   -n N,...   flow counts for the burst runs (default 10000,100000,1000000)
#   --quick    N=10000 only and a shorter steady-rate run (CI smoke, < 60 s)
#   -o FILE    also write the report (Markdown) to FILE
#   -h         this help
#
# For each daemon a fresh pair of network namespaces fw1 and fw2 joined by
# a veth sync link (192.0.2.1/30 - .2), conntrack on (an nftables `ct`
# rule), nf_conntrack_events=1.  Each burst run (one per daemon and N):
#   1. the daemons start (backup fw2 first), idle RSS/CPU/link counters;
#   2. burst: ctgen creates N entries on fw1 at full speed; fw2's cache is
#      sampled every 5 ms until it holds N (or a settle deadline passes);
#   3. once the sync link is quiet: RSS, CPU time and sync-link bytes (tx
#      of both veth ends) against step 1;
#   4. ceiling: ctgen creates N entries in a third, fresh namespace under
#      the commit's conditions (listeners up, fw1's N entries in the
#      host-wide hash); the no-listener rate is measured once at the start;
#   5. commit of fw2's external cache into fw2's kernel, timed until the
#      kernel holds the entries.
# And once per daemon, in its own fresh pair: a steady rate (50,000
# creates/s for 4 s in batches of 500, paced), fw2 sampled every 0.25 ms, and
# the lag read off the two count curves at equal counts.
#
# ctsyncd runs with its default configuration (addresses and control
# socket only); conntrackd with FTFW over unicast UDP, sized for N (the
# report lists the settings).  Needs root; everything it makes carries a
# per-run prefix and is removed on exit; nf_conntrack_max is raised from
# the root namespace when N needs it and restored on exit.
#
# Environment: CTS_BUILD (default build-bench/, set up if missing and
# brought up to date with ninja),
# BENCH_SETTLE_S (30), BENCH_LAG_RATE (50000), BENCH_LAG_SECS (4),
# BENCH_LAG_BATCH (500), BENCH_LAG_SAMPLE_MS (0.25), BENCH_CONNTRACKD_TUNING=example (conntrackd with
# the sizes of its example configuration instead), BENCH_WAIT_QUIET
# (seconds to wait for other tests' namespaces to go before starting),
# BENCH_DAEMONS (default "ctsyncd conntrackd"), BENCH_ONLY=lag|burst,
# BENCH_AUTH=auth|encrypt (ctsyncd's pair with a sync key file, and with
# encryption: what authenticated sync costs, beside conntrackd's figures),
# BENCH_SYNC="key: value; ..." (more of ctsyncd's sync settings, e.g.
# "ack_ms: 5" to compare with a setting's default),
# BENCH_SET="section.key: value; ..." (any of ctsyncd's settings, e.g.
# "kernel.collect_us: 0"),
# BENCH_LOSS=PCT (1-99: in each burst pair, once it is up, nftables on
# fw1 drops PCT % of the UDP datagrams leaving its sync0 for port 3780,
# at random (numgen), for ctsyncd's and conntrackd's pair alike; the
# report adds the bytes of each direction; the ceiling and commit phases,
# which do not use the link, are skipped; BENCH_SETTLE_S defaults to 60),
# BENCH_STANDBY=hot (ctsyncd's receiver a hot standby: it writes every
# flow into its own kernel as it arrives; what that costs the backup.
# Both nodes start as backups, as neither holds the announced address),
# CTS_KEEP=1 (keep the temp dir with logs and samples).
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
export CTS_BUILD=${CTS_BUILD:-$ROOT/build-bench}
export CTS_PREFIX=${CTS_PREFIX:-ctb$$}

NLIST=10000,100000,1000000
QUICK=0
OUT=
ARGS_SEEN="$*"
while (($#)); do
	case $1 in
	-n) [[ $# -ge 2 ]] || { echo "bench.sh: -n needs a list" >&2; exit 2; }
	    NLIST=$2; shift ;;
	-n*) NLIST=${1#-n} ;;
	--quick) QUICK=1 ;;
	-o) [[ $# -ge 2 ]] || { echo "bench.sh: -o needs a file" >&2; exit 2; }
	    OUT=$2; shift ;;
	-h | --help) sed -n '3,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done
((QUICK)) && NLIST=10000
NS_LIST=()
IFS=, read -r -a NS_LIST <<<"$NLIST"
for n in "${NS_LIST[@]}"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] && ((n <= 4000000)) ||
		{ echo "bench.sh: bad N '$n' (1..4000000)" >&2; exit 2; }
done
[[ -n $OUT ]] && OUT=$(realpath -m "$OUT")

LOSS=${BENCH_LOSS:-}
if [[ -n $LOSS ]]; then
	[[ $LOSS =~ ^[1-9][0-9]?$ ]] || { echo "bench.sh: BENCH_LOSS is 1..99, not '$LOSS'" >&2; exit 2; }
fi
SETTLE_S=${BENCH_SETTLE_S:-$([[ -n $LOSS ]] && echo 60 || echo 30)}
LAG_RATE=${BENCH_LAG_RATE:-50000}
LAG_SECS=${BENCH_LAG_SECS:-4}
((QUICK)) && LAG_SECS=${BENCH_LAG_SECS:-2}
LAG_BATCH=${BENCH_LAG_BATCH:-500}
CD_TUNING=${BENCH_CONNTRACKD_TUNING:-sized}
AUTH=${BENCH_AUTH:-}
case $AUTH in
'') AUTH_NOTE= ;;
auth) AUTH_NOTE=" plus a sync key file (authenticated)" ;;
encrypt) AUTH_NOTE=" plus a sync key file and encryption" ;;
*) echo "bench.sh: BENCH_AUTH is auth or encrypt, not '$AUTH'" >&2; exit 2 ;;
esac
BURST_SAMPLE_MS=5
LAG_SAMPLE_MS=${BENCH_LAG_SAMPLE_MS:-0.25}
DAEMONS=()
read -r -a DAEMONS <<<"${BENCH_DAEMONS:-ctsyncd conntrackd}"
for d in "${DAEMONS[@]}"; do
	[[ $d == ctsyncd || $d == conntrackd ]] || { echo "bench.sh: BENCH_DAEMONS: '$d'?" >&2; exit 2; }
done

# shellcheck source=../netns/lib.sh
. "$ROOT/tests/netns/lib.sh"

# ------------------------------------------------------------------ setup

cts_init bench || exit $?
for tool in conntrackd perl getconf; do
	command -v "$tool" >/dev/null 2>&1 || { warn "SKIP: '$tool' not found"; exit 77; }
done

OLD_CT_MAX=
bench_cleanup() {
	local rc=$?
	if [[ -n $OLD_CT_MAX ]]; then
		sysctl -qw "net.netfilter.nf_conntrack_max=$OLD_CT_MAX" ||
			warn "could not restore nf_conntrack_max=$OLD_CT_MAX"
	fi
	(exit "$rc")
	cts_cleanup
}
trap bench_cleanup EXIT

# Build (or bring up to date) the release tree.  If the tree does not
# build right now (work in progress), go on with the binaries there are.
BUILD_NOTE=
if [[ ! -d $CTS_BUILD ]]; then
	say "setting up $CTS_BUILD (release, no sanitizers)"
	(cd "$ROOT" && meson setup "$CTS_BUILD" --buildtype=release -Db_sanitize=none) \
		>"$CTS_TMP/build.log" 2>&1 || { tail -20 "$CTS_TMP/build.log"; exit 1; }
fi
if ! ninja -C "$CTS_BUILD" >>"$CTS_TMP/build.log" 2>&1; then
	if [[ ! -x $CTSYNCD || ! -x $CTCTL || ! -x $CTGEN ]]; then
		tail -20 "$CTS_TMP/build.log"
		exit 1
	fi
	BUILD_NOTE=" (the tree did not build: binaries from an earlier build)"
	warn "warning: ninja -C $CTS_BUILD failed; using the binaries already there"
fi
BUILDTYPE=$(jq -r '.[] | select(.name == "buildtype") | .value' \
	"$CTS_BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || echo "?")
SANITIZE=$(jq -r '.[] | select(.name == "b_sanitize") | .value' \
	"$CTS_BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || echo "?")
[[ $SANITIZE == none || $SANITIZE == '?' ]] ||
	warn "warning: $CTS_BUILD is built with -Db_sanitize=$SANITIZE: figures are not meaningful"

CLK_TCK=$(getconf CLK_TCK)
HELPER=$CTS_TMP/bench-helper.pl

# The Perl helper: samplers that keep one cheap query loop running (a
# process per sample would cost more than what it measures), and the
# arithmetic of the lag and replication curves.
cat >"$HELPER" <<'PERL'
use strict;
use warnings;
use Socket;
use IO::Handle;
use Time::HiRes qw(time usleep);

# ctsyncd: include/ctsync/ctl.h, native byte order frames u32 len, u16
# type, u16 flags; STATUS = 1, KV = 100, DONE = 199; KV body u8 vtype,
# u8 section_len, u8 key_len, u8 0, section, key, value (u64 when vtype 1).
my $ctl;
sub readn {
	my ($fh, $n) = @_;
	my $buf = '';
	while (length($buf) < $n) {
		my $r = sysread($fh, $buf, $n - length($buf), length($buf));
		die "control socket: " . (defined $r ? "closed" : $!) . "\n" unless $r;
	}
	return $buf;
}
sub ctsyncd_count {
	my ($path, $section, $key) = @_;
	unless ($ctl) {
		socket($ctl, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
		connect($ctl, pack_sockaddr_un($path)) or die "connect $path: $!\n";
	}
	syswrite($ctl, pack("LSS", 8, 1, 0)) == 8 or die "write: $!\n";
	my $val;
	while (1) {
		my ($len, $type) = unpack("LS", readn($ctl, 8));
		my $body = $len > 8 ? readn($ctl, $len - 8) : '';
		if ($type == 100) {
			my ($vt, $sl, $kl) = unpack("CCC", $body);
			if ($vt == 1 && substr($body, 4, $sl) eq $section &&
			    substr($body, 4 + $sl, $kl) eq $key) {
				$val = unpack("Q", substr($body, 4 + $sl + $kl, 8));
			}
		} elsif ($type == 199) {
			last;
		}
	}
	die "no $section.$key in the status answer\n" unless defined $val;
	return $val;
}
# conntrackd: one int request per connection (STATS = 21, as conntrackd
# -s sends it), text answer until EOF.
sub conntrackd_count {
	my ($path, $cache) = @_;
	my $s;
	socket($s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
	connect($s, pack_sockaddr_un($path)) or die "connect $path: $!\n";
	syswrite($s, pack("i", 21)) == 4 or die "write: $!\n";
	my ($txt, $buf) = ('', '');
	while (sysread($s, $buf, 65536)) { $txt .= $buf; }
	close($s);
	$txt =~ /cache $cache:\s*\ncurrent active connections:\s*(\d+)/
		or die "no 'cache $cache' in conntrackd's stats\n";
	return $1;
}
sub count {
	my ($kind, $path, $cache) = @_;
	return $kind eq 'ctsyncd' ? ctsyncd_count($path, 'cache', $cache)
				  : conntrackd_count($path, $cache);
}

my $cmd = shift @ARGV // '';
if ($cmd eq 'count') {			# count KIND SOCKET CACHE
	print count(@ARGV[0 .. 2]), "\n";
} elsif ($cmd eq 'sample') {		# sample KIND SOCKET CACHE MS OUT STOPFILE MAXSECS
	my ($kind, $path, $cache, $ms, $out, $stop, $max) = @ARGV;
	open(my $fh, '>', $out) or die "$out: $!\n";
	$fh->autoflush(1);
	my $t0 = time;
	my $next = $t0;
	while (!-e $stop && time - $t0 < $max) {
		my $a = time;
		my $c = count($kind, $path, $cache);
		my $b = time;
		printf $fh "%.6f %d %.6f\n", ($a + $b) / 2, $c, $b - $a;
		$next += $ms / 1000;
		my $d = $next - time;
		if ($d > 0) { usleep($d * 1e6); } else { $next = time; }
	}
} elsif ($cmd eq 'reach') {		# reach SAMPLES T0 N: seconds from T0 until N held
	my ($file, $t0, $n) = @ARGV;
	open(my $fh, '<', $file) or die "$file: $!\n";
	my ($pt, $pc) = ($t0, 0);
	while (<$fh>) {
		my ($t, $c) = split;
		if ($c >= $n) {
			my $tr = $c > $pc ? $pt + ($n - $pc) / ($c - $pc) * ($t - $pt) : $t;
			$tr = $t0 if $tr < $t0;
			printf "%.6f\n", $tr - $t0;
			exit 0;
		}
		($pt, $pc) = ($t, $c);
	}
	print "-\n";
} elsif ($cmd eq 'lag') {		# lag GENLOG SAMPLES
	# GENLOG: per batch, ctgen's --json line, then the time it returned.
	# When batch k returned, the kernel held exactly C_k generated entries
	# (its last one created just before, then the acks read and the
	# process gone: ~0.3 ms); the lag of batch k is the time from there
	# until the backup's sampled count curve (linear between samples)
	# reaches C_k.  A negative value (interpolation error) counts as 0.
	my ($glog, $sfile) = @ARGV;
	my (@be, @bc, @bs);
	my ($cum, $sec, $ok) = (0, undef, undef);
	open(my $g, '<', $glog) or die "$glog: $!\n";
	while (<$g>) {
		if (/"ok":(\d+).*"seconds":([0-9.]+)/) { ($ok, $sec) = ($1, $2); next; }
		if (/^([0-9]+\.[0-9]+)$/ && defined $ok) {
			push @be, $1; push @bs, $1 - $sec; push @bc, $cum += $ok;
			$ok = undef;
		}
	}
	# A sample is the count at some time within its query; one whose
	# query took more than twice the median (the sampler was preempted)
	# is too imprecise to time a batch by, and is left out.
	my (@st, @sc, @all);
	open(my $s, '<', $sfile) or die "$sfile: $!\n";
	while (<$s>) { push @all, [split]; }
	my @qd = sort { $a <=> $b } map { $_->[2] // 0 } @all;
	my $qmax = @qd ? 2 * $qd[int($#qd / 2)] : 0;
	my $dropped = 0;
	for (@all) {
		if (defined $_->[2] && $_->[2] > $qmax) { $dropped++; next; }
		push @st, $_->[0]; push @sc, $_->[1];
	}
	die "no batches or no samples\n" unless @bc && @st;
	my @lags;
	my ($j, $unreached) = (0, 0);
	for my $k (0 .. $#bc) {
		my $c = $bc[$k];
		$j++ while $j < @sc && $sc[$j] < $c;
		if ($j >= @sc) { $unreached = $cum - ($k ? $bc[$k - 1] : 0); last; }
		my ($pt, $pc) = $j ? ($st[$j - 1], $sc[$j - 1]) : ($st[0], 0);
		my $tb = $sc[$j] > $pc ? $pt + ($c - $pc) / ($sc[$j] - $pc) * ($st[$j] - $pt) : $st[$j];
		my $l = $tb - $be[$k];
		push @lags, $l > 0 ? $l : 0;
	}
	my @sorted = sort { $a <=> $b } @lags;
	my $pct = sub { @sorted ? $sorted[int($_[0] / 100 * $#sorted + 0.5)] * 1000 : -1 };
	my $iv = @st > 1 ? ($st[-1] - $st[0]) / $#st * 1000 : 0;
	my $dur = $be[-1] - $bs[0];
	printf "%.3f %.3f %.3f %.3f %d %d %.0f %d %.1f\n", $pct->(50), $pct->(99),
		$pct->(100), $iv, $cum, $unreached, $dur > 0 ? $cum / $dur : 0, scalar @lags,
		@all ? 100 * $dropped / @all : 0;
} else {
	die "usage: bench-helper.pl count|sample|reach|lag ...\n";
}
PERL

# -------------------------------------------------------------- helpers

now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }

# calc EXPR: floating-point arithmetic (awk), printed with %s of awk.
calc() { awk "BEGIN { print $* }"; }

# forget_pid PID: drop PID from the cleanup list once reaped.
forget_pid() {
	local i
	for i in "${!CTS_PIDS[@]}"; do
		[[ ${CTS_PIDS[$i]} == "$1" ]] && unset 'CTS_PIDS[i]'
	done
	CTS_PIDS=("${CTS_PIDS[@]}")
}

ns_del() {
	local i
	ip netns del "$1" 2>/dev/null
	for i in "${!CTS_NAMESPACES[@]}"; do
		[[ ${CTS_NAMESPACES[$i]} == "$1" ]] && unset 'CTS_NAMESPACES[i]'
	done
	CTS_NAMESPACES=("${CTS_NAMESPACES[@]}")
}

ct_count() { nsx "$1" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo -1; }

# conntrack objects alive on the whole host (slab), to wait for the
# kernel to free a torn-down namespace's table before the next run.
slab_ct() { awk '$1 == "nf_conntrack" { print $2; f = 1 } END { if (!f) print 0 }' /proc/slabinfo; }

# A firewall namespace: conntrack on, events for every flow.
fw_ns() {
	local ns=$1
	ns_add "$ns" || return 1
	nsctl "$ns" net.netfilter.nf_conntrack_events=1 || return 1
	nsx "$ns" nft -f - <<'EOF' || return 1
table inet bench {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		ct state invalid drop
	}
}
EOF
}

# proc_cpu PID: CPU time in ns, summed over the threads, from schedstat
# (the sum_exec_runtime that utime+stime of /proc/PID/stat is scaled from,
# without stat's 1/CLK_TCK granularity); stat's utime+stime when schedstat
# is missing.  proc_rss PID: VmRSS in kB.
proc_cpu() {
	local f line rest sum=0 n=0
	for f in /proc/"$1"/task/*/schedstat; do
		[[ -r $f ]] || continue
		read -r line _ <"$f" && sum=$((sum + line)) n=$((n + 1))
	done
	if ((n == 0)); then
		read -r line <"/proc/$1/stat" || { echo 0; return; }
		rest=${line##*) }
		# shellcheck disable=SC2086
		set -- $rest
		sum=$(((${12} + ${13}) * (1000000000 / CLK_TCK)))
	fi
	echo "$sum"
}
proc_rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

link_tx() { nsx "$1" cat /sys/class/net/sync0/statistics/tx_bytes 2>/dev/null || echo 0; }

# link_loss NS PCT: drop PCT % of the sync datagrams (UDP to port 3780,
# both daemons' port) leaving NS through sync0, each at random; counted.
link_loss() {
	nsx "$1" nft -f - <<EOF
table inet bench_loss {
	counter dropped { }
	chain output {
		type filter hook output priority -300; policy accept;
		oifname "sync0" meta l4proto udp udp dport 3780 numgen random mod 100 < $2 counter name "dropped" drop
	}
}
EOF
}
link_dropped() {
	nsx "$1" nft -j list counter inet bench_loss dropped 2>/dev/null |
		jq -r '.nftables[] | select(.counter) | .counter.packets' 2>/dev/null
}

# ------------------------------------------------------- daemon configs

# ctsyncd: the defaults, with only the addresses and the control socket
# (and with BENCH_AUTH, a key file the pair shares).
ctsyncd_conf() {
	local file=$1 node=$2 dir=$3
	cat >"$file" <<EOF
sync:
  local: 192.0.2.$node
  peers: [192.0.2.$((3 - node))]
control:
  socket: $dir/ctsyncd$node.sock
EOF
	local kv sec extra=()
	IFS=';' read -r -a extra <<<"${BENCH_SYNC:+$(sed -E 's/(^|;) */\1sync./g' <<<"$BENCH_SYNC")};${BENCH_SET:-}"
	for kv in "${extra[@]}"; do
		kv=${kv# }
		[[ $kv == *:* ]] || continue
		if [[ ${kv%%:*} != *.* ]]; then	# a top-level key
			printf '%s\n' "$kv" >>"$file"
			continue
		fi
		sec=${kv%%.*} kv=${kv#*.}
		grep -q "^$sec:" "$file" || printf '%s:\n' "$sec" >>"$file"
		sed -i "/^$sec:/a\\  $kv" "$file"
	done
	if [[ ${BENCH_STANDBY:-} == hot ]]; then
		printf 'failover:\n  announce: ["sync0 198.51.100.1"]\n  standby: hot\n' >>"$file"
	fi
	[[ -n $AUTH ]] || return 0
	[[ -s $CTS_TMP/sync.key ]] ||
		(umask 077; "$CTSYNCD" --genkey 1 >"$CTS_TMP/sync.key") || return 1
	sed -i "/^sync:/a\\  key_file: $CTS_TMP/sync.key\\n  encrypt: $([[ $AUTH == encrypt ]] && echo true || echo false)" "$file"
}

# --------------------------------------------------------------- a pair

# pair_up DAEMON TAG N: namespaces $CTS_P-TAG1/2, daemons started (fw2
# first) and talking.  Sets NS1 NS2 PID1 PID2 SOCK1 SOCK2 CONF1 CONF2 DIR.
NS1='' NS2='' PID1='' PID2='' SOCK1='' SOCK2='' CONF1='' CONF2='' DIR='' DAEMON=''
pair_up() {
	local d=$1 tag=$2 n=$3 i
	DAEMON=$d PID1='' PID2=''
	NS1=$CTS_P-${tag}1 NS2=$CTS_P-${tag}2
	DIR=$CTS_TMP/$tag-$d-$n
	mkdir -p "$DIR"
	PAIR_SLAB=$(slab_ct)
	fw_ns "$NS1" && fw_ns "$NS2" && veth sync0 "$NS1" sync0 "$NS2" || return 1
	for i in 1 2; do
		ip -n "$CTS_P-$tag$i" addr add "192.0.2.$i/30" dev sync0 || return 1
	done
	if [[ $d == ctsyncd ]]; then
		for i in 1 2; do ctsyncd_conf "$DIR/ctsyncd$i.yaml" "$i" "$DIR"; done
		CONF1=$DIR/ctsyncd1.yaml CONF2=$DIR/ctsyncd2.yaml
		SOCK1=$DIR/ctsyncd1.sock SOCK2=$DIR/ctsyncd2.sock
		start_bg "$NS2" "$DIR/ctsyncd2.out" "$CTSYNCD" -c "$CONF2"; PID2=$BG_PID
		start_bg "$NS1" "$DIR/ctsyncd1.out" "$CTSYNCD" -c "$CONF1"; PID1=$BG_PID
		CTS_DLOG[$tag-fw1]=$DIR/ctsyncd1.out CTS_DLOG[$tag-fw2]=$DIR/ctsyncd2.out
	else
		conntrackd_pair "$DIR" "$n" "$NS1" "$NS2"
		CTS_DLOG[$tag-fw1]=$DIR/conntrackd1.log CTS_DLOG[$tag-fw2]=$DIR/conntrackd2.log
	fi
	wait_until 15 pair_ready || { warn "$d pair did not come up"; return 1; }
}

pair_ready() {
	pid_alive "$PID1" && pid_alive "$PID2" || return 1
	if [[ $DAEMON == ctsyncd ]]; then
		local s
		for s in "$SOCK1" "$SOCK2"; do
			"$CTCTL" -s "$s" -j status 2>/dev/null |
				jq -e '.peers[0].state == "up" and .peers[0].table == "complete"' \
				>/dev/null 2>&1 || return 1
		done
	else
		[[ -S $SOCK1 && -S $SOCK2 ]] &&
			perl "$HELPER" count conntrackd "$SOCK1" internal >/dev/null 2>&1 &&
			perl "$HELPER" count conntrackd "$SOCK2" external >/dev/null 2>&1
	fi
}

pair_down() {
	local ns p
	if [[ $DAEMON == conntrackd ]]; then
		nsx "$NS1" conntrackd -C "$CONF1" -k >/dev/null 2>&1
		nsx "$NS2" conntrackd -C "$CONF2" -k >/dev/null 2>&1
	fi
	kill_wait TERM 20 "$PID1" "$PID2" 2>/dev/null || kill_wait KILL 5 "$PID1" "$PID2" 2>/dev/null
	for p in "$PID1" "$PID2"; do [[ -n $p ]] && forget_pid "$p"; done
	PID1='' PID2=''
	for ns in "$NS1" "$NS2"; do
		nsx "$ns" conntrack -F >/dev/null 2>&1
		ns_del "$ns"
	done
	SLAB_REF=$PAIR_SLAB
	wait_until 60 slab_drained || warn "conntrack slab still at $(slab_ct) objects (before the pair: $PAIR_SLAB)"
}

PAIR_SLAB=0 SLAB_REF=0
slab_drained() { (($(slab_ct) <= SLAB_REF + 50000)); }

# daemon_count SOCKET internal|external: one query (helper, no jq).
daemon_count() { perl "$HELPER" count "$DAEMON" "$1" "$2" 2>/dev/null || echo -1; }

# The backup's sampler: SAMPLES file, stopped by touching STOPF.
SAMPLER='' SAMPLES='' STOPF=''
sampler_start() {
	local ms=$1 max=$2
	SAMPLES=$DIR/samples.$3 STOPF=$DIR/stop.$3
	rm -f "$SAMPLES" "$STOPF"
	# In the measured daemon's scheduling class: time-shared behind a
	# real-time daemon its timestamps go stale; real-time beside a
	# time-shared one it would take the daemon's CPU.
	local rt=() pol
	pol=$(chrt -p "$PID2" 2>/dev/null)
	[[ $pol == *SCHED_RR* || $pol == *SCHED_FIFO* ]] && rt=(chrt -f 99)
	"${rt[@]}" perl "$HELPER" sample "$DAEMON" "$SOCK2" external "$ms" "$SAMPLES" "$STOPF" "$max" \
		>"$DIR/sampler.$3.err" 2>&1 &
	SAMPLER=$!
	CTS_PIDS+=("$SAMPLER")
	wait_until 5 test -s "$SAMPLES" || { warn "sampler: $(cat "$DIR/sampler.$3.err")"; return 1; }
}
sampler_stop() {
	touch "$STOPF"
	kill_wait TERM 5 "$SAMPLER" >/dev/null 2>&1
	forget_pid "$SAMPLER"
}
sampled() { local t c; read -r t c _ < <(tail -n 1 "$SAMPLES" 2>/dev/null); echo "$c"; }
held_at_least() { local c; c=$(sampled); [[ -n $c ]] && ((c >= $1)); }

# The sync link is quiet: less than 2 KB on it (both ways) since the
# last call (heartbeats and keepalives only).
LAST_TX=-1
link_quiet() {
	local tx=$(($(link_tx "$NS1") + $(link_tx "$NS2"))) last=$LAST_TX
	LAST_TX=$tx
	((last >= 0 && tx - last < 2048))
}

# snap NAME: CPU ns, RSS kB and sync-link bytes of the pair now.
declare -A S=()
snap() {
	S[$1.cpu1]=$(proc_cpu "$PID1") S[$1.cpu2]=$(proc_cpu "$PID2")
	S[$1.rss1]=$(proc_rss "$PID1") S[$1.rss2]=$(proc_rss "$PID2")
	S[$1.tx1]=$(link_tx "$NS1") S[$1.tx2]=$(link_tx "$NS2")
	S[$1.tx]=$((S[$1.tx1] + S[$1.tx2]))
}

# ---------------------------------------------------------------- results

declare -A R=()		# R[metric|N|daemon]
NOTES=()
note() { NOTES+=("$*"); say "note: $*"; }

# ceiling N: ctgen creating N entries into a fresh namespace; the rate in
# CEIL (empty on failure): the median of 3 runs (one run varied by
# +-10 % at 1M).  Not in a $(...): the namespace must stay
# known to the cleanup.
CEIL=
ceiling() {
	local ns=$CTS_P-g n=$1 out r reps=3 rates=()
	CEIL=
	for ((r = 0; r < reps; r++)); do
		SLAB_REF=$(slab_ct)
		fw_ns "$ns" || return 1
		out=$(nsx "$ns" "$CTGEN" -n "$n" --json 2>>"$CTS_TMP/ctgen.err")
		out=$(jq -r '.rate' <<<"$out" 2>/dev/null)
		[[ $out =~ ^[0-9]+$ ]] && rates+=("$out")
		nsx "$ns" conntrack -F >/dev/null 2>&1
		ns_del "$ns"
		wait_until 60 slab_drained || true
	done
	((${#rates[@]})) || { warn "ctgen in $ns failed: $(tail -n 2 "$CTS_TMP/ctgen.err")"; return 1; }
	CEIL=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(((${#rates[@]} + 1) / 2))p")
}

# Other tests seen at the start and end of each phase (noise).
BUSY=()
busy_check() {
	local o
	o=$(other_ns)
	((o > 0)) && BUSY+=("$1: $o")
}

# burst DAEMON N
burst() {
	local d=$1 n=$2 t0 out held repl before rc t1 created
	busy_check "$d N=$n start"
	say "[$d N=$n] pair up"
	pair_up "$d" "b" "$n" || { note "$d N=$n: pair did not start"; pair_down; return 1; }
	if [[ -n $LOSS ]]; then
		link_loss "$NS1" "$LOSS" || { note "$d N=$n: loss rule failed"; pair_down; return 1; }
		say "[$d N=$n] dropping $LOSS % of fw1's sync datagrams"
	fi
	snap idle
	R[rss_idle1|$n|$d]=${S[idle.rss1]} R[rss_idle2|$n|$d]=${S[idle.rss2]}
	sampler_start "$BURST_SAMPLE_MS" $((SETTLE_S + 600)) burst || { pair_down; return 1; }
	out=$(nsx "$NS1" "$CTGEN" -n "$n" --json 2>>"$DIR/ctgen.err")
	# The first create: when ctgen returned, minus its own timing.
	t0=$(awk -v t="$EPOCHREALTIME" -v s="$(jq -r '.seconds' <<<"$out" 2>/dev/null)" \
		'BEGIN { printf "%.6f", t - s }')
	R[gen_rate|$n|$d]=$(jq -r '.rate' <<<"$out" 2>/dev/null)
	say "[$d N=$n] burst: ctgen on fw1 $(jq -r '"\(.ok) in \(.seconds) s, \(.rate)/s"' <<<"$out" 2>/dev/null || echo "$out")"
	wait_until "$SETTLE_S" held_at_least "$n" ||
		note "$d N=$n: fw2 holds $(sampled) of $n after the settle deadline (${SETTLE_S} s)"
	sampler_stop
	held=$(daemon_count "$SOCK2" external)
	R[held|$n|$d]=$held
	R[lost|$n|$d]=$((n - held))
	repl=$(perl "$HELPER" reach "$SAMPLES" "$t0" "$n")
	R[repl_s|$n|$d]=$repl
	R[gen_s|$n|$d]=$(jq -r '.seconds' <<<"$out" 2>/dev/null)
	# (negative: the last samples' interpolation; below the resolution)
	[[ $repl != - ]] && R[tail_ms|$n|$d]=$(calc "($repl - ${R[gen_s|$n|$d]}) * 1000")
	[[ ${R[tail_ms|$n|$d]-0} == -* ]] && R[tail_ms|$n|$d]=0
	say "[$d N=$n] fw2 holds $held; replication $repl s"

	LAST_TX=-1
	WAIT_INTERVAL=0.3 wait_until 30 link_quiet || note "$d N=$n: sync link not quiet after 30 s"
	snap full
	R[cpu1|$n|$d]=$(calc "(${S[full.cpu1]} - ${S[idle.cpu1]}) / 1000 / $n")
	R[cpu2|$n|$d]=$(calc "(${S[full.cpu2]} - ${S[idle.cpu2]}) / 1000 / $n")
	R[rss1|$n|$d]=$(calc "(${S[full.rss1]} - ${R[rss_idle1|$n|$d]}) * 1024 / $n")
	R[rss2|$n|$d]=$(calc "(${S[full.rss2]} - ${R[rss_idle2|$n|$d]}) * 1024 / $n")
	R[bytes|$n|$d]=$(calc "(${S[full.tx]} - ${S[idle.tx]}) / $n")
	R[bytes1|$n|$d]=$(calc "(${S[full.tx1]} - ${S[idle.tx1]}) / $n")
	R[bytes2|$n|$d]=$(calc "(${S[full.tx2]} - ${S[idle.tx2]}) / $n")
	if [[ -n $LOSS ]]; then
		R[dropped|$n|$d]=$(link_dropped "$NS1")
		say "[$d N=$n] link per flow: fw1→fw2 ${R[bytes1|$n|$d]} B, fw2→fw1 ${R[bytes2|$n|$d]} B;" \
			"fw1's datagrams dropped: ${R[dropped|$n|$d]}"
		busy_check "$d N=$n end"
		pair_down
		return 0
	fi
	say "[$d N=$n] per flow: cpu ${R[cpu1|$n|$d]}/${R[cpu2|$n|$d]} us," \
		"rss ${R[rss1|$n|$d]}/${R[rss2|$n|$d]} B (sender/receiver), link ${R[bytes|$n|$d]} B"

	# The generator's ceiling under the commit's conditions: listeners up,
	# fw1's N entries in the host-wide conntrack hash.
	ceiling "$n"
	R[ceiling|$n|$d]=$CEIL
	say "[$d N=$n] ceiling (ctgen into a fresh namespace, pair up, fw1 holding N): ${R[ceiling|$n|$d]}/s"

	# Commit: timed until fw2's kernel holds what fw2's cache held.
	before=$(ct_count "$NS2")
	t0=$(now_us)
	if [[ $d == ctsyncd ]]; then
		out=$("$CTCTL" -s "$SOCK2" commit 2>&1); rc=$?
	else
		out=$(nsx "$NS2" conntrackd -C "$CONF2" -c 2>&1); rc=$?
	fi
	t1=$(now_us)
	((rc == 0)) || note "$d N=$n: commit command exited $rc: $(tr '\n' ' ' <<<"$out" | head -c 300)"
	# Done when the command returned and the kernel holds the entries.
	committed() { (($(ct_count "$NS2") >= before + held)); }
	if ! committed; then
		if WAIT_INTERVAL=0.02 wait_until 120 committed; then
			t1=$(now_us)
		else
			note "$d N=$n: fw2's kernel holds $(($(ct_count "$NS2") - before)) of $held after commit"
		fi
	fi
	created=$(($(ct_count "$NS2") - before))
	R[commit_s|$n|$d]=$(calc "($t1 - $t0) / 1e6")
	R[commit_rate|$n|$d]=$(calc "int($created / (($t1 - $t0) / 1e6))")
	[[ -n ${R[ceiling|$n|$d]} ]] &&
		R[commit_frac|$n|$d]=$(calc "100 * ${R[commit_rate|$n|$d]} / ${R[ceiling|$n|$d]}")
	say "[$d N=$n] commit: $created entries in ${R[commit_s|$n|$d]} s (${R[commit_rate|$n|$d]}/s)"
	busy_check "$d N=$n end"
	pair_down
}

# lag DAEMON: steady rate on a fresh pair.
lag() {
	local d=$1 total fifo res
	total=$((LAG_RATE * LAG_SECS / LAG_BATCH * LAG_BATCH))
	busy_check "$d lag start"
	say "[$d] steady rate: $LAG_RATE creates/s for $LAG_SECS s in batches of $LAG_BATCH"
	pair_up "$d" "l" "$total" || { note "$d lag: pair did not start"; pair_down; return 1; }
	sampler_start "$LAG_SAMPLE_MS" $((LAG_SECS + SETTLE_S + 60)) lag || { pair_down; return 1; }
	fifo=$DIR/sleep.fifo
	mkfifo "$fifo"
	# The paced generator runs in fw1: one ctgen per batch, each writing its
	# --json line and then the time it returned.
	# shellcheck disable=SC2016
	nsx "$NS1" bash -c '
		rate=$1 batch=$2 secs=$3 ctgen=$4 log=$5 fifo=$6
		exec {sfd}<>"$fifo" {lfd}>"$log"
		nb=$((rate * secs / batch)) period=$((batch * 1000000 / rate))
		t0=${EPOCHREALTIME/./}
		for ((k = 0; k < nb; k++)); do
			now=${EPOCHREALTIME/./}
			d=$((t0 + k * period - now))
			((d > 0)) && read -r -t "$((d / 1000000)).$(printf %06d $((d % 1000000)))" -u "$sfd"
			"$ctgen" -n "$batch" --base "198.18.$((64 + k / 256)).$((k % 256))" --json >&"$lfd"
			printf "%s\n" "$EPOCHREALTIME" >&"$lfd"
		done' _ "$LAG_RATE" "$LAG_BATCH" "$LAG_SECS" "$CTGEN" "$DIR/gen.log" "$fifo"
	wait_until "$SETTLE_S" held_at_least "$total" ||
		note "$d lag: fw2 holds $(sampled) of $total after the settle deadline"
	sampler_stop
	res=$(perl "$HELPER" lag "$DIR/gen.log" "$SAMPLES") || res=
	# p50 p99 max interval total unreached rate
	local f
	read -r -a f <<<"$res"
	R[lag_p50|0|$d]=${f[0]-} R[lag_p99|0|$d]=${f[1]-} R[lag_max|0|$d]=${f[2]-}
	R[lag_iv|0|$d]=${f[3]-} R[lag_total|0|$d]=${f[4]-} R[lag_unreached|0|$d]=${f[5]-}
	R[lag_rate|0|$d]=${f[6]-} R[lag_drop|0|$d]=${f[8]-}
	R[lag_lost|0|$d]=$((total - $(daemon_count "$SOCK2" external)))
	say "[$d] lag p50 ${R[lag_p50|0|$d]} ms, p99 ${R[lag_p99|0|$d]} ms, max ${R[lag_max|0|$d]} ms" \
		"(achieved ${R[lag_rate|0|$d]}/s, sampled every ${R[lag_iv|0|$d]} ms, ${R[lag_drop|0|$d]} % of samples left out, lost ${R[lag_lost|0|$d]})"
	busy_check "$d lag end"
	pair_down
}

# ---------------------------------------------------------------- run it

MAXN=0
for n in "${NS_LIST[@]}"; do ((n > MAXN)) && MAXN=$n; done
LAG_TOTAL=$((LAG_RATE * LAG_SECS))
NEED=$(((MAXN > LAG_TOTAL ? MAXN : LAG_TOTAL) + 65536))
cur=$(sysctl -n net.netfilter.nf_conntrack_max)
if ((cur < NEED)); then
	OLD_CT_MAX=$cur
	sysctl -qw "net.netfilter.nf_conntrack_max=$NEED" || { warn "cannot raise nf_conntrack_max"; exit 1; }
	say "nf_conntrack_max $cur -> $NEED (restored on exit)"
fi
# Other tests on the host (their namespaces, conntrack tables and event
# listeners) add noise: optionally wait for them, and report them.
other_ns() { ip netns list 2>/dev/null | grep -vc "^$CTS_P-"; }
host_quiet() { (($(other_ns) == 0)); }
if [[ -n ${BENCH_WAIT_QUIET:-} ]]; then
	say "waiting up to ${BENCH_WAIT_QUIET} s for the host's other namespaces to go ($(other_ns) now)"
	WAIT_INTERVAL=1 wait_until "$BENCH_WAIT_QUIET" host_quiet || true
fi
OTHER_NS_START=$(other_ns)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_GB=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
CTSYNCD_VER=$("$CTSYNCD" -V 2>&1 | head -n 1)
CONNTRACKD_VER=$(conntrackd -v 2>&1 | head -n 1 | sed 's/\. Licensed.*//')
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
[[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] && GIT_REV="$GIT_REV (+ uncommitted changes)"

say "bench: N = ${NS_LIST[*]}, prefix $CTS_P, $(nproc) CPUs, kernel $(uname -r)"
[[ -n $LOSS ]] || for n in "${NS_LIST[@]}"; do
	ceiling "$n"
	R[ceiling0|$n|-]=$CEIL
	say "ceiling without any event listener, N=$n: ${R[ceiling0|$n|-]}/s"
done
ONLY=${BENCH_ONLY:-}	# lag | burst: one part only (development)
[[ $ONLY == burst ]] || for d in "${DAEMONS[@]}"; do lag "$d"; done
[[ $ONLY == lag ]] || for n in "${NS_LIST[@]}"; do
	for d in "${DAEMONS[@]}"; do burst "$d" "$n"; done
done

# ----------------------------------------------------------------- report

# fmt KIND VALUE: how a figure prints.
fmt() {
	local v=$2
	[[ -z $v || $v == - ]] && { echo "–"; return; }
	case $1 in
	int) calc "int($v + ($v < 0 ? -0.5 : 0.5))" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' ;;
	s) printf "%.3f" "$v" ;;
	ms) printf "%.2f" "$v" ;;
	f1) printf "%.1f" "$v" ;;
	f2) printf "%.2f" "$v" ;;
	mib) printf "%.1f" "$(calc "$v / 1024")" ;;
	pct) printf "%.0f %%" "$v" ;;
	*) echo "$v" ;;
	esac
}
ratio() {
	local a=$1 b=$2
	if [[ -z $a || -z $b || $a == - || $b == - ]] || [[ $(calc "($b == 0)") == 1 ]]; then
		echo "–"
	else
		printf "%.2f" "$(calc "$a / $b")"
	fi
}
kn() { local n=$1; if ((n % 1000000 == 0)); then echo "$((n / 1000000))M"; elif ((n % 1000 == 0)); then echo "$((n / 1000))k"; else echo "$n"; fi; }

# row LABEL N METRIC KIND
# row LABEL N METRIC KIND [RESOLUTION]: a value below RESOLUTION prints
# as "< RESOLUTION", and then the row has no ratio.
below() { [[ -n $2 && -n $1 && $1 != - ]] && (($(calc "($1 < $2)"))); }
row() {
	local a=${R[$3|$2|ctsyncd]-} b=${R[$3|$2|conntrackd]-} res=${5-} fa fb r
	fa=$(fmt "$4" "$a") fb=$(fmt "$4" "$b") r=$(ratio "$a" "$b")
	below "$a" "$res" && fa="< $(fmt "$4" "$res")" r="–"
	below "$b" "$res" && fb="< $(fmt "$4" "$res")" r="–"
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$([[ $2 == 0 ]] && echo "–" || kn "$2")" \
		"$fa" "$fb" "$r"
}

report() {
	local n d nmin nmax m
	echo "## ctsyncd vs conntrackd, $(date -u +%Y-%m-%d)"
	echo
	echo "Machine: $(nproc) CPUs ($CPU_MODEL), ${MEM_GB} GiB RAM, kernel $(uname -r)" \
		"($(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"))."
	echo "ctsyncd: $CTSYNCD_VER, git $GIT_REV$BUILD_NOTE, build $BUILDTYPE (sanitizers: $SANITIZE)," \
		"default configuration$AUTH_NOTE${BENCH_SYNC:+ with sync settings \"$BENCH_SYNC\"}${BENCH_SET:+ with settings \"$BENCH_SET\"}${BENCH_STANDBY:+, the receiver a $BENCH_STANDBY standby}." \
		"conntrackd: $CONNTRACKD_VER, FTFW over UDP unicast," \
		"tuning below${CD_TUNING/sized/}."
	echo "nf_conntrack_buckets $(sysctl -n net.netfilter.nf_conntrack_buckets)," \
		"nf_conntrack_max $(sysctl -n net.netfilter.nf_conntrack_max) during the run." \
		"Other network namespaces on the host (other tests, noise): $OTHER_NS_START at the start," \
		"$OTHER_NS_END at the end; load average at the start $LOAD_START."
	if ((${#BUSY[@]})); then
		local b=${BUSY[*]/%/;}
		echo "Other tests' namespaces seen at phase boundaries (phase: count): ${b%;}."
	else
		echo "No other tests' namespaces at any phase's start or end."
	fi
	echo "Kernel create ceiling with no event listener on the host (ctgen, fresh namespace):" \
		"$(for n in "${NS_LIST[@]}"; do printf '%s %s/s; ' "$(kn "$n")" "$(fmt int "${R[ceiling0|$n|-]-}")"; done)"
	echo
	[[ -n $LOSS ]] && echo "Loss: $LOSS % of the sync datagrams leaving fw1 dropped (nftables numgen) once each pair was up; ceiling and commit not measured." && echo
	echo "Ratio = ctsyncd / conntrackd. (↓) lower is better, (↑) higher is better."
	echo
	echo "| figure | N | ctsyncd | conntrackd | ratio |"
	echo "|---|---|---:|---:|---:|"
	for n in "${NS_LIST[@]}"; do
		row "replication: first create → backup holds all N (s) (↓)" "$n" repl_s s
		row "… of which after the last create (ms) (↓)" "$n" tail_ms ms "$BURST_SAMPLE_MS"
		row "flows lost (N − held after settle) (↓)" "$n" lost int
		row "master's ctgen rate during the burst (/s) (↑)" "$n" gen_rate int
		row "commit into the backup's kernel (entries/s) (↑)" "$n" commit_rate int
		row "commit as % of the generator ceiling (↑)" "$n" commit_frac pct
		row "generator ceiling: fresh namespace, pair up, fw1 holding N (/s)" "$n" ceiling int
		row "RSS idle, sender / master (MiB) (↓)" "$n" rss_idle1 mib
		row "RSS idle, receiver / backup (MiB) (↓)" "$n" rss_idle2 mib
		row "RSS per cached flow, sender (B) (↓)" "$n" rss1 int
		row "RSS per cached flow, receiver (B) (↓)" "$n" rss2 int
		row "CPU per replicated flow, sender (µs) (↓)" "$n" cpu1 f2
		row "CPU per replicated flow, receiver (µs) (↓)" "$n" cpu2 f2
		row "sync-link bytes per flow, both directions (↓)" "$n" bytes f1
		row "sync-link bytes per flow, fw1 → fw2 (data) (↓)" "$n" bytes1 f1
		row "sync-link bytes per flow, fw2 → fw1 (acks, NACKs) (↓)" "$n" bytes2 f1
		[[ -n $LOSS ]] && row "fw1's sync datagrams dropped (loss $LOSS %)" "$n" dropped int
	done
	# resolution: the coarser sampling interval, plus ctgen's exit
	local lres=0 d
	for d in "${DAEMONS[@]}"; do
		[[ -n ${R[lag_iv|0|$d]-} ]] && (($(calc "(${R[lag_iv|0|$d]} + 0.3 > $lres)"))) &&
			lres=$(calc "${R[lag_iv|0|$d]} + 0.3")
	done
	row "steady $LAG_RATE/s: lag p50 (ms) (↓)" 0 lag_p50 ms "$lres"
	row "steady $LAG_RATE/s: lag p99 (ms) (↓)" 0 lag_p99 ms "$lres"
	row "steady $LAG_RATE/s: lag max (ms) (↓)" 0 lag_max ms "$lres"
	row "steady: achieved create rate (/s)" 0 lag_rate int
	row "steady: flows lost (↓)" 0 lag_lost int
	row "steady: backup sampling interval (ms)" 0 lag_iv ms
	row "steady: backup samples left out, query preempted (%)" 0 lag_drop f1
	if ((${#NS_LIST[@]} > 1)); then
		nmin=${NS_LIST[0]} nmax=${NS_LIST[0]}
		for n in "${NS_LIST[@]}"; do
			((n < nmin)) && nmin=$n
			((n > nmax)) && nmax=$n
		done
		for d in "${DAEMONS[@]}"; do
			for m in repl_s commit_rate rss1 rss2 cpu1 cpu2 bytes; do
				local a=${R[$m|$nmin|$d]-} b=${R[$m|$nmax|$d]-}
				if [[ -z $a || -z $b || $a == - || $b == - ]]; then
					R[g_$m|0|$d]=
				elif [[ $m == repl_s ]]; then	# per flow: time / N
					R[g_$m|0|$d]=$(calc "($b / $nmax) / ($a / $nmin)")
				elif [[ $m == commit_rate ]]; then	# per entry: 1 / rate
					R[g_$m|0|$d]=$(calc "$a / $b")
				else
					R[g_$m|0|$d]=$(calc "$a == 0 ? 0 : $b / $a")
				fi
			done
		done
		local g
		g="growth $(kn "$nmin")→$(kn "$nmax") (×)"
		row "$g: replication time per flow" 0 g_repl_s f2
		row "$g: commit time per entry" 0 g_commit_rate f2
		row "$g: RSS per flow, sender" 0 g_rss1 f2
		row "$g: RSS per flow, receiver" 0 g_rss2 f2
		row "$g: CPU per flow, sender" 0 g_cpu1 f2
		row "$g: CPU per flow, receiver" 0 g_cpu2 f2
		row "$g: link bytes per flow" 0 g_bytes f2
	fi
	echo
	if ((${#NOTES[@]})); then
		echo "Notes from the run:"
		for m in "${NOTES[@]}"; do echo "- $m"; done
		echo
	fi
	cat <<EOF
Method (one run; every figure is a single measurement, no averaging):
- Each daemon gets its own fresh pair of namespaces per N (fw1 master, fw2 backup, a veth
  sync link 192.0.2.1/30–.2, an nftables \`ct\` rule, nf_conntrack_events=1), torn down
  and its conntrack memory freed before the next. Entries are made by ctgen on fw1
  (ctnetlink, TCP ESTABLISHED, batches of 256).
- replication: from the first create (ctgen's return minus its own duration) until fw2's
  external-cache count, sampled every ${BURST_SAMPLE_MS} ms over the control socket (ctsyncd: STATUS;
  conntrackd: its \`-s\` stats), reaches N; linear between samples, ±${BURST_SAMPLE_MS} ms. When both
  daemons keep up, this is the generator's time plus a tail below the resolution.
  Lost: N minus that count once it reached N or after ${SETTLE_S} s.
- lag: ctgen runs of ${LAG_BATCH} entries every $((LAG_BATCH * 1000 / LAG_RATE)) ms for ${LAG_SECS} s; fw2's count sampled every
  ~${LAG_SAMPLE_MS} ms. For each run k: the time from ctgen returning (the kernel then holds C_k
  generated entries) until fw2's count curve (linear between samples) reaches C_k.
  Resolution about one sampling interval plus ~0.3 ms; values below it print as "< res".
- commit: from the command (\`ctctl commit\`, \`conntrackd -c\`) until it has returned and fw2's
  nf_conntrack_count has grown by the cached count. Ceiling: ctgen creating N entries in a
  fresh namespace (median of 3) just before the commit, under its
  conditions: the daemons listen for events (any listener on the host slows every create,
  see the no-listener figure above) and fw1's N entries fill the host-wide conntrack hash
  the new ones go into.
- memory: (VmRSS after the burst − VmRSS idle) / N. CPU: on-CPU time of the process
  (sum of /proc/PID/task/*/schedstat, i.e. utime+stime without its 10 ms granularity)
  from before the burst until the sync link is quiet, / N. Bytes: tx_bytes of both veth
  ends (whole frames) over the same window, / N.

EOF
	echo "conntrackd settings (per N; both nodes):"
	for n in "${NS_LIST[@]}"; do
		cd_sizing "$n"
		echo "- N=$(kn "$n"): HashSize $CD_HASHSIZE, HashLimit $CD_HASHLIMIT, ResendQueueSize $CD_RSQ," \
			"NetlinkBufferSize $CD_NLBUF, NetlinkBufferSizeMaxGrowth $CD_NLMAX," \
			"SndSocketBuffer/RcvSocketBuffer $CD_SOCKBUF"
	done
	echo "- always: Sync { Mode FTFW { DisableExternalCache no } UDP { IPv4_address," \
		"IPv4_Destination_Address, Port 3780, Interface sync0, Checksum on } };" \
		"Filter From Kernelspace { Address Ignore { 127.0.0.1 ::1 192.0.2.1 192.0.2.2 } };" \
		"own UNIX Path, LockFile, LogFile per instance; everything else default" \
		"(NetlinkOverrunResync on = 30 s, EventIterationLimit 100, ACKWindowSize 300," \
		"scheduler SCHED_RR priority 99)."
	echo "- ctsyncd: sync.local, sync.peers, control.socket; everything else default" \
		"(kernel.event_buffer 64M, sync.sndbuf/rcvbuf 8M, filter.ignore_local true, ...)."
	echo
	echo "Reproduce:"
	echo
	echo '```'
	echo "meson setup build-bench --buildtype=release -Db_sanitize=none && ninja -C build-bench"
	echo "sudo tests/bench/bench.sh${ARGS_SEEN:+ $ARGS_SEEN}"
	echo '```'
}

OTHER_NS_END=$(other_ns)
REPORT=$(report)
echo
echo "$REPORT"
if [[ -n $OUT ]]; then
	printf '%s\n' "$REPORT" >"$OUT" && say "report written to $OUT"
fi
# A figure is reported, not judged; losing flows is a failure.
rc=0
for n in "${NS_LIST[@]}"; do
	if [[ -n ${R[lost|$n|ctsyncd]:-} ]] && ((R[lost|$n|ctsyncd] != 0)); then
		warn "ctsyncd lost ${R[lost|$n|ctsyncd]} flows at N=$n"
		rc=1
	fi
done
exit "$rc"
