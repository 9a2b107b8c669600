"""A class with every kind of broken submission, graded in one `make grade` run.

Each case asserts its exact score (or that it was not graded) and the reason
reported for it; one broken submission never stops the others.  The same
course then checks re-grading, manual grades, feedback, collect and the CSV.
"""

import csv
import shutil
import zipfile

import nbformat
import pytest

from autograd_course.grading import collect
from autograd_course.grading.grade import grade_class
from harness import SOLUTIONS, grade_ids, make_course, read_notebook, submit, failing_test_cells, with_replacements

# One xdist worker runs this module, so that its module-scoped class is graded once, not once per worker.
pytestmark = pytest.mark.xdist_group("class-faults")

ASSIGNMENT = "01_graphs"
SOURCE = read_notebook(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
POINTS = grade_ids(SOURCE, "test")
TOTAL = sum(POINTS.values())
WRONG_OPS = "def ops_in_order(output):\n    return []\n"


def _without_metadata(nb):
    nb = with_replacements(nb, {})
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


def _inserted(nb, index, source):
    nb = with_replacements(nb, {})
    nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    return nb


def _test_cell_replaced(nb, grade_id, source):
    nb = with_replacements(nb, {})
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return nb


def _test_cell_deleted(nb, grade_id):
    nb = with_replacements(nb, {})
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


MONKEYPATCH = """
import sys, types, torch
from autograd_course import checks
torch.allclose = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
checks.__dict__["expect_equal"] = lambda *args, **kwargs: None
checks.__dict__["expect_close"] = lambda *args, **kwargs: None
sys.modules["autograd_course.checks"] = types.SimpleNamespace(expect=lambda *a, **k: None)
def ops_in_order(output):
    return []
"""

# student -> (submission, expected score or None when not graded, words the reason or a note must contain)
CASES = {
    "correct": (lambda: SOURCE, TOTAL, ""),
    "exception-in-unrelated-cell": (lambda: _inserted(SOURCE, 3, "raise ValueError('scratch work')"), TOTAL, ""),
    "exception-in-answer": (lambda: with_replacements(SOURCE, {"double_until": "raise ValueError('not done')"}),
                            TOTAL - POINTS["test_double_until"], ""),
    "infinite-loop": (lambda: with_replacements(SOURCE, {"double_until": "def double_until(x, limit):\n    while True:\n        pass\n"}),
                      TOTAL - POINTS["test_double_until"], "time limit"),
    "edited-test-cell": (lambda: _test_cell_replaced(with_replacements(SOURCE, {"ops_in_order": WRONG_OPS}), "test_ops_in_order", "pass"),
                         TOTAL - POINTS["test_ops_in_order"], ""),
    "deleted-test-cell": (lambda: _test_cell_deleted(with_replacements(SOURCE, {"ops_in_order": WRONG_OPS}), "test_ops_in_order"),
                          TOTAL - POINTS["test_ops_in_order"], ""),
    "stripped-metadata": (lambda: _without_metadata(SOURCE), None, "nbgrader metadata was removed"),
    "monkeypatching": (lambda: with_replacements(SOURCE, {"ops_in_order": MONKEYPATCH, "logistic_loss":
                       "def logistic_loss(w, b, x, t):\n    return ((torch.sigmoid(w * x + b) - t) ** 2).sum()\n"}),
                       TOTAL - POINTS["test_ops_in_order"] - POINTS["test_logistic_loss"], "assigns torch.allclose"),
    "graph-cut": (lambda: with_replacements(SOURCE, {"logistic_loss": "def logistic_loss(w, b, x, t):\n    return "
                                                                       "((torch.sigmoid(w.data * x + b) - t) ** 2).mean()\n"}),
                  TOTAL - POINTS["test_logistic_loss"], ""),
    "killed-kernel": (lambda: _inserted(SOURCE, 3, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), None, "kernel died"),
    "invalid-json": ("{\"cells\": [", None, "not valid JSON"),
    "missing-notebook": (None, None, "missing notebook 01_graphs.ipynb"),
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, workers):
    course = make_course(tmp_path_factory.mktemp("faults") / "course", [ASSIGNMENT], timeout=15)
    for student, (make, _, _) in CASES.items():
        if make is None:
            folder = course / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            (folder / "Untitled.ipynb").write_text("{}")
        elif isinstance(make, str):
            submit(course, student, ASSIGNMENT, raw=make)
        else:
            submit(course, student, ASSIGNMENT, make())
    outcomes = {o.student: o for o in grade_class(course, [ASSIGNMENT], workers=workers, quiet=True)}
    return course, outcomes


@pytest.mark.parametrize("student", sorted(CASES))
def test_each_fault_gets_its_exact_score_and_reason(graded_class, student):
    course, outcomes = graded_class
    _, expected, words = CASES[student]
    outcome = outcomes[student]
    if expected is None:
        assert outcome.status == "not graded" and outcome.score is None
        assert words in outcome.reason, outcome.reason
    else:
        failing = failing_test_cells(course, ASSIGNMENT, student)
        assert outcome.status == "graded", outcome.reason
        assert outcome.score == expected, f"{outcome.score} != {expected}; failing cells: {failing}"
        assert words in " ".join(outcome.notes), outcome.notes


def test_csv_and_summary_never_show_a_silent_zero(graded_class):
    course, _ = graded_class
    rows = {row["student"]: row for row in csv.DictReader(open(course / "grades.csv"))}
    assert set(rows) == set(CASES)
    for student, (_, expected, _) in CASES.items():
        if expected is None:
            assert rows[student]["status"] == "not graded" and rows[student]["score"] == "" and rows[student]["reason"]
        else:
            assert float(rows[student]["score"]) == expected
    summary = (course / "grading-summary.txt").read_text()
    assert "killed-kernel" in summary and "NOT GRADED: the kernel died" in summary
    assert "suspicious: cell" in summary


def test_feedback_hides_hidden_tests(graded_class):
    course, _ = graded_class
    html = (course / "feedback" / "monkeypatching" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    hidden = [line.strip() for cell in SOURCE.cells if "BEGIN HIDDEN TESTS" in cell.source
              for line in cell.source.split("### BEGIN HIDDEN TESTS")[1].split("### END HIDDEN TESTS")[0].splitlines()
              if len(line.strip()) > 20]
    import html as html_lib

    text = html_lib.unescape(html)
    assert "ops_in_order" in text and "Traceback (most recent call last)" not in text
    leaked = [line for line in hidden if line in text]
    assert not leaked, leaked[:3]


def test_feedback_pages_are_the_ones_nbconvert_writes(graded_class, tmp_path):
    """The course's feedback exporter (nbgrader_config.py) writes, for every graded student, the page nbgrader's
    GenerateFeedback writes with nbconvert's own HTMLExporter, up to how BeautifulSoup serialises a page."""
    from bs4 import BeautifulSoup
    from nbconvert.exporters import HTMLExporter
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    from autograd_course.grading.feedback import MISSING_ALT, TEMPLATE_DIRS, TemplateFoldersSearched
    from autograd_course.grading.grade import load_course

    class StockHTMLExporter(TemplateFoldersSearched, HTMLExporter):
        """nbconvert's own exporter, finding the course's feedback template as the course's exporter does."""

    course, outcomes = graded_class
    config = load_course(course).config
    config.GenerateFeedback.exporter_class = StockHTMLExporter
    config.HTMLExporter.template_name = "course_feedback"
    config.HTMLExporter.extra_template_basedirs = TEMPLATE_DIRS
    config.CourseDirectory.feedback_directory = str(tmp_path / "feedback")
    coursedir = CourseDirectory(config=config, root=str(course))
    coursedir.assignment_id = ASSIGNMENT
    GenerateFeedback(coursedir=coursedir, config=config, force=True).start()
    pages = sorted((course / "feedback").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.html"))
    assert len(pages) == sum(o.status == "graded" for o in outcomes.values())
    for page in pages:
        ours = page.read_text()
        # Every graph has its description as its alt text (01 has no other pictures).
        assert f'alt="{MISSING_ALT}"' not in ours and 'alt="Backward graph of' in ours, page
        assert str(BeautifulSoup(ours, "html.parser")) == (tmp_path / page.relative_to(course)).read_text(), page


def test_feedback_opens_with_a_report_card(graded_class):
    """Each exercise by its title with its points; a lost one with what its test said, linked to that test's
    cell; no setup cell and no Colab badge on a page of results."""
    from bs4 import BeautifulSoup

    from autograd_course.grading.course import exercises

    course, outcomes = graded_class
    expected = exercises(read_notebook(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
    for student in ("correct", "monkeypatching", "infinite-loop"):
        page = BeautifulSoup((course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(),
                             "html.parser")
        rows = [[cell.get_text(" ", strip=True) for cell in row.find_all("td")] + [row.find("a")["href"]]
                for row in page.select("table.report-card tbody tr")]
        assert [(title, href) for title, _, _, href in rows] == [(e.title, f"#{e.test}") for e in expected], rows
        for (title, points, said, href), exercise in zip(rows, expected):
            assert page.find("a", attrs={"name": href[1:]}), f"the report card links to {href}"
            got, most = (float(x) for x in points.split(" / "))
            assert most == exercise.points
            lost = got < most
            assert lost == (student != "correct" and exercise.test in {
                "monkeypatching": {"test_ops_in_order", "test_logistic_loss"},
                "infinite-loop": {"test_double_until"}}[student]), (student, title, points)
            assert (said != "all tests passed" and said) if lost else said == "all tests passed", (student, title, said)
        text = str(page)
        assert "COURSE_PACKAGE" not in text and "colab-badge" not in text, "no setup cell, no Colab badge"
    said = {row.find("td").get_text(strip=True): row.find_all("td")[2].get_text(strip=True)
            for row in BeautifulSoup((course / "feedback" / "infinite-loop" / ASSIGNMENT / f"{ASSIGNMENT}.html")
                                     .read_text(), "html.parser").select("table.report-card tbody tr")}
    assert "time limit" in said[next(e.title for e in expected if e.test == "test_double_until")], said


def test_feedback_shows_the_students_graph_with_the_fault_marked(graded_class):
    """A check that finds a fault of the graph's structure (here w read through .data, so no gradient reaches
    it) draws the student's own graph with the culprit marked; the feedback page shows that drawing beside the
    message, with its description as the alt text."""
    import base64

    from bs4 import BeautifulSoup

    from autograd_course.graphs import FAULT

    course, _ = graded_class
    page = BeautifulSoup((course / "feedback" / "graph-cut" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(),
                         "html.parser")
    pictures = [image for image in page.select(".output_svg img") if image["alt"].startswith("Your graph")]
    assert len(pictures) == 1, "one drawing, for the one failed check"
    assert "w is outside the graph: got no gradient" in pictures[0]["alt"], pictures[0]["alt"]
    svg = base64.b64decode(pictures[0]["src"].split(",", 1)[1]).decode()
    assert FAULT in svg and "got no gradient" in svg
    message = pictures[0].find_next("div", class_="output_error")
    assert "no path leads from the loss back to w" in message.get_text(), "the message follows the drawing"


def test_grading_again_keeps_grades_and_manual_scores(graded_class, workers, tmp_path):
    course, first = graded_class
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade("test_ops_in_order", ASSIGNMENT, ASSIGNMENT, "edited-test-cell")
        grade.manual_score = 1.0   # the instructor gives partial credit by hand
        gradebook.db.commit()
    again = {o.student: o for o in grade_class(course, [ASSIGNMENT], workers=workers, feedback=False, quiet=True)}
    for student, outcome in first.items():
        if student == "edited-test-cell":
            assert again[student].score == outcome.score + 1.0
        else:
            assert (again[student].status, again[student].score) == (outcome.status, outcome.score), student
    # Grading again by force, in a copy of the course where two students are still submitted: the manual score
    # survives, and the grades of the students not graded this time stay stored.
    copy = tmp_path / "course"
    shutil.copytree(course, copy, symlinks=True)
    kept = {"edited-test-cell", "correct"}
    for folder in (copy / "submitted").iterdir():
        if folder.name not in kept:
            shutil.rmtree(folder)
    regraded = {o.student: o for o in grade_class(copy, [ASSIGNMENT], workers=workers, regrade=True, feedback=False, quiet=True)}
    assert set(regraded) == kept
    assert regraded["edited-test-cell"].score == first["edited-test-cell"].score + 1.0
    assert regraded["correct"].score == TOTAL
    with Gradebook(f"sqlite:///{copy / 'gradebook.db'}") as gradebook:
        stored = {submission.student.id: submission.score for submission in gradebook.assignment_submissions(ASSIGNMENT)}
    graded = {student: outcome.score for student, outcome in again.items() if outcome.status == "graded"}
    assert {student: stored.get(student) for student in graded} == graded, stored


def test_collect_files_downloads_by_name(tmp_path):
    course = make_course(tmp_path / "course", [ASSIGNMENT])
    archive = tmp_path / "downloads.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(f"ada_lovelace_{ASSIGNMENT}.ipynb", nbformat.writes(SOURCE))
        bundle.writestr(f"week 1/s1234_{ASSIGNMENT}.ipynb", nbformat.writes(SOURCE))
        bundle.writestr("random_name.ipynb", "{}")
        bundle.writestr("cy_99_unknown.ipynb", "{}")
    _, skipped = collect.collect(course, archive)
    assert sorted(skipped) == ["cy_99_unknown.ipynb", "random_name.ipynb"]
    submitted = course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["ada_lovelace", "s1234"]
    for student in ("ada_lovelace", "s1234"):
        assert (submitted / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text() == nbformat.writes(SOURCE)

    # A folder of downloads adds students and leaves those already filed in place.
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / f"dee_{ASSIGNMENT}.ipynb").write_text(nbformat.writes(SOURCE))
    collect.collect(course, folder)
    assert sorted(p.name for p in submitted.iterdir()) == ["ada_lovelace", "dee", "s1234"]


def test_the_setup_cell_is_found_whatever_order_the_gradebook_returns_cells_in(tmp_path, workers, monkeypatch):
    """nbgrader's gradebook keeps no cell order (PostgreSQL returns cells in any order): the grader must still
    put the course's setup cell first, and move no other cell."""
    from types import SimpleNamespace

    from autograd_course.grading.grade import Course

    class LastCellsFirst:
        """The course's gradebook, giving each notebook's cells in reverse order."""

        def __init__(self, gradebook):
            self.gradebook = gradebook

        def __enter__(self):
            self.gradebook.__enter__()
            return self

        def __exit__(self, *exc):
            return self.gradebook.__exit__(*exc)

        def __getattr__(self, name):
            return getattr(self.gradebook, name)

        def find_notebook(self, *args):
            notebook = self.gradebook.find_notebook(*args)
            return SimpleNamespace(**{kind: getattr(notebook, kind)[::-1]
                                      for kind in ("source_cells", "grade_cells", "solution_cells")})

    course = make_course(tmp_path / "course", [ASSIGNMENT])
    submit(course, "solution", ASSIGNMENT, SOURCE)
    stored_order = Course.gradebook
    monkeypatch.setattr(Course, "gradebook", lambda self: LastCellsFirst(stored_order(self)))
    (outcome,) = grade_class(course, [ASSIGNMENT], workers=workers, feedback=False, quiet=True)
    assert (outcome.status, outcome.score, outcome.notes) == ("graded", TOTAL, []), outcome


LATE_OUTPUT = '''import sys, time
class LateFlush:
    """The kernel's flush after a cell's reply, before it says it is idle, takes 6 s once: a loaded machine."""
    def __init__(self, stream):
        self.stream, self.flushes = stream, 0
    def flush(self):
        self.flushes += 1
        if self.flushes == 2:
            time.sleep(6)
        return self.stream.flush()
    def __getattr__(self, name):
        return getattr(self.stream, name)
sys.stdout = LateFlush(sys.stdout)
print("late")'''


def test_output_that_arrives_late_on_a_loaded_machine_costs_nothing():
    """nbclient gives up on a cell whose output is still on its way 4 s after the reply, and nbgrader makes that
    end the notebook; the course's configuration waits long enough for a busy grading machine."""
    from autograd_course.grading.execute import Job, run_job
    from autograd_course.grading.grade import load_course
    from harness import ROOT

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LATE_OUTPUT), nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    result = run_job(Job("late", "late", nbformat.writes(nb), execute_config=load_course(ROOT).execute_config()))
    assert not result.error and not result.notes, (result.error, result.notes)
    executed = nbformat.reads(result.notebook, as_version=4)
    assert [output.get("text") for cell in executed.cells for output in cell.outputs] == ["late\n"]
