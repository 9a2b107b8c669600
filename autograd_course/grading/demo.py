"""The instructor's side in one command, on a small generated class.

usage: python -m autograd_course.grading.demo [--course demo-course]

Builds a course folder (solutions, config, its own SQLite gradebook), releases
the assignments, files four students' submissions and grades them:
ada submits the solutions (correct), ben answers only every other exercise
(partly wrong), cy sends a file that is not JSON, and dee names her file wrongly
(both broken: reported, not scored 0).  It prints the grade table and leaves
grades.csv, grading-summary.txt and feedback/ in the demo folder to explore.
"""

import argparse
import shutil
from pathlib import Path

import nbformat

from .course import REPOSITORY, assignments, nbgrader
from .grade import grade_class


def partly_answered(solution, student_version):
    """The student version with the solution cells of every other exercise filled in."""
    answers = [cell for cell in solution.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    keep = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in answers[::2]}
    for cell in student_version.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in keep:
            cell.source = keep[grade_id]
    return student_version


def build(course, db_url=None, ids=None):
    """The demo course folder; ``db_url`` puts its gradebook in another database (e.g. PostgreSQL), ``ids``
    keeps only those assignments (default: all)."""
    course = Path(course)
    shutil.rmtree(course, ignore_errors=True)
    for assignment in ids or assignments(REPOSITORY):
        shutil.copytree(REPOSITORY / "solutions" / assignment, course / "solutions" / assignment)
    shutil.copy(REPOSITORY / "nbgrader_config.py", course)
    if db_url:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    ids = assignments(course)
    for assignment in ids:
        result = nbgrader(["generate_assignment", assignment, "--force"], course)
        if result.returncode != 0:
            raise SystemExit(f"generate_assignment {assignment} failed:\n{result.stderr[-2000:]}")
        solution = nbformat.read(str(course / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
        student = nbformat.read(str(course / "notebooks" / assignment / f"{assignment}.ipynb"), as_version=4)
        for name, nb in (("ada", solution), ("ben", partly_answered(solution, student))):
            folder = course / "submitted" / name / assignment
            folder.mkdir(parents=True)
            nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
    first = ids[0]
    (course / "submitted" / "cy" / first).mkdir(parents=True)
    (course / "submitted" / "cy" / first / f"{first}.ipynb").write_text('{"cells": [ this is not JSON')
    (course / "submitted" / "dee" / first).mkdir(parents=True)
    (course / "submitted" / "dee" / first / "Untitled.ipynb").write_text("{}")
    return course


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", default="demo-course")
    args = parser.parse_args(argv)
    course = build(args.course)
    print(f"Demo course in {course}/: {len(assignments(course))} assignments, 4 students. Grading...\n")
    grade_class(course)


if __name__ == "__main__":
    main()
