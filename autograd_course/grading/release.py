"""solutions/ -> notebooks/: generate the student versions with nbgrader, then check them.

usage: python -m autograd_course.grading.release [--course DIR] [ASSIGNMENT ...]
"""

import argparse
import sys
from pathlib import Path

import nbformat

from .course import assignments, nbgrader

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


def clean(path):
    """Drop outputs and execution counts (nbgrader keeps whatever the source had)."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, str(path))


def release(course, ids):
    course = Path(course)
    failed = False
    for assignment in ids:
        result = nbgrader(["generate_assignment", assignment, "--force"], course)
        target = course / "notebooks" / assignment / f"{assignment}.ipynb"
        if result.returncode != 0 or not target.exists():
            print(f"{assignment}: nbgrader generate_assignment failed\n{result.stderr[-2000:]}", file=sys.stderr)
            failed = True
            continue
        clean(target)
        problems = student_version_problems(target)
        for problem in problems:
            print(f"{assignment}: {problem}", file=sys.stderr)
        failed |= bool(problems)
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
