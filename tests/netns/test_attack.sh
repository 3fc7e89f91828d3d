#!/usr/bin/env bash
#
# tests/netns/test_attack.sh clear|encrypted - authenticated sync under
# attack (issue "Nothing lost under faults, bad input and attack").
#
#   clear      sync.key_file, payload in clear (sealed: tag only)
#   encrypted  sync.key_file and sync.encrypt: true
#
# The sync path goes through a man in the middle, ctattack
# (tests/tools/ctattack.c), in the relay namespace of lib.sh's topo_relay:
# fw1 192.0.2.1 -- 192.0.2.2 [ctattack] 192.0.2.5 -- fw2 192.0.2.6.  It
# relays both ways unchanged and records what fw1 sends; what it sends to
# fw2 comes from fw1's peer address, so fw2 takes it for fw1's.  Both
# daemons use one key (id 1).  fw1 gets CTS_FLOWS (default 3000) ctgen
# flows; once fw2 holds them, ctattack sends CTS_INJECT (default 25)
# datagrams to fw2 in each phase:
#   a1. forged DATA (FLOW records for flows nobody has), not sealed: no_tag
#   a2. the same sealed with another key under key id 1:            bad_tag
#   a3. the same sealed under key id 4242, which fw2 does not have:  bad_key
#   b.  recorded DATA of fw1, one payload bit flipped:               bad_tag
#   c.  recorded datagrams of fw1 resent as they are:               replayed
#   d.  fw1's ctsyncd restarted; its previous life's datagrams:    old_epoch
#   e.  fw2's ctsyncd restarted while ctattack holds back fw1's traffic;
#       fw1's datagrams recorded before the restart:               unproven
#       (fw2 holds no flow until fw1's traffic passes again)
# After each: fw2's auth counters moved by exactly what was sent, in the
# phase's counter only (d: and unproven, which fw1's restart moves);
# fw2's external cache equals fw1's internal cache; no forged flow is in
# it; fw2 shows key id 1 for its peer; 200 new flows on fw1 reach fw2.
# Then:
#   f.  fw1's key file made mode 0644 and SIGHUP: not taken (logged with
#       "chmod 600"), fw1 still seals with key 1; mode 0600 again;
#   g.  key rotation without downtime: key 2 added below key 1 on both,
#       SIGHUP; key 2 first on fw1 only, SIGHUP (fw2 shows peer key id 2);
#       then on fw2 (fw1 shows 2); key 1 removed on both.  After each step
#       new flows on fw1 reach fw2, both peers stay up, and no auth counter
#       moves on either node;
#   h.  `ctsyncd -n` with a key file of mode 0644 fails, naming the file
#       and "chmod 600";
#   i.  what ctattack recorded was all sealed (clear) or all encrypted
#       (encrypted); both daemons stop cleanly (SIGTERM, status 0, no
#       sanitizer report);
#   j.  the control experiment: both daemons restarted without keys, one
#       forged datagram is applied (its 8 flows appear on fw2), so what
#       kept the forgeries out before was the seal alone.  The datagram
#       took the seq fw1 sends next, so fw2 is ahead of fw1's stream: it
#       resyncs (desyncs) and the forged flows are swept within seconds;
#   k.  careless configuration: fw2 restarted with fw1's node id: both
#       log it, count it (malformed.node_clash) and `ctctl ready` fails
#       naming the other node;
#   l.  the two with different keys: fw2's `ctctl ready` fails with "do
#       not authenticate" (and its log says so) instead of taking itself
#       to be alone after peer_timeout.
# Prints one line per check with its figures, and a table of the phases.
#
# Exit: 0 pass, 1 fail, 2 usage, 77 skip (not root, tools or binaries
# missing).  Environment: CTSYNCD CTCTL CTGEN CTATTACK (paths; default
# build/), CTS_FLOWS, CTS_INJECT, CTS_CONVERGE_S (default 60), CTS_KEEP=1
# keeps the logs.
set -uo pipefail

mode=${1:-}
case $mode in
clear) ENCRYPT=false ;;
encrypted) ENCRYPT=true ;;
*) echo "usage: $0 clear|encrypted" >&2; exit 2 ;;
esac

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CTATTACK=${CTATTACK:-$CTS_BUILD/tests/ctattack}
NFLOWS=${CTS_FLOWS:-3000}
NINJECT=${CTS_INJECT:-25}
CONVERGE_S=${CTS_CONVERGE_S:-60}
MORE=200			# new flows on fw1 after each phase
FORGED_SRC=198.51.100.250	# the source of ctattack's forged flows
UNKNOWN_KEY=4242

cts_init "attack-$mode" || exit $?
need_bins CTSYNCD CTCTL CTGEN CTATTACK

