#!/usr/bin/env python3
"""Crash test of the SQLite store: kill -9 flowctl processes at random moments, many times.

Runs steps of many sessions (team-member sessions editing, saving and notifying; own-number
sessions sending codes) as concurrent `flowctl session` child processes, and kills one with
SIGKILL at a random moment, again and again, starting new ones each time. After every kill it
checks, reading the store file itself:

  1. PRAGMA integrity_check is ok;
  2. every session's seq equals the number of accepted steps the audit holds for it;
  3. every step a process acknowledged (exit 0, its JSON printed) is in the audit exactly once,
     with the seq it reported;
  4. no delivery key was ever handed over with two different contents.

At the end it dispatches what killed processes left queued and checks that every outbox row
was delivered exactly once. Usage: scripts/crash-test.py [--kills N] [--seed S] [--flowctl PATH]
"""
import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--flowctl", default=os.environ.get("FLOWCTL", os.path.join(ROOT, ".build/debug/flowctl")))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"crash test: {args.kills} kills, seed {args.seed}, {args.workers} workers, {args.flowctl}")

    folder = tempfile.mkdtemp(prefix="flow-crash-")
    store = os.path.join(folder, "crash.sqlite")
    run([args.flowctl, "store", "init", store, "--world", os.path.join(ROOT, "examples/team.yaml")])

    acknowledged = []  # (session, seq) reported by processes that exited 0
    sessions = []  # ids of open sessions we keep stepping
    counters = {"started": 0, "steps": 0, "rejected": 0, "conflicts": 0, "killed": 0, "checks": 0}
    running = []  # (process, kind, session)
    last_seq = {}  # session -> the highest seq a process acknowledged
    phone = [0]

    def next_phone():
        phone[0] += 1
        return f"+1555012{phone[0] % 10000:04d}"

    def spawn():
        if not sessions or rng.random() < 0.15:
            if rng.random() < 0.8:
                argv = ["session", "start", os.path.join(ROOT, "flows/update-team-member-2fa-phone.yaml"),
                        "--actor", "ada", "--target", rng.choice(["tess", "mia"])]
            else:
                argv = ["session", "start", os.path.join(ROOT, "flows/update-own-2fa-phone.yaml"),
                        "--actor", rng.choice(["ada", "alan"])]
            kind, session = "start", None
        else:
            session = rng.choice(sessions)
            roll = rng.random()
            if roll < 0.55:
                argv = ["session", "send", session, "editPhone", f"phone={next_phone()}"]
            elif roll < 0.65:
                argv = ["session", "send", session, "disable2FA"]
            elif roll < 0.9:
                argv = ["session", "send", session, "save"]
            else:
                argv = ["session", "send", session, "cancel"]
            kind = "send"
            # Some steps name the seq they expect (the last one acknowledged): racing steps
            # then conflict instead of both applying.
            if session in last_seq and rng.random() < 0.4:
                argv += ["--seq", str(last_seq[session])]
        process = subprocess.Popen([args.flowctl] + argv + ["--store", store, "--json"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        running.append((process, kind, session))

    def reap(process, kind, session, killed):
        out, err = process.communicate()
        if killed:
            counters["killed"] += 1
            return
        status = process.returncode
        if status in (0, 3):
            step = json.loads(out.strip().splitlines()[-1])
            if status == 0:
                acknowledged.append((step["session"], step["seq"]))
                last_seq[step["session"]] = max(last_seq.get(step["session"], 0), step["seq"])
                counters["steps"] += 1
                if kind == "start":
                    counters["started"] += 1
                    if "outcome" not in step:
                        sessions.append(step["session"])
                elif step.get("outcome") and step["session"] in sessions:
                    sessions.remove(step["session"])
            else:
                counters["rejected"] += 1
                if step.get("rejection") in ("session-ended", "session-expired", "facts-changed") and session in sessions:
                    sessions.remove(session)
        elif status == 4:
            counters["conflicts"] += 1
        elif status == 1 and "unknown session" in err:
            # Started by a process killed before it printed its id: never acknowledged.
            pass
        else:
            fail(f"flowctl exited {status}: {err.strip()}")

    kills = 0
    while kills < args.kills:
        while len(running) < args.workers:
            spawn()
        # Let the processes run for a random moment, then kill one of them mid-flight.
        time.sleep(rng.uniform(0.0, 0.12))
        still = []
        for entry in running:
            if entry[0].poll() is not None:
                reap(*entry, killed=False)
            else:
                still.append(entry)
        running[:] = still
        if running:
            victim = rng.choice(running)
            if victim[0].poll() is None:
                victim[0].send_signal(signal.SIGKILL)
                running.remove(victim)
                reap(*victim, killed=victim[0].wait() == -signal.SIGKILL)
                if victim[0].returncode == -signal.SIGKILL:
                    kills += 1
                    check(store, acknowledged, counters)
    for entry in running:
        entry[0].wait()
        reap(*entry, killed=entry[0].returncode == -signal.SIGKILL)
    check(store, acknowledged, counters)
    run([args.flowctl, "store", "dispatch", store])
    final_checks(store)
    print(f"crash test passed: {counters['killed']} kills, {counters['checks']} checks after kills, "
          f"{counters['steps']} acknowledged steps ({counters['started']} starts), "
          f"{counters['rejected']} rejected, {counters['conflicts']} conflicts; seed {args.seed}; store {store}")


def run(argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def fail(message):
    print(f"crash test FAILED: {message}", file=sys.stderr)
    sys.exit(1)


STEP = re.compile(r"\(seq (\d+)\)$")


def check(store, acknowledged, counters):
    counters["checks"] += 1
    # One read transaction: a consistent snapshot while the other processes keep committing.
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30, isolation_level=None)
    try:
        db.execute("BEGIN")
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            fail(f"integrity_check: {integrity}")
        steps = {}
        for session, detail in db.execute("SELECT session, detail FROM audit WHERE kind = 'step'"):
            match = STEP.search(detail)
            if not match:
                fail(f"a step entry without its seq: {detail}")
            steps.setdefault(session, []).append(int(match.group(1)))
        for session, seq in db.execute("SELECT id, seq FROM sessions"):
            seen = sorted(steps.get(session, []))
            if seen != list(range(1, seq + 1)):
                fail(f"session {session} is at seq {seq} but the audit has steps {seen}")
        for session, seq in acknowledged:
            if steps.get(session, []).count(seq) != 1:
                fail(f"acknowledged step {session} seq {seq} is in the audit {steps.get(session, []).count(seq)} times")
        twice = db.execute(
            "SELECT key FROM delivery_attempts GROUP BY key HAVING COUNT(DISTINCT digest) > 1").fetchall()
        if twice:
            fail(f"delivery keys sent with different contents: {twice}")
    finally:
        db.close()


def final_checks(store):
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        pending = db.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0]
        if pending:
            fail(f"{pending} deliveries still pending after dispatch")
        missing = db.execute(
            "SELECT COUNT(*) FROM outbox WHERE key NOT IN (SELECT key FROM inbox)").fetchone()[0]
        if missing:
            fail(f"{missing} outbox rows never reached the inbox")
        handed = db.execute("SELECT COUNT(DISTINCT key) FROM delivery_attempts").fetchone()[0]
        if handed != db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]:
            fail("a delivery was handed over that the outbox does not hold, or one was never handed over")
        print(f"outbox: {db.execute('SELECT COUNT(*) FROM outbox').fetchone()[0]} deliveries, all delivered once; "
              f"{db.execute('SELECT COUNT(*) FROM delivery_attempts').fetchone()[0]} hand-overs")
    finally:
        db.close()


if __name__ == "__main__":
    main()
