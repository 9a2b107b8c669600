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
        # ... and released into the course's own nbgrader exchange, as students on a JupyterHub fetch it.
        outbound = tmp_path / "exchange" / "autograd-course" / "outbound" / assignment / f"{assignment}.ipynb"
        assert outbound.read_text() == committed, f"{assignment} is not in the exchange"


def test_every_exercise_has_a_title_and_one_test():
    """Each test cell belongs to the statement above it: "Exercise N.M — what it asks", as the reports and the
    feedback's report card name it, and tests the answer cell of its name."""
    from autograd_course.grading.course import exercises

    for assignment in ASSIGNMENTS:
        nb = read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb")
        found = exercises(nb)
        tests = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                 if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
        assert [e.test for e in found] == tests
        titles = [e.title for e in found]
        assert len(set(titles)) == len(titles), f"{assignment}: two tests under one statement: {titles}"
        for e in found:
            assert re.fullmatch(r"Exercise \d+\.\d+ — \S.*", e.title) and "points)" not in e.title, e
            assert e.solution == e.test.removeprefix("test_"), e


RUN_PAST = "Run Selected Cell and All Below"


def test_readme_and_every_intro_say_how_to_run_past_an_unfinished_exercise():
    readme = (ROOT / "README.md").read_text()
    assert RUN_PAST in readme and "Run after" in readme
    for assignment in ASSIGNMENTS:
        intro = solution(assignment).cells[0].source
        assert "*Run All* stops at the first exercise" in intro and RUN_PAST in intro and "Run after" in intro, assignment


def prediction_exercises(nb):
    """(answers cell index, test cell index, the name of the answers dict) of every predict-then-run exercise:
    those whose hidden tests grade the answers with ck.expect_answer."""
    found = []
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and "ck.expect_answer(" in cell.source:
            answers = [i for i, c in enumerate(nb.cells)
                       if c.metadata.get("nbgrader", {}).get("grade_id") == meta["grade_id"][len("test_"):]][0]
            name = re.search(r"^(\w+)\s*=", nb.cells[answers].source, re.M).group(1)
            found.append((answers, index, name))
    return found


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_predictions_are_graded_as_recorded_and_revealed_after(assignment):
    """A visible test checks only the form of the predictions; the hidden tests grade them; the cell that shows
    the answers comes after the test, never between the predictions and their test."""
    nb = solution(assignment)
    exercises = prediction_exercises(nb)
    assert exercises, "every notebook has a predict-then-run exercise"
    for answers, test, name in exercises:
        visible = HIDDEN_BLOCK.sub("", nb.cells[test].source)
        assert "expect_answer" not in visible, (assignment, name)
        assert re.search(rf"ck\.expect_prediction_form\((notebook\.)?{name}\b", visible), (assignment, name)
        assert "ck.expect_answer(" in HIDDEN_BLOCK.search(nb.cells[test].source).group(1)
        between = [c for c in nb.cells[answers + 1:test] if c.cell_type == "code"]
        assert not between, f"{assignment}: code runs between {name} and its test: {between[0].source[:80]}"
        following = [c for c in nb.cells[test + 1:test + 4] if c.cell_type == "code"]
        assert following and f"reveal({name}" in following[0].source, f"{assignment}: no reveal right after {name}'s test"


# What the visible tests used to hold: a reference that answers the exercise, or all of its formula but a factor.
GIVEAWAYS = {
    ("01_graphs", "test_logistic_loss"): ["1 / (1 + torch.exp(-("],
    ("02_backward", "test_tanh_unit_grads"): ["2 * (a - y) / n"],
    ("02_backward", "test_vjp_both_ways"): ["functional.jacobian"],
    ("02_backward", "test_hidden_grads"): ["h = x @ W.T"],
    ("02_backward", "test_jacobian_by_rows"): ["functional.jacobian(f"],
    ("02_backward", "test_nan_gradient_source"): ["ExpBackward0", "detect_anomaly():\n"],
    ("02_backward", "test_softplus_repaired"): ["clamp(max=20", "torch.exp(in_range"],
    ("03_hooks", "test_saved_tensor_stats"): ["saved_tensors_hooks(pack"],
    ("03_hooks", "test_layer_grad_norms"): ["register_forward_hook(grab)", "torch.autograd.grad(loss, outs"],
    ("03_hooks", "test_checkpointed_forward"): ["_checkpoint(_cf_plain, blocks[start"],
    ("05_nn_optim", "test_numpy_backward"): ["F.one_hot(y, c)"],
    ("05_nn_optim", "test_torch_backward"): ["F.one_hot(y, c)"],
    ("05_nn_optim", "test_momentum_sgd"): ["class _NB05Mistake"],
}


