#!/usr/bin/env python3
"""The page at / of `flowctl serve`, in a real headless Chromium (Selenium).

Starts `flowctl serve` on a dry-run store of examples/team.yaml (a free loopback port), signs
in on the page as Ada, starts the own-number flow for herself and clicks through it as
flows/update-own-2fa-phone.yaml allows: disable 2FA, the code sent to the current number,
the new number, save, enable 2FA, the code sent to the new number, outcome completed. The
codes are read off the dry-run inbox through the API, never through the page. At every state
it takes a screenshot (NN-STATE.png), waits for the state on the page, the highlighted node
of the diagram and a longer live trace (the stream), and checks that the page holds no full
phone number and no delivered code. It also checks that every flow's diagram draws all its
states, that the page loads nothing from elsewhere, never asks for the dev inbox and keeps
the token out of storage and cookies.

Needs chromium and chromium-driver (Debian packages: /usr/bin/chromium, /usr/bin/chromedriver)
and Selenium (pip install selenium).

Usage: scripts/browser-test.py FLOWCTL [--screenshots DIR] [--readme-shot FILE]
Prints one line per check and ends with `N passed, M failed`; exits 1 on any failure.
"""
import argparse
import glob
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    sys.exit("browser-test: needs Selenium (pip install selenium), chromium and chromium-driver")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD_NUMBER = "+15550100001"  # Ada's number in examples/team.yaml
NEW_NUMBER = "+15550109999"
OWN_FLOW = "update-own-2fa-phone"
TEAM_FLOW = "update-team-member-2fa-phone"
WAIT = 10  # seconds, for anything the page shows


class Abort(Exception):
    """A step the rest of the walk depends on failed."""


class CodeSentTo:
    """A payload value: the newest code delivered to a number."""

    def __init__(self, number):
        self.number = number


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok    {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""), flush=True)
        return ok


