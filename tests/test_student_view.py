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
                nbformat.v4.new_code_cell("ck.expect_answer({'k': 2}, 'k', 3, 'Count again.')"),
                # An unfinished custom Function, called through torch's Function.apply.
                nbformat.v4.new_code_cell("class Unfinished(torch.autograd.Function):\n    @staticmethod\n"
                                          "    def forward(ctx, x):\n        # YOUR CODE HERE\n"
                                          "        raise NotImplementedError('not done yet')"),
                nbformat.v4.new_code_cell("y = Unfinished.apply(torch.ones(2))"),
                # A graph cut by detach: the message comes with the student's graph, w marked.
                nbformat.v4.new_code_cell("w, b = torch.ones(2, requires_grad=True), torch.tensor(2.0, requires_grad=True)\n"
                                          "ck.expect_reaches((w.detach() * b).sum(), {'w': w, 'b': b})")]
    found = errors(run(nb))
    assert [index for index, _ in found] == [1, 2, 4, 5]
    pictures = [out for out in nb.cells[5].outputs if out.output_type == "display_data"]
    assert len(pictures) == 1 and "got no gradient" in pictures[0].data["image/svg+xml"], nb.cells[5].outputs
    for _, out in found:
        shown = ANSI.sub("", "\n".join(out.traceback))
        assert "checks.py" not in shown and "grading environment" not in shown and "ask your instructor" not in shown, shown
        # Only the student's cells and the message: no frame of the course's helpers or of torch.
        assert "skipping hidden" not in shown and "_report.py" not in shown and "autograd/function.py" not in shown, shown
        assert out.evalue in shown
    unfinished = ANSI.sub("", "\n".join(found[2][1].traceback))
    assert "Unfinished.apply(torch.ones(2))" in unfinished and "raise NotImplementedError" in unfinished, unfinished
    assert "exactly 2 times the expected value" in found[0][1].evalue
    assert "ck.expect_grad(x.grad" in ANSI.sub("", "\n".join(found[0][1].traceback)), "the test line stays visible"


# A Colab where the install fails: the course helpers (and what they bring) cannot be imported, and pip fails.
WITHOUT_HELPERS = '''import subprocess, sys
_MISSING = ("autograd_course", "icecream", "torchviz")
class _Hiding:                     # every finder as it was, blind to the missing packages: find_spec finds nothing
    def __init__(self, finder):
        self.finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in _MISSING or not hasattr(self.finder, "find_spec"):
            return None
        return self.finder.find_spec(name, path, target)
    def __getattr__(self, name):   # find_distributions, invalidate_caches: as the finder has them
        return getattr(self.finder, name)
sys.meta_path[:] = [_Hiding(finder) for finder in sys.meta_path]
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
    # It says that it installs before the wait, then what pip said, then what to do.
    lines = printed.splitlines()
    assert lines[0].startswith("Installing the course helpers") and lines[1].startswith("The course helpers are missing")
    assert "pip said:\nERROR: could not reach github.com" in printed, printed
    assert "run this cell again" in printed and "pip install" in printed
    # A test cell (its first line imports the checks) says what it needs, not Python's "No module named".
    imports = [out for _, out in errors(nb) if out.ename == "ModuleNotFoundError"]
    assert imports and all("needs the course helpers: run the setup cell" in out.evalue for out in imports), \
        [out.evalue for out in imports]
    names = [(index, out.evalue) for index, out in errors(nb) if out.ename == "NameError"]
    lost = [(index, evalue) for index, evalue in names if any(f"'{name}'" in evalue for name in SETUP_NAMES)]
    assert not lost, f"cells lost a name the setup cell defines: {lost}"
    # 07 and 08 draw their spirals with the course helpers: only those data, and what is computed from them, are lost.
    lost_with_data = {"07_build_your_own_autograd": ("make_spirals",),
                      "08_forward_mode_and_torch_func": ("make_spirals", "per_sample")}.get(assignment, ())
    names = [(index, evalue) for index, evalue in names if not any(f"'{name}'" in evalue for name in lost_with_data)]
    if assignment not in ("05_nn_optim", "06_zero_grad"):   # these two load all their data with the course helpers
        assert not names, f"NameErrors without the course helpers: {names}"
