#!/usr/bin/env bash
# Instructions the gateway executes per query, counted by callgrind: a figure that
# does not drift with the machine's speed, unlike CPU milliseconds on a shared VM.
#
#   scripts/instructions-per-query.sh [home|nearby|restaurant] [BINARY]
#
# Starts the demo upstreams (L = 0) and the gateway under valgrind on free ports,
# sends 5 queries, then 5 + N (N = 50, or 100 for the smaller operations) in a
# second run, and prints (Ir of the long run - Ir of the short run) / N, so the
# start-up and shutdown cost cancels out. Needs valgrind and curl; BINARY defaults to
# target/release/delivery-gateway (build it first). Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
op=${1:-home}
bin=${2:-target/release/delivery-gateway}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

case $op in
  home) doc=schema/operations/home.graphql; vars=$(cat schema/operations/home.variables.json); n=50 ;;
  nearby) doc=schema/operations/nearby.graphql; vars='{"location": {"lat": 52.52, "lng": 13.405}, "first": 20}'; n=100 ;;
  restaurant) doc=schema/operations/restaurant.graphql; vars='{"id": "17"}'; n=100 ;;
  *) echo "unknown operation $op (home, nearby, restaurant)" >&2; exit 2 ;;
esac
python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read(), "variables": json.loads(sys.argv[2])}))' \
  "$doc" "$vars" > "$work/body.json"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

demo_port=$(free_port)
GATEWAY_LOG__LEVEL=warn "$bin" demo-upstreams --listen "127.0.0.1:$demo_port" > "$work/demo.log" 2>&1 &
wait_for "http://127.0.0.1:$demo_port/_admin/stats"
auth=()
if [ "$op" = home ]; then auth=(-H "authorization: Bearer $("$bin" token --user 42)"); fi

count() { # count QUERIES -> total Ir of a gateway that answered them
  local port out
  port=$(free_port); out="$work/callgrind.$1"
  GATEWAY_LOG__LEVEL=warn GATEWAY_CACHE__ENABLED=false valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" serve --listen "127.0.0.1:$port" --upstreams "http://127.0.0.1:$demo_port" > "$work/gateway.log" 2>&1 &
  local pid=$!
  wait_for "http://127.0.0.1:$port/health"
  for _ in $(seq 1 "$1"); do
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' \
      "${auth[@]}" --data @"$work/body.json"
  done
  kill -INT "$pid"; wait "$pid" || true
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

short=$(count 5)
long=$(count $((5 + n)))
echo "$op: $(( (long - short) / n )) instructions per query ($bin, $n queries, callgrind)"
