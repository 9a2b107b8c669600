"""What a student sees in a real kernel: the message of a failing test without the helpers' frames, and a
notebook that still runs when Colab could not install the course helpers."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from harness import ASSIGNMENTS, NOTEBOOKS, read_notebook

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The names the shared setup cell defines, in the course environment and without the helpers alike.
SETUP_NAMES = ("torch", "plt", "ic", "draw_graph", "reveal", "setup_notebook")


def run(nb, path=None):
    resources = {"metadata": {"path": str(path)}} if path else {}
    NotebookClient(nb, timeout=120, shutdown_kernel="immediate", allow_errors=True, resources=resources).execute()
    return nb


def errors(nb):
    return [(index, out) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for out in cell.outputs if out.output_type == "error"]


@pytest.mark.slow
def test_a_failing_test_shows_the_message_not_the_helpers():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(read_notebook(NOTEBOOKS / "01_graphs" / "01_graphs.ipynb").cells[1].source),
                nbformat.v4.new_code_cell("from autograd_course import checks as ck\n"
                                          "x = torch.tensor([1.0, 2.0], requires_grad=True)\n"
                                          "(3 * x).sum().backward()\n(3 * x).sum().backward()\n"
                                          "ck.expect_grad(x.grad, torch.full((2,), 3.0), 'x.grad')"),
                nbformat.v4.new_code_cell("ck.expect_answer({'k': 2}, 'k', 3, 'Count again.')")]
    found = errors(run(nb))
    assert [index for index, _ in found] == [1, 2]
    for _, out in found:
        shown = ANSI.sub("", "\n".join(out.traceback))
        assert "checks.py" not in shown and "grading environment" not in shown and "ask your instructor" not in shown, shown
        assert out.evalue in shown
    assert "exactly 2 times the expected value" in found[0][1].evalue
    assert "ck.expect_grad(x.grad" in ANSI.sub("", "\n".join(found[0][1].traceback)), "the test line stays visible"


# A Colab where the install fails: the course helpers (and what they bring) cannot be imported, and pip fails.
WITHOUT_HELPERS = '''import subprocess, sys
for _name in ("autograd_course", "icecream", "torchviz"):
    sys.modules[_name] = None      # import fails, find_spec finds nothing
def _pip_without_network(args, *rest, check=False, **kwargs):
    if check:
        raise subprocess.CalledProcessError(1, args)
    return subprocess.CompletedProcess(args, 1, "", "ERROR: could not reach github.com")
subprocess.run = _pip_without_network'''


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_failed_install_says_what_to_do_and_the_notebook_runs_on(assignment):
    path = NOTEBOOKS / assignment / f"{assignment}.ipynb"
    nb = read_notebook(path)
    nb.cells.insert(0, nbformat.v4.new_code_cell(WITHOUT_HELPERS))
    run(nb, path.parent)
    setup = nb.cells[2]
    assert not [out for out in setup.outputs if out.output_type == "error"], "the setup cell itself must not fail"
    printed = "".join(out.get("text", "") for out in setup.outputs if out.output_type == "stream").strip()
    assert len(printed.splitlines()) == 1 and printed.startswith("The course helpers are missing"), printed
    assert "run this cell again" in printed and "pip install" in printed
    names = [(index, out.evalue) for index, out in errors(nb) if out.ename == "NameError"]
    lost = [(index, evalue) for index, evalue in names if any(f"'{name}'" in evalue for name in SETUP_NAMES)]
    assert not lost, f"cells lost a name the setup cell defines: {lost}"
    # 07 and 08 draw their spirals with the course helpers: only those data, and what is computed from them, are lost.
    lost_with_data = {"07_build_your_own_autograd": ("make_spirals",),
                      "08_forward_mode_and_torch_func": ("make_spirals", "per_sample")}.get(assignment, ())
    names = [(index, evalue) for index, evalue in names if not any(f"'{name}'" in evalue for name in lost_with_data)]
    if assignment not in ("05_nn_optim", "06_zero_grad"):   # these two load all their data with the course helpers
        assert not names, f"NameErrors without the course helpers: {names}"
