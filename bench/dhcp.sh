#!/usr/bin/env bash
# DHCP benchmark: bootherd's proxyDHCP and DHCP server against dnsmasq (and Kea's
# kea-dhcp4 with its memfile backend), driven by perfdhcp and by dhcpload (this
# repository's own, cheaper load generator, crates/dhcpload), all inside two network
# namespaces this script makes itself (server 10.99.0.1/16, client 10.99.0.2/16, one
# veth pair). Nothing is created in the root namespace; everything it starts or writes
# is removed on exit, on failure and on Ctrl-C.
#
# Usage: bench/dhcp.sh [--quick] [options]
#   --quick        shorter steps (2 s), fewer rates, no bisection, no soak
#   --soak S       after the DORA ramp, run each server S s at its best rate (default 40;
#                  capped so that it uses at most 80% of the pool; 0 = no soak)
#   --only WHAT    run only one load: "proxy", "proxy-fast", "dora" or "dora-fast"
#                  (default: proxy, proxy-fast, dora; dora-fast only when asked)
#   --servers L    servers to run (default "bootherd dnsmasq kea"; kea is DORA only and
#                  skipped when kea-dhcp4 cannot be installed)
#   --period S     seconds of load per step (default 5; 2 with --quick)
#   --pin          perfdhcp loads too: server on CPU 0, perfdhcp on CPU 1 (default: the
#                  scheduler decides; the -fast loads are always pinned, see --no-pin)
#   --no-pin       do not pin the -fast loads either
#   --tick-us N    dhcpload's pacing tick (default 1000: a batch of rate/1000 DISCOVERs
#                  every millisecond)
#   --no-build     do not run cargo build (use target/release/bootherd and dhcpload as
#                  they are)
#   --no-install   do not apt-get anything; servers that are missing are skipped
#   --db-dir DIR   where lease databases live (default /var/tmp, a disk, so that
#                  bootherd's fsyncs are real; /dev/shm makes them free)
#   --keep DIR     copy logs, configs and every perfdhcp output into DIR
#   --strict       exit 1 if any server failed a check (default: report FAIL, exit 0)
#
# BOOTHERD_BASELINE=PATH adds a server "baseline": that bootherd binary (an older
# build), run exactly as bootherd right after it under each load (its own lease
# database), so that both meet the same machine load in one run; each load's table
# then has a bootherd/baseline line.
#
# Proxy load: perfdhcp sends DISCOVERs only (-i) with option 60
# "PXEClient:Arch:00000:UNDI:002001" and option 93 = 0, each from a new MAC, at a ramp of
# rates and then as fast as it can; the answer is the proxy OFFER. DORA load: perfdhcp
# does the full DISCOVER-OFFER-REQUEST-ACK with option 60 "bench-perfdhcp" (which
# bootherd is configured to own), each from a new MAC; every step starts the server
# afresh with an empty lease database. A step passes when fewer than 0.1% of the
# exchanges went unanswered (perfdhcp waits -W 0.3 s at the end for late answers;
# answers that perfdhcp's own socket dropped, UDP RcvbufErrors in the client namespace,
# are not held against the server),
# perfdhcp received at least one answer, and (DORA) no address was offered twice.
#
# The -fast loads run the same ramp with dhcpload instead of perfdhcp: same relay
# address, options 60 and 93 (plus 94, 97, 55, 57: a whole BIOS PXE DISCOVER), a new
# MAC each, 0.3 s wait at the end and a 1 s timeout, but it costs a few microseconds
# per packet where perfdhcp costs about 40, so the server, not the client, is what
# runs out of CPU. It is built with cargo (release) and a copy runs pinned to CPU 1,
# the server to CPU 0. proxy-fast ramps up to 400,000 DISCOVERs/s.
# After every bootherd DORA step the lease database is read back with
# `bootherd leases --json` and its bound leases are compared with the ACKs perfdhcp got.
#
# perfdhcp runs on the same 2 cores as the servers; it acts as a relay (giaddr
# 10.99.0.2, port 67), so servers answer by unicast to 10.99.0.2:67.
# Needs root. Installs what is missing with apt-get: kea-admin (perfdhcp), dnsmasq-base,
# kea-dhcp4-server (optional), iproute2. See bench/README.md and docs/BENCHMARKS-DHCP.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=dhcp-bench

# ---------------------------------------------------------------- settings
QUICK=0
ONLY=""
SERVERS="bootherd dnsmasq kea"
PERIOD=""
PIN=0
NO_PIN=0
TICK_US=1000
BUILD=1
INSTALL=1
DB_BASE=/var/tmp
KEEP=""
STRICT=0
SRV_ADDR=10.99.0.1
CLI_ADDR=10.99.0.2
PREFIX=16
POOL_FIRST=10.99.1.0
POOL_LAST=10.99.250.255
POOL_SIZE=64000           # addresses from POOL_FIRST to POOL_LAST
LOSS_PASS=0.1             # % unanswered at most for a step to pass
LOSS_STOP=5               # % unanswered at which the ramp stops (saturated)
WAIT_US=300000            # perfdhcp -W: how long it listens after the last send
QUIET_TRIES=40            # half-second checks for an idle machine before each step
OTHER_MAX=30              # % of a core other work may take during a step before it is rerun
RETRIES=2                 # reruns of a step at most (1 with --quick)
RERUNS=0
PXE_CLASS="PXEClient:Arch:00000:UNDI:002001"
OWN_CLASS="bench-perfdhcp"
STEP_MAC=00:0c:01:00:00:00   # perfdhcp counts up from here: one new client per exchange
CHECK_MAC=00:0c:02:00:00:00  # the single-exchange check before each server's ramp

while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) QUICK=1 ;;
        --only) ONLY=${2:?}; shift ;;
        --servers) SERVERS=${2:?}; shift ;;
        --period) PERIOD=${2:?}; shift ;;
        --soak) SOAK_ARG=${2:?}; shift ;;
        --pin) PIN=1 ;;
        --no-pin) NO_PIN=1 ;;
        --tick-us) TICK_US=${2:?}; shift ;;
        --no-build) BUILD=0 ;;
        --no-install) INSTALL=0 ;;
        --db-dir) DB_BASE=${2:?}; shift ;;
        --keep) KEEP=${2:?}; shift ;;
        --strict) STRICT=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "dhcp.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
