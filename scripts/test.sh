#!/usr/bin/env bash
#
# scripts/test.sh [--quick] - run every ctsync test.
#
#   1. scripts/install-deps.sh (when root)
#   2. mandoc -Tlint on each man page            (one test case per page)
#   3. a debug build with ASan + UBSan in build-test/
#   4. ctsyncd -n --no-host-check on each conf/*.yaml (one test case
#      per file)
#   5. meson test: unit tests and, unless --quick, the netns suite
#   6. the libFuzzer targets built with clang in build-fuzz/, each run for
#      20 s over a copy of its seed corpus (one test case per target)
#   7. a per-test summary; the last line is "N passed, N failed"
#      (", N skipped" after it when tests skipped themselves with exit 77)
#
# Exit status: 0 when nothing failed.  Usage: sudo scripts/test.sh [--quick]
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BUILD=build-test
QUICK=0
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h | --help)
		sed -n '3,15s/^# \{0,1\}//p' "$0"
		exit 0 ;;
	*)
		echo "test.sh: unknown argument '$arg' (try --help)" >&2
		exit 2 ;;
	esac
done

export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export LC_ALL=C

RESULTS=()	# "STATUS<TAB>name<TAB>detail", STATUS = PASS FAIL SKIP
record() { RESULTS+=("$1	$2	${3-}"); }

summary() {
	local r st name detail pass=0 failn=0 skip=0 line
	echo
	echo "==================== summary ===================="
	for r in "${RESULTS[@]}"; do
		IFS=$'\t' read -r st name detail <<<"$r"
		printf '%-4s  %s%s\n' "$st" "$name" "${detail:+  ($detail)}"
		case $st in
		PASS) pass=$((pass + 1)) ;;
		SKIP) skip=$((skip + 1)) ;;
		*) failn=$((failn + 1)) ;;
		esac
	done
	line="$pass passed, $failn failed"
	((skip > 0)) && line+=", $skip skipped"
	echo "$line"
	((failn == 0))
}

step() { printf '\n==> %s\n' "$*"; }

# ------------------------------------------------------------ 1. deps

step "dependencies"
if [[ $(id -u) -eq 0 ]]; then
	if ! scripts/install-deps.sh; then
		record FAIL install-deps "scripts/install-deps.sh failed"
		summary
		exit 1
	fi
else
	echo "not root: skipping install-deps; the netns tests will skip (run: sudo $0)"
fi

# ------------------------------------------------------- 2. man lint

