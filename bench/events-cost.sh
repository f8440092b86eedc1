#!/usr/bin/env bash
# What recording events costs bootherd, in instructions, which a shared and busy
# machine does not change (wall time and CPU time it does): two bootherd binaries
# (BOOTHERD_BASELINE=PATH, an older build, and target/release/bootherd) each run
# under valgrind's callgrind in a network namespace, once idle and once under a
# fixed load, and the instructions per request are
#   (instructions under load - instructions idle) / requests.
#
# Usage: BOOTHERD_BASELINE=PATH bench/events-cost.sh [--dhcp N] [--rate R] [--tftp N]
#   --dhcp N   proxy DISCOVERs (dhcpload, a new MAC each; default 5000); the figure
#              is per answer (a DISCOVER the kernel dropped cost nothing)
#   --rate R   DISCOVERs a second (default 500: each one and its answer recorded;
#              past 1000 a second, the 2000 DHCP events a second budget records
#              only the first ones each second and counts the others)
#   --tftp N   TFTP read requests of a 4 KiB file (atftp, one process each; default 500)
#
# KEEP=DIR keeps the callgrind profiles (callgrind_annotate DIR/cg.after.dhcp) and logs.
# Builds nothing: run `cargo build --release -p bootherd -p dhcpload` first.
# Needs root, valgrind and atftp. Everything it creates (two namespaces
# bhcost-PID-srv/-cli, a directory in /dev/shm) is removed on exit, also on
# failure and Ctrl-C. Results: docs/BENCHMARKS.md, "The cost of events".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=events-cost

DHCP_N=5000
TFTP_N=500
DHCP_RATE=500
while [[ $# -gt 0 ]]; do
    case $1 in
        --dhcp) DHCP_N=${2:?}; shift ;;
        --tftp) TFTP_N=${2:?}; shift ;;
        --rate) DHCP_RATE=${2:?}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "events-cost.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
