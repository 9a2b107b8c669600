"""A class graded with cheating submissions among honest ones: cheats gain nothing, are flagged, harm no one.

Every attacker answers every exercise correctly (or, where said, one wrongly), then tries
one class of attack from a cell of its own placed right after the course's setup cell
(or above it).  For each case the test asserts the exact score, the `suspicious` note,
that the gradebook's stored cells and checksums are unchanged, and that the honest
students of the same class get exactly the scores they earn alone.
"""

import csv
import re
import shutil
import socket
import threading

import nbformat
import pytest

from autograd_course.grading.grade import grade_class
from harness import SOLUTIONS, cell_scores, grade_ids, make_course, read_notebook, submit, with_replacements

# One xdist worker runs this module, so that its module-scoped class is graded once, not once per worker.
pytestmark = pytest.mark.xdist_group("cheats")

ASSIGNMENT = "01_graphs"
SOURCE = read_notebook(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
POINTS = grade_ids(SOURCE, "test")
TOTAL = sum(POINTS.values())
WRONG_OPS = "def ops_in_order(output):\n    return []\n"
HIDDEN_LINE = "return {key: getattr(found[key.split(\".\")[0]], key.split(\".\")[1]) for key in predictions}"

# Each attack is a cell's code; {course} and {port} stand for the class's folder and a listener's port.
HIJACKS = {
    "input-transformer": "get_ipython().input_transformers_cleanup.append(lambda lines: [])",
    "post-transformer": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
    "ast-transformer": (
        "import ast\n"
        "class Blank(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        node.body = []\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(Blank())"),
    "custom-exception-handler": (
        "get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)"),
    "patched-run-cell": (
        "shell = get_ipython()\n"
        "real_run_cell = shell.run_cell\n"
        "def run_cell(raw_cell, *args, **kwargs):\n"
        "    lines = raw_cell.splitlines()\n"
        "    return real_run_cell(lines[-1] if 'ck.' in raw_cell else raw_cell, *args, **kwargs)\n"
        "shell.run_cell = run_cell"),
    "patched-do-execute": (
        "kernel = get_ipython().kernel\n"
        "real = kernel.do_execute\n"
        "def do_execute(code, *args, **kwargs):\n"
        "    return real('pass' if 'ck.' in code else code, *args, **kwargs)\n"
        "kernel.do_execute = do_execute"),
    "event-callback": (
        "import torch\n"
        "def before(info):\n"
        "    torch.allclose = lambda *args, **kwargs: True\n"
        "get_ipython().events.register('pre_run_cell', before)"),
    "settrace": (
        "import sys\n"
        "def tracer(frame, event, arg):\n"
        "    return None\n"
        "sys.settrace(tracer)"),
    "torch-function-mode": (
        "import torch\n"
        "from torch.overrides import TorchFunctionMode\n"
        "class Agree(TorchFunctionMode):\n"
        "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
        "        return True if func in (torch.allclose, torch.equal) else func(*args, **(kwargs or {}))\n"
        "Agree().__enter__()"),
}
# Hijacks change how every later cell runs: every test after them scores 0.
CASES = {name: (code, False, {}, 0, words) for name, (code, words) in {
    "input-transformer": (HIJACKS["input-transformer"], "did not run to its end"),
    "post-transformer": (HIJACKS["post-transformer"], "did not run to its end"),
    "ast-transformer": (HIJACKS["ast-transformer"], "did not run to its end"),
    "custom-exception-handler": (HIJACKS["custom-exception-handler"], "custom exception handler"),
    "patched-run-cell": (HIJACKS["patched-run-cell"], "replaced ZMQInteractiveShell.run_cell"),
    "patched-do-execute": (HIJACKS["patched-do-execute"], "do_execute"),
    "event-callback": (HIJACKS["event-callback"], "event callbacks"),
    "settrace": (HIJACKS["settrace"], "trace function"),
    "torch-function-mode": (HIJACKS["torch-function-mode"], "decides what comparisons or torch functions answer"),
}.items()}
# Cheats that leave the kernel working: the tests still run honestly, so a wrong answer (the
# replaced solution cells) loses its points and a right one keeps them.
WRONG = {"ops_in_order": WRONG_OPS}
LYING_TENSOR = """
import torch
class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.isclose, torch.Tensor.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def logistic_loss(w, b, x, t):
    return torch.zeros(()).as_subclass(Agreeable)
"""
LYING_LIST = """
class AlwaysEqual(list):
    def __eq__(self, other):
        return True
def ops_in_order(output):
    return AlwaysEqual()
"""
LYING_PREDICTIONS = """
class Always:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
predictions = {key: Always() for key in ["a.is_leaf", "k.is_leaf", "k.requires_grad", "c.is_leaf",
    "c.requires_grad", "d.is_leaf", "d.requires_grad", "e.is_leaf", "f.is_leaf", "f.requires_grad", "g.requires_grad"]}
"""
# (attack cell, placed above the setup cell, solution cells replaced, expected score, words in a note)
CASES.update({
    "hijack-above-setup": (HIJACKS["input-transformer"], True, {}, 0, "placed above the course's setup cell"),
    "patched-builtins-and-modules": (
        "import builtins, sys, types, torch\n"
        "builtins.abs = lambda value: 0\n"
        "torch.allclose = lambda *args, **kwargs: True\n"
        "torch.testing.assert_close = lambda *args, **kwargs: None\n"
        "sys.modules['autograd_course.checks'] = types.SimpleNamespace(expect=lambda *a, **k: None)\n",
        False, WRONG, TOTAL - POINTS["test_ops_in_order"], "put back before the tests ran"),
    "patched-check-code": (
        "from autograd_course import checks\n"
        "checks.expect_equal.__code__ = (lambda *args, **kwargs: None).__code__\n",
        False, WRONG, TOTAL - POINTS["test_ops_in_order"], "refused while grading: patches expect_equal.__code__"),
    "gc-walk": (
        "import gc\n"
        "for thing in gc.get_objects():\n"
        "    if isinstance(thing, dict) and 'publish' in thing:\n"
        "        thing['publish'] = print\n",
        False, WRONG, TOTAL - POINTS["test_ops_in_order"], "refused while grading: walks every live object"),
    "lying-tensor-subclass": ("", False, {"logistic_loss": LYING_TENSOR}, TOTAL - POINTS["test_logistic_loss"],
                              "decides what comparisons or torch functions answer"),
    "lying-comparisons": ("", False, {"ops_in_order": LYING_LIST, "leaf_predictions": LYING_PREDICTIONS},
                          TOTAL - POINTS["test_ops_in_order"] - POINTS["test_leaf_predictions"],
                          "decides what comparisons or torch functions answer"),
    "fake-evidence": (
        "from IPython.display import publish_display_data\n"
        "publish_display_data({'application/vnd.autograd-course.evidence+json': {'nonce': '0' * 32, 'tampering': []}})",
        False, WRONG, TOTAL - POINTS["test_ops_in_order"], "imitates the grader's evidence"),
    "gradebook-read-write": (
        "import os, sqlite3\n"
        "found = []\n"
        "for folder in ('{course}', '..', '../..', '/work', '/tmp', os.path.expanduser('~')):\n"
        "    for root, dirs, files in os.walk(folder):\n"
        "        if 'gradebook.db' in files:\n"
        "            found.append(os.path.join(root, 'gradebook.db'))\n"
        "for path in found + ['{course}/gradebook.db']:\n"
        "    try:\n"
        "        db = sqlite3.connect(path)\n"
        "        print([row for row in db.execute('select source from source_cells')])\n"
        "        db.execute('update source_cells set source = \"pass\"')\n"
        "        db.execute('delete from grade')\n"
        "        db.commit()\n"
        "    except Exception as error:\n"
        "        print('no gradebook:', error)\n",
        False, {}, TOTAL, "imports sqlite3"),
    "other-students-files": (
        "import os, glob\n"
        "for path in glob.glob('{course}/submitted/*/*/*.ipynb') + glob.glob('{course}/solutions/*/*.ipynb'):\n"
        "    print(open(path).read()[:100])\n"
        "    with open(path, 'w') as handle:\n"
        "        handle.write('{}')\n"
        "for name in ('{course}/grades.csv', '{course}/release', '{course}/autograded', '{course}/feedback'):\n"
        "    print(name, os.path.exists(name))\n",
        False, {}, TOTAL, "opens a file"),
    "network": (
        "import socket\n"
        "for host in ('127.0.0.1', 'localhost', '10.0.0.1'):\n"
        "    try:\n"
        "        socket.create_connection((host, {port}), timeout=2).sendall(b'stolen')\n"
        "    except OSError as error:\n"
        "        print('no network:', error)\n",
        False, {}, TOTAL, "imports socket"),
    "fork-bomb": ("import os\nwhile True:\n    os.fork()\n", False, {}, TOTAL, "refused while grading: forks the kernel"),
    "shell-fork-bomb": ("import os\nos.system(':(){ :|:& };:')\n", False, {}, TOTAL,
                        "refused while grading: runs a shell command"),
    "kernel-breaking-patch": ("import builtins\nbuiltins.isinstance = lambda obj, cls: True\n", False, {}, None,
                              "touches builtins"),
    "disk-bomb": (
        "import os\n"
        "try:\n"
        "    with open('big', 'wb') as handle:\n"
        "        handle.write(b'x' * (1 << 30))\n"
        "except OSError as error:\n"
        "    print('file limit:', error)\n"
        "try:\n"
        "    for i in range(100000):\n"
        "        with open(f'/tmp/part{i}', 'wb') as handle:\n"
        "            handle.write(b'x' * (8 << 20))\n"
        "except OSError as error:\n"
        "    print('disk full:', error)\n",
        False, {}, TOTAL, "opens a file"),
})
# Resource bombs placed after the last test: the submission keeps what it earned, the machine is fine.
LATE = {
    "memory-bomb": (
        "chunks = []\n"
        "while True:\n"
        "    chunks.append(bytearray(256 << 20))\n", TOTAL, ""),
}
METADATA = {
    # A test cell claims to be no test (and is emptied): nbgrader restores it from the gradebook.
    "test-cell-metadata-edited": TOTAL - POINTS["test_ops_in_order"],
    # A cell of the student's own claims to be a test worth 100 points: it counts for nothing.
    "forged-test-cell": TOTAL,
}
HONEST = {"honest": TOTAL, "honest-partial": TOTAL - POINTS["test_ops_in_order"]}


def _with_cell(nb, code, above_setup=False, at_end=False, replacements=None):
    nb = with_replacements(nb, replacements or {})
    if not code:
        return nb
    cell = nbformat.v4.new_code_cell(code)
    setup = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    index = len(nb.cells) if at_end else setup if above_setup else setup + 1
    nb.cells.insert(index, cell)
    return nb


def _metadata_case(name):
    nb = with_replacements(SOURCE, {"ops_in_order": WRONG_OPS} if name == "test-cell-metadata-edited" else {})
    if name == "test-cell-metadata-edited":
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") == "test_ops_in_order":
                meta.update(grade=False, locked=False, points=0)
                cell.source = "pass"
    else:
        nb.cells.insert(5, nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {
            "grade": True, "grade_id": "bonus", "locked": True, "points": 100, "schema_version": 3,
            "solution": False}}))
    return nb