REPORT=()
summary() {
	local r
	echo
	echo "== attack on the sync link ($mode payload): what fw2 refused, and the"
	echo "   time until fw2 held $MORE new flows of fw1 afterwards (the rotation:"
	echo "   from a key change to its $MORE flows on fw2; the control: until fw2"
	echo "   held the forged flows)"
	printf '   %-44s %5s  %-22s %6s %9s\n' phase sent "fw2 counter" moved "converge"
	for r in "${REPORT[@]}"; do echo "   $r"; done
	report_failed
}
ok() { say "ok: $*"; }

SOCK1=$CTS_TMP/fw1.sock
SOCK2=$CTS_TMP/fw2.sock
SETS=$CTS_TMP/sets
mkdir -p "$SETS"

# ------------------------------------------------------------- helpers

# nstat NODE JQ / nstatus NODE JQ: one value from NODE's (fw1|fw2)
# `ctctl -j stats` / `ctctl -j status` (empty if it does not answer).
ns_of() { if [[ $1 == fw1 ]]; then echo "$NS_FW1"; else echo "$NS_FW2"; fi; }
sock_of() { if [[ $1 == fw1 ]]; then echo "$SOCK1"; else echo "$SOCK2"; fi; }
nstat() { stat_of "$(ns_of "$1")" "$(sock_of "$1")" "$2"; }
nstatus() {
	ctctl_in "$(ns_of "$1")" "$(sock_of "$1")" -j status 2>/dev/null | jq -r "$2" 2>/dev/null
}

ctsyncd_up() { ctctl_in "$(ns_of "$1")" "$(sock_of "$1")" status >/dev/null 2>&1; }
peer_synced() {
	ctctl_in "$(ns_of "$1")" "$(sock_of "$1")" -j status 2>/dev/null |
		jq -e '.peers | length > 0 and all(.state == "up" and .table == "complete")' >/dev/null 2>&1
}
pair_synced() { peer_synced fw1 && peer_synced fw2; }
peers_up() {
	[[ $(nstatus fw1 '.peers[0].state') == up && $(nstatus fw2 '.peers[0].state') == up ]]
}

AUTH_KEYS=(no_tag unexpected_tag bad_key bad_tag replayed old_epoch unproven)
# auth_line NODE: NODE's auth counters, in the order of AUTH_KEYS.
auth_line() {
	nstat "$1" '.auth | "\(.no_tag) \(.unexpected_tag) \(.bad_key) \(.bad_tag) \(.replayed) \(.old_epoch) \(.unproven)"'
}
# auth_snap NODE: remember NODE's counters; auth_delta NODE KEY: moved since.
declare -A SNAP=()
auth_snap() {
	local v i
	read -r -a v <<<"$(auth_line "$1")"
	for i in "${!AUTH_KEYS[@]}"; do SNAP[$1/${AUTH_KEYS[$i]}]=${v[$i]:-0}; done
}
auth_delta() {
	local v
	v=$(nstat "$1" ".auth.$2")
	echo $((${v:-0} - ${SNAP[$1/$2]:-0}))
}
auth_reached() { (($(auth_delta "$1" "$2") >= $3)); }

