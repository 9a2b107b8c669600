"""The checks' diagnostic messages, the tamper guard, graph drawing, and the generated data sets."""


import numpy as np
import pytest
import torch

from autograd_course import checks as ck
from autograd_course import draw_graph
from autograd_course.data import load_digits, make_spirals
from autograd_course.graphs import draw_engine_graph, render_svg, side_by_side


def message(action):
    with pytest.raises(AssertionError) as caught:
        action()
    return str(caught.value)


EXPECTED = torch.tensor([1.0, -2.0, 3.0])


@pytest.mark.parametrize("actual, words", [
    (None, "not a leaf"),
    (torch.ones(4, 3), "broadcast dimension was not reduced"),
    (EXPECTED * 2, "exactly 2 times"),
    (-EXPECTED, "wrong sign"),
    (torch.zeros(3), "all zeros"),
    (EXPECTED + torch.tensor([0.0, 0.5, 0.0]), "largest error 0.5 at flat index 1"),
])
def test_expect_grad_names_the_mistake(actual, words):
    assert words in message(lambda: ck.expect_grad(actual, EXPECTED, "x.grad"))


def test_known_mistakes_are_named_and_correct_values_pass():
    ck.expect_grad(EXPECTED.clone(), EXPECTED, "x.grad")
    wrong = EXPECTED + 1
    assert "grad_output was ignored" in message(
        lambda: ck.expect_grad(wrong, EXPECTED, "x.grad", known_mistakes={"grad_output was ignored": wrong}))


def test_answers_and_graph_membership():
    assert "still ..." in message(lambda: ck.expect_answer({"a": ...}, "a", True))
    assert "'a' is False" in message(lambda: ck.expect_answer({"a": False}, "a", True))

    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad):
            return 2 * grad

    x = torch.ones(2, requires_grad=True)
    ck.expect_function_in_graph(Double.apply(x), Double)
    assert "not by Double" in message(lambda: ck.expect_function_in_graph(2 * x, Double))
    ck.expect_gradcheck(Double.apply, (torch.randn(3, dtype=torch.float64, requires_grad=True),))
    assert "float64" in message(lambda: ck.expect_gradcheck(Double.apply, (torch.randn(3, requires_grad=True),)))


def test_torchviz_renders_with_graphviz():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    hidden = (w * 3).exp()
    svg = render_svg(hidden.sum(), params={"w": w}, intermediates={"hidden": hidden})
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "lightblue" in draw_graph(hidden.sum(), params={"w": w}).source
    for colour in ("lightblue", "lightyellow", "#caff70"):   # leaf, intermediate, output (darkolivegreen1)
        assert f'fill="{colour}"' in svg, colour
    with pytest.raises(ValueError, match="no grad_fn"):
        draw_graph(torch.ones(2))


class _EngineNode:
    """What draw_engine_graph reads from the nodes of an engine of one's own (notebook 07)."""

    def __init__(self, data, parents=(), op=""):
        self.data, self.grad, self.parents, self.op = data, 0.0, tuple(parents), op


def test_engine_graphs_are_drawn_in_the_course_colours_beside_torch():
    a, b = _EngineNode(2.0), _EngineNode(-1.0)
    product = _EngineNode(-2.0, (a, b), "*")
    out = _EngineNode(0.0, (product, a), "+")          # a is used twice: still one box
    a.grad, product.grad = 1.5, 0.25
    engine = draw_engine_graph(out, params={"a": a, "b": b}, intermediates={"product": product})
    svg = engine.pipe(format="svg").decode()
    for colour in ("lightblue", "lightyellow", "#caff70", "lightgrey"):   # leaf, intermediate, output, operation
        assert f'fill="{colour}"' in svg, colour
    assert engine.source.count("label=\"a\n()\n2\ngrad 1.5\"") == 1
    assert "product\n()\n-2\ngrad 0.25" in engine.source
    arrays = draw_engine_graph(_EngineNode(np.ones(3), (_EngineNode(np.zeros((2, 3))),), "sum"), legend=False)
    assert "(2, 3)" in arrays.source and "[1, 1, 1]" in arrays.source and "legend" not in arrays.source

    w = torch.tensor([1.0, 2.0], requires_grad=True)
    both = side_by_side({"your engine": engine, "torch.autograd": draw_graph((w * 3).sum(), params={"w": w})})
    assert "cluster_0" in both.source and "cluster_1" in both.source and "cluster_legend" not in both.source
    assert "your engine" in both.source and "MulBackward0" in both.source
    assert "<svg" in both.pipe(format="svg").decode()


