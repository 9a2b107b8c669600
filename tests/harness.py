"""Build a throwaway nbgrader course, file submissions into it, and read the scores.

Used by the grading tests: a course copy in a temporary
folder holds its own gradebook, so tests never touch the instructor's.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from autograd_course.grading.course import tool_env
from autograd_course.grading.release import release
from autograd_course.grading.synthetic import load_cases  # noqa: F401 - the tests' cases, one loader

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
ASSIGNMENTS = sorted(p.name for p in SOLUTIONS.iterdir() if p.is_dir() and p.name[:2].isdigit())
# What nbgrader_config.py's code stub raises in place of every solution.
STUB_MESSAGE = "not done yet: replace this line with your code"
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
SECRET_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def nbgrader(args, cwd, check=True, timeout=900):
    """Run nbgrader's own CLI in ``cwd`` with this interpreter's environment."""
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=timeout, env=tool_env())
    if check and result.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def make_course(tmp, assignments=ASSIGNMENTS, timeout=None):
    """A course folder with the solutions, the config and a gradebook holding the assignments."""
    course = Path(tmp)
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    if timeout is not None:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.Execute.timeout = {int(timeout)}\n")
    for assignment in assignments:
        shutil.copytree(SOLUTIONS / assignment, course / "solutions" / assignment)
    assert release(course, list(assignments)), f"make release failed in {course}"
    return course


def read_notebook(path):
    return nbformat.read(str(path), as_version=4)


def secret_lines(assignment):
    """The stripped lines of an assignment's solutions and hidden tests that are long enough to tell
    (over 12 characters) and stand nowhere else in the instructor's notebook (worked examples and
    signatures are public): text that no student version or course page may show."""
    source = "\n".join(cell.source for cell in read_notebook(SOLUTIONS / assignment / f"{assignment}.ipynb").cells)
    blocks = SOLUTION_BLOCK.findall(source) + HIDDEN_BLOCK.findall(source)
    public = {line.strip() for line in HIDDEN_BLOCK.sub("", SOLUTION_BLOCK.sub("", source)).splitlines()}
    return {line.strip() for block in blocks for line in block.splitlines()
            if len(line.strip()) > 12 and line.strip() not in public}


def grade_ids(nb, kind):
    """grade_ids of the solution cells ('solution') or of the test cells with their points ('test')."""
    found = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if kind == "solution" and meta.get("solution"):
            found[meta["grade_id"]] = cell
        if kind == "test" and meta.get("grade") and cell.cell_type == "code":
            found[meta["grade_id"]] = meta["points"]
    return found


def with_replacements(nb, sources):
    """A copy of ``nb`` whose solution cells named in ``sources`` hold the given code."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = grade_ids(nb, "solution")
    for grade_id, source in sources.items():
        if grade_id not in cells:
            raise KeyError(f"no solution cell {grade_id!r}")
        cells[grade_id].source = source.strip("\n")
    return nb


def submit(course, student, assignment, nb=None, raw=None):
    """File a submission as nbgrader's exchange would: submitted/<student>/<assignment>/<assignment>.ipynb."""
    folder = Path(course) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{assignment}.ipynb"
    if raw is not None:
        target.write_text(raw)
    elif nb is not None:
        nbformat.write(nb, str(target))
    return target


def cell_scores(course, assignment, student):
    """{test grade_id: (score, max_score)} for one graded submission, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(assignment, assignment, student)
        return {grade.name: (grade.score, grade.max_score) for grade in submission.grades
                if grade.cell_type == "code"}


def passed_visible_tests(course, assignment, student):
    """The test grade_ids whose visible part passed in the autograded notebook: each test cell says so once its
    visible tests pass ("Visible tests passed.", or that the predictions are recorded), before its hidden tests."""
    nb = read_notebook(Path(course) / "autograded" / student / assignment / f"{assignment}.ipynb")
    return {cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
            and any(output.output_type == "stream" and re.search(r"Visible tests passed\.|predictions are recorded",
                                                                 output.text) for output in cell.get("outputs", []))}


def pictures_of_test_cells(course, assignment, student):
    """{test grade_id: [SVG text]} of the pictures the checks drew into the autograded notebook's test cells."""
    nb = read_notebook(Path(course) / "autograded" / student / assignment / f"{assignment}.ipynb")
    return {cell.metadata["nbgrader"]["grade_id"]: [output.data["image/svg+xml"] for output in cell.get("outputs", [])
                                                    if output.output_type == "display_data"
                                                    and "image/svg+xml" in output.get("data", {})]
            for cell in nb.cells if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}


def failing_test_cells(course, assignment, student):
    """{test grade_id: 'ename: evalue'} for the test cells that failed in the autograded notebook."""
    nb = read_notebook(Path(course) / "autograded" / student / assignment / f"{assignment}.ipynb")
    errors = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    errors[meta["grade_id"]] = f"{output.ename}: {output.evalue}"
    return errors


