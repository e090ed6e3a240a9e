"""Render a plan report in headless Chromium: check it and take a screenshot.

Used two ways:

* ``python scripts/report_screenshot.py [--plan PLAN.yaml | --report DIR] [--out PNG]`` makes
  the README's screenshot (default: runs ``tessera plan traces/plans/llm-serving.yaml`` and
  writes ``docs/img/plan-report.png``, the top of the report, 1200 px wide);
* ``tests/plans/test_plan_report.py`` calls :func:`render` to check that every image of
  ``report.html`` loaded (``naturalWidth > 0``) and that the page logged no console error.

It drives Debian's ``chromium`` over the Chrome DevTools Protocol (``--remote-debugging-port``,
the ``websocket-client`` package): open the file, wait for the load event, read every
``<img>``'s ``complete``/``naturalWidth``, collect ``Runtime.consoleAPICalled`` errors,
``Runtime.exceptionThrown`` and ``Log.entryAdded`` errors (failed loads), then capture a PNG.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


@dataclass
class PageCheck:
    """What the page did: its images (src prefix, complete, naturalWidth), errors logged,
    and the screenshot taken."""

    images: list[tuple[str, bool, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    title: str = ""
    screenshot: Path | None = None


def chromium_binary() -> str:
    """The Chromium executable (FileNotFoundError when none is installed)."""
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError("no chromium on PATH (Debian: apt-get install -y chromium)")


class _Cdp:
    """A minimal CDP session on one page target."""

    def __init__(self, url: str) -> None:
        import websocket  # noqa: PLC0415 - websocket-client, a test dependency

        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        if any(e.get("method") == method for e in self.events):
            return
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                return
        raise TimeoutError(f"no {method} within {timeout} s")

    def close(self) -> None:
        self.ws.close()


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value")) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            out.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            out.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
    return out


def render(
    html: Path, screenshot: Path | None, *, width: int = 1200, height: int | None = None
) -> PageCheck:
    """Open ``html`` in headless Chromium and check it (see the module docstring);
    ``height`` None captures the whole page, else its top ``height`` pixels."""
    profile = tempfile.mkdtemp(prefix="tessera-chromium-")
    process = subprocess.Popen(
        [
            chromium_binary(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    session: _Cdp | None = None
    try:
        port = _devtools_port(process)
        page = _page_target(port)
        session = _Cdp(page)
        for domain in ("Page", "Runtime", "Log"):
            session.call(f"{domain}.enable")
        session.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height or 900,
            deviceScaleFactor=1,
            mobile=False,
        )
        session.call("Page.navigate", url=html.resolve().as_uri())
        session.wait_for("Page.loadEventFired")
        check = PageCheck()
        images = session.call(
            "Runtime.evaluate",
            expression="JSON.stringify(Array.from(document.images).map("
            "i => [i.src.slice(0, 40), i.complete, i.naturalWidth]))",
            returnByValue=True,
        )
        check.images = [tuple(x) for x in json.loads(images["result"]["value"])]  # type: ignore[misc]
        title = session.call("Runtime.evaluate", expression="document.title", returnByValue=True)
        check.title = str(title["result"]["value"])
        if screenshot is not None:
            if height is None:
                metrics = session.call("Page.getLayoutMetrics")
                full = int(metrics["cssContentSize"]["height"])
                session.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=full,
                    deviceScaleFactor=1,
                    mobile=False,
                )
            shot = session.call("Page.captureScreenshot", format="png")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            check.screenshot = screenshot
        time.sleep(0.2)  # let late console messages arrive
        session.call("Runtime.evaluate", expression="1")
        check.errors = _errors(session.events)
        return check
    finally:
        if session is not None:
            session.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(process: subprocess.Popen[str]) -> int:
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            if process.poll() is not None:
                raise RuntimeError(f"chromium exited with {process.returncode}")
            continue
        found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if found:
            return int(found.group(1))
    raise TimeoutError("chromium did not announce its DevTools port")


def _page_target(port: int) -> str:
    import httpx  # noqa: PLC0415 - a tessera dependency

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
        for target in targets:
            if target.get("type") == "page":
                return str(target["webSocketDebuggerUrl"])
        time.sleep(0.2)
    raise TimeoutError("no page target")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, default=ROOT / "traces" / "plans" / "llm-serving.yaml")
    parser.add_argument("--report", type=Path, help="An existing report directory (no plan run).")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "plan-report.png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1500, help="0: the whole page")
    args = parser.parse_args()
    report = args.report
    if report is None:
        report = Path(tempfile.mkdtemp(prefix="tessera-plan-")) / "report"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [sys.executable, "-m", "simulator.cli", "plan", str(args.plan), "--out", str(report)],
            check=True,
            env=env,
        )
    check = render(report / "report.html", args.out, width=args.width, height=args.height or None)
    broken = [i for i in check.images if not i[1] or i[2] <= 0]
    print(f"{len(check.images)} images, {len(broken)} broken, {len(check.errors)} errors")
    print(f"wrote {args.out}")
    return 1 if broken or check.errors else 0


if __name__ == "__main__":
    sys.exit(main())
