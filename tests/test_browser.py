"""The course as its users meet it, in a real browser (headless Chromium driven by playwright).

A student opens each notebook in JupyterLab, runs it to its first exercise and sees the graphs and the stub's
message; nbgrader's Validate button passes a finished notebook and fails an unfinished one; an instructor
opens the formgrader after a release and sees the assignments. A reader browses the course site that
`make site` builds: every page loads cleanly with its formulas typeset and its pictures described, search,
dark mode and the launch and download buttons work, and no solution shows in any built file.
Screenshots of every step go to browser-results/ (BROWSER_RESULTS) for a person to look at. Fixtures are
per module, and so per xdist worker: one JupyterLab server and one page for the tests in JupyterLab, one
site build for the site's; `make test-browser` runs only these tests.
"""

import contextlib
import functools
import html
import http.server
import re
import shutil
import subprocess
import sys
import threading

import nbformat
import pytest

from autograd_course.notebook import COURSE_REPOSITORY
from browser import RESULTS, JupyterLab, launch, missing_browser, shell_env
from harness import (ASSIGNMENTS, NOTEBOOKS, ROOT, SECRET_MARKERS, SOLUTIONS, STUB_MESSAGE, read_notebook,
                     secret_lines, tool_env)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# Three groups, each on one xdist worker with its own fixtures: a student's JupyterLab, nbgrader's
# buttons and pages in JupyterLab, and the site.
LAB = pytest.mark.xdist_group("browser-lab")
NBGRADER = pytest.mark.xdist_group("browser-nbgrader")
SITE = pytest.mark.xdist_group("browser-site")
SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.M)


def shot(page, name):
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"))


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("the browser tests need the playwright package: make setup installs it")
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder as a student and an instructor share it on one JupyterLab: the instructor's
    solutions/ and config, and the student's copies of the published notebooks in student/, one finished."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOLUTIONS, course / "solutions")
    shutil.copytree(NOTEBOOKS, course / "student", copy_function=shutil.copy)   # fresh times, as downloaded
    finished = course / "student" / "finished"
    finished.mkdir()
    nbformat.write(finished_notebook("01_graphs"), str(finished / "01_graphs.ipynb"))
    return course


@pytest.fixture(scope="module")
def release(course, tmp_path_factory):
    """`make release` in the course folder (notebooks/ and the gradebook), started in the background by the
    first nbgrader test, so that it runs while the Validate tests do: (process, log)."""
    log = tmp_path_factory.mktemp("release") / "release.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "autograd_course.grading.release", "--course", str(course)],
                                   stdout=output, stderr=subprocess.STDOUT, env=tool_env())
    yield process, log
    if process.poll() is None:
        process.kill()
    process.wait()


