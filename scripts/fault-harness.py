#!/usr/bin/env python3
"""Fault harness: several `flowctl serve` processes on one PostgreSQL store, under load and faults.

Usage: scripts/fault-harness.py FLOWCTL --seconds N [--seed S] [--processes 3] [--report FILE]

A Jepsen-style test on loopback. It starts a throwaway PostgreSQL cluster
(scripts/pg-cluster.sh), creates a dry-run store in it (`flowctl store init URL --world ...
--key-file ...`: one account, an admin `boss`, 40 technicians m1..m40 with 2FA by SMS), and
runs --processes `flowctl serve` processes on it, each on its own loopback port. Client threads
drive sessions through a random live server:

  - team-member sessions (update-team-member-2fa-phone, one target per thread): editPhone a few
    times, then save; every event carries `seq` (the last seq the client knows) and an
    Idempotency-Key, and a request whose answer was lost (refused, reset, timed out) or that
    got a 5xx is sent again with the SAME key and body to another server. Now and then an
    answered request is sent once more, to check that another process replays it byte for byte;
  - timer sessions (wait-a-moment, timing out after 3 s): never stepped, or sent `go` at a
    random moment around the timeout, so that a ticker and a request race; the timers fire in
    whichever server's background ticker.

Meanwhile, at seeded random moments, it injects faults: kill -9 of a server (a new one starts
in its place on a new port), SIGSTOP of a server for 1-3 s, and the termination of a server's
database connections (pg_terminate_backend on the backends its sockets lead to; a random subset
of backends when they cannot be told apart). After the load, it lets due timers fire and the
outbox drain, stops the servers with SIGTERM (each must exit 0) and checks the tables with psql:

  1. every acknowledged (session, seq) has exactly one `step` audit entry with that seq;
  2. each session's step entries (and timer firings, which are steps too) have seqs 1..N in the
     order of audit ids, with no gap and no repeat, and the session's stored seq is N;
  3. every timer session whose timer fell due ended exactly once: fired once (a `timer` entry
     with outcome expired, state timedOut) or completed by `go`, never both, never twice;
  4. no delivery key in delivery_attempts appears with two different digests, and the outbox
     drains: every queued delivery is handed over (at least once) and lands in the inbox;
  5. idempotency: a team session takes exactly one step per key (the `idempotency` table holds
     one 200 answer per step), a replayed key answers byte for byte, and no team-session
     request is answered 409 unless an earlier request of the session was given up;
  6. every answer was one the API promises (422 only with an expected rejection kind);
  7. the servers exit 0 on SIGTERM.

It prints one line per check, a summary of the faults injected and the steps checked, and ends
with `N passed, M failed`; exit status 1 on any failure (with the tails of the servers' logs).
Needs PostgreSQL's server binaries and psql (apt-get install postgresql; PSQL=path overrides the
psql used) and python3; nothing from PyPI.
"""
import argparse
import csv
import faulthandler
import glob
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.client import HTTPConnection, HTTPException

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEAM_FLOW = "update-team-member-2fa-phone"
TIMER_FLOW = "wait-a-moment"
TIMER_SECONDS = 3
TECHNICIANS = 40
SEQ = re.compile(r"\(seq (\d+)\)$")

TIMER_FLOW_TEXT = f"""\
flow: {TIMER_FLOW}
version: 1
title: Wait a moment
context: {{ actor: user, target: user }}
events:
  go: {{}}
start: waiting
states:
  waiting:
    on:
      go: done
    after:
      - in: {TIMER_SECONDS}s
        to: timedOut
  done: {{ final: true, outcome: completed }}
  timedOut: {{ final: true, outcome: expired }}
"""

# What a request may be answered, by flow (anything else is a failure of check 6).
# Team sessions: a driven session is never rejected; the timer flow's `go` may meet a session
# its timer already ended (410, or 409 since it names seq 1).
EXPECTED_REJECTIONS = {TEAM_FLOW: set(), TIMER_FLOW: {"session-ended", "session-expired"}}


class Interrupted(Exception):
    pass


STARTED = time.monotonic()


def log(message):
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def find_psql():
    if os.environ.get("PSQL"):
        return os.environ["PSQL"]
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"),
                        key=lambda p: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p)])
    if candidates:
        return candidates[-1]
    found = shutil.which("psql")
    if not found:
        sys.exit("fault harness: psql not found (apt-get install postgresql)")
    return found


PSQL = None


def psql(url, sql, timeout=120):
    """Runs one SQL command; its rows as dicts (CSV: NULL is '')."""
    result = subprocess.run([PSQL, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}\n  {sql}")
    if not result.stdout.strip():
        return []
    return list(csv.DictReader(io.StringIO(result.stdout)))


class Cluster:
    def __init__(self):
        # Its own folder in /tmp: as root, the cluster belongs to the postgres user, which
        # must reach it (our work folder is closed to others).
        self.dir = tempfile.mkdtemp(prefix="flow-faults-pg-")
        self.url = None

    def start(self):
        script = os.path.join(ROOT, "scripts/pg-cluster.sh")
        result = subprocess.run(["bash", script, "start", self.dir], capture_output=True, text=True,
                                timeout=180)
        if result.returncode != 0:
            sys.stderr.write(result.stderr)
            raise RuntimeError(f"pg-cluster.sh start exited {result.returncode}")
        lines = result.stdout.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("postgres://"):
            raise RuntimeError(f"pg-cluster.sh printed {result.stdout!r}")
        self.url = lines[0]
        self.port = int(re.search(r":(\d+)/", self.url).group(1))
        return self.url

    def stop(self, remove):
        script = os.path.join(ROOT, "scripts/pg-cluster.sh")
        result = subprocess.run(["bash", script, "stop", self.dir], capture_output=True, text=True,
                                timeout=180)
        if result.returncode != 0:
            log(f"pg-cluster.sh stop exited {result.returncode}: {result.stderr.strip()}")
        elif remove:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The servers


class Server:
    """One `flowctl serve` process."""

    def __init__(self, harness, slot, generation):
        self.slot = slot
        self.generation = generation
        self.name = f"server {slot}.{generation}"
        self.log_path = os.path.join(harness.work, f"serve-{slot}-{generation}.log")
        self.stopped = False  # SIGSTOPped now
        self.killed = False
        self.exit_status = None
        argv = [harness.flowctl, "serve", "--store", harness.url, "--key-file", harness.store_key,
                "--flows", harness.flows, "--auth-key", harness.auth_key, "--listen", "127.0.0.1:0",
                "--rate-per-user", "1000000", "--rate-per-address", "1000000"]
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log_file,
                                        cwd=harness.work, start_new_session=True)
        self.pid = self.process.pid
        first = []
        reader = threading.Thread(target=lambda: first.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=120)
        line = first[0].decode(errors="replace").strip() if first else ""
        match = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"{self.name} did not start (first line {line!r}):\n{tail(self.log_path)}")
        self.port = int(match.group(1))
        # Keep draining standard output so the process never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        with open(self.log_path + ".stdout", "ab") as out:
            for line in self.process.stdout:
                out.write(line)

    @property
    def alive(self):
        return not self.killed and self.process.poll() is None