case $ONLY in ""|proxy|dora|proxy-fast|dora-fast) ;; *) echo "dhcp.sh: --only proxy|proxy-fast|dora|dora-fast" >&2; exit 2 ;; esac
# The loads to run, in order.
if [[ -n $ONLY ]]; then LOADS=$ONLY; else LOADS="proxy proxy-fast dora"; fi
# proxy or dora: what a load does; perfdhcp or dhcpload: what drives it.
base_of() { echo "${1%-fast}"; }
gen_of() { if [[ $1 == *-fast ]]; then echo dhcpload; else echo perfdhcp; fi; }
wants_base() { local l; for l in $LOADS; do [[ $(base_of "$l") == "$1" ]] && return 0; done; return 1; }
wants_gen() { local l; for l in $LOADS; do [[ $(gen_of "$l") == "$1" ]] && return 0; done; return 1; }
BASELINE_BIN=${BOOTHERD_BASELINE:-}
if [[ -n $BASELINE_BIN ]]; then
    [[ -x $BASELINE_BIN ]] || { echo "dhcp.sh: BOOTHERD_BASELINE=$BASELINE_BIN is not an executable" >&2; exit 2; }
    BASELINE_BIN=$(realpath "$BASELINE_BIN")
    [[ " $SERVERS " == *" baseline "* ]] || SERVERS=$(echo " $SERVERS " | sed 's/ bootherd / bootherd baseline /; s/^ //; s/ $//')
    [[ " $SERVERS " == *" baseline "* ]] || SERVERS="$SERVERS baseline"
fi
for s in $SERVERS; do
    case $s in bootherd|dnsmasq|kea) ;;
        baseline) [[ -n $BASELINE_BIN ]] || { echo "dhcp.sh: server baseline needs BOOTHERD_BASELINE=PATH" >&2; exit 2; } ;;
        *) echo "dhcp.sh: unknown server '$s'" >&2; exit 2 ;;
    esac
done
SOAK_ARG=${SOAK_ARG:-}
[[ -z $PERIOD ]] && { [[ $QUICK -eq 1 ]] && PERIOD=2 || PERIOD=5; }
[[ $PERIOD =~ ^[0-9]+$ && $PERIOD -ge 1 && $PERIOD -le 60 ]] || { echo "dhcp.sh: --period must be 1..60" >&2; exit 2; }
[[ $TICK_US =~ ^[0-9]+$ && $TICK_US -ge 50 && $TICK_US -le 100000 ]] || { echo "dhcp.sh: --tick-us must be 50..100000" >&2; exit 2; }
[[ -d $DB_BASE && -w $DB_BASE ]] || { echo "dhcp.sh: --db-dir $DB_BASE is not a writable directory" >&2; exit 2; }

if [[ $QUICK -eq 1 ]]; then
    PROXY_RATES="2000 5000 10000 20000 40000"
    FAST_PROXY_RATES="10000 25000 50000 100000 150000 200000 300000 400000"
    DORA_RATES="250 500 1000 2000 5000 10000"
    FAST_DORA_RATES="250 500 1000 2000 5000 10000 20000"
    BISECT=0
    SOAK=0
    RETRIES=1
else
    PROXY_RATES="1000 2000 5000 10000 15000 20000 25000 30000 40000 50000"
    FAST_PROXY_RATES="10000 20000 30000 40000 50000 60000 80000 100000 125000 150000 200000 250000 300000 400000"
    DORA_RATES="100 250 500 750 1000 2000 3000 5000 7500 10000 12000 15000 20000"
    FAST_DORA_RATES="100 250 500 750 1000 2000 3000 5000 7500 10000 12000 15000 20000 25000 30000"
    BISECT=2
    SOAK=40
fi
if [[ -n $SOAK_ARG ]]; then
    [[ $SOAK_ARG =~ ^[0-9]+$ && $SOAK_ARG -le 600 ]] || { echo "dhcp.sh: --soak must be 0..600" >&2; exit 2; }
    SOAK=$SOAK_ARG
fi

# CPU pinning, set per load by set_pinning: perfdhcp loads only with --pin, the -fast
# loads unless --no-pin.
SRV_TASKSET=()
CLI_TASKSET=()
CAN_PIN=0
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then CAN_PIN=1; fi
[[ $CAN_PIN -eq 1 ]] || PIN=0
pinned_for() {   # is load $1 pinned?
    [[ $CAN_PIN -eq 1 ]] || return 1
    if [[ $(gen_of "$1") == dhcpload ]]; then [[ $NO_PIN -eq 0 ]]; else [[ $PIN -eq 1 ]]; fi
}
set_pinning() {
    if pinned_for "$1"; then
        SRV_TASKSET=(taskset -c 0); CLI_TASKSET=(taskset -c 1)
    else
        SRV_TASKSET=(); CLI_TASKSET=()
    fi
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/target/release/bootherd
DHCPLOAD=$REPO/target/release/dhcpload

require_root "network namespaces, port 67"

# ---------------------------------------------------------------- state and cleanup
TREE_DESC='?'
DATA=""
DBDIR=""
FAILURES=0
# shellcheck disable=SC2317  # called by cleanup (lib.sh)
cleanup_files() { keep_and_remove_dhcp_data; }
# Namespaces bhdhcp-PID-srv and -cli; the traps run cleanup (lib.sh) on any exit.
bench_init bhdhcp

# ---------------------------------------------------------------- dependencies
drop_server() { SERVERS=$(echo " $SERVERS " | sed "s/ $1 / /; s/^ *//; s/ *$//"); }

install_deps() {
    local missing=()
    if wants_gen perfdhcp; then
        command -v perfdhcp >/dev/null || [[ -x /usr/sbin/perfdhcp ]] || missing+=(kea-admin)
    fi
    if has dnsmasq; then command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || missing+=(dnsmasq-base); fi
    command -v ip >/dev/null || missing+=(iproute2)
    command -v ss >/dev/null || missing+=(iproute2)
    command -v python3 >/dev/null || missing+=(python3)
    command -v taskset >/dev/null || missing+=(util-linux)
    install_missing "${missing[@]}"
    PERFDHCP=$(command -v perfdhcp || echo /usr/sbin/perfdhcp)
    DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
    if has kea && wants_base dora; then
        if ! command -v kea-dhcp4 >/dev/null && [[ ! -x /usr/sbin/kea-dhcp4 ]]; then
            if [[ $INSTALL -eq 1 ]]; then
                log "installing kea-dhcp4-server (optional)"
                apt_install kea-dhcp4-server 2>/dev/null || log "kea-dhcp4-server did not install; Kea is left out"
            fi
        fi
        KEA=$(command -v kea-dhcp4 || echo /usr/sbin/kea-dhcp4)
        [[ -x $KEA ]] || { log "no kea-dhcp4; Kea is left out"; drop_server kea; }
    fi
    if has bootherd; then build_bin bootherd "$BIN"; fi
    if wants_gen dhcpload; then build_bin dhcpload "$DHCPLOAD"; fi
    TREE_DESC=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')
}

# ---------------------------------------------------------------- topology and data
hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }

