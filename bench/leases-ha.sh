#!/usr/bin/env bash
# Durable leases per second: bootherd's DHCP server with SQLite, with PostgreSQL
# (one server; two servers sharing one database), and Kea's kea-dhcp4 with its
# PostgreSQL lease backend, in the same run. Steps are interleaved (every
# contender at one rate, then the next rate), because the machine is shared.
#
# Everything runs inside the namespace lab (lab/lab.sh: NAME-srv 10.99.0.1,
# NAME-lan 10.99.0.2, NAME-cli br0 10.99.0.100 + 10.99.0.101). dhcpload --dora
# plays a relay in NAME-cli (giaddr 10.99.0.100, or .101 for the second server)
# and does DISCOVER-OFFER-REQUEST-ACK, each client a new MAC. PostgreSQL is a
# private cluster (initdb) on a Unix socket in --db-dir, run as the postgres user;
# every step starts the servers afresh on empty databases. Everything it starts
# or creates is removed on exit, on failure and on Ctrl-C.
#
# Usage: sudo bench/leases-ha.sh [--rates "250 500 ..."] [--period S] [--db-dir DIR]
#                                [--no-build] [--keep DIR] [--bin-dir DIR]
# --bin-dir DIR takes bootherd and dhcpload from DIR (e.g. target/debug, to try the
# script) instead of building them in release mode.
# Needs: root, postgresql, kea-dhcp4-server, kea-admin; cargo (unless --no-build).
# Results and method: docs/BENCHMARKS-HA.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RATES="250 500 1000 2000 4000 8000"
PERIOD=4
DB_BASE=/var/tmp
BUILD=1
KEEP=""
BIN_DIR=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --rates) RATES=$2; shift 2 ;;
        --period) PERIOD=$2; shift 2 ;;
        --db-dir) DB_BASE=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --keep) KEEP=$2; shift 2 ;;
        --bin-dir) BIN_DIR=$2; BUILD=0; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "leases-ha.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "leases-ha.sh: needs root" >&2; exit 1; }
PGBIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -1)
[[ -x $PGBIN/initdb ]] || { echo "leases-ha.sh: PostgreSQL is not installed" >&2; exit 1; }
KEA=$(command -v kea-dhcp4 || echo /usr/sbin/kea-dhcp4)
KEA_ADMIN=$(command -v kea-admin || echo /usr/sbin/kea-admin)

if [[ $BUILD -eq 1 ]]; then
    (cd "$REPO" && cargo build --release -q -p bootherd -p dhcpload)
fi
LAB=bhha-$$
WORK=$(mktemp -d "$DB_BASE/bhha-$$-XXXXXX")
chmod 755 "$WORK"
BIN=$WORK/bootherd
LOAD=$WORK/dhcpload
cp "${BIN_DIR:-$REPO/target/release}/bootherd" "$BIN"
cp "${BIN_DIR:-$REPO/target/release}/dhcpload" "$LOAD"
PG_PID=""
PIDS=()

# Signal $2 to child $1, then wait for it (SIGKILL after 10 s).
stop_pid() {
    local killer
    kill "-$2" "$1" 2>/dev/null || return 0
    (sleep 10; kill -9 "$1" 2>/dev/null) &
    killer=$!
    wait "$1" 2>/dev/null || true
    kill "$killer" 2>/dev/null || true
    wait "$killer" 2>/dev/null || true
}

cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p" KILL; done
    [[ -z $PG_PID ]] || stop_pid "$PG_PID" QUIT
    "$REPO/lab/lab.sh" down "$LAB" >/dev/null 2>&1 || true
    if [[ -n $KEEP ]]; then
        mkdir -p "$KEEP"
        cp -r "$WORK/log" "$WORK/conf" "$KEEP/" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/log" "$WORK/conf" "$WORK/sqlite" "$WORK/pg" "$WORK/sock"
chown postgres:postgres "$WORK/pg" "$WORK/sock"
chmod 700 "$WORK/pg"
SOCK=$WORK/sock
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 >"$WORK/log/initdb.log"
as_pg "$PGBIN/postgres" -D "$WORK/pg" -k "$SOCK" -c listen_addresses= \
    -c unix_socket_permissions=0777 -c max_connections=50 >"$WORK/log/postgres.log" 2>&1 &
PG_PID=$!
for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h "$SOCK" -U postgres && break; sleep 0.1; done
"$PGBIN/pg_isready" -q -h "$SOCK" -U postgres || { echo "postgres did not start" >&2; exit 1; }
psql_do() { "$PGBIN/psql" -h "$SOCK" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 -c "$1"; }
psql_in() { "$PGBIN/psql" -h "$SOCK" -U postgres -d "$1" -qAt -v ON_ERROR_STOP=1 -c "$2"; }

"$REPO/lab/lab.sh" up "$LAB" >/dev/null
SRV=$LAB-srv LAN=$LAB-lan CLI=$LAB-cli
ip netns exec "$CLI" ip addr add 10.99.0.101/24 dev br0
URL="postgres:///bootherd?host=$SOCK&user=postgres"