def finished_notebook(assignment):
    """The student version with every exercise done: the solution's code in each solution cell."""
    nb = read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb")
    answers = {cell.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKERS.sub("", cell.source)
               for cell in read_notebook(SOLUTIONS / assignment / f"{assignment}.ipynb").cells
               if cell.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    return nb


@pytest.fixture(scope="module")
def lab(course, tmp_path_factory):
    """`make instructor-lab` on the course folder."""
    server = JupyterLab(course, tmp_path_factory.mktemp("jupyter")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def student_lab(course, tmp_path_factory):
    """`make lab` on the student's copies of the notebooks."""
    server = JupyterLab(course / "student", tmp_path_factory.mktemp("jupyter"), target="lab").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo_lab(tmp_path_factory):
    """`make demo-lab` on a demo class of one assignment, built and graded as `make demo` does."""
    from autograd_course.grading import demo
    from autograd_course.grading.grade import grade_class

    folder = demo.build(tmp_path_factory.mktemp("demo") / "demo-course", ids=ASSIGNMENTS[:1])
    grade_class(folder, jobs=2, quiet=True)
    server = JupyterLab(folder, tmp_path_factory.mktemp("jupyter"), target="demo-lab").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@contextlib.contextmanager
def session(page, name, lab=None):
    """One user's session: a failure leaves a picture of the page as it was (browser-results/FAILED-<name>.png);
    at the end the kernels it started are shut down, as when a student closes their notebooks, so that they
    do not compete with the next test's for the CPU."""
    try:
        yield
    except BaseException:
        shot(page, f"FAILED-{name}")
        raise
    finally:
        if lab is not None:
            lab.shut_down_kernels()


def open_notebook(page, lab, path):
    page.goto(lab.lab(path))
    notebook = page.locator(".jp-NotebookPanel").first
    notebook.locator(".jp-Cell").first.wait_for()
    # The kernel has started: the server says it is idle with the page connected, and so does the toolbar.
    lab.wait_for_kernel()
    notebook.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for()
    return notebook


def menu(page, top, item):
    page.locator("#jp-MainMenu").get_by_text(top, exact=True).click()
    page.locator(".lm-Menu-content").get_by_text(item, exact=True).click()


# True once no cell is queued and the cell at `index` has run, or one of the cells from `start` on before it
# failed (JupyterLab then stops running the cells after it).
RAN_OR_STOPPED = r"""([start, index]) => {
    const cells = [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')];
    const prompt = cell => (cell.querySelector('.jp-InputArea-prompt') || {}).textContent || '';
    if (cells.some(cell => prompt(cell).includes('[*]'))) return false;
    return /\[\d+\]/.test(prompt(cells[index])) || cells.slice(start, index).some(cell =>
        cell.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'));
}"""
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"


def run_until(page, notebook, index, command, start=0, timeout=180_000):
    """Run ``command`` from the Run menu, which runs cells ``start`` to ``index``, and wait until cell ``index``
    has run; fail with the error that stopped the run before it. (Generous: the kernel starts and imports
    torch first, maybe on a busy machine.)"""
    menu(page, "Run", command)
    try:
        page.wait_for_function(RAN_OR_STOPPED, arg=[start, index], timeout=timeout)
    except Exception as error:   # playwright's TimeoutError: say where the run stood
        prompts = notebook.locator(".jp-Notebook .jp-Cell .jp-InputArea-prompt").all_text_contents()
        status = notebook.locator(".jp-Notebook-ExecutionIndicator").get_attribute("data-status")
        raise AssertionError(f"{command!r} did not reach cell {index}: kernel {status}, prompts {prompts}") from error
    prompt = notebook.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-prompt").text_content()
    if not re.search(r"\[\d+\]", prompt):
        error = notebook.locator(STDERR).first.text_content()[-800:]
        raise AssertionError(f"the run stopped before cell {index}: {error}")


def first_exercise(nb):
    """Indexes of the first solution cell and of its visible test cell."""
    solution = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution"))
    test = next(i for i, c in enumerate(nb.cells) if i > solution and c.metadata.get("nbgrader", {}).get("grade"))
    return solution, test


def pictures_before(nb, end):
    """How many graphs (SVG) and plots (PNG) the cells before ``end`` draw: a cell that calls one of the
    course's drawers shows one graph (side_by_side puts several drawings in one picture)."""
    code = [c.source for c in nb.cells[:end] if c.cell_type == "code"]
    drawers = re.compile(r"\b(draw_graph|draw_engine_graph|side_by_side)\(")
    return sum(bool(drawers.search(source)) for source in code), sum("plt." in source for source in code)


def loaded_images(locator):
    """The images under ``locator`` that the browser decoded (a broken one has no natural width)."""
    return locator.evaluate_all("images => images.filter(i => i.complete && i.naturalWidth > 0).length")


def select_cell(notebook, index):
    """Click a cell's prompt, as a student selects a cell, until JupyterLab has made it the active cell (a click
    while the notebook is still laying itself out can miss)."""
    from playwright.sync_api import expect

    cell = notebook.locator(".jp-Notebook .jp-Cell").nth(index)
    for attempt in range(5):
        cell.locator(".jp-InputArea-prompt").click()
        try:
            expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"), timeout=2_000)
            return
        except AssertionError:
            if attempt == 4:
                raise


@LAB
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_runs_a_notebook_to_its_first_exercise(page, student_lab, assignment):
    lab = student_lab
    nb = read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb")
    solution, test = first_exercise(nb)
    graphs, plots = pictures_before(nb, solution)
    with session(page, f"student-{assignment}", lab):
        notebook = open_notebook(page, lab, f"{assignment}/{assignment}.ipynb")
        shot(page, f"student-{assignment}-1-opened")
        # Select the exercise's test cell, run everything above it (its solution cell too), then the test.
        select_cell(notebook, test)
        run_until(page, notebook, solution, "Run All Above Selected Cell")
        run_until(page, notebook, test, "Run Selected Cell and Do not Advance", start=test)
        # The graphs as JupyterLab shows them (an <img> of the SVG), and the plots, all decoded.
        svgs = notebook.locator(".jp-RenderedSVG img")
        assert svgs.count() == graphs and loaded_images(svgs) == graphs, f"{graphs} graphs drawn"
        pngs = notebook.locator(".jp-RenderedImage img")
        assert pngs.count() >= plots and loaded_images(pngs) == pngs.count(), f"{plots} plots drawn"
        if graphs or plots:
            picture = (svgs if graphs else pngs).first
            picture.scroll_into_view_if_needed()
            box = picture.bounding_box()
            assert box and box["width"] > 50 and box["height"] > 50, "the picture takes room on the page"
            shot(page, f"student-{assignment}-2-picture")
        # The stub's message, in the exercise's own output or in its test's.
        message = notebook.locator(".jp-OutputArea-output", has_text=f"NotImplementedError: {STUB_MESSAGE}").first
        message.scroll_into_view_if_needed()
        assert message.is_visible(), "the stub's message is shown"
        shot(page, f"student-{assignment}-3-first-exercise")
        # `make lab` asks nothing of the student: no pop-up about Jupyter news or updates.
        # (JupyterLab's own words: "…notified about official Jupyter news?", and an update's "Ignore all updates".)
        asked = page.get_by_text(re.compile(r"official Jupyter news|Ignore all updates", re.I))
        assert asked.locator("visible=true").count() == 0, asked.all_text_contents()


def validate(page, name):
    """Press nbgrader's Validate button in the notebook toolbar; return the result dialog's message."""
    page.locator(".jp-NotebookPanel-toolbar .jp-ToolbarButton", has_text="Validate").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=180_000)
    shot(page, name)
    result = message.get_attribute("class"), message.text_content()
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    return result


@NBGRADER
def test_validate_fails_an_unfinished_notebook(page, lab, release):
    with session(page, "validate-unfinished", lab):
        open_notebook(page, lab, "student/01_graphs/01_graphs.ipynb")
        kind, text = validate(page, "validate-1-unfinished-fails")
    assert "validation-failed" in kind, text
    assert STUB_MESSAGE in text, "the failure names the stub"


@NBGRADER
def test_finished_notebook_shows_every_graph_and_passes_validate(page, lab, release):
    nb = finished_notebook("01_graphs")
    graphs = sum("draw_graph(" in cell.source for cell in nb.cells if cell.cell_type == "code")
    with session(page, "validate-finished", lab):
        notebook = open_notebook(page, lab, "student/finished/01_graphs.ipynb")
        last_code = max(index for index, cell in enumerate(nb.cells) if cell.cell_type == "code")
        run_until(page, notebook, last_code, "Run All Cells")
        errors = notebook.locator(STDERR)
        assert errors.count() == 0, [text[-500:] for text in errors.all_text_contents()[:3]]
        svgs = notebook.locator(".jp-RenderedSVG img")
        assert loaded_images(svgs) == graphs >= 3, f"all {graphs} graphs drawn"
        svgs.last.scroll_into_view_if_needed()
        shot(page, "validate-2-finished-run")
        kind, text = validate(page, "validate-3-finished-passes")
    assert "validation-success" in kind and "Success! Your notebook passes all the tests." in text, text


@NBGRADER
def test_instructor_sees_the_assignments_in_the_formgrader(page, lab, release):
    process, log = release
    assert process.wait(timeout=300) == 0, log.read_text()
    with session(page, "formgrader"):
        page.goto(lab.lab())
        page.locator("#jp-MainMenu").wait_for()
        menu(page, "Nbgrader", "Formgrader")
        formgrader = page.frame_locator("#formgrader iframe")
        for assignment in ASSIGNMENTS:
            formgrader.get_by_text(assignment, exact=True).first.wait_for()
        formgrader.get_by_text(ASSIGNMENTS[-1], exact=True).first.scroll_into_view_if_needed()
        shot(page, "formgrader-assignments")
        listed = [name.strip() for name in formgrader.locator("table tbody tr td:first-child").all_text_contents()]
        statuses = [" ".join(row.locator("td").all_text_contents()) for row in formgrader.locator("table tbody tr").all()]
        warnings = formgrader.get_by_text(re.compile("does not exist", re.I)).count()
    assert sorted(listed) == ASSIGNMENTS, listed
    assert all("released" in status for status in statuses), statuses   # make release publishes to the exchange
    assert warnings == 0, "no formgrader warning (the course's exchange exists)"


def formgrader_page(page, lab, path, name):
    """A formgrader page as the instructor's Formgrader panel shows it (the same page, opened on its own)."""
    page.goto(f"{lab.url}/formgrader/{path}?token={lab.token}")
    page.wait_for_load_state("networkidle")
    page.locator("table tbody tr").first.wait_for()
    shot(page, name)
    assert page.get_by_text(re.compile("does not exist|Loading, please wait", re.I)).locator("visible=true").count() == 0
    return [[cell.strip() for cell in row.locator("td").all_text_contents()] for row in page.locator("table tbody tr").all()]


@NBGRADER
def test_demo_class_in_the_formgrader(page, demo_lab):
    """`make demo-lab`: the demo class's assignment released, its students by name with their scores, and every
    submission for manual grading: the suspicious one flagged, the two not graded flagged with their reason on
    their page; no warning about the exchange."""
    from autograd_course.grading.demo import STUDENTS

    assignment = ASSIGNMENTS[0]
    with session(page, "demo-formgrader"):
        assignments = formgrader_page(page, demo_lab, "manage_assignments", "demo-formgrader-1-assignments")
        assert [row[0] for row in assignments] == [assignment] and "released" in " ".join(assignments[0]).lower(), assignments
        students = formgrader_page(page, demo_lab, "manage_students", "demo-formgrader-2-students")
        shown = {row[1]: row for row in students}
        assert set(shown) == {student for student, _, _ in STUDENTS}, students
        for student, first, last in STUDENTS:
            assert f"{last}, {first}" in shown[student][0] and "None" not in shown[student], shown[student]
        submissions = formgrader_page(page, demo_lab, f"gradebook/{assignment}/{assignment}", "demo-formgrader-3-submissions")
        names = {student: f"{last}, {first}" for student, first, last in STUDENTS}
        listed = " ".join(" ".join(row) for row in submissions)    # names hidden until "Show All Names"
        for student in names:
            assert names[student] in listed, submissions
        flags = {student: page.locator("table tbody tr", has_text=names[student]).locator(".glyphicon-flag").count()
                 for student in names}
        # Flagged: the suspicious submission, and the two that could not be graded (they need a grade by hand).
        assert flags == {"ada": 0, "ben": 0, "cy": 1, "dee": 1, "eve": 1}, flags
        page.locator("table tbody tr", has_text=names["cy"]).locator("a", has_text="Submission").click()
        reason = page.get_by_text("Not graded automatically: not a notebook: the file is not valid JSON")
        reason.first.wait_for()
        shot(page, "demo-formgrader-4-not-graded")


@pytest.fixture(scope="module")
def class_report(tmp_path_factory):
    """The class report of a synthetic class of two assignments (test_report.py checks what it finds)."""
    from autograd_course.grading.grade import load_course
    from autograd_course.grading.report import write_report
    from autograd_course.grading.synthetic import build_class

    course = tmp_path_factory.mktemp("report") / "course"
    build_class(course, students=60, ids=ASSIGNMENTS[:2], seed=1)
    return write_report(load_course(course))


@NBGRADER
@pytest.mark.parametrize("width", [1280, 390])
def test_class_report_shows_every_figure_and_table_offline_on_a_desk_and_a_phone(browser, class_report, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    try:
        page.goto(class_report.as_uri())
        images = page.locator("img")
        assert images.count() == 4 and loaded_images(images) == 4, "every figure decodes"
        assert all(alt.strip() for alt in images.evaluate_all("images => images.map(i => i.alt)"))
        labels = page.locator("table").evaluate_all("tables => tables.map(t => t.getAttribute('aria-label'))")
        expected = ["Most frequent mistakes", "Similar pairs", "Not graded", "Suspicious"] + [
            f"{kind} {assignment}" for assignment in ASSIGNMENTS[:2] for kind in ("Exercises of", "Mistakes in")]
        assert sorted(labels) == sorted(expected), labels
        for label in labels:
            assert page.locator(f'table[aria-label="{label}"] tbody tr').count() > 0, label
        assert not [url for url in fetched if not url.startswith(("file:", "data:"))], fetched
        # On a phone the page itself does not scroll sideways: wide tables and code scroll in their boxes.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.locator("details summary").first.click()
        RESULTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS / f"class-report-{width}px.png"), full_page=True)
    except BaseException:
        shot(page, f"FAILED-class-report-{width}px")
        raise
    finally:
        context.close()


