#!/usr/bin/env python3
"""The driver of scripts/cluster.sh: three instances of the service on one PostgreSQL behind
HAProxy. One phase per run (the script restarts instance 2 between `kill` and
`after-restart`); each prints its figures, appends its summary lines to $CLUSTER_SUMMARY, and
exits 1 with a message on the first property that does not hold.

    scripts/cluster.py wait-up|propagation|kill|after-restart

Environment (set by cluster.sh): CLUSTER_PORTS (the three instances' ports),
CLUSTER_PROXY_PORT (HAProxy's frontend), CLUSTER_SOCKET (HAProxy's stats socket),
CLUSTER_PID2 (instance 2's pid), CLUSTER_WORK, CLUSTER_SUMMARY, CLUSTER_ADMIN_EMAIL,
CLUSTER_ADMIN_PASSWORD. Standard library only; loopback only.
"""
import http.client
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter

PORTS = [int(p) for p in os.environ["CLUSTER_PORTS"].split()]
PROXY_PORT = int(os.environ["CLUSTER_PROXY_PORT"])
SOCKET = os.environ["CLUSTER_SOCKET"]
WORK = os.environ["CLUSTER_WORK"]
SUMMARY = os.environ["CLUSTER_SUMMARY"]
ADMIN_EMAIL = os.environ["CLUSTER_ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["CLUSTER_ADMIN_PASSWORD"]

BOUND_MS = 1000.0  # a revocation must be refused everywhere within this
REPEATS = 15  # per kind of revocation
LIMIT = 10  # LOGIN_MAX_FAILURES_PER_ACCOUNT, as cluster.sh sets it
HAPROXY_RETRIES = 2  # `retries` in cluster.sh's haproxy.cfg
BACKEND, SERVERS = "users_api", ("s1", "s2", "s3")

REVOKED = "Token revoked. Please log in again."
INACTIVE = "Something went wrong. Please contact us."
LOGIN_FAILED = "User does not exist."
TOO_MANY = "Too many login attempts. Try again later."

now = time.monotonic
# Many threads share the GIL: switch more often than the default 5 ms so that a poller
# waiting for it does not add that much to a measured delay.
sys.setswitchinterval(0.0005)


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def summary(line):
    print(line, flush=True)
    with open(SUMMARY, "a") as f:
        f.write(line + "\n")


def percentile(values, p):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def figures(values):
    return (f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms, "
            f"max {max(values):.1f} ms")


class Client:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:port. `retry`: send again once on a
    connection the server closed while it was idle (never for requests that count)."""

    def __init__(self, port, timeout=5.0):
        self.port, self.timeout, self.conn = port, timeout, None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.connect()

    def request(self, method, path, token=None, body=None, retry=True):
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        reused = self.conn is not None
        try:
            self.connect()
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if retry and reused:
                return self.request(method, path, token, body, retry=False)
            raise
        except (http.client.HTTPException, OSError):
            self.close()
            raise
        if resp.will_close:
            self.close()
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {"raw": raw[:200].decode(errors="replace")}
        return resp.status, doc


def instance(i):
    """A new client of instance i (1-based), directly on its port."""
    return Client(PORTS[i - 1])


def proxy(timeout=5.0):
    return Client(PROXY_PORT, timeout)


def register(client, name, password):
    status, doc = client.request("POST", "/auth/register", body={
        "username": name, "email": f"{name}@example.com", "password": password})
    check(status == 201 and doc.get("auth_token"), f"register {name}: {status} {doc}")
    return doc["auth_token"]


def login(client, email, password):
    status, doc = client.request("POST", "/auth/login", body={"email": email, "password": password})
    check(status == 200 and doc.get("auth_token"), f"login {email}: {status} {doc}")
    return doc["auth_token"]


def expect_status(client, token, code, message=None, what=""):
    status, doc = client.request("GET", "/auth/status", token)
    check(status == code and (message is None or doc.get("message") == message),
          f"{what}: GET /auth/status on port {client.port}: {status} {doc}, expected {code}"
          + (f" {message!r}" if message else ""))
    return doc


# --- HAProxy's stats socket -------------------------------------------------------------

def haproxy(command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(SOCKET)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def server_stats():
    """{server: {field: value}} of the backend, from `show stat`."""
    lines = haproxy("show stat").splitlines()
    header = lines[0].lstrip("# ").split(",")
    stats = {}
    for line in lines[1:]:
        fields = dict(zip(header, line.split(",")))
        if fields.get("pxname") == BACKEND and fields.get("svname") in SERVERS:
            stats[fields["svname"]] = fields
    return stats


def wait_state(server, is_wanted, limit, interval=0.01):
    """Polls `show stat` until is_wanted(status of server); the time it took, or a Failure."""
    started = now()
    status = None
    while now() - started < limit:
        try:
            status = server_stats()[server]["status"]
        except OSError as e:  # the socket is not there yet (HAProxy starting)
            status = f"stats socket: {e}"
            time.sleep(interval)
            continue
        if is_wanted(status):
            return now() - started
        time.sleep(interval)
    raise Failure(f"HAProxy: {server} still {status!r} after {limit} s")


def is_up(status):
    return status == "UP"


def is_down(status):
    return status.startswith("DOWN")


# --- background load through HAProxy ---------------------------------------------------

class Load:
    """Threads looping GET /auth/status through HAProxy with valid tokens, recording each
    request's start, end and outcome (a status, or the exception's name)."""

    def __init__(self, tokens, threads, timeout):
        self.tokens, self.timeout = tokens, timeout
        self.stopping = threading.Event()
        self.records = [[] for _ in range(threads)]
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True)
                        for k in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def run(self, k):
        client, mine, i = proxy(self.timeout), self.records[k], k
        while not self.stopping.is_set():
            token = self.tokens[i % len(self.tokens)]
            i += 1
            started = now()
            try:
                outcome, _ = client.request("GET", "/auth/status", token, retry=False)
            except (http.client.HTTPException, OSError) as e:
                outcome = type(e).__name__
                client.close()
            mine.append((started, now(), outcome))
        client.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.timeout + 2)
        # Checked by the caller (stop() runs in a `finally`, where raising would hide why).
        self.stuck = sum(t.is_alive() for t in self.threads)
        return sorted(r for rs in self.records for r in rs)


def outcomes(records):
    return dict(sorted(Counter(str(o) for _, _, o in records).items()))


# --- phases ---------------------------------------------------------------------------

def phase_wait_up():
    took = 0.0
    for server in SERVERS:
        took += wait_state(server, is_up, 10)
    print(f"HAProxy: {', '.join(SERVERS)} UP ({took:.2f} s)")


def propagation_case(kind, rep, one, admin_token):
    """One revocation through instance 1; the delays (ms) until instances 2 and 3 refuse."""
    name, password = f"{kind.replace('-', '')}{rep}", f"pw-{kind}-{rep}"
    first = register(one, name, password)
    keep = []
    message = REVOKED
    if kind == "logout":
        revoked = [first]
        revoke = ("GET", "/auth/logout", first, None)
    elif kind == "logout-all":
        other = login(one, f"{name}@example.com", password)
        revoked = [first, other]
        revoke = ("POST", "/auth/logout/all", other, None)
    elif kind == "password":
        other = login(one, f"{name}@example.com", password)
        revoked, keep = [first], [other]
        revoke = ("PUT", "/auth/password", other,
                  {"old_password": password, "new_password": password + "-new"})
    elif kind == "deactivation":
        user_id = expect_status(one, first, 200, what="deactivation")["data"]["id"]
        revoked, message = [first], INACTIVE
        revoke = ("PATCH", f"/users/{user_id}", admin_token, {"active": False})
    else:
        raise ValueError(kind)

    pollers = {i: instance(i) for i in (2, 3)}
    for i, client in pollers.items():  # warm: each token twice on each instance
        for token in revoked + keep:
            for _ in range(2):
                expect_status(client, token, 200, what=f"{kind} #{rep}: warming instance {i}")

    go = threading.Event()
    refused = {}  # instance -> monotonic time at which its last revoked token was refused
    accepted = {2: None, 3: None}  # instance -> when the last poll still answered 200 was sent
    errors = []

    def poll(i, client):
        go.wait()
        pending = list(revoked)
        deadline = now() + 2 * BOUND_MS / 1000
        try:
            while pending and now() < deadline:
                for token in list(pending):
                    sent = now()
                    status, doc = client.request("GET", "/auth/status", token)
                    if status == 200:
                        accepted[i] = sent
                    elif status == 401:
                        got = now()
                        if doc.get("message") != message:
                            errors.append(f"instance {i}: 401 {doc}, expected {message!r}")
                            return
                        pending.remove(token)
                        if not pending:
                            refused[i] = got
                    elif status != 200:
                        errors.append(f"instance {i}: {status} {doc} while polling")
                        return
                time.sleep(0.001)
        except (http.client.HTTPException, OSError) as e:
            errors.append(f"instance {i}: {type(e).__name__}: {e} while polling")

    threads = [threading.Thread(target=poll, args=(i, c), daemon=True) for i, c in pollers.items()]
    for t in threads:
        t.start()
    method, path, token, body = revoke
    status, doc = one.request(method, path, token, body)
    answered = now()
    go.set()
    for t in threads:
        t.join(2 * BOUND_MS / 1000 + 6)
    check(status == 200, f"{kind} #{rep}: {method} {path} on instance 1: {status} {doc}")
    check(not errors, f"{kind} #{rep}: " + "; ".join(errors))
    for i in (2, 3):
        check(i in refused, f"{kind} #{rep}: instance {i} still accepted a revoked token "
              f"{2 * BOUND_MS:.0f} ms after the revocation")
    # The delay: from the revocation's answer to the 401 (an upper bound: it includes the
    # poll's own round trip and this process's scheduling). A lower bound: the latest poll
    # still answered 200 was sent that long after the revocation's answer.
    delays = [(refused[i] - answered) * 1000 for i in (2, 3)]
    still = [max(0.0, (accepted[i] - answered) * 1000) if accepted[i] else 0.0 for i in (2, 3)]
    for i in (2, 3):
        expect_status(pollers[i], first, 401, message, f"{kind} #{rep}: instance {i} afterwards")
        for token in keep:  # the session that changed the password stays valid everywhere
            expect_status(pollers[i], token, 200, what=f"{kind} #{rep}: the caller's session on instance {i}")
    for c in pollers.values():
        c.close()
    return delays, still


def failed_logins():
    """60 concurrent wrong passwords over the three instances, then the right one."""
    one = instance(1)
    email, password = "throttled@example.com", "the-right-one"
    register(one, "throttled", password)
    one.close()
    n = 60
    barrier = threading.Barrier(n, timeout=10)
    results = [None] * n

    def attempt(k):
        client = instance(1 + k % 3)
        try:
            client.connect()
            barrier.wait()
            status, doc = client.request("POST", "/auth/login",
                                         body={"email": email, "password": f"wrong-{k}"}, retry=False)
            results[k] = (1 + k % 3, status, doc.get("message"))
        except (threading.BrokenBarrierError, http.client.HTTPException, OSError) as e:
            results[k] = (1 + k % 3, type(e).__name__, str(e))
        finally:
            client.close()

    threads = [threading.Thread(target=attempt, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    check(all(r is not None for r in results), "a login attempt did not finish")
    split = Counter((status, message) for _, status, message in results)
    by_instance = {i: dict(Counter(s for j, s, _ in results if j == i)) for i in (1, 2, 3)}
    print(f"failed logins: {n} concurrent wrong passwords: {dict(split)}; by instance {by_instance}")
    unexpected = {k: v for k, v in split.items() if k not in ((404, LOGIN_FAILED), (429, TOO_MANY))}
    check(not unexpected, f"failed logins: unexpected answers {unexpected}")
    checked = split[(404, LOGIN_FAILED)]
    check(checked <= LIMIT, f"failed logins: {checked} wrong passwords were checked (404), "
          f"more than LOGIN_MAX_FAILURES_PER_ACCOUNT={LIMIT}")
    status, doc = proxy().request("POST", "/auth/login", body={"email": email, "password": password},
                                  retry=False)
    check(status == 429 and doc.get("message") == TOO_MANY,
          f"failed logins: the right password afterwards (through HAProxy): {status} {doc}, expected 429")
    return (f"cluster: failed logins: {n} concurrent wrong passwords, 20 on each instance: "
            f"{checked} x 404, {split[(429, TOO_MANY)]} x 429 (limit {LIMIT}); "
            f"the right password afterwards (through HAProxy): 429")


def cache_metrics(i):
    conn = http.client.HTTPConnection("127.0.0.1", PORTS[i - 1], timeout=5)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode()
    finally:
        conn.close()
    check(resp.status == 200, f"/metrics of instance {i}: {resp.status}")
    counts = {}
    for outcome in ("hit", "miss", "bypass"):
        prefix = f'auth_cache_lookups_total{{outcome="{outcome}"}}'
        values = [line.split()[-1] for line in text.splitlines() if line.startswith(prefix)]
        # A series appears once counted: absent is 0.
        counts[outcome] = int(float(values[0])) if values else 0
    check(any(line.startswith("auth_cache_lookups_total") for line in text.splitlines()),
          f"/metrics of instance {i}: no auth_cache_lookups_total")
    return counts


def phase_propagation():
    started = now()
    one = instance(1)
    admin_token = login(one, ADMIN_EMAIL, ADMIN_PASSWORD)
    load_tokens = [register(one, f"load{k}", f"load-pw-{k}") for k in range(8)]
    load = Load(load_tokens, threads=8, timeout=5).start()
    try:
        kinds = ("logout", "logout-all", "password", "deactivation")
        delays, still = {}, {}
        for kind in kinds:
            delays[kind], still[kind] = [], []
            for rep in range(REPEATS):
                upper, lower = propagation_case(kind, rep, one, admin_token)
                delays[kind] += upper
                still[kind] += lower
            print(f"propagation, {kind:12} ({REPEATS} x instances 2 and 3): {figures(delays[kind])}; "
                  f"a 200 still sent {max(still[kind]):.1f} ms after at most [{now() - started:.1f} s]",
                  flush=True)
        every = [d for kind in kinds for d in delays[kind]]
        every_still = [d for kind in kinds for d in still[kind]]
        print(f"propagation, all ({len(every)} delays): {figures(every)}; "
              f"a 200 still sent {max(every_still):.1f} ms after at most")
        slow = [(kind, round(d, 1)) for kind in kinds for d in delays[kind] if d > BOUND_MS]
        check(not slow, f"propagation: delays over {BOUND_MS:.0f} ms: {slow}")

        throttled = failed_logins()
        print(throttled)

        cache = {i: cache_metrics(i) for i in (2, 3)}
        for i in (2, 3):
            print(f"auth cache of instance {i}: {cache[i]}")
            check(cache[i]["hit"] > 0, f"the auth cache of instance {i} served no hit: {cache[i]}")
    finally:
        records = load.stop()
    check(not load.stuck, f"{load.stuck} load threads did not stop")
    load_outcomes = outcomes(records)
    elapsed = records[-1][1] - records[0][0] if records else 0
    print(f"background load (8 threads through HAProxy): {len(records)} requests in {elapsed:.1f} s, "
          f"by outcome {load_outcomes}")
    check(load_outcomes.keys() == {"200"}, f"the background load got something else than 200: {load_outcomes}")

    summary(f"cluster: propagation ({len(kinds)} kinds x {REPEATS}, instances 2 and 3, under load): "
            f"{figures(every)} (bound {BOUND_MS:.0f} ms); the latest request still answered 200 "
            f"was sent {max(every_still):.1f} ms after the revocation")
    summary("cluster: propagation by kind: " + "; ".join(
        f"{kind} p50 {percentile(delays[kind], 50):.1f} / p99 {percentile(delays[kind], 99):.1f} / "
        f"max {max(delays[kind]):.1f} ms" for kind in kinds))
    summary(f"cluster: background load during the propagation checks: {len(records)} GET /auth/status "
            f"through HAProxy (8 threads, {len(records) / max(elapsed, 1e-9):.0f}/s), all 200")
    summary(throttled)
    summary("cluster: auth cache lookups (instances 2, 3): " + ", ".join(
        f"{o} {cache[2][o]}/{cache[3][o]}" for o in ("hit", "miss", "bypass")))
    print(f"phase propagation: {now() - started:.1f} s")


def phase_kill():
    started = now()
    pid = int(os.environ["CLUSTER_PID2"])
    one = instance(1)
    tokens = [register(one, f"kill{k}", f"kill-pw-{k}") for k in range(4)]
    # For after-restart: a session revoked while instance 2 is down, one left valid.
    revoked = register(one, "whiledown", "whiledown-pw")
    valid = login(one, "whiledown@example.com", "whiledown-pw")
    two = instance(2)
    for token in (revoked, valid):
        for _ in range(2):
            expect_status(two, token, 200, what="warming instance 2 before the kill")
    two.close()
    before = {s: int(v["stot"]) for s, v in server_stats().items()}

    threads = 16
    load = Load(tokens, threads=threads, timeout=5).start()
    time.sleep(1.0)
    during = {s: int(v["stot"]) for s, v in server_stats().items()}
    check(during["s2"] > before["s2"], f"instance 2 got no requests from the load before the kill: {during}")
    killed = now()
    os.kill(pid, signal.SIGKILL)
    try:
        to_down = wait_state("s2", is_down, 5, interval=0.005)
        down_at = killed + to_down
        print(f"kill -9 of instance 2 (pid {pid}): HAProxy marked it DOWN after {to_down * 1000:.0f} ms")
        status, doc = one.request("GET", "/auth/logout", revoked)
        check(status == 200, f"logout through instance 1 while instance 2 is down: {status} {doc}")
        time.sleep(max(0.0, killed + 3.0 - now()))
    finally:
        records = load.stop()
    check(not load.stuck, f"{load.stuck} load threads did not stop")
    with open(os.path.join(WORK, "restart.json"), "w") as f:
        json.dump({"revoked": revoked, "valid": valid}, f)

    failures = [r for r in records if r[2] != 200]
    non_200 = [r for r in failures if isinstance(r[2], int)]
    errors = [r for r in failures if not isinstance(r[2], int)]
    after_kill = [r for r in records if r[0] >= killed]
    slowest = max((r[1] - r[0] for r in after_kill), default=0)
    print(f"load (16 threads through HAProxy, 5 s timeout): {len(records)} requests, "
          f"{len(after_kill)} started after the kill, by outcome {outcomes(records)}; "
          f"slowest after the kill {slowest * 1000:.0f} ms")
    for s, e, o in failures:
        print(f"  failure: {o}, started {(s - killed) * 1000:+.0f} ms, answered {(e - killed) * 1000:+.0f} ms "
              "from the kill")
    bound = threads + HAPROXY_RETRIES
    check(len(failures) <= bound, f"kill -9: {len(failures)} failed requests, more than the {bound} "
          f"that could have been in flight on instance 2 ({threads} load threads + {HAPROXY_RETRIES} retries)")
    late = [r for r in failures if r[0] >= down_at]
    check(not late, f"kill -9: {len(late)} requests started after HAProxy marked instance 2 DOWN failed: "
          f"{outcomes(late)}")
    summary(f"cluster: kill -9 of instance 2 under load ({threads} threads through HAProxy, 3 s): "
            f"{len(records)} requests, {len(non_200)} non-200, {len(errors)} connection errors "
            f"(bound {bound}); HAProxy marked it DOWN after {to_down * 1000:.0f} ms; "
            f"nothing but 200 once DOWN; slowest request after the kill {slowest * 1000:.0f} ms")
    print(f"phase kill: {now() - started:.1f} s")


def phase_after_restart():
    with open(os.path.join(WORK, "restart.json")) as f:
        tokens = json.load(f)
    to_up = wait_state("s2", is_up, 10)
    print(f"instance 2 restarted: HAProxy marked it UP {to_up * 1000:.0f} ms after it answered /ready")
    two = instance(2)
    expect_status(two, tokens["revoked"], 401, REVOKED,
                  "instance 2 after the restart, the token revoked while it was down")
    expect_status(two, tokens["valid"], 200, what="instance 2 after the restart, a valid token")
    two.close()
    before = int(server_stats()["s2"]["stot"])
    client = proxy()
    statuses = Counter(client.request("GET", "/auth/status", tokens["valid"])[0] for _ in range(30))
    client.close()
    served = int(server_stats()["s2"]["stot"]) - before
    print(f"30 requests through HAProxy after the restart: {dict(statuses)}, {served} served by instance 2")
    check(statuses == Counter({200: 30}), f"through HAProxy after the restart: {dict(statuses)}")
    check(served > 0, "instance 2 served none of 30 requests through HAProxy after the restart")
    summary(f"cluster: restart of instance 2 (same port): UP in HAProxy {to_up * 1000:.0f} ms after /ready; "
            f"the token revoked while it was down: 401; a valid token: 200; "
            f"{served} of 30 requests through HAProxy served by it")


PHASES = {
    "wait-up": phase_wait_up,
    "propagation": phase_propagation,
    "kill": phase_kill,
    "after-restart": phase_after_restart,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in PHASES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(PHASES)}")
    try:
        PHASES[sys.argv[1]]()
    except Failure as e:
        print(f"cluster: FAIL: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
