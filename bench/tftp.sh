#!/usr/bin/env bash
# TFTP benchmark: bootherd against tftpd-hpa, dnsmasq and atftpd, all inside two network
# namespaces this script makes itself (server 10.99.0.1, client 10.99.0.2, one veth
# pair, MTU 1500). Nothing is created in the root namespace; everything it starts or
# writes is removed on exit, on failure and on Ctrl-C.
#
# Usage: bench/tftp.sh [--quick] [--no-pin] [--servers "bootherd tftpd-hpa dnsmasq atftpd"] [--clients N]
#   --quick      one repetition per measurement instead of three (median of 3)
#   --no-pin     let the scheduler place server and clients (default: server on CPU 0,
#                clients on CPU 1, as two hosts would be; lock-step numbers depend on it)
#   --servers    which servers to run (default: all four)
#   --clients    concurrent clients in the concurrency test (default 50)
#   --only WHAT  run only "throughput" or only "concurrency"
#   --no-build   do not run cargo build (use target/release/bootherd as it is)
#   --hog        during the concurrency runs, keep a busy loop on the server's CPU
#                (how each server copes with a CPU it must share)
#   --rows IDS   throughput rows to run, e.g. "b512 b1468" (ids: b512 b1468 w8 w64
#                curl bb big, and req for the per-request test; default all)
#   --reps N     repetitions per measurement (default 3; the median is reported)
#   --keep DIR   copy the servers' and clients' logs and the RSS samples into DIR
#
# BOOTHERD_BASELINE=PATH adds a server "baseline": that bootherd binary (an older
# build), run exactly as bootherd and interleaved with it pass by pass, so that
# both meet the same machine load; a last table compares the two.
#
# Exit status: 0 when every transfer succeeded with the right bytes, 3 when one did
# not (the tables still print, with FAIL), 1 on a setup error, 2 on bad arguments.
# Needs root (network namespaces, port 69). Installs what is missing with apt-get:
# tftpd-hpa, dnsmasq-base, atftp, curl, busybox, iproute2. atftpd is not installed
# (its package replaces tftpd-hpa's /usr/sbin/in.tftpd): `apt-get download atftpd`
# fetches the .deb and its binary is unpacked into the run's temporary directory.
# See bench/README.md and docs/BENCHMARKS.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=bench

# ---------------------------------------------------------------- settings
REPS=3
SERVERS="bootherd tftpd-hpa dnsmasq atftpd"
NCLIENTS=50
BUILD=1
PIN=1
ONLY=""
KEEP=""
HOG=0
ROW_IDS=""
BIG_MIB=64
SMALL_MIB=16
SRV_ADDR=10.99.0.1
CLI_ADDR=10.99.0.2
FETCH_TIMEOUT=120     # seconds for one 64 MiB fetch
CONC_TIMEOUT=300      # seconds for the whole concurrency run
SAMPLE_INTERVAL=0.02  # RSS sampling period, seconds
QUIET_TRIES=40        # half-second checks for an idle machine before each pass

while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) REPS=1 ;;
        --no-pin) PIN=0 ;;
        --hog) HOG=1 ;;
        --rows) ROW_IDS=${2:?}; shift ;;
        --reps) REPS=${2:?}; shift ;;
        --keep) KEEP=${2:?}; shift ;;
        --only) ONLY=${2:?}; shift ;;
        --servers) SERVERS=${2:?}; shift ;;
        --clients) NCLIENTS=${2:?}; shift ;;
        --no-build) BUILD=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "tftp.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 && $REPS -le 50 ]] || { echo "tftp.sh: --reps must be 1..50" >&2; exit 2; }
[[ $NCLIENTS =~ ^[0-9]+$ && $NCLIENTS -ge 1 && $NCLIENTS -le 500 ]] \
    || { echo "tftp.sh: --clients must be 1..500" >&2; exit 2; }
case $ONLY in ""|throughput|concurrency) ;; *) echo "tftp.sh: --only throughput|concurrency" >&2; exit 2 ;; esac
BASELINE_BIN=${BOOTHERD_BASELINE:-}
if [[ -n $BASELINE_BIN ]]; then
    [[ -x $BASELINE_BIN ]] || { echo "tftp.sh: BOOTHERD_BASELINE=$BASELINE_BIN is not an executable" >&2; exit 2; }
    BASELINE_BIN=$(realpath "$BASELINE_BIN")
    # Right after bootherd, so that the two take turns.
    [[ " $SERVERS " == *" baseline "* ]] || SERVERS=$(echo " $SERVERS " | sed 's/ bootherd / bootherd baseline /; s/^ //; s/ $//')
    [[ " $SERVERS " == *" baseline "* ]] || SERVERS="$SERVERS baseline"
fi
for s in $SERVERS; do
    case $s in bootherd|tftpd-hpa|dnsmasq|atftpd) ;;
        baseline) [[ -n $BASELINE_BIN ]] || { echo "tftp.sh: server baseline needs BOOTHERD_BASELINE=PATH" >&2; exit 2; } ;;
        *) echo "tftp.sh: unknown server '$s'" >&2; exit 2 ;;
    esac
done