def _gradebook_cells(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_notebook(ASSIGNMENT, ASSIGNMENT)
        return (sorted((cell.name, cell.cell_type, cell.locked, cell.source, cell.checksum)
                       for cell in notebook.source_cells),
                sorted((cell.name, cell.max_score, cell.cell_type) for cell in notebook.grade_cells))


@pytest.fixture(scope="module")
def cheating_class(tmp_path_factory, workers):
    course = make_course(tmp_path_factory.mktemp("cheats") / "course", [ASSIGNMENT], timeout=20)
    before = _gradebook_cells(course)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port, contacts, stop = listener.getsockname()[1], [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                contacts.append(listener.accept())
            except OSError:
                pass

    watcher = threading.Thread(target=accept, daemon=True)
    watcher.start()
    submit(course, "honest", ASSIGNMENT, SOURCE)
    submit(course, "honest-partial", ASSIGNMENT, with_replacements(SOURCE, {"ops_in_order": WRONG_OPS}))
    for name, (code, above, replacements, _, _) in CASES.items():
        code = code.replace("{course}", str(course)).replace("{port}", str(port))
        submit(course, name, ASSIGNMENT, _with_cell(SOURCE, code, above, replacements=replacements))
    for name, (code, _, _) in LATE.items():
        submit(course, name, ASSIGNMENT, _with_cell(SOURCE, code, at_end=True))
    for name in METADATA:
        submit(course, name, ASSIGNMENT, _metadata_case(name))
    honest_copy = (course / "submitted" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()
    outcomes = {o.student: o for o in grade_class(course, [ASSIGNMENT], workers=workers, quiet=True)}
    stop.set()
    watcher.join()
    listener.close()
    return {"course": course, "outcomes": outcomes, "before": before, "contacts": contacts,
            "honest_copy": honest_copy}


def _untouched(graded):
    """The shared checks of every case: gradebook cells intact, honest students graded as alone."""
    course = graded["course"]
    assert _gradebook_cells(course) == graded["before"], "the gradebook's stored cells or checksums changed"
    for student, score in HONEST.items():
        outcome = graded["outcomes"][student]
        assert (outcome.status, outcome.score, outcome.max_score) == ("graded", score, TOTAL), (student, outcome)
        assert not outcome.notes, outcome.notes
        expected = {name: (0.0 if student == "honest-partial" and name == "test_ops_in_order" else float(points),
                           float(points)) for name, points in POINTS.items()}
        assert cell_scores(course, ASSIGNMENT, student) == expected
    submitted = course / "submitted" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert submitted.read_text() == graded["honest_copy"], "another student's submission was changed"
    assert not graded["contacts"], "a kernel reached the network"


@pytest.mark.parametrize("student", sorted(CASES))
def test_cheat_gains_nothing_and_is_flagged(cheating_class, student):
    _, _, _, expected, words = CASES[student]
    outcome = cheating_class["outcomes"][student]
    if expected is None:   # it broke its own kernel: not graded, with a reason, never a silent score
        assert outcome.status == "not graded" and outcome.score is None and "kernel" in outcome.reason, outcome
    else:
        assert outcome.status == "graded", outcome.reason
        assert outcome.score == expected and outcome.max_score == TOTAL, (outcome.score, expected, outcome.notes)
    assert any(note.startswith("suspicious") and words in note for note in outcome.notes), outcome.notes
    _untouched(cheating_class)


@pytest.mark.parametrize("student", sorted(LATE))
def test_resource_bomb_costs_only_itself(cheating_class, student):
    outcome = cheating_class["outcomes"][student]
    assert (outcome.status, outcome.score) == ("graded", LATE[student][1]), outcome
    _untouched(cheating_class)


@pytest.mark.parametrize("student", sorted(METADATA))
def test_metadata_edits_change_nothing(cheating_class, student):
    outcome = cheating_class["outcomes"][student]
    assert (outcome.status, outcome.score, outcome.max_score) == ("graded", METADATA[student], TOTAL), outcome
    if student == "forged-test-cell":
        assert any("metadata of a cell the assignment does not have" in note for note in outcome.notes), outcome.notes
    _untouched(cheating_class)


def test_nothing_secret_reached_the_outputs(cheating_class):
    """The attackers' own outputs (what they printed) hold no hidden test and no other student's work."""
    course = cheating_class["course"]
    for student in ("gradebook-read-write", "other-students-files"):
        nb = read_notebook(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        printed = "".join(str(out) for cell in nb.cells if cell.cell_type == "code"
                          and not cell.metadata.get("nbgrader", {}).get("grade") for out in cell.outputs)
        assert "no gradebook" in printed or student != "gradebook-read-write", printed[:500]
        assert HIDDEN_LINE not in printed and "BEGIN HIDDEN TESTS" not in printed and "def ops_in_order" not in printed
    summary = (course / "grading-summary.txt").read_text()
    rows = {row["student"]: row for row in csv.DictReader(open(course / "grades.csv"))}
    for student in CASES:
        assert "suspicious" in rows[student]["notes"], student
        assert student in summary.split("suspicious, to read:")[1]


def test_without_a_sandbox_grading_refuses_unless_told(tmp_path):
    """No bubblewrap: make grade says how to get it; --no-sandbox grades and says so at the top."""
    import os
    import subprocess
    import sys

    from harness import tool_env

    course = make_course(tmp_path / "course", [ASSIGNMENT])
    submit(course, "honest", ASSIGNMENT, SOURCE)
    tools = tmp_path / "bin-without-bwrap"
    tools.mkdir()
    for tool in ("prlimit", "setpriv", "dot"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, tools / tool)
    env = dict(tool_env(), PATH=f"{os.path.dirname(sys.executable)}:{tools}")
    command = [sys.executable, "-m", "autograd_course.grading.grade", "--course", str(course), "--jobs", "1"]
    refused = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "bubblewrap" in refused.stderr and "--no-sandbox" in refused.stderr, refused.stderr
    assert not (course / "grades.csv").exists() and not (course / "autograded").exists()

    unsandboxed = subprocess.run(command + ["--no-sandbox"], capture_output=True, text=True, env=env, timeout=600)
    assert unsandboxed.returncode == 0, unsandboxed.stdout + unsandboxed.stderr
    assert not re.search(r"\w+Warning: ", unsandboxed.stderr), unsandboxed.stderr   # no Python warning reaches the instructor
    summary = (course / "grading-summary.txt").read_text()
    assert summary.startswith("WARNING: graded WITHOUT the sandbox"), summary
    assert f"{TOTAL:g}/{TOTAL:g}" in summary
