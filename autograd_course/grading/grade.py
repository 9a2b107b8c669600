"""Grade a whole class: every submission under submitted/, in parallel across students.

usage: python -m autograd_course.grading.grade [--course DIR] [--jobs N] [--regrade] [ASSIGNMENT ...]

For each submitted/<student>/<assignment>/ it checks the notebook first (present,
valid JSON, a readable notebook), flags code that patches what the tests rely
on, then runs ``nbgrader autograde --student`` in its own process: one broken
submission fails alone, with its reason, and the others are graded.  Then it
writes feedback/ (nbgrader generate_feedback), grades.csv and
grading-summary.txt.  A submission that could not be graded is reported by
name and reason and never appears in grades.csv as a silent 0.  Unchanged
submissions that were graded before are not graded again (``--regrade`` forces
it); manual grades live in the gradebook and are kept by nbgrader.
Exit status: 0 when every submission was graded, 1 otherwise.
"""

import argparse
import csv
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import assignments, nbgrader
from .scan import scan_notebook

CSV_FIELDS = ["assignment", "student", "status", "score", "max_score", "reason", "notes"]


@dataclass
class Outcome:
    assignment: str
    student: str
    status: str = "graded"          # "graded" or "not graded"
    reason: str = ""
    notes: list = field(default_factory=list)
    score: float = None
    max_score: float = None
    seconds: float = 0.0
    regraded: bool = True


def find_submissions(course, ids):
    """(student, assignment) for every submitted/<student>/<assignment>/ folder."""
    root = Path(course) / "submitted"
    if not root.is_dir():
        return []
    return sorted((student.name, assignment) for student in root.iterdir() if student.is_dir()
                  for assignment in ids if (student / assignment).is_dir())


def precheck(course, student, assignment):
    """Read the submission; return (reason it cannot be graded or '', notes)."""
    folder = Path(course) / "submitted" / student / assignment
    path = folder / f"{assignment}.ipynb"
    if not path.exists():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        found = f" (found {', '.join(others)}: the file must be named {assignment}.ipynb)" if others else ""
        return f"missing notebook {assignment}.ipynb{found}", []
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        return f"not a notebook: the file is not valid JSON ({error})", []
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several types for a malformed notebook
        return f"not a notebook: {str(error).splitlines()[0][:200]}", []
    if not any("nbgrader" in cell.get("metadata", {}) for cell in nb.cells):
        # nbgrader cannot match such a notebook to its cells (it fails inside add_missing_cells).
        return ("nbgrader metadata was removed from every cell (an editor or a tool stripped it): "
                "copy the answers into the released notebook and submit that"), []
    notes = []
    for index, what in scan_notebook(nb):
        notes.append(f"suspicious: cell {index} {what}")
    return "", notes


def failure_reason(log):
    """A readable reason from nbgrader's log of a failed autograde."""
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log:
        return "the kernel died while running the notebook (the code crashed or ended the Python process, or ran out of memory)"
    if "UnresponsiveKernelError" in log or "Timeout waiting for" in log:
        return "the kernel stopped responding"
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line and "ERROR]" not in line]
    return f"nbgrader could not grade it: {(errors or lines or ['no output'])[-1][:300]}"


def _autograded_path(course, student, assignment):
    return Path(course) / "autograded" / student / assignment / f"{assignment}.ipynb"


def _up_to_date(course, student, assignment):
    graded = _autograded_path(course, student, assignment)
    if not graded.exists():
        return False
    submitted = Path(course) / "submitted" / student / assignment
    newest = max(p.stat().st_mtime for p in submitted.rglob("*") if p.is_file())
    return graded.stat().st_mtime >= newest


def _timeouts(course, student, assignment):
    nb = nbformat.read(str(_autograded_path(course, student, assignment)), as_version=4)
    return [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and any(out.get("ename") == "CellTimeoutError" for out in cell.get("outputs", []))]


def autograde(course, student, assignment, attempts=3):
    """Run nbgrader autograde for one submission; retry if the shared gradebook was locked."""
    for attempt in range(attempts):
        result = nbgrader(["autograde", assignment, "--student", student, "--force"], course)
        log = result.stdout + result.stderr
        if result.returncode == 0 or "database is locked" not in log:
            return result.returncode, log
        time.sleep(1 + attempt)
    return result.returncode, log


