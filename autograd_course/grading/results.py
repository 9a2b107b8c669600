"""Results per submission and per exercise, read from the gradebook: grades.csv, grades-by-exercise.csv and
grading-summary.txt.

nbgrader's gradebook holds every score, each test cell's included, whatever run graded it; the files are
written from it, so ``make grade 03_hooks`` leaves every other assignment's rows in place.  What the
gradebook has no column for is kept beside its scores:
- the first line of the judge's message for each failed exercise, and the kind of mistake it names in
  brackets at its end ("... over the broadcast dimensions. [grad_not_reduced_over_broadcast]"), as the
  automatic comment of that exercise's answer cell (nbgrader's own place for it: the formgrader shows it in
  that cell's comment box while grading by hand, the feedback page under the student's answer);
- a submission with a ``suspicious`` note is flagged (the formgrader marks flagged submissions);
- each submission's status, reason and notes, in grading-status.json in the course folder, updated by each
  run for the submissions it saw.
"""

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..mistakes import KIND, kind_of

STATUS_FILE = "grading-status.json"
CSV_FIELDS = ["assignment", "student", "status", "score", "max_score", "reason", "notes"]
EXERCISE_FIELDS = ["assignment", "student", "exercise", "title", "score", "max_score", "mistake", "message"]
NO_RESPONSE = "No response."          # nbgrader's automatic comment on an answer cell left as released
_KIND_TAG = re.compile(rf" \[({KIND.pattern})\]$")
MESSAGE_CHARS = 300
NO_SANDBOX_WARNING = ("WARNING: graded WITHOUT the sandbox (--no-sandbox): student code ran with the grader's "
                      "rights and could read or change the gradebook and other students' files.")


@dataclass
class ExerciseResult:
    exercise: str         # the grade_id of its test cell
    title: str
    score: float
    max_score: float
    message: str = ""     # what the judge said when it failed ('' when it passed)
    kind: str = ""        # the kind of mistake the message names (see autograd_course.mistakes)


@dataclass
class SubmissionResult:
    assignment: str
    student: str
    status: str = "graded"
    reason: str = ""
    notes: list = field(default_factory=list)
    score: float = None
    max_score: float = None
    exercises: list = field(default_factory=list)

    @property
    def lost(self):
        return [e for e in self.exercises if e.score < e.max_score]


def verdict_message(verdict):
    """The first line of what a failed test said: the checks' message, or the student's own exception by name."""
    lines = (verdict.get("evalue") or "").strip().splitlines()
    first = (lines[0] if lines else "")[:MESSAGE_CHARS]
    ename = verdict.get("ename") or "AssertionError"
    return first if ename == "AssertionError" and first else f"{ename}: {first}".rstrip(": ")


def with_kind(message, kind):
    """An automatic comment: the message, the kind of mistake it names in brackets at its end."""
    return f"{message} [{kind}]" if kind and KIND.fullmatch(kind) else message


def message_and_kind(comment):
    """An automatic comment as (message, kind): the kind from its tag, else named from its words."""
    comment = (comment or "").strip()
    tag = _KIND_TAG.search(comment)
    if tag:
        return comment[:tag.start()], tag.group(1)
    if not comment:
        return "", ""
    return comment, "no_response" if comment == NO_RESPONSE else kind_of(comment)


def store_in_gradebook(course, outcome, verdicts):
    """The judge's messages (as automatic comments of the exercises' answer cells) and the suspicious flag of
    one graded submission, into the gradebook beside the scores nbgrader's SaveAutoGrades wrote."""
    from nbgrader.api import MissingEntry

    suspicious = any(note.startswith("suspicious") for note in outcome.notes)
    with course.gradebook() as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(outcome.assignment, outcome.assignment, outcome.student)
        except MissingEntry:
            return
        notebook.flagged = suspicious
        comments = {comment.name: comment for comment in notebook.comments}
        for exercise in course.exercises(outcome.assignment):
            comment, verdict = comments.get(exercise.solution), verdicts.get(exercise.test)
            if comment is None or verdict is None or comment.auto_comment == NO_RESPONSE:
                continue
            comment.auto_comment = None if verdict.get("passed") else with_kind(
                verdict_message(verdict), verdict.get("kind") or kind_of(verdict_message(verdict)))
        gradebook.db.commit()


