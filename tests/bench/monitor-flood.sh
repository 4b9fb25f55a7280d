#!/usr/bin/env bash
# Does a monitoring request flood slow message delivery?  (issue 4; run by `make bench-monitor`)
#
# Builds release, starts rnatsd on loopback with monitoring, and runs a 1 -> 1 pub/sub scenario
# in rounds of
#   A  no flood,
#   B  the same run while CLIENTS keep-alive HTTP clients GET /varz, /connz?subs=1 and
#      /subsz?subs=1 in turn, each as fast as the answers come (a closed-loop flood),
#   C  the same flood capped at FLOOD_RATE requests/s in all (skipped when FLOOD_RATE=0),
# then prints every run (msgs/s, the server's CPU time, the flood's requests/s) and the medians
# of the per-round ratios B/A and C/A: throughput under the flood relative to none.
# Then the same against Debian's nats-server (/usr/sbin/nats-server, installed by `make test`)
# when present, for comparison.
#
# Figures are printed, never asserted. Exit status: 0, or 1 when a build, a server start or a
# bench run failed (then there is no figure to print). Loopback only; only the servers this
# script started are stopped, by PID.
#
# Knobs (environment or make variables): PAIRS (rounds, 5), MSGS (2000000), SIZE (128),
# CLIENTS (4), FLOOD_RATE (1000), NATS_SERVER (/usr/sbin/nats-server), CARGO (cargo);
# for development: RNATSD and BENCH (the binaries, default target/release/...), BUILD=0 (no build).

set -u
cd "$(dirname "$0")/../.." || exit 1

PAIRS=${PAIRS:-5}
MSGS=${MSGS:-2000000}
SIZE=${SIZE:-128}
CLIENTS=${CLIENTS:-4}
FLOOD_RATE=${FLOOD_RATE:-1000}
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}
CARGO=${CARGO:-cargo}
RNATSD=${RNATSD:-target/release/rnatsd}
BENCH=${BENCH:-target/release/rnats-bench}
BUILD=${BUILD:-1}
ENDPOINTS="/varz /connz?subs=1 /subsz?subs=1"
TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/monitor-flood.XXXXXX") || exit 1
SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=
    fi
}
trap 'stop_server; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

if [ "$BUILD" != 0 ]; then
    echo "== building (release)"
    $CARGO build --release --bins || { echo "monitor-flood: build failed" >&2; exit 1; }
fi

# Two distinct free loopback ports (both held at once while choosing, so they differ).
free_ports() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - <<'EOF' && return
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
EOF
    fi
    local used a b
    used=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://')
    while :; do
        a=$((20000 + RANDOM % 30000)); b=$((a + 1))
        if ! grep -qx -e "$a" -e "$b" <<<"$used"; then echo "$a $b"; return; fi
    done
}

# Wait until a loopback TCP port accepts (up to ~5 s, or until the server dies).
wait_port() {
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# CPU time (user + system, clock ticks) the server has used so far.
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat" 2>/dev/null || echo 0; }

# Warn when something else is using the CPUs (sampled over one second from /proc/stat): the
# figures would then measure that too.
check_idle() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6; exit}' /proc/stat 2>/dev/null) || return 0
    sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6; exit}' /proc/stat 2>/dev/null) || return 0
    awk -v a="$a" -v b="$b" -v when="$1" -v n="$(nproc 2>/dev/null || echo 1)" 'BEGIN {
        split(a, x, " "); split(b, y, " "); busy = y[1]-x[1]; all = busy + y[2]-x[2]
        p = all > 0 ? 100*busy/all : 0
        printf "   CPU use by other processes %s: %.0f%% of %d cores\n", when, p, n
        if (p > 10) print "   warning: the machine is busy: the figures measure that too; run again when idle" }'
}