# expect_auth LABEL NODE KEY=N|KEY=any...: NODE's counters moved since
# auth_snap by exactly N for each KEY given (any: not checked), by 0 for
# the others.  Sets MOVED to "key +n ..." of those that moved.
MOVED=
expect_auth() {
	local label=$1 node=$2 kv k d want bad=''
	shift 2
	declare -A exp=()
	for kv in "$@"; do exp[${kv%%=*}]=${kv#*=}; done
	MOVED=
	for k in "${AUTH_KEYS[@]}"; do
		d=$(auth_delta "$node" "$k")
		((d != 0)) && MOVED+="${MOVED:+ }$k +$d"
		want=${exp[$k]:-0}
		[[ $want == any || $d == "$want" ]] || bad+="${bad:+, }$k moved by $d, want $want"
	done
	if [[ -n $bad ]]; then
		fail "$label: $node's auth counters: $bad"
		return 1
	fi
	return 0
}

# replicated: fw1's internal and fw2's external caches hold EXPECT flows
# and their flow sets are equal (dumps taken in parallel).
DEAD='' EXPECT=0 N1='' N2=''
daemons_alive() {
	local n
	for n in fw1 fw2; do ctsyncd_alive "$n" || { DEAD=$n; return 1; }; done
}
replicated() {
	local p1 p2
	daemons_alive || return 0
	N1=$(cache_count "$NS_FW1" "$SOCK1" internal)
	N2=$(cache_count "$NS_FW2" "$SOCK2" external)
	[[ $N1 == "$EXPECT" && $N2 == "$EXPECT" ]] || return 1
	dump_flowset "$NS_FW1" "$SOCK1" internal "$SETS/fw1.int" & p1=$!
	dump_flowset "$NS_FW2" "$SOCK2" external "$SETS/fw2.ext" & p2=$!
	wait "$p1" || { wait "$p2"; return 1; }
	wait "$p2" || return 1
	cmp -s "$SETS/fw1.int" "$SETS/fw2.ext"
}

# converge LABEL: wait until replicated; CONV_S is how long it took.
CONV_S=-
converge() {
	local label=$1
	DEAD='' CONV_S=-
	rm -f "$SETS/fw1.int" "$SETS/fw2.ext"
	if wait_until "$CONVERGE_S" replicated && [[ -z $DEAD ]]; then
		CONV_S=$WAIT_ELAPSED
		return 0
	fi
	if [[ -n $DEAD ]]; then
		die "$label: ctsyncd on $DEAD died"
	fi
	fail "$label: fw2's external cache != fw1's internal cache after $WAIT_ELAPSED s" \
		"(want $EXPECT flows; fw1 internal $N1, fw2 external $N2)"
	dump_flowset "$NS_FW1" "$SOCK1" internal "$SETS/fw1.int"
	dump_flowset "$NS_FW2" "$SOCK2" external "$SETS/fw2.ext"
	[[ -f $SETS/fw1.int && -f $SETS/fw2.ext ]] &&
		assert_eq_sets "$SETS/fw1.int" "$SETS/fw2.ext" "fw1-internal" "fw2-external"
	echo "fw2 stats: $(nstat fw2 '{auth, malformed, peers}' | jq -c . 2>/dev/null | head -c 1500)"
	return 1
}

# no_forged LABEL: none of ctattack's forged flows is in fw2's last dump.
no_forged() {
	local n
	n=$(grep -c "src=$FORGED_SRC " "$SETS/fw2.ext" 2>/dev/null)
	if [[ ! -f $SETS/fw2.ext ]]; then
		fail "$1: no dump of fw2's external cache to look for forged flows in"
	elif ((n > 0)); then
		fail "$1: fw2's external cache holds $n forged flows (src $FORGED_SRC)"
		grep -m 3 "src=$FORGED_SRC " "$SETS/fw2.ext"
	fi
}

# peer_key NODE: the key id NODE last saw its peer use.
peer_key() { nstatus "$1" '.peers[0].key_id'; }
peer_key_is() { [[ $(peer_key "$1") == "$2" ]]; }

# more_flows: MORE new flows on fw1 (a new source address each time).
BATCH=0
more_flows() {
	local out
	BATCH=$((BATCH + 1))
	out=$(nsx "$NS_FW1" "$CTGEN" -n "$MORE" -p udp --base "198.18.$BATCH.1" 2>&1) ||
		die "ctgen -n $MORE --base 198.18.$BATCH.1 on fw1: $out"
	EXPECT=$((EXPECT + MORE))
}

# after_phase LABEL: the state checks every phase ends with.  fw2 still
# equals fw1, holds no forged flow, shows key id 1 for fw1; then MORE new
# flows reach it (CONV_S: how long they took).
after_phase() {
	local label=$1 key
	if converge "$label: right after"; then
		no_forged "$label"
		ok "$label: fw2's external cache == fw1's internal cache ($EXPECT flows), no forged flow"
	fi
	key=$(peer_key fw2)
	[[ $key == 1 ]] || fail "$label: fw2 shows key id '$key' for its peer, want 1"
	more_flows
	if converge "$label: $MORE new flows"; then
		no_forged "$label"
		ok "$label: $MORE new flows of fw1 on fw2 in $CONV_S s ($EXPECT flows); peer key id $key"
	fi
}

# ------------------------------------------------------------- ctattack

ATK_LOG=$CTS_TMP/ctattack.log
ATK_FIFO=$CTS_TMP/ctattack.ctl
ATK_N=0 ATK_OUT='' ATK_SENT=0 ATK_PID=
# attack CMD...: one command to ctattack; waits for its answer line
# (ATK_OUT) and sets ATK_SENT from "sent N".  1 on error or no answer.
attack() {
	ATK_N=$((ATK_N + 1))
	echo "$*" >&"$ATK_FD"
	if ! wait_until 10 grep -q "^ctattack: #$ATK_N " "$ATK_LOG"; then
		fail "ctattack: no answer to '$*' within 10 s"
		return 1
	fi
	ATK_OUT=$(grep -m 1 "^ctattack: #$ATK_N " "$ATK_LOG")
	ATK_OUT=${ATK_OUT#"ctattack: #$ATK_N "}
	ATK_SENT=0
	[[ $ATK_OUT =~ :\ sent\ ([0-9]+) ]] && ATK_SENT=${BASH_REMATCH[1]}
	if [[ $ATK_OUT == *": error: "* ]]; then
		fail "ctattack: $ATK_OUT"
		return 1
	fi
}

# inject LABEL COUNTER CMD...: snapshot fw2's counters, send CMD (which
# must send NINJECT datagrams), wait until COUNTER moved by as many, then
# check it moved by exactly that and nothing else did (extra KEY=VALUE
# for expect_auth after --).
inject() {
	local label=$1 counter=$2 extra=() sent
	shift 2
	while (($#)) && [[ $1 != -- ]]; do extra+=("$1"); shift; done
	shift
	auth_snap fw2
	attack "$@" || return 1
	say "ctattack: $ATK_OUT"
	sent=$ATK_SENT
	((sent == NINJECT)) || fail "$label: ctattack sent $sent datagrams, want $NINJECT"
	wait_until 10 auth_reached fw2 "$counter" "$sent" ||
		fail "$label: fw2's auth.$counter moved by $(auth_delta fw2 "$counter") in 10 s, $sent sent"
	if expect_auth "$label" fw2 "$counter=$sent" "${extra[@]}"; then
		ok "$label: fw2 refused all $sent: ${MOVED:-nothing moved}"
	fi
	PH_SENT=$sent PH_MOVED=$(auth_delta fw2 "$counter")
}

# report LABEL COUNTER: the phase's line in the summary.
PH_SENT=0 PH_MOVED=0
report() {
	REPORT+=("$(printf '%-44s %5s  %-22s %6s %8ss' "$1" "$PH_SENT" "$2" "+$PH_MOVED" "$CONV_S")")
}

# ------------------------------------------------------------- topology

say "attack test ($mode payload), prefix $CTS_P"
topo_pair || die "building the topology"
topo_relay || die "building the relay namespace"

mkfifo -m 0600 "$ATK_FIFO" || die "mkfifo $ATK_FIFO"
exec {ATK_FD}<>"$ATK_FIFO"
start_bg "$NS_RL" "$ATK_LOG" "$CTATTACK" 192.0.2.2:3780 192.0.2.6:3780 \
	--bind 192.0.2.5:3780 --control "$ATK_FIFO"
ATK_PID=$BG_PID
wait_until 5 grep -q '^ctattack: relaying' "$ATK_LOG" ||
	die "ctattack did not start: $(head -c 300 "$ATK_LOG")"
say "$(head -n 1 "$ATK_LOG")"

# ------------------------------------------------------------- keys

KF1=$(key_file_new fw1.key 1) || die "making a key file with ctsyncd --genkey"
KF2=$CTS_TMP/fw2.key
install -m 0600 "$KF1" "$KF2" || die "copying the key file"
KEY1=$(head -n 1 "$KF1")
KEY2=$(key_line 2) || die "ctsyncd --genkey 2"
[[ $(stat -c %a "$KF1") == 600 ]] || die "key_file_new made $KF1 mode $(stat -c %a "$KF1"), want 600"

ctsyncd_config_at "$CTS_TMP/fw1.yaml" 1 192.0.2.1 192.0.2.2 "key_file=$KF1" "encrypt=$ENCRYPT" ||
	die "fw1's config"
ctsyncd_config_at "$CTS_TMP/fw2.yaml" 2 192.0.2.6 192.0.2.5 "key_file=$KF2" "encrypt=$ENCRYPT" ||
	die "fw2's config"
ctsyncd_check 1 && ctsyncd_check 2

# ------------------------------------------------------------- daemons

start_ctsyncd fw1 "$NS_FW1" "$CTS_TMP/fw1.yaml"
start_ctsyncd fw2 "$NS_FW2" "$CTS_TMP/fw2.yaml"
wait_until 15 ctsyncd_up fw1 || die "ctsyncd on fw1 not answering"
wait_until 15 ctsyncd_up fw2 || die "ctsyncd on fw2 not answering"
wait_until 15 pair_synced || die "the daemons did not see each other's (empty) tables"
want_auth=authenticated
[[ $ENCRYPT == true ]] && want_auth=encrypted
for n in fw1 fw2; do
	got=$(nstatus "$n" '"\(.daemon.auth) \(.daemon.key_id) \(.daemon.keys_accepted) \(.peers[0].key_id)"')
	if [[ $got == "$want_auth 1 1 1" ]]; then
		ok "$n: auth $want_auth, sealing with key 1, accepting 1, peer uses key 1"
	else
		fail "$n: ctctl status shows auth, key_id, keys_accepted, peer key_id '$got', want '$want_auth 1 1 1'"
	fi
done

out=$(nsx "$NS_FW1" "$CTGEN" -n "$NFLOWS" -p tcp 2>&1) || die "ctgen -n $NFLOWS on fw1: $out"
EXPECT=$(kernel_flowset "$NS_FW1" | wc -l)
((EXPECT == NFLOWS)) || fail "fw1's kernel holds $EXPECT forwarded flows after ctgen -n $NFLOWS"
converge "initial replication" || die "no initial replication"
ok "initial replication: $EXPECT flows on fw2 in $CONV_S s"
REPORT+=("$(printf '%-44s %5s  %-22s %6s %8ss' "initial replication ($EXPECT flows)" - - - "$CONV_S")")

E1=$(nstatus fw1 .daemon.epoch)
[[ $E1 =~ ^[0-9a-f]{8}$ ]] || die "fw1's epoch from ctctl status: '$E1'"
say "fw1's epoch $E1, fw2's $(nstatus fw2 .daemon.epoch)"

# ------------------------------------------------------------- a-c

label="(a1) forged DATA, not sealed"
inject "$label" no_tag -- forge "$NINJECT"
after_phase "$label"; report "$label" no_tag

label="(a2) forged, another key under key id 1"
inject "$label" bad_tag -- forge-sealed 1 "$NINJECT"
after_phase "$label"; report "$label" bad_tag

label="(a3) forged, unknown key id $UNKNOWN_KEY"
inject "$label" bad_key -- forge-sealed "$UNKNOWN_KEY" "$NINJECT"
after_phase "$label"; report "$label" bad_key

label="(b) fw1's DATA, one payload bit flipped"
inject "$label" bad_tag -- tamper "$E1" "$NINJECT"
after_phase "$label"; report "$label" bad_tag

label="(c) fw1's datagrams replayed"
inject "$label" replayed -- replay "$E1" "$NINJECT"
after_phase "$label"; report "$label" replayed

# ------------------------------------------------------------- d

label="(d) fw1 restarted, its old life replayed"
r0=$(nstat fw2 '.peers[0].restarts')
stop_ctsyncd fw1 TERM || die "$label: ctsyncd on fw1 did not stop on SIGTERM"
((CTS_EXIT == 0)) || fail "$label: ctsyncd on fw1 exited with status $CTS_EXIT on SIGTERM"
t0=$(cts_now_us)
start_ctsyncd fw1 "$NS_FW1" "$CTS_TMP/fw1.yaml"
wait_until 15 ctsyncd_up fw1 || die "$label: restarted ctsyncd on fw1 not answering"
E1B=$(nstatus fw1 .daemon.epoch)
fw2_took_new_life() { (($(nstat fw2 '.peers[0].restarts') > r0)) && pair_synced; }
wait_until 30 fw2_took_new_life ||
	die "$label: fw2 did not take fw1's new life (epoch $E1B) within 30 s"
converge "$label: after the restart" || die "$label: no convergence after fw1's restart"
ok "$label: fw2 took fw1's new life $E1B (old $E1) and holds fw1's table again in" \
	"$(fmt_us $(($(cts_now_us) - t0))) s since the restart"
[[ $E1B != "$E1" ]] || fail "$label: fw1's epoch did not change across the restart ($E1)"
inject "$label" old_epoch -- replay "$E1" "$NINJECT"
after_phase "$label"; report "$label" old_epoch

# ------------------------------------------------------------- e

label="(e) fw2 restarted, fw1's datagrams replayed"
attack hold on && say "ctattack: $ATK_OUT"
stop_ctsyncd fw2 TERM || die "$label: ctsyncd on fw2 did not stop on SIGTERM"
((CTS_EXIT == 0)) || fail "$label: ctsyncd on fw2 exited with status $CTS_EXIT on SIGTERM"
start_ctsyncd fw2 "$NS_FW2" "$CTS_TMP/fw2.yaml"
wait_until 15 ctsyncd_up fw2 || die "$label: restarted ctsyncd on fw2 not answering"
say "$label: fw2's ctsyncd restarted (epoch $(nstatus fw2 .daemon.epoch)), fw1's traffic held back"
inject "$label" unproven -- replay "$E1B" "$NINJECT"
n=$(cache_count "$NS_FW2" "$SOCK2" external)
table=$(nstatus fw2 '.peers[0].table')
if [[ $n == 0 && $table == none ]]; then
	ok "$label: fw2 holds no flow and no table of fw1 (external $n, peer table $table)"
else
	fail "$label: fw2 took replayed datagrams: external cache $n flows, peer table '$table', want 0 and none"
fi
attack hold off && say "ctattack: $ATK_OUT"
t0=$(cts_now_us)
converge "$label: fw1's traffic passes again" || true
[[ $CONV_S != - ]] && ok "$label: fw2 holds fw1's table ($EXPECT flows) $(fmt_us $(($(cts_now_us) - t0))) s after ctattack let fw1's traffic through"
after_phase "$label"; report "$label" unproven

# ------------------------------------------------------------- f

label="(f) key file mode 0644, SIGHUP"
chmod 0644 "$KF1"
marks=$(grep -c 'key file not reloaded' "${CTS_DLOG[fw1]}")
kill -HUP "${CTS_DPID[fw1]}"
reload_refused() { (($(grep -c 'key file not reloaded' "${CTS_DLOG[fw1]}") > marks)); }
if wait_until 10 reload_refused; then
	if grep -qF "$KF1: mode 0644 lets group or others at the keys: chmod 600 $KF1" "${CTS_DLOG[fw1]}"; then
		ok "$label: fw1 refused it: $(grep -F "$KF1: mode 0644" "${CTS_DLOG[fw1]}" | tail -n 1)"
	else
		fail "$label: fw1's log does not name $KF1 with 'chmod 600'"
	fi
else
	fail "$label: no 'key file not reloaded' in fw1's log within 10 s of SIGHUP"
fi
got=$(nstatus fw1 '"\(.daemon.key_id) \(.daemon.keys_accepted)"')
[[ $got == "1 1" ]] || fail "$label: fw1 seals with / accepts '$got' after the refused reload, want '1 1'"
chmod 0600 "$KF1"
more_flows
if converge "$label"; then
	ok "$label: fw1 still seals with key 1 ($got); $MORE new flows on fw2 in $CONV_S s"
fi
REPORT+=("$(printf '%-44s %5s  %-22s %6s %8ss' "$label: not taken" - - - "$CONV_S")")

# ------------------------------------------------------------- g

label="(g) key rotation"
auth_snap fw1; declare -A SNAP1=(); for k in "${AUTH_KEYS[@]}"; do SNAP1[$k]=${SNAP[fw1/$k]}; done
auth_snap fw2
r1=$(nstat fw2 '.peers[0].restarts') r2=$(nstat fw1 '.peers[0].restarts')
DOWN=0
# rotation_step NAME CHECK...: after a key change, wait until CHECK holds,
# then MORE new flows must arrive; peers sampled for "up" meanwhile.
up_and() { peers_up || DOWN=$((DOWN + 1)); "$@"; }
ROT_MAX_US=0	# the slowest step, from the key change to its flows on fw2
rotation_step() {
	local name=$1 t0 dt
	shift
	t0=$(cts_now_us)
	more_flows	# created while the new keys take effect
	if ! wait_until 15 up_and "$@"; then
		fail "$label: $name: not seen within 15 s: $*"
		return 1
	fi
	if converge "$label: $name"; then
		dt=$(($(cts_now_us) - t0))
		((dt > ROT_MAX_US)) && ROT_MAX_US=$dt
		ok "$label: $name: $MORE new flows on fw2 in $(fmt_us "$dt") s;" \
			"fw1 seals with $(nstatus fw1 .daemon.key_id) (accepts $(nstatus fw1 .daemon.keys_accepted))," \
			"fw2 with $(nstatus fw2 .daemon.key_id) (accepts $(nstatus fw2 .daemon.keys_accepted));" \
			"fw2 sees key $(peer_key fw2), fw1 sees key $(peer_key fw1)"
	fi
}
keys_are() { [[ $(nstatus "$1" '"\(.daemon.key_id) \(.daemon.keys_accepted)"') == "$2" ]]; }

# both_keys LINE...: fw1's and fw2's key files hold these lines.
both_keys() { key_file_write "$KF1" "$@" && key_file_write "$KF2" "$@"; }
both_keys "$KEY1" "$KEY2" || die "writing the key files"
kill -HUP "${CTS_DPID[fw1]}" "${CTS_DPID[fw2]}"
rotation_step "key 2 added below key 1 on both" eval 'keys_are fw1 "1 1,2" && keys_are fw2 "1 1,2"'

key_file_write "$KF1" "$KEY2" "$KEY1" || die "writing fw1's key file"
kill -HUP "${CTS_DPID[fw1]}"
rotation_step "key 2 first on fw1" eval 'keys_are fw1 "2 2,1" && peer_key_is fw2 2 && peer_key_is fw1 1'

key_file_write "$KF2" "$KEY2" "$KEY1" || die "writing fw2's key file"
kill -HUP "${CTS_DPID[fw2]}"
rotation_step "key 2 first on fw2" eval 'keys_are fw2 "2 2,1" && peer_key_is fw1 2 && peer_key_is fw2 2'

both_keys "$KEY2" || die "writing the key files"
kill -HUP "${CTS_DPID[fw1]}" "${CTS_DPID[fw2]}"
rotation_step "key 1 removed on both" eval 'keys_are fw1 "2 2" && keys_are fw2 "2 2"'

expect_auth "$label" fw2 && ok "$label: fw2's auth counters did not move (${AUTH_KEYS[*]})"
for k in "${AUTH_KEYS[@]}"; do SNAP[fw1/$k]=${SNAP1[$k]}; done
expect_auth "$label" fw1 && ok "$label: fw1's auth counters did not move"
((DOWN == 0)) || fail "$label: a peer was not up in $DOWN of the samples during the rotation"
[[ $(nstat fw2 '.peers[0].restarts') == "$r1" && $(nstat fw1 '.peers[0].restarts') == "$r2" ]] ||
	fail "$label: a daemon saw its peer restart during the rotation"
REPORT+=("$(printf '%-44s %5s  %-22s %6s %8ss' "$label (4 steps; slowest)" - "every auth (fw1, fw2)" "+0" "$(fmt_us "$ROT_MAX_US")")")

# ------------------------------------------------------------- h

label="(h) ctsyncd -n, key file mode 0644"
loose=$CTS_TMP/loose.key
install -m 0644 "$KF1" "$loose" || die "copying the key file"
ctsyncd_config_at "$CTS_TMP/loose.yaml" 1 192.0.2.1 192.0.2.2 "key_file=$loose" || die "config"
out=$(nsx "$NS_FW1" "$CTSYNCD" -c "$CTS_TMP/loose.yaml" -n 2>&1) && rc=0 || rc=$?
if ((rc == 0)); then
	fail "$label: ctsyncd -n accepted it: $out"
elif [[ $out != *"$loose"*"chmod 600"* ]]; then
	fail "$label: ctsyncd -n failed ($rc) without naming $loose and 'chmod 600': $out"
else
	ok "$label: refused (exit $rc): $(head -n 1 <<<"$out")"
fi

# ------------------------------------------------------------- i

attack stats && say "ctattack: $ATK_OUT"
if [[ $ATK_OUT =~ recorded\ ([0-9]+)\ \(sealed\ ([0-9]+),\ encrypted\ ([0-9]+)\) ]]; then
	rec=${BASH_REMATCH[1]} sealed=${BASH_REMATCH[2]} enc=${BASH_REMATCH[3]}
	want=0
	[[ $ENCRYPT == true ]] && want=$rec
	if ((rec > 0 && sealed == rec && enc == want)); then
		ok "(i) of fw1's $rec datagrams ctattack recorded, $sealed sealed and $enc encrypted"
	else
		fail "(i) of fw1's $rec datagrams recorded, $sealed sealed and $enc encrypted; want all sealed, $want encrypted"
	fi
else
	fail "(i) ctattack stats: '$ATK_OUT'"
fi

for n in fw1 fw2; do stop_clean "$n" "with keys"; done

# ------------------------------------------------------------- j

# The control experiment: the same forged datagrams, to a pair without
# keys, are applied.  So what kept them out above was the seal alone.
label="(j) control: a pair without keys"
ctsyncd_config_at "$CTS_TMP/fw1.yaml" 1 192.0.2.1 192.0.2.2 || die "fw1's config"
ctsyncd_config_at "$CTS_TMP/fw2.yaml" 2 192.0.2.6 192.0.2.5 || die "fw2's config"
start_ctsyncd fw1 "$NS_FW1" "$CTS_TMP/fw1.yaml"
start_ctsyncd fw2 "$NS_FW2" "$CTS_TMP/fw2.yaml"
wait_until 15 ctsyncd_up fw1 || die "$label: ctsyncd on fw1 not answering"
wait_until 15 ctsyncd_up fw2 || die "$label: ctsyncd on fw2 not answering"
wait_until 30 pair_synced || die "$label: the daemons did not get each other's tables"
converge "$label" || die "$label: no replication"
got=$(nstatus fw2 .daemon.auth)
[[ $got == off ]] || fail "$label: fw2's ctctl status shows auth '$got', want off"
attack forge 1 && say "ctattack: $ATK_OUT"
forged_in() { (($(cache_count "$NS_FW2" "$SOCK2" external) == EXPECT + 8)); }
desyncs() { nstat fw2 '.peers[0].desyncs'; }
if wait_until 10 forged_in; then
	dump_flowset "$NS_FW2" "$SOCK2" external "$SETS/fw2.ext"
	n=$(grep -c "src=$FORGED_SRC " "$SETS/fw2.ext")
	# The forged datagram takes the seq fw1 sends next; until fw1 has sent
	# it, fw2 is ahead of fw1's stream and soon resyncs (see k0 below),
	# which may already have swept the forged flows.
	if ((n == 8 || (n == 0 && $(desyncs) >= 1))); then
		ok "$label: fw2 (auth $got) applied the 8 flows of one forged datagram: the attacks above were refused for their seal"
		REPORT+=("$(printf '%-44s %5s  %-22s %6s %8ss' "(j) no keys: the forged datagram applied" 1 "cache.external" "+8" "$WAIT_ELAPSED")")
	else
		fail "$label: fw2 holds $n forged flows, want the 8 of the datagram"
	fi
else
	fail "$label: fw2 without keys did not apply the forged datagram (external $(cache_count "$NS_FW2" "$SOCK2" external), want $((EXPECT + 8))): ctattack's forgeries prove nothing"
fi
# k0. It claimed a seq fw1 had not sent: fw2 finds itself out of step with
# fw1's stream, tracks it again, and fw1's full table sweeps the forgery.
back_in_step() {
	(($(cache_count "$NS_FW2" "$SOCK2" external) == EXPECT && $(desyncs) >= 1))
}
if wait_until 10 back_in_step; then
	ok "$label: fw2 found itself ahead of fw1's stream (desyncs $(desyncs)) and holds fw1's table without the forged flows again after $WAIT_ELAPSED s"
else
	fail "$label: fw2 did not resync with fw1 within 10 s (external $(cache_count "$NS_FW2" "$SOCK2" external), want $EXPECT; desyncs $(desyncs))"
fi
for n in fw1 fw2; do stop_clean "$n" "without keys"; done

# ------------------------------------------------------------- k, l

# logged NODE TEXT: NODE's log since its last start says TEXT.
logged() {
	awk -v t="$2" '/^==== start/ { f = 0 } index($0, t) { f = 1 } END { exit !f }' \
		"${CTS_DLOG[$1]}"
}

# not_ready NODE TEXT: `ctctl ready` on NODE fails, saying TEXT.
not_ready() {
	local out
	out=$(ctctl_in "$(ns_of "$1")" "$(sock_of "$1")" ready 2>&1) && return 1
	[[ $out == *"$2"* ]]
}

label="(k) fw2 with fw1's node id"
ctsyncd_config_at "$CTS_TMP/fw2.yaml" 1 192.0.2.6 192.0.2.5 || die "fw2's config"
sed -i "s#$CTS_TMP/fw1.sock#$SOCK2#" "$CTS_TMP/fw2.yaml"	# its own socket
start_ctsyncd fw1 "$NS_FW1" "$CTS_TMP/fw1.yaml"
start_ctsyncd fw2 "$NS_FW2" "$CTS_TMP/fw2.yaml"
if wait_until 15 not_ready fw2 "node id 1 is also used by 192.0.2.5" &&
   wait_until 5 not_ready fw1 "node id 1 is also used by 192.0.2.2"; then
	ok "$label: ctctl ready fails on both, naming the other node ($(nstat fw2 .malformed.node_clash) datagrams counted on fw2)"
else
	fail "$label: ctctl ready on fw2: '$(ctctl_in "$NS_FW2" "$SOCK2" ready 2>&1)'"
fi
for n in fw1 fw2; do
	logged "$n" "sends under our node id 1" || fail "$label: no warning in $n's log"
	stop_clean "$n" "$label"
done

label="(l) fw1 and fw2 with different keys"
KF3=$(key_file_new fw2-other.key 1) || die "making a key file with ctsyncd --genkey"
ctsyncd_config_at "$CTS_TMP/fw1.yaml" 1 192.0.2.1 192.0.2.2 key_file="$KF1" || die "fw1's config"
ctsyncd_config_at "$CTS_TMP/fw2.yaml" 2 192.0.2.6 192.0.2.5 key_file="$KF3" || die "fw2's config"
start_ctsyncd fw1 "$NS_FW1" "$CTS_TMP/fw1.yaml"
start_ctsyncd fw2 "$NS_FW2" "$CTS_TMP/fw2.yaml"
sleep 4		# past peer_timeout: before, fw2 then took itself to be alone
if wait_until 10 not_ready fw2 "its datagrams do not authenticate (key mismatch?)"; then
	ok "$label: fw2's ctctl ready fails: $(ctctl_in "$NS_FW2" "$SOCK2" ready 2>&1)"
else
	fail "$label: ctctl ready on fw2: '$(ctctl_in "$NS_FW2" "$SOCK2" ready 2>&1)'"
fi
logged fw2 "do not authenticate (key mismatch?)" || fail "$label: no warning in fw2's log"
for n in fw1 fw2; do stop_clean "$n" "$label"; done
kill_wait TERM 5 "$ATK_PID" || fail "ctattack did not exit on SIGTERM"
grep '^ctattack: exit' "$ATK_LOG"

summary
((${#FAILED[@]} == 0))
