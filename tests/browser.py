"""Open a page in headless Chromium and report what a reader would see: a minimal DevTools client.

Chromium's ``--remote-debugging-pipe`` reads DevTools commands from file descriptor 3 and writes replies
and events to descriptor 4, as NUL-terminated JSON. That is all the test needs, so it needs no browser
automation library: Debian's ``chromium`` package and the standard library.

One Chromium serves every page a test process opens (``_browser``), and each page gets a browser context
of its own: the isolation of a fresh profile (no cookies, storage or cache from another page) without
paying Chromium's start-up for each page, about 2 CPU-s, which eleven launches made some 20 CPU-s of the
suite. A page that fails closes the browser, so the next page starts a fresh one.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# Whatever the page shows; broken images are those not loaded or with no pixels. The fit facts are taken
# with every folded part opened (a reader may open any of them), then folded again: a clipped cell is one
# whose content is wider than the cell or which its table's box cuts off, a tall row one taller than half
# the screen, a wide chart one wider than its box.
PAGE_FACTS = """(() => {
const top = id => {
  const e = document.getElementById(id);
  return e ? e.getBoundingClientRect().top + window.scrollY : null;
};
const pageHeight = document.documentElement.scrollHeight;
const folded = Array.from(document.querySelectorAll('details:not([open])'));
folded.forEach(d => { d.open = true; });
const visible = e => e.getBoundingClientRect().width > 2;
const fit = {
  clippedCells: Array.from(document.querySelectorAll('tbody td, tbody th'))
    .filter(c => visible(c) && (c.scrollWidth > c.clientWidth + 1 || (c.closest('.table-wrap')
      && c.getBoundingClientRect().right > c.closest('.table-wrap').getBoundingClientRect().right + 1)))
    .slice(0, 10).map(c => c.closest('table').id + ': ' + c.textContent.trim().slice(0, 40)),
  tallRows: Array.from(document.querySelectorAll('tbody tr'))
    .filter(r => r.getBoundingClientRect().height > window.innerHeight / 2)
    .slice(0, 10)
    .map(r => r.closest('table').id + ': ' + Math.round(r.getBoundingClientRect().height) + ' px'),
  wideCharts: Array.from(document.querySelectorAll('.figure-image img'))
    .filter(i => i.getBoundingClientRect().width > i.parentElement.clientWidth + 1)
    .map(i => i.alt.slice(0, 40)),
};
folded.forEach(d => { d.open = false; });
return JSON.stringify({
  ...fit,
  findingsTop: top('findings'),
  title: document.title,
  images: document.images.length,
  broken: Array.from(document.images)
    .filter(i => !(i.complete && i.naturalWidth > 0))
    .map(i => (i.alt || i.src).slice(0, 80)),
  headings: Array.from(document.querySelectorAll('h1, h2')).map(h => h.textContent.trim()),
  firstScreen: document.body.innerText.slice(0, 600),
  viewportWidth: window.innerWidth,
  scrollingBoxes: Array.from(document.querySelectorAll('.table-wrap'))
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.querySelector('table').id),
  pageWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
  pageHeight: pageHeight,
  wideElements: Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                 && !e.closest('.table-wrap, .figure-image, pre, details:not([open])'))
    .slice(0, 10).map(e => e.tagName + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '')),
});
})()"""
# axe-core's audit of the whole page; only the violations, with how many nodes each touches.
AXE_RUN = """axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
  r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                          targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))"""


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@dataclass
class PageReport:
    facts: dict[str, Any]
    console_errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    second_screen: bytes = b""
    violations: list[dict[str, Any]] | None = None


class _DevTools:
    def __init__(self, chromium: str, profile: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire_descriptors() -> None:  # in the child, before exec
            # Move both ends out of the way first: either may already be descriptor 3 or 4.
            reading = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            writing = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(reading, 3)
            os.dup2(writing, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.process = subprocess.Popen(
            [
                chromium,
                "--headless=new",
                "--remote-debugging-pipe",
                "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--font-render-hinting=none",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_descriptors,
            close_fds=False,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        os.write(self._to_browser, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, session: str, timeout: float = 60) -> None:
        """Until the tab's session has sent ``event`` (since ``events`` was last cleared)."""
        deadline = time.monotonic() + timeout
        if any(e.get("method") == event for e in self.session_events(session)):
            return
        while True:
            message = self._read_message(deadline)
            self.events.append(message)
            if message.get("method") == event and message.get("sessionId") == session:
                return

    def session_events(self, session: str) -> list[dict[str, Any]]:
        """The events one tab's session has sent (the browser's own events carry no session)."""
        return [e for e in self.events if e.get("sessionId") == session]

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", timeout=10)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", "error"))
    return errors


def open_page(
    chromium: str,
    page: Path,
    width: int = 1280,
    height: int = 900,
    axe_script: Path | None = None,
) -> PageReport:
    """Load ``page`` (a local file), then collect its facts, console errors and a first-screen PNG."""
    return open_page_at(chromium, page, (width,), height, axe_script)[width]