def test_engine_graphs_describe_themselves_for_screen_readers():
    a, b = _EngineNode(2.0), _EngineNode(-1.0)
    product = _EngineNode(-2.0, (a, b), "*")
    out = _EngineNode(0.0, (product, a, a), "+")
    engine = draw_engine_graph(out, params={"a": a, "b": b}, intermediates={"product": product})
    svg = engine._repr_image_svg_xml()
    opening = svg[svg.index("<svg"):svg.index(">", svg.index("<svg"))]
    assert 'role="img"' in opening and "Leaves: a and b" in opening
    assert "operation + passes gradients to operation * (which made product) and leaf a (along 2 edges)" in opening
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    both = side_by_side({"your engine": engine, "torch.autograd": draw_graph((w * 3).sum(), params={"w": w})})
    label = both._repr_image_svg_xml()
    assert "your engine: Graph of your engine" in label and "torch.autograd: Backward graph of the output" in label


def test_spirals_are_seeded_and_balanced():
    x, y = make_spirals(n_per_class=50, classes=3)
    assert x.shape == (150, 2) and x.dtype == torch.float32 and y.dtype == torch.long
    assert torch.equal(torch.bincount(y), torch.tensor([50, 50, 50]))
    assert torch.equal(x, make_spirals(n_per_class=50, classes=3)[0])
    assert not torch.equal(x, make_spirals(n_per_class=50, classes=3, seed=1)[0])
    assert float(x.norm(dim=1).max()) < 1.5


def test_digits_read_from_the_bundled_file_are_scikit_learns_own():
    from sklearn.datasets import load_digits as sklearn_digits

    x_train, y_train, x_test, y_test = load_digits()
    assert x_train.shape == (1200, 64) and x_test.shape == (597, 64) and y_train.dtype == torch.long
    digits = sklearn_digits()
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([x_train, x_test]), (torch.tensor(digits.data, dtype=torch.float32) / 16.0)[order])
    assert torch.equal(torch.cat([y_train, y_test]), torch.tensor(digits.target)[order])


def test_answers_equal_as_numbers_but_yes_no_stays_bool():
    ck.expect_answer({"n": 2.0}, "n", 2)          # the same number, written as a float
    ck.expect_answer({"n": 13}, "n", 13.0)
    ck.expect_answer({"side": " Y "}, "side", "y")  # words: case, spaces and quotes do not matter
    ck.expect_answer({"flag": True}, "flag", True)
    assert "yes/no question" in message(lambda: ck.expect_answer({"flag": 1}, "flag", True))
    assert "asks for a number" in message(lambda: ck.expect_answer({"n": True}, "n", 1))
    wrong = message(lambda: ck.expect_answer({"probe(x) runs the hook": False}, "probe(x) runs the hook", True,
                                             "model(x) goes through __call__."))
    assert "'probe(x) runs the hook' is False" in wrong and "model(x) goes through __call__." in wrong
    assert "autograd" not in wrong, "the message must suit questions that are not about autograd"


def test_prediction_form_is_checked_without_grading_the_answers():
    kinds = {"leaf": bool, "grad": float, "who": ("x", "y"), "mode": (True, False, "error")}
    ck.expect_prediction_form({"leaf": False, "grad": 6, "who": "X", "mode": "error"}, kinds)   # wrong or not
    assert "still ..." in message(lambda: ck.expect_prediction_form({**dict.fromkeys(kinds, ...)}, kinds))
    assert "True or False" in message(
        lambda: ck.expect_prediction_form({"leaf": 1, "grad": 6, "who": "x", "mode": True}, kinds))
    assert "should be a number" in message(
        lambda: ck.expect_prediction_form({"leaf": True, "grad": "6", "who": "x", "mode": True}, kinds))
    assert "'x' or 'y'" in message(
        lambda: ck.expect_prediction_form({"leaf": True, "grad": 6, "who": "z", "mode": True}, kinds))
    assert "no entry for 'mode'" in message(
        lambda: ck.expect_prediction_form({"leaf": True, "grad": 6, "who": "x"}, kinds))


