"""A synthetic class, for the class report's tests and benchmark: a course folder whose gradebook holds a
whole class graded, without running a notebook.

usage: python -m autograd_course.grading.synthetic [--course synthetic-course] [--students 1000] [--seed 0]
                                                   [ASSIGNMENT ...]

Each student answers each exercise with the solution, an alternative answer or a typical mistake from
tests/submissions (or leaves it as released), drawn at random (seeded) with a chance of a correct answer
that is the student's own ability, so that strong and weak students exist. What the grader would store is
stored as it would store it: nbgrader's gradebook rows (a score per test cell, the judge's message with its
kind as the automatic comment of each failed exercise's answer cell), the autograded notebooks and
grading-status.json. Known facts are planted in the first assignment (``Planted``): an exercise everybody
answers correctly, one everybody fails, a mistake made by 30 % of the class, two submissions copied with
renamed variables and reordered helper functions, a suspicious submission and one not graded.
"""

import argparse
import importlib.util
import json
import random
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..mistakes import kind_of
from .course import REPOSITORY, assignments
from .results import NO_RESPONSE, STATUS_FILE, with_kind

SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
MISCONCEPTION_SHARE = 0.3
UNANSWERED_SHARE = 0.25       # of the answers that are not correct: left as released
# Two helper functions only the copied pair writes, as the first student wrote them and as the second
# renamed them; the second also puts them in the other order.
_HELPERS = (
    '''def {check}({tensor}, {expected}):
    """Raise unless {tensor} has the shape {expected}."""
    if tuple({tensor}.shape) != tuple({expected}):
        raise ValueError(f"shape {{tuple({tensor}.shape)}} is not {{tuple({expected})}}")
    return {tensor}
''',
    '''def {describe}({values}, {digits}=3):
    """A short text of a tensor's first values, for printing while debugging."""
    {items} = [round(float({v}), {digits}) for {v} in {values}.flatten()[:8]]
    return ", ".join(str({v}) for {v} in {items}) + (" ..." if {values}.numel() > 8 else "")
''')
_ORIGINAL_NAMES = dict(check="check_shape", tensor="tensor", expected="expected", describe="describe",
                       values="values", digits="digits", items="items", v="v")
_RENAMED = dict(check="assert_dims", tensor="t", expected="want", describe="preview", values="xs",
                digits="places", items="parts", v="item")


@dataclass
class Planted:
    assignment: str = ""
    everybody_correct: str = ""     # test grade_id of the exercise everybody answers correctly
    everybody_fails: str = ""       # ... and of the one everybody fails
    misconception: tuple = ()       # (test grade_id, kind, students who make it)
    copied: tuple = ()              # (original's student, copier's student)
    suspicious: str = ""
    not_graded: str = ""
    students: list = field(default_factory=list)


def load_cases(assignment, repository=REPOSITORY):
    """The alternative answers and typical mistakes written for one notebook (tests/submissions/nb<id>.py)."""
    path = Path(repository) / "tests" / "submissions" / f"nb{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"cases_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _answers(solution_nb, released_nb, cases):
    """{answer cell: (correct sources, [(message, source)] of mistakes, released source)}."""
    released = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in released_nb.cells}
    mistakes = {}
    for table in ("MISTAKES", "RULE_BREAKS", "MORE_MISTAKES"):
        for answer, (description, code, *_) in getattr(cases, table, {}).items():
            mistakes.setdefault(answer, []).append((description, code.strip() + "\n"))
    found = {}
    for cell in solution_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution") or cell.cell_type != "code":
            continue
        answer = meta["grade_id"]
        correct = [SOLUTION_MARKERS.sub("", cell.source)]
        if answer in getattr(cases, "ALTERNATIVES", {}):
            correct.append(cases.ALTERNATIVES[answer].strip() + "\n")
        found[answer] = (correct, mistakes.get(answer, []), released.get(answer, ""))
    return found