@pytest.mark.parametrize("assignment, grade_id", sorted(GIVEAWAYS))
def test_visible_tests_do_not_hand_out_the_answer(assignment, grade_id):
    cells = [c for c in student(assignment).cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(cells) == 1
    for giveaway in GIVEAWAYS[assignment, grade_id]:
        assert giveaway not in cells[0].source, f"{grade_id} shows the student {giveaway!r}"


def test_release_points_badges_and_setup_cells_at_the_one_repository(tmp_path):
    """COURSE_REPOSITORY is the one place the address is written: release fills it into an outdated solution."""
    import shutil

    from autograd_course.grading.release import colab_url

    assignment = "01_graphs"
    shutil.copytree(SOLUTIONS / assignment, tmp_path / "solutions" / assignment)
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    source = tmp_path / "solutions" / assignment / f"{assignment}.ipynb"
    slug = COURSE_REPOSITORY.split("github.com/")[1]
    source.write_text(source.read_text().replace(slug, "someone-else/old-course"))
    result = subprocess.run([sys.executable, "-m", "autograd_course.grading.release", "--course", str(tmp_path),
                             assignment], capture_output=True, text=True, env=tool_env())
    assert result.returncode == 0, result.stderr
    for path in (source, tmp_path / "notebooks" / assignment / f"{assignment}.ipynb"):
        text = path.read_text()
        assert "someone-else" not in text, path
        nb = read_notebook(path)
        assert colab_url(assignment) in nb.cells[0].source and f"git+{COURSE_REPOSITORY}" in nb.cells[1].source


def test_the_repository_address_is_written_once():
    """Every GitHub address and Colab badge in the course names COURSE_REPOSITORY."""
    slug = COURSE_REPOSITORY.split("github.com/")[1]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    found = {}
    for name in tracked:
        path = ROOT / name
        if path.suffix not in (".py", ".md", ".ipynb", ".toml", ".yml", ".txt", ".cfg", "") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        for address in re.findall(r"github\.com/([\w.-]+/[\w.-]+)", text) + re.findall(
                r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)", text):
            found.setdefault(address.removesuffix(".git"), set()).add(name)
    assert set(found) == {slug}, found
    for assignment in ASSIGNMENTS:
        for nb in (solution(assignment), student(assignment)):
            assert f"colab.research.google.com/github/{slug}/blob/main/notebooks/{assignment}/{assignment}.ipynb" \
                in nb.cells[0].source


MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(")


def test_every_picture_has_a_text_alternative():
    """Markdown images carry alt text; each plot is followed by a caption that says what it shows. (Graphs drawn by
    draw_graph describe themselves: see test_checks.)"""
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for assignment in ASSIGNMENTS:
        nb = solution(assignment)
        texts[assignment] = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and "plt.show()" in cell.source:
                after = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
                assert after is not None and after.cell_type == "markdown" and after.source.startswith("*Figure"), \
                    f"{assignment}: the plot of cell {index} has no caption after it"
                assert re.search(r"(set_title|plt\.title|suptitle|title=)", cell.source), f"{assignment}: untitled plot"
    for name, text in texts.items():
        assert all(alt.strip() for alt in MARKDOWN_IMAGE.findall(text)), f"{name}: an image without alt text"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_visible_test_says_that_it_passed(assignment):
    """A test cell that passes says so ("Visible tests passed.", or that the predictions are recorded): a silent
    cell leaves a student unsure whether it ran at all."""
    for cell in solution(assignment).cells:
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and grading.get("grade") and not grading.get("solution"):
            last = cell.source.partition("### BEGIN HIDDEN TESTS")[0].rstrip().splitlines()[-1]
            assert re.match(r'print\(.*(Visible tests passed\.|predictions are recorded)', last), \
                f"{assignment} {grading['grade_id']} ends its visible tests with {last!r}"
