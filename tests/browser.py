"""A real browser for the tests: Debian's Chromium driven by playwright, and a JupyterLab server to point it at.

playwright's own browser download is not needed: the tests launch the system's Chromium through
``executable_path``.  Where no Chromium is found, the browser tests skip with the reason (or fail, in CI
and under ``make test-browser``, where they must run).
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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


def shell_env():
    """The environment of an instructor's or student's shell, where the course's environment was never activated:
    this one without the virtual environment's bin on PATH (and without the variables activation sets)."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("VIRTUAL_ENV", "PYTHONPATH", "MPLBACKEND") and not name.startswith(("PYTEST_", "COV_"))}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return env


class JupyterLab:
    """JupyterLab as the README starts it: ``make TARGET`` in the repository (lab, instructor-lab or demo-lab),
    with ``folder`` as what it serves (NOTEBOOKS, COURSE or DEMO), on a free localhost port with a token.

    Only the port, the token and --no-browser are added (LAB_ARGS, the targets' own hook), and the state a
    person's home would hold (settings, workspaces, runtime files) is kept in ``state``: the command line and
    everything else are the target's."""

    FOLDER_VARIABLE = {"lab": "NOTEBOOKS", "instructor-lab": "COURSE", "demo-lab": "DEMO"}

    def __init__(self, folder, state, target="instructor-lab"):
        self.root, self.state, self.target = Path(folder), Path(state), target
        self.port, self.token = free_port(), os.urandom(12).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, timeout=300):
        env = shell_env()
        env.update(JUPYTER_RUNTIME_DIR=str(self.state / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(self.state / "user-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.state / "workspaces"))
        options = (f"--no-browser --ServerApp.port={self.port} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1 "
                   f"--IdentityProvider.token={self.token}")
        command = ["make", "--no-print-directory", "-C", str(ROOT), self.target,
                   f"{self.FOLDER_VARIABLE[self.target]}={self.root}", f"LAB_ARGS={options}"]
        self.log = open(self.state / "jupyterlab.log", "w")
        # A session of its own, so that stopping it stops make and the server it started.
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"make {self.target} exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                get_json(self.api("status"), timeout=2)
                return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"make {self.target} did not serve JupyterLab within {timeout} s:\n{self.log_text()}")

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
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):   # the server, should make have gone first
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()
