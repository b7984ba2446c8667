#!/usr/bin/env bash
# Replicas on one machine: the demo upstreams, a Redis of its own (not 6379), three
# gateway processes and HAProxy in front of them, all on loopback. Shows, and fails
# unless:
#   (a) a persisted query registered through the balancer is served by each replica
#       when asked directly;
#   (b) three replicas' cold reads of the same restaurants, one after another, make
#       one upstream call per batch (the Redis tier), counted on /_admin/stats;
#   (c) under steady load through the balancer, a replica sent SIGTERM drains and
#       exits, starts again and takes traffic again, with >= 99.9 % of requests
#       succeeding across the restart;
#   (d) with Redis stopped mid-load every query still answers, and the shared tier
#       is used again within seconds of Redis returning.
# Prints the figures. Needs redis-server, redis-cli, haproxy and python3; the binary
# is target/debug/delivery-gateway (what `cargo test` builds) unless GATEWAY_BIN is set.
#
#   scripts/replicas-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${GATEWAY_BIN:-target/debug/delivery-gateway}"
for tool in redis-server redis-cli haproxy python3; do
  command -v "$tool" >/dev/null || { echo "replicas-check: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "replicas-check: $BIN is missing (cargo build)" >&2; exit 1; }

exec python3 - "$BIN" <<'PY'
import hashlib, http.client, json, os, random, secrets, signal, socket, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1]


def free_block(size=10):
    """A block of loopback ports below the ephemeral range (32768+), all free now."""
    for _ in range(100):
        base = random.randrange(20000, 30000, size)
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise SystemExit("replicas-check: no free block of ports")


BASE = free_block()
LB, DEMO, REDIS = BASE, BASE + 1, BASE + 9
REPLICAS = [BASE + 2, BASE + 3, BASE + 4]
WORK = tempfile.mkdtemp(prefix="replicas-check-")
PREFIX = f"dg-replicas-{os.getpid()}:"
SECRET = secrets.token_urlsafe(48)
procs = {}
failures = []


def log(*args):
    print(*args, flush=True)