# ---- the course site (`make site`) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def site_build(tmp_path_factory):
    """The site as a reader's `make site` builds it (README: `SITE=folder` for another folder), from an empty
    execution cache, so that every notebook runs: (the site's folder, the cache)."""
    tmp = tmp_path_factory.mktemp("site")
    out, cache = tmp / "site", tmp / "cache"
    result = subprocess.run(["make", "site", f"SITE={out}"], cwd=ROOT, capture_output=True, text=True,
                            env={**shell_env(), "SITE_CACHE": str(cache)}, timeout=900)
    assert result.returncode == 0, f"make site failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return out, cache


@pytest.fixture(scope="module")
def site(site_build):
    """The built site served over HTTP on localhost: its base URL."""
    out, _ = site_build
    handler = functools.partial(QuietHandler, directory=str(out))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def reader(browser, site):
    """A reader's page, which records what went wrong as it loads: console errors and warnings, requests
    that failed or were answered with an error. Requests that leave localhost are refused: the site stands
    alone, math included."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.problems = []
    page.on("console", lambda message: message.type in ("error", "warning")
            and page.problems.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: page.problems.append(f"request failed: {request.url}"))
    page.on("response", lambda response: response.status >= 400
            and page.problems.append(f"HTTP {response.status}: {response.url}"))
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    yield page
    context.close()


def built_pages(out):
    return sorted(str(path.relative_to(out)) for path in out.rglob("*.html") if "_static" not in path.parts)


def notebook_page(assignment):
    return f"notebooks/{assignment}/{assignment}.html"


def open_page(page, base, path):
    """Load ``path`` and wait until MathJax has typeset it; the problems seen while loading."""
    page.problems.clear()
    response = page.goto(f"{base}/{path}")
    assert response.ok, f"{path}: HTTP {response.status}"
    page.wait_for_load_state("networkidle")
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    return list(page.problems)


PLACEHOLDER_ALT = "No description has been provided for this image"
# TeX that a formula left untypeset would show: a command with an argument, display or inline delimiters.
RAW_TEX = re.compile(r"\\[A-Za-z]+\{|\\[()\[\]]|\$\$|\$[^$\s][^$]*\\[A-Za-z]")


def untypeset_tex(page):
    """Text of the page's prose (code, typeset math and scripts left out) that still looks like TeX."""
    prose = page.evaluate("""() => {
        const article = document.querySelector('article') || document.body;
        const copy = article.cloneNode(true);
        copy.querySelectorAll('mjx-container, pre, code, script, style, .cell_input').forEach(e => e.remove());
        return copy.textContent;
    }""")
    return [match.group(0) for match in RAW_TEX.finditer(prose)]