def test_reveal_waits_for_every_prediction(capsys):
    from autograd_course import reveal

    assert not reveal({"a": True, "b": ...}, {"a": True, "b": 6.0})
    waiting = capsys.readouterr().out
    assert "Record your predictions first" in waiting and "'b'" in waiting and "6.0" not in waiting
    assert reveal({"a": False, "b": 6}, {"a": True, "b": 6.0})
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].split()[-1] == "wrong" and shown[1].split()[-1] == "right"
    # Long answers (08's "forward", "reverse", "either") keep the columns in line.
    assert reveal({"network loss": "reverse", "simulation": "forward", "elementwise": "either"},
                  {"network loss": "reverse", "simulation": "reverse", "elementwise": "either"})
    rows = capsys.readouterr().out.splitlines()
    assert len({row.index("it is") for row in rows}) == 1, rows
    assert len({row.rindex(row.split()[-1]) for row in rows}) == 1, rows       # right / wrong


def test_drawn_graphs_describe_themselves_for_screen_readers():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    hidden = (w * 3).exp()
    svg = render_svg(hidden.sum(), params={"w": w}, intermediates={"hidden": hidden})
    opening = svg[svg.index("<svg"):svg.index(">", svg.index("<svg"))]
    assert 'role="img"' in opening and "aria-label=" in opening
    label = opening.split('aria-label="', 1)[1]
    for words in ("Backward graph of the output", "Leaves that receive a gradient: w",
                  "SumBackward0 passes gradients to ExpBackward0 (which made hidden)", "the AccumulateGrad of w"):
        assert words in label, words
    drawing = draw_graph(hidden.sum(), params={"w": w}, intermediates={"hidden": hidden})
    assert "<desc>" in svg and label.startswith(drawing.description)


# ---- a fault of the graph's structure: the student's graph drawn, the culprit marked ----------------------------

class _Node:
    """A node of an engine of one's own (notebook 07): data, grad, parents, op."""

    def __init__(self, data, parents=(), op=""):
        self.data, self.grad, self.parents, self.op = data, 0.0, list(parents), op


class _Scale(torch.autograd.Function):
    """x * a with a broadcast over x's rows; its backward forgets to reduce a's gradient, or returns a bad shape."""

    @staticmethod
    def forward(ctx, x, a, mistake):
        ctx.save_for_backward(x, a)
        ctx.mistake = mistake
        return x * a

    @staticmethod
    def backward(ctx, grad):
        x, a = ctx.saved_tensors
        return grad * a, (grad * x)[:, :2] if ctx.mistake == "bad shape" else grad * x, None


def _leaves():
    return torch.tensor([0.5, -1.0], requires_grad=True), torch.tensor(0.3, requires_grad=True)


def _cut_by(cut):
    w, b = _leaves()
    return (cut(w) * 2 + b).sum(), {"w": w, "b": b}


def _cut_by_no_grad():
    w, b = _leaves()
    with torch.no_grad():
        h = w * 2
    return (h + b).sum(), {"w": w, "b": b}


def _not_a_leaf():
    w = torch.tensor([0.5, -1.0], requires_grad=True) * 0.1
    return (w * 3).sum(), {"w": w}


def _changed_in_place():
    x = torch.tensor([0.5, -1.0], requires_grad=True)
    y = x.exp()
    y.mul_(2)
    return y.sum()


def _engine_without_visited_set():
    a, b = _Node(1.0), _Node(2.0)
    c = _Node(3.0, (a, b), "+")
    d = _Node(6.0, (c, c), "+")
    runs = {"c": 3, "d": 1}
    return d, runs, {"a": a, "b": b, "c": c, "d": d}


