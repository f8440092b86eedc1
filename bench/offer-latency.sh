#!/usr/bin/env bash
# Offer latency: how long a new client waits for an OFFER with an address from
# bootherd's DHCP server (for a machine it owns) and from dnsmasq, side by side, with
# the ratio. A latency figure on a shared machine belongs here, tracked, not asserted
# in a test: the U-Boot lab test (crates/bootherd/tests/it/uboot_qemu.rs) checks only
# that bootherd offers at every DISCOVER without waiting for an address check.
#
# dhcpload (crates/dhcpload) runs in the client namespace as a relay (giaddr
# 10.99.0.2) and does DORA (--dora) at a low rate, each DISCOVER from a new MAC; an
# OFFER's delay is taken from the kernel's receive timestamps. Each run starts the
# server afresh with an empty lease database; the servers alternate, --reps runs each,
# and the median of each figure over the runs is reported.
#
# Two settings (--ping):
#   off  bootherd ping_check = false, dnsmasq --no-ping (as the LAN server of the lab
#        tests): the server's own path (bootherd commits an offer to the lease
#        database before it sends it). The default.
#   on   each server's default address check: bootherd ping_check = true (ICMP echo,
#        300 ms; it checks 4 addresses per pool ahead of time, every 10 s, so new
#        clients beyond those wait for a check), dnsmasq's own ping (seen: about 3 s
#        per new client, one at a time, so at a few new clients a second most of its
#        offers come later than dhcpload waits).
#
# Usage: sudo bench/offer-latency.sh [options]
#   --rate N       new clients per second (default 4)
#   --seconds S    seconds of DISCOVERs per run (default 5)
#   --reps N       runs per server and setting (default 3)
#   --ping L       settings to run: "off", "on" or "off on" (default "off")
#   --servers L    servers to run (default "bootherd dnsmasq")
#   --no-pin       do not pin (default: server on CPU 0, dhcpload on CPU 1)
#   --no-build     use target/release/bootherd and dhcpload as they are
#   --no-install   do not apt-get anything
#   --db-dir DIR   where lease databases live (default /var/tmp, a disk, so that
#                  bootherd's fsyncs are real)
#   --keep DIR     copy the servers' logs and dhcpload's outputs into DIR
#
# Needs root. Nothing is created in the root namespace; everything it starts or writes
# is removed on exit, on failure and on Ctrl-C. Exits 0, or 3 if a bootherd run got
# fewer offers than it sent DISCOVERs (that row reads FAIL; a dnsmasq row short of
# offers is reported, not failed). See bench/README.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=offer-bench

RATE=4
SECONDS_PER_RUN=5
REPS=3
PINGS="off"
SERVERS="bootherd dnsmasq"
PIN=1
BUILD=1
INSTALL=1
DB_BASE=/var/tmp
KEEP=""
SRV_ADDR=10.99.0.1
CLI_ADDR=10.99.0.2
PREFIX=16
POOL_FIRST=10.99.1.0
POOL_LAST=10.99.250.255
OWN_CLASS="bench-offer-latency"
QUIET_TRIES=20
WAIT_MS=5000      # dhcpload listens this long after its last DISCOVER ...
TIMEOUT_MS=8000   # ... and counts an OFFER up to this late (a ping check included)

while [[ $# -gt 0 ]]; do
    case $1 in
        --rate) RATE=${2:?}; shift ;;
        --seconds) SECONDS_PER_RUN=${2:?}; shift ;;
        --reps) REPS=${2:?}; shift ;;
        --ping) PINGS=${2:?}; shift ;;
        --servers) SERVERS=${2:?}; shift ;;
        --no-pin) PIN=0 ;;
        --no-build) BUILD=0 ;;
        --no-install) INSTALL=0 ;;
        --db-dir) DB_BASE=${2:?}; shift ;;
        --keep) KEEP=${2:?}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "offer-latency.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ $RATE =~ ^[0-9]+$ && $RATE -ge 1 && $RATE -le 1000 ]] || { echo "offer-latency.sh: --rate must be 1..1000" >&2; exit 2; }
[[ $SECONDS_PER_RUN =~ ^[0-9]+$ && $SECONDS_PER_RUN -ge 1 && $SECONDS_PER_RUN -le 60 ]] || { echo "offer-latency.sh: --seconds must be 1..60" >&2; exit 2; }
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 20 ]] || { echo "offer-latency.sh: --reps must be 1..20" >&2; exit 2; }
for p in $PINGS; do
    case $p in off|on) ;; *) echo "offer-latency.sh: --ping takes off and/or on" >&2; exit 2 ;; esac
done
for s in $SERVERS; do
    case $s in bootherd|dnsmasq) ;; *) echo "offer-latency.sh: unknown server '$s'" >&2; exit 2 ;; esac