def images_without_pictures(page):
    """<img> elements that did not decode, are not part of the site, or have no alt text (or the placeholder)."""
    return page.evaluate("""([placeholder]) => [...document.images]
        .filter(i => !(i.complete && i.naturalWidth > 0) || !/^(data:|http:\\/\\/127\\.0\\.0\\.1)/.test(i.src)
                     || !(i.alt || '').trim() || i.alt.includes(placeholder))
        .map(i => [i.src.slice(0, 100), i.alt.slice(0, 60)])""", [PLACEHOLDER_ALT])


def built_text(path):
    """What a built file shows a reader, as lines: an HTML page's text without its tags, a notebook's cells."""
    if path.suffix == ".ipynb":
        return "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    text = path.read_text(errors="replace")
    return html.unescape(re.sub(r"<[^>]+>", "", text)) if path.suffix == ".html" else text


@SITE
def test_site_shows_no_solution_and_no_hidden_test_in_any_built_file(site_build):
    out, _ = site_build
    secrets = {assignment: secret_lines(assignment) for assignment in ASSIGNMENTS}
    # A page shared by all (the index, search, its index) is checked against what no student notebook shows.
    public = {line.strip() for assignment in ASSIGNMENTS
              for line in built_text(NOTEBOOKS / assignment / f"{assignment}.ipynb").splitlines()}
    shared = set().union(*secrets.values()) - public
    files = [path for path in out.rglob("*") if path.is_file() and path.suffix in (".html", ".js", ".ipynb", ".txt")
             and "mathjax" not in path.parts]
    assert len([path for path in files if path.suffix == ".ipynb"]) == len(ASSIGNMENTS)
    for path in files:
        text = built_text(path)
        markers = [marker for marker in SECRET_MARKERS if marker in text]
        owner = next((assignment for assignment in ASSIGNMENTS if assignment in path.parts), None)
        leaked = secrets.get(owner, shared) & {line.strip() for line in text.splitlines()}
        assert not markers and not leaked, f"{path.relative_to(out)}: {markers} {sorted(leaked)[:3]}"