[[ $DHCP_N =~ ^[0-9]+$ && $TFTP_N =~ ^[0-9]+$ && $DHCP_RATE =~ ^[1-9][0-9]*$ ]] || { echo "events-cost.sh: counts are numbers" >&2; exit 2; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/target/release/bootherd
DHCPLOAD=$REPO/target/release/dhcpload
BASELINE=${BOOTHERD_BASELINE:?set BOOTHERD_BASELINE to the older bootherd binary}
for f in "$BIN" "$DHCPLOAD" "$BASELINE"; do [[ -x $f ]] || { echo "events-cost.sh: no $f" >&2; exit 2; }; done
command -v valgrind >/dev/null || { echo "events-cost.sh: needs valgrind" >&2; exit 2; }
command -v atftp >/dev/null || { echo "events-cost.sh: needs atftp" >&2; exit 2; }
require_root "network namespaces, ports 67 and 69"
SERVERS=""   # lib.sh's has()
SRV_ADDR=10.99.0.1
CLI_ADDR=10.99.0.2

DATA=""
# shellcheck disable=SC2317  # called by cleanup (lib.sh)
cleanup_files() {
    if [[ -n ${KEEP:-} && -n $DATA && -d $DATA/out ]]; then mkdir -p "$KEEP" && cp -r "$DATA/out/." "$KEEP/"; fi
    [[ -n $DATA && -d $DATA ]] && rm -rf "$DATA"
}
bench_init bhcost
sweep_stale
sweep_stale_dirs "$(tmp_base)"
setup_net 24
DATA=$(mktemp -d "$(tmp_base)/bhcost-$$-XXXXXX")
chmod 755 "$DATA"
mkdir -p "$DATA/root" "$DATA/bin/after" "$DATA/bin/before" "$DATA/out"
chmod 755 "$DATA/root"
head -c 4096 /dev/urandom >"$DATA/root/tiny.bin"
head -c 4096 /dev/zero >"$DATA/root/undionly.kpxe"
chmod 644 "$DATA/root/"*
cp "$BIN" "$DATA/bin/after/bootherd"
cp "$BASELINE" "$DATA/bin/before/bootherd"

# Instructions (callgrind's Ir) bootherd $1 runs from start to SIGTERM, with load $2
# (idle, dhcp, tftp) in between.
measure() {
    local which=$1 load=$2 out=$DATA/out/cg.$1.$2 logf=$DATA/out/$1.$2.log i
    ip netns exec "$NS_S" env RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$DATA/bin/$which/bootherd" serve --root "$DATA/root" --proxy --listen "$SRV_ADDR" \
        --no-http >"$logf" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 1 600); do
        [[ -n $(ip netns exec "$NS_S" ss -Hlun "src $SRV_ADDR:69" 2>/dev/null) ]] \
            && [[ -n $(ip netns exec "$NS_S" ss -Hlun 'sport = :67' 2>/dev/null) ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; die "$which exited at start"; }
        sleep 0.1
    done
    sleep 1
    case $load in
        dhcp)
            ip netns exec "$NS_C" "$DHCPLOAD" --server "$SRV_ADDR" --relay "$CLI_ADDR" \
                --rate "$DHCP_RATE" --seconds $(( (DHCP_N + DHCP_RATE - 1) / DHCP_RATE )) \
                --max-sent "$DHCP_N" --timeout-ms 5000 --wait-ms 3000 >"$DATA/out/$which.dhcpload" 2>&1 \
                || die "dhcpload failed: $(cat "$DATA/out/$which.dhcpload")"
            log "$which: $(grep -o 'sent=[0-9]* answered=[0-9]*' "$DATA/out/$which.dhcpload")"
            # DISCOVERs lost before bootherd read them cost it nothing: per answer.
            grep -o 'answered=[0-9]*' "$DATA/out/$which.dhcpload" | cut -d= -f2 >"$DATA/out/$which.answered"
            ;;
        tftp)
            ip netns exec "$NS_C" bash -c 'for ((i = 0; i < $1; i++)); do
                    atftp -g -r tiny.bin -l /dev/null "$2" 69 || exit 1; done' _ "$TFTP_N" "$SRV_ADDR" \
                || die "atftp failed against $which"
            ;;
        idle) sleep 5 ;;
    esac
    kill -TERM "$SERVER_PID"
    for i in $(seq 1 600); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    awk '/^summary:/ {print $2}' "$out"
}

declare -A IR
for load in idle dhcp tftp; do
    # Taking turns, so that both meet the same conditions (not that instructions care).
    for which in after before; do
        IR[$which,$load]=$(measure "$which" "$load")
        [[ ${IR[$which,$load]} =~ ^[0-9]+$ ]] || die "no instruction count for $which $load"
        log "$which $load: ${IR[$which,$load]} instructions"
    done
done

per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.0f", (a - b) / n}'; }
echo
echo "bootherd events cost, $(date -u +%Y-%m-%dT%H:%MZ): instructions (valgrind callgrind Ir) per request"
echo "after  = $BIN ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'))"
echo "before = $BASELINE"
echo
printf '%-44s %12s %12s %9s\n' "per request (less the idle run)" "after" "before" "change"
for load in dhcp tftp; do
    if [[ $load == dhcp ]]; then
        n=$(cat "$DATA/out/after.answered"); nb=$(cat "$DATA/out/before.answered")
    else
        n=$TFTP_N; nb=$TFTP_N
    fi
    a=$(per "${IR[after,$load]}" "${IR[after,idle]}" "$n")
    b=$(per "${IR[before,$load]}" "${IR[before,idle]}" "$nb")
    label=$([[ $load == dhcp ]] && echo "proxy DISCOVER -> OFFER, $DHCP_RATE/s ($n / $nb answered)" || echo "TFTP read of a 4 KiB file ($n)")
    printf '%-44s %12s %12s %9s\n' "$label" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}')"
done
printf '%-44s %12s %12s\n' "idle run, whole (start, 5 s, stop)" "${IR[after,idle]}" "${IR[before,idle]}"