setup_data() {
    DATA=$(mktemp -d "$(tmp_base)/bhdhcp-$$-XXXXXX")
    DBDIR=$(mktemp -d "$DB_BASE/bhdhcp-$$-db-XXXXXX")
    chmod 755 "$DATA" "$DBDIR"
    mkdir -p "$DATA/root" "$DATA/log" "$DATA/out" "$DATA/conf"
    chmod 755 "$DATA/root"
    # Run a copy: the tree may be rebuilt by someone else while the benchmark runs.
    mkdir -p "$DATA/bin"
    if has bootherd; then
        cp "$BIN" "$DATA/bin/bootherd"
        BIN=$DATA/bin/bootherd
    fi
    if has baseline; then
        mkdir -p "$DATA/bin/baseline"
        cp "$BASELINE_BIN" "$DATA/bin/baseline/bootherd"
        BASELINE_BIN=$DATA/bin/baseline/bootherd
    fi
    if wants_gen dhcpload; then
        cp "$DHCPLOAD" "$DATA/bin/dhcpload"
        DHCPLOAD=$DATA/bin/dhcpload
    fi
    # The proxy offers undionly.kpxe to BIOS PXE clients only when the file exists.
    head -c 4096 /dev/zero >"$DATA/root/undionly.kpxe"
    chmod 644 "$DATA/root/undionly.kpxe"
    PXE_HEX=$(hex "$PXE_CLASS")
    OWN_HEX=$(hex "$OWN_CLASS")
    DB_FS=$(df -PT "$DBDIR" | awk 'NR == 2 {print $2 " (" $1 ")"}')

    write_bootherd_dhcp_conf "$DATA/conf/bootherd-dhcp.toml" false "offer_hold_secs = 60"
    cat >"$DATA/conf/kea-dhcp4.json" <<EOF
{ "Dhcp4": {
    "interfaces-config": { "interfaces": [ "veth-s" ], "dhcp-socket-type": "raw" },
    "lease-database": { "type": "memfile", "persist": true, "lfc-interval": 0,
                        "name": "$DBDIR/kea/leases4.csv" },
    "valid-lifetime": 3600,
    "subnet4": [ { "id": 1, "subnet": "10.99.0.0/$PREFIX",
                   "pools": [ { "pool": "$POOL_FIRST - $POOL_LAST" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                   "output_options": [ { "output": "stdout" } ] } ]
} }
EOF
    sed "s|$DBDIR/bootherd/|$DBDIR/baseline/|" "$DATA/conf/bootherd-dhcp.toml" \
        >"$DATA/conf/baseline-dhcp.toml"
    log "data in $DATA, lease databases in $DBDIR ($DB_FS)"
}

# ---------------------------------------------------------------- servers
# Command lines, one per (server, load). Printed in the report as they were run.
server_cmd() {
    local srv=$1 load
    load=$(base_of "$2")
    case $srv,$load in
        bootherd,proxy)
            printf '%s ' env RUST_LOG=warn "$BIN" serve --root "$DATA/root" --proxy \
                --listen "$SRV_ADDR" --no-http ;;
        bootherd,dora)
            printf '%s ' env RUST_LOG=warn "$BIN" serve --config "$DATA/conf/bootherd-dhcp.toml" \
                --listen "$SRV_ADDR" ;;
        baseline,proxy)
            printf '%s ' env RUST_LOG=warn "$BASELINE_BIN" serve --root "$DATA/root" --proxy \
                --listen "$SRV_ADDR" --no-http ;;
        baseline,dora)
            printf '%s ' env RUST_LOG=warn "$BASELINE_BIN" serve --config "$DATA/conf/baseline-dhcp.toml" \
                --listen "$SRV_ADDR" ;;
        dnsmasq,proxy)
            printf '%s ' "$DNSMASQ" -k --conf-file=/dev/null --port=0 --no-ping --quiet-dhcp \
                --bind-interfaces --interface=veth-s --pid-file= \
                --dhcp-leasefile="$DBDIR/dnsmasq/dnsmasq.leases" \
                --log-facility="$DATA/log/dnsmasq-syslog.log" \
                --dhcp-range=10.99.0.0,proxy --pxe-service=x86PC,bench,undionly ;;
        dnsmasq,dora)
            printf '%s ' "$DNSMASQ" -k --conf-file=/dev/null --port=0 --no-ping --quiet-dhcp \
                --bind-interfaces --interface=veth-s --pid-file= \
                --dhcp-leasefile="$DBDIR/dnsmasq/dnsmasq.leases" \
                --log-facility="$DATA/log/dnsmasq-syslog.log" \
                --dhcp-range="$POOL_FIRST,$POOL_LAST,1h" --dhcp-authoritative \
                --dhcp-lease-max=200000 ;;
        kea,dora)
            printf '%s ' env KEA_PIDFILE_DIR="$DBDIR/kea" KEA_LOCKFILE_DIR="$DBDIR/kea" \
                "$KEA" -c "$DATA/conf/kea-dhcp4.json" ;;
        *) return 1 ;;
    esac
}

# Starts server $1 for load $2 with an empty lease store; returns 1 if it does not
# come up within 10 s.
start_server() {
    local cmd
    cmd=$(server_cmd "$1" "$2")
    start_dhcp_server "$1" "$DATA/log/$1-$2.log" 3600 "$cmd"
}