done
[[ -d $DB_BASE && -w $DB_BASE ]] || { echo "offer-latency.sh: --db-dir $DB_BASE is not a writable directory" >&2; exit 2; }

pin_cpus

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/target/release/bootherd
DHCPLOAD=$REPO/target/release/dhcpload

require_root "network namespaces, port 67"

DATA=""
DBDIR=""
FAILURES=0
# shellcheck disable=SC2317  # called by cleanup (lib.sh)
cleanup_files() { keep_and_remove_dhcp_data; }
# Namespaces bhofr-PID-srv and -cli; the traps run cleanup (lib.sh) on any exit.
bench_init bhofr

install_deps() {
    local missing=()
    if has dnsmasq; then command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || missing+=(dnsmasq-base); fi
    command -v ip >/dev/null || missing+=(iproute2)
    command -v ss >/dev/null || missing+=(iproute2)
    command -v taskset >/dev/null || missing+=(util-linux)
    install_missing "${missing[@]}"
    DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
    if has bootherd; then build_bin bootherd "$BIN"; fi
    build_bin dhcpload "$DHCPLOAD"
    TREE_DESC=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')
}

setup_data() {
    DATA=$(mktemp -d "$(tmp_base)/bhofr-$$-XXXXXX")
    DBDIR=$(mktemp -d "$DB_BASE/bhofr-$$-db-XXXXXX")
    chmod 755 "$DATA" "$DBDIR"
    mkdir -p "$DATA/root" "$DATA/log" "$DATA/out" "$DATA/conf" "$DATA/bin"
    chmod 755 "$DATA/root"
    # Run copies: the tree may be rebuilt by someone else meanwhile.
    if has bootherd; then cp "$BIN" "$DATA/bin/bootherd"; BIN=$DATA/bin/bootherd; fi
    cp "$DHCPLOAD" "$DATA/bin/dhcpload"
    DHCPLOAD=$DATA/bin/dhcpload
    local ping
    for ping in off on; do
        write_bootherd_dhcp_conf "$DATA/conf/bootherd-ping-$ping.toml" \
            "$([[ $ping == on ]] && echo true || echo false)"
    done
    DB_FS=$(df -PT "$DBDIR" | awk 'NR == 2 {print $2 " (" $1 ")"}')
    log "data in $DATA, lease databases in $DBDIR ($DB_FS)"
}

# The command line of server $1 with address checks $2 (off or on).
server_cmd() {
    case $1,$2 in
        bootherd,*)
            printf '%s ' env RUST_LOG=warn "$BIN" serve --config "$DATA/conf/bootherd-ping-$2.toml" \
                --listen "$SRV_ADDR" ;;
        dnsmasq,*)
            printf '%s ' "$DNSMASQ" -k --conf-file=/dev/null --port=0 --quiet-dhcp \
                --bind-interfaces --interface=veth-s --pid-file= \
                --dhcp-leasefile="$DBDIR/dnsmasq/dnsmasq.leases" \
                --log-facility="$DATA/log/dnsmasq-syslog.log" \
                --dhcp-range="$POOL_FIRST,$POOL_LAST,1h" --dhcp-authoritative
            [[ $2 == off ]] && printf '%s ' --no-ping ;;
    esac
}

# Starts server $1 with setting $2 on an empty lease store; 1 if it does not come up.
start_server() {
    local cmd
    cmd=$(server_cmd "$1" "$2")
    start_dhcp_server "$1" "$DATA/log/$1-ping-$2.log" 600 "$cmd"
}

# One run of server $1 with setting $2, clients from MAC $3; sets LINE to dhcpload's
# line (empty when the server did not start or dhcpload printed none).
one_run() {
    local srv=$1 ping=$2 mac=$3 out
    LINE=""
    start_server "$srv" "$ping" || return 0
    wait_quiet
    out=$DATA/out/$srv-ping-$ping-$mac.txt
    ip netns exec "$NS_C" timeout $((SECONDS_PER_RUN + WAIT_MS / 1000 + 30)) "${CLI_TASKSET[@]}" \
        "$DHCPLOAD" --server "$SRV_ADDR" --relay "$CLI_ADDR" --rate "$RATE" \
        --seconds "$SECONDS_PER_RUN" --wait-ms "$WAIT_MS" --timeout-ms "$TIMEOUT_MS" \
        --dora --vendor-class "$OWN_CLASS" --mac-base "$mac" >"$out" 2>&1 || true
    stop_server
    LINE=$(grep '^mode=dora' "$out" || true)
}

# The value of key $2 in dhcpload line $1.
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'; }
# The median of the numbers on stdin (one a line).
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ms() { awk -v us="$1" 'BEGIN {if (us ~ /^[0-9.]+$/) printf "%.2f", us / 1000; else print "-"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "n/a"}'; }

