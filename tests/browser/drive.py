#!/usr/bin/env python3
"""Drives a real headless Chromium over the Chrome DevTools Protocol (CDP).

The end-to-end tests (`tests/harness/browser.rs`) run this to use the
server-rendered pages as a person would: open a link, fill fields, click the
submit button, read the page that comes back. `chromium --dump-dom` cannot
click, hence this small CDP client (websocket-client, which scripts/test
installs with pip).

Input, on stdin: a JSON array of steps, run in order in one tab:

    {"viewport": {"width": 375, "height": 740, "mobile": true}}
    {"open": "http://..."}        navigate, wait for the load event
    {"fill": {"selector": "input[name=password]", "text": "..."}}
                                  focus the field, select what it holds, type
                                  `text` (Input.insertText): it replaces the value
    {"click": "button[type=submit]"}
                                  a real mouse click at the element's centre, then
                                  wait for the navigation it starts (if one starts
                                  within 10 s) and for the new document's load
    {"text": null}                document.body.innerText
    {"html": null}                document.documentElement.outerHTML
    {"eval": "js expression"}     the expression's value (awaited, by value)
    {"cookies": null}             the tab's cookies (Network.getCookies)

Output, on stdout, one JSON object:

    {"ok": bool, "results": [one per step that ran], "error": "..." (if not ok),
     "missing": "chromium" | "websocket-client" (if that is why),
     "console": ["<level> [<source>] <text> (<url>:<line>)", ...]}

`open` and a navigating `click` give {"navigated": true, "url", "status",
"headers" (names lowercased; repeated ones joined by newlines), "redirects":
[{"url", "status"}, ...]} of the main document; a click that starts no
navigation gives {"navigated": false, "url"}. `fill` gives {"value"}, the
field's value afterwards. `console` has the page's console calls, uncaught
exceptions and the browser's log entries, Content-Security-Policy violations
included: DevTools' own evaluation is not subject to the page's CSP, so it is
never bypassed. Chromium runs with a temporary profile that is removed at
exit; the whole run has a deadline (60 s, or the first argument in seconds).
Exit status 0 if ok, 1 otherwise.
"""

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DEFAULT_DEADLINE = 60.0
NAVIGATION_START = 10.0  # how long a click may take to start a navigation
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--password-store=basic",
    "--mute-audio",
    "--enable-logging=stderr",
    "--v=0",
    "--remote-debugging-port=0",
]


class StepError(Exception):
    """A step that could not be done; the run stops there."""


class Timeout(Exception):
    pass


class Missing(Exception):
    def __init__(self, what, message):
        super().__init__(message)
        self.what = what


def on_alarm(_signum, _frame):
    raise Timeout("the run took longer than its deadline")


def on_term(_signum, _frame):
    raise Timeout("terminated (SIGTERM)")


def die_with_parent():
    """In the child before exec: start a process group of its own (killed
    whole at the end), and be SIGKILLed if this script dies first (e.g. the
    test harness's kill_on_drop), so no Chromium outlives a run."""
    os.setsid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


DIR_PREFIX = "e2e-browser-"


def sweep_stale_dirs():
    """Removes the profiles of runs that were killed before they could (the
    harness kills this script on a timeout): older than 10 minutes, and
    their owner.pid names no live process."""
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if not name.startswith(DIR_PREFIX) or not os.path.isdir(path):
            continue
        try:
            if time.time() - os.path.getmtime(path) < 600:
                continue
            with open(os.path.join(path, "owner.pid"), encoding="utf-8") as f:
                os.kill(int(f.read().strip()), 0)
            continue  # its owner still runs
        except (OSError, ValueError):
            shutil.rmtree(path, ignore_errors=True)


