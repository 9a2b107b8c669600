"""The gradebook in the grade-import formats of Canvas and Moodle, one row per student, one column per assignment.

usage: python -m autograd_course.grading.export [--course DIR] [--out DIR]

- ``canvas-grades.csv``: Canvas's gradebook import layout: the columns Student ("Last, First"), ID, SIS User ID,
  SIS Login ID and Section, then one column per assignment (Canvas creates an assignment for a column it does
  not know), and a second row "Points Possible". Canvas matches students by SIS User ID or SIS Login ID, which
  hold the nbgrader student id: enrol students in nbgrader under their SIS ids for the import to find them.
- ``moodle-grades.csv``: for Moodle's "Import grades from CSV": an identifier column (ID number, the nbgrader
  student id; Email address where the gradebook has one) to map to the user field, names, and one column per
  assignment to map to its grade item.
A submission that was not graded leaves its cell empty, which both systems skip on import rather than
entering a zero. Scores are those of the gradebook (what results.py reads), manual grades included.
nbgrader's own ``nbgrader export`` keeps working beside this.
"""

import argparse
import csv
from pathlib import Path

from .grade import load_course
from .results import class_results

CANVAS_FIELDS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_FIELDS = ["ID number", "Email address", "First name", "Last name"]


def _students(course):
    with course.gradebook() as gradebook:
        return {s.id: (s.first_name or "", s.last_name or "", s.email or "") for s in gradebook.students}


def export(course, out):
    """Write the two files into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = class_results(course)
    students = _students(course)
    ids = sorted({r.assignment for r in results})
    points = {}
    for r in results:
        if r.max_score is not None:
            points[r.assignment] = max(points.get(r.assignment, 0), r.max_score)
    scores = {(r.student, r.assignment): r.score for r in results if r.status == "graded" and r.score is not None}
    everyone = sorted(set(students) | {r.student for r in results})

    canvas = out / "canvas-grades.csv"
    with open(canvas, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CANVAS_FIELDS + ids)
        writer.writerow(["Points Possible", "", "", "", ""] + [f"{points.get(a, ''):g}" if a in points else "" for a in ids])
        for student in everyone:
            first, last, _ = students.get(student, ("", "", ""))
            name = f"{last}, {first}" if first and last else student
            writer.writerow([name, "", student, student, ""]
                            + [f"{scores[student, a]:g}" if (student, a) in scores else "" for a in ids])
    moodle = out / "moodle-grades.csv"
    with open(moodle, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MOODLE_FIELDS + ids)
        for student in everyone:
            first, last, email = students.get(student, ("", "", ""))
            writer.writerow([student, email, first, last]
                            + [f"{scores[student, a]:g}" if (student, a) in scores else "" for a in ids])
    return [canvas, moodle]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", default=".")
    parser.add_argument("--out", default=None, help="folder for the files (default: exports/ in the course)")
    args = parser.parse_args(argv)
    course = load_course(args.course)
    for path in export(course, args.out or course.root / "exports"):
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