# Pinning: the server on CPU 0, every client on CPU 1. Unpinned, lock-step TFTP swings
# 3-4x from run to run depending on whether the scheduler puts client and server on
# one CPU (a wake-up on the same CPU, ~15 us a round trip) or on two (~55 us).
pin_cpus

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/target/release/bootherd

require_root "network namespaces, port 69"

# ---------------------------------------------------------------- state and cleanup
DATA=""
SAMPLER_PID=""
HOG_PID=""
# shellcheck disable=SC2317  # the hooks are called by cleanup (lib.sh)
cleanup_procs() {
    if [[ -n $SAMPLER_PID ]]; then kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; fi
    if [[ -n $HOG_PID ]]; then kill "$HOG_PID" 2>/dev/null; wait "$HOG_PID" 2>/dev/null; fi
}
# shellcheck disable=SC2317
cleanup_files() {
    if [[ -n $KEEP && -n $DATA && -d $DATA/log ]]; then
        mkdir -p "$KEEP" && cp -r "$DATA/log/." "$KEEP/" && log "logs kept in $KEEP"
    fi
    [[ -n $DATA && -d $DATA ]] && rm -rf "$DATA"
}
# Namespaces bhbench-PID-srv and -cli; the traps run cleanup (lib.sh) on any exit.
bench_init bhbench

# ---------------------------------------------------------------- dependencies
install_deps() {
    local missing=() 
    command -v in.tftpd >/dev/null || [[ -x /usr/sbin/in.tftpd ]] || missing+=(tftpd-hpa)
    command -v dnsmasq >/dev/null || [[ -x /usr/sbin/dnsmasq ]] || missing+=(dnsmasq-base)
    command -v atftp >/dev/null || missing+=(atftp)
    command -v curl >/dev/null || missing+=(curl)
    command -v busybox >/dev/null || missing+=(busybox)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v ss >/dev/null || missing+=(iproute2)
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "installing: ${missing[*]}"
        apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
    fi
    if has bootherd; then build_bin bootherd "$BIN"; fi
}

# ---------------------------------------------------------------- topology and data
setup_data() {
    DATA=$(mktemp -d "$(tmp_base)/bhbench-$$-XXXXXX")
    chmod 755 "$DATA"
    mkdir -p "$DATA/root" "$DATA/out" "$DATA/log"
    if has baseline; then
        # Named bootherd, as the process checks expect.
        mkdir -p "$DATA/baseline"
        cp "$BASELINE_BIN" "$DATA/baseline/bootherd"
        BASELINE_BIN=$DATA/baseline/bootherd
    fi
    chmod 755 "$DATA/root"
    chmod 777 "$DATA/out"
    head -c $((BIG_MIB << 20)) /dev/urandom >"$DATA/root/big.bin"
    head -c $((SMALL_MIB << 20)) /dev/urandom >"$DATA/root/small.bin"
    head -c 4096 /dev/urandom >"$DATA/root/tiny.bin"
    chmod 644 "$DATA/root/big.bin" "$DATA/root/small.bin" "$DATA/root/tiny.bin"
    BIG_SHA=$(sha256sum "$DATA/root/big.bin" | cut -d' ' -f1)
    SMALL_SHA=$(sha256sum "$DATA/root/small.bin" | cut -d' ' -f1)
    log "data in $DATA: big.bin ${BIG_MIB} MiB, small.bin ${SMALL_MIB} MiB (random bytes)"
}

