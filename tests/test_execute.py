"""Every solution notebook runs, shows its pictures, passes its own tests; the student version fails them,
and only where an exercise is still to do.  `nbgrader validate` (the *Validate* button's command) says the
same of one notebook: the other notebooks' runs here are what it would run."""

import pytest
from nbclient import NotebookClient

from harness import ASSIGNMENTS, NOTEBOOKS, ROOT, SOLUTIONS, STUB_MESSAGE, nbgrader, read_notebook


def pictures(nb):
    """The graphs and plots a notebook's outputs show."""
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type in ("display_data", "execute_result") and ({"image/svg+xml", "image/png"} & set(out.get("data", {})))]


# Numbers that the prose next to a cell states, as the cell must print them: (a line of the cell, what it prints).
STATED = {
    # a second pass through the same graph: the course's engine, then PyTorch
    "07_build_your_own_autograd": [("# the same graph again", ["(4.0, 6.0)", "(2.0, 4.0)"])],
}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_executes_without_error_and_draws(assignment):
    path = SOLUTIONS / assignment / f"{assignment}.ipynb"
    nb = read_notebook(path)
    before = set(path.parent.iterdir())
    NotebookClient(nb, timeout=120, shutdown_kernel="immediate",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    created = sorted(p.name for p in set(path.parent.iterdir()) - before)
    assert not created, f"{assignment} wrote {created} into its folder, which release would copy to students"
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    errors = [out for out in outputs if out.output_type == "error"]
    assert not errors, errors
    for line, printed in STATED.get(assignment, []):
        cell = next(cell for cell in nb.cells if line in cell.source)
        text = "".join(out.get("text", "") for out in cell.outputs)
        assert all(number in text for number in printed), f"the text says {printed}; the cell printed {text!r}"
    shown = pictures(nb)
    assert shown, f"{assignment} shows no graph or plot"
    svgs = [out for out in shown if "image/svg+xml" in out.data]
    if assignment == "01_graphs":
        assert len(svgs) >= 3 and "<svg" in svgs[0].data["image/svg+xml"], "torchviz graphs rendered by graphviz"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_runs_until_it_needs_an_exercise(assignment):
    """Opened fresh and run top to bottom, the student version fails only where an exercise is
    missing, and says so: no NameError or other fallout in the narrative cells."""
    path = NOTEBOOKS / assignment / f"{assignment}.ipynb"
    nb = read_notebook(path)
    NotebookClient(nb, timeout=120, shutdown_kernel="immediate", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    unexpected, passing_tests = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            if not any(out.output_type == "error" for out in cell.outputs):
                passing_tests.append(cell.metadata["nbgrader"]["grade_id"])
            continue   # test cells fail until the exercise is done
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "error" and not (out.ename == "NotImplementedError" and out.evalue == STUB_MESSAGE):
                unexpected.append(f"cell {index}: {out.ename}: {out.evalue[:200]}\n{cell.source[:300]}")
    assert not unexpected, "\n\n".join(unexpected)
    assert not passing_tests, f"{assignment}: tests pass before their exercise is done: {passing_tests}"
    assert pictures(nb), f"{assignment}: a fresh student sees no graph or plot"


@pytest.mark.parametrize("assignment", ASSIGNMENTS[:1])
def test_nbgrader_validate(assignment):
    """The solution passes every test; the untouched student version fails them (validate --invert)."""
    solution = SOLUTIONS / assignment / f"{assignment}.ipynb"
    result = nbgrader(["validate", str(solution)], cwd=ROOT, check=False)
    assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout[-3000:]
    released = NOTEBOOKS / assignment / f"{assignment}.ipynb"
    result = nbgrader(["validate", "--invert", str(released)], cwd=ROOT, check=False)
    assert "Success! The notebook does not pass any tests." in result.stdout, result.stdout[-3000:]
