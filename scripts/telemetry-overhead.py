#!/usr/bin/env python3
"""CPU per HomeScreen with telemetry off and on (OTLP export to a local sink).

Starts the demo upstreams, an OTLP/HTTP sink that accepts and discards, and the
release gateway twice (without and with `telemetry.otlp_endpoint`); sends N
HomeScreen queries at concurrency C to each, and reads the gateway's utime+stime
from /proc/<pid>/stat before and after. Rounds alternate off/on to spread drift.

    cargo build --release
    python3 scripts/telemetry-overhead.py [--queries 3000] [--concurrency 8] [--rounds 3]

Linux only (reads /proc). Standard library only.
"""

import argparse
import http.client
import http.server
import json
import os
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "delivery-gateway")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


class Sink(http.server.BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and throws them away."""

    received = 0
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        Sink.received += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def load(port, body, headers, queries, concurrency):
    remaining = [queries]
    lock = threading.Lock()
    errors = [0]

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while True:
            with lock:
                if remaining[0] == 0:
                    break
                remaining[0] -= 1
            conn.request("POST", "/graphql", body, headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200 or b'"errors"' in data:
                errors[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    sink_port = free_port()
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", sink_port), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()

    demo_port = free_port()
    env = dict(os.environ, GATEWAY_LOG__LEVEL="warn")
    demo = subprocess.Popen([BINARY, "demo-upstreams", "--listen", f"127.0.0.1:{demo_port}"], env=env)
    wait_for(demo_port)
    token = subprocess.check_output([BINARY, "token", "--user", "42"], env=env).decode().strip()
    with open(os.path.join(ROOT, "schema/operations/home.graphql")) as f:
        query = f.read()
    with open(os.path.join(ROOT, "schema/operations/home.variables.json")) as f:
        variables = json.load(f)
    body = json.dumps({"query": query, "variables": variables})
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}

    results = {"off": [], "on": []}
    try:
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                port = free_port()
                genv = dict(env)
                if mode == "on":
                    genv["GATEWAY_TELEMETRY__OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
                gateway = subprocess.Popen(
                    [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--upstreams", f"http://127.0.0.1:{demo_port}"],
                    env=genv,
                )
                try:
                    wait_for(port)
                    load(port, body, headers, 200, args.concurrency)  # warm-up
                    before, started = cpu_seconds(gateway.pid), time.monotonic()
                    errors = load(port, body, headers, args.queries, args.concurrency)
                    cpu, wall = cpu_seconds(gateway.pid) - before, time.monotonic() - started
                finally:
                    gateway.terminate()
                    gateway.wait()
                per_query_us = cpu / args.queries * 1e6
                results[mode].append(per_query_us)
                print(
                    f"{mode:>3}: {per_query_us:7.0f} µs CPU/query, {args.queries / wall:6.0f} q/s, "
                    f"{errors} errors, sink exports so far {Sink.received}",
                    flush=True,
                )
    finally:
        demo.terminate()
        demo.wait()
        sink.shutdown()

    off = sorted(results["off"])[len(results["off"]) // 2]
    on = sorted(results["on"])[len(results["on"]) // 2]
    print(f"median: off {off:.0f} µs, on {on:.0f} µs CPU per HomeScreen: {100 * (on - off) / off:+.1f} %")
    print(f"OTLP exports received by the sink: {Sink.received}")


if __name__ == "__main__":
    main()