def grade_one(course, student, assignment, regrade):
    start = time.perf_counter()
    outcome = Outcome(assignment, student)
    reason, outcome.notes = precheck(course, student, assignment)
    if reason:
        outcome.status, outcome.reason = "not graded", reason
    elif not regrade and _up_to_date(course, student, assignment):
        outcome.regraded = False
    else:
        returncode, log = autograde(course, student, assignment)
        if returncode != 0 or not _autograded_path(course, student, assignment).exists():
            outcome.status, outcome.reason = "not graded", failure_reason(log)
            shutil.rmtree(_autograded_path(course, student, assignment).parent, ignore_errors=True)
    if outcome.status == "graded":
        for index in _timeouts(course, student, assignment):
            outcome.notes.append(f"cell {index} stopped at the per-cell time limit")
    outcome.seconds = time.perf_counter() - start
    return outcome


def read_scores(course, outcomes):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gradebook:
        for outcome in outcomes:
            if outcome.status != "graded":
                continue
            try:
                submission = gradebook.find_submission(outcome.assignment, outcome.student)
            except MissingEntry:
                outcome.status, outcome.reason = "not graded", "nbgrader stored no grades for it"
                continue
            outcome.score, outcome.max_score = submission.score, submission.max_score


def write_feedback(course, ids, jobs):
    def one(assignment):
        return assignment, nbgrader(["generate_feedback", assignment, "--force"], course)

    problems = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for assignment, result in pool.map(one, ids):
            if result.returncode != 0:
                problems.append(f"feedback for {assignment} failed: {failure_reason(result.stdout + result.stderr)}")
    return problems


def write_reports(course, outcomes, problems):
    course = Path(course)
    with open(course / "grades.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for o in outcomes:
            writer.writerow({"assignment": o.assignment, "student": o.student, "status": o.status,
                             "score": "" if o.score is None else f"{o.score:g}",
                             "max_score": "" if o.max_score is None else f"{o.max_score:g}",
                             "reason": o.reason, "notes": "; ".join(o.notes)})
    lines = [f"{'assignment':20} {'student':20} {'score':>9}  status"]
    for o in outcomes:
        score = f"{o.score:g}/{o.max_score:g}" if o.score is not None else "-"
        status = o.status if o.status == "graded" else f"NOT GRADED: {o.reason}"
        lines.append(f"{o.assignment:20} {o.student:20} {score:>9}  {status}")
        lines.extend(f"{'':52}note: {note}" for note in o.notes)
    failed = [o for o in outcomes if o.status != "graded"]
    lines.append("")
    lines.append(f"{len(outcomes) - len(failed)} graded, {len(failed)} not graded"
                 + (f" ({', '.join(f'{o.student}/{o.assignment}' for o in failed)})" if failed else ""))
    lines.extend(problems)
    text = "\n".join(lines) + "\n"
    (course / "grading-summary.txt").write_text(text)
    return text


def grade_class(course=".", ids=None, jobs=None, regrade=False, feedback=True, quiet=False):
    """Grade every submission; return the list of outcomes (also written to grades.csv)."""
    course = Path(course)
    ids = ids or assignments(course)
    jobs = jobs or os.cpu_count() or 2
    pending = find_submissions(course, ids)
    if not pending:
        print(f"No submissions under {course / 'submitted'} (expected submitted/<student>/<assignment>/<assignment>.ipynb).")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(lambda item: grade_one(course, *item, regrade), pending))
    read_scores(course, outcomes)
    problems = write_feedback(course, sorted({o.assignment for o in outcomes if o.status == "graded"}), jobs) \
        if feedback else []
    text = write_reports(course, outcomes, problems)
    if not quiet:
        print(text, end="")
        print(f"Wrote {course / 'grades.csv'}, {course / 'grading-summary.txt'} and feedback/.")
    return outcomes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--course", default=".")
    parser.add_argument("--jobs", type=int, default=None, help="parallel students (default: CPU count)")
    parser.add_argument("--regrade", action="store_true", help="grade again submissions that are unchanged")
    args = parser.parse_args(argv)
    outcomes = grade_class(args.course, args.assignments or None, args.jobs, args.regrade)
    sys.exit(0 if all(o.status == "graded" for o in outcomes) else 1)


if __name__ == "__main__":
    main()
