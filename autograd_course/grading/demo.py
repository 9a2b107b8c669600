"""The instructor's side in one command, on a small generated class.

usage: python -m autograd_course.grading.demo [--course demo-course]

Builds a course folder (solutions, config, its own SQLite gradebook), releases
the assignments, enrols five students by name and files their submissions:
ada submits the solutions (correct), ben answers every other exercise and makes a
typical mistake of tests/submissions in the others (partly wrong), eve answers as ben does in the first assignment and adds a
cell that makes ``torch.allclose`` always agree (she gains nothing, and is flagged suspicious),
cy sends a file that is not JSON and dee names her file wrongly (both broken:
reported with their reasons, not scored 0).  It grades them, prints the grade
table and leaves grades.csv, grades-by-exercise.csv, grading-summary.txt, feedback/ and the
class report (class-report/index.html) in the demo folder to explore; ``make demo-lab`` opens it in the formgrader.
"""

import argparse
import shutil
from pathlib import Path

import nbformat

from .course import REPOSITORY, assignments
from .grade import grade_class, load_course, write_class_report
from .release import release
from .synthetic import load_cases

# (id, first name, last name) of the demo's students.
STUDENTS = [("ada", "Ada", "Byron"), ("ben", "Ben", "Okafor"), ("cy", "Cy", "Park"), ("dee", "Dee", "Novak"),
            ("eve", "Eve", "Moreau")]
# eve's extra cell: a comparison that always agrees, which the judge (not her kernel) never uses.
ALWAYS_AGREE = "import torch\ntorch.allclose = lambda *args, **kwargs: True   # every comparison passes?\n"


def partly_answered(solution, student_version, assignment):
    """The student version with the solution cells of every other exercise filled in, and a typical mistake in
    each of the others that has one written in tests/submissions (the rest left as released)."""
    answers = [cell for cell in solution.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    keep = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in answers[::2]}
    if (REPOSITORY / "tests" / "submissions" / f"nb{assignment}.py").exists():
        mistakes = getattr(load_cases(assignment), "MISTAKES", {})
        keep.update((cell.metadata["nbgrader"]["grade_id"], mistakes[cell.metadata["nbgrader"]["grade_id"]][1])
                    for cell in answers[1::2] if cell.metadata["nbgrader"]["grade_id"] in mistakes)
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
    with load_course(course).gradebook() as gradebook:
        for student, first_name, last_name in STUDENTS:
            gradebook.update_or_create_student(student, first_name=first_name, last_name=last_name,
                                               email=f"{student}@example.edu")
    if not release(course, ids):
        raise SystemExit("the demo's assignments could not be released (see above)")
    for assignment in ids:
        solution = nbformat.read(str(course / "solutions" / assignment / f"{assignment}.ipynb"), as_version=4)
        student = nbformat.read(str(course / "notebooks" / assignment / f"{assignment}.ipynb"), as_version=4)
        partly = partly_answered(solution, student, assignment)
        handed_in = [("ada", solution), ("ben", partly)]
        if assignment == ids[0]:      # eve hands in the first assignment only
            tampered = nbformat.from_dict(partly)
            tampered.cells.insert(2, nbformat.v4.new_code_cell(ALWAYS_AGREE))
            handed_in.append(("eve", tampered))
        for name, nb in handed_in:
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
    print(f"Demo course in {course}/: {len(assignments(course))} assignments, {len(STUDENTS)} students. Grading...\n")
    grade_class(course)
    write_class_report(course)
    print(f"\nmake demo-lab opens {course}/ in JupyterLab: the formgrader shows this class.")


if __name__ == "__main__":
    main()