# ---------------------------------------------------------------- measuring
# CPU ticks (user + system) of every process in the server namespace.
ns_ticks() {
    local p files=()
    for p in $(ip netns pids "$NS_S" 2>/dev/null || true); do files+=("/proc/$p/stat"); done
    [[ ${#files[@]} -gt 0 ]] || { echo 0; return; }
    { cat "${files[@]}" 2>/dev/null || true; } | awk '{sub(/^.*\) /, ""); t += $12 + $13} END {print t + 0}'
}
# cpu_jiffies (lib.sh): busy, total and (soft)interrupt jiffies of the whole machine.
# Busy and total jiffies of CPU 0 and of CPU 1 (where pinned servers and generators run;
# busy includes the interrupts and softirqs that ran there).
cpu01_jiffies() {
    awk '$1 == "cpu0" || $1 == "cpu1" {printf "%d %d ", $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9} END {print ""}' /proc/stat
}
# RcvbufErrors of UDP in namespace $1.
udp_rcvbuf_errors() {
    ip netns exec "$1" cat /proc/net/snmp 2>/dev/null | awk '
        $1 == "Udp:" && !h {for (i = 2; i <= NF; i++) f[$i] = i; h = 1; next}
        $1 == "Udp:" && h {print $f["RcvbufErrors"] + 0; exit}'
}

# wait_quiet (lib.sh) runs before each step.

# perfdhcp's argument list for load $1 at rate $2 (0 = as fast as it can) for $3 s,
# clients counted up from MAC $4.
perfdhcp_args() {
    local load=$1 rate=$2 period=$3 mac=$4
    local -a a=(-4 -l veth-c)
    [[ $load == proxy ]] && a+=(-i)
    [[ $rate -gt 0 ]] && a+=(-r "$rate")
    a+=(-p "$period" -W "$WAIT_US" -R 16000000 -b "mac=$mac")
    if [[ $load == proxy ]]; then
        a+=(-o "60,$PXE_HEX" -o "93,0000")
    else
        a+=(-u -o "60,$OWN_HEX")
    fi
    printf '%s\n' "${a[@]}"
}

# dhcpload's argument list, the same meaning as perfdhcp_args. dhcpload refuses any
# target but loopback outside a network namespace of its own; here it runs in $NS_C.
dhcpload_args() {
    local load=$1 rate=$2 period=$3 mac=$4
    local -a a=(--server "$SRV_ADDR" --relay "$CLI_ADDR" --rate "$rate" --seconds "$period"
        --wait-ms $((WAIT_US / 1000)) --tick-us "$TICK_US" --mac-base "$mac")
    [[ $(base_of "$load") == dora ]] && a+=(--dora --vendor-class "$OWN_CLASS")
    printf '%s\n' "${a[@]}"
}

# dhcpload's summary line in the fields of parse_perfdhcp, then rtt_p99 in ms.
# Proxy: answers = OFFERs or ACKs within 1 s. DORA: do_* = DISCOVER-OFFER,
# ra_* = REQUEST-ACK, dups = addresses offered to two MACs.
parse_dhcpload() {
    awk '
        /^mode=/ {for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}; found = 1}
        END {
            if (!found) {print "0 0 0 0 0 0 0 0 - - -"; exit}
            if (v["mode"] == "dora")
                printf "%d %d %d %d %d %d %d %d %.3f %.3f %.3f\n", v["sent"], v["offers"],
                    v["sent"] - v["offers"], v["dup_addr"], v["requests"], v["acks"],
                    v["requests"] - v["acks"], 0, v["offer_rtt_avg_us"] / 1000,
                    v["rtt_avg_us"] / 1000, v["rtt_p99_us"] / 1000
            else
                printf "%d %d %d %d 0 0 0 0 %.3f - %.3f\n", v["sent"], v["answered"], v["lost"],
                    v["dup_addr"], v["rtt_avg_us"] / 1000, v["rtt_p99_us"] / 1000
        }' "$1"
}

# Generator $1 (perfdhcp or dhcpload): its argument list for load $2 at rate $3 for
# $4 s from MAC $5, one per line; gen_cmd: the program.
gen_args() { local g=$1; shift; if [[ $g == dhcpload ]]; then dhcpload_args "$@"; else perfdhcp_args "$@"; fi; }
gen_cmd() { if [[ $1 == dhcpload ]]; then echo "$DHCPLOAD"; else echo "$PERFDHCP"; fi; }
# The fields of parse_perfdhcp (and a p99 in ms, "-" for perfdhcp) from output $2.
parse_gen() { if [[ $1 == dhcpload ]]; then parse_dhcpload "$2"; else echo "$(parse_perfdhcp "$2") -"; fi; }

# Parses perfdhcp's report: "do_sent do_recv do_drops do_dups ra_sent ra_recv ra_drops
# ra_dups do_avg_ms ra_avg_ms" (ra_* are 0 with -i).
parse_perfdhcp() {
    awk '
        /Statistics for: DISCOVER-OFFER/ {s = "do"}
        /Statistics for: REQUEST-ACK/ {s = "ra"}
        s != "" && /^sent packets:/ {v[s, "sent"] = $3}
        s != "" && /^received packets:/ {v[s, "recv"] = $3}
        s != "" && /^drops:/ {v[s, "drops"] = $2}
        s != "" && /^non unique addresses:/ {v[s, "dups"] = $4}
        s != "" && /^avg delay: [0-9.]+ ms/ {v[s, "avg"] = $3}
        END {
            printf "%d %d %d %d %d %d %d %d %s %s\n",
                v["do", "sent"], v["do", "recv"], v["do", "drops"], v["do", "dups"],
                v["ra", "sent"], v["ra", "recv"], v["ra", "drops"], v["ra", "dups"],
                (v["do", "avg"] == "" ? "-" : v["do", "avg"]), (v["ra", "avg"] == "" ? "-" : v["ra", "avg"])
        }' "$1"
}

declare -A STEP     # [load,server,rate] -> "field ..." (see run_step), rate "max" for as-fast
declare -A ORDER    # [load,server] -> rates in the order they ran
declare -A BEST     # [load,server] -> best passing rate (or "none")
declare -A NOTE     # [load,server] -> FAIL reason or remark
declare -A VERIFY   # [server,rate] -> lease check result (bootherd DORA)
declare -A SOAK_RATE # [load,server] -> rate of the DORA soak step
STEP_N=0

# One step: the load's generator at rate $3 (0 = max) against server $2 already
# running for load $1. Stores STEP[...] = "period do_sent do_recv do_drops do_dups
# ra_sent ra_recv ra_drops ra_dups do_avg ra_avg answers_per_s loss_pct srv_cpu_pct
# busy_pct srv_rcvbuf cli_rcvbuf pass cli_cpu_pct srv_loss_pct irq_pct p99_ms
# cpu0_busy_pct cpu1_busy_pct" and echoes the key.
run_step() {
    local load=$1 srv=$2 rate=$3 period=${4:-$PERIOD} key=${5:-} out rc=0 base gen
    base=$(base_of "$load"); gen=$(gen_of "$load")
    [[ -n $key ]] || key=$([[ $rate -eq 0 ]] && echo max || echo "$rate")
    if [[ $base == dora ]]; then
        # Never run the pool dry: at most 80% of it per step.
        local cap
        if [[ $rate -gt 0 ]]; then cap=$((POOL_SIZE * 8 / 10 / rate)); else cap=3; fi
        [[ $cap -lt 1 ]] && cap=1
        [[ $period -gt $cap ]] && period=$cap
    fi
    STEP_N=$((STEP_N + 1))
    out=$DATA/out/$(printf '%03d' "$STEP_N")-$load-$srv-$key.txt
    local -a args
    mapfile -t args < <(gen_args "$gen" "$load" "$rate" "$period" "$STEP_MAC")
    echo "$gen ${args[*]}" >"$out"
    local t0 t1 j0 j1 sb0 sb1 cb0 cb1 start end srvlog=$DATA/log/$srv-$load.log l0 warns
    l0=$(wc -l <"$srvlog" 2>/dev/null || echo 0)
    sb0=$(udp_rcvbuf_errors "$NS_S"); cb0=$(udp_rcvbuf_errors "$NS_C")
    local c0 c1
    t0=$(ns_ticks); j0=$(cpu_jiffies); c0=$(cpu01_jiffies); start=$(date +%s%N)
    # bash's `times` gives the generator's CPU time (its children's line) once it has
    # exited.
    timeout $((period + 30)) ip netns exec "$NS_C" bash -c \
        'out=$1; shift; "$@" >>"$out" 2>&1; rc=$?; times >"$out.times"; exit $rc' \
        _ "$out" "${CLI_TASKSET[@]}" "$(gen_cmd "$gen")" "${args[@]}" || rc=$?
    end=$(date +%s%N); t1=$(ns_ticks); j1=$(cpu_jiffies); c1=$(cpu01_jiffies)
    sb1=$(udp_rcvbuf_errors "$NS_S"); cb1=$(udp_rcvbuf_errors "$NS_C")
    echo "exit status $rc" >>"$out"
    warns=$(tail -n +$((l0 + 1)) "$srvlog" 2>/dev/null | grep -ciE 'warn|error' || true)
    local p hz secs cli_s
    p=$(parse_gen "$gen" "$out")
    hz=$(getconf CLK_TCK)
    secs=$(awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", (e - s) / 1e9}')
    # second line of `times`: children's user and system time, as 1m2.345s
    cli_s=$(awk 'NR == 2 {t = 0; for (i = 1; i <= 2; i++) {split($i, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2]}
        printf "%.3f", t}' "$out.times" 2>/dev/null || true)
    [[ -n $cli_s ]] || cli_s=0
    # shellcheck disable=SC2086
    set -- $p
    local do_sent=$1 do_recv=$2 do_drops=$3 do_dups=$4 ra_sent=$5 ra_recv=$6 ra_drops=$7 ra_dups=$8
    local p99=${11}
    local answers lost sent loss pass=1 srv_cpu cli_cpu other irq per_s
    if [[ $base == proxy ]]; then answers=$do_recv; sent=$do_sent; lost=$do_drops
    else answers=$ra_recv; sent=$do_sent; lost=$((do_sent - ra_recv)); fi
    [[ $lost -lt 0 ]] && lost=0
    loss=$(awk -v l="$lost" -v s="$sent" 'BEGIN {printf "%.3f", (s > 0) ? 100 * l / s : 100}')
    # Answers the server sent but the generator's own socket dropped (its receive buffer
    # overflowed: the load generator, not the server, fell behind) are not held
    # against the server.
    local cli_drops=$((cb1 - cb0)) srv_lost srv_loss
    srv_lost=$((lost - cli_drops)); [[ $srv_lost -lt 0 ]] && srv_lost=0
    srv_loss=$(awk -v l="$srv_lost" -v s="$sent" 'BEGIN {printf "%.3f", (s > 0) ? 100 * l / s : 100}')
    awk -v l="$srv_loss" -v m="$LOSS_PASS" 'BEGIN {exit !(l < m)}' || pass=0
    [[ $answers -gt 0 ]] || pass=0
    [[ $((do_dups + ra_dups)) -eq 0 ]] || pass=0
    if [[ $rc -ne 0 && $rc -ne 3 ]]; then pass=0; fi
    # CPU in "% of one core": the server's processes, the generator, and everything else
    # the machine did meanwhile (other work on a shared machine shows up there).
    srv_cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v t="$secs" 'BEGIN {printf "%.0f", 100 * (b - a) / hz / t}')
    cli_cpu=$(awk -v c="$cli_s" -v t="$secs" 'BEGIN {printf "%.0f", 100 * c / t}')
    other=$(awk -v a="$j0" -v b="$j1" -v hz="$hz" -v t="$secs" -v s="$srv_cpu" -v c="$cli_cpu" \
        'BEGIN {split(a, x, " "); split(b, y, " ");
                o = 100 * ((y[1] - x[1]) - (y[3] - x[3])) / hz / t - s - c;
                printf "%.0f", (o < 0) ? 0 : o}')
    irq=$(awk -v a="$j0" -v b="$j1" -v hz="$hz" -v t="$secs" \
        'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[3] - x[3]) / hz / t}')
    per_s=$(awk -v a="$answers" -v p="$period" 'BEGIN {printf "%.0f", a / p}')
    # % busy of CPU 0 and CPU 1 over the step ("- -" on a machine with one CPU).
    local cpu01
    cpu01=$(awk -v a="$c0" -v b="$c1" 'BEGIN {n = split(a, x, " "); split(b, y, " ");
        if (n < 4) {print "- -"; exit}
        for (i = 0; i < 2; i++) {t = y[2 * i + 2] - x[2 * i + 2];
            printf "%s%d", (i ? " " : ""), (t > 0) ? 100 * (y[2 * i + 1] - x[2 * i + 1]) / t + 0.5 : 0}
        print ""}')
    STEP[$load,$srv,$key]="$period $do_sent $do_recv $do_drops $do_dups $ra_sent $ra_recv $ra_drops $ra_dups $9 ${10} \
$per_s $loss $srv_cpu $other $((sb1 - sb0)) $((cb1 - cb0)) $pass $cli_cpu $srv_loss $irq $p99 $cpu01"
    ORDER[$load,$srv]="${ORDER[$load,$srv]:-} $key"
    log "$load $srv rate ${key}/s for ${period}s: sent $sent, answered $answers (${per_s}/s), lost ${loss}% (${srv_loss}% not counting $gen's drops)," \
        "dup offers $((do_dups + ra_dups)); CPU server ${srv_cpu}% $gen ${cli_cpu}% irq ${irq}% other ${other}%;" \
        "CPU 0/1 busy ${cpu01/ /% }%;$([[ $gen == dhcpload ]] && grep -oE ' (rtt_max_us|send_lag_max_us|send_late_turns)=[0-9]+' "$out" | tr -d '\n');" \
        "rcvbuf drops srv $((sb1 - sb0)) cli $((cb1 - cb0)); server log: $warns warning/error lines" \
        "-> $([[ $pass -eq 1 ]] && echo pass || echo FAIL)"
    if [[ $answers -eq 0 ]]; then
        log "$gen received no answer at all:" \
            "$(grep -E '^(sent packets|received packets|mode=|dhcpload:)|ERROR' "$out" | tr '\n' ' ')"
    fi
    LAST_KEY=$key
    LAST_PASS=$pass
    LAST_LOSS=$loss
}

# Reads bootherd's lease database after step $2 of DORA load $1 and compares it with
# what the generator saw.
verify_bootherd_leases() {
    local load=$1 key=$2 db=$DBDIR/bootherd/leases.sqlite json counts
    json=$DATA/out/leases-$load-$key.json
    if ! timeout 60 "$BIN" leases --db "$db" --json >"$json" 2>"$DATA/log/leases-$load-$key.err"; then
        VERIFY[$load,$key]="FAIL (bootherd leases: $(head -c 200 "$DATA/log/leases-$load-$key.err"))"
        FAILURES=$((FAILURES + 1))
        return
    fi
    # bound leases of the step's clients (MAC prefix of STEP_MAC), distinct MACs among
    # them, offered-only records.
    counts=$(python3 - "$json" "${STEP_MAC:0:8}" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
prefix = sys.argv[2]
mine = [r for r in rows if r["mac"].startswith(prefix)]
bound = [r for r in mine if r["state"] == "bound"]
print(len(bound), len({r["mac"] for r in bound}), len({r["ip"] for r in bound}),
      sum(1 for r in mine if r["state"] == "offered"))
EOF
)
    local bound macs ips offered
    read -r bound macs ips offered <<<"$counts"
    # shellcheck disable=SC2086
    set -- ${STEP[$load,bootherd,$key]}
    local ra_sent=$6 ra_recv=$7
    local verdict=ok
    # Every ACK the generator saw must stand for a durable bound lease; there can be more
    # bound leases than ACKs seen (ACKs lost on the way or sent after the generator stopped
    # listening), never more than REQUESTs sent.
    if [[ $bound -lt $ra_recv || $bound -gt $ra_sent || $macs -ne $bound || $ips -ne $bound ]]; then
        verdict=FAIL
        FAILURES=$((FAILURES + 1))
    fi
    VERIFY[$load,$key]="$verdict: $bound bound leases in the database ($macs MACs, $ips addresses, $offered offers left), $(gen_of "$load") saw $ra_recv ACKs for $ra_sent REQUESTs"
    log "lease check after $load rate $key: ${VERIFY[$load,$key]}"
}

# A short run at 20 exchanges/s: the server must answer before it is measured.
check_answers() {
    local load=$1 srv=$2 rc=0 p i base gen
    base=$(base_of "$load"); gen=$(gen_of "$load")
    local out=$DATA/out/check-$1-$2.txt
    local -a args
    mapfile -t args < <(gen_args "$gen" "$load" 20 1 "$CHECK_MAC")
    for i in 1 2 3; do
        rc=0
        echo "$gen ${args[*]}" >"$out"
        timeout 30 ip netns exec "$NS_C" "$(gen_cmd "$gen")" "${args[@]}" >>"$out" 2>&1 || rc=$?
        p=$(parse_gen "$gen" "$out")
        # shellcheck disable=SC2086
        set -- $p
        if [[ $base == proxy && $2 -gt 0 ]] || [[ $base == dora && $6 -gt 0 ]]; then
            log "$srv answers the $load check ($([[ $base == proxy ]] && echo "$2 OFFERs" || echo "$6 ACKs") for $1 DISCOVERs)"
            return 0
        fi
        sleep 1
    done
    log "$srv gave no answer to the $load check ($gen exit $rc); $gen said:"
    tail -25 "$out" >&2
    return 1
}

# Ramp for server $2 under load $1: rising rates until one loses >= LOSS_STOP%,
# BISECT halvings between the best passing rate and the first failing one above it,
# then one run as fast as the generator can send.
ramp() {
    local load=$1 srv=$2 rates rate best=0 fail=0 i mid base
    base=$(base_of "$load")
    case $load in
        proxy) rates=$PROXY_RATES ;;
        proxy-fast) rates=$FAST_PROXY_RATES ;;
        dora) rates=$DORA_RATES ;;
        dora-fast) rates=$FAST_DORA_RATES ;;
    esac
    set_pinning "$load"
    wait_quiet
    if ! start_server "$srv" "$load"; then
        NOTE[$load,$srv]="FAIL: did not start"; FAILURES=$((FAILURES + 1)); return
    fi
    if ! check_answers "$load" "$srv"; then
        NOTE[$load,$srv]="FAIL: no answer to a single exchange"; FAILURES=$((FAILURES + 1))
        stop_server; return
    fi
    one() {   # one step at rate $1 (for $2 s, named $3), fresh server and database for DORA
        if [[ $base == dora ]]; then
            start_server "$srv" "$load" || { LAST_PASS=0; LAST_LOSS=100; return 1; }
        else
            sleep 0.2   # let a backlog from the previous step drain
        fi
        wait_quiet
        run_step "$load" "$srv" "$1" "${2:-}" "${3:-}"
        # Other work took a good part of a core during the step: measure it again
        # (keeping the last attempt), a bounded number of times.
        local try other
        for ((try = 1; try <= RETRIES; try++)); do
            other=$(sf "$load,$srv,$LAST_KEY" 15)
            [[ $other -gt $OTHER_MAX ]] || break
            log "other work took ${other}% of a core during that step; measuring it again ($try/$RETRIES)"
            RERUNS=$((RERUNS + 1))
            ORDER[$load,$srv]=${ORDER[$load,$srv]% "$LAST_KEY"}
            if [[ $base == dora ]]; then
                start_server "$srv" "$load" || { LAST_PASS=0; LAST_LOSS=100; return 1; }
            fi
            wait_quiet
            run_step "$load" "$srv" "$1" "${2:-}" "${3:-}"
        done
        if [[ $base == dora && $srv == bootherd ]]; then
            stop_server
            verify_bootherd_leases "$load" "$LAST_KEY"
        fi
    }
    for rate in $rates; do
        one "$rate" || break
        if [[ $LAST_PASS -eq 1 ]]; then
            best=$rate
        elif [[ $fail -eq 0 || $rate -lt $fail ]]; then
            fail=$rate
        fi
        awk -v l="$LAST_LOSS" -v m="$LOSS_STOP" 'BEGIN {exit !(l >= m)}' && break
    done
    # The first failing rate above the best one bounds the bisection.
    if [[ $fail -gt 0 && $fail -lt $best ]]; then
        fail=0
        for rate in ${ORDER[$load,$srv]}; do
            [[ $rate =~ ^[0-9]+$ && $rate -gt $best ]] || continue
            set -- ${STEP[$load,$srv,$rate]}
            [[ ${18} -eq 0 ]] && { fail=$rate; break; }
        done
    fi
    if [[ $fail -gt 0 ]]; then
        for ((i = 0; i < BISECT; i++)); do
            mid=$(( (best + fail) / 2 ))
            mid=$(( mid >= 1000 ? mid / 100 * 100 : mid / 10 * 10 ))
            [[ $mid -le $best || $mid -ge $fail ]] && break
            one "$mid" || break
            if [[ $LAST_PASS -eq 1 ]]; then best=$mid; else fail=$mid; fi
        done
    fi
    one 0 || true
    # DORA: does the best rate hold while the lease table fills up? (Each step above
    # starts empty and lasts $PERIOD s.)
    if [[ $base == dora && $SOAK -gt 0 && $best -gt 0 ]]; then
        SOAK_RATE[$load,$srv]=$best
        one "$best" "$SOAK" soak || true
    fi
    stop_server
    BEST[$load,$srv]=$([[ $best -gt 0 ]] && echo "$best" || echo none)
    [[ $best -gt 0 ]] || NOTE[$load,$srv]="no rate passed"
}

