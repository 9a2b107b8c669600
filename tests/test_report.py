"""The class report (`make report`) finds what a class holds: a synthetic class with planted facts (an exercise
everybody answers, one nobody does, a mistake made by 30 % of the class, two submissions copied with renamed
variables and reordered helpers, a suspicious and a not-graded submission), started as the README says.

Its statistics are checked against the gradebook read here on its own; a class stored in PostgreSQL gets the
same report as the same class in SQLite. test_engine.py checks the report of a class graded for real, and
test_browser.py opens the page in Chromium.
"""

import csv
import re
import subprocess

import numpy as np
import pytest

from autograd_course.grading.synthetic import build_class
from browser import shell_env
from harness import ASSIGNMENTS, ROOT
from postgres import create_database, postgres_server

pytestmark = pytest.mark.xdist_group("report")
STUDENTS = 80
IDS = ASSIGNMENTS[:2]


def make_report(course, *args):
    """`make report ARGS="--course DIR …"` from the repository, in an instructor's shell."""
    result = subprocess.run(["make", "-s", "report", f"ARGS=--course {course} {' '.join(args)}"], cwd=ROOT,
                            env=shell_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"make report failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert f"Class report: {course / 'class-report' / 'index.html'}" in result.stdout, result.stdout
    return course / "class-report"


def table(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def planted_class(tmp_path_factory):
    course = tmp_path_factory.mktemp("synthetic") / "course"
    planted = build_class(course, students=STUDENTS, ids=IDS, seed=7)
    return course, planted, make_report(course)


def test_the_report_finds_every_planted_fact(planted_class):
    course, planted, out = planted_class
    page = (out / "index.html").read_text()
    exercises = {(row["assignment"], row["exercise"]): row for row in table(out / "exercises.csv")}
    graded = STUDENTS - 1                     # the not-graded submission is in the first assignment
    easy, hard = exercises[planted.assignment, planted.everybody_correct], \
        exercises[planted.assignment, planted.everybody_fails]
    assert float(easy["full_marks_share"]) == 1 and "everybody gets it" in easy["callouts"], easy
    assert float(hard["full_marks_share"]) == 0 and "almost nobody gets it" in hard["callouts"], hard
    assert int(easy["graded"]) == graded and easy["title"].startswith("Exercise "), easy
    assert {assignment for assignment, _ in exercises} == set(IDS)

    test, kind, students = planted.misconception
    groups = [row for row in table(out / "misconceptions.csv") if (row["assignment"], row["exercise"]) == (
        planted.assignment, test)]
    planted_group = next(row for row in groups if row["mistake"] == kind)
    assert planted_group["students"].split() == sorted(students), planted_group
    assert int(planted_group["count"]) == len(students) == round(0.3 * graded)
    assert planted_group["example_message"] and f"{len(students)} of {graded}" in page
    assert all(row["mistake"] == kind for row in groups), "nobody else fails the planted exercise"

    pairs = [row for row in table(out / "similar-pairs.csv") if row["assignment"] == planted.assignment]
    assert pairs and {pairs[0]["student"], pairs[0]["other_student"]} == set(planted.copied), pairs[:3]
    runner_up = float(pairs[1]["score"]) if len(pairs) > 1 else 0.0
    assert float(pairs[0]["score"]) > runner_up + 0.2, pairs[:3]
    # The matching cells are shown side by side, the copied helpers marked under both names.
    first_pair = page[page.index('id="pair-1"'):]
    assert "<mark>" in first_pair and "assert_dims" in first_pair and "check_shape" in first_pair
    assert "a pointer to read, not a verdict" in page

    section = page[page.index('id="not-graded"'):]
    assert planted.not_graded in section and "not valid JSON" in section
    assert planted.suspicious in section and "suspicious: replaces torch.allclose" in section
    # Every figure is embedded, and also beside the page.
    for assignment in IDS:
        for figure in ("scores", "exercises"):
            data = (out / f"{assignment}-{figure}.png").read_bytes()
            assert data.startswith(b"\x89PNG") and len(data) > 5_000
    assert len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{5000,}" alt="[^"]+"', page)) == 2 * len(IDS)


def test_the_statistics_are_the_gradebook_s(planted_class):
    """Mean, share with full marks and point-biserial discrimination, computed here from nbgrader's own API."""
    from nbgrader.api import Gradebook

    course, _, out = planted_class
    rows = {(row["assignment"], row["exercise"]): row for row in table(out / "exercises.csv")}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for assignment in IDS:
            scores = {}
            for submission in gradebook.assignment_submissions(assignment):
                notebook = submission.notebooks[0]
                scores[submission.student_id] = {g.name: (g.score, g.max_score) for g in notebook.grades
                                                 if g.cell_type == "code" and g.max_score}
            tests = sorted({name for cells in scores.values() for name in cells})
            matrix = np.array([[cells[t][0] for t in tests] for cells in scores.values()])
            most = np.array([next(iter(scores.values()))[t][1] for t in tests])
            totals = matrix.sum(axis=1)
            for column, test in enumerate(tests):
                row = rows[assignment, test]
                full = (matrix[:, column] >= most[column]).astype(float)
                assert float(row["mean_score"]) == pytest.approx(matrix[:, column].mean(), abs=1e-3)
                assert float(row["full_marks_share"]) == pytest.approx(full.mean(), abs=1e-3)
                rest = totals - matrix[:, column]
                if full.std() == 0 or rest.std() == 0:
                    assert row["discrimination"] == "", row
                else:
                    assert float(row["discrimination"]) == pytest.approx(np.corrcoef(full, rest)[0, 1], abs=1e-3)
                    low = "does not separate" in row["callouts"]
                    assert low == (np.corrcoef(full, rest)[0, 1] < 0.2), row


def test_a_class_in_postgresql_gets_the_report_of_the_same_class_in_sqlite(tmp_path):
    with postgres_server() as server:
        url = create_database(server, "report")
        courses = {}
        for name, db_url in (("sqlite", None), ("postgresql", url)):
            courses[name] = tmp_path / name / "course"
            build_class(courses[name], students=20, ids=IDS[:1], seed=3, db_url=db_url)
            make_report(courses[name])
        assert not (courses["postgresql"] / "gradebook.db").exists()
        for name in ("exercises.csv", "misconceptions.csv", "similar-pairs.csv"):
            sqlite, postgresql = (table(courses[db] / "class-report" / name) for db in ("sqlite", "postgresql"))
            assert sqlite == postgresql and (sqlite or name == "similar-pairs.csv"), name


def test_a_course_with_nothing_graded_gets_a_report_that_says_so(tmp_path):
    course = tmp_path / "course"
    build_class(course, students=0, ids=IDS[:1])
    page = (make_report(course, "--no-similarity") / "index.html").read_text()
    assert "0 graded submission(s)" in page and "Left out of this report (--no-similarity)" in page
    assert not table(course / "class-report" / "exercises.csv")
