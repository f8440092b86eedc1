# shellcheck shell=bash
# Shell machinery shared by bench/tftp.sh, bench/dhcp.sh and bench/offer-latency.sh;
# sourced, never run.
#
# The sourcing script sets, before calling anything here:
#   LOG_TAG     log prefix ("bench", "dhcp-bench")
#   REPO, BUILD (cargo build or not), SERVERS, KEEP, QUIET_TRIES, SRV_ADDR, CLI_ADDR
# and, for the functions that use them, INSTALL (install_missing), PIN (pin_cpus),
# DATA, DBDIR, PREFIX, POOL_FIRST, POOL_LAST (write_bootherd_dhcp_conf),
# and may define the cleanup hooks cleanup_procs (before the namespaces go) and
# cleanup_files (after); both default to nothing.
# bench_init PREFIX sets TAG, NS_S, NS_C, SERVER_PID, CREATED_POLICY, BUSY_WAITS and
# installs the EXIT/INT/TERM traps.

# The comment block at the top of the script, from its second line.
usage() { awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; }

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

require_root() { [[ $(id -u) -eq 0 ]] || die "needs root ($1)"; }

has() { [[ " $SERVERS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- state and cleanup
# Namespaces are PREFIX-PID-srv and PREFIX-PID-cli: the PID lets sweep_stale tell a
# live run's namespaces from those of a run killed with SIGKILL.
bench_init() {
    BENCH_PREFIX=$1
    TAG=$BENCH_PREFIX-$$
    NS_S=$TAG-srv
    NS_C=$TAG-cli
    SERVER_PID=""
    CREATED_POLICY=0
    BUSY_WAITS=0
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cleanup_procs() { :; }
cleanup_files() { :; }

# TERM, a bounded wait, then KILL every process inside namespace $1.
kill_ns() {
    local ns=$1 pids i sig
    [[ -e /run/netns/$ns ]] || return 0
    for sig in TERM KILL; do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] || return 0
        # shellcheck disable=SC2086
        kill -"$sig" $pids 2>/dev/null || true
        for i in $(seq 1 30); do
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            [[ -n $pids ]] || return 0
            sleep 0.1
        done
    done
    log "warning: processes still alive in $ns: $pids"
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    cleanup_procs
    if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null; fi
    kill_ns "$NS_C"
    kill_ns "$NS_S"
    ip netns del "$NS_C" 2>/dev/null
    ip netns del "$NS_S" 2>/dev/null
    rm -rf /etc/netns/"$NS_C" /etc/netns/"$NS_S"
    cleanup_files
    [[ $CREATED_POLICY -eq 1 ]] && rm -f /usr/sbin/policy-rc.d
    exit "$rc"
}

# Namespaces left by an earlier run of this script that was killed with SIGKILL.
sweep_stale() {
    local ns pid
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$BENCH_PREFIX-[0-9]+-(srv|cli)\$" || true); do
        pid=${ns#"$BENCH_PREFIX"-}; pid=${pid%-*}
        if ! kill -0 "$pid" 2>/dev/null; then
            log "removing stale namespace $ns"
            kill_ns "$ns"
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}

# Directories PREFIX-PID-* in each of $@ left by a run killed with SIGKILL (PID dead).
sweep_stale_dirs() {
    local base d pid
    for base in "$@"; do
        for d in "$base/$BENCH_PREFIX"-*; do
            [[ -d $d && ! -L $d ]] || continue
            [[ ${d##*/} =~ ^"$BENCH_PREFIX"-([0-9]+)- ]] || continue
            pid=${BASH_REMATCH[1]}
            if ! kill -0 "$pid" 2>/dev/null; then
                log "removing stale directory $d"
                rm -rf -- "$d"
            fi
        done
    done
}

# For cleanup_files of the DHCP benchmarks: copies DATA's log, out and conf into KEEP
# (--keep), then removes DATA and the lease databases' DBDIR.
keep_and_remove_dhcp_data() {
    if [[ -n $KEEP && -n $DATA && -d $DATA ]]; then
        mkdir -p "$KEEP" && cp -r "$DATA/log" "$DATA/out" "$DATA/conf" "$KEEP/" 2>/dev/null \
            && log "logs kept in $KEEP"
    fi
    [[ -n $DATA && -d $DATA ]] && rm -rf "$DATA"
    [[ -n $DBDIR && -d $DBDIR ]] && rm -rf "$DBDIR"
}

# ---------------------------------------------------------------- pinning
# With PIN=1: the server on CPU 0 (SRV_TASKSET) and the clients on CPU 1
# (CLI_TASKSET), when the machine has two CPUs and taskset; else both empty, PIN=0.
# shellcheck disable=SC2034  # SRV_TASKSET, CLI_TASKSET: for the sourcing script
pin_cpus() {
    SRV_TASKSET=()
    CLI_TASKSET=()
    if [[ $PIN -eq 1 && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
        SRV_TASKSET=(taskset -c 0)
        CLI_TASKSET=(taskset -c 1)
    else
        PIN=0
    fi
}

# ---------------------------------------------------------------- dependencies
# apt-get install $@ (once more after an apt-get update if that fails); false if it
# still fails. The retry's errors go to stderr.
apt_install() {
    # Do not let the packages start their daemons in the root namespace.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        CREATED_POLICY=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local ok=0
    timeout 600 apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 && ok=1
    if [[ $ok -eq 0 ]]; then
        timeout 300 apt-get update -q >/dev/null 2>&1 || true
        timeout 600 apt-get install -y -q --no-install-recommends "$@" >/dev/null && ok=1
    fi
    if [[ $CREATED_POLICY -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; CREATED_POLICY=0; fi
    [[ $ok -eq 1 ]]
}

# apt-get install the packages $@, if any; dies when that fails, or at once with
# INSTALL=0 (--no-install).
install_missing() {
    [[ $# -gt 0 ]] || return 0
    [[ $INSTALL -eq 1 ]] || die "missing: $* (and --no-install)"
    log "installing: $*"
    apt_install "$@" 2>/dev/null || die "apt-get install $* failed"
}

# cargo build --release -p $1 (unless BUILD=0); dies unless $2, the binary, is there.
build_bin() {
    local pkg=$1 bin=$2
    if [[ $BUILD -eq 1 ]]; then
        log "building $pkg (cargo build --release -p $pkg)"
        (cd "$REPO" && timeout 1800 cargo build --release -q -p "$pkg") \
            || die "cargo build --release -p $pkg failed"
    fi
    [[ -x $bin ]] || die "$bin is missing"
}

# ---------------------------------------------------------------- topology and data
# NS_S with SRV_ADDR/$1 on veth-s and NS_C with CLI_ADDR/$1 on veth-c, MTU 1500, IPv6
# off, loopback up.
setup_net() {
    local prefix=$1 ns i
    ip netns add "$NS_S"
    ip netns add "$NS_C"
    # The veth is made inside the server namespace with its peer put straight into
    # the client namespace: no interface ever exists in the root namespace.
    ip -n "$NS_S" link add veth-s type veth peer name veth-c netns "$NS_C"
    for ns in "$NS_S" "$NS_C"; do
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_S" link set veth-s mtu 1500 up
    ip -n "$NS_C" link set veth-c mtu 1500 up
    ip -n "$NS_S" addr add "$SRV_ADDR/$prefix" dev veth-s
    ip -n "$NS_C" addr add "$CLI_ADDR/$prefix" dev veth-c
    for i in $(seq 1 50); do
        if ip -n "$NS_C" -o link show veth-c | grep -q 'LOWER_UP' \
            && ip -n "$NS_S" -o link show veth-s | grep -q 'LOWER_UP'; then
            return 0
        fi
        sleep 0.1
    done
    die "veth pair did not come up"
}

# Where temporary data goes: /dev/shm, else $TMPDIR or /tmp.
tmp_base() {
    if [[ -d /dev/shm && -w /dev/shm ]]; then echo /dev/shm; else echo "${TMPDIR:-/tmp}"; fi
}

# Writes $1: bootherd as the DHCP server of every client whose option 60 starts with
# "bench", pool POOL_FIRST-POOL_LAST on 10.99.0.0/PREFIX, leases in DBDIR/bootherd,
# ping_check = $2, and the lines $3 at the end of [dhcp].
write_bootherd_dhcp_conf() {
    local file=$1 ping_check=$2 extra=${3:-}
    {
        cat <<EOF
# bootherd as the DHCP server of every client whose option 60 starts with "bench".
[tftp]
root = "$DATA/root"
[http]
enabled = false
[dhcp]
enabled = true
lease_db = "$DBDIR/bootherd/leases.sqlite"
own_vendor_classes = ["bench*"]
ping_check = $ping_check
EOF
        [[ -z $extra ]] || printf '%s\n' "$extra"
        cat <<EOF
[[dhcp.pool]]
subnet = "10.99.0.0/$PREFIX"
range = ["$POOL_FIRST", "$POOL_LAST"]
lease_secs = 3600
EOF
    } >"$file"
}

# The start of a benchmark's main part: the load average before it, dependencies
# (install_deps), what runs killed with SIGKILL left (namespaces, and directories in
# ${@:2}), the network with prefix length $1, the data (setup_data).
# shellcheck disable=SC2034  # LOAD_BEFORE: for the sourcing script
bench_prepare() {
    LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    install_deps
    sweep_stale
    sweep_stale_dirs "${@:2}"
    setup_net "$1"
    setup_data
}

# ---------------------------------------------------------------- servers
# TERM the server (a bounded wait, then KILL), then whatever else is left in NS_S.
stop_server() {
    [[ -n $SERVER_PID ]] || { kill_ns "$NS_S"; return 0; }
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    kill_ns "$NS_S"
}

# Is something in the server namespace bound to UDP 67?
listening_67() {
    [[ -n $(ip netns exec "$NS_S" ss -Hlun 'sport = :67' 2>/dev/null) ]]
}

# Starts DHCP server $1 (in NS_S, on SRV_TASKSET's CPU, killed after $3 s) with the
# command line $4, logging to $2, after stopping the last one and giving it an empty
# lease directory DBDIR/$1. Returns 1 if it does not listen on UDP 67 within 10 s.
start_dhcp_server() {
    local srv=$1 logf=$2 limit=$3 cmd=$4
    stop_server
    rm -rf "${DBDIR:?}/$srv"
    mkdir -p "$DBDIR/$srv"
    chmod 777 "$DBDIR/$srv"   # dnsmasq rewrites its lease file as nobody
    echo "=== $(date +%H:%M:%S) $cmd" >>"$logf"
    # shellcheck disable=SC2086
    ip netns exec "$NS_S" timeout "$limit" "${SRV_TASKSET[@]}" $cmd >>"$logf" 2>&1 &
    SERVER_PID=$!
    wait_listening_67 "$srv" "$logf"
}

# After starting DHCP server $1 (SERVER_PID, logging to $2): waits until it listens on
# UDP 67, at most 10 s. Returns 1, with the log's tail, if it exits or never does.
wait_listening_67() {
    local srv=$1 logf=$2 i
    for i in $(seq 1 100); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$srv exited at start; its log:"; tail -20 "$logf" >&2
            SERVER_PID=""
            return 1
        fi
        if listening_67; then
            sleep 0.3
            return 0
        fi
        sleep 0.1
    done
    log "$srv did not bind UDP 67 within 10 s; its log:"; tail -20 "$logf" >&2
    stop_server
    return 1
}

# ---------------------------------------------------------------- other load
# Busy and total jiffies of the whole machine, and those spent in (soft)interrupts:
# packet processing for the benchmark's own traffic is mostly there, not in the
# processes' times.
cpu_jiffies() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $7 + $8}' /proc/stat; }

# This machine may be shared (QEMU guests under TCG take a whole core). Before each
# measurement, wait (bounded: QUIET_TRIES half-second checks) until the CPUs are idle:
# busy share < 15% over 0.5 s. BUSY_WAITS counts the times it gave up waiting.
cpu_busy_pct() {
    local a b
    a=$(cpu_jiffies); sleep 0.5; b=$(cpu_jiffies)
    awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " ");
        t = y[2] - x[2]; printf "%d", (t > 0) ? 100 * (y[1] - x[1]) / t : 0}'
}
wait_quiet() {
    local i pct
    for i in $(seq 1 "$QUIET_TRIES"); do
        pct=$(cpu_busy_pct)
        [[ $pct -lt 15 ]] && return 0
        [[ $i -eq 1 ]] && log "CPUs ${pct}% busy with other work; waiting for quiet (at most $((QUIET_TRIES / 2)) s)"
    done
    BUSY_WAITS=$((BUSY_WAITS + 1))
    log "warning: still ${pct}% busy; measuring anyway (numbers may be low)"
}
