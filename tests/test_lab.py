"""`make lab` and `make instructor-lab`: JupyterLab for root and other users, the student view without the
nbgrader panels it cannot use, the instructor view at the course root."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from harness import ROOT

STUDENT_CONFIG = ROOT / "jupyter-config" / "student"
# What a student cannot use in notebooks/: the exchange (Assignment List, Course List) and the instructor's tools.
INSTRUCTOR_ONLY_PLUGINS = {"@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                           "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
                           "@jupyter/nbgrader:menu"}


def recipe(target, as_user=None):
    """The commands `make -n <target>` would run (as another user when as_user is given)."""
    command = ["make", "-n", "--no-print-directory", target]
    if as_user is not None:
        command = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", *command]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout


def jupyter_line(text):
    return " ".join(line for line in text.replace("\\\n", " ").splitlines() if "jupyter lab" in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_lab_passes_allow_root_only_to_root():
    if os.geteuid() == 0:
        assert "--allow-root" in jupyter_line(recipe("lab"))
        if shutil.which("setpriv"):
            assert "--allow-root" not in jupyter_line(recipe("lab", as_user=65534))
    else:
        assert "--allow-root" not in jupyter_line(recipe("lab"))


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_student_and_instructor_views():
    student = jupyter_line(recipe("lab"))
    assert f'JUPYTER_CONFIG_PATH="{STUDENT_CONFIG}' in student and student.rstrip().endswith('"notebooks"')
    instructor = jupyter_line(recipe("instructor-lab"))
    assert f'--ServerApp.root_dir="{ROOT}"' in instructor and "JUPYTER_CONFIG_PATH" not in instructor
    for line in (student, instructor):   # the environment on PATH, and no news pop-up (the browser tests run these)
        assert f'PATH="{ROOT / ".venv" / "bin"}:$PATH"' in line and "--LabApp.news_url=None" in line, line
    page = json.loads((STUDENT_CONFIG / "labconfig" / "page_config.json").read_text())
    assert {name for name, off in page["disabledExtensions"].items() if off} == INSTRUCTOR_ONLY_PLUGINS


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.slow
def test_student_view_serves_validate_and_nothing_that_would_fail():
    """A real JupyterLab with the student configuration: nbgrader's Validate is there; the Assignment List, Course
    List, formgrader and Create Assignment are neither served nor loaded in the page."""
    port, token = free_port(), "student-view-test"
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(STUDENT_CONFIG)}
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
                               f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1", str(ROOT / "notebooks")],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                code, page = status(f"{base}/lab?token={token}")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.time() < deadline and server.poll() is None, "JupyterLab did not start"
                time.sleep(0.5)
        assert code == 200
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        assert INSTRUCTOR_ONLY_PLUGINS <= set(config["disabledExtensions"])
        assert "@jupyter/nbgrader:validate-assignment" not in config["disabledExtensions"]
        from nbgrader import __version__ as nbgrader_version
        assert status(f"{base}/nbgrader_version?version={nbgrader_version}&token={token}")[0] == 200, "Validate's side"
        for panel in ("assignments", "courses", "formgrader"):
            assert status(f"{base}/{panel}?token={token}")[0] == 404, panel
    finally:
        server.terminate()
        server.wait(timeout=30)
