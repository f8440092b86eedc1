#!/usr/bin/env bash
# Boot-storm benchmark: a rack powering on at once. bootstorm (crates/bootstorm)
# plays N Raspberry Pi 4s, M U-Boot boards and K UEFI PXE clients booting at the
# same instant, each with its own MAC and address, every file checksummed, against
# bootherd and then against dnsmasq, at several scales, in one run, and prints the
# ratios. Everything runs inside three network namespaces this script makes (server
# 10.99.0.1 and boards 10.99.0.2 on one veth pair, MTU 1500; the LAN's DHCP server
# 10.97.0.1 on a second pair to the boards' side); nothing is created in the root
# namespace and everything is removed on exit, failure or Ctrl-C.
#
# Topology: the boards sit behind a DHCP relay (giaddr 10.98.0.1) on 10.98.0.0/16,
# routed to the client namespace (where that whole /16 is local, so every board
# can bind the address it was given); the servers answer the relay.
# - The LAN's DHCP server, which hands Pis and UEFI clients their addresses, is a
#   dnsmasq on 10.97.0.1 in a third namespace, the same in both runs.
# - bootherd run: one bootherd on 10.99.0.1: proxyDHCP for Pis and UEFI, its DHCP
#   server for the U-Boot boards (owned by vendor class), TFTP for all.
# - dnsmasq run: a dnsmasq on 10.99.0.1 in proxy mode with its TFTP server; it
#   cannot own some boards and proxy for others in one instance, so the U-Boot
#   boards get address and boot file from the LAN dnsmasq (a second dnsmasq) and
#   their files from the first one's TFTP. UEFI clients get bootx64.efi in the
#   proxy offer (dhcp-boot): dnsmasq 2.90 does not answer the emulated client's
#   port 4011 REQUEST (boot item type 0), which bootherd answers.
#
# Usage: bench/storm.sh [--scales "10 50 200"] [--servers "bootherd dnsmasq"]
#                       [--reps N] [--no-build] [--keep DIR]
#   --scales     boards per run; each scale is 60% Pi 4, 20% U-Boot, 20% UEFI
#   --reps N     storms per server and scale, servers alternating (default 1)
#   --mb MB      kernel + initrd per board at scales up to 50 (default 30);
#   --big-mb MB  the same above 50 boards (default 8: 200 boards x 30 MB is 6 GB a run)
#   --no-pin     let the scheduler place server and boards (default: server CPU 0,
#                boards CPU 1)
#   --no-build   do not run cargo build (use target/release as it is)
#   --keep DIR   copy the logs into DIR
#
# BOOTHERD_BASELINE=PATH with --servers "bootherd baseline ..." adds a server
# "baseline": that bootherd binary (an older build), run exactly as bootherd and
# interleaved with the others, so both builds meet the same machine load.
#
# Exit status: 0 when every board of every storm booted with the right bytes, 3 when
# one did not (the table still prints), 1 on a setup error, 2 on bad arguments.
# Needs root. Installs dnsmasq-base with apt-get if it is missing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=storm

SCALES="10 50 200"
SERVERS="bootherd dnsmasq"
REPS=1
MB=30
BIG_MB=8
BUILD=1
PIN=1
KEEP=""
SRV_ADDR=10.99.0.1
CLI_ADDR=10.99.0.2
LAN_ADDR=10.97.0.1
LAN_PEER=10.97.0.2
RELAY=10.98.0.1
BOARD_NET=10.98.0.0/16
QUIET_TRIES=20
STORM_LIMIT=900     # seconds for one storm

while [[ $# -gt 0 ]]; do
    case $1 in
        --scales) SCALES=${2:?}; shift ;;
        --servers) SERVERS=${2:?}; shift ;;
        --reps) REPS=${2:?}; shift ;;
        --mb) MB=${2:?}; shift ;;
        --big-mb) BIG_MB=${2:?}; shift ;;
        --no-pin) PIN=0 ;;
        --no-build) BUILD=0 ;;
        --keep) KEEP=${2:?}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "storm.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for n in $SCALES; do
    [[ $n =~ ^[0-9]+$ && $n -ge 3 && $n -le 1000 ]] || { echo "storm.sh: scales must be 3..1000" >&2; exit 2; }
done
for v in "$REPS" "$MB" "$BIG_MB"; do
    [[ $v =~ ^[0-9]+$ && $v -ge 1 && $v -le 200 ]] || { echo "storm.sh: --reps, --mb, --big-mb must be 1..200" >&2; exit 2; }