# ---------------------------------------------------------------- servers
# One sample of the server: summed VmRSS (kB), summed Pss (kB), process count, then
# pid:cputicks (user+system) for each process. The processes are the server and its
# children (tftpd-hpa forks one per transfer); /proc/PID/task/*/children is much
# cheaper to read every 20 ms than a scan of /proc for the namespace.
ns_sample() {
    local pids p files=()
    pids="$SERVER_PID $(cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null || true)"
    for p in $pids; do files+=("/proc/$p/status" "/proc/$p/smaps_rollup" "/proc/$p/stat"); done
    # cat, not awk FILE...: a child may exit between listing and reading, and mawk
    # gives up on a missing file.
    { cat "${files[@]}" 2>/dev/null || true; } | awk '
        /^VmRSS:/ {r += $2; n++}
        /^Pss:/ {s += $2}
        /^[0-9]+ \(/ {t = t " " $1 ":" ($14 + $15)}
        END {printf "%d %d %d%s\n", r, s, n, t}'
}

start_server() {
    local name=$1 logf=$DATA/log/$1.$2.log
    : >"$logf"
    case $name in
        bootherd|baseline)
            local bin=$BIN
            [[ $name == baseline ]] && bin=$BASELINE_BIN
            # The concurrency test's 50 clients share one address: lift the
            # per-client cap (default 16) above that.
            printf '[tftp]\nroot = "%s"\nmax_transfers_per_client = 64\n' "$DATA/root" \
                >"$DATA/bootherd.toml"
            ip netns exec "$NS_S" "${SRV_TASKSET[@]}" env RUST_LOG=info "$bin" serve \
                --config "$DATA/bootherd.toml" --root "$DATA/root" \
                --listen "$SRV_ADDR" --no-http --log-format json 2>>"$logf" &
            ;;
        tftpd-hpa)
            # -L foreground, -s chroot into the root, -B largest block it may grant.
            ip netns exec "$NS_S" "${SRV_TASKSET[@]}" /usr/sbin/in.tftpd -L -s "$DATA/root" -B 65464 \
                -a "$SRV_ADDR:69" >>"$logf" 2>&1 &
            ;;
        dnsmasq)
            # TFTP only: --port=0 turns DNS off, no dhcp-range means no DHCP.
            # --tftp-max raised from its default of 50 so it never refuses our clients.
            ip netns exec "$NS_S" "${SRV_TASKSET[@]}" /usr/sbin/dnsmasq -k --port=0 --enable-tftp \
                --tftp-root="$DATA/root" --listen-address="$SRV_ADDR" --bind-interfaces \
                --conf-file=/dev/null --pid-file="$DATA/log/dnsmasq.pid" \
                --tftp-max=200 --quiet-tftp --log-facility=- >>"$logf" 2>&1 &
            ;;
        atftpd)
            # Standalone, in the foreground; one thread per transfer; grants windowsize
            # (RFC 7440) and blksize up to 65464.
            ip netns exec "$NS_S" "${SRV_TASKSET[@]}" "$ATFTPD" --daemon --no-fork \
                --user root --group root --port 69 --bind-address "$SRV_ADDR" --maxthread 200 \
                --logfile - --verbose=1 "$DATA/root" >>"$logf" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logf" >&2; die "$name exited at start"; }
        if [[ -n $(ip netns exec "$NS_S" ss -Hlun "src $SRV_ADDR:69" 2>/dev/null) ]]; then
            if [[ $name != bootherd && $name != baseline ]] || grep -q 'tftp listening' "$logf"; then
                # ip netns exec, taskset and env all exec: the pid is the server's own,
                # which the memory and CPU figures rely on.
                local comm
                comm=$(cat "/proc/$SERVER_PID/comm" 2>/dev/null || true)
                case $name:$comm in
                    bootherd:bootherd | baseline:bootherd | tftpd-hpa:in.tftpd | dnsmasq:dnsmasq | atftpd:atftpd) ;;
                    *) die "pid $SERVER_PID is '$comm', not $name" ;;
                esac
                sleep 0.2   # let it settle before measuring idle memory
                return 0
            fi
        fi
        sleep 0.1
    done
    cat "$logf" >&2
    die "$name did not start listening on $SRV_ADDR:69 within 10 s"
}

# ---------------------------------------------------------------- clients
# Settings (rows): id | label | client | client options
ROWS=(
    "b512|blksize 512|atftp|--option blksize_512"
    "b1468|blksize 1468|atftp|--option blksize_1468"
    "w8|blksize 1468 + windowsize 8|atftp|--option blksize_1468 --option windowsize_8"
    "w64|blksize 1468 + windowsize 64|atftp|--option blksize_1468 --option windowsize_64"
    "curl|blksize 1468 (curl)|curl|--tftp-blksize 1468"
    "bb|blksize 1468 (busybox tftp)|busybox|-b 1468"
    "big|blksize 65464 asked|atftp|--option blksize_65464"
)
if [[ -n $ROW_IDS ]]; then
    kept=()
    for row in "${ROWS[@]}"; do
        [[ " $ROW_IDS " == *" ${row%%|*} "* ]] && kept+=("$row")
    done
    [[ ${#kept[@]} -gt 0 || " $ROW_IDS " == *" req "* ]] || die "--rows: no known row among '$ROW_IDS'"
    ROWS=("${kept[@]}")
fi

# The client command line for one fetch of remote file $3 into local file $4.
client_cmd() {
    local client=$1 opts=$2 remote=$3 local_file=$4 o
    local -a argv=()
    case $client in
        atftp)
            argv=(atftp)
            for o in $opts; do argv+=("${o//_/ }"); done
            argv+=(-g -r "$remote" -l "$local_file" "$SRV_ADDR" 69)
            ;;
        curl)
            # shellcheck disable=SC2206
            argv=(curl -s -S $opts -o "$local_file" "tftp://$SRV_ADDR/$remote")
            ;;
        busybox)
            # shellcheck disable=SC2206
            argv=(busybox tftp $opts -g -r "$remote" -l "$local_file" "$SRV_ADDR")
            ;;
    esac
    printf '%q ' "${CLI_TASKSET[@]}" "${argv[@]}"
}

# One timed fetch of big.bin; prints seconds, or "FAIL".
# Timing is taken inside the client namespace around the client process alone.
fetch_once() {
    local client=$1 opts=$2 out=$DATA/out/fetch.bin cmd ns rc=0
    rm -f "$out"
    cmd=$(client_cmd "$client" "$opts" big.bin "$out")
    ns=$(timeout "$FETCH_TIMEOUT" ip netns exec "$NS_C" bash -c \
        's=$(date +%s%N); '"$cmd"' >>"$1" 2>&1; rc=$?; e=$(date +%s%N); echo $((e - s)); exit $rc' \
        _ "$DATA/log/clients.log") || rc=$?
    if [[ $rc -ne 0 || ! -f $out ]]; then
        log "fetch failed (rc=$rc): $cmd"
        echo FAIL; return
    fi
    if [[ $(sha256sum "$out" | cut -d' ' -f1) != "$BIG_SHA" ]]; then
        log "checksum mismatch: $cmd"
        echo FAIL; return
    fi
    rm -f "$out"
    awk -v ns="$ns" 'BEGIN {printf "%.4f\n", ns / 1e9}'
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1}
        END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# ---------------------------------------------------------------- other load