# ---------------------------------------------------------------- report
sf() { local k=$1 n=$2 v; v=${STEP[$k]:-}; [[ -n $v ]] || { echo -; return; }; echo "$v" | awk -v n="$n" '{print $n}'; }

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "n/a"}'
}

servers_for() { local s out=""; for s in $SERVERS; do [[ $(base_of "$1") == proxy && $s == kea ]] && continue; out+="$s "; done; echo "$out"; }

report_header() {
    echo
    echo "bootherd DHCP benchmark, $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo));"
    echo "kernel $(uname -r); veth pair between two network namespaces, $SRV_ADDR/$PREFIX and $CLI_ADDR/$PREFIX"
    local l
    for l in $LOADS; do
        if pinned_for "$l"; then
            echo "$l: pinned, server on CPU 0, $(gen_of "$l") on CPU 1"
        else
            echo "$l: not pinned, $(gen_of "$l") and the server share both cores"
        fi
    done
    has bootherd && echo "bootherd: $("$BIN" --version 2>/dev/null || echo '?'), built from tree $TREE_DESC"
    has baseline && echo "baseline: $BOOTHERD_BASELINE ($("$BASELINE_BIN" --version 2>/dev/null || echo '?')), run right after bootherd under each load"
    has dnsmasq && echo "dnsmasq: $("$DNSMASQ" --version 2>/dev/null | head -1)"
    has kea && wants_base dora && echo "kea-dhcp4: $("$KEA" -v 2>/dev/null | head -1) (memfile, Debian's default single thread)"
    wants_gen perfdhcp && echo "perfdhcp: $("$PERFDHCP" -v 2>/dev/null | head -1)"
    wants_gen dhcpload && echo "dhcpload: $("$DHCPLOAD" --version 2>/dev/null || echo '?'), built from tree $TREE_DESC"
    echo "lease databases on $DB_FS"
    echo "$PERIOD s per step; pass = under $LOSS_PASS% unanswered (not counting answers the generator's own socket"
    echo "dropped), >0 answers, no address offered twice;"
    echo "load average before the run: $LOAD_BEFORE; steps started on a busy machine: $BUSY_WAITS;"
    echo "steps rerun because other work took over ${OTHER_MAX}% of a core meanwhile: $RERUNS (the last attempt is kept)"
}

