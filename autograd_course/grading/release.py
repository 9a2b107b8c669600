"""solutions/ -> notebooks/: generate the student versions with nbgrader, check them, and release them to
the course's nbgrader exchange (where students on a JupyterHub fetch them; the formgrader then shows them
as released).

The repository Colab installs from is written in one place, ``autograd_course.COURSE_REPOSITORY``;
before generating, each solution's Colab badge and setup cell are brought in line with it, so the
sources and the student versions always name the same repository.

usage: python -m autograd_course.grading.release [--course DIR] [ASSIGNMENT ...]
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

from ..notebook import COURSE_REPOSITORY
from .course import assignments, with_tools_on_path

LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def student_version_problems(path):
    """What is wrong with a generated student notebook: leaked solutions, outputs, execution counts."""
    nb = nbformat.read(str(path), as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        for marker in LEAK_MARKERS:
            if marker in cell.source:
                problems.append(f"cell {index} contains '{marker}'")
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count):
            problems.append(f"cell {index} carries outputs or an execution count")
    return problems


COLAB_BADGE_TARGET = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+")
PIP_FROM_GITHUB = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+")


def colab_url(assignment, repository=COURSE_REPOSITORY):
    """Where the Open in Colab badge of a notebook points: its student version on GitHub."""
    slug = repository.split("://github.com/", 1)[1].rstrip("/")
    return f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{assignment}/{assignment}.ipynb"


def fill_repository(path, assignment, repository=COURSE_REPOSITORY):
    """Point the Colab badge and the setup cell's install at ``repository``; True if the file changed."""
    if not repository.startswith("https://github.com/"):
        raise ValueError(f"Colab opens notebooks from GitHub only; COURSE_REPOSITORY is {repository!r}")
    nb = nbformat.read(str(path), as_version=4)
    changed = False
    for cell in nb.cells:
        source = COLAB_BADGE_TARGET.sub(colab_url(assignment, repository), cell.source)
        source = PIP_FROM_GITHUB.sub(f"git+{repository.rstrip('/')}", source)
        if source != cell.source:
            cell.source, changed = source, True
    if changed:
        nbformat.write(nb, str(path))
    return changed


def clean(path):
    """Drop outputs and execution counts (nbgrader keeps whatever the source had)."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, str(path))


def nbgrader_api(course):
    """nbgrader's Python API on the course folder, as its formgrader uses it: nbgrader's own commands, without a
    process of their own each (one takes 1-2 s to start). Releasing replaces what the exchange held, as
    ``release_assignment --force`` does."""
    from nbgrader.apps import NbGraderAPI

    from .grade import load_course

    loaded = load_course(course)
    loaded.config.ExchangeReleaseAssignment.force = True
    with_tools_on_path()       # the gradebook runs alembic by name
    return NbGraderAPI(coursedir=loaded.coursedir, config=loaded.config)


def _failure(result):
    return (result.get("error") or result.get("log") or "")[-2000:]


def release(course, ids):
    course = Path(course)
    exchange = course / "exchange"   # the course's own (nbgrader_config.py): made here where it is missing
    if not exchange.exists():
        exchange.mkdir()
        exchange.chmod(0o1777)
    failed = False
    for assignment in ids:
        source = course / "solutions" / assignment / f"{assignment}.ipynb"
        if source.exists() and fill_repository(source, assignment):
            print(f"{assignment}: {source.relative_to(course)} now names {COURSE_REPOSITORY}")
    api = nbgrader_api(course)
    for assignment in ids:
        result = api.generate_assignment(assignment, force=True)
        target = course / "notebooks" / assignment / f"{assignment}.ipynb"
        if not result["success"] or not target.exists():
            print(f"{assignment}: nbgrader generate_assignment failed\n{_failure(result)}", file=sys.stderr)
            failed = True
            continue
        clean(target)
        problems = student_version_problems(target)
        for problem in problems:
            print(f"{assignment}: {problem}", file=sys.stderr)
        failed |= bool(problems)
        if not problems:
            published = api.release_assignment(assignment)
            if not published["success"]:
                print(f"{assignment}: nbgrader release_assignment failed\n{_failure(published)}", file=sys.stderr)
                failed = True
        print(f"{assignment}: {target.relative_to(course)}")
    return not failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--course", default=".", help="course folder (default: here)")
    args = parser.parse_args(argv)
    ids = args.assignments or assignments(args.course)
    sys.exit(0 if release(args.course, ids) else 1)


if __name__ == "__main__":
    main()
