"""A semester on JupyterHub, end to end: release, fetch, submit, collect, grade, feedback.

The hub runs deploy/jupyterhub/jupyterhub_config.py (JupyterHub from PyPI, its configurable-http-proxy from
npm) on loopback, in its trial mode: two students and an instructor log in with one password (JupyterHub's
DummyAuthenticator) and their servers run as the hub's user (SimpleLocalProcessSpawner), each with a home
of its own. The instructor releases 01 into the shared exchange; in Chromium each student fetches it in the
Assignment List, one finishes it and submits, the other submits it unfinished; the instructor collects with
nbgrader, grades with `make grade` and releases the feedback; each student fetches it and reads the score.
"""

import csv
import shutil
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from browser import RESULTS, free_port, launch, missing_browser, shell_env
from harness import NOTEBOOKS, ROOT, SOLUTIONS, nbgrader, read_notebook, tool_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("hub")]

ASSIGNMENT = "01_graphs"
PASSWORD = "trial-only"
STUDENTS = ("ada", "ben")
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PROXY = ROOT / "deploy" / "jupyterhub" / "node_modules" / ".bin" / "configurable-http-proxy"


def finished(assignment):
    from test_browser import finished_notebook

    return finished_notebook(assignment)


def hub_ports():
    """A free port whose two successors (the hub's API and the proxy's) are free too."""
    for _ in range(50):
        port = free_port()
        try:
            for offset in (1, 2):
                import socket

                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no three free ports in a row")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    if not PROXY.exists():
        pytest.fail(f"no configurable-http-proxy at {PROXY}: make setup installs it with npm", pytrace=False)
    base = tmp_path_factory.mktemp("hub")
    course, exchange, state = base / "course", base / "exchange", base / "state"
    shutil.copytree(SOLUTIONS / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    exchange.mkdir()
    exchange.chmod(0o1777)
    port = hub_ports()
    env = shell_env()
    env.update(NBGRADER_EXCHANGE=str(exchange), COURSE_HUB_STATE=str(state), COURSE_HUB_PORT=str(port),
               COURSE_HUB_INSTRUCTOR="teacher", COURSE_HUB_STUDENTS=" ".join(STUDENTS), COURSE_HUB_COURSE=str(course),
               COURSE_HUB_TRIAL_PASSWORD=PASSWORD)
    log = open(base / "jupyterhub.log", "w")
    process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "jupyterhub"), "-f", str(CONFIG)], cwd=base, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/hub/api/", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.flush()
            raise RuntimeError(f"JupyterHub did not start:\n{(base / 'jupyterhub.log').read_text()[-4000:]}")
        time.sleep(0.5)
    yield {"url": url, "course": course, "exchange": exchange, "state": state, "env": env, "log": base / "jupyterhub.log"}
    import os
    import signal

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    log.close()


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("the hub test needs the playwright package: make setup installs it")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def shot(page, name):
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"hub-{name}.png"))


def log_in(chromium, hub, user):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(f"{hub['url']}/hub/login")
    page.locator("#username_input").fill(user)
    page.locator("#password_input").fill(PASSWORD)
    page.locator("#login_submit").click()
    page.locator("#jp-MainMenu").wait_for(timeout=180_000)      # the hub spawned the user's JupyterLab
    return page


def assignment_list(page):
    """The Assignment List panel (Nbgrader menu), refreshed."""
    page.locator("#jp-MainMenu").get_by_text("Nbgrader", exact=True).click()
    page.locator(".lm-Menu-content").get_by_text("Assignment List", exact=True).click()
    panel = page.locator("#released_assignments_list").locator("xpath=ancestor::div[contains(@class,'lm-Widget')][1]")
    page.locator("#released_assignments_list").wait_for()
    return panel


def row(page, section, assignment):
    return page.locator(f"#{section} .list_item:not(.nested_list_item)", has_text=assignment)


def home(hub, user):
    return hub["state"] / "home" / user


def instructor(hub, *args):
    """An nbgrader command in the course folder, with the exchange the hub's users share."""
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=hub["course"], capture_output=True, text=True,
                            timeout=600, env={**tool_env(), "NBGRADER_EXCHANGE": str(hub["exchange"])})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def test_a_class_on_jupyterhub_fetches_submits_and_gets_its_feedback(hub, chromium):
    # The instructor releases 01 into the exchange (make release: the student version, then release_assignment).
    released = subprocess.run([sys.executable, "-m", "autograd_course.grading.release", "--course", str(hub["course"]),
                               ASSIGNMENT], capture_output=True, text=True, timeout=600,
                              env={**tool_env(), "NBGRADER_EXCHANGE": str(hub["exchange"])})
    assert released.returncode == 0, released.stdout + released.stderr
    assert (hub["exchange"] / "autograd-course" / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()

    pages = {}
    for student in STUDENTS:
        page = pages[student] = log_in(chromium, hub, student)
        assignment_list(page)
        row(page, "released_assignments_list", ASSIGNMENT).get_by_role("button", name="Fetch").click()
        row(page, "fetched_assignments_list", ASSIGNMENT).wait_for()
        shot(page, f"{student}-1-fetched")
        fetched = home(hub, student) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert fetched.read_text() == (NOTEBOOKS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
        if student == "ada":   # she does every exercise (the notebook as she saved it)
            nbformat.write(finished(ASSIGNMENT), str(fetched))
        row(page, "fetched_assignments_list", ASSIGNMENT).get_by_role("button", name="Submit").click()
        row(page, "submitted_assignments_list", ASSIGNMENT).wait_for()
        shot(page, f"{student}-2-submitted")

    # The instructor collects, grades as the README says, and releases the feedback.
    instructor(hub, "collect", ASSIGNMENT)
    for student in STUDENTS:
        assert (hub["course"] / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
    graded = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "grade", f"ARGS=--course {hub['course']}"],
                            capture_output=True, text=True, timeout=900, env=hub["env"])
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    # make grade ends with the class report: ben's unfinished answers are there, ada in none of its groups.
    report = hub["course"] / "class-report"
    assert f"Class report: {report / 'index.html'}" in graded.stdout, graded.stdout[-2000:]
    with open(report / "misconceptions.csv") as handle:
        groups = list(csv.DictReader(handle))
    assert groups and all(row["students"].split() == ["ben"] for row in groups), groups
    assert any(row["mistake"] == "no_response" for row in groups), groups
    total = sum(c.metadata["nbgrader"].get("points", 0) for c in read_notebook(
        SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))
    instructor(hub, "release_feedback", ASSIGNMENT)

    for student, score in (("ada", total), ("ben", 0)):
        page = pages[student]
        assignment_list(page)
        submitted = row(page, "submitted_assignments_list", ASSIGNMENT)
        submitted.get_by_role("button", name="Fetch Feedback").click()
        submitted.get_by_text("(view feedback)").wait_for()
        shot(page, f"{student}-3-feedback-fetched")
        pages_found = sorted((home(hub, student) / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        assert len(pages_found) == 1, pages_found
        relative = pages_found[0].relative_to(home(hub, student)).as_posix()
        page.goto(f"{hub['url']}/user/{student}/files/{relative}")
        heading = page.locator(".panel-heading h4").first
        heading.wait_for()
        assert f"(Score: {score:.1f} / {total:.1f})" in heading.text_content(), heading.text_content()
        assert page.locator("table.report-card tbody tr").count() >= 1
        shot(page, f"{student}-4-feedback")
        page.context.close()
