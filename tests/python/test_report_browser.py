"""The report in a real browser: headless Chromium (Debian's, driven through
chromedriver's W3C WebDriver protocol on localhost) opens a real report's
index.html; every image must load with a size, the console must hold no error
or warning, and a screenshot is saved beside the report."""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import hk
from test_analysis import CONFIGS, analysis

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few WebDriver commands the test needs, over HTTP to chromedriver."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["value"]

    def start(self, profile):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1280,2000"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def cmd(self, method, what, body=None):
        return self.call(method, f"/session/{self.session}/{what}", body)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    files = []
    for name in ("reg", "completion", "rotation"):
        cfg = d / f"{name}.yaml"
        cfg.write_text(CONFIGS[name])
        hk("run", cfg, "--out", d / name, "--quiet", ranks=2, check=True)
        files.append(d / name / "results.h5")
    out = d / "report"
    proc = analysis("report", *files, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


def test_report_renders_in_chromium(report):
    assert os.path.exists(CHROMIUM) and os.path.exists(DRIVER), "scripts/setup installs chromium and chromium-driver"
    port = free_port()
    driver_proc = subprocess.Popen([DRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp()
    wd = WebDriver(port)
    try:
        for _ in range(100):
            try:
                wd.call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        wd.start(profile)
        wd.cmd("POST", "url", {"url": f"file://{report}/index.html"})
        # wait until the page and its images are loaded
        for _ in range(100):
            if wd.cmd("POST", "execute/sync", {"script": "return document.readyState", "args": []}) == "complete":
                break
            time.sleep(0.1)
        images = wd.cmd("POST", "execute/sync", {"script": """
            return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight]);
        """, "args": []})
        assert len(images) >= 6, images            # regression, completion (MSE, examples), rotation ...
        broken = [src for src, done, w, h in images if not done or w == 0 or h == 0]
        assert not broken, f"images that did not load: {broken}"
        title = wd.cmd("POST", "execute/sync", {"script": "return document.querySelector('h1').textContent", "args": []})
        assert title.startswith("hksweep report")
        tables = wd.cmd("POST", "execute/sync", {"script": "return document.querySelectorAll('table').length", "args": []})
        assert tables >= 4
        logs = wd.cmd("POST", "se/log", {"type": "browser"})
        problems = [e for e in logs if e.get("level") in ("SEVERE", "WARNING")]
        assert not problems, f"console: {problems}"
        shot = base64.b64decode(wd.cmd("GET", "screenshot"))
        assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10000
        (report / "screenshot.png").write_bytes(shot)
        print(f"screenshot: {report / 'screenshot.png'}")
    finally:
        if wd.session:
            try:
                wd.call("DELETE", f"/session/{wd.session}")
            except OSError:
                pass
        driver_proc.terminate()
        driver_proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)
