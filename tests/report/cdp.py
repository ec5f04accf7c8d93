"""A headless Chromium driven over the DevTools protocol on a pipe: stdlib only, no websocket.

`--remote-debugging-pipe` makes Chromium read JSON commands, each ended by a NUL byte, from file
descriptor 3 and write replies and events the same way to descriptor 4.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LAUNCH_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)

# Plots on the page: id, whether an <svg> is inside, its rendered size and how many paths it drew.
PLOTS_JS = """JSON.stringify([...document.querySelectorAll('figure.plot')].map(f => {
  const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : null;
  return {id: f.dataset.plot, svg: !!s, width: r ? r.width : 0, height: r ? r.height : 0,
          paths: s ? s.querySelectorAll('path').length : 0};
}))"""
SECTIONS_JS = """JSON.stringify([...document.querySelectorAll('main > section[id]')].map(s => {
  const r = s.getBoundingClientRect();
  return {id: s.id, x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height};
}))"""


def find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    """What loading one page gave: problems the browser reported, its plots, screenshots."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    plots: list[dict[str, Any]] = field(default_factory=list)
    sections: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""
    screenshot: bytes = b""
    section_shots: dict[str, bytes] = field(default_factory=dict)


class Chromium:
    """One browser process; `call()` sends a command and returns its result."""

    def __init__(self, binary: str, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="llmsim-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:
            # In the child, before exec: the pipe ends become descriptors 3 and 4 (moved out of the
            # way first, in case either already is 3 or 4). dup2 clears close-on-exec on them; every
            # other descriptor Python opened is close-on-exec, so close_fds=False leaks nothing.
            read_end = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
            write_end = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.proc = subprocess.Popen(
            [binary, *LAUNCH_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            preexec_fn=wire_fds,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self._send("Browser.close", {})
                self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                with contextlib.suppress(OSError):
                    os.close(fd)
            shutil.rmtree(self._profile, ignore_errors=True)

    def _send(self, method: str, params: dict[str, Any], session: str | None = None) -> int:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _read(self, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout_s
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                msg = json.loads(raw)
                if until(msg):
                    return msg
                self.events.append(msg)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_chrome], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buf += chunk

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        msg_id = self._send(method, params or {}, session)
        reply = self._read(lambda m: m.get("id") == msg_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str) -> dict[str, Any]:
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        return self._read(lambda m: m.get("method") == method)

    def evaluate(self, session: str, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")


def load_page(binary: str, page: Path, *, width: int = 1200, sections: bool = False) -> PageResult:
    """Open `page`, wait for it to load, and collect errors, plots and a full-page screenshot."""
    out = PageResult()
    with Chromium(binary) as browser:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", {}, session)
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
        browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session)
        browser.wait_event("Page.loadEventFired")
        browser.evaluate(session, "document.fonts.ready.then(() => true)")
        out.title = browser.evaluate(session, "document.title")
        out.plots = json.loads(browser.evaluate(session, PLOTS_JS))
        out.sections = json.loads(browser.evaluate(session, SECTIONS_JS))
        height = int(browser.evaluate(session, "document.documentElement.scrollHeight"))
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        out.screenshot = base64.b64decode(shot["data"])
        if sections:
            for s in out.sections:
                clip = {"x": s["x"], "y": s["y"], "width": s["width"], "height": s["height"], "scale": 1}
                data = browser.call("Page.captureScreenshot", {"format": "png", "clip": clip,
                                                               "captureBeyondViewport": True}, session)
                out.section_shots[s["id"]] = base64.b64decode(data["data"])
        for ev in browser.events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                out.console_errors.append(str(params["exceptionDetails"].get("text")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.console_errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                out.requests.append(params["request"]["url"])
    return out
