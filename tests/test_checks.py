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
