"""The notebooks follow the course anatomy, and notebooks/ is exactly what release generates."""

import re
import subprocess
import sys

import pytest

from autograd_course import COURSE_REPOSITORY
from harness import (ASSIGNMENTS, HIDDEN_BLOCK, NOTEBOOKS, ROOT, SECRET_MARKERS, SOLUTION_BLOCK, SOLUTIONS, STUB_MESSAGE,
                     grade_ids, read_notebook, secret_lines, tool_env)

MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)")


def solution(assignment):
    return read_notebook(SOLUTIONS / assignment / f"{assignment}.ipynb")


def student(assignment):
    return read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb")


def test_all_eight_notebooks_exist():
    assert ASSIGNMENTS == ["01_graphs", "02_backward", "03_hooks", "04_custom_functions", "05_nn_optim", "06_zero_grad",
                           "07_build_your_own_autograd", "08_forward_mode_and_torch_func"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_clean(assignment):
    for nb in (solution(assignment), student(assignment)):
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{assignment}: cells {dirty} carry outputs or execution counts"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_anatomy(assignment):
    nb = solution(assignment)
    intro = nb.cells[0].source
    assert intro.startswith(f"# {assignment[:2]} · "), "title"
    assert "Learning objectives" in intro and "Prerequisites" in intro and "Time" in intro
    badge = f"colab.research.google.com/github/{COURSE_REPOSITORY.split('github.com/')[1]}/blob/main/notebooks/{assignment}/{assignment}.ipynb"
    assert badge in intro, "Open in Colab badge pointing at this notebook"
    setup = nb.cells[1]
    assert setup.metadata["nbgrader"] == {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3, "solution": False}
    assert setup.source == solution("01_graphs").cells[1].source, "every notebook shares the same setup cell"
    assert COURSE_REPOSITORY in setup.source and "setup_notebook(seed=" in setup.source
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Key takeaways" in text and "## Going further" in text
    assert "Predict, then run" in text
    targets = [t for t in MARKDOWN_LINK.findall(text) if not t.startswith(("https://colab.research.google.com", "#"))]
    assert all(t.startswith("attachment:") for t in targets), f"self-contained: embed, do not link {targets}"


def test_readme_links_to_files_that_exist():
    readme = (ROOT / "README.md").read_text()
    local = [t for t in MARKDOWN_LINK.findall(readme) if "://" not in t and not t.startswith("#")]
    assert "assets/backward-graph.svg" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_exercise_is_graded_with_visible_and_hidden_tests(assignment):
    nb = solution(assignment)
    solutions = grade_ids(nb, "solution")
    tests = grade_ids(nb, "test")
    assert len(solutions) >= 4, "at least four graded exercises"
    assert set(tests) == {f"test_{grade_id}" for grade_id in solutions}, "test_<id> for every solution cell <id>"
    assert all(points > 0 for points in tests.values())
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            visible = HIDDEN_BLOCK.sub("", cell.source)
            assert HIDDEN_BLOCK.search(cell.source), f"{meta['grade_id']} has no hidden tests"
            assert "from autograd_course import checks as ck" in visible, f"{meta['grade_id']} imports the checks itself"
            assert "ck." in visible, f"{meta['grade_id']} has no visible check"
        if meta.get("solution"):
            assert SOLUTION_BLOCK.search(cell.source), f"{meta['grade_id']} has no solution block"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_solution_or_hidden_test_leaks_into_student_version(assignment):
    text = "\n".join(cell.source for cell in student(assignment).cells)
    for marker in SECRET_MARKERS:
        assert marker not in text
    student_lines = {line.strip() for line in text.splitlines()}
    leaked = sorted(secret_lines(assignment) & student_lines)
    assert not leaked, f"solution or hidden-test lines in the student version: {leaked[:5]}"
    assert f'raise NotImplementedError("{STUB_MESSAGE}")' in text


def test_notebooks_match_a_fresh_release(tmp_path):
    """notebooks/ is exactly what `make release` generates from solutions/."""
    import shutil

    shutil.copytree(SOLUTIONS, tmp_path / "solutions")
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    result = subprocess.run([sys.executable, "-m", "autograd_course.grading.release", "--course", str(tmp_path)],
                            capture_output=True, text=True, env=tool_env())
    assert result.returncode == 0, result.stderr
    for assignment in ASSIGNMENTS:
        fresh = (tmp_path / "notebooks" / assignment / f"{assignment}.ipynb").read_text()
        committed = (NOTEBOOKS / assignment / f"{assignment}.ipynb").read_text()
        assert fresh == committed, f"notebooks/{assignment} differs from a fresh release: run `make release`"