step_table() {
    local load=$1 srv=$2 k key what base
    base=$(base_of "$load")
    what=$([[ $base == proxy ]] && echo "OFFERs/s" || echo "leases/s")
    printf '  %-7s %4s %8s %8s %8s %7s %7s %5s %6s %7s %7s %7s %5s %6s %5s %5s %7s %7s %4s\n' "rate/s" "secs" "sent" "answered" "$what" "lost %" "srv l.%" "dups" "avg ms" "p99 ms" "srv CPU" "gen CPU" "irq" "other" "cpu0" "cpu1" "srv buf" "cli buf" ""
    for key in ${ORDER[$load,$srv]:-}; do
        k=$load,$srv,$key
        local avg
        if [[ $base == proxy ]]; then avg=$(sf "$k" 10); else avg=$(sf "$k" 11); fi
        printf '  %-7s %4s %8s %8s %8s %7s %7s %5s %6s %7s %6s%% %6s%% %4s%% %5s%% %4s%% %4s%% %7s %7s %4s\n' "$key" "$(sf "$k" 1)" "$(sf "$k" 2)" \
            "$([[ $base == proxy ]] && sf "$k" 3 || sf "$k" 7)" "$(sf "$k" 12)" "$(sf "$k" 13)" "$(sf "$k" 20)" \
            "$(( $(sf "$k" 5) + $(sf "$k" 9) ))" "$avg" "$(sf "$k" 22)" "$(sf "$k" 14)" "$(sf "$k" 19)" "$(sf "$k" 21)" "$(sf "$k" 15)" \
            "$(sf "$k" 23)" "$(sf "$k" 24)" \
            "$(sf "$k" 16)" "$(sf "$k" 17)" \
            "$([[ $(sf "$k" 18) == 1 ]] && echo ok || echo FAIL)"
    done
}