def build_class(course, students=1000, ids=None, seed=0, db_url=None):
    """Write the synthetic class's course folder; return what was planted in it."""
    import nbformat
    from nbgrader.api import (BaseCell, Comment, Grade, GradeCell, Notebook, SolutionCell, Student,
                              SubmittedAssignment, SubmittedNotebook)
    from nbgrader.api import Assignment as AssignmentRow

    from .grade import load_course
    from .release import release

    course = Path(course)
    shutil.rmtree(course, ignore_errors=True)
    ids = ids or assignments(REPOSITORY)
    for assignment in ids:
        shutil.copytree(REPOSITORY / "solutions" / assignment, course / "solutions" / assignment)
    shutil.copy(REPOSITORY / "nbgrader_config.py", course)
    if db_url:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    if not release(course, ids):
        raise SystemExit("the synthetic class's assignments could not be released (see above)")
    rng = random.Random(seed)
    names = [f"s{number:04d}" for number in range(1, students + 1)]
    ability = {name: rng.uniform(0.3, 0.98) for name in names}
    planted = Planted(assignment=ids[0], students=names)
    copier_pair = (names[1], names[2]) if students > 3 else ()
    planted.copied = copier_pair
    planted.suspicious, planted.not_graded = (names[-1], names[-2]) if students > 3 else ("", "")
    loaded = load_course(course)
    status, now = {}, datetime.now(timezone.utc).replace(tzinfo=None)
    with loaded.gradebook() as gradebook:
        db = gradebook.db
        rows = {Student: [{"id": n, "first_name": n.upper(), "last_name": "Synthetic", "email": f"{n}@example.edu"}
                          for n in names]}
        for assignment in ids:
            solution_nb = nbformat.read(str(course / "solutions" / assignment / f"{assignment}.ipynb"), 4)
            released_nb = nbformat.read(str(course / "notebooks" / assignment / f"{assignment}.ipynb"), 4)
            answers = _answers(solution_nb, released_nb, load_cases(assignment))
            exercises = [e for e in loaded.exercises(assignment) if e.points > 0]
            row = db.query(AssignmentRow.id, Notebook.id).join(Notebook, Notebook.assignment_id == AssignmentRow.id) \
                .filter(AssignmentRow.name == assignment, Notebook.name == assignment).one()
            cell_ids = dict(db.query(BaseCell.name, BaseCell.id).filter(BaseCell.notebook_id == row[1])
                            .filter(BaseCell.id.in_(db.query(GradeCell.id))).all())
            answer_ids = dict(db.query(BaseCell.name, BaseCell.id).filter(BaseCell.notebook_id == row[1])
                              .filter(BaseCell.id.in_(db.query(SolutionCell.id))).all())
            plan = _plan(assignment == ids[0], exercises, answers, names, rng, planted)
            template = json.loads(nbformat.writes(released_nb))
            submitted, notebooks, grades, comments = [], [], [], []
            entries = status.setdefault(assignment, {})
            for name in names:
                if assignment == ids[0] and name == planted.not_graded:
                    entries[name] = {"status": "not graded", "reason": "the notebook is not valid JSON (line 1)",
                                     "notes": []}
                    continue
                notes = ["suspicious: replaces torch.allclose (the judge does not use it)"] \
                    if assignment == ids[0] and name == planted.suspicious else []
                entries[name] = {"status": "graded", "reason": "", "notes": notes}
                submission_id, notebook_id = uuid.uuid4().hex, uuid.uuid4().hex
                submitted.append({"id": submission_id, "assignment_id": row[0], "student_id": name,
                                  "timestamp": now})
                notebooks.append({"id": notebook_id, "assignment_id": submission_id, "notebook_id": row[1],
                                  "flagged": bool(notes)})
                sources = {}
                for exercise in exercises:
                    choice = plan(name, exercise, ability[name])
                    correct, message, source = choice
                    if exercise.solution:
                        sources[exercise.solution] = source
                    grades.append({"id": uuid.uuid4().hex, "cell_id": cell_ids[exercise.test],
                                   "notebook_id": notebook_id, "auto_score": exercise.points if correct else 0.0,
                                   "needs_manual_grade": False})
                    if exercise.solution in answer_ids:
                        comments.append({"id": uuid.uuid4().hex, "cell_id": answer_ids[exercise.solution],
                                         "notebook_id": notebook_id,
                                         "auto_comment": None if correct else message})
                _write_autograded(course, name, assignment, template, sources)
            for table, values in ((SubmittedAssignment, submitted), (SubmittedNotebook, notebooks),
                                  (Grade, grades), (Comment, comments)):
                rows.setdefault(table, []).extend(values)
        for table, values in rows.items():       # in this order: each row's references first
            if values:
                db.execute(table.__table__.insert(), values)
        db.commit()
    (course / STATUS_FILE).write_text(json.dumps(status, indent=1, sort_keys=True) + "\n")
    return planted


def _plan(first, exercises, answers, names, rng, planted):
    """The function that picks a student's answer to an exercise: (correct, automatic comment, source)."""
    forced = {}
    if first and len(exercises) >= 3:
        planted.everybody_correct, planted.everybody_fails = exercises[0].test, exercises[-1].test
        with_mistakes = [e for e in exercises[1:-1] if answers.get(e.solution, ((), ()))[1]]
        if with_mistakes:
            target = with_mistakes[0]
            message = answers[target.solution][1][0][0]
            graded = [name for name in names if name != planted.not_graded]
            chosen = sorted(rng.sample(graded, round(MISCONCEPTION_SHARE * len(graded))))
            planted.misconception = (target.test, kind_of(message), chosen)
            forced[target.test] = set(chosen)
    copier = planted.copied if first else ()

    def pick(name, exercise, ability):
        correct, mistakes, released = answers.get(exercise.solution, ([""], [], ""))
        if exercise.test == planted.everybody_correct and first:
            right = True
        elif exercise.test == planted.everybody_fails and first:
            right = False
        elif exercise.test in forced:
            if name in forced[exercise.test]:
                description, source = mistakes[0]
                return False, with_kind(description, kind_of(description)), source
            right = True
        else:      # the copied pair hands in the same working answers
            right = name in copier or rng.random() < ability
        if name in copier and right and exercise.solution:
            names_used = _ORIGINAL_NAMES if name == copier[0] else _RENAMED
            helpers = [helper.format(**names_used) for helper in _HELPERS]
            helpers = helpers if name == copier[0] else helpers[::-1]
            return True, None, "\n\n".join(helpers) + "\n\n" + correct[0]
        if right:
            return True, None, rng.choice(correct)
        if not mistakes or rng.random() < UNANSWERED_SHARE:
            return False, NO_RESPONSE, released
        description, source = rng.choice(mistakes)
        return False, with_kind(description, kind_of(description)), source

    return pick


def _write_autograded(course, student, assignment, template, sources):
    """The autograded notebook: the released one with the student's answers in its answer cells."""
    cells = []
    for cell in template["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        cells.append(dict(cell, source=sources[grade_id]) if grade_id in sources else cell)
    folder = course / "autograded" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{assignment}.ipynb").write_text(json.dumps(dict(template, cells=cells)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--course", default="synthetic-course")
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    planted = build_class(args.course, args.students, args.assignments or None, args.seed)
    print(f"Synthetic class in {args.course}/: {len(planted.students)} students. Its report: "
          f"python -m autograd_course.grading.report --course {args.course}")


if __name__ == "__main__":
    main()
