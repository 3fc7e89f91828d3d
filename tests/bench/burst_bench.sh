#!/usr/bin/env bash
#
# tests/bench/burst_bench.sh [--quick] [-n N] [-r REPS] [--big N2] -
# nothing lost at the kernel's full speed, beside conntrackd.
#
# Runs tests/netns/test_burst.sh: on a pair at its defaults, ctgen creates
# N entries on fw1 as fast as the kernel takes them (unpaced, batches of
# 2048), then updates them all, then deletes them all; after each phase
# the backup must hold exactly fw1's table.  REPS repetitions (default 5)
# at N (default 1,000,000), then one at N2 (default 2,000,000;
# nf_conntrack_max is raised for it and restored), first with ctsyncd,
# then with Debian's conntrackd (FTFW, external cache, sized for N as in
# bench.sh).  The event socket overruns at this speed; what counts is
# whether every flow still arrives.
#
# Prints the test's own lines, then one Markdown table: per size, daemon
# and phase, the repetitions in which the backup held everything, the
# most flows missing in any, the median time until the backup held the
# table (from the end of the generator) and its ratio to conntrackd's,
# and fw1's overruns and lost events.  --quick: N 100,000, 1 repetition,
# no N2 (about a minute).
#
# Exit: 0 when ctsyncd missed nothing in any phase (conntrackd's figures
# are reported, not judged); 1 otherwise; 77 skip.  Environment:
# CTS_BUILD (default build-bench/, a release build, set up when missing).
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
export CTS_BUILD=${CTS_BUILD:-$ROOT/build-bench}
N=1000000 REPS=5 BIG=2000000
usage() { echo "usage: burst_bench.sh [--quick] [-n N] [-r REPS] [--big N2]" >&2; exit 2; }
while (($#)); do
	case $1 in
	--quick) N=100000 REPS=1 BIG=0 ;;
	-n) [[ ${2-} =~ ^[0-9]+$ ]] || usage; N=$2; shift ;;
	-r) [[ ${2-} =~ ^[1-9][0-9]*$ ]] || usage; REPS=$2; shift ;;
	--big) [[ ${2-} =~ ^[0-9]+$ ]] || usage; BIG=$2; shift ;;
	-h | --help) sed -n '3,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) usage ;;
	esac
	shift
done

[[ $(id -u) -eq 0 ]] || { echo "SKIP: burst_bench.sh needs root" >&2; exit 77; }
command -v conntrackd >/dev/null 2>&1 || { echo "SKIP: conntrackd not found" >&2; exit 77; }
if [[ ! -x $CTS_BUILD/ctsyncd ]]; then
	(cd "$ROOT" && meson setup "$CTS_BUILD" --buildtype=release -Db_sanitize=none) >/dev/null ||
		{ echo "burst_bench.sh: meson setup $CTS_BUILD failed" >&2; exit 1; }
fi
ninja -C "$CTS_BUILD" >/dev/null || { echo "burst_bench.sh: ninja -C $CTS_BUILD failed" >&2; exit 1; }

TSV=$(mktemp)
trap 'rm -f "$TSV"' EXIT
rc=0
run() {	# N REPS
	CTS_RESULTS=$TSV CTS_SETTLE_S=${CTS_SETTLE_S:-180} bash "$ROOT/tests/netns/test_burst.sh" \
		-n "$1" -r "$2" -d "ctsyncd conntrackd" </dev/null || rc=1
}
run "$N" "$REPS"
((BIG)) && run "$BIG" 1

echo
echo "## Creates, updates and deletes at the kernel's full speed, ctsyncd beside conntrackd"
echo
echo "$(uname -r), $(nproc) cores; $(conntrackd -v 2>&1 | head -n 1 | sed "s/\. .*//"); both at their defaults"
echo "(conntrackd sized for N as in bench.sh).  Held: repetitions in which the backup held"
echo "exactly fw1's table within the deadline.  Missing: the most flows missing in any"
echo "repetition.  Time: median seconds from the end of the generator until the backup held it."
echo
echo "| N | phase | held ctsyncd | held conntrackd | missing ctsyncd | missing conntrackd | time ctsyncd | time conntrackd | ratio | ctsyncd overruns / events lost (max) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '
	$4 == "creates" || $4 == "updates" || $4 == "deletes" {
		k = $2 SUBSEP $4
		if (!(k in seen)) { seen[k] = 1; order[++m] = k }
		runs[$1, k]++
		if ($6 != "-" && $7 == 0) held[$1, k]++
		if ($7 + 0 > miss[$1, k] + 0) miss[$1, k] = $7
		if ($6 != "-") t[$1, k, ++nt[$1, k]] = $6
		if ($1 == "ctsyncd") {
			if ($8 + 0 > ov[k] + 0) ov[k] = $8
			if ($9 + 0 > el[k] + 0) el[k] = $9
		}
	}
	function median(d, k,   n, i, j, v, a) {
		n = nt[d, k]
		if (!n) return "-"
		for (i = 1; i <= n; i++) a[i] = t[d, k, i]
		for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
		return a[int((n + 1) / 2)]
	}
	END {
		for (i = 1; i <= m; i++) {
			k = order[i]; split(k, p, SUBSEP)
			a = median("ctsyncd", k); b = median("conntrackd", k)
			printf "| %s | %s | %d/%d | %d/%d | %d | %d | %s | %s | %s | %s / %s |\n", p[1], p[2],
				held["ctsyncd", k], runs["ctsyncd", k], held["conntrackd", k], runs["conntrackd", k],
				miss["ctsyncd", k], miss["conntrackd", k], a, b,
				(a != "-" && b != "-" && b > 0) ? sprintf("%.2f", a / b) : "-", ov[k] + 0, el[k] + 0
		}
	}' "$TSV"
echo
awk -F'\t' '$4 == "link" { printf "ctsyncd N=%s rep %s: peer taken for down %s times, longest send gap fw1 %s ms, fw2 %s ms\n", $2, $3, $5, $6, $7 }
	$4 == "commit" { printf "ctsyncd N=%s rep %s: commit of the whole table on fw2 %s s\n", $2, $3, $6 }
	$4 == "standby" { printf "ctsyncd N=%s rep %s: fw2 as hot standby wrote the whole table again in %s s\n", $2, $3, $6 }' "$TSV"
echo
((rc == 0)) && echo "ctsyncd missed nothing in any phase" || echo "ctsyncd missed flows or a check failed (see above)"
exit "$rc"