def file_for_manual_grading(course, outcomes):
    """Each submission this run could not grade, and that the gradebook holds no grades of, goes into the
    gradebook without scores and flagged: the formgrader lists it under Manual Grading, and its page there is the
    released notebook opening with why it was not graded, so that the instructor can read the student's files and
    grade it by hand. Grades stored before stay as they are."""
    import nbformat
    from nbgrader.api import MissingEntry

    for o in outcomes:
        released = course.released(o.assignment) if o.status != "graded" else None
        if released is None:
            continue
        with course.gradebook() as gradebook:
            try:
                gradebook.find_assignment(o.assignment)
            except MissingEntry:
                continue
            try:
                submission = gradebook.find_submission(o.assignment, o.student)
            except MissingEntry:
                gradebook.update_or_create_student(o.student)
                submission = gradebook.add_submission(o.assignment, o.student)
            if any(grade.auto_score is not None or grade.manual_score is not None
                   for notebook in submission.notebooks for grade in notebook.grades):
                continue
            for notebook in submission.notebooks:
                notebook.flagged = True
            gradebook.db.commit()
        page = nbformat.from_dict(released)
        page.cells.insert(0, nbformat.v4.new_markdown_cell(
            f"**Not graded automatically: {o.reason}.**\n\nThis is the released notebook, not the student's: their "
            f"files are in `submitted/{o.student}/{o.assignment}/`. Grade them here by hand, or have the student "
            "hand in a working notebook and run `make grade` again."))
        target = course.folder("autograded", o.student, o.assignment) / f"{o.assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(page, str(target))