# wait_quiet (lib.sh) runs before each pass.

# Per-request cost: NREQ fetches in a row, one atftp process each, of a 4 KiB file
# (every copy compared) or of a missing file (every one must fail). Prints ms per
# request, or FAIL. Includes starting atftp, the same for every server.
NREQ=200
request_latency() {
    local what=$1 out ns rc=0 cmd
    cmd=$(client_cmd atftp "--option blksize_1468" "$what" "$DATA/out/req.bin")
    if [[ $what == tiny.bin ]]; then
        cmd="$cmd >>\"\$1\" 2>&1 && cmp -s \"\$2\" \"\$3\" || bad=\$((bad + 1))"
    else
        cmd="$cmd >>\"\$1\" 2>&1 && bad=\$((bad + 1))"
    fi
    ns=$(timeout "$FETCH_TIMEOUT" ip netns exec "$NS_C" bash -c \
        'bad=0; s=$(date +%s%N); for ((i = 0; i < '"$NREQ"'; i++)); do '"$cmd"'; done
e=$(date +%s%N); echo $((e - s)); exit $((bad > 0))' \
        _ "$DATA/log/clients.log" "$DATA/out/req.bin" "$DATA/root/tiny.bin") || rc=$?
    rm -f "$DATA/out/req.bin"
    if [[ $rc -ne 0 ]]; then
        log "request test '$what' failed (rc=$rc)"
        echo FAIL; return
    fi
    awk -v ns="$ns" -v n="$NREQ" 'BEGIN {printf "%.2f\n", ns / n / 1e6}'
}

# ---------------------------------------------------------------- measurements
declare -A MBPS        # [server,row] -> MB/s (median) or FAIL
declare -A RUNS        # [server,row] -> all runs, MB/s
declare -A CONC        # [server,key] one concurrency run, then the summary
declare -A CONCR       # [server,key] -> every concurrency run's value
declare -A REQ         # [server,file] -> ms per request, every pass

BIG_BYTES=$((BIG_MIB << 20))

# One pass of every setting against server $1 (repetition $2); the results are
# appended to RUNS. Servers take turns pass by pass, so that a burst of other load on
# the machine hits all of them rather than one.
throughput_pass() {
    local srv=$1 rep=$2 row id label client opts t mbps what
    wait_quiet
    start_server "$srv" "tput$rep"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r id label client opts <<<"$row"
        [[ ${MBPS[$srv,$id]:-} == FAIL ]] && continue
        t=$(fetch_once "$client" "$opts")
        if [[ $t == FAIL ]]; then
            MBPS[$srv,$id]=FAIL
            continue
        fi
        mbps=$(awk -v b="$BIG_BYTES" -v t="$t" 'BEGIN {printf "%.1f", b / t / 1e6}')
        RUNS[$srv,$id]="${RUNS[$srv,$id]:-} $mbps"
        log "pass $rep  $srv  $label: $mbps MB/s"
    done
    if [[ -z $ROW_IDS || " $ROW_IDS " == *" req "* ]]; then
        for what in tiny.bin missing.bin; do
            t=$(request_latency "$what")
            REQ[$srv,$what]="${REQ[$srv,$what]:-} $t"
            log "pass $rep  $srv  $NREQ requests for $what: $t ms each"
        done
    fi
    stop_server
}

throughput() {
    local rep srv row id
    for rep in $(seq 1 "$REPS"); do
        for srv in $SERVERS; do
            throughput_pass "$srv" "$rep"
        done
    done
    for srv in $SERVERS; do
        for row in "${ROWS[@]}"; do
            id=${row%%|*}
            [[ ${MBPS[$srv,$id]:-} == FAIL ]] && continue
            # shellcheck disable=SC2086
            MBPS[$srv,$id]=$(median ${RUNS[$srv,$id]})
        done
    done
}

# One concurrency run against server $1 (repetition $2); results in CONC[$1,key], and
# appended to CONCR[$1,key] for the summary over repetitions.
concurrency() {
    local srv=$1 rep=$2 i bad=0 fails out ns hz key
    hz=$(getconf CLK_TCK)
    wait_quiet
    start_server "$srv" "conc$rep"
    local samples=$DATA/log/$srv.conc$rep.samples
    local slog=$DATA/log/$srv.conc$rep.log
    ns_sample >"$samples"     # first line: idle, before any transfer
    read -r CONC[$srv,idle] _ _ <"$samples"
    if [[ $srv == bootherd || $srv == baseline ]]; then
        CONC[$srv,idle_vmrss]=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")
    fi

    # Sample every process in the server namespace until the clients are done. The
    # sampler runs on the clients' CPU so that it does not take the server's.
    (
        trap - EXIT INT TERM
        n=$(awk -v t="$CONC_TIMEOUT" -v p="$SAMPLE_INTERVAL" 'BEGIN {print int(t / p) + 1}')
        for ((k = 0; k < n; k++)); do
            ns_sample >>"$samples"
            sleep "$SAMPLE_INTERVAL"
        done
    ) &
    SAMPLER_PID=$!
    # Higher priority than the 50 clients it shares a CPU with, so it keeps its pace.
    renice -n -10 -p "$SAMPLER_PID" >/dev/null 2>&1 || true
    if [[ $PIN -eq 1 ]]; then taskset -p -c 1 "$SAMPLER_PID" >/dev/null 2>&1 || true; fi

    if [[ $HOG -eq 1 ]]; then
        # A plain busy loop on the server's CPU (CPU 0 when pinned); no network.
        timeout "$CONC_TIMEOUT" taskset -c 0 bash -c 'while :; do :; done' &
        HOG_PID=$!
    fi

    rm -rf "$DATA/out/conc"; mkdir -p "$DATA/out/conc"; chmod 777 "$DATA/out/conc"
    local cmds=""
    for i in $(seq 1 "$NCLIENTS"); do
        cmds+="$(client_cmd atftp "--option blksize_1468" small.bin "$DATA/out/conc/c$i") >>\"\$1\" 2>&1 &"$'\n'
    done
    out=$(timeout "$CONC_TIMEOUT" ip netns exec "$NS_C" bash -c \
        's=$(date +%s%N)
'"$cmds"'
f=0; for j in $(jobs -p); do wait "$j" || f=$((f + 1)); done
e=$(date +%s%N); echo "$((e - s)) $f"' _ "$DATA/log/clients.log") || out="TIMEOUT $NCLIENTS"

    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    if [[ -n $HOG_PID ]]; then
        kill "$HOG_PID" 2>/dev/null || true
        wait "$HOG_PID" 2>/dev/null || true
        HOG_PID=""
    fi
    ns_sample >>"$samples"    # last line: after every client finished

    read -r ns fails <<<"$out"
    for i in $(seq 1 "$NCLIENTS"); do
        if [[ ! -f $DATA/out/conc/c$i ]] \
            || [[ $(sha256sum "$DATA/out/conc/c$i" | cut -d' ' -f1) != "$SMALL_SHA" ]]; then
            bad=$((bad + 1))
        fi
    done
    rm -rf "$DATA/out/conc"
    if [[ $ns == TIMEOUT ]]; then
        CONC[$srv,wall]=TIMEOUT
    else
        CONC[$srv,wall]=$(awk -v ns="$ns" 'BEGIN {printf "%.2f", ns / 1e9}')
        CONC[$srv,agg]=$(awk -v ns="$ns" -v n="$NCLIENTS" -v m="$SMALL_MIB" \
            'BEGIN {printf "%.1f", n * m * 1048576 / (ns / 1e9) / 1e6}')
    fi
    CONC[$srv,failed]=$((fails > bad ? fails : bad))
    CONC[$srv,peak_rss]=$(awk 'BEGIN {m = 0} $1 > m {m = $1} END {print m}' "$samples")
    CONC[$srv,peak_pss]=$(awk 'BEGIN {m = 0} $2 > m {m = $2} END {print m}' "$samples")
    CONC[$srv,peak_procs]=$(awk 'BEGIN {m = 0} $3 > m {m = $3} END {print m}' "$samples")
    # CPU: for each pid, its highest tick count seen, less what it had at idle.
    CONC[$srv,cpu]=$(awk -v hz="$hz" '
        {for (i = 4; i <= NF; i++) {split($i, a, ":"); if (NR == 1) base[a[1]] = a[2];
                                     if (a[2] > max[a[1]]) max[a[1]] = a[2]}}
        END {for (p in max) t += max[p] - base[p]; printf "%.2f", t / hz}' "$samples")
    if [[ $srv == bootherd || $srv == baseline ]]; then
        CONC[$srv,hwm]=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
        CONC[$srv,retx]=$(grep -o '"retransmits":[0-9]*' "$slog" \
            | awk -F: '{s += $2} END {print s + 0}')
        CONC[$srv,sent]=$(grep -c '"tftp: sent"' "$slog" || true)
        CONC[$srv,warns]=$(grep -c '"level":"\(WARN\|ERROR\)"' "$slog" || true)
    fi
    for key in wall failed idle idle_vmrss peak_rss peak_pss peak_procs cpu hwm retx sent warns; do
        [[ -n ${CONC[$srv,$key]:-} ]] && CONCR[$srv,$key]="${CONCR[$srv,$key]:-} ${CONC[$srv,$key]}"
    done
    log "pass $rep  $srv concurrency: wall ${CONC[$srv,wall]} s, failed clients ${CONC[$srv,failed]}," \
        "peak RSS ${CONC[$srv,peak_rss]} kB (${CONC[$srv,peak_procs]} procs), CPU ${CONC[$srv,cpu]} s," \
        "$(($(wc -l <"$samples") - 2)) samples"
    stop_server
}

maxof() { printf '%s\n' "$@" | sort -g | tail -n 1; }
sumof() { printf '%s\n' "$@" | awk '{s += $1} END {print s + 0}'; }

# Median wall time and CPU, idle memory; highest peaks; summed failures and counts.
summarize_concurrency() {
    local srv key
    for srv in $SERVERS; do
        # shellcheck disable=SC2086
        if [[ " ${CONCR[$srv,wall]} " == *" TIMEOUT "* ]]; then
            CONC[$srv,wall]=TIMEOUT
            CONC[$srv,agg]=n/a
        else
            CONC[$srv,wall]=$(median ${CONCR[$srv,wall]})
            CONC[$srv,agg]=$(awk -v w="${CONC[$srv,wall]}" -v n="$NCLIENTS" -v m="$SMALL_MIB" \
                'BEGIN {printf "%.1f", n * m * 1048576 / w / 1e6}')
        fi
        for key in idle idle_vmrss cpu; do
            # shellcheck disable=SC2086
            [[ -n ${CONCR[$srv,$key]:-} ]] && CONC[$srv,$key]=$(median ${CONCR[$srv,$key]})
        done
        for key in peak_rss peak_pss peak_procs hwm; do
            # shellcheck disable=SC2086
            [[ -n ${CONCR[$srv,$key]:-} ]] && CONC[$srv,$key]=$(maxof ${CONCR[$srv,$key]})
        done
        for key in failed retx sent warns; do
            # shellcheck disable=SC2086
            [[ -n ${CONCR[$srv,$key]:-} ]] && CONC[$srv,$key]=$(sumof ${CONCR[$srv,$key]})
        done
    done
    return 0
}

# ---------------------------------------------------------------- report
fmt_cell() {   # value, unsupported-flag
    local v=$1 star=$2
    [[ -z $v ]] && { echo "-"; return; }
    [[ $v == FAIL ]] && { echo "FAIL"; return; }
    if [[ $star == 1 ]]; then echo "$v*"; else echo "$v"; fi
}
ratio() {
    local a=$1 b=$2
    if [[ -z $a || -z $b || $a == FAIL || $b == FAIL ]]; then echo "n/a"; return; fi
    awk -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'
}
# Does server $1 grant what row $2 asks for? (1 = no: the client got a fallback.)
unsupported() {
    local srv=$1 id=$2
    case $id in
        w8|w64) [[ $srv != bootherd && $srv != baseline && $srv != atftpd ]] && echo 1 || echo 0 ;;
        *) echo 0 ;;
    esac
}

report_header() {
    echo
    echo "bootherd TFTP benchmark, $(date -u +%Y-%m-%dT%H:%MZ); $(nproc) cores; veth pair between two"
    echo "network namespaces, MTU 1500; servers: $SERVERS"
    if [[ $PIN -eq 1 ]]; then
        echo "pinned: server on CPU 0, clients on CPU 1 (taskset)"
    else
        echo "not pinned: the scheduler placed server and clients (lock-step rows vary 3-4x with placement)"
    fi
    if has bootherd; then
        echo "bootherd: $("$BIN" --version 2>/dev/null || echo '?'), tree $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
    fi
    if has baseline; then
        echo "baseline: $BOOTHERD_BASELINE ($("$BASELINE_BIN" --version 2>/dev/null || echo '?')), interleaved with bootherd"
    fi
    echo "load average before the run: $LOAD_BEFORE; passes started on a busy machine: $BUSY_WAITS"
}

# bootherd against the baseline build (BOOTHERD_BASELINE), side by side.
report_baseline() {
    has baseline && has bootherd || return 0
    local row id label client opts what v b
    echo
    echo "bootherd against the baseline build (same run, interleaved; change = bootherd / baseline - 1):"
    echo
    printf '%-32s %12s %12s %9s\n' "measure" "bootherd" "baseline" "change"
    printf '%-32s %12s %12s %9s\n' "-------" "--------" "--------" "------"
    pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (a + 0 > 0 && b + 0 > 0) printf "%+.1f%%", (a / b - 1) * 100; else print "n/a"}'; }
    if [[ $ONLY != concurrency ]]; then
        for row in "${ROWS[@]}"; do
            IFS='|' read -r id label client opts <<<"$row"
            printf '%-32s %12s %12s %9s\n' "$label, MB/s" "${MBPS[bootherd,$id]:--}" "${MBPS[baseline,$id]:--}" \
                "$(pct "${MBPS[bootherd,$id]:-}" "${MBPS[baseline,$id]:-}")"
        done
        if [[ -z $ROW_IDS || " $ROW_IDS " == *" req "* ]]; then
            for what in tiny.bin missing.bin; do
                # shellcheck disable=SC2086
                b=$(median ${REQ[bootherd,$what]}); v=$(median ${REQ[baseline,$what]})
                # Time per request: lower is better, so the change is baseline / bootherd - 1.
                printf '%-32s %12s %12s %9s\n' "$what, ms per request" "$b" "$v" "$(pct "$v" "$b")"
            done
        fi
    fi
    if [[ $ONLY != throughput ]]; then
        printf '%-32s %12s %12s %9s\n' "concurrency, agg MB/s" "${CONC[bootherd,agg]:--}" "${CONC[baseline,agg]:--}" \
            "$(pct "${CONC[bootherd,agg]:-}" "${CONC[baseline,agg]:-}")"
        printf '%-32s %12s %12s %9s\n' "concurrency, CPU s" "${CONC[bootherd,cpu]:--}" "${CONC[baseline,cpu]:--}" \
            "$(pct "${CONC[baseline,cpu]:-}" "${CONC[bootherd,cpu]:-}")"
    fi
    echo "(positive change = bootherd better: more MB/s, or fewer ms / CPU s than the baseline)"
}