summary_row() { # load server -> "best answers_at_best us_per_answer peak_answers peak_rate peak_loss peak_cpu"
    local load=$1 srv=$2 b=${BEST[$1,$2]:-none} key v
    local ab=- pk=- pr=- pl=- pc=- us=-
    if [[ $b != none ]]; then
        ab=$(sf "$load,$srv,$b" 12)
        # server CPU time per answer at the best rate, in microseconds
        us=$(awk -v c="$(sf "$load,$srv,$b" 14)" -v a="$ab" 'BEGIN {if (a > 0) printf "%.1f", c * 10000 / a; else print "-"}')
    fi
    for key in ${ORDER[$load,$srv]:-}; do
        v=$(sf "$load,$srv,$key" 12)
        if [[ $pk == - ]] || [[ $v -gt $pk ]]; then
            pk=$v; pr=$key; pl=$(sf "$load,$srv,$key" 13); pc=$(sf "$load,$srv,$key" 14)
        fi
    done
    echo "$b $ab $us $pk $pr $pl $pc"
}

# What limited server $2 in load $1 at its peak step (most answers/s): the generator,
# when it sent less than it was asked or the server answered all it sent; else the
# server, which lost what the generator did send. CPU figures for the record.
limit_line() {
    local load=$1 srv=$2 b ab us pk pr pl pc k verdict sent period asked loss gen unit
    read -r b ab us pk pr pl pc <<<"$(summary_row "$load" "$srv")"
    [[ $pr != - ]] || return 0
    k=$load,$srv,$pr
    gen=$(gen_of "$load")
    period=$(sf "$k" 1); sent=$(sf "$k" 2); loss=$(sf "$k" 20)
    unit=$([[ $(base_of "$load") == proxy ]] && echo OFFERs/s || echo leases/s)
    asked=0
    [[ $pr =~ ^[0-9]+$ ]] && asked=$((pr * period))
    if [[ $asked -gt 0 && $sent -lt $((asked * 98 / 100)) ]]; then
        verdict="the generator: $gen sent $sent of the $asked DISCOVERs asked"
    elif awk -v l="$loss" -v m="$LOSS_PASS" 'BEGIN {exit !(l < m)}'; then
        verdict="the generator: the server answered all that $gen sent ($((sent / period))/s)"
    elif [[ $(sf "$k" 17) -gt $((sent / 100)) ]]; then
        verdict="the generator too: its own socket dropped $(sf "$k" 17) answers (cli buf), and the server"
        verdict+=" left ${loss}% of the $((sent / period)) DISCOVERs/s unanswered"
    elif ! pinned_for "$load" && [[ $(sf "$k" 19) -ge 100 ]]; then
        verdict="the shared cores: $gen took $(sf "$k" 19)% of a core and the server left ${loss}%"
        verdict+=" of the $((sent / period)) DISCOVERs/s unanswered"
    else
        verdict="the server: it left ${loss}% of the $((sent / period)) DISCOVERs/s $gen sent unanswered"
    fi
    echo "$srv peak: $pk $unit at rate $pr, limited by $verdict;"
    echo "   CPU: server $(sf "$k" 14)%, $gen $(sf "$k" 19)%, irq $(sf "$k" 21)%, other $(sf "$k" 15)%;" \
        "CPU 0 $(sf "$k" 23)% and CPU 1 $(sf "$k" 24)% busy$(pinned_for "$load" && echo " (server on 0, $gen on 1)")"
}