median() {
    sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

FAILED=0
SUMMARY=()

# bench NAME LABEL ROUND [flood options]: one measured run; appends "LABEL,server_cpu_s,<csv>"
# to $TMP/NAME.runs.
bench() {
    local name=$1 label=$2 round=$3 t0 t1
    shift 3
    rm -f "$TMP/one.csv"
    t0=$(server_ticks)
    if ! "$BENCH" "bench.$round" --pub 1 --sub 1 --msgs "$MSGS" --size "$SIZE" -s "$NATS_URL" \
        --csv "$TMP/one.csv" "$@" >"$TMP/out" 2>&1; then
        echo "monitor-flood: $name run $label$round failed:" >&2
        sed 's/^/    /' "$TMP/out" >&2
        return 1
    fi
    t1=$(server_ticks)
    grep 'first error' "$TMP/out" | sed "s/^/    $label$round: /"
    # one.csv is new for each run: rnats-bench's '#' header line, then the run's line.
    echo "$label,$(awk -v t="$((t1 - t0))" -v h="$TICK" 'BEGIN {printf "%.2f", t/h}'),$(grep -v '^#' "$TMP/one.csv")" \
        >>"$TMP/$name.runs"
}

# report NAME LABEL: the per-round lines and medians of scenario LABEL against A.
# Run lines: label,server_cpu_s,pubs,subs,msgs,size,secs,msgs/s,MB/s[,http_clients,requests,
# req/s,errors,body_bytes,client_cpu_s]
ratio_of() {
    awk -F, -v L="$2" '$1=="A" {a[++na]=$8} $1==L {b[++nb]=$8} END {for (i=1; i<=nb; i++) printf "%.6f\n", b[i]/a[i]}' "$1"
}
# Per round: the server's extra CPU (vs that round's A) per monitoring request, in microseconds.
us_per_req_of() {
    awk -F, -v L="$2" '$1=="A" {a[++na]=$2} $1==L && $11>0 {printf "%.1f\n", 1e6*($2-a[++nb])/$11}' "$1"
}
col_of() { awk -F, -v L="$2" -v c="$3" '$1==L {print $c}' "$1"; }

# measure NAME BINARY: start BINARY on free ports, run the rounds, print the figures.
measure() {
    local name=$1 bin=$2 port mport urls="" ep i
    read -r port mport <<<"$(free_ports)"
    echo
    echo "== $name ($bin, $("$bin" --version 2>&1 | head -1)): 127.0.0.1:$port, monitoring 127.0.0.1:$mport"
    "$bin" -a 127.0.0.1 -p "$port" -m "$mport" >"$TMP/$name.log" 2>&1 &
    SERVER_PID=$!
    if ! wait_port "$port" || ! wait_port "$mport"; then
        echo "monitor-flood: $name did not start (or does not serve -m); its log:" >&2
        sed 's/^/    /' "$TMP/$name.log" >&2
        stop_server
        FAILED=1
        return 1
    fi
    for ep in $ENDPOINTS; do urls="${urls:+$urls,}http://127.0.0.1:$mport$ep"; done
    if command -v curl >/dev/null 2>&1; then
        for ep in $ENDPOINTS; do
            curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$mport$ep" ||
                echo "monitor-flood: warning: GET $ep on $name failed (the flood will count errors)" >&2
        done
    fi
    NATS_URL="nats://127.0.0.1:$port"
    local flood=(--http "$urls" --http-clients "$CLIENTS")
    local runs="$TMP/$name.runs"
    : >"$runs"
    # Warm-up, not counted: first connections, page faults, CPU frequency.
    "$BENCH" warm --pub 1 --sub 1 --msgs 200000 --size "$SIZE" -s "$NATS_URL" "${flood[@]}" \
        >/dev/null 2>&1
    local ok=1
    for i in $(seq 1 "$PAIRS"); do
        bench "$name" A "$i" || { ok=0; break; }
        bench "$name" B "$i" "${flood[@]}" || { ok=0; break; }
        if [ "$FLOOD_RATE" != 0 ]; then
            bench "$name" C "$i" "${flood[@]}" --http-rate "$FLOOD_RATE" || { ok=0; break; }
        fi
    done
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "monitor-flood: $name exited during the runs; its log:" >&2
        sed 's/^/    /' "$TMP/$name.log" >&2
        ok=0
    fi
    stop_server
    [ "$ok" = 1 ] || { FAILED=1; return 1; }

    awk -F, '{
        line = sprintf("%s%d  %8.0f msgs/s  %.3fs  server %5.2f CPU-s", $1, ++n[$1], $8, $7, $2)
        if ($1 == "A") a = $8
        else line = line sprintf("  x%.3f of A  flood %5.0f req/s (%d requests, %d errors, %.1f MB, clients %.2f CPU-s)", $8/a, $12, $11, $13, $14/1e6, $15)
        print "  " line }' "$runs"
    local l ma r q e cpu us
    ma=$(col_of "$runs" A 8 | median)
    for l in B C; do
        [ -n "$(col_of "$runs" "$l" 8)" ] || continue
        r=$(ratio_of "$runs" "$l" | median)
        q=$(col_of "$runs" "$l" 12 | median)
        e=$(col_of "$runs" "$l" 13 | awk '{s+=$1} END {print s+0}')
        cpu=$(col_of "$runs" "$l" 2 | median)
        us=$(us_per_req_of "$runs" "$l" | median)
        local what="closed-loop flood"
        [ "$l" = C ] && what="flood capped at $FLOOD_RATE/s"
        SUMMARY+=("$(awk -v n="$name" -v l="$l" -v w="$what" -v a="$ma" -v r="$r" -v q="$q" -v e="$e" \
            -v c="$cpu" -v ca="$(col_of "$runs" A 2 | median)" -v us="$us" 'BEGIN {
            printf "%-11s %s/A %.3f (%+.1f%%)  %-27s %6.0f req/s, %d errors; A %8.0f msgs/s; server CPU-s median A %.2f, %s %.2f (%+.0f us of server CPU per request)",
                n, l, r, (r-1)*100, w, q, e, a, ca, l, c, us }')")
    done
    echo "  median of per-round ratios:"
    printf '  %s\n' "${SUMMARY[@]}" | grep "^  $name "
}

echo "== 1 pub -> 1 sub, $MSGS msgs x $SIZE B, $PAIRS rounds; msgs/s counts published + delivered"
echo "   A: no flood; B: $CLIENTS keep-alive HTTP clients rotating over $ENDPOINTS as fast as answered"
[ "$FLOOD_RATE" != 0 ] && echo "   C: the same clients capped at $FLOOD_RATE requests/s in all"
check_idle "before the runs"
measure rnatsd "$RNATSD"
if [ -x "$NATS_SERVER" ]; then
    measure nats-server "$NATS_SERVER"
else
    echo
    echo "== nats-server: skipped ($NATS_SERVER not found; \`make test\` installs Debian's)"
fi

echo
echo "== summary: medians of per-round throughput ratios (flood / no flood; 1.000 = no slowdown)"
check_idle "after the runs"
[ ${#SUMMARY[@]} -gt 0 ] && printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