def check(ok, what):
    log(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        failures.append(what)


def start(name, argv, env=None):
    out = open(os.path.join(WORK, f"{name}.log"), "ab")
    procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    return procs[name]


def stop(name, sig=signal.SIGTERM, wait=True):
    p = procs.get(name)
    if p and p.poll() is None:
        p.send_signal(sig)
        if wait:
            p.wait(timeout=30)


def cleanup():
    for name in list(procs):
        p = procs[name]
        if p.poll() is None:
            p.kill()
            p.wait()


def until(check_fn, within, what):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if check_fn():
                return True
        except SystemExit:
            raise
        except Exception:
            pass
        time.sleep(0.02)
    raise SystemExit(f"replicas-check: not within {within}s: {what}")


def request(port, method, path, body=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def gql(port, body):
    status, raw = request(port, "POST", "/graphql", body)
    return status, json.loads(raw)


def redis_cli(*args):
    return subprocess.run(["redis-cli", "-p", str(REDIS), *args], capture_output=True, text=True, timeout=5).stdout.strip()


def redis_keys():
    return [k for k in redis_cli("--scan", "--pattern", PREFIX + "*").splitlines() if k]


def demo_calls(route="restaurants GET /restaurants"):
    status, raw = request(DEMO, "GET", "/_admin/stats")
    return json.loads(raw)["calls"].get(route, 0)


def gateway_env(port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({
        "GATEWAY_SERVER__MODE": "production",
        "GATEWAY_SERVER__LISTEN": f"127.0.0.1:{port}",
        "GATEWAY_SERVER__DRAIN_DELAY": "1500ms",
        "GATEWAY_SERVER__SHUTDOWN_GRACE": "5s",
        "GATEWAY_SERVER__TRUSTED_PROXIES": '["127.0.0.1"]',
        "GATEWAY_AUTH__JWT_SECRET": SECRET,
        "GATEWAY_UPSTREAMS__BASE_URL": f"http://127.0.0.1:{DEMO}",
        "GATEWAY_CACHE__REDIS_URL": f"redis://127.0.0.1:{REDIS}",
        "GATEWAY_CACHE__REDIS_PREFIX": PREFIX,
        "GATEWAY_CACHE__TTL__RESTAURANTS": "60s",
        "GATEWAY_LOG__LEVEL": "warn",
    })
    return env


def start_gateway(i):
    port = REPLICAS[i]
    name = f"gateway{i + 1}"
    start(name, [BIN, "serve"], env=gateway_env(port))

    def ready():
        if procs[name].poll() is not None:
            raise SystemExit(f"replicas-check: {name} exited; see {WORK}/{name}.log")
        return request(port, "GET", "/health/ready")[0] == 200

    until(ready, 30, f"gateway {i + 1} ready")


def start_redis():
    start("redis", ["redis-server", "--port", str(REDIS), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
    until(lambda: redis_cli("ping") == "PONG", 10, "redis up")


def served_by(port):
    """Requests counted by a replica's /metrics."""
    status, raw = request(port, "GET", "/metrics")
    total = 0
    for line in raw.decode().splitlines():
        if line.startswith("gateway_graphql_requests_total{"):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


class Load:
    """Steady load through the balancer: `workers` keep-alive clients, one query after another."""

    def __init__(self, workers=6):
        self.ok = self.failed = 0
        self.errors = []
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(workers)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        for t in self.threads:
            t.join()

    def run(self, worker):
        conn = None
        n = 0
        while self.running:
            n += 1
            rid = 100 + (worker * 7919 + n) % 400
            body = json.dumps({"query": '{ restaurant(id: "%d") { id name } }' % rid})
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", LB, timeout=5)
                conn.request("POST", "/graphql", body=body, headers={"content-type": "application/json"})
                r = conn.getresponse()
                raw = r.read()
                data = json.loads(raw)
                good = r.status == 200 and not data.get("errors") and data["data"]["restaurant"]["id"] == str(rid)
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 (a failed request is what is counted)
                good, raw = False, repr(e).encode()
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failed += 1
                    if len(self.errors) < 5:
                        self.errors.append(raw[:300])

    def rate(self):
        total = self.ok + self.failed
        return (self.ok / total * 100.0 if total else 0.0), total


try:
    t0 = time.monotonic()
    log(f"== replicas-check: demo :{DEMO}, redis :{REDIS}, gateways :{REPLICAS}, haproxy :{LB} (logs in {WORK})")
    start("demo", [BIN, "demo-upstreams", "--listen", f"127.0.0.1:{DEMO}"])
    until(lambda: request(DEMO, "GET", "/_admin/stats")[0] == 200, 20, "demo up")
    start_redis()
    for i in range(3):
        start_gateway(i)
    # The same HAProxy configuration as docker-compose.yml, with a third server.
    cfg = os.path.join(WORK, "haproxy.cfg")
    with open("deploy/haproxy/haproxy.cfg") as f:
        template = f.read()
    with open(cfg, "w") as f:
        f.write(template.rstrip() + '\n    server g3 "${GATEWAY_3}" check\n')
    lb_env = dict(os.environ, HAPROXY_BIND=f"127.0.0.1:{LB}",
                  **{f"GATEWAY_{i + 1}": f"127.0.0.1:{p}" for i, p in enumerate(REPLICAS)})
    start("haproxy", ["haproxy", "-f", cfg, "-db"], env=lb_env)
    until(lambda: request(LB, "GET", "/health/ready")[0] == 200, 10, "haproxy up")

    # (a) A persisted query registered through the balancer, served by each replica.
    log("(a) persisted query registered through the balancer")
    query = '{ restaurant(id: "3") { id name } }'
    sha = hashlib.sha256(query.encode()).hexdigest()
    apq = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}
    status, body = gql(LB, {"query": query, **apq})
    check(status == 200 and not body.get("errors"), f"registered through haproxy: {status}")
    for i, port in enumerate(REPLICAS):
        status, body = gql(port, apq)
        got = (body.get("data") or {}).get("restaurant") or {}
        check(status == 200 and got.get("id") == "3", f"replica {i + 1} serves it by hash alone: {status} {json.dumps(body)[:120]}")

    # (b) Cold reads of the same restaurants on each replica in turn: one upstream call.
    log("(b) cold reads of the same restaurants, replica after replica")
    request(DEMO, "POST", "/_admin/reset")
    query = '{ a: restaurant(id: "31") { id name } b: restaurant(id: "32") { id name } c: restaurant(id: "33") { id name } }'
    before = len(redis_keys())
    counts = []
    for i, port in enumerate(REPLICAS):
        status, body = gql(port, {"query": query})
        check(status == 200 and not body.get("errors"), f"replica {i + 1} answers")
        if i == 0:
            # The entries reach Redis after the answer: wait for them, not a fixed time.
            until(lambda: len(redis_keys()) >= before + 3, 5, "the first replica's entries in Redis")
        counts.append(demo_calls())
    log(f"      upstream calls (restaurants GET /restaurants) after replica 1, 2, 3: {counts}")
    # Each root field is a batch of its own: the first replica makes one call per
    # batch, the other two none (they read the entries from Redis).
    check(counts[0] >= 1 and counts == [counts[0]] * 3, "one upstream call per batch, whichever replica asked")

    # (c) A replica restarted under steady load.
    log("(c) SIGTERM to replica 2 under load through the balancer, then start it again")
    with Load() as load:
        time.sleep(1.0)  # load before the restart: a period of measurement, not synchronisation
        t_term = time.monotonic()
        stop("gateway2")
        drained = time.monotonic() - t_term
        start_gateway(1)
        base = served_by(REPLICAS[1])
        until(lambda: served_by(REPLICAS[1]) > base + 20, 15, "the restarted replica takes traffic")
        back = time.monotonic() - t_term
        time.sleep(1.0)
    pct, total = load.rate()
    log(f"      requests {total}, failed {load.failed}, success {pct:.3f} %; drained and exited in {drained:.1f} s, "
        f"taking traffic again {back:.1f} s after SIGTERM")
    for e in load.errors:
        log(f"      error: {e!r}")
    check(total > 200 and pct >= 99.9, "at least 99.9 % succeeded across the restart")

    # (d) Redis stopped mid-load, then back.
    log("(d) Redis stopped mid-load, then started again")
    with Load() as load:
        time.sleep(0.5)
        stop("redis", signal.SIGKILL)
        time.sleep(2.0)  # load while Redis is away: a period of measurement
        start_redis()
        t_back = time.monotonic()
        rid = 600

        def shared_again():
            nonlocal_rid[0] += 1
            gql(LB, {"query": '{ restaurant(id: "%d") { id } }' % nonlocal_rid[0]})
            return len(redis_keys()) > 0

        nonlocal_rid = [rid]
        until(shared_again, 15, "entries written to Redis again")
        reuse = time.monotonic() - t_back
        time.sleep(0.5)
    pct, total = load.rate()
    log(f"      requests {total}, failed {load.failed}, success {pct:.3f} %; shared tier used again {reuse:.1f} s after Redis returned")
    for e in load.errors:
        log(f"      error: {e!r}")
    check(load.failed == 0 and total > 100, "every query answered while Redis was down")
    check(reuse < 5.0, "the shared tier is used again within 5 s")

    log(f"== replicas-check: {time.monotonic() - t0:.0f} s, {len(failures)} failed")
finally:
    cleanup()

if failures:
    for f in failures:
        print("failed: " + f, file=sys.stderr)
    sys.exit(1)
PY