def open_page_at(
    chromium: str,
    page: Path,
    widths: tuple[int, ...],
    height: int = 900,
    axe_script: Path | None = None,
) -> dict[int, PageReport]:
    """Load ``page`` once per viewport width: its facts, console errors, the first two screens as PNGs
    and, given axe-core's script, the accessibility audit's violations at that width."""
    reports = {}
    with _tab(chromium, ("Page", "Runtime", "Log")) as (tools, session):
        for width in widths:
            tools.events.clear()
            tools.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 800},
                session=session,
            )
            tools.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
            tools.wait_for("Page.loadEventFired", session)
            facts = json.loads(_evaluate(tools, session, PAGE_FACTS))
            first = tools.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
            second = tools.call(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": height, "width": width, "height": height, "scale": 1},
                },
                session=session,
            )["data"]
            violations = None
            if axe_script is not None:
                _evaluate(tools, session, axe_script.read_text(encoding="utf-8"))
                violations = json.loads(_evaluate(tools, session, AXE_RUN, awaited=True, timeout=120))
            reports[width] = PageReport(
                facts,
                _console_errors(tools.session_events(session)),
                base64.b64decode(first),
                base64.b64decode(second),
                violations,
            )
    return reports


# The one browser of this test process, by executable: started on first use, closed at exit.
_BROWSERS: dict[str, tuple[_DevTools, tempfile.TemporaryDirectory]] = {}


def _browser(chromium: str) -> _DevTools:
    """This process's Chromium, started now if none is running (never started, or closed after a failure)."""
    running = _BROWSERS.get(chromium)
    if running is not None and running[0].process.poll() is None:
        return running[0]
    profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
    tools = _DevTools(chromium, Path(profile.name))
    if not _BROWSERS:
        atexit.register(close_browsers)
    _BROWSERS[chromium] = (tools, profile)
    return tools


def close_browsers() -> None:
    """Close every browser this process started (at exit, and at the end of a pytest session)."""
    while _BROWSERS:
        _, (tools, profile) = _BROWSERS.popitem()
        tools.close()
        profile.cleanup()


@contextlib.contextmanager
def _tab(chromium: str, domains: tuple[str, ...]):
    """A tab in a browser context of its own (a fresh profile's isolation), with ``domains``' events on;
    the context and everything in it is thrown away on exit. Yields the browser and the tab's session."""
    tools = _browser(chromium)
    context = tools.call("Target.createBrowserContext")["browserContextId"]
    failed = True
    try:
        target = tools.call("Target.createTarget", {"url": "about:blank", "browserContextId": context})
        session = tools.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})[
            "sessionId"
        ]
        for domain in domains:
            tools.call(f"{domain}.enable", session=session)
        yield tools, session
        failed = False
    finally:
        tools.events.clear()
        try:
            tools.call("Target.disposeBrowserContext", {"browserContextId": context}, timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            failed = True
        if failed:  # a browser in an unknown state serves no other page
            running = _BROWSERS.pop(chromium, None)
            if running is not None:
                running[0].close()
                running[1].cleanup()


def _evaluate(
    tools: _DevTools, session: str, expression: str, awaited: bool = False, timeout: float = 60
) -> Any:
    result = tools.call(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": awaited},
        session=session,
        timeout=timeout,
    )
    if "exceptionDetails" in result:
        raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')}")
    return result["result"].get("value")


class PageSession:
    """One Chromium tab to act in as a person would: open a page, choose files, run script, take pictures.

    Network events are recorded from the start, so a test can list every request the page made.
    """

    def __init__(self, tools: _DevTools, session: str) -> None:
        self.tools = tools
        self.session = session

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict[str, Any]:
        return self.tools.call(method, params, session=self.session, timeout=timeout)

    def resize(self, width: int, height: int = 900) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 800},
        )

    def navigate(self, page: Path) -> None:
        self.tools.events.clear()
        self.call("Page.navigate", {"url": page.resolve().as_uri()})
        self.tools.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression: str, awaited: bool = False, timeout: float = 60) -> Any:
        return _evaluate(self.tools, self.session, expression, awaited, timeout)

    def wait_until(self, expression: str, timeout: float = 30) -> Any:
        """Poll a script expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"the page never satisfied: {expression}")

    def choose_files(self, selector: str, files: list[Path]) -> None:
        """Set an <input type=file>'s files as the file chooser would (fires its change event)."""
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        self.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(f.resolve()) for f in files]})

    def screenshot(self, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params |= {
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1},
            }
        return base64.b64decode(self.call("Page.captureScreenshot", params)["data"])

    def requests(self) -> list[str]:
        """The URL of every request the page has sent since it was opened (DevTools Network events)."""
        return [
            e["params"]["request"]["url"]
            for e in self.tools.session_events(self.session)
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def console_errors(self) -> list[str]:
        return _console_errors(self.tools.session_events(self.session))


@contextlib.contextmanager
def page_session(chromium: str, width: int = 1280, height: int = 900):
    """A headless tab in a fresh browser context with Page, Runtime, Log, DOM and Network events on;
    thrown away on exit."""
    with _tab(chromium, ("Page", "Runtime", "Log", "DOM", "Network")) as (tools, session):
        page = PageSession(tools, session)
        page.resize(width, height)
        yield page