class Chromium:
    """A headless Chromium with a temporary profile."""

    def __init__(self):
        sweep_stale_dirs()
        self.dir = tempfile.mkdtemp(prefix=DIR_PREFIX)
        with open(os.path.join(self.dir, "owner.pid"), "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
        self.profile = os.path.join(self.dir, "profile")
        self.log_path = os.path.join(self.dir, "chromium.log")
        self.proc = None
        self.ws_url = None

    def start(self, deadline):
        binary = os.environ.get("CHROMIUM", "chromium")
        with open(self.log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(
                    [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    preexec_fn=die_with_parent,
                )
            except FileNotFoundError:
                raise Missing(
                    "chromium",
                    f"{binary} is not installed: install it with scripts/install-chromium",
                ) from None
        self.ws_url = self._devtools_url(deadline)

    def _devtools_url(self, deadline):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StepError(f"chromium exited with {self.proc.returncode} before DevTools listened")
            try:
                with open(port_file, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[0].strip() and lines[1].strip():
                    return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise Timeout("chromium did not open its DevTools port")

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                # No D-Bus here: Chromium's complaints about it are noise.
                kept = [l for l in f.read().splitlines() if "dbus" not in l and l.strip()]
            return "\n".join(kept[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.proc is not None:
            # Helpers (zygote, renderers) share the group and may outlive the browser.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Cdp:
    """One websocket to the browser; page commands go with a flat sessionId."""

    def __init__(self, websocket, url, deadline, on_event):
        self.websocket = websocket
        self.ws = websocket.create_connection(url, timeout=10, suppress_origin=True)
        self.deadline = deadline
        self.on_event = on_event
        self.next_id = 0

    def _receive(self, until):
        remaining = min(until, self.deadline) - time.monotonic()
        if remaining <= 0:
            return None
        self.ws.settimeout(remaining)
        try:
            raw = self.ws.recv()
        except self.websocket.WebSocketTimeoutException:
            return None
        message = json.loads(raw)
        if "method" in message:
            self.on_event(message["method"], message.get("params", {}))
        return message

    def call(self, method, params=None, session=None, timeout=30.0):
        self.next_id += 1
        wanted = self.next_id
        message = {"id": wanted, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        until = time.monotonic() + timeout
        while True:
            reply = self._receive(until)
            if reply is None:
                if time.monotonic() >= self.deadline:
                    raise Timeout(f"the run took longer than its deadline (waiting for {method})")
                raise StepError(f"no answer to {method} within {timeout} s")
            if reply.get("id") == wanted:
                if "error" in reply:
                    raise StepError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}".strip())
                return reply.get("result", {})

    def wait(self, done, timeout):
        """Reads events until done() or timeout; returns done()."""
        until = time.monotonic() + timeout
        while not done():
            if self._receive(until) is None and time.monotonic() >= min(until, self.deadline):
                if time.monotonic() >= self.deadline:
                    raise Timeout("the run took longer than its deadline")
                return done()
        return True

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def headers_of(raw):
    return {str(name).lower(): str(value) for name, value in (raw or {}).items()}


class Tab:
    """One page target and what its events told: documents, loads, console."""

    def __init__(self, websocket, ws_url, deadline):
        self.console = []
        self.frame = None  # the main frame's id
        self.commits = []  # loaderIds of main-frame documents, in order
        self.loaded = set()  # loaderIds whose load event fired
        self.requested = 0  # navigations started in the main frame
        self.stopped = 0  # times the main frame stopped loading
        self.responses = {}  # loaderId -> Network response of the document
        self.extra = {}  # requestId -> [responseReceivedExtraInfo params]
        self.redirects = {}  # requestId -> [{url, status}]
        self.failed = {}  # requestId -> errorText
        self.cdp = Cdp(websocket, ws_url, deadline, self.on_event)
        target = self.cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method, params in (
            ("Page.enable", {}),
            ("Page.setLifecycleEventsEnabled", {"enabled": True}),
            ("Network.enable", {}),
            ("Network.setCacheDisabled", {"cacheDisabled": True}),
            ("Runtime.enable", {}),
            ("Log.enable", {}),
        ):
            self.send(method, params)
        self.frame = self.send("Page.getFrameTree")["frameTree"]["frame"]["id"]

    def send(self, method, params=None, timeout=30.0):
        return self.cdp.call(method, params, self.session, timeout)

    # -- events ---------------------------------------------------------

    def on_event(self, method, p):
        if method == "Page.frameNavigated":
            frame = p["frame"]
            if not frame.get("parentId"):
                self.frame = frame["id"]
                self.commits.append(frame.get("loaderId"))
        elif method == "Page.lifecycleEvent":
            if p.get("frameId") == self.frame and p.get("name") == "load":
                self.loaded.add(p.get("loaderId"))
        elif method in ("Page.frameRequestedNavigation", "Page.frameStartedLoading"):
            if p.get("frameId") == self.frame:
                self.requested += 1
        elif method == "Page.frameStoppedLoading":
            if p.get("frameId") == self.frame:
                self.stopped += 1
        elif method == "Network.requestWillBeSent":
            if p.get("type") == "Document" and p.get("redirectResponse"):
                self.redirects.setdefault(p["requestId"], []).append(
                    {"url": p["redirectResponse"].get("url"), "status": p["redirectResponse"].get("status")}
                )
        elif method == "Network.responseReceived":
            if p.get("type") == "Document" and p.get("frameId") == self.frame:
                self.responses[p.get("loaderId")] = dict(p["response"], requestId=p["requestId"])
        elif method == "Network.responseReceivedExtraInfo":
            self.extra.setdefault(p["requestId"], []).append(p)
        elif method == "Network.loadingFailed":
            if p.get("type") == "Document":
                self.failed[p["requestId"]] = p.get("errorText", "failed")
        elif method == "Log.entryAdded":
            e = p["entry"]
            self.console.append(f"{e.get('level')} [{e.get('source')}] {e.get('text')}{where(e)}")
        elif method == "Runtime.consoleAPICalled":
            args = " ".join(describe(a) for a in p.get("args", []))
            self.console.append(f"{p.get('type')} [console] {args}")
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = (d.get("exception") or {}).get("description") or d.get("text")
            self.console.append(f"error [exception] {text}{where(d)}")

    # -- pages ----------------------------------------------------------

    def document(self, loader):
        """What the main document `loader` is: url, status, headers."""
        response = self.responses.get(loader)
        if response is None:
            failures = "; ".join(sorted(set(self.failed.values()))) or "no response (an error page?)"
            raise StepError(f"the page did not load: {failures}")
        request = response["requestId"]
        headers = headers_of(response.get("headers"))
        # The raw headers (Set-Cookie included) come in ExtraInfo; one per hop.
        for extra in reversed(self.extra.get(request, [])):
            if extra.get("statusCode", response.get("status")) == response.get("status"):
                headers = headers_of(extra.get("headers"))
                break
        return {
            "navigated": True,
            "url": response.get("url"),
            "status": response.get("status"),
            "headers": headers,
            "redirects": self.redirects.get(request, []),
        }

    def evaluate(self, expression, by_value=True):
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": by_value, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            d = reply["exceptionDetails"]
            raise StepError(f"{(d.get('exception') or {}).get('description') or d.get('text')}")
        result = reply["result"]
        return result.get("value") if by_value else result

    def call_on(self, obj, function, by_value=True):
        reply = self.send(
            "Runtime.callFunctionOn",
            {"objectId": obj, "functionDeclaration": function, "returnByValue": by_value, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            raise StepError(str(reply["exceptionDetails"].get("text")))
        return reply["result"].get("value")

    # -- steps ----------------------------------------------------------

    def viewport(self, v):
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": int(v["width"]),
                "height": int(v["height"]),
                "deviceScaleFactor": v.get("deviceScaleFactor", 2),
                "mobile": bool(v.get("mobile", False)),
            },
        )
        return None

    def open(self, url):
        reply = self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise StepError(f"cannot open {url}: {reply['errorText']}")
        loader = reply.get("loaderId")
        if loader is None:  # same document (a fragment): nothing loads
            return {"navigated": False, "url": self.evaluate("location.href")}
        self.cdp.wait(lambda: loader in self.loaded, 30)
        if loader not in self.loaded:
            raise StepError(f"{url} did not finish loading within 30 s")
        return self.document(loader)

    def fill(self, f):
        selector, text = f["selector"], f["text"]
        element = self.evaluate(f"document.querySelector({json.dumps(selector)})", by_value=False)
        if element.get("subtype") == "null" or "objectId" not in element:
            raise StepError(f"no element matches {selector}")
        obj = element["objectId"]
        self.call_on(obj, "function() { this.scrollIntoView({block: 'center', inline: 'center'}); }")
        self.send("DOM.focus", {"objectId": obj})
        focused = self.call_on(
            obj,
            "function() { if (typeof this.select === 'function') this.select();"
            " return document.activeElement === this; }",
        )
        if not focused:
            raise StepError(f"{selector} cannot take the focus")
        self.send("Input.insertText", {"text": text})
        return {"value": self.call_on(obj, "function() { return 'value' in this ? this.value : this.textContent; }")}

    def click(self, selector):
        spot = self.evaluate(CLICK_SPOT % json.dumps(selector))
        if "error" in spot:
            raise StepError(spot["error"])
        commits, requested, stopped = len(self.commits), self.requested, self.stopped
        x, y = spot["x"], spot["y"]
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for kind, buttons in (("mousePressed", 1), ("mouseReleased", 0)):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "buttons": buttons, "clickCount": 1},
            )
        started = self.cdp.wait(
            lambda: self.requested > requested or len(self.commits) > commits, NAVIGATION_START
        )
        if not started:
            return {"navigated": False, "url": self.evaluate("location.href")}

        def settled():
            if len(self.commits) > commits:
                return self.commits[-1] in self.loaded
            return self.stopped > stopped  # stopped without a new document (204, download)

        self.cdp.wait(settled, 30)
        if len(self.commits) == commits:
            if self.stopped > stopped:
                return {"navigated": False, "url": self.evaluate("location.href")}
            raise StepError(f"clicking {selector} started a navigation that did not end within 30 s")
        loader = self.commits[-1]
        if loader not in self.loaded:
            raise StepError(f"the page after clicking {selector} did not finish loading within 30 s")
        return self.document(loader)

    def cookies(self):
        return self.send("Network.getCookies")["cookies"]

    def flush(self):
        """A round trip, so events sent before it (console lines) are read."""
        try:
            self.send("Runtime.evaluate", {"expression": "0"}, timeout=5)
        except (StepError, Timeout):
            pass


# Scrolls `selector` into view and finds the point to click, in the visual
# viewport's coordinates (those of Input.dispatchMouseEvent), checking that the
# element is what a click there hits.
CLICK_SPOT = """(selector => {
  const el = document.querySelector(selector);
  if (!el) return {error: "no element matches " + selector};
  el.scrollIntoView({block: "center", inline: "center", behavior: "instant"});
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return {error: selector + " has an empty box (hidden?)"};
  const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
  const hit = document.elementFromPoint(cx, cy);
  if (!hit || !(hit === el || el.contains(hit) || (hit.control && hit.control === el)))
    return {error: selector + " is covered at its centre by " + (hit ? hit.outerHTML.slice(0, 200) : "nothing")};
  const vv = window.visualViewport;
  const scale = vv ? vv.scale : 1, ox = vv ? vv.offsetLeft : 0, oy = vv ? vv.offsetTop : 0;
  return {x: (cx - ox) * scale, y: (cy - oy) * scale};
})(%s)"""


def where(entry):
    """` (url:line)`, the line counted from 1 (CDP counts from 0; 0 is also
    what it gives when it does not know, so no line then)."""
    if not entry.get("url"):
        return ""
    line = entry.get("lineNumber") or 0
    return f" ({entry['url']}:{line + 1})" if line > 0 else f" ({entry['url']})"


def describe(remote):
    if "value" in remote:
        v = remote["value"]
        return v if isinstance(v, str) else json.dumps(v)
    return remote.get("unserializableValue") or remote.get("description") or remote.get("type", "")


def run_step(tab, step):
    if not isinstance(step, dict) or len(step) != 1:
        raise StepError(f"a step is an object with one key: {json.dumps(step)}")
    (kind, arg), = step.items()
    if kind == "viewport":
        return tab.viewport(arg)
    if kind == "open":
        return tab.open(arg)
    if kind == "fill":
        return tab.fill(arg)
    if kind == "click":
        return tab.click(arg)
    if kind == "text":
        return tab.evaluate("document.body ? document.body.innerText : ''")
    if kind == "html":
        return tab.evaluate("document.documentElement.outerHTML")
    if kind == "eval":
        return tab.evaluate(arg)
    if kind == "cookies":
        return tab.cookies()
    raise StepError(f"unknown step {kind!r}")


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEADLINE
    out = {"ok": False, "results": [], "console": []}
    chromium = tab = None
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    deadline = time.monotonic() + seconds
    step_index = None
    try:
        steps = json.load(sys.stdin)
        if not isinstance(steps, list):
            raise StepError("stdin must hold a JSON array of steps")
        try:
            import websocket  # websocket-client
        except ImportError:
            raise Missing(
                "websocket-client",
                "the Python package websocket-client is missing: "
                "pip install websocket-client (scripts/test does)",
            ) from None
        chromium = Chromium()
        chromium.start(deadline)
        tab = Tab(websocket, chromium.ws_url, deadline)
        for step_index, step in enumerate(steps):
            out["results"].append(run_step(tab, step))
        step_index = None
        out["ok"] = True
    except Missing as e:
        out["error"], out["missing"] = str(e), e.what
    except (StepError, Timeout) as e:
        where = f"step {step_index} {json.dumps(steps[step_index])[:200]}: " if step_index is not None else ""
        out["error"] = f"{where}{e}"
    except Exception as e:  # noqa: BLE001 - reported, never a traceback instead of JSON
        where = f"step {step_index}: " if step_index is not None else ""
        out["error"] = f"{where}{type(e).__name__}: {e}"
    finally:
        try:
            if tab is not None:
                if out["ok"]:
                    tab.flush()
                out["console"] = tab.console
                tab.cdp.close()
        except Exception:  # noqa: BLE001
            pass
        signal.setitimer(signal.ITIMER_REAL, 0)
        if chromium is not None:
            if not out["ok"]:
                print(f"chromium's log:\n{chromium.log_tail()}", file=sys.stderr)
            chromium.stop()
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