def read_status(root):
    """grading-status.json as {assignment: {student: {"status", "reason", "notes"}}} ({} where there is none)."""
    try:
        status = json.loads((Path(root) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return status if isinstance(status, dict) else {}


def update_status(root, outcomes):
    """grading-status.json with this run's outcomes merged in; return it ({assignment: {student: entry}}).

    A submission left as it was graded before keeps the entry that grading wrote (its notes included)."""
    path = Path(root) / STATUS_FILE
    status = read_status(root)
    for o in outcomes:
        entries = status.setdefault(o.assignment, {})
        if not o.regraded and o.student in entries:
            continue
        entries[o.student] = {"status": o.status, "reason": o.reason, "notes": list(o.notes)}
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(json.dumps(status, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, path)
    return status


def _graded_cells(gradebook):
    """(assignment, student, test cell, score, max score, whether scored at all, whether by hand) of every grade
    the gradebook holds."""
    from nbgrader.api import Assignment, Grade, GradeCell, Notebook, SubmittedAssignment, SubmittedNotebook

    return (gradebook.db.query(Assignment.name, SubmittedAssignment.student_id, GradeCell.name, Grade.score,
                               GradeCell.max_score, Grade.auto_score != None, Grade.manual_score != None)  # noqa: E711
            .select_from(Grade)
            .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(GradeCell, Grade.cell_id == GradeCell.id)
            .filter(Notebook.name == Assignment.name)
            .all())


def _comments(gradebook):
    """{(assignment, student, answer cell): (message, kind)} of every comment the gradebook holds (the
    instructor's own message before the automatic one; the kind is the automatic comment's)."""
    from nbgrader.api import (Assignment, Comment, Notebook, SolutionCell, SubmittedAssignment,
                              SubmittedNotebook)

    rows = (gradebook.db.query(Assignment.name, SubmittedAssignment.student_id, SolutionCell.name,
                               Comment.manual_comment, Comment.auto_comment)
            .select_from(Comment)
            .join(SubmittedNotebook, Comment.notebook_id == SubmittedNotebook.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(SolutionCell, Comment.cell_id == SolutionCell.id)
            .filter(Notebook.name == Assignment.name)
            .all())
    comments = {}
    for assignment, student, cell, manual, auto in rows:
        if manual or auto:
            message, kind = message_and_kind(auto)
            comments[assignment, student, cell] = (manual or message, kind)
    return comments


def class_results(course, status=None):
    """Every submission the gradebook or grading-status.json knows, with its exercises, sorted."""
    status = read_status(course.root) if status is None else status
    with course.gradebook() as gradebook:
        grades, comments = _graded_cells(gradebook), _comments(gradebook)
    cells, by_hand = {}, set()
    for assignment, student, cell, score, most, auto, manual in grades:
        if auto or manual:        # a submission filed for manual grading has grades with neither
            cells.setdefault((assignment, student), {})[cell] = (score or 0.0, most or 0.0)
        if manual:
            by_hand.add((assignment, student))
    results = {}
    for assignment, entries in status.items():
        for student, entry in entries.items():
            results[assignment, student] = SubmissionResult(assignment, student, entry.get("status", "graded"),
                                                            entry.get("reason", ""), list(entry.get("notes", [])))
    for key in cells:
        results.setdefault(key, SubmissionResult(*key))
    for (assignment, student), result in results.items():
        scored = cells.get((assignment, student))
        if result.status != "graded" and (assignment, student) in by_hand:
            result.notes.append(f"graded by hand in the formgrader (not graded automatically: {result.reason})")
            result.status, result.reason = "graded", ""
        if result.status != "graded" or not scored:
            if result.status == "graded":
                result.status, result.reason = "not graded", result.reason or "nbgrader stored no grades for it"
            continue
        known = course.exercises(assignment)
        order = [e.test for e in known] + sorted(set(scored) - {e.test for e in known})
        titles = {e.test: e.title for e in known}
        answers = {e.test: e.solution for e in known}
        for test in order:
            if test not in scored:
                continue
            score, most = scored[test]
            message, kind = comments.get((assignment, student, answers.get(test, "")), ("", "")) if score < most \
                else ("", "")
            result.exercises.append(ExerciseResult(test, titles.get(test, test), score, most, message,
                                                   kind or ("unexplained" if score < most else "")))
        result.score = sum(e.score for e in result.exercises)
        result.max_score = sum(e.max_score for e in result.exercises)
    return [results[key] for key in sorted(results)]


def _number(value):
    return "" if value is None else f"{value:g}"


def write_reports(course, outcomes, problems, sandboxed=True):
    """grades.csv, grades-by-exercise.csv and grading-summary.txt for the whole gradebook; return the summary.

    ``outcomes`` are this run's (merged into grading-status.json first); the summary ends with what this run did."""
    root = Path(course.root)
    results = class_results(course, update_status(root, outcomes))
    with open(root / "grades.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerow({"assignment": r.assignment, "student": r.student, "status": r.status,
                             "score": _number(r.score), "max_score": _number(r.max_score), "reason": r.reason,
                             "notes": "; ".join(r.notes)})
    with open(root / "grades-by-exercise.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=EXERCISE_FIELDS)
        writer.writeheader()
        for r in results:
            for e in r.exercises:
                writer.writerow({"assignment": r.assignment, "student": r.student, "exercise": e.exercise,
                                 "title": e.title, "score": _number(e.score), "max_score": _number(e.max_score),
                                 "mistake": e.kind, "message": e.message})
    lines = [NO_SANDBOX_WARNING, ""] if not sandboxed else []
    lines.append(f"{'assignment':20} {'student':20} {'score':>9}  status")
    for r in results:
        score = f"{r.score:g}/{r.max_score:g}" if r.score is not None else "-"
        status = r.status if r.status == "graded" else f"NOT GRADED: {r.reason}"
        lines.append(f"{r.assignment:20} {r.student:20} {score:>9}  {status}")
        lines.extend(f"{'':52}note: {note}" for note in r.notes)
        for e in r.lost:
            lines.append(f"{'':52}lost {e.max_score - e.score:g} of {e.max_score:g}, {e.title}"
                         + (f": {e.message}" if e.message else ""))
    failed = [o for o in outcomes if o.status != "graded"]
    flagged = [r for r in results if any(note.startswith("suspicious") for note in r.notes)]
    lines.append("")
    lines.append(f"This run: {len(outcomes) - len(failed)} graded, {len(failed)} not graded"
                 + (f" ({', '.join(f'{o.student}/{o.assignment}' for o in failed)})" if failed else "")
                 + f"; the tables above hold all {len(results)} submission(s) of the gradebook")
    if flagged:
        lines.append(f"{len(flagged)} suspicious, to read: "
                     + ", ".join(f"{r.student}/{r.assignment}" for r in flagged))
    lines.extend(problems)
    ran = [o for o in outcomes if o.worker_seconds]
    if ran:
        worker, judge = sum(o.worker_seconds for o in ran), sum(o.judge_seconds for o in ran)
        lines.append(f"Workers' time: {worker:.1f} s for {len(ran)} notebook(s), of which the judge "
                     f"{judge:.1f} s deciding tests ({100 * judge / worker:.1f}%)")
    text = "\n".join(lines) + "\n"
    (root / "grading-summary.txt").write_text(text)
    return text
