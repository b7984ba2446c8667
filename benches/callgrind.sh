#!/usr/bin/env bash
# Instructions per query of a gateway binary, counted by callgrind: a figure that,
# unlike CPU time, does not drift with what else the machine runs, so two builds can
# be compared on a shared machine.
#
#   benches/callgrind.sh BINARY [BINARY ...]
#   e.g. benches/callgrind.sh /work/old/target/release/delivery-gateway target/release/delivery-gateway
#
# For each BINARY: starts its demo upstreams (`demo-upstreams`, natively), starts the
# gateway (`serve`) under `valgrind --tool=callgrind` with the entity cache and
# coalescing off (as `cargo bench --bench gateway` runs it), then for each of
# HomeScreen, Nearby and Restaurant (schema/operations/, the benchmark's variables):
# sends WARMUP queries, zeroes the counters (`callgrind_control --zero`), sends N
# queries one after another on one kept-alive connection, dumps the counters
# (`callgrind_control --dump`), and prints the dump's total instructions (Ir) divided
# by N, with the upstream calls per query the demo counted meanwhile (`/_admin/stats`,
# to check that the slowed-down gateway still batched as it does natively). Every
# answer is checked (HTTP 200, `data`, no `errors`). All threads of the gateway are
# counted; so is whatever it does between two queries (timers), which is small at
# one query at a time. Valgrind runs the gateway some 50 times slower, so the
# request and upstream timeouts are raised (GATEWAY_SERVER__REQUEST_TIMEOUT,
# GATEWAY_UPSTREAMS__TIMEOUT, ..._CONNECT_TIMEOUT); the binary must accept them.
#
# Knobs (environment): WARMUP (20), HOME_N (100), NEARBY_N (200), RESTAURANT_N (200),
# OUT (callgrind's files; default a new directory under /tmp). Needs valgrind
# (callgrind_control), curl and python3. Loopback addresses only.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi

repo=$(cd "$(dirname "$0")/.." && pwd)
warmup=${WARMUP:-20}
out=${OUT:-$(mktemp -d /tmp/callgrind.XXXXXX)}
mkdir -p "$out"
export GATEWAY_LOG__LEVEL=warn GATEWAY_CACHE__ENABLED=false GATEWAY_CACHE__COALESCE=false
timeouts=(GATEWAY_SERVER__REQUEST_TIMEOUT=120s GATEWAY_UPSTREAMS__TIMEOUT=60s GATEWAY_UPSTREAMS__CONNECT_TIMEOUT=10s)
unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
trap cleanup EXIT

# A free loopback port.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls http://127.0.0.1:$1$2 until it answers 200 (at most 120 s: valgrind starts slowly).
wait_ready() {
    for _ in $(seq 600); do
        if curl -sf -o /dev/null "http://127.0.0.1:$1$2"; then return 0; fi
        sleep 0.2
    done
    echo "nothing answers on 127.0.0.1:$1$2" >&2
    return 1
}

# send PORT OPERATION COUNT TOKEN: COUNT queries, one at a time, one connection.
send() {
    python3 - "$repo/schema/operations" "$@" <<'PY'
import http.client, json, sys
ops, port, name, count, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
variables = {
    "home": json.load(open(f"{ops}/home.variables.json")),
    "nearby": {"location": {"lat": 52.52, "lng": 13.405}, "first": 20},
    "restaurant": {"id": "17"},
}[name]
body = json.dumps({"query": open(f"{ops}/{name}.graphql").read(), "variables": variables})
headers = {"Content-Type": "application/json", "Accept": "application/json"}
if name == "home":
    headers["Authorization"] = f"Bearer {token}"
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(count):
    conn.request("POST", "/graphql", body, headers)
    response = conn.getresponse()
    answer = response.read()
    parsed = json.loads(answer) if response.status == 200 else {}
    if response.status != 200 or parsed.get("data") is None or parsed.get("errors"):
        sys.exit(f"{name}: HTTP {response.status}: {answer[:300]!r}")
PY
}

for binary in "$@"; do
    binary=$(realpath "$binary")
    demo_port=$(free_port)
    "$binary" demo-upstreams --listen "127.0.0.1:$demo_port" 2>"$out/demo.log" &
    pids+=($!)
    wait_ready "$demo_port" /_admin/stats
    token=$("$binary" token --user 42)

    port=$(free_port)
    env "${timeouts[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" \
        "$binary" serve --listen "127.0.0.1:$port" --upstreams "http://127.0.0.1:$demo_port" \
        2>"$out/gateway.log" &
    gateway=$!
    pids+=("$gateway")
    wait_ready "$port" /health

    echo "$binary (callgrind files in $out):"
    for op in home:"${HOME_N:-100}" nearby:"${NEARBY_N:-200}" restaurant:"${RESTAURANT_N:-200}"; do
        name=${op%%:*} n=${op#*:}
        send "$port" "$name" "$warmup" "$token"
        curl -sf -o /dev/null -X POST "http://127.0.0.1:$demo_port/_admin/reset"
        callgrind_control --zero "$gateway" >/dev/null 2>&1
        send "$port" "$name" "$n" "$token"
        callgrind_control --dump="$name" "$gateway" >/dev/null 2>&1
        calls=$(curl -sf "http://127.0.0.1:$demo_port/_admin/stats" |
            python3 -c 'import json, sys; print(sum(json.load(sys.stdin)["calls"].values()))')
        # The newest dump is this one; its `totals:` line holds the Ir since the zeroing.
        dump=$(ls -t "$out/callgrind.out.$gateway".* | head -n 1)
        total=$(awk '/^totals:/ { print $2 }' "$dump")
        awk -v name="$name" -v n="$n" -v total="$total" -v calls="$calls" 'BEGIN {
            printf "  %-10s %4d queries  %15.0f Ir  %12.0f Ir/query  %5.2f upstream calls/query\n",
                name, n, total, total / n, calls / n
        }'
    done
    cleanup
done