@SITE
def test_site_every_page_loads_without_errors_with_its_formulas_typeset_and_pictures_described(reader, site,
                                                                                              site_build):
    out, _ = site_build
    pages = built_pages(out)
    assert {"index.html", "search.html", *map(notebook_page, ASSIGNMENTS)} <= set(pages), pages
    for path in pages:
        with session(reader, f"site-load-{path.replace('/', '-')}"):
            problems = open_page(reader, site, path)
            assert not problems, f"{path}: {problems}"
            assert not images_without_pictures(reader), f"{path}: {images_without_pictures(reader)}"
            assert not untypeset_tex(reader), f"{path}: raw TeX on the page: {untypeset_tex(reader)[:5]}"
    # The notebooks' math is typeset (MathJax from the site's own copy), and their pictures are shown.
    for assignment in ASSIGNMENTS:
        open_page(reader, site, notebook_page(assignment))
        assert reader.locator("mjx-container").count() >= 1, f"{assignment}: no typeset formula"
        assert reader.locator(".cell_output img").count() >= 1, f"{assignment}: no graph or plot"


@SITE
def test_site_index_lists_the_notebooks_in_the_sidebar_in_order(reader, site):
    with session(reader, "site-index"):
        open_page(reader, site, "index.html")
        assert reader.locator("img[src$='backward-graph.svg']").count() == 1, "the README's picture"
        sidebar = reader.locator("nav.bd-docs-nav a.reference").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))")
        assert sidebar == ["#", *map(notebook_page, ASSIGNMENTS)], sidebar
        shot(reader, "site-index")
        reader.locator("a.right-next").click()
        reader.wait_for_url(f"**/{notebook_page(ASSIGNMENTS[0])}")


