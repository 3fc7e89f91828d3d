#!/usr/bin/env bash
#
# tests/bench/failover_bench.sh [--quick] [-n N] - failover beside conntrackd.
#
# Runs tests/netns/test_failover.sh (keepalived VRRPv3 at 0.1 s adverts,
# 200 TCP + 20 UDP flows and a SNATed set echoing every 50 ms through a
# strict firewall pair; a crash, a planned failback, a link failure) once
# with ctsyncd (its defaults: hot standby, keepalived's notify FIFO) and
# once with Debian's conntrackd (FTFW, external cache, sized for the
# table, keepalived running Debian's primary-backup.sh), with the same
# topology and traffic, then the same again with N further generated
# flows in the master's table (default 500,000; --quick: no large
# table), and prints one Markdown table: per scenario and daemon, the
# connections that survived, the longest silence any of them saw, the
# packets the new master dropped as ct state invalid, and when the commit
# returned after the fault.
#
# With ctsyncd, scenario 3 is preceded by a restart of fw2's daemon and 22
# more connections (see test_failover.sh), so it counts 331 where
# conntrackd's counts 309.
#
# Exit: 0 when every run completed and ctsyncd kept every connection in
# every scenario (conntrackd's figures are reported, not judged);
# 1 otherwise; 77 skip (not root, keepalived or conntrackd missing).
# Environment: CTS_BUILD (default build-bench/, a release build, set up
# when missing), and the test's own (CTS_KEEP=1 keeps the logs).
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/../.." && pwd)
export CTS_BUILD=${CTS_BUILD:-$ROOT/build-bench}
BIG=500000
while (($#)); do
	case $1 in
	--quick) BIG=0 ;;
	-n) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || { echo "failover_bench.sh: -n N" >&2; exit 2; }
	    BIG=$2; shift ;;
	-h | --help) sed -n '3,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "failover_bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
	shift
done

[[ $(id -u) -eq 0 ]] || { echo "SKIP: failover_bench.sh needs root" >&2; exit 77; }
for tool in keepalived conntrackd; do
	command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: '$tool' not found" >&2; exit 77; }
done
if [[ ! -x $CTS_BUILD/ctsyncd ]]; then
	(cd "$ROOT" && meson setup "$CTS_BUILD" --buildtype=release -Db_sanitize=none) >/dev/null ||
		{ echo "failover_bench.sh: meson setup $CTS_BUILD failed" >&2; exit 1; }
fi
ninja -C "$CTS_BUILD" >/dev/null || { echo "failover_bench.sh: ninja -C $CTS_BUILD failed" >&2; exit 1; }

TSV=$(mktemp)
LOGS=$(mktemp -d)
trap 'rm -f "$TSV" "$TSV".*; rm -rf "$LOGS"' EXIT
SIZES=(0)
((BIG)) && SIZES+=("$BIG")
rc=0
for n in "${SIZES[@]}"; do
	for d in ctsyncd conntrackd; do
		log=$LOGS/$d-$n.log
		printf 'failover_bench: %s, %s generated flows ... ' "$d" "$n"
		start=$SECONDS
		CTS_DAEMON=$d CTS_BIG=$n CTS_RESULTS=$TSV.$n \
			bash "$ROOT/tests/netns/test_failover.sh" >"$log" 2>&1 </dev/null
		st=$?
		echo "exit $st ($((SECONDS - start)) s)"
		if [[ $d == ctsyncd && $st -ne 0 ]]; then
			rc=1
			grep -E '^FAIL|^   ' "$log" | head -n 20
		elif ((st != 0)); then	# reported, not judged
			grep -E '^FAIL' "$log" | head -n 6 | sed 's/^/  /'
		fi
		# a run that stopped early has fewer rows: say which are missing
		grep -c "^$d	" "$TSV.$n" 2>/dev/null | grep -qx 3 ||
			{ echo "  ($d stopped before all three scenarios; last lines:)"; tail -n 5 "$log"; }
	done
done

# One row per scenario and size; ctsyncd's figure, conntrackd's, ratio.
echo
echo "## Failover, ctsyncd beside conntrackd (same run, same topology and traffic)"
echo
echo "$(uname -r), $(nproc) cores; keepalived $(keepalived --version 2>&1 | head -n 1 | awk '{print $2}')," \
	"VRRPv3 advert_int 0.1 s; $(conntrackd -v 2>&1 | head -n 1)."
echo "Survived: connections still echoing 3 s after the takeover. Silence: the longest gap any"
echo "connection saw (ms). Invalid: packets the new master dropped as ct state invalid."
echo "Commit: ms from the fault until the commit returned."
echo
echo "| table | scenario | survived ctsyncd | survived conntrackd | silence ctsyncd | silence conntrackd | ratio | invalid ctsyncd | invalid conntrackd | commit ctsyncd | commit conntrackd |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for n in "${SIZES[@]}"; do
	[[ -s $TSV.$n ]] || continue
	awk -F'\t' -v n="$n" '
		{ k = $2; if (!(k in seen)) { seen[k] = 1; order[++m] = k }
		  sv[$1, k] = $3 "/" $4; si[$1, k] = $6; iv[$1, k] = $7; cm[$1, k] = $8 }
		function g(a, d, k) { return ((d, k) in a) ? a[d, k] : "-" }
		END {
			for (i = 1; i <= m; i++) {
				k = order[i]
				a = g(si, "ctsyncd", k); b = g(si, "conntrackd", k)
				r = (a != "-" && b != "-" && b > 0) ? sprintf("%.2f", a / b) : "-"
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
					n ? n " + flowgen" : "flowgen", k,
					g(sv, "ctsyncd", k), g(sv, "conntrackd", k), a, b, r,
					g(iv, "ctsyncd", k), g(iv, "conntrackd", k),
					g(cm, "ctsyncd", k), g(cm, "conntrackd", k)
			}
		}' "$TSV.$n"
	rm -f "$TSV.$n"
done
echo
((rc == 0)) && echo "ctsyncd kept every connection in every scenario" ||
	echo "ctsyncd lost connections or a check failed (see above)"
exit "$rc"