class Server:
    """`flowctl serve` on a free loopback port, on a fresh dry-run store of the team world."""

    def __init__(self, flowctl, folder):
        self.flowctl = flowctl
        self.store = os.path.join(folder, "team.sqlite")
        self.key = os.path.join(folder, "auth.key")
        self.log = os.path.join(folder, "serve.log")
        subprocess.run(
            [flowctl, "store", "init", self.store, "--world", "examples/team.yaml"],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        with open(self.key, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        self.stderr = open(self.log, "wb")
        self.process = subprocess.Popen(
            [flowctl, "serve", "--store", self.store, "--flows", "flows", "--auth-key", self.key,
             "--listen", "127.0.0.1:0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr)
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline().decode() if ready else ""
        prefix = "listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            self.stop()
            raise RuntimeError(f"serve did not start: {line!r}\n{self.log_text()}")
        self.base = line.strip().removeprefix("listening on ")
        # Keep reading stdout so that the server never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def token(self, user):
        minted = subprocess.run([self.flowctl, "token", user, "--auth-key", self.key],
                                cwd=ROOT, check=True, capture_output=True, text=True)
        return minted.stdout.strip()

    def get(self, path, token):
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def inbox(self, destination, token, checks=None):
        """The messages delivered to destination, asked for with the + URL-encoded (%2B)."""
        path = "/v1/dev/inbox/" + urllib.parse.quote(destination, safe="")
        status, body = self.get(path, token)
        if status != 200:
            raise Abort(f"GET {path}: HTTP {status} {body}")
        if checks is not None:
            checks.check(f"GET {path} decodes the destination",
                         body.get("destination") == destination,
                         f"it answered for destination {body.get('destination')!r}")
        if body.get("destination") != destination:
            # Read on with the + as it is (legal in a path) so that the walk can go on.
            status, body = self.get("/v1/dev/inbox/" + destination, token)
        return body.get("messages", [])

    def stop(self):
        """SIGTERM, then the exit status (killed after 20 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return None
        return self.process.returncode

    def log_text(self):
        self.stderr.flush()
        with open(self.log, errors="replace") as file:
            return file.read()


def browser():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"]:
        options.add_argument(argument)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)
    # The viewport itself 1400x1000, whatever the window's decorations take.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    return driver


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("flowctl", help="the flowctl binary, e.g. .build/debug/flowctl")
    parser.add_argument("--screenshots", default=os.path.join(ROOT, ".build/reports/screenshots"),
                        help="where NN-STATE.png go (default .build/reports/screenshots)")
    parser.add_argument("--readme-shot", help="also save the page mid-way (editingPhone) here")
    args = parser.parse_args()
    flowctl = os.path.abspath(args.flowctl)
    shots = os.path.abspath(args.screenshots)
    os.makedirs(shots, exist_ok=True)
    for old in glob.glob(os.path.join(shots, "[0-9][0-9]-*.png")):
        os.remove(old)

    checks = Checks()
    folder = tempfile.mkdtemp(prefix="flow-browser-")
    try:
        server = Server(flowctl, folder)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        checks.check("flowctl serve starts", False, str(error))
        print(f"{checks.passed} passed, {checks.failed} failed")
        return 1
    print(f"flowctl serve at {server.base} (store {server.store})", flush=True)
    driver = None
    try:
        driver = browser()
        walk(driver, server, checks, shots, args.readme_shot)
    except Abort as error:
        checks.check("the walk through the page", False, str(error))
    except (WebDriverException, urllib.error.URLError) as error:
        checks.check("the browser and the service", False, f"{type(error).__name__}: {error}")
    finally:
        if driver is not None:
            driver.quit()
        status = server.stop()
        checks.check("flowctl serve exits 0 on SIGTERM", status == 0,
                     "still running 20 s after SIGTERM (killed)" if status is None
                     else f"exit status {status}")
    if checks.failed:
        print("--- flowctl serve stderr ---")
        print(server.log_text().rstrip("\n"))
        print("--- end of flowctl serve stderr ---")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


def wait_for(driver, what, condition):
    """Waits up to WAIT seconds for condition(driver) to be truthy; Abort otherwise."""
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise Abort(f"timed out after {WAIT} s waiting for {what}") from None


def text_of(driver, element_id):
    found = driver.find_elements(By.ID, element_id)
    return found[0].text.strip() if found else None


def current_node(driver):
    nodes = driver.find_elements(By.CSS_SELECTOR, "g.state.current")
    return [node.get_attribute("data-state") for node in nodes]


def trace_rows(driver):
    return len(driver.find_elements(By.CSS_SELECTOR, "#trace > li"))


def walk(driver, server, checks, shots, readme_shot):
    token = server.token("ada")
    status, listing = server.get("/v1/flows", token)
    if status != 200:
        raise Abort(f"GET /v1/flows: HTTP {status} {listing}")
    flows = {flow["id"]: flow for flow in listing["flows"]}

    # Sign-in: a dry-run store lists its users.
    driver.get(server.base + "/")
    picker = wait_for(driver, "the sign-in picker (select#user)",
                      lambda d: d.find_elements(By.CSS_SELECTOR, "select#user option"))
    users = [option.get_attribute("value") for option in picker]
    checks.check("the page offers the dry-run store's users to sign in as",
                 {"ada", "alan", "tess", "mia", "gus", "gina"} <= set(users), f"got {users}")
    Select(driver.find_element(By.ID, "user")).select_by_value("ada")
    driver.find_element(By.ID, "signin").click()
    wait_for(driver, "the flow list", lambda d: d.find_elements(By.CSS_SELECTOR, "li.flow"))
    shown = [item.get_attribute("data-flow")
             for item in driver.find_elements(By.CSS_SELECTOR, ".flow[data-flow]")]
    checks.check("the page lists the flows GET /v1/flows lists",
                 sorted(shown) == sorted(flows), f"page {shown}, API {sorted(flows)}")
    for flow_id in [TEAM_FLOW] + sorted(set(flows) - {TEAM_FLOW}):
        drawn = driver.find_elements(By.CSS_SELECTOR, f'.flow[data-flow="{flow_id}"] g.state')
        names = sorted(node.get_attribute("data-state") for node in drawn)
        checks.check(f"the diagram of {flow_id} draws its {len(flows[flow_id]['states'])} states",
                     names == sorted(flows[flow_id]["states"]), f"drawn {names}")

    # Start the own-number flow for herself (target empty).
    driver.find_element(By.CSS_SELECTOR, f'.flow[data-flow="{OWN_FLOW}"]').click()
    target = Select(driver.find_element(By.ID, "target"))
    target.select_by_value("")
    driver.find_element(By.ID, "start").click()

    codes = []  # every code delivered so far, read off the inbox through the API
    # (event, payload, the state it leads to), as flows/update-own-2fa-phone.yaml allows them;
    # a payload value CodeSentTo(number) is the newest code delivered to that number.
    steps = [
        (None, {}, "securityCenter"),
        ("disable2FA", {}, "verifyingCurrentNumber"),
        ("submitCode", {"code": CodeSentTo(OLD_NUMBER)}, "editingPhone"),
        ("editPhone", {"phone": NEW_NUMBER}, "phoneEdited"),
        ("save", {}, "phoneSaved"),
        ("enable2FA", {}, "verifyingNewNumber"),
        ("submitCode", {"code": CodeSentTo(NEW_NUMBER)}, "completed"),
    ]
    declared = {event["event"]: sorted(field["name"] for field in event["payload"])
                for event in flows[OWN_FLOW]["events"]}
    wrong = [event for event, payload, _ in steps
             if event is not None and declared.get(event) != sorted(payload)]
    checks.check(f"the steps use events {OWN_FLOW} declares, with their payload fields",
                 not wrong, f"not as declared: {wrong}; the flow declares {declared}")
    finals = flows[OWN_FLOW].get("finals", {})
    checks.check("GET /v1/flows gives the flow's start, finals and transitions",
                 flows[OWN_FLOW].get("start") == "checkingAccess"
                 and finals.get("completed") == "completed"
                 and bool(flows[OWN_FLOW].get("transitions")),
                 f"start {flows[OWN_FLOW].get('start')!r}, finals {finals!r}")
    rows = 0
    inbox_sizes = {OLD_NUMBER: 0, NEW_NUMBER: len(server.inbox(NEW_NUMBER, token, checks))}
    for number, (event, payload, state) in enumerate(steps, start=1):
        if event is not None:
            form = wait_for(driver, f"the form of {event}", lambda d: d.find_elements(
                By.CSS_SELECTOR, f'form.event[data-event="{event}"]'))[0]
            for name, value in payload.items():
                if isinstance(value, CodeSentTo):
                    value = fresh_code(server, token, value.number, inbox_sizes, codes)
                form.find_element(By.NAME, name).send_keys(value)
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        try:
            wait_for(driver, f"#state to show {state}", lambda d: text_of(d, "state") == state)
            wait_for(driver, f"the diagram to highlight {state}",
                     lambda d: current_node(d) == [state])
            wait_for(driver, "the live trace to grow", lambda d: trace_rows(d) > rows)
        finally:
            driver.save_screenshot(os.path.join(shots, f"{number:02d}-{state}.png"))
        rows = trace_rows(driver)
        checks.check(f"{number:02d} {state}: shown, highlighted in the diagram, trace grew to "
                     f"{rows} rows", True)
        known_codes(server, token, codes)
        no_secrets(driver, checks, state, codes)
        if state == "editingPhone" and readme_shot:
            driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.3)
            os.makedirs(os.path.dirname(os.path.abspath(readme_shot)), exist_ok=True)
            driver.save_screenshot(os.path.abspath(readme_shot))
            print(f"      README screenshot: {readme_shot}", flush=True)

    outcome = text_of(driver, "outcome")
    checks.check("the final state shows outcome completed", outcome == "completed",
                 f"#outcome is {outcome!r}")
    forms = driver.find_elements(By.CSS_SELECTOR, "form.event")
    checks.check("a final session offers no events", not forms, f"{len(forms)} forms")
    session_id = text_of(driver, "session-id")
    status, session = server.get(f"/v1/sessions/{urllib.parse.quote(session_id or '-')}", token)
    checks.check("the API agrees: the session is final with outcome completed",
                 status == 200 and session.get("final") is True
                 and session.get("outcome") == "completed", f"HTTP {status} {session}")

    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)")
    foreign = [url for url in resources if not url.startswith(server.base + "/")]
    checks.check("the page loads nothing from another origin", not foreign, f"{foreign}")
    inbox = [url for url in resources if "/v1/dev/inbox" in url]
    checks.check("the page never asks for the dev inbox", not inbox, f"{inbox}")
    kept = driver.execute_script(
        "return [localStorage.length, sessionStorage.length, document.cookie]")
    checks.check("the token is kept in memory only (no storage, no cookie)",
                 kept == [0, 0, ""], f"localStorage, sessionStorage, cookie: {kept}")
    # The browser's own request for /favicon.ico is not the page's doing (the page links no
    # icon: the service's Content-Security-Policy allows no data: images).
    errors = [entry["message"] for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]
    checks.check("the browser console has no errors", not errors, "; ".join(errors))


def fresh_code(server, token, destination, inbox_sizes, codes):
    """The newest code delivered to destination, once a new message has arrived there."""
    deadline = time.monotonic() + WAIT
    while True:
        messages = server.inbox(destination, token)
        with_code = [message for message in messages if message.get("code")]
        if len(messages) > inbox_sizes[destination] and with_code:
            inbox_sizes[destination] = len(messages)
            code = with_code[-1]["code"]
            if code not in codes:
                codes.append(code)
            return code
        if time.monotonic() > deadline:
            raise Abort(f"no new code for {destination} in the inbox after {WAIT} s")
        time.sleep(0.2)


def known_codes(server, token, codes):
    """Adds every code delivered by now to the secrets the page must not hold."""
    for destination in (OLD_NUMBER, NEW_NUMBER):
        for message in server.inbox(destination, token):
            if message.get("code") and message["code"] not in codes:
                codes.append(message["code"])


def no_secrets(driver, checks, state, codes):
    source = driver.page_source
    found = [secret for secret in [OLD_NUMBER, NEW_NUMBER] + codes if secret in source]
    values = driver.execute_script(
        "return [...document.querySelectorAll('input')].map((i) => i.value)")
    typed = [secret for secret in [OLD_NUMBER, NEW_NUMBER] + codes
             if any(secret in value for value in values)]
    checks.check(f"   {state}: the page holds no full number and none of the {len(codes)} codes",
                 not found and not typed, f"in the page: {found}, in inputs: {typed}")


if __name__ == "__main__":
    sys.exit(main())