def code_cells(assignment, kind):
    """The student notebook's code cells of one kind: the exercises' stubs or their visible tests."""
    cells = read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb").cells
    grading = [cell.metadata.get("nbgrader", {}) for cell in cells if cell.cell_type == "code"]
    if kind == "exercise":
        return [g for g in grading if g.get("solution")]
    return [g for g in grading if g.get("grade") and not g.get("solution")]


@SITE
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_site_notebook_page_is_for_reading(reader, site, assignment):
    """Setup hidden, exercises as Your-turn boxes with their stubs and no error output, visible tests folded,
    an outline, previous/next links, and the launch and download buttons leading to the student notebook."""
    with session(reader, f"site-{assignment}"):
        open_page(reader, site, notebook_page(assignment))
        heading = read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb").cells[0].source.splitlines()[0]
        assert reader.locator("article h1").first.text_content().strip().rstrip("#") == heading.lstrip("# ")
        shot(reader, f"site-{assignment}-1-top")
        assert "COURSE_PACKAGE" not in reader.locator("article").text_content(), "the setup cell is shown"
        outputs = " ".join(reader.locator(".cell_output").all_text_contents())
        assert "NotImplementedError" not in outputs and reader.locator(".traceback").count() == 0
        # Each exercise's stub stands in a "Your turn" box, with nothing run under it.
        exercises = reader.locator(".tag_course-exercise")
        assert exercises.count() == len(code_cells(assignment, "exercise"))
        assert reader.locator("section.your-turn .tag_course-exercise").count() == exercises.count()
        assert reader.locator(".tag_course-exercise .cell_output").count() == 0
        box = reader.locator("section.your-turn").first
        assert box.locator("p.your-turn-label").first.text_content() == "Your turn"
        assert STUB_MESSAGE in box.locator(".tag_course-exercise").first.text_content()
        box.scroll_into_view_if_needed()
        shot(reader, f"site-{assignment}-2-your-turn")
        # The visible tests are folded away under "Show the visible tests", and open on a click.
        tests = reader.locator(".tag_course-visible-tests")
        assert tests.count() == len(code_cells(assignment, "visible tests"))
        assert reader.locator(".tag_course-visible-tests details[open]").count() == 0
        first = tests.first
        assert not first.locator("pre").first.is_visible()
        first.get_by_text("Show the visible tests").click()
        assert first.locator("pre").first.is_visible()
        # The worked examples' pictures: each plot with its caption as its alt text, each graph with its description.
        pictures = reader.locator(".cell_output img").evaluate_all(
            "images => images.map(i => [i.getAttribute('src'), i.getAttribute('alt')])")
        plots = [alt for src, alt in pictures if src.endswith(".png")]
        assert all(alt.startswith("Figure") for alt in plots), plots
        assert all(alt.startswith(("Backward graph", "Graph of your engine")) or ": " in alt
                   for src, alt in pictures if src.endswith(".svg")), pictures
        picture = reader.locator(".cell_output img").first
        picture.scroll_into_view_if_needed()
        shot(reader, f"site-{assignment}-3-picture")
        assert reader.locator("nav.page-toc a").count() >= 2, "the page's outline"
        # Previous and next: the index before the first notebook, nothing after the last.
        position = ASSIGNMENTS.index(assignment)
        previous = "index.html" if position == 0 else notebook_page(ASSIGNMENTS[position - 1])
        target = "a => a.href"
        assert reader.locator("a.left-prev").evaluate(target) == f"{site}/{previous}"
        if position + 1 < len(ASSIGNMENTS):
            following = notebook_page(ASSIGNMENTS[position + 1])
            assert reader.locator("a.right-next").evaluate(target) == f"{site}/{following}"
        else:
            assert reader.locator("a.right-next").count() == 0
        # Colab opens the student notebook from the course's repository; download gives that notebook.
        student = f"notebooks/{assignment}/{assignment}.ipynb"
        repository = COURSE_REPOSITORY.removeprefix("https://github.com/")
        colab = reader.locator("a[href^='https://colab.research.google.com/']").first.get_attribute("href")
        assert colab == f"https://colab.research.google.com/github/{repository}/blob/main/{student}"
        download = reader.locator("a.btn-download-source-button").first.get_attribute("href")
        downloaded = reader.request.get(f"{site}/{notebook_page(assignment).rsplit('/', 1)[0]}/{download}")
        assert downloaded.ok and downloaded.body() == (ROOT / student).read_bytes()


