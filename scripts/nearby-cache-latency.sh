#!/usr/bin/env bash
# Latency of Nearby (20 restaurants, Berlin) through a cached and an uncached gateway,
# demo upstreams at 20 ms per call.
set -u
TMP=$(mktemp -d)
cd "$(dirname "$0")/.."
B="${CARGO_TARGET_DIR:-target}/release/delivery-gateway"   # after: cargo build --release
$B demo-upstreams --listen 127.0.0.1:4101 --latency-ms 20 >"$TMP"/demo.log 2>&1 & DEMO=$!
GATEWAY_LOG__LEVEL=warn $B serve --listen 127.0.0.1:4102 --upstreams http://127.0.0.1:4101 >"$TMP"/gw-cached.log 2>&1 & GW1=$!
GATEWAY_LOG__LEVEL=warn GATEWAY_CACHE__ENABLED=false $B serve --listen 127.0.0.1:4103 --upstreams http://127.0.0.1:4101 >"$TMP"/gw-uncached.log 2>&1 & GW2=$!
sleep 1.5
BODY=$(jq -cn --rawfile q schema/operations/nearby.graphql '{query: $q, variables: {location: {lat: 52.52, lng: 13.405}, first: 20}}')
q() { curl -s -o /dev/null -w '%{time_total}\n' -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$1/graphql"; }
stats() { curl -s http://127.0.0.1:4101/_admin/stats | jq '[.calls[]] | add // 0'; }
reset() { curl -s -X POST http://127.0.0.1:4101/_admin/reset >/dev/null; curl -s -X PUT http://127.0.0.1:4101/_admin/faults -H 'content-type: application/json' -d '{"service":"*","latencyMs":20}' >/dev/null; }
reset
echo "cached gateway, first (cold) query: $(q 4102) s"
echo "upstream calls for it: $(stats)"
reset
for i in $(seq 1 100); do q 4102; done | sort -n > "$TMP"/cached.txt
echo "cached gateway, 100 warm queries: upstream calls $(stats); median $(sed -n 50p "$TMP"/cached.txt) s, p99 $(sed -n 99p "$TMP"/cached.txt) s"
reset
for i in $(seq 1 100); do q 4103; done | sort -n > "$TMP"/uncached.txt
echo "uncached gateway, 100 queries: upstream calls $(stats); median $(sed -n 50p "$TMP"/uncached.txt) s, p99 $(sed -n 99p "$TMP"/uncached.txt) s"
kill $GW1 $GW2 $DEMO