report_throughput() {
    local row id label client opts b t d a
    echo
    echo "Throughput: ${BIG_MIB} MiB file, MB/s (10^6 bytes/s), median of $REPS run(s), client atftp 0.8 unless"
    echo "named; every fetch verified by SHA-256"
    echo
    printf '%-32s %10s %10s %10s %10s %10s %10s %10s\n' "setting" "bootherd" "tftpd-hpa" "dnsmasq" "atftpd" "b/tftpd" "b/dnsmasq" "b/atftpd"
    printf '%-32s %10s %10s %10s %10s %10s %10s %10s\n' "--------------------------------" "--------" "---------" "-------" "------" "-------" "---------" "--------"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r id label client opts <<<"$row"
        b=$(has bootherd && fmt_cell "${MBPS[bootherd,$id]:-}" 0 || echo -)
        t=$(has tftpd-hpa && fmt_cell "${MBPS[tftpd-hpa,$id]:-}" "$(unsupported tftpd-hpa "$id")" || echo -)
        d=$(has dnsmasq && fmt_cell "${MBPS[dnsmasq,$id]:-}" "$(unsupported dnsmasq "$id")" || echo -)
        a=$(has atftpd && fmt_cell "${MBPS[atftpd,$id]:-}" "$(unsupported atftpd "$id")" || echo -)
        local rt rd ra
        rt=$(ratio "${MBPS[bootherd,$id]:-}" "${MBPS[tftpd-hpa,$id]:-}")
        rd=$(ratio "${MBPS[bootherd,$id]:-}" "${MBPS[dnsmasq,$id]:-}")
        [[ $rt != n/a && $(unsupported tftpd-hpa "$id") == 1 ]] && rt="$rt*"
        [[ $rd != n/a && $(unsupported dnsmasq "$id") == 1 ]] && rd="$rd*"
        ra=$(ratio "${MBPS[bootherd,$id]:-}" "${MBPS[atftpd,$id]:-}")
        printf '%-32s %10s %10s %10s %10s %10s %10s %10s\n' "$label" "$b" "$t" "$d" "$a" "$rt" "$rd" "$ra"
    done
    echo
    echo "every run, MB/s:"
    local srv
    for row in "${ROWS[@]}"; do
        IFS='|' read -r id label client opts <<<"$row"
        printf '  %-30s' "$label"
        for srv in $SERVERS; do
            local runs=${RUNS[$srv,$id]:- FAIL}
            runs=${runs# }
            printf ' %s:%s' "$srv" "${runs// //}"
        done
        echo
    done
    echo
    echo "* the server has no windowsize option: it left it out of its OACK and the client fell"
    echo "  back to lock-step (one block per ACK). That is what a client really gets from it."
    echo "  'blksize 65464 asked': tftpd-hpa grants 65464 (IP-fragmented datagrams); dnsmasq and"
    echo "  bootherd clamp the block to the interface MTU (1468 here), so they run lock-step at 1468."
}

report_requests() {
    [[ -z $ROW_IDS || " $ROW_IDS " == *" req "* ]] || return 0
    local srv what v row
    echo
    echo "Per request: $NREQ requests in a row, one atftp process each (blksize 1468), ms per request"
    echo "(median of $REPS pass(es); includes starting atftp, ~1-2 ms, the same for every server)"
    echo
    printf '%-32s %10s %10s %10s %10s %10s\n' "request" "bootherd" "tftpd-hpa" "dnsmasq" "b/tftpd" "b/dnsmasq"
    for what in tiny.bin missing.bin; do
        row=()
        for srv in bootherd tftpd-hpa dnsmasq; do
            v=""
            if has "$srv"; then
                v=${REQ[$srv,$what]:-}
                # shellcheck disable=SC2086
                if [[ " $v " == *" FAIL "* ]]; then v=FAIL; elif [[ -n $v ]]; then v=$(median $v); fi
            fi
            row+=("${v:--}")
        done
        printf '%-32s %10s %10s %10s %10s %10s\n' \
            "$([[ $what == tiny.bin ]] && echo "4 KiB file" || echo "missing file (error reply)")" \
            "${row[0]}" "${row[1]}" "${row[2]}" \
            "$(ratio "${row[1]/-/}" "${row[0]/-/}")" "$(ratio "${row[2]/-/}" "${row[0]/-/}")"
    done
    echo "(ratios here are time tftpd-hpa / bootherd and dnsmasq / bootherd: above 1 = bootherd faster)"
}

report_concurrency() {
    echo
    echo "Concurrency: $NCLIENTS atftp clients at once, blksize 1468, each fetching a ${SMALL_MIB} MiB file;"
    echo "$REPS run(s) per server: median wall time, idle memory and CPU; highest peaks; failures summed"
    if [[ $HOG -eq 1 ]]; then echo "with a busy loop sharing the server's CPU (--hog)"; fi
    echo
    printf '%-10s %8s %9s %7s %9s %12s %12s %9s %8s\n' "server" "wall s" "agg MB/s" "failed" "idle kB" "peak RSS kB" "peak PSS kB" "max procs" "CPU s"
    printf '%-10s %8s %9s %7s %9s %12s %12s %9s %8s\n' "------" "------" "--------" "------" "-------" "-----------" "-----------" "---------" "-----"
    local s
    for s in $SERVERS; do
        printf '%-10s %8s %9s %7s %9s %12s %12s %9s %8s\n' "$s" "${CONC[$s,wall]}" "${CONC[$s,agg]:-n/a}" \
            "${CONC[$s,failed]}" \
            "${CONC[$s,idle]}" "${CONC[$s,peak_rss]}" "${CONC[$s,peak_pss]}" "${CONC[$s,peak_procs]}" "${CONC[$s,cpu]}"
    done
    echo
    echo "every run's wall time, s:"
    for s in $SERVERS; do
        local walls=${CONCR[$s,wall]# }
        printf '  %-10s %s\n' "$s" "${walls// / / }"
    done
    echo
    echo "failed = clients that exited non-zero or whose file's SHA-256 did not match."
    echo "idle kB = summed VmRSS of the server's processes after start, before any transfer."
    echo "peak RSS/PSS = highest sum of VmRSS / Pss over every process in the server namespace,"
    echo "  sampled every ${SAMPLE_INTERVAL}s from /proc/PID/status and /proc/PID/smaps_rollup"
    echo "  (tftpd-hpa forks one process per transfer: summed RSS counts shared pages once per"
    echo "  process, PSS splits them; dnsmasq and bootherd are one process)."
    echo "CPU s = user+system CPU time the server's processes used during the run, from the same"
    echo "  samples (/proc/PID/stat, highest value seen per process; a tftpd-hpa child's last"
    echo "  <${SAMPLE_INTERVAL}s before it exits is missed, so its figure is a slight undercount)."
    if has bootherd; then
        echo
        echo "bootherd: idle VmRSS ${CONC[bootherd,idle_vmrss]} kB (target <= 8192 kB);" \
            "highest VmHWM after a concurrency run ${CONC[bootherd,hwm]} kB (/proc/PID/status)."
        echo "bootherd's logs for those runs: ${CONC[bootherd,sent]} transfers completed," \
            "${CONC[bootherd,retx]} retransmits, ${CONC[bootherd,warns]} warnings/errors."
    fi
}

# ---------------------------------------------------------------- main
bench_prepare 24 "$(tmp_base)"
ATFTPD=""
if has atftpd; then
    # Unpacked, not installed: Debian's atftpd package takes over tftpd-hpa's
    # /usr/sbin/in.tftpd. No daemon, no file outside $DATA.
    mkdir -p "$DATA/atftpd"
    (cd "$DATA/atftpd" && timeout 300 apt-get download -q atftpd >/dev/null 2>&1) \
        || die "apt-get download atftpd failed (drop it with --servers)"
    dpkg-deb -x "$DATA"/atftpd/atftpd_*.deb "$DATA/atftpd/root"
    ATFTPD=$DATA/atftpd/root/usr/sbin/atftpd
    [[ -x $ATFTPD ]] || die "no atftpd in the downloaded package"
fi
log "namespaces $NS_S ($SRV_ADDR) and $NS_C ($CLI_ADDR); $REPS repetition(s); servers: $SERVERS"

if [[ $ONLY != concurrency ]]; then
    throughput
fi
if [[ $ONLY != throughput ]]; then
    for rep in $(seq 1 "$REPS"); do
        for srv in $SERVERS; do
            concurrency "$srv" "$rep"
        done
    done
    summarize_concurrency
fi

report_header
[[ $ONLY == concurrency || ${#ROWS[@]} -eq 0 ]] || report_throughput
[[ $ONLY == concurrency ]] || report_requests
[[ $ONLY == throughput ]] || report_concurrency
report_baseline

# A transfer that failed or delivered wrong bytes is a failed benchmark, not a number.
failures=0
for key in "${!MBPS[@]}"; do [[ ${MBPS[$key]} == FAIL ]] && failures=$((failures + 1)); done
for key in "${!REQ[@]}"; do [[ " ${REQ[$key]} " == *" FAIL "* ]] && failures=$((failures + 1)); done
for srv in $SERVERS; do
    [[ ${CONC[$srv,failed]:-0} =~ ^[0-9]+$ ]] && failures=$((failures + ${CONC[$srv,failed]:-0}))
    [[ ${CONC[$srv,wall]:-} == TIMEOUT ]] && failures=$((failures + 1))
done
if [[ $failures -gt 0 ]]; then
    echo
    echo "FAILED: $failures measurement(s) or client(s) failed or got wrong bytes (see FAIL above)"
    exit 3
fi
exit 0