@SITE
def test_site_search_finds_retain_graph_in_02_and_opens_it(reader, site):
    with session(reader, "site-search"):
        open_page(reader, site, "search.html?q=retain_graph")
        results = reader.locator("#search-results ul.search li a")
        results.first.wait_for()
        hrefs = results.evaluate_all("links => links.map(a => a.getAttribute('href'))")
        backward = notebook_page("02_backward")
        assert any(href.startswith(backward) for href in hrefs), hrefs
        shot(reader, "site-search")
        reader.locator(f"#search-results a[href^='{backward}']").first.click()
        reader.wait_for_url(f"**/{backward}*")
        assert "retain_graph" in reader.locator("article").text_content()


@SITE
def test_site_dark_mode_switches_and_stays(reader, site):
    with session(reader, "site-dark"):
        open_page(reader, site, notebook_page(ASSIGNMENTS[0]))
        background = "() => getComputedStyle(document.body).backgroundColor"
        reader.locator(".theme-switch-button:visible").click()
        reader.locator(".theme-change-button[data-mode=light]:visible").click()
        light = reader.evaluate(background)
        reader.locator(".theme-switch-button:visible").click()
        reader.locator(".theme-change-button[data-mode=dark]:visible").click()
        assert reader.locator("html").get_attribute("data-theme") == "dark"
        assert reader.evaluate(background) != light
        shot(reader, "site-dark")
        open_page(reader, site, notebook_page(ASSIGNMENTS[1]))
        assert reader.locator("html").get_attribute("data-theme") == "dark", "the choice holds on the next page"
        reader.locator(".theme-switch-button:visible").click()
        reader.locator(".theme-change-button[data-mode=auto]:visible").click()


