"""Grading round trips per notebook, through `make grade`'s pipeline on a temporary course.

For every notebook: the solution scores full marks; the untouched student version
scores 0 without crashing; alternative correct answers (tests/submissions/) earn
their exercises' full points; each typical mistake, and each answer that gives right values while breaking a rule its exercise
states (RULE_BREAKS: one .backward(), no torch.autograd.functional, full backward hooks, ...), and each further
typical mistake (MORE_MISTAKES), loses exactly its own exercise's points, and the failure message names the
mistake or the rule; a rule break fails the visible test already, where the student sees it; and a message that
points at a drawing of the student's graph comes with that drawing in the autograded notebook.

Mistakes are graded a few to a notebook, to keep the suite fast: those of every other exercise together, with
the alternative answers in the exercises between them (so that a mistake spilling into the next exercise's test
shows, and every alternative is graded once), the rule breaks together, and the further mistakes together. A
grouped submission must fail exactly the tests of its mistaken exercises, each with its own message, and pass all
the others.
"""

import pytest

from autograd_course.graphs import FAULT
from autograd_course.grading.grade import grade_class, load_course
from autograd_course.grading.results import class_results
from autograd_course.mistakes import KIND
from harness import ASSIGNMENTS, SOLUTIONS, grade_ids, load_cases, make_course, read_notebook, submit, \
    failing_test_cells, passed_visible_tests, pictures_of_test_cells, with_replacements


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_round_trip(assignment, tmp_path, workers):
    source = read_notebook(SOLUTIONS / assignment / f"{assignment}.ipynb")
    cases = load_cases(assignment)
    tests = grade_ids(source, "test")
    total = sum(tests.values())
    assert set(cases.ALTERNATIVES) == set(grade_ids(source, "solution")), "an alternative answer for every exercise"
    assert set(cases.MISTAKES) == set(grade_ids(source, "solution")), "a typical mistake for every exercise"

    course = make_course(tmp_path / "course", [assignment])
    submit(course, "solution", assignment, source)
    submit(course, "untouched", assignment, read_notebook(course / "notebooks" / assignment / f"{assignment}.ipynb"))
    order = list(grade_ids(source, "solution"))
    groups = {
        "mistakes-odd": {g: case for g, case in cases.MISTAKES.items() if order.index(g) % 2 == 0},
        "mistakes-even": {g: case for g, case in cases.MISTAKES.items() if order.index(g) % 2 == 1},
        "rule-breaks": getattr(cases, "RULE_BREAKS", {}),
        "more-mistakes": getattr(cases, "MORE_MISTAKES", {}),
    }
    groups = {student: group for student, group in groups.items() if group}
    for student, group in groups.items():
        answers = {g: code for g, code in cases.ALTERNATIVES.items() if student != "rule-breaks" and g not in group}
        answers.update({g: code for g, (_, code, _) in group.items()})
        submit(course, student, assignment, with_replacements(source, answers))

    outcomes = {o.student: o for o in grade_class(course, [assignment], workers=workers, feedback=False, quiet=True)}
    problems = []
    kinds = {(r.student, e.exercise): e.kind for r in class_results(load_course(course)) for e in r.exercises}
    for student, want in (("solution", total), ("untouched", 0)):
        got = outcomes[student]
        if got.status != "graded" or got.score != want:
            problems.append(f"{student}: {got.status} {got.score}/{total}, want {want}; "
                            f"failing {failing_test_cells(course, assignment, student)}")
    for student, group in groups.items():
        errors = failing_test_cells(course, assignment, student)
        want = total - sum(tests[f"test_{grade_id}"] for grade_id in group)
        expected = sorted(f"test_{grade_id}" for grade_id in group)
        if outcomes[student].score != want or sorted(errors) != expected:
            problems.append(f"{student} ({'; '.join(what for what, _, _ in group.values())}): "
                            f"{outcomes[student].score}, want {want}; failing {sorted(errors)}, want {expected}")
            continue
        if student == "rule-breaks":
            # A rule that an exercise states is checked by its visible test: a student who trusts a passing
            # visible test does not lose the points at grading.
            late = sorted({f"test_{grade_id}" for grade_id in group} & passed_visible_tests(course, assignment, student))
            if late:
                problems.append(f"rule-breaks: only the hidden tests catch {late}")
        # A message that points at a drawing of the student's graph comes with it, the culprit in the fault colour.
        pictures = pictures_of_test_cells(course, assignment, student)
        for test, error in errors.items():
            if "The drawing shows your graph" in error and not any(FAULT in svg for svg in pictures[test]):
                problems.append(f"{student}, {test}: the message points at a drawing that is not there: {error}")
        for grade_id, (what, _, words) in group.items():
            if words.lower() not in errors[f"test_{grade_id}"].lower():
                problems.append(f"{student}, {grade_id} ({what}): the message does not name the mistake "
                                f"({words!r}): {errors[f'test_{grade_id}']}")
            # The class report groups failures by the kind of mistake their message names.
            kind = kinds.get((student, f"test_{grade_id}"), "")
            if not KIND.fullmatch(kind) or kind in ("failed", "unexplained"):
                problems.append(f"{student}, {grade_id} ({what}): no kind of mistake stored ({kind!r})")
    assert not problems, "\n".join(problems)