step "mandoc -Tlint man/*"
shopt -s nullglob
pages=(man/*.5 man/*.7 man/*.8)
# Our pages refer to each other, and mandoc only finds installed pages:
# "referenced manual not found" for one of ours is not a finding.
ours=""
for p in "${pages[@]}"; do
	b=${p##*/}
	b=${b//./\\.}
	ours+="${ours:+|}${b%\\.*} ${b##*.}"
done
for p in "${pages[@]}"; do
	if ! command -v mandoc >/dev/null; then
		record FAIL "lint: $p" "mandoc not installed"
		continue
	fi
	out=$(mandoc -Tlint "$p" 2>&1 | grep -v 'outdated mandoc.db' |
		grep -Ev "referenced manual not found: Xr ($ours)( \([0-9]+ times\))?\$")
	if [[ -z $out ]]; then
		record PASS "lint: $p"
	else
		echo "$out"
		record FAIL "lint: $p" "$(wc -l <<<"$out") message(s)"
	fi
done

# ----------------------------------------------------------- 3. build

step "build ($BUILD: debug, address+undefined sanitizers)"
# shellcheck disable=SC2054  # the comma is meson's
setup_args=(-Db_sanitize=address,undefined --buildtype=debug)
build_ok=1
if [[ -f $BUILD/build.ninja ]]; then
	meson setup --reconfigure "$BUILD" "${setup_args[@]}" ||
		meson setup --wipe "$BUILD" "${setup_args[@]}" || build_ok=0
else
	meson setup "$BUILD" "${setup_args[@]}" || build_ok=0
fi
# (the build is a case only when it fails: then nothing else can run)
if ! ((build_ok)) || ! ninja -C "$BUILD"; then
	record FAIL "build: $BUILD" "meson setup or ninja failed"
	summary
	exit 1
fi

# ---------------------------------------------------- 4. config check

# The examples name fw1's addresses and interfaces, not this host's.
step "ctsyncd -n --no-host-check on conf/*.yaml"
for c in conf/*.yaml; do
	out=$("$BUILD/ctsyncd" -c "$c" -n --no-host-check 2>&1)
	rc=$?
	if ((rc == 0)) && [[ $out == *"configuration OK"* ]]; then
		record PASS "config: $c"
	else
		printf '%s\n' "$out" | head -n 20
		record FAIL "config: $c" "ctsyncd -n exited $rc"
	fi
done

# ----------------------------------------------------- 5. meson test

if ((QUICK)); then step "meson test (--quick: without the netns suite)"; else step "meson test"; fi
mtest=(meson test -C "$BUILD" --print-errorlogs)
((QUICK)) && mtest+=(--no-suite netns)
testlog=$BUILD/meson-logs/testlog.json
rm -f "$testlog"
"${mtest[@]}"
mrc=$?
if [[ -s $testlog ]]; then
	# testlog.json names are "flow" or "ctsync:unit / flow" and carry no
	# suite (meson 1.0): the suite comes from the name or introspection.
	meson introspect --tests "$BUILD" >"$BUILD/meson-logs/tests-introspect.json" 2>/dev/null ||
		echo '[]' >"$BUILD/meson-logs/tests-introspect.json"
	while IFS=$'\x1f' read -r result name suite duration; do
		label="${suite:+$suite/}$name"
		detail="$(printf '%.2f s' "$duration")"
		case $result in
		OK | EXPECTEDFAIL) record PASS "$label" "$detail" ;;
		SKIP) record SKIP "$label" "$detail" ;;
		*) record FAIL "$label" "$result, $detail" ;;
		esac
	done < <(jq -r --slurpfile t "$BUILD/meson-logs/tests-introspect.json" '
		($t[0] | map({key: .name, value: (.suite | map(sub("^[^:]*:"; "")) | join(","))})
		       | from_entries) as $suites
		| (.name | capture("^[^:/ ]+:(?<s>[^ ]+) / (?<n>.*)$") // {s: null, n: .}) as $nm
		| [.result, $nm.n, ($nm.s // $suites[$nm.n] // ""), (.duration // 0 | tostring)]
		| join("\u001f")' "$testlog")
elif ((mrc != 0)); then
	record FAIL "meson test" "exited $mrc without a test log"
fi
if ((mrc != 0)) && ! printf '%s\n' "${RESULTS[@]}" | grep -q '^FAIL'; then
	record FAIL "meson test" "exited $mrc"
fi

# ------------------------------------------------------------ 6. fuzz

FUZZ_BUILD=build-fuzz
FUZZ_SECONDS=20
step "fuzz ($FUZZ_BUILD: clang, libFuzzer, address+undefined; ${FUZZ_SECONDS} s per target)"
fuzz_targets=(wire ctl config auth)
fuzz_tmp=()
trap 'rm -rf "${fuzz_tmp[@]}"' EXIT
# shellcheck disable=SC2054  # the comma is meson's
fuzz_args=(-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false)
fuzz_ok=1
if ! command -v clang >/dev/null; then
	for f in "${fuzz_targets[@]}"; do record SKIP "fuzz: fuzz_$f" "clang not installed"; done
	fuzz_ok=0
else
	if [[ ! -f $FUZZ_BUILD/build.ninja ]]; then
		CC=clang meson setup "$FUZZ_BUILD" "${fuzz_args[@]}" || fuzz_ok=0
	elif grep -q '"command": "[^"]*clang' "$FUZZ_BUILD/compile_commands.json" 2>/dev/null; then
		CC=clang meson setup --reconfigure "$FUZZ_BUILD" "${fuzz_args[@]}" ||
			CC=clang meson setup --wipe "$FUZZ_BUILD" "${fuzz_args[@]}" || fuzz_ok=0
	else
		# configured with another compiler, which meson keeps: start over
		CC=clang meson setup --wipe "$FUZZ_BUILD" "${fuzz_args[@]}" || fuzz_ok=0
	fi
	if ! ((fuzz_ok)) || ! ninja -C "$FUZZ_BUILD" "${fuzz_targets[@]/#/tests/fuzz_}"; then
		record FAIL "build: $FUZZ_BUILD" "meson setup or ninja failed"
		fuzz_ok=0
	fi
fi
if ((fuzz_ok)); then
	for f in "${fuzz_targets[@]}"; do
		# A copy of the seed corpus, so new inputs stay out of the tree;
		# crash inputs are kept in $FUZZ_BUILD/fuzz-crashes/<target>/.
		d=$(mktemp -d "/tmp/ctsync-fuzz-$f.XXXXXX")
		fuzz_tmp+=("$d")
		mkdir -p "$d/corpus" "$d/artifacts"
		cp -R "tests/fuzz/corpus/$f/." "$d/corpus/"
		n0=$(find "$d/corpus" -type f | wc -l)
		"$FUZZ_BUILD/tests/fuzz_$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
			-print_final_stats=1 -artifact_prefix="$d/artifacts/" "$d/corpus" \
			</dev/null >"$d/log" 2>&1
		rc=$?
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$d/log" | tail -n 1)
		n1=$(find "$d/corpus" -type f | wc -l)
		if ((rc == 0)) && [[ -z $(ls -A "$d/artifacts") ]]; then
			record PASS "fuzz: fuzz_$f" "${execs:-?} runs, corpus $n0 -> $n1"
		else
			tail -n 40 "$d/log"
			mkdir -p "$FUZZ_BUILD/fuzz-crashes/$f"
			cp -R "$d/artifacts/." "$FUZZ_BUILD/fuzz-crashes/$f/" 2>/dev/null
			cp "$d/log" "$FUZZ_BUILD/fuzz-crashes/$f/fuzz.log"
			record FAIL "fuzz: fuzz_$f" "exit $rc; input and log in $FUZZ_BUILD/fuzz-crashes/$f/"
		fi
		rm -rf "$d"
	done
fi

# ------------------------------------------------------------ 7. bench

# The benchmark at small N only, as a smoke test (figures are not judged
# here; flows lost are a failure).  The full run: tests/bench/bench.sh.
if ((!QUICK)); then
	step "benchmark smoke run (tests/bench/bench.sh --quick)"
	if out=$(bash tests/bench/bench.sh --quick 2>&1 </dev/null); then
		record PASS "bench: --quick" "N=10000, ctsyncd and conntrackd"
	else
		printf '%s\n' "$out" | tail -20
		record FAIL "bench: --quick" "see the output above"
	fi
fi

summary