report_load() {
    local load=$1 srv list title unit base gen
    base=$(base_of "$load"); gen=$(gen_of "$load")
    list=$(servers_for "$load")
    case $load in
        proxy) title="Proxy load: DISCOVER -> proxy OFFER (perfdhcp -i), PXE BIOS client options 60 and 93, a new MAC each" ;;
        proxy-fast) title="Proxy load, fast generator (proxy-fast): DISCOVER -> proxy OFFER (dhcpload), a whole BIOS PXE"
            title+=$'\n'"DISCOVER (53, 57, 55, 97, 93, 94, 60), a new MAC each" ;;
        dora) title="DORA load: DISCOVER-OFFER-REQUEST-ACK (perfdhcp), option 60 \"$OWN_CLASS\", a new MAC each," ;;
        dora-fast) title="DORA load, fast generator (dora-fast): DISCOVER-OFFER-REQUEST-ACK (dhcpload --dora), option 60"
            title+=$'\n'"\"$OWN_CLASS\", a new MAC each," ;;
    esac
    if [[ $base == proxy ]]; then
        unit="OFFERs/s"
    else
        title+=$'\n'"empty lease database at every step; leases/s = ACKs received / step length"
        unit="leases/s"
    fi
    echo
    echo "$title"
    echo
    printf '%-9s %11s %13s %9s %13s %9s %7s %8s   %s\n' "server" "best rate/s" "$unit there" "CPU us/a" "peak $unit" "at rate/s" "lost %" "srv CPU" "remark"
    printf '%-9s %11s %13s %9s %13s %9s %7s %8s   %s\n' "------" "-----------" "------------" "--------" "-------------" "---------" "------" "-------" "------"
    declare -A sum
    for srv in $list; do
        local b ab us pk pr pl pc
        read -r b ab us pk pr pl pc <<<"$(summary_row "$load" "$srv")"
        sum[$srv,best]=$ab; sum[$srv,max]=$pk; sum[$srv,us]=$us
        printf '%-9s %11s %13s %9s %13s %9s %7s %7s%%   %s\n' "$srv" "$b" "$ab" "$us" "$pk" "$pr" "$pl" "$pc" "${NOTE[$load,$srv]:-}"
    done
    if has bootherd; then
        local other
        for other in $list; do
            [[ $other == bootherd ]] && continue
            echo "bootherd/$other: $(ratio "${sum[bootherd,best]:-}" "${sum[$other,best]:-}")x at the best loss-free rate," \
                "$(ratio "${sum[bootherd,max]:-}" "${sum[$other,max]:-}")x at the peak," \
                "server CPU per answer $other/bootherd $(ratio "${sum[$other,us]:-}" "${sum[bootherd,us]:-}") (above 1: bootherd is cheaper)"
        done
    fi
    echo "(CPU us/a = the server's CPU time per answer at its best rate; peak = most answers/s in"
    echo "any step, whatever was lost there)"
    for srv in $list; do
        limit_line "$load" "$srv"
    done
    if [[ $base == proxy ]]; then
        echo "target: bootherd >= 5x dnsmasq's rate, and no lost answers at the rate dnsmasq sustains"
        if has bootherd && has dnsmasq; then
            local db=${BEST[$load,dnsmasq]:-none}
            if [[ $db != none && -n ${STEP[$load,bootherd,$db]:-} ]]; then
                echo "bootherd at dnsmasq's best rate ($db/s): lost $(sf "$load,bootherd,$db" 13)%"
            fi
        fi
    else
        echo "target: >= 10000 durable leases/s, ahead of dnsmasq"
        for srv in $list; do
            [[ -n ${STEP[$load,$srv,soak]:-} ]] || continue
            local k=$load,$srv,soak
            echo "soak: $srv at ${SOAK_RATE[$load,$srv]}/s for $(sf "$k" 1) s ($(sf "$k" 7) leases, table growing):" \
                "$(sf "$k" 12) leases/s, lost $(sf "$k" 13)% -> $([[ $(sf "$k" 18) == 1 ]] && echo holds || echo "does NOT hold")"
        done
        local key
        if has bootherd; then
            echo "bootherd lease database read back after each step (bootherd leases --json):"
            for key in ${ORDER[$load,bootherd]:-}; do
                echo "  rate $key: ${VERIFY[$load,$key]:-not checked}"
            done
        fi
    fi
    echo
    echo "every step (lost % = unanswered of the DISCOVERs sent; srv l.% = the same less the answers"
    echo "$gen's own socket dropped (cli buf), the figure a step passes on; dups = addresses $gen saw"
    echo "offered to two clients; avg/p99 ms = delay of the answer counted (p99: dhcpload only);"
    echo "CPU in % of one core over the step: srv = the server's processes, gen = $gen,"
    echo "irq = (soft)interrupts, mostly the packets themselves, other = the rest of"
    echo "the machine (other work on a shared machine, when high the step was rerun); cpu0/cpu1 ="
    echo "how busy each CPU was, interrupts included (pinned: the server's and the generator's); srv/cli buf"
    echo "= UDP RcvbufErrors in the server / client namespace during the step):"
    for srv in $list; do
        echo " $srv"
        step_table "$load" "$srv"
    done
}

report_commands() {
    echo
    echo "Commands (inside the namespaces; PERIOD = $PERIOD s, or less for DORA so that a step never"
    echo "uses more than 80% of the $POOL_SIZE-address pool; perfdhcp: RATE omitted = as fast as it"
    echo "can; dhcpload: RATE 0 = as fast as it can):"
    local srv load
    for load in $LOADS; do
        if [[ $(gen_of "$load") == dhcpload ]]; then
            echo " $load: dhcpload $(dhcpload_args "$load" RATE PERIOD "$STEP_MAC" | tr '\n' ' ')"
        else
            echo " $load: perfdhcp $(perfdhcp_args "$load" 1 PERIOD "$STEP_MAC" | tr '\n' ' ' | sed 's/-r 1 /-r RATE /')"
        fi
        pinned_for "$load" && echo "   (server under taskset -c 0, $(gen_of "$load") under taskset -c 1)"
        for srv in $(servers_for "$load"); do
            echo "   $srv: $(server_cmd "$srv" "$load")"
        done
    done
    has bootherd && echo " (bootherd = a copy of $REPO/target/release/bootherd taken at the start, tree $TREE_DESC)"
    wants_gen dhcpload && echo " (dhcpload = a copy of $REPO/target/release/dhcpload taken at the start)"
    echo " bootherd DHCP configuration:"
    sed 's/^/   /' "$DATA/conf/bootherd-dhcp.toml"
    if has kea && wants_base dora; then
        echo " kea-dhcp4 configuration:"
        sed 's/^/   /' "$DATA/conf/kea-dhcp4.json"
    fi
}

# ---------------------------------------------------------------- main
bench_prepare "$PREFIX" "$(tmp_base)" "$DB_BASE"
cd "$DATA"   # nothing below writes relative paths; if something did, it lands here
log "namespaces $NS_S ($SRV_ADDR) and $NS_C ($CLI_ADDR); servers: $SERVERS; $PERIOD s per step"

for load in $LOADS; do
    for srv in $(servers_for "$load"); do
        ramp "$load" "$srv"
    done
done

report_header
for load in $LOADS; do
    report_load "$load"
done
report_commands
echo
echo "failures: $FAILURES"
if [[ $STRICT -eq 1 && $FAILURES -gt 0 ]]; then exit 1; fi
exit 0
