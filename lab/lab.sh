#!/usr/bin/env bash
# Test lab: three network namespaces joined by a bridge, nothing in the root namespace.
#
#   NAME-srv  eth0 10.99.0.1/24    (bootherd under test)
#   NAME-lan  eth0 10.99.0.2/24    (a foreign "LAN" DHCP server, for later work)
#   NAME-cli  br0  10.99.0.100/24  (clients; bridge ports: vsrv, vlan, tap devices)
#
# Every veth is created inside a namespace with its peer placed straight into
# another one, so no interface ever appears in the root namespace.
#
# Usage:
#   lab/lab.sh up NAME         build the lab (tears down an old one of that NAME first)
#   lab/lab.sh tap NAME TAP    add tap device TAP to br0 in NAME-cli (for QEMU guests)
#   lab/lab.sh down NAME       kill everything inside, delete namespaces; never fails
#   lab/lab.sh sweep           down every bh-<pid>-* lab whose pid is dead, and
#                              remove the test temp dirs (bootherd-it-<pid>-*) of dead pids
set -euo pipefail

readonly NETS=(srv lan cli)
readonly SRV_ADDR=10.99.0.1
readonly LAN_ADDR=10.99.0.2
readonly CLI_ADDR=10.99.0.100
readonly PREFIX=24

die() {
    echo "lab.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: lab/lab.sh up NAME | down NAME | tap NAME TAP | sweep" >&2
    exit 2
}

valid_name() {
    [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$ ]]
}

check_name() {
    valid_name "$1" || die "bad lab name '$1'"
}

check_ifname() {
    local ifname=$1
    [[ $ifname =~ ^[A-Za-z0-9_-]{1,15}$ ]] || die "bad interface name '$ifname'"
}

ns_exists() {
    [[ -e /run/netns/$1 ]]
}

# Kill every process in namespace $1: TERM, a bounded wait, then KILL.
kill_ns_pids() {
    local ns=$1 pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 20); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] || return 0
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    for _ in $(seq 1 20); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] || return 0
        sleep 0.1
    done
    echo "lab.sh: processes still alive in $ns: $pids" >&2
}

# Is $2 reachable from namespace $1? ping when installed; else a TCP probe to
# the discard port, where "connection refused" proves the host answered.
reachable() {
    local ns=$1 addr=$2 err
    if command -v ping >/dev/null 2>&1; then
        ip netns exec "$ns" ping -n -q -c1 -W1 "$addr" >/dev/null 2>&1
        return
    fi
    err=$(ip netns exec "$ns" timeout 1 bash -c ": </dev/tcp/$addr/9" 2>&1) && return 0
    [[ $err == *refused* ]]
}

lab_down() {
    local name=$1 net ns
    for net in "${NETS[@]}"; do
        ns=$name-$net
        if ns_exists "$ns"; then
            kill_ns_pids "$ns"
            ip netns del "$ns" 2>/dev/null || true
        fi
        rm -rf "/etc/netns/$ns" 2>/dev/null || true
    done
    return 0
}

lab_up() {
    local name=$1 net ns
    lab_down "$name"
    for net in "${NETS[@]}"; do
        ns=$name-$net
        ip netns add "$ns"
        mkdir -p "/etc/netns/$ns"
        echo "# bootherd lab $ns: no resolver" >"/etc/netns/$ns/resolv.conf"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
        ip -n "$ns" link set lo up
    done

    local cli=$name-cli
    ip -n "$cli" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0

    ip -n "$name-srv" link add eth0 type veth peer name vsrv netns "$cli"
    ip -n "$name-lan" link add eth0 type veth peer name vlan netns "$cli"
    ip -n "$cli" link set vsrv master br0
    ip -n "$cli" link set vlan master br0

    ip -n "$name-srv" addr add "$SRV_ADDR/$PREFIX" dev eth0
    ip -n "$name-lan" addr add "$LAN_ADDR/$PREFIX" dev eth0
    ip -n "$cli" addr add "$CLI_ADDR/$PREFIX" dev br0

    ip -n "$name-srv" link set eth0 up
    ip -n "$name-lan" link set eth0 up
    ip -n "$cli" link set vsrv up
    ip -n "$cli" link set vlan up
    ip -n "$cli" link set br0 up

    for _ in $(seq 1 10); do
        if reachable "$cli" "$SRV_ADDR" && reachable "$cli" "$LAN_ADDR"; then
            return 0
        fi
        sleep 0.2
    done
    lab_down "$name"
    die "lab $name: $SRV_ADDR not reachable from $cli"
}

lab_tap() {
    local name=$1 tap=$2 cli=$1-cli
    ns_exists "$cli" || die "no lab named $name"
    ip -n "$cli" tuntap add dev "$tap" mode tap
    ip -n "$cli" link set "$tap" master br0
    ip -n "$cli" link set "$tap" up
}

# Remove labs left by test runs that were killed: names bh-<pid>-<n> whose pid is gone.
lab_sweep() {
    local ns name pid
    local -A seen=()
    {
        ip netns list 2>/dev/null | awk '{print $1}'
        if [[ -d /etc/netns ]]; then
            ls -1 /etc/netns
        fi
    } | while read -r ns; do
        [[ $ns =~ ^(bh-([0-9]+)-[A-Za-z0-9_.]+)-(srv|lan|cli)$ ]] || continue
        name=${BASH_REMATCH[1]}
        pid=${BASH_REMATCH[2]}
        [[ -z ${seen[$name]:-} ]] || continue
        seen[$name]=1
        if [[ ! -d /proc/$pid ]]; then
            echo "lab.sh: sweeping $name (pid $pid is gone)" >&2
            lab_down "$name"
        fi
    done
    # Temp dirs of killed test runs: bootherd-it-<pid>-XXXXXX.
    local dir
    for dir in "${TMPDIR:-/tmp}"/bootherd-it-*; do
        [[ -d $dir && ! -L $dir ]] || continue
        [[ ${dir##*/} =~ ^bootherd-it-([0-9]+)-[A-Za-z0-9]+$ ]] || continue
        pid=${BASH_REMATCH[1]}
        if [[ ! -d /proc/$pid ]]; then
            echo "lab.sh: removing $dir (pid $pid is gone)" >&2
            rm -rf -- "$dir"
        fi
    done
    return 0
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd=$1
    shift
    case $cmd in
    up)
        [[ $# -eq 1 ]] || usage
        check_name "$1"
        [[ $(id -u) -eq 0 ]] || die "needs root"
        # A failure half-way (set -e exits) must not leave namespaces behind.
        LAB_NAME=$1
        trap 'if [[ $? -ne 0 ]]; then lab_down "$LAB_NAME"; fi' EXIT
        lab_up "$1"
        ;;
    down)
        [[ $# -eq 1 ]] || usage
        if valid_name "$1"; then
            lab_down "$1" || true
        else
            echo "lab.sh: bad lab name '$1', nothing to do" >&2
        fi
        ;;
    tap)
        [[ $# -eq 2 ]] || usage
        check_name "$1"
        check_ifname "$2"
        lab_tap "$1" "$2"
        ;;
    sweep)
        [[ $# -eq 0 ]] || usage
        lab_sweep || true
        ;;
    *)
        usage
        ;;
    esac
}

main "$@"
