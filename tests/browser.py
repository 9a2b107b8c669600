"""A real browser for the tests: Debian's Chromium driven by playwright, and a JupyterLab server to point it at.

playwright's own browser download is not needed: the tests launch the system's Chromium through
``executable_path``.  Where no Chromium is found, the browser tests skip with the reason (or fail, in CI
and under ``make test-browser``, where they must run).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from autograd_course.grading.course import tool_env

ROOT = Path(__file__).resolve().parent.parent
# Screenshots of every step, for a person to look at (git-ignored).
RESULTS = Path(os.environ.get("BROWSER_RESULTS", ROOT / "browser-results"))
MISSING_CHROMIUM = (
    "no Chromium for the browser tests: install it ('sudo apt-get install chromium' on Debian, "
    "'chromium-browser' on Ubuntu, or 'python -m playwright install chromium'), or point CHROMIUM at one"
)
# Chromium on a machine with no network beyond loopback: no background fetches, no GPU.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def browser_required():
    """In CI and under `make test-browser` a missing browser is a failure, elsewhere a skip."""
    return bool(os.environ.get("CI")) or os.environ.get("COURSE_BROWSER_TESTS") == "required"


def missing_browser(message):
    """Skip the browser tests with ``message``, or fail them where they must run."""
    if browser_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def find_chromium():
    """The Chromium to drive: $CHROMIUM, else the first of the usual names on PATH; None when there is none."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def launch(playwright):
    """A headless Chromium: the system's where there is one, else playwright's own if it was installed."""
    executable = find_chromium()
    args = CHROMIUM_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])   # Chromium's sandbox refuses root
    try:
        return playwright.chromium.launch(executable_path=executable, args=args, headless=True)
    except Exception as error:   # noqa: BLE001  (playwright raises its own Error for a missing executable)
        if executable is None:
            missing_browser(f"{MISSING_CHROMIUM} ({str(error).splitlines()[0]})")
        raise


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class JupyterLab:
    """``jupyter lab`` on a free localhost port with a token, serving ``root`` (also its working directory,
    where nbgrader's extensions read nbgrader_config.py), with nbgrader's server extensions enabled."""

    EXTENSIONS = ("formgrader", "validate_assignment", "assignment_list", "course_list")

    def __init__(self, root, state):
        self.root, self.state = Path(root), Path(state)
        self.port, self.token = free_port(), os.urandom(12).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, timeout=90):
        settings = self.state / "user-settings"
        # No news or update checks: nothing outside this machine is reached, and no pop-up covers the toolbar.
        notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env = tool_env()
        env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
                   JUPYTER_RUNTIME_DIR=str(self.state / "runtime"))
        env.pop("MPLBACKEND", None)   # kernels draw inline, as for a student
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={self.port}",
                   "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
                   f"--ServerApp.root_dir={self.root}", f"--LabApp.user_settings_dir={settings}",
                   f"--LabApp.workspaces_dir={self.state / 'workspaces'}", "--LabApp.news_url=None",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        command += [f"--ServerApp.jpserver_extensions=nbgrader.server_extensions.{name}=True"
                    for name in self.EXTENSIONS]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log = open(self.state / "jupyterlab.log", "w")
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                get_json(self.api("status"), timeout=2)
                return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log_text()}")

    def api(self, path):
        return f"{self.url}/api/{path}?token={self.token}"

    def lab(self, path=""):
        """The URL that opens ``path`` (relative to root) in a fresh JupyterLab workspace."""
        return f"{self.url}/lab{'/tree/' + path if path else ''}?reset&token={self.token}"

    def wait_for_kernel(self, timeout=120):
        """Wait until a kernel runs, is idle and has a client (the notebook page) connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                kernels = get_json(self.api("kernels"))
            except OSError:   # the server can answer 500 while a kernel is still being set up or torn down
                kernels = []
            if any(k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels):
                return
            time.sleep(0.3)
        raise AssertionError(f"no kernel became idle within {timeout} s: {get_json(self.api('kernels'))}")

    def shut_down_kernels(self):
        """Stop every running kernel (a student closing their notebooks), so that one test's kernels do not
        compete with the next test's for the CPU."""
        for kernel in get_json(self.api("kernels")):
            request = urllib.request.Request(self.api(f"kernels/{kernel['id']}"), method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()

    def log_text(self):
        self.log.flush()
        return (self.state / "jupyterlab.log").read_text()[-5000:]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