FAULTS = {
    "cut by detach": (lambda: ck.expect_reaches(*_cut_by(torch.Tensor.detach)),
                      "no path leads from the loss back to w", {"w\ngot no gradient"}),
    "cut by .data": (lambda: ck.expect_reaches(*_cut_by(lambda w: w.data)), "the graph was cut",
                     {"w\ngot no gradient"}),
    "cut by no_grad": (lambda: ck.expect_reaches(*_cut_by_no_grad()), "torch.no_grad()", {"w\ngot no gradient"}),
    "not a leaf": (lambda: ck.expect_reaches(*_not_a_leaf()), "w is not a leaf",
                   {"MulBackward0\nmade w: w is not a leaf"}),
    "saved tensor changed in place": (lambda: ck.expect_backward(_changed_in_place()), "changed in place",
                                      {"ExpBackward0\nits output was changed in place after backward saved it"}),
    "not reduced over broadcast": (
        lambda: ck.expect_gradient_shape(torch.ones(3, 2), torch.ones(2), "grad_a",
                                         graph=_Scale.apply(torch.ones(3, 2, requires_grad=True),
                                                            torch.ones(2, requires_grad=True), "")),
        "not reduced over the broadcast dimensions", {"_ScaleBackward\nreturned shape (3, 2) for an input of shape (2,)"}),
    "gradient of a wrong shape": (
        lambda: ck.expect_backward(_Scale.apply(torch.ones(3, 3, requires_grad=True), torch.ones(3, requires_grad=True),
                                                "bad shape").sum()),
        "returned a gradient of shape [3, 2]", {"_ScaleBackward\nreturned shape [3, 2] for input 1 of shape [3]"}),
    "the wrong Function": (lambda: ck.expect_function_in_graph(torch.ones(2, requires_grad=True).exp(), _Scale),
                           "made by ExpBackward0, not by _Scale", {"ExpBackward0\nnot _ScaleBackward"}),
    "a node run twice": (lambda: ck.expect_each_closure_once(*_engine_without_visited_set()),
                         "ran the closure of c 3 times", {"+\nran 3 times"}),
}


def _marked_nodes(svg):
    """The text of every node of an SVG drawing that is filled in the fault colour."""
    import xml.etree.ElementTree as ElementTree

    from autograd_course.graphs import FAULT

    space = {"svg": "http://www.w3.org/2000/svg"}
    marked = set()
    for group in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") != "node":
            continue
        shapes = group.findall("svg:polygon", space) + group.findall("svg:path", space)
        if any(shape.get("fill") == FAULT for shape in shapes):
            marked.add("\n".join(text.text for text in group.findall("svg:text", space)))
    return marked - {"what the check found"}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_of_the_graph_is_drawn_with_the_culprit_marked(fault, monkeypatch):
    from autograd_course import probes

    check, words, marked = FAULTS[fault]
    shown = []
    monkeypatch.setattr(probes, "show", shown.append)
    failure = message(check)
    assert words in failure and "The drawing shows your graph" in failure, failure
    assert len(shown) == 1, "one picture with the message"
    svg = shown[0]._repr_image_svg_xml()
    assert _marked_nodes(svg) == marked, _marked_nodes(svg)
    assert 'role="img"' in svg and shown[0].description, "the picture describes itself"


def test_a_graph_that_reaches_every_leaf_draws_nothing(monkeypatch):
    from autograd_course import probes

    shown = []
    monkeypatch.setattr(probes, "show", shown.append)
    w, b = _leaves()
    ck.expect_reaches((w * 2 + b).sum(), {"w": w, "b": b})
    ck.expect_backward((w * 2 + b).sum())
    a, c = _Node(1.0), _Node(2.0)
    ck.expect_each_closure_once(_Node(3.0, (a, c), "+"), {"out": 1}, {"a": a, "c": c})
    assert shown == [] and w.grad is not None


def test_a_fault_is_still_named_where_graphviz_cannot_draw(monkeypatch):
    """Without graphviz's dot program the picture is left out and the message stays the check's (here as in the
    judge, which draws the picture into the verdict itself)."""
    import types

    import graphviz

    from autograd_course import probes
    from autograd_course.graphs import GraphDrawing

    def no_dot(self):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(GraphDrawing, "_repr_image_svg_xml", no_dot)
    judge = types.SimpleNamespace(pictures=[])
    monkeypatch.setattr(probes, "_session", judge)
    failure = message(lambda: ck.expect_reaches(*_cut_by(torch.Tensor.detach)))
    assert "no path leads from the loss back to w" in failure and judge.pictures == [], failure