class Pool:
    """The servers by slot; clients pick a random live one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.servers = {}  # slot -> Server
        self.retired = []  # killed or stopped servers, for logs

    def live(self):
        with self.lock:
            return [s for s in self.servers.values() if s.alive]

    def pick(self, rng, avoid=None):
        servers = self.live()
        if avoid is not None and len(servers) > 1:
            servers = [s for s in servers if s is not avoid] or servers
        return rng.choice(servers) if servers else None


# ---------------------------------------------------------------------------------------------
# HTTP


class Lost(Exception):
    """The answer never came: refused, reset, timed out, cut short."""


def call_http(port, method, path, token, body=None, key=None, timeout=2.0):
    connection = HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if key is not None:
        headers["Idempotency-Key"] = key
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return response.status, raw
    except (OSError, HTTPException) as error:  # socket.timeout is an OSError
        raise Lost(f"{type(error).__name__}: {error}") from None
    finally:
        connection.close()


def parse(raw):
    try:
        value = json.loads(raw)
        return value if isinstance(value, dict) else {}
    except ValueError:
        return {}


def session_of(answer):
    """The session object of an answer: top level (start, GET) or under "session"."""
    return answer.get("session") if isinstance(answer.get("session"), dict) else answer


# ---------------------------------------------------------------------------------------------
# The harness


class Harness:
    def __init__(self, args):
        self.args = args
        self.flowctl = os.path.abspath(args.flowctl)
        self.rng = random.Random(args.seed)
        self.work = tempfile.mkdtemp(prefix="flow-faults-")
        self.flows = os.path.join(self.work, "flows")
        self.world = os.path.join(self.work, "world.yaml")
        self.store_key = os.path.join(self.work, "store.key")
        self.auth_key = os.path.join(self.work, "auth.key")
        self.cluster = Cluster()
        self.pool = Pool()
        self.lock = threading.Lock()
        self.stop_load = threading.Event()
        self.lines = []
        self.counters = {name: 0 for name in (
            "requests", "lost", "retries", "5xx", "429", "409", "410", "422", "given-up",
            "team-sessions", "team-saved", "timer-sessions", "go-sent", "go-acknowledged",
            "replay-probes", "unanswered-starts")}
        self.faults = {"kill -9": 0, "SIGSTOP": 0, "backend terminations": 0,
                       "backends terminated": 0, "replacements": 0}
        self.acknowledged = set()  # (session, seq) answered 200/201
        self.keys = {}  # idempotency key -> session (every key sent on a team session)
        self.answers = {}  # key -> raw body of its first 200
        self.problems = {"unexpected": [], "replay": [], "conflict": [], "exits": []}
        self.manage = threading.Lock()  # one change of the set of servers at a time
        self.timer_sessions = {}  # session -> {"go": None|"sent"|"acknowledged"}
        self.team_sessions = set()
        self.generation = {}
        self.phone = 0

    # -- set-up --------------------------------------------------------------------------------

    def write_files(self):
        lines = ["# fault-harness.py: one account, its admin and 40 technicians, 2FA by SMS.",
                 "accounts:", "  - id: plumbing", "    name: Fault Plumbing", "", "users:"]

        def user(uid, name, role, phone):
            lines.extend([f"  - id: {uid}", f"    name: {name}", f"    role: {role}",
                          "    account: plumbing", f'    phone: "{phone}"',
                          f"    email: {uid}@plumbing.example",
                          "    twoFactor: { enabled: true, channel: sms }"])

        user("boss", "Boss Admin", "admin", "+15550300000")
        for k in range(1, TECHNICIANS + 1):
            user(f"m{k}", f"Member {k}", "technician", f"+155503{k:05d}")
        with open(self.world, "w") as out:
            out.write("\n".join(lines) + "\n")
        os.makedirs(self.flows)
        shutil.copy(os.path.join(ROOT, f"flows/{TEAM_FLOW}.yaml"), self.flows)
        with open(os.path.join(self.flows, f"{TIMER_FLOW}.yaml"), "w") as out:
            out.write(TIMER_FLOW_TEXT)
        # The token key as `head -c 32 /dev/urandom | base64` makes it: text.
        with open(self.auth_key, "w") as out:
            out.write(os.urandom(32).hex() + "\n")
        os.chmod(self.auth_key, 0o600)

    def run_flowctl(self, argv, timeout=180):
        result = subprocess.run([self.flowctl] + argv, capture_output=True, text=True, timeout=timeout,
                                cwd=self.work)
        if result.returncode != 0:
            raise RuntimeError(f"flowctl {' '.join(argv)} exited {result.returncode}:\n"
                               f"{result.stdout}{result.stderr}")
        return result.stdout

    def start_server(self, slot):
        generation = self.generation.get(slot, 0) + 1
        self.generation[slot] = generation
        server = Server(self, slot, generation)
        with self.pool.lock:
            self.pool.servers[slot] = server
        log(f"{server.name} (pid {server.pid}) listening on 127.0.0.1:{server.port}")
        return server

    # -- clients -------------------------------------------------------------------------------

    def count(self, name, by=1):
        with self.lock:
            self.counters[name] += by

    def next_phone(self):
        with self.lock:
            self.phone += 1
            return f"+155503{10000 + self.phone % 89000:05d}"

    def request(self, rng, method, path, body=None, key=None):
        """Sends one request until a server answers it (not 5xx): (status, raw, tries), or None
        when it was given up. A lost answer or a 5xx is sent again, with the same key and the
        same bytes, to another server."""
        deadline = time.monotonic() + self.args.request_budget
        server = None
        tries = 0
        while tries < self.args.tries and time.monotonic() < deadline:
            server = self.pool.pick(rng, avoid=server)
            if server is None:
                time.sleep(0.2)
                continue
            tries += 1
            if tries > 1:
                self.count("retries")
            self.count("requests")
            try:
                status, raw = call_http(server.port, method, path, self.token, body, key, self.args.timeout)
            except Lost:
                self.count("lost")
                time.sleep(rng.uniform(0.02, 0.2))
                continue
            if status >= 500:
                self.count("5xx")
                time.sleep(rng.uniform(0.05, 0.3))
                continue
            if status == 429:
                self.count("429")
                time.sleep(0.5)
                continue
            return status, raw, tries, server
        self.count("given-up")
        return None

    def unexpected(self, what):
        with self.lock:
            if len(self.problems["unexpected"]) < 1000:
                self.problems["unexpected"].append(what)

    def acknowledge(self, session, seq):
        with self.lock:
            self.acknowledged.add((session, seq))

    def show(self, rng, session):
        """The session as a server shows it (None when no server answered)."""
        answered = self.request(rng, "GET", f"/v1/sessions/{session}")
        if answered is None:
            return None
        status, raw, _, _ = answered
        if status != 200:
            self.unexpected(f"GET /v1/sessions/{session}: {status} {raw[:300]!r}")
            return None
        return parse(raw)

    def probe_replay(self, rng, path, body, key, first_raw, server):
        """Sends an answered request once more, to another server: the same bytes must come
        back, and no step is taken."""
        self.count("replay-probes")
        answered = self.request(rng, "POST", path, body, key)
        if answered is None:
            return
        status, raw, _, _ = answered
        if status != 200 or raw != first_raw:
            with self.lock:
                self.problems["replay"].append(
                    f"key {key} on {path}: first answer 200 {first_raw[:200]!r}, "
                    f"replayed as {status} {raw[:200]!r}")

    def team_client(self, index, target):
        rng = random.Random(f"{self.args.seed}-team-{index}")
        starts = 0
        while not self.stop_load.is_set():
            body = json.dumps({"flow": TEAM_FLOW, "target": target}).encode()
            # Keyed: a start whose answer is lost is sent again with its key, and answers the
            # session it started (no orphan).
            starts += 1
            answered = self.request(rng, "POST", "/v1/sessions", body, f"start-{index}-{starts}")
            if answered is None:
                self.count("unanswered-starts")
                continue
            status, raw, _, _ = answered
            if status != 201:
                self.unexpected(f"start {TEAM_FLOW} for {target}: {status} {raw[:300]!r}")
                time.sleep(0.5)
                continue
            session = session_of(parse(raw))
            sid, seq = session.get("id"), session.get("seq")
            if not isinstance(sid, str) or not isinstance(seq, int):
                self.unexpected(f"start answer without id/seq: {raw[:300]!r}")
                continue
            self.acknowledge(sid, seq)
            self.count("team-sessions")
            with self.lock:
                self.team_sessions.add(sid)
            events = [("editPhone", True)] * rng.randint(1, 4) + [("save", False)]
            uncertain = False  # a request of this session was given up: it may still apply
            for event, has_phone in events:
                if self.stop_load.is_set() and rng.random() < 0.5:
                    break  # leave some sessions open at the end
                payload = {"event": event, "seq": seq}
                if has_phone:
                    payload["payload"] = {"phone": self.next_phone()}
                body = json.dumps(payload).encode()
                key = str(uuid.uuid4())
                with self.lock:
                    self.keys[key] = sid
                path = f"/v1/sessions/{sid}/events"
                answered = self.request(rng, "POST", path, body, key)
                if answered is None:
                    uncertain = True
                    shown = self.show(rng, sid)
                    if shown is None or shown.get("final"):
                        break
                    seq = shown.get("seq", seq)
                    continue
                status, raw, tries, server = answered
                answer = parse(raw)
                if status == 200:
                    now = session_of(answer)
                    seq = now.get("seq")
                    self.acknowledge(sid, seq)
                    with self.lock:
                        self.answers.setdefault(key, raw)
                    if event == "save" and now.get("outcome") == "completed":
                        self.count("team-saved")
                    if rng.random() < self.args.replay_probability:
                        self.probe_replay(rng, path, body, key, raw, server)
                    if now.get("final"):
                        break
                elif status == 409:
                    self.count("409")
                    now = session_of(answer)
                    if not uncertain:
                        with self.lock:
                            self.problems["conflict"].append(
                                f"session {sid}: {event} with seq {seq} and key {key} answered 409 "
                                f"after {tries} tries (at seq {now.get('seq')}), and no earlier "
                                f"request of the session was given up")
                    uncertain = True  # we no longer know whether this event applied
                    shown = self.show(rng, sid)
                    if shown is None or shown.get("final"):
                        break
                    seq = shown.get("seq", seq)
                elif status == 410:
                    self.count("410")
                    if not uncertain:
                        self.unexpected(f"session {sid}: {event} (key {key}) answered 410: {raw[:300]!r}")
                    break
                elif status == 422:
                    self.count("422")
                    kind = (answer.get("rejection") or {}).get("kind")
                    if kind not in EXPECTED_REJECTIONS[TEAM_FLOW]:
                        self.unexpected(f"session {sid}: {event} (key {key}) rejected: {raw[:400]!r}")
                    break
                else:
                    self.unexpected(f"session {sid}: {event} (key {key}) answered {status}: {raw[:300]!r}")
                    break
            time.sleep(rng.uniform(0.0, 0.05))

    def timer_client(self, index):
        rng = random.Random(f"{self.args.seed}-timer-{index}")
        pending = []  # (at, session)
        while not self.stop_load.is_set() or pending:
            now = time.monotonic()
            due = [entry for entry in pending if entry[0] <= now]
            for entry in due:
                pending.remove(entry)
                self.send_go(rng, entry[1])
            if self.stop_load.is_set():
                time.sleep(0.05)
                continue
            body = json.dumps({"flow": TIMER_FLOW}).encode()
            answered = self.request(rng, "POST", "/v1/sessions", body)
            if answered is None:
                self.count("unanswered-starts")
                continue
            status, raw, _, _ = answered
            session = session_of(parse(raw))
            if status != 201 or not isinstance(session.get("id"), str):
                self.unexpected(f"start {TIMER_FLOW}: {status} {raw[:300]!r}")
                time.sleep(0.5)
                continue
            sid = session["id"]
            self.acknowledge(sid, session.get("seq"))
            self.count("timer-sessions")
            with self.lock:
                self.timer_sessions[sid] = {"go": None}
            if rng.random() < 0.5:
                # `go` at a random moment around the timeout: a race with the tickers.
                pending.append((time.monotonic() + rng.uniform(0.2, TIMER_SECONDS + 1.5), sid))
            time.sleep(rng.uniform(0.1, 0.6))

    def nudge(self):
        rng = random.Random()
        body = json.dumps({"flow": TIMER_FLOW}).encode()
        answered = self.request(rng, "POST", "/v1/sessions", body)
        if answered is None or answered[0] != 201:
            return
        session = session_of(parse(answered[1]))
        if not isinstance(session.get("id"), str):
            return
        self.acknowledge(session["id"], session.get("seq"))
        self.count("timer-sessions")
        with self.lock:
            self.timer_sessions[session["id"]] = {"go": None}
        self.send_go(rng, session["id"])

    def send_go(self, rng, sid):
        body = json.dumps({"event": "go", "seq": 1}).encode()
        key = str(uuid.uuid4())
        with self.lock:
            self.timer_sessions[sid]["go"] = "sent"
        self.count("go-sent")
        answered = self.request(rng, "POST", f"/v1/sessions/{sid}/events", body, key)
        if answered is None:
            return
        status, raw, _, _ = answered
        answer = parse(raw)
        if status == 200:
            now = session_of(answer)
            self.acknowledge(sid, now.get("seq"))
            with self.lock:
                self.timer_sessions[sid]["go"] = "acknowledged"
                self.answers.setdefault(key, raw)
            self.count("go-acknowledged")
        elif status == 409:
            self.count("409")  # the timer fired first: seq 2
        elif status == 410:
            self.count("410")
        elif status == 422:
            self.count("422")
            kind = (answer.get("rejection") or {}).get("kind")
            if kind not in EXPECTED_REJECTIONS[TIMER_FLOW]:
                self.unexpected(f"session {sid}: go rejected: {raw[:400]!r}")
        else:
            self.unexpected(f"session {sid}: go answered {status}: {raw[:300]!r}")

    # -- faults --------------------------------------------------------------------------------

    def faulter(self, end):
        rng = random.Random(f"{self.args.seed}-faults")
        while True:
            wait = rng.uniform(self.args.fault_gap[0], self.args.fault_gap[1])
            if time.monotonic() + wait >= end or self.stop_load.is_set():
                return
            time.sleep(wait)
            kind = rng.choices(["kill", "stop", "terminate"], weights=[3, 3, 3])[0]
            try:
                getattr(self, f"fault_{kind}")(rng)
            except Exception as error:  # a fault that could not be injected is reported
                log(f"fault {kind} failed: {error}")
                with self.lock:
                    self.problems["unexpected"].append(f"fault {kind} could not be injected: {error}")

    def available(self):
        return [s for s in self.pool.live() if not s.stopped]

    def fault_kill(self, rng):
        with self.manage:
            candidates = self.available()
            if len(candidates) < 2:
                return
            victim = rng.choice(candidates)
            log(f"fault: kill -9 {victim.name} (pid {victim.pid})")
            victim.killed = True
            os.kill(victim.pid, signal.SIGKILL)
            victim.process.wait()
            self.faults["kill -9"] += 1
            with self.pool.lock:
                self.pool.retired.append(victim)
            self.start_server(victim.slot)
            self.faults["replacements"] += 1

    def watch(self):
        """A server that ended by itself (a crash, or a signal the harness did not send) is a
        failure; another takes its place, so the load goes on."""
        with self.manage:
            with self.pool.lock:
                servers = list(self.pool.servers.values())
            for server in servers:
                status = server.process.poll()
                if server.killed or status is None:
                    continue
                server.killed = True
                server.exit_status = status
                how = (f"signal {-status}" if status < 0 else f"status {status}"
                       + (" (a clean shutdown: did another process send it SIGTERM or SIGINT?)" if status == 0 else ""))
                log(f"{server.name} (pid {server.pid}) ended by itself: {how}")
                with self.lock:
                    self.problems["exits"].append(f"{server.name} (pid {server.pid}) ended during the load, "
                                                  f"not killed by the harness: {how}; log {server.log_path}")
                with self.pool.lock:
                    self.pool.retired.append(server)
                if not self.stop_load.is_set():
                    self.start_server(server.slot)

    def fault_stop(self, rng):
        candidates = self.available()
        if len(candidates) < 2:
            return
        victim = rng.choice(candidates)
        pause = rng.uniform(1.0, 3.0)
        log(f"fault: SIGSTOP {victim.name} for {pause:.1f} s")
        victim.stopped = True
        os.kill(victim.pid, signal.SIGSTOP)
        self.faults["SIGSTOP"] += 1

        def resume():
            if victim.process.poll() is None:
                os.kill(victim.pid, signal.SIGCONT)
            victim.stopped = False

        timer = threading.Timer(pause, resume)
        timer.daemon = True
        timer.start()
        self.resumers.append(timer)

    def backend_ports(self, pid):
        """Local ports of the process's TCP connections to the cluster (from /proc)."""
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            return set()
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as rows:
                    next(rows)
                    for row in rows:
                        fields = row.split()
                        if fields[9] in inodes and int(fields[2].rsplit(":", 1)[1], 16) == self.cluster.port:
                            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
            except OSError:
                continue
        return ports

    def fault_terminate(self, rng):
        candidates = self.pool.live()
        if not candidates:
            return
        victim = rng.choice(candidates)
        ports = self.backend_ports(victim.pid)
        base = ("SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity "
                "WHERE datname = 'flowengine' AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
        if ports:
            rows = psql(self.url, f"{base} AND client_port IN ({', '.join(map(str, sorted(ports)))})")
            what = f"{victim.name}'s {len(ports)} connections"
        else:
            # Its connections cannot be told apart (none open now): a random half of all.
            rows = psql(self.url, f"{base} AND random() < 0.5")
            what = "a random half of the backends"
        killed = sum(1 for row in rows if row.get("t") == "t")
        log(f"fault: pg_terminate_backend on {what}: {killed} terminated")
        self.faults["backend terminations"] += 1
        self.faults["backends terminated"] += killed

    # -- the run -------------------------------------------------------------------------------

    def run(self):
        args = self.args
        self.resumers = []
        self.settled = 0.0
        self.write_files()
        self.url = self.cluster.start()
        log(f"cluster {self.url} in {self.cluster.dir}; work folder {self.work}")
        self.run_flowctl(["store", "init", self.url, "--world", self.world, "--key-file", self.store_key])
        ttl = "1h" if args.seconds < 2400 else f"{args.seconds // 60 + 30}m"
        self.token = self.run_flowctl(["token", "boss", "--auth-key", self.auth_key, "--ttl", ttl]).strip()
        for slot in range(args.processes):
            self.start_server(slot)

        began = time.monotonic()
        end = began + args.seconds
        threads = []
        targets = [f"m{k}" for k in range(1, TECHNICIANS + 1)]
        for index in range(args.clients):
            threads.append(threading.Thread(target=self.team_client, args=(index, targets[index % len(targets)]),
                                            name=f"team-{index}", daemon=True))
        for index in range(args.timer_clients):
            threads.append(threading.Thread(target=self.timer_client, args=(index,), name=f"timer-{index}",
                                            daemon=True))
        for thread in threads:
            thread.start()
        faulter = threading.Thread(target=self.faulter, args=(end,), name="faults", daemon=True)
        faulter.start()
        last_report = began
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
            self.watch()
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                with self.lock:
                    log(f"… {int(last_report - began)} s: {len(self.acknowledged)} acknowledged steps, "
                        f"{self.counters['lost']} lost answers, {self.counters['5xx']} 5xx, faults {self.faults}")
        self.stop_load.set()
        faulter.join(timeout=180)
        for thread in threads:
            # Each client's loops are bounded: a request is given up after --request-budget s.
            thread.join(timeout=args.request_budget * 3 + 30)
            if thread.is_alive():
                self.problems["unexpected"].append(f"client thread {thread.name} did not stop")
        for timer in self.resumers:
            timer.join(timeout=5)
        for server in self.pool.live():
            if server.stopped:
                os.kill(server.pid, signal.SIGCONT)
                server.stopped = False
        self.watch()
        log(f"load stopped after {time.monotonic() - began:.0f} s; letting due timers fire and the outbox drain")
        self.settle()
        self.stop_servers()

    def settle(self):
        """Waits until no timer session waits on a timer already due (at most 30 s), and no
        delivery is pending (at most --drain-seconds: a delivery claimed by a killed process is
        taken over once its claim runs out)."""
        began = time.monotonic()
        timers_by = began + 30
        drained_by = began + max(30, self.args.drain_seconds)
        while True:
            rows = psql(self.url,
                        "SELECT (SELECT COUNT(*) FROM sessions s JOIN flows f ON f.id = s.flow "
                        f"WHERE f.flow_id = '{TIMER_FLOW}' AND s.outcome IS NULL) AS waiting, "
                        "(SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL) AS pending")
            waiting, pending = int(rows[0]["waiting"]), int(rows[0]["pending"])
            now = time.monotonic()
            if (waiting == 0 or now >= timers_by) and (pending == 0 or now >= drained_by):
                break
            if pending:
                # A dry-run store's outbox is dispatched after requests: keep a little traffic
                # going, so that rows a killed process claimed are taken over once the claim
                # runs out (a session of the timer flow, started and completed).
                self.nudge()
                timers_by = max(timers_by, time.monotonic() + TIMER_SECONDS + 10)
            time.sleep(1)
        self.settled = time.monotonic() - began
        log(f"settled in {self.settled:.0f} s: {waiting} timer sessions still waiting, {pending} deliveries pending")

    def stop_servers(self):
        self.exits = []
        for server in self.pool.live():
            server.process.send_signal(signal.SIGTERM)
        for server in list(self.pool.servers.values()):
            if server.killed:
                continue
            try:
                server.exit_status = server.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                where = self.hang_report(server)
                server.process.kill()
                server.process.wait()
                server.exit_status = f"none: still running 30 s after SIGTERM ({where}); killed"
            self.exits.append(server)

    def hang_report(self, server):
        """What a server that does not exit is doing: its state, and its threads' stacks (gdb)."""
        path = server.log_path.replace(".log", ".hang.txt")
        with open(path, "w") as out:
            try:
                with open(f"/proc/{server.pid}/status") as status:
                    state = next((line.split(":", 1)[1].strip() for line in status if line.startswith("State:")), "?")
            except OSError:
                state = "?"
            out.write(f"{server.name} pid {server.pid} state {state}\n")
            for task in sorted(os.listdir(f"/proc/{server.pid}/task")):
                try:
                    with open(f"/proc/{server.pid}/task/{task}/comm") as comm, \
                            open(f"/proc/{server.pid}/task/{task}/wchan") as wchan:
                        out.write(f"  thread {task} {comm.read().strip()} wchan {wchan.read().strip()}\n")
                except OSError:
                    pass
            # The database's side: this process's backends (by the ports of its sockets), what
            # they wait on, and who blocks whom.
            ports = self.backend_ports(server.pid)
            out.write(f"its connections to the cluster: local ports {sorted(ports)}\n")
            try:
                for row in psql(self.url, "SELECT pid, client_port, state, wait_event_type, wait_event, "
                                          "pg_blocking_pids(pid) AS blocked_by, now() - xact_start AS in_transaction, "
                                          "now() - state_change AS in_state, left(query, 200) AS query "
                                          "FROM pg_stat_activity WHERE datname = 'flowengine' "
                                          "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
                                          "ORDER BY client_port"):
                    mine = "*" if row.get("client_port") and int(row["client_port"]) in ports else " "
                    out.write(f" {mine} backend {row}\n")
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                out.write(f"pg_stat_activity could not be read: {error}\n")
            out.flush()
            debugger = shutil.which("gdb")
            if debugger:
                try:
                    subprocess.run([debugger, "-p", str(server.pid), "-batch", "-ex", "thread apply all bt 40"],
                                   stdout=out, stderr=subprocess.STDOUT, timeout=180)
                except subprocess.TimeoutExpired:
                    out.write("gdb timed out\n")
        log(f"{server.name} (pid {server.pid}, state {state}) did not exit on SIGTERM: stacks in {path}")
        return f"process state {state}, stacks in {path}"

    def cleanup(self):
        """Whatever happened: no server left running, the cluster stopped."""
        with self.pool.lock:
            servers = list(self.pool.servers.values()) + self.pool.retired
        for server in servers:
            if server.process.poll() is None:
                try:
                    os.kill(server.pid, signal.SIGCONT)
                    server.process.kill()
                    server.process.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass

    # -- checks --------------------------------------------------------------------------------

    def checks(self):
        results = []

        def check(name, ok, summary, details=()):
            results.append((name, ok, summary, list(details)))

        audit = psql(self.url, "SELECT id, session, kind, outcome, detail FROM audit "
                               "WHERE kind IN ('step', 'timer') ORDER BY id")
        sessions = {row["id"]: row for row in psql(
            self.url, "SELECT s.id, s.seq, s.state, s.outcome, f.flow_id FROM sessions s "
                      "JOIN flows f ON f.id = s.flow")}
        steps = {}  # session -> [(audit id, kind, seq, outcome, detail)]
        malformed = []
        for row in audit:
            match = SEQ.search(row["detail"])
            if match:
                seq = int(match.group(1))
            elif row["kind"] == "timer" and row["outcome"] == "rejected":
                seq = None  # a refused timer is spent: it takes a seq its detail does not name
            else:
                malformed.append(f"audit {row['id']} ({row['kind']}, session {row['session']}): "
                                 f"no '(seq N)' at the end of {row['detail']!r}")
                continue
            steps.setdefault(row["session"], []).append(
                (int(row["id"]), row["kind"], seq, row["outcome"], row["detail"]))

        # 1. Every acknowledged step is audited exactly once, as a step with its seq.
        bad = []
        for sid, seq in sorted(self.acknowledged, key=lambda p: (str(p[0]), p[1] or 0)):
            found = [e for e in steps.get(sid, []) if e[1] == "step" and e[2] == seq]
            if len(found) != 1:
                bad.append(f"acknowledged session {sid} seq {seq}: {len(found)} step entries with that seq; "
                           f"the session's entries: {self.entries(sid, steps)}")
        check("acknowledged steps", not bad and not malformed,
              f"{len(self.acknowledged)} acknowledged (session, seq), each with exactly one step entry"
              + (f"; {len(malformed)} entries without their seq" if malformed else ""),
              bad + malformed)

        # 2. Per session: seqs 1..N in audit order (steps and timer firings), N = stored seq.
        bad = []
        counted = 0
        for sid, row in sessions.items():
            entries = steps.get(sid, [])
            seqs = []
            for _, kind, seq, _, _ in entries:
                seqs.append(seq if seq is not None else (seqs[-1] + 1 if seqs else 1))
            counted += len(seqs)
            stored = int(row["seq"])
            if seqs != list(range(1, len(seqs) + 1)):
                bad.append(f"session {sid} ({row['flow_id']}): seqs in audit order {seqs}, not 1..{len(seqs)}: "
                           f"{self.entries(sid, steps)}")
            elif stored != len(seqs):
                bad.append(f"session {sid} ({row['flow_id']}): stored seq {stored}, but {len(seqs)} "
                           f"audited steps: {self.entries(sid, steps)}")
        orphans = sorted(set(steps) - set(sessions))
        for sid in orphans[:20]:
            bad.append(f"audit entries for session {sid}, which the sessions table does not hold")
        check("step sequences", not bad,
              f"{len(sessions)} sessions, {counted} step and timer entries: seqs 1..N in audit order, "
              f"no gap or repeat, each session's stored seq is N", bad)

        # 3. Timers: each timer session ended once, by its timer or by go, never both or twice.
        bad = []
        fired = completed = open_ = twice = 0
        timer_sessions = {sid: row for sid, row in sessions.items() if row["flow_id"] == TIMER_FLOW}
        for sid, row in timer_sessions.items():
            entries = steps.get(sid, [])
            timers = [e for e in entries if e[1] == "timer"]
            fired_entries = [e for e in timers if e[3] != "rejected"]
            gos = [e for e in entries if e[1] == "step" and e[4].startswith("go:")]
            go = self.timer_sessions.get(sid, {}).get("go")
            problem = None
            if len(timers) > 1:
                twice += 1
                problem = f"the timer fired {len(timers)} times"
            elif fired_entries and gos:
                problem = "both the timer fired and go was taken"
            elif fired_entries:
                fired += 1
                if fired_entries[0][3] != "expired" or row["state"] != "timedOut":
                    problem = (f"the timer fired with outcome {fired_entries[0][3]!r}, the session is in "
                               f"{row['state']!r}")
                elif go == "acknowledged":
                    problem = "the timer fired, but go was acknowledged"
            elif gos:
                completed += 1
                if row["state"] != "done":
                    problem = f"go was taken, but the session is in {row['state']!r}"
            elif timers:
                problem = f"the timer was refused: {timers[0][4]!r}"
            else:
                open_ += 1
                problem = f"the timer fell due and never fired (state {row['state']!r}, seq {row['seq']})"
            if problem:
                bad.append(f"timer session {sid}: {problem}; go {go or 'never sent'}; entries "
                           f"{self.entries(sid, steps)}")
        check("timers", not bad,
              f"{len(timer_sessions)} timer sessions: {fired} fired once, {completed} completed by go, "
              f"{twice} fired twice, {open_} never fired", bad)

        # 4. Deliveries: no key handed over with two contents.
        rows = psql(self.url, "SELECT key, COUNT(*) AS attempts, COUNT(DISTINCT digest) AS digests "
                              "FROM delivery_attempts GROUP BY key")
        bad = [f"delivery key {r['key']}: {r['digests']} different digests in {r['attempts']} attempts"
               for r in rows if int(r["digests"]) > 1]
        check("deliveries", not bad,
              f"{len(rows)} delivery keys, {sum(int(r['attempts']) for r in rows)} hand-overs, "
              f"{len(bad)} keys with two digests", bad)

        # 4b. The outbox drained: every queued delivery handed over, to the inbox once.
        row = psql(self.url, """SELECT
            (SELECT COUNT(*) FROM outbox) AS total,
            (SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL) AS pending,
            (SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL) AS failed,
            (SELECT COUNT(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM inbox i WHERE i.key = o.key)) AS missing,
            (SELECT COUNT(*) FROM outbox o
              WHERE NOT EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.key = o.key)) AS unattempted,
            (SELECT COUNT(*) FROM (SELECT DISTINCT key FROM delivery_attempts) d
              WHERE d.key NOT IN (SELECT key FROM outbox)) AS strays,
            (SELECT COUNT(*) FROM (SELECT key FROM delivery_attempts GROUP BY key HAVING COUNT(*) > 1) t) AS again""")[0]
        counts = {name: int(value) for name, value in row.items()}
        bad = []
        if counts["pending"]:
            bad.append(f"{counts['pending']} deliveries still pending {self.settled:.0f} s after the load")
        if counts["failed"]:
            bad.append(f"{counts['failed']} deliveries given up (failed_at set)")
        if counts["missing"] - counts["pending"] - counts["failed"] > 0:
            bad.append(f"{counts['missing'] - counts['pending'] - counts['failed']} delivered outbox rows are not in the inbox")
        if counts["unattempted"] - counts["pending"] > 0:
            bad.append(f"{counts['unattempted'] - counts['pending']} outbox rows marked delivered were never handed over")
        if counts["strays"]:
            bad.append(f"{counts['strays']} delivery keys handed over that the outbox does not hold")
        if bad:
            for sample in psql(self.url, "SELECT key, channel, attempts, delivered_at, failed_at, next_attempt_at, "
                                         "claimed_until FROM outbox WHERE delivered_at IS NULL LIMIT 10"):
                bad.append(f"outbox row {sample}")
        check("outbox", not bad,
              f"{counts['total']} deliveries queued, {counts['total'] - counts['pending'] - counts['failed']} "
              f"handed over ({counts['again']} twice, with the same contents), {counts['pending']} pending, "
              f"{counts['failed']} given up", bad)

        # 5. Idempotency: one step per key; replays byte for byte; no unexplained 409.
        bad = list(self.problems["replay"]) + list(self.problems["conflict"])
        try:
            kept = psql(self.url, "SELECT key, status FROM idempotency")
        except RuntimeError as error:
            kept = None
            bad.append(f"the idempotency table could not be read: {error}")
        stepped_keys = 0
        if kept is not None:
            ok_keys = {}
            for row in kept:
                if row["key"] in self.keys and row["status"] == "200":
                    ok_keys.setdefault(self.keys[row["key"]], set()).add(row["key"])
            for sid in self.team_sessions:
                row = sessions.get(sid)
                if row is None:
                    bad.append(f"team session {sid} was acknowledged but is not in the sessions table")
                    continue
                events = [e for e in steps.get(sid, []) if e[1] == "step" and not e[4].startswith("(start)")]
                keys = ok_keys.get(sid, set())
                stepped_keys += len(keys)
                if len(events) != len(keys):
                    bad.append(f"team session {sid}: {len(events)} event steps but {len(keys)} keys answered "
                               f"200 in the idempotency table: {self.entries(sid, steps)}")
            # Keyed starts: every team session in the store is one a client was answered, but
            # for starts given up unanswered (each may have started one).
            stored_team = [sid for sid, row in sessions.items() if row["flow_id"] == TEAM_FLOW]
            unanswered = [sid for sid in stored_team if sid not in self.team_sessions]
            if len(unanswered) > self.counters["unanswered-starts"]:
                bad.append(f"{len(unanswered)} team sessions no client was answered for, but only "
                           f"{self.counters['unanswered-starts']} starts went unanswered: "
                           f"{unanswered[:10]}")
            answered_200 = {r["key"] for r in kept if r["status"] == "200"}
            for key, raw in self.answers.items():
                if key in self.keys and key not in answered_200:
                    bad.append(f"key {key} was answered 200 but the idempotency table has no 200 for it")
                    if len(bad) > 50:
                        break
        check("idempotency", not bad,
              f"{len(self.team_sessions)} team sessions, each started once by its key; "
              f"{stepped_keys} keyed steps, one step per key; "
              f"{self.counters['replay-probes']} replays probed, {len(self.problems['replay'])} differed; "
              f"{len(self.problems['conflict'])} unexplained 409s", bad)

        # 6. Answers the API promises.
        bad = list(self.problems["unexpected"])
        check("answers", not bad,
              f"{self.counters['requests']} requests: {self.counters['lost']} answers lost, "
              f"{self.counters['5xx']} 5xx, {self.counters['retries']} retries, {self.counters['given-up']} given up, "
              f"{self.counters['409']} 409, {self.counters['410']} 410, {self.counters['422']} 422; "
              f"{len(bad)} unexpected", bad)

        # 7. SIGTERM: exit 0.
        bad = [f"{s.name} (pid {s.pid}) on SIGTERM: exit status {s.exit_status}" for s in self.exits
               if s.exit_status != 0] + list(self.problems["exits"])
        check("clean exits", not bad and bool(self.exits),
              f"{sum(1 for s in self.exits if s.exit_status == 0)} of {len(self.exits)} servers exited 0 "
              f"on SIGTERM ({self.faults['kill -9']} killed with -9 before, "
              f"{len(self.problems['exits'])} ended by themselves)", bad)
        return results

    @staticmethod
    def entries(sid, steps):
        found = steps.get(sid, [])
        shown = "; ".join(f"#{e[0]} {e[1]} {e[3]} {e[4]!r}" for e in found[:12])
        return shown + (f"; … {len(found) - 12} more" if len(found) > 12 else "")


def tail(path, lines=20):
    """The last lines of a log, and before them its last warnings and errors."""
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    every = text.splitlines()
    last = every[-lines:] if lines else []
    earlier = every[:-lines] if lines else every
    serious = [line for line in earlier
               if re.search(r"\b(warning|error|critical|fatal)\b|Fatal error|panic", line, re.I)][-max(lines, 3):]
    return "\n".join(serious + (["…"] if serious and last else []) + last)


def main():
    global PSQL
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("flowctl")
    parser.add_argument("--seconds", type=int, required=True, help="how long the load and faults run")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--processes", type=int, default=3, help="flowctl serve processes")
    parser.add_argument("--report", help="also write the results here, as JSON")
    parser.add_argument("--clients", type=int, default=8, help="threads driving team-member sessions")
    parser.add_argument("--timer-clients", type=int, default=2, help="threads starting timer sessions")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for one answer")
    parser.add_argument("--tries", type=int, default=20, help="tries of one request before giving up")
    parser.add_argument("--request-budget", type=float, default=45.0,
                        help="seconds one request may take, retries included, before it is given up")
    parser.add_argument("--replay-probability", type=float, default=0.1)
    parser.add_argument("--fault-gap", type=float, nargs=2, default=(1.0, 4.0), metavar=("MIN", "MAX"),
                        help="seconds between faults (uniform)")
    parser.add_argument("--drain-seconds", type=float, default=75.0,
                        help="how long to wait, after the load, for pending deliveries (a killed "
                             "process's claim runs out after 60 s)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's folder")
    args = parser.parse_args()
    if args.processes < 2:
        parser.error("--processes must be 2 or more (faults keep one server answering)")
    if not os.access(args.flowctl, os.X_OK):
        parser.error(f"{args.flowctl} is not an executable")
    PSQL = find_psql()

    def interrupted(signum, frame):
        raise Interrupted(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 PID: every thread's stack, on stderr
    harness = Harness(args)
    print(f"fault harness: {args.seconds} s, seed {args.seed}, {args.processes} servers, "
          f"{args.clients}+{args.timer_clients} clients, {harness.flowctl}", flush=True)
    results = []
    error = None
    try:
        harness.run()
        results = harness.checks()
    except (Exception, KeyboardInterrupt, Interrupted) as failure:
        error = f"{type(failure).__name__}: {failure}"
    finally:
        harness.cleanup()
        failed = error is not None or any(not ok for _, ok, _, _ in results)
        harness.cluster.stop(remove=not failed and not args.keep)

    lines = []
    for name, ok, summary, details in results:
        lines.append(f"{'✓' if ok else '✗'} {name}: {summary}")
        for detail in details[:15]:
            lines.append(f"    {detail}")
        if len(details) > 15:
            lines.append(f"    … {len(details) - 15} more")
    if error:
        lines.append(f"✗ the run did not complete: {error}")
    faults = harness.faults
    lines.append(
        f"faults injected: {faults['kill -9']} kill -9 ({faults['replacements']} replacements), "
        f"{faults['SIGSTOP']} SIGSTOP, {faults['backend terminations']} backend terminations "
        f"({faults['backends terminated']} backends); steps checked: {len(harness.acknowledged)} acknowledged "
        f"({harness.counters['team-sessions']} team sessions, {harness.counters['team-saved']} saved; "
        f"{harness.counters['timer-sessions']} timer sessions, {harness.counters['go-acknowledged']} go of "
        f"{harness.counters['go-sent']} sent); seed {args.seed}; logs in {harness.work}")
    passed = sum(1 for _, ok, _, _ in results if ok)
    failed_count = sum(1 for _, ok, _, _ in results if not ok) + (1 if error else 0)
    if failed_count:
        with harness.pool.lock:
            servers = list(harness.pool.retired) + list(harness.pool.servers.values())
        for server in servers:
            if server.killed and server.exit_status is None:
                # Killed on purpose: only its last warnings and errors, if any.
                serious = tail(server.log_path, 0).splitlines()[-3:]
                lines.append(f"--- {server.name} (pid {server.pid}, killed with -9): {server.log_path}"
                             + (", last warnings:" if serious else ""))
            else:
                serious = tail(server.log_path, 10).splitlines()
                lines.append(f"--- {server.name} (pid {server.pid}, exit {server.exit_status}): "
                             f"{server.log_path}, last lines:")
            lines.extend("    " + line for line in serious)
    lines.append(f"{passed} passed, {failed_count} failed")
    print("\n".join(lines), flush=True)
    if args.report:
        with open(args.report, "w") as out:
            json.dump({"seed": args.seed, "seconds": args.seconds, "processes": args.processes,
                       "passed": passed, "failed": failed_count, "error": error,
                       "checks": [{"name": n, "ok": ok, "summary": s, "details": d[:200]} for n, ok, s, d in results],
                       "faults": faults, "counters": harness.counters,
                       "acknowledged": len(harness.acknowledged), "work": harness.work,
                       "lines": lines}, out, indent=2)
    sys.exit(1 if failed_count else 0)


if __name__ == "__main__":
    main()