@SITE
def test_site_rebuild_after_one_notebook_changed_executes_only_that_one(site_build, tmp_path):
    """`make site` on a copy of the sources with a warm cache: changing one notebook's code runs it alone,
    and its page shows the change."""
    from autograd_course.book import copy_sources

    _, built_cache = site_build
    cache = tmp_path / "cache"
    shutil.copytree(built_cache, cache)
    executed_before = len(list((cache / "executed").iterdir()))
    assert executed_before == len(ASSIGNMENTS)
    book = copy_sources(ROOT, tmp_path / "sources")
    changed = tmp_path / "sources" / "notebooks" / "03_hooks" / "03_hooks.ipynb"
    nb = nbformat.read(changed, as_version=4)
    worked = next(cell for cell in nb.cells if cell.cell_type == "code" and not cell.metadata.get("nbgrader"))
    worked.source += '\nprint("this line was added after the first build")'
    nbformat.write(nb, changed)
    result = subprocess.run(["make", "site", f"BOOK={book}", f"SITE={tmp_path / 'site'}"], cwd=ROOT,
                            capture_output=True, text=True, env={**shell_env(), "SITE_CACHE": str(cache)},
                            timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(list((cache / "executed").iterdir())) == executed_before + 1
    page = (tmp_path / "site" / notebook_page("03_hooks")).read_text()
    assert "this line was added after the first build" in page.split("cell_output", 1)[1]