done
for s in $SERVERS; do
    case $s in
        bootherd|dnsmasq) ;;
        baseline) [[ -x ${BOOTHERD_BASELINE:-} ]] || { echo "storm.sh: server 'baseline' needs BOOTHERD_BASELINE=PATH" >&2; exit 2; } ;;
        *) echo "storm.sh: unknown server '$s'" >&2; exit 2 ;;
    esac
done

SRV_TASKSET=()
CLI_TASKSET=()
if [[ $PIN -eq 1 && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
    SRV_TASKSET=(taskset -c 0)
    CLI_TASKSET=(taskset -c 1)
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/target/release/bootherd
STORM=$REPO/target/release/bootstorm
require_root "network namespaces, ports 67 and 69"

DATA=""
LAN_PID=""
# shellcheck disable=SC2317  # called by cleanup (lib.sh)
cleanup_procs() {
    if [[ -n $LAN_PID ]]; then kill "$LAN_PID" 2>/dev/null; wait "$LAN_PID" 2>/dev/null; fi
    kill_ns "$NS_L"
    ip netns del "$NS_L" 2>/dev/null
}
# shellcheck disable=SC2317
cleanup_files() {
    if [[ -n $KEEP && -n $DATA && -d $DATA/log ]]; then
        mkdir -p "$KEEP" && cp -r "$DATA/log/." "$KEEP/" && log "logs kept in $KEEP"
    fi
    [[ -n $DATA && -d $DATA ]] && rm -rf "$DATA"
}
bench_init bhstorm
NS_L=$TAG-lan
sweep_stale
# sweep_stale knows -srv and -cli; the -lan of a run killed with SIGKILL goes here.
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^bhstorm-[0-9]+-lan\$" || true); do
    pid=${ns#bhstorm-}; pid=${pid%-lan}
    kill -0 "$pid" 2>/dev/null || { kill_ns "$ns"; ip netns del "$ns" 2>/dev/null || true; }
done
sweep_stale_dirs "$(tmp_base)"

if ! command -v dnsmasq >/dev/null && [[ ! -x /usr/sbin/dnsmasq ]]; then
    log "installing dnsmasq-base"
    apt_install dnsmasq-base || die "cannot install dnsmasq-base"
fi
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
build_bin bootherd "$BIN"
build_bin bootstorm "$STORM"

DATA=$(mktemp -d "$(tmp_base)/$BENCH_PREFIX-$$-XXXXXX")
mkdir -p "$DATA/log"

# ---------------------------------------------------------------- the boot tree
# What each firmware fetches: a Pi 4 its firmware (start4.elf at its real 2.2 MB),
# device tree, config.txt naming an initramfs, kernel8.img and initrd.img; U-Boot
# pxelinux.cfg/default, vmlinuz and initrd.img; UEFI one unified kernel image
# (bootx64.efi, kernel and initrd in one file). $1 MB of kernel + initrd per board.
make_tree() {
    local root=$1 mb=$2 kernel_kb initrd_kb
    kernel_kb=$((mb * 1024 / 3))
    initrd_kb=$((mb * 1024 - kernel_kb))
    rm -rf "$root"
    mkdir -p "$root/pxelinux.cfg"
    head -c $((2200 * 1024)) /dev/urandom >"$root/start4.elf"
    head -c 5400 /dev/urandom >"$root/fixup4.dat"
    head -c 54000 /dev/urandom >"$root/bcm2711-rpi-4-b.dtb"
    printf 'arm_64bit=1\nkernel=kernel8.img\ninitramfs initrd.img followkernel\n' >"$root/config.txt"
    printf 'console=serial0,115200 root=/dev/ram0\n' >"$root/cmdline.txt"
    head -c $((kernel_kb * 1024)) /dev/urandom >"$root/kernel8.img"
    head -c $((initrd_kb * 1024)) /dev/urandom >"$root/initrd.img"
    cp "$root/kernel8.img" "$root/vmlinuz"
    printf 'default storm\nlabel storm\n  kernel vmlinuz\n  initrd initrd.img\n  append console=ttyAMA0\n' \
        >"$root/pxelinux.cfg/default"
    cat "$root/kernel8.img" "$root/initrd.img" >"$root/bootx64.efi"
}

# ---------------------------------------------------------------- servers
bootherd_config() {
    local root=$1 dir=$2
    cat >"$dir/bootherd.toml" <<EOF
[net]
listen = ["$SRV_ADDR"]
[tftp]
root = "$root"
max_transfers = 1024
max_transfers_per_client = 16
[proxy]
enabled = true
rpi = true
rpi_reply_delay_ms = 0
bios = ""
uefi_x64 = "bootx64.efi"
[admin]
enabled = false
[dhcp]
enabled = true
lease_db = "$dir/leases.sqlite"
own_vendor_classes = ["U-Boot.armv8"]
ping_check = false
[dhcp.boot]
file = "pxelinux.0"
[[dhcp.pool]]
subnet = "$BOARD_NET"
range = ["10.98.8.1", "10.98.15.254"]
lease_secs = 3600
EOF
}

# Starts server $1 serving $2 in NS_S; sets SERVER_PID to the server process itself.
start_server() {
    local srv=$1 root=$2 dir=$3
    case $srv in
        bootherd|baseline)
            local bin=$BIN
            [[ $srv == baseline ]] && bin=$BOOTHERD_BASELINE
            bootherd_config "$root" "$dir"
            ip netns exec "$NS_S" "${SRV_TASKSET[@]}" env RUST_LOG=${STORM_LOG:-warn} \
                "$bin" serve --config "$dir/bootherd.toml" --no-http \
                >"$DATA/log/$srv.log" 2>&1 &
            ;;
        dnsmasq)
            chmod 777 "$dir"
            ip netns exec "$NS_S" "${SRV_TASKSET[@]}" "$DNSMASQ" -k --conf-file=/dev/null \
                --port=0 --no-ping --bind-interfaces --interface=veth-s --pid-file= \
                --user=root --dhcp-leasefile="$dir/proxy.leases" \
                --log-facility="$DATA/log/dnsmasq-proxy-syslog.log" --quiet-dhcp \
                --dhcp-range=10.98.0.0,proxy,255.255.0.0 \
                --pxe-service=0,"Raspberry Pi Boot" \
                --dhcp-match=set:efi,option:client-arch,7 --dhcp-boot=tag:efi,bootx64.efi \
                --enable-tftp --tftp-root="$root" --tftp-max=1024 \
                >"$DATA/log/$srv.log" 2>&1 &
            ;;
    esac
    SERVER_PID=$!
    local i
    for i in $(seq 1 100); do
        if ip netns exec "$NS_S" ss -Hlun 2>/dev/null | grep -q "$SRV_ADDR:69 "; then
            sleep 0.3
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$DATA/log/$srv.log" >&2
    die "$srv did not start"
}

# The LAN's DHCP server, in NS_L on LAN_ADDR; U-Boot boards get pxelinux.0 from
# SRV_ADDR from it (used in dnsmasq's run only: in bootherd's, their DHCP goes to
# bootherd).
start_lan() {
    local dir=$1
    chmod 777 "$dir"
    ip netns exec "$NS_L" "$DNSMASQ" -k --conf-file=/dev/null --port=0 --no-ping \
        --bind-interfaces --interface=veth-l --pid-file= --user=root \
        --dhcp-leasefile="$dir/lan.leases" --log-facility="$DATA/log/dnsmasq-lan-syslog.log" \
        --quiet-dhcp --dhcp-range=10.98.1.1,10.98.7.254,255.255.0.0,1h --dhcp-lease-max=10000 \
        --dhcp-vendorclass=set:uboot,U-Boot --dhcp-boot=tag:uboot,pxelinux.0,,"$SRV_ADDR" \
        >"$DATA/log/dnsmasq-lan.log" 2>&1 &
    LAN_PID=$!
    local i
    for i in $(seq 1 50); do
        ip netns exec "$NS_L" ss -Hlun 2>/dev/null | grep -q ":67 " && return 0
        sleep 0.1
    done
    die "the LAN dnsmasq did not start"
}

# UDP datagrams dropped in the LAN namespace because a socket buffer was full.
lan_rcvbuf_errors() {
    ip netns exec "$NS_L" awk '/^Udp:/ {if (h) print $6; h = 1}' /proc/net/snmp
}

stop_lan() {
    [[ -n $LAN_PID ]] || return 0
    kill "$LAN_PID" 2>/dev/null || true
    wait "$LAN_PID" 2>/dev/null || true
    LAN_PID=""
}

# ---------------------------------------------------------------- network
setup_net 24
ip netns add "$NS_L"
ip -n "$NS_L" link set lo up
ip -n "$NS_L" link add veth-l type veth peer name veth-cl netns "$NS_C"
ip -n "$NS_L" addr add "$LAN_ADDR/24" dev veth-l
ip -n "$NS_C" addr add "$LAN_PEER/24" dev veth-cl
ip -n "$NS_L" link set veth-l up
ip -n "$NS_C" link set veth-cl up
# Every board address is local on the boards' side; the servers route to it.
ip -n "$NS_C" route add local "$BOARD_NET" dev lo
ip -n "$NS_S" route add "$BOARD_NET" via "$CLI_ADDR"
ip -n "$NS_L" route add "$BOARD_NET" via "$LAN_PEER"

# ---------------------------------------------------------------- storms
declare -A RESULT
FAILED=0
run_storm() {
    local srv=$1 n=$2 rep=$3 mb pis uboots uefis dir line rc=0 lan_drops_before
    mb=$MB; [[ $n -gt 50 ]] && mb=$BIG_MB
    pis=$((n * 6 / 10)); uboots=$((n * 2 / 10)); uefis=$((n - pis - uboots))
    dir=$DATA/run-$srv-$n-$rep
    mkdir -p "$dir"
    [[ -f $DATA/tree-$mb/config.txt ]] || make_tree "$DATA/tree-$mb" "$mb"
    local uboot_dhcp=$SRV_ADDR
    [[ $srv == dnsmasq ]] && uboot_dhcp=$LAN_ADDR
    start_lan "$dir"
    lan_drops_before=$(lan_rcvbuf_errors)
    start_server "$srv" "$DATA/tree-$mb" "$dir"
    wait_quiet
    log "$srv: $n boards ($pis Pi 4, $uboots U-Boot, $uefis UEFI), $mb MB each, rep $rep"
    line=$(ip netns exec "$NS_C" "${CLI_TASKSET[@]}" timeout $((STORM_LIMIT + 30)) "$STORM" \
        --boot-server "$SRV_ADDR" --lan "$LAN_ADDR" --uboot-dhcp "$uboot_dhcp" --relay "$RELAY" \
        --pis "$pis" --uboots "$uboots" --uefis "$uefis" --root "$DATA/tree-$mb" \
        --server-pid "$SERVER_PID" --mac-seed "$rep" --max-seconds "$STORM_LIMIT" \
        2>"$DATA/log/storm-$srv-$n-$rep.err") || rc=$?
    # Datagrams the LAN's DHCP server dropped for want of buffer room.
    line+=" lan_drops=$(( $(lan_rcvbuf_errors) - lan_drops_before ))"
    stop_server
    stop_lan
    echo "$srv n=$n rep=$rep $line" >>"$DATA/log/results.txt"
    log "  $line"
    if [[ $rc -ne 0 ]]; then
        FAILED=1
        log "  storm failed (exit $rc):"
        head -20 "$DATA/log/storm-$srv-$n-$rep.err" >&2
    fi
    RESULT[$srv,$n,$rep]=$line
}

field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" <<<"${RESULT[$1]:-}"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else print v[int((NR + 1) / 2)]}'; }

for n in $SCALES; do
    for rep in $(seq 1 "$REPS"); do
        # Alternate who goes first, so a burst of other load hits both.
        order=$SERVERS
        (( rep % 2 == 0 )) && order=$(tr ' ' '\n' <<<"$SERVERS" | tac | tr '\n' ' ')
        for srv in $order; do run_storm "$srv" "$n" "$rep"; done
    done
done

# ---------------------------------------------------------------- report
echo
echo "# Boot storm: time until the last board has its last file (median of $REPS)"
echo "# machine: $(nproc) CPUs, kernel $(uname -r); pinned: $([[ ${#SRV_TASKSET[@]} -gt 0 ]] && echo yes || echo no); busy starts: $BUSY_WAITS"
printf '%-6s %-9s %8s %8s %8s %8s %7s %9s %9s %8s %10s %10s %10s\n' boards server last_s dhcp_s p50_s p99_s failed cl_resend sv_resend dhcp_rs srv_cpu_s srv_rss_kb cli_cpu_s
for n in $SCALES; do
    for srv in $SERVERS; do
        vals=()
        for f in last_board_s dhcp_last_s p50_s p99_s failed client_resends server_resends dhcp_resends server_cpu_s server_rss_peak_kb client_cpu_s; do
            vals+=("$(for rep in $(seq 1 "$REPS"); do field "$srv,$n,$rep" "$f"; done | median)")
        done
        printf '%-6s %-9s %8s %8s %8s %8s %7s %9s %9s %8s %10s %10s %10s\n' "$n" "$srv" "${vals[@]}"
    done
    if [[ " $SERVERS " == *" bootherd "* && " $SERVERS " == *" dnsmasq "* ]]; then
        b=$(for rep in $(seq 1 "$REPS"); do field "bootherd,$n,$rep" last_board_s; done | median)
        d=$(for rep in $(seq 1 "$REPS"); do field "dnsmasq,$n,$rep" last_board_s; done | median)
        awk -v b="$b" -v d="$d" -v n="$n" 'BEGIN {if (b > 0 && d > 0) printf "%-6s dnsmasq / bootherd time to the last board: %.2fx\n", n, d / b}'
    fi
done
echo "every run:"
cat "$DATA/log/results.txt"
[[ $FAILED -eq 0 ]] || exit 3