bootherd_conf() { # name lease_db
    cat >"$WORK/conf/$1.toml" <<EOF
[tftp]
root = "$WORK"
[admin]
enabled = false
[dhcp]
enabled = true
lease_db = "$2"
server_name = "$1"
own_vendor_classes = ["bench*"]
ping_check = false
offer_hold_secs = 10
[[dhcp.pool]]
subnet = "10.99.0.0/16"
range = ["10.99.1.0", "10.99.250.255"]
lease_secs = 3600
EOF
}
bootherd_conf sqlite "$WORK/sqlite/leases.sqlite"
bootherd_conf a "$URL"
bootherd_conf b "$URL"
cat >"$WORK/conf/kea.json" <<EOF
{ "Dhcp4": {
    "interfaces-config": { "interfaces": [ "eth0" ], "dhcp-socket-type": "udp" },
    "lease-database": { "type": "postgresql", "name": "kea", "user": "postgres",
                        "host": "$SOCK" },
    "valid-lifetime": 3600,
    "subnet4": [ { "id": 1, "subnet": "10.99.0.0/16",
                   "pools": [ { "pool": "10.99.1.0 - 10.99.250.255" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                   "output_options": [ { "output": "$WORK/log/kea.log" } ] } ]
} }
EOF

fresh_db() { # database name
    psql_do "DROP DATABASE IF EXISTS $1" && psql_do "CREATE DATABASE $1"
}

start_bootherd() { # ns name tag
    local log=$WORK/log/$3.log
    ip netns exec "$1" env RUST_LOG=warn,bootherd::serve=info "$BIN" serve \
        --config "$WORK/conf/$2.toml" >"$log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 200); do grep -qs "dhcp server listening" "$log" && return 0; sleep 0.05; done
    echo "bootherd $2 did not start:" >&2; cat "$log" >&2; exit 1
}
start_kea() {
    fresh_db kea
    "$KEA_ADMIN" db-init pgsql -u postgres -p x -n kea -h "$SOCK" >"$WORK/log/kea-admin.log" 2>&1
    mkdir -p "$WORK/kea"
    ip netns exec "$LAN" env KEA_PIDFILE_DIR="$WORK/kea" KEA_LOCKFILE_DIR="$WORK/kea" \
        "$KEA" -c "$WORK/conf/kea.json" >>"$WORK/log/kea.out" 2>&1 &
    PIDS+=($!)
    sleep 2
}
stop_all() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p" TERM; done
    PIDS=()
}
STEP=0
load() { # server relay rate mac-base -> output file
    local out=$WORK/log/load-$STEP-$2.txt
    ip netns exec "$CLI" "$LOAD" --server "$1" --relay "$2" --rate "$3" --seconds "$PERIOD" \
        --dora --vendor-class bench-ha --mac-base "$4" --wait-ms 500 >"$out" 2>&1
    echo "$out"
}
field() { grep -oE "(^| )$1=[0-9]+" "$2" | head -1 | cut -d= -f2; }

printf '%-22s %7s %7s %7s %7s %8s %9s\n' contender rate sent acks loss% leases/s bound_in_db
declare -A BEST
for rate in $RATES; do
    for who in sqlite pg-one pg-two kea-pg; do
        STEP=$((STEP + 1))
        mac=$(printf '02:%02x:%02x:00:00:00' $((STEP / 256)) $((STEP % 256)))
        case $who in
            sqlite)
                rm -f "$WORK"/sqlite/leases.sqlite*
                start_bootherd "$SRV" sqlite "sqlite-$STEP"
                outs=$(load 10.99.0.1 10.99.0.100 "$rate" "$mac") ;;
            pg-one)
                fresh_db bootherd
                start_bootherd "$SRV" a "pg-one-$STEP"
                outs=$(load 10.99.0.1 10.99.0.100 "$rate" "$mac") ;;
            pg-two)
                fresh_db bootherd
                start_bootherd "$SRV" a "pg-two-a-$STEP"
                start_bootherd "$LAN" b "pg-two-b-$STEP"
                half=$((rate / 2))
                mac2=$(printf '02:%02x:%02x:80:00:00' $((STEP / 256)) $((STEP % 256)))
                load 10.99.0.1 10.99.0.100 "$half" "$mac" >"$WORK/log/o1" &
                l1=$!
                load 10.99.0.2 10.99.0.101 "$half" "$mac2" >"$WORK/log/o2"
                wait "$l1"
                outs="$(cat "$WORK/log/o1") $(cat "$WORK/log/o2")" ;;
            kea-pg)
                start_kea
                outs=$(load 10.99.0.2 10.99.0.100 "$rate" "$mac") ;;
        esac
        sleep 0.5
        sent=0 acks=0
        for o in $outs; do
            sent=$((sent + $(field sent "$o"))); acks=$((acks + $(field acks "$o")))
        done
        case $who in
            sqlite) bound=$(ip netns exec "$SRV" "$BIN" leases --db "$WORK/sqlite/leases.sqlite" --json \
                        | grep -o '"state":"bound"' | wc -l) ;;
            kea-pg) bound=$(psql_in kea "SELECT count(*) FROM lease4 WHERE state = 0") ;;
            *) bound=$(psql_in bootherd "SELECT count(*) FROM leases WHERE state = 'bound'") ;;
        esac
        stop_all
        loss=$(awk -v s="$sent" -v a="$acks" 'BEGIN { printf "%.2f", s ? 100 * (s - a) / s : 100 }')
        per_s=$(awk -v a="$acks" -v p="$PERIOD" 'BEGIN { printf "%.0f", a / p }')
        printf '%-22s %7s %7s %7s %7s %8s %9s\n' "$who" "$rate" "$sent" "$acks" "$loss" "$per_s" "$bound"
        if awk -v l="$loss" 'BEGIN { exit !(l < 0.1) }' && [[ $bound -ge $acks ]]; then
            [[ ${BEST[$who]:-0} -ge $rate ]] || BEST[$who]=$rate
        fi
    done
done
echo
echo "best loss-free rate (DORA/s, < 0.1% unanswered, every ACK bound in the database):"
for who in sqlite pg-one pg-two kea-pg; do printf '  %-8s %s\n' "$who" "${BEST[$who]:-none}"; done
echo "bootherd: $("$BIN" --version); kea-dhcp4 $("$KEA" -v); $("$PGBIN/postgres" --version)"
echo "database files under $DB_BASE ($(stat -f -c %T "$DB_BASE")); period ${PERIOD}s per step"