# ---------------------------------------------------------------- main
bench_prepare "$PREFIX" "$(tmp_base)" "$DB_BASE"
cd "$DATA"
log "namespaces $NS_S ($SRV_ADDR) and $NS_C ($CLI_ADDR); servers: $SERVERS; address checks: $PINGS"

declare -A LINES   # "ping,server" -> dhcpload lines, one per run
declare -A BAD     # "ping,server" -> runs with fewer offers than DISCOVERs
run_no=0
for ping in $PINGS; do
    for ((rep = 1; rep <= REPS; rep++)); do
        for srv in $SERVERS; do
            run_no=$((run_no + 1))
            mac=$(printf '00:0c:05:%02x:00:00' "$run_no")
            log "ping $ping, $srv, run $rep/$REPS"
            one_run "$srv" "$ping" "$mac"
            line=$LINE
            LINES[$ping,$srv]+="$line"$'\n'
            if [[ -z $line || $(kv "$line" offers) -lt $(kv "$line" sent) ]]; then
                BAD[$ping,$srv]=$(( ${BAD[$ping,$srv]:-0} + 1 ))
                [[ $srv == bootherd ]] && FAILURES=$((FAILURES + 1))
                log "  short of offers: ${line:-no output, see $DATA/out}"
            else
                log "  offers $(kv "$line" offers)/$(kv "$line" sent), p50 $(ms "$(kv "$line" offer_rtt_p50_us)") ms, p99 $(ms "$(kv "$line" offer_rtt_p99_us)") ms"
            fi
        done
    done
done

# The median over the runs of field $3 of server $2 with setting $1, in µs.
med() { grep '^mode=' <<<"${LINES[$1,$2]:-}" | while read -r l; do kv "$l" "$3"; done | median; }

echo
echo "bootherd offer latency, $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); kernel $(uname -r)"
echo "veth pair between two network namespaces; $([[ $PIN -eq 1 ]] && echo "server on CPU 0, dhcpload on CPU 1" || echo "not pinned")"
has bootherd && echo "bootherd: $("$BIN" --version 2>/dev/null || echo '?'), built from tree $TREE_DESC (release)"
has dnsmasq && echo "dnsmasq: $("$DNSMASQ" --version 2>/dev/null | head -1)"
echo "lease databases on $DB_FS; load average before the run: $LOAD_BEFORE; runs started on a busy machine: $BUSY_WAITS"
echo "each run: a fresh server, $RATE new clients/s for $SECONDS_PER_RUN s (dhcpload --dora as a relay);"
echo "DISCOVER -> OFFER in ms, median over $REPS run(s) of each run's figure"
echo
printf '%-6s %-9s %9s %8s %8s %8s %8s %s\n' "checks" "server" "offers" "avg ms" "p50 ms" "p99 ms" "max ms" ""
for ping in $PINGS; do
    for srv in $SERVERS; do
        offers="$(med "$ping" "$srv" offers)/$(med "$ping" "$srv" sent)"
        printf '%-6s %-9s %9s %8s %8s %8s %8s %s\n' "$ping" "$srv" "$offers" \
            "$(ms "$(med "$ping" "$srv" offer_rtt_avg_us)")" "$(ms "$(med "$ping" "$srv" offer_rtt_p50_us)")" \
            "$(ms "$(med "$ping" "$srv" offer_rtt_p99_us)")" "$(ms "$(med "$ping" "$srv" offer_rtt_max_us)")" \
            "$([[ ${BAD[$ping,$srv]:-0} -gt 0 ]] && echo "$([[ $srv == bootherd ]] && echo "FAIL: ")${BAD[$ping,$srv]} run(s) short of offers")"
    done
    if has bootherd && has dnsmasq; then
        echo "  checks $ping: bootherd/dnsmasq p50 $(ratio "$(med "$ping" bootherd offer_rtt_p50_us)" "$(med "$ping" dnsmasq offer_rtt_p50_us)")x," \
            "p99 $(ratio "$(med "$ping" bootherd offer_rtt_p99_us)" "$(med "$ping" dnsmasq offer_rtt_p99_us)")x (above 1: bootherd is slower)"
    fi
done
echo
echo "Commands (inside the namespaces):"
echo " dhcpload --server $SRV_ADDR --relay $CLI_ADDR --rate $RATE --seconds $SECONDS_PER_RUN --wait-ms $WAIT_MS --timeout-ms $TIMEOUT_MS --dora --vendor-class $OWN_CLASS --mac-base MAC"
for ping in $PINGS; do
    for srv in $SERVERS; do
        echo " checks $ping, $srv: $(server_cmd "$srv" "$ping")"
    done
done
echo
echo "failures: $FAILURES"
[[ $FAILURES -eq 0 ]] || exit 3
exit 0
