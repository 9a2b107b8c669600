"""Checks used by the visible and hidden tests, with messages that name the mistake.

The same checks run in the student's kernel (the visible tests in JupyterLab, Colab and *Validate*)
and in the judge while grading.  In the judge their arguments may be handles on the kernel's
objects (:class:`autograd_course.probes.Ref`): a check reads the plain values it compares
(:func:`autograd_course.probes.value`), so what it decides rests on data, never on an object the
student's code made.  References are the test's own, computed where the test runs.
"""

import numbers
import re

import numpy
import torch

from . import graphs, probes
from ._report import report as _report
from .mistakes import kind_of, snake_case

# Only these tensor types are compared: a subclass can answer any torch function as it likes.
_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_PLAIN_TENSOR_NAMES = {"torch.Tensor", "torch.nn.parameter.Parameter"}
# Plain Python data that compares honestly; anything else could define __eq__ to lie.
_PLAIN_SCALARS = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis), torch.dtype)
_PLAIN_CONTAINERS = (tuple, list, set, frozenset, dict, torch.Size)


def _mistake(kind, message):
    """A failed check: an AssertionError whose message is written for the student, and whose ``kind``
    names the mistake for the class report (see :mod:`autograd_course.mistakes`)."""
    failure = AssertionError(message)
    failure.kind = kind
    return failure


def _reported(check):
    """A check whose failure reaches the student as its message, without the comparison code's frames."""
    import functools

    @functools.wraps(check)
    def run(*args, **kwargs):
        __tracebackhide__ = True  # the student sees the test cell and the message, not this frame
        try:
            return check(*args, **kwargs)
        except AssertionError as failure:
            _report(failure)   # re-raised without the frames of the comparison code

    return run


def _plain_tensor(value, name):
    """A tensor's values to compare: a handle on the kernel's tensor is read, a tensor subclass refused."""
    if type(value) is probes.Ref:
        if probes.kernel_type(value) not in _PLAIN_TENSOR_NAMES and isinstance(value, torch.Tensor):
            raise _mistake("tensor_subclass", f"{name} is a {probes.type_name(value)}, a subclass of torch.Tensor; "
                        "return a plain tensor (a subclass can change what comparisons answer).")
        return probes.value(value)
    if isinstance(value, torch.Tensor) and type(value) not in _PLAIN_TENSOR_TYPES:
        raise _mistake("tensor_subclass", f"{name} is a {type(value).__name__}, a subclass of torch.Tensor; "
                    "return a plain tensor (a subclass can change what comparisons answer).")
    return value


def _plain_data(value, name, depth=0):
    """``value`` when it is built only from plain Python data, whose comparisons cannot lie."""
    value = probes.value(value)
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind in _PLAIN_CONTAINERS and depth < 20:
        items = value.items() if kind is dict else ((None, item) for item in value)
        for key, item in items:
            if key is not None:
                _plain_data(key, name, depth + 1)
            _plain_data(item, name, depth + 1)
        return value
    raise _mistake("not_plain_data", f"{name} should be plain Python data (a number, string, bool, None or a list/tuple/dict "
                f"of them), got {kind.__name__}.")


def _fmt(tensor):
    """A short, readable rendering of a tensor's values."""
    flat = tensor.detach().reshape(-1)
    shown = [round(float(v), 4) for v in flat[:6]]
    more = f", ... ({flat.numel()} values)" if flat.numel() > 6 else ""
    return f"{shown}{more}" if tensor.dim() else f"{shown[0]}"


def _close(actual, expected, atol, rtol):
    return torch.allclose(actual.detach().to(torch.float64), expected.detach().to(torch.float64), atol=atol, rtol=rtol)


def _as_reference(expected, like):
    if isinstance(expected, torch.Tensor):
        return expected.detach()
    return torch.as_tensor(expected, dtype=like.dtype if like.is_floating_point() else torch.float64)


def _diagnose_value(actual, expected, name, atol, rtol, known_mistakes, is_grad):
    __tracebackhide__ = True
    if actual is None:
        if is_grad:
            raise _mistake(
                "gradient_is_none", f"{name} is None. Usual causes: the tensor is not a leaf (an intermediate "
                "keeps no .grad unless you call .retain_grad()), requires_grad was never "
                "set on it, or backward() was not called."
            )
        raise _mistake("result_is_none", f"{name} is None; did the function forget to return its result?")
    if not isinstance(actual, torch.Tensor):
        raise _mistake("not_a_tensor", f"{name} should be a torch.Tensor, got {probes.type_name(actual)}.")
    actual = _plain_tensor(actual, name)
    expected = _as_reference(probes.value(expected), actual)
    if actual.shape != expected.shape:
        message = f"{name} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}."
        try:
            broadcastable = torch.broadcast_shapes(actual.shape, expected.shape) == actual.shape
        except RuntimeError:
            broadcastable = False
        kind = "wrong_shape"
        if broadcastable and actual.numel() > expected.numel():
            kind = "grad_not_reduced_over_broadcast" if is_grad else "not_reduced_over_broadcast"
            message += (
                " It looks like a broadcast dimension was not reduced: a gradient has the "
                "shape of its input, so sum it over the dimensions that were broadcast."
            )
        raise _mistake(kind, message)
    if not actual.is_floating_point() and expected.is_floating_point():
        raise _mistake("not_floating_point", f"{name} has dtype {actual.dtype}; gradients and values here are floating point.")
    if _close(actual, expected, atol, rtol):
        return
    for mistake, wrong in (known_mistakes or {}).items():
        wrong = _as_reference(probes.value(wrong), actual)
        if wrong.shape == actual.shape and _close(actual, wrong, atol, rtol):
            raise _mistake(kind_of(mistake), f"{name} is wrong: {mistake}.")
    nonzero = bool((expected.abs() > atol).any())
    if nonzero:
        for factor in (2, 3, 4, 5):
            if _close(actual, expected * factor, atol, rtol):
                hint = (
                    "gradients accumulate in .grad across backward calls; set .grad to None "
                    "(or call zero_grad()) before each new backward" if is_grad else
                    "is something counted more than once?"
                )
                raise _mistake("accumulated_across_backward" if is_grad else "counted_more_than_once",
                               f"{name} is exactly {factor} times the expected value: {hint}.")
        if _close(actual, -expected, atol, rtol):
            raise _mistake("wrong_sign", f"{name} has the right size but the wrong sign.")
        if not bool((actual.abs() > atol).any()):
            raise _mistake(
                "all_zeros", f"{name} is all zeros but should not be: is the graph cut (detach, no_grad) "
                "or the incoming gradient (grad_output) dropped?"
            )
    error = (actual.detach().to(torch.float64) - expected.to(torch.float64)).abs()
    worst = int(error.reshape(-1).argmax())
    raise _mistake(
        "wrong_value", f"{name} is wrong: largest error {float(error.max()):.3g} at flat index {worst}.\n"
        f"  got      {_fmt(actual)}\n  expected {_fmt(expected)}"
    )


@_reported
def expect_grad(actual, expected, name="the gradient", *, atol=1e-5, rtol=1e-4, known_mistakes=None):
    """Assert that a gradient matches a reference; name the likely mistake if not.

    ``known_mistakes`` maps a description to the value that mistake produces,
    so a test can recognise, say, a backward that ignores ``grad_output``.
    """
    __tracebackhide__ = True
    _diagnose_value(actual, expected, name, atol, rtol, known_mistakes, is_grad=True)


@_reported
def expect_close(actual, expected, name="the result", *, atol=1e-5, rtol=1e-4, known_mistakes=None):
    """Assert that a tensor value matches a reference, with the same diagnostics."""
    __tracebackhide__ = True
    _diagnose_value(actual, expected, name, atol, rtol, known_mistakes, is_grad=False)


@_reported
def expect_equal(actual, expected, name="the answer", hint=None):
    """Assert exact equality of plain Python values (answers to predict-then-run questions)."""
    __tracebackhide__ = True
    actual = _plain_data(actual, name)
    if actual == expected and type(actual) == type(expected):
        return
    message = f"{name} is {repr(actual)}, expected {repr(expected)}."
    raise _mistake("wrong_answer", message + (f" {hint}" if hint else ""))


@_reported
def expect(condition, message, kind=None):
    """Assert a condition with a message written for the student; ``kind`` names the mistake (by default the
    judge names it from the message as the test writes it: see :func:`autograd_course.mistakes.kind_at`)."""
    __tracebackhide__ = True
    if isinstance(condition, torch.Tensor):
        condition = _plain_tensor(condition, "the condition")
    elif type(condition) not in (bool, numpy.bool_):
        raise _mistake(kind, f"{message} (the check got a {probes.type_name(condition)}, not True or False)")
    if not bool(condition):
        raise _mistake(kind, message)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _words(text):
    return text.strip().strip("'\"").strip().lower()


def same_answer(actual, expected):
    """Whether a prediction gives the expected answer: a number by its value (2.0 answers 2), True and
    False only as themselves (1 does not answer a yes/no question), words ignoring case and quotes."""
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual == expected
    if _is_number(expected):
        return _is_number(actual) and abs(actual - expected) <= 1e-9 * max(1.0, abs(expected))
    if isinstance(expected, str):
        return isinstance(actual, str) and _words(actual) == _words(expected)
    return type(actual) == type(expected) and actual == expected


def _answer_form_problem(key, actual, kind):
    """What is wrong with the form of one prediction, or None. kind: bool (True or False), float (a
    number), or a tuple of the answers the question offers."""
    if actual is ...:
        return f"The entry for {key!r} is still ... (fill in your prediction)."
    if kind is bool and not isinstance(actual, bool):
        return f"The entry for {key!r} should be True or False (a yes/no question), got {repr(actual)}."
    if kind is float and not _is_number(actual):
        return f"The entry for {key!r} should be a number, got {repr(actual)}."
    if isinstance(kind, tuple) and not any(same_answer(actual, option) for option in kind):
        offered = " or ".join(repr(option) for option in kind)
        return f"The entry for {key!r} should be {offered}, got {repr(actual)}."
    return None


@_reported
def expect_prediction_form(answers, kinds, name="predictions"):
    """Check that every prediction is recorded, in the form its question asks for, without saying whether
    it is right: visible tests check this, hidden tests grade the answers as they were recorded.

    kinds maps each key to bool (True or False), float (a number) or a tuple of the answers offered."""
    __tracebackhide__ = True
    if type(answers) is not dict:
        raise _mistake("predictions_not_a_dict", f"{name} should be a dict, got {type(answers).__name__}.")
    missing = [key for key in kinds if key not in answers]
    if missing:
        raise _mistake("prediction_missing", f"{name} has no entry for {', '.join(repr(key) for key in missing)}; keep every key it started with.")
    unknown = [key for key in answers if key not in kinds]
    if unknown:
        raise _mistake("prediction_not_asked", f"{name} has entries no question asks about: {', '.join(repr(key) for key in unknown)}.")
    for key, kind in kinds.items():
        problem = _answer_form_problem(key, _plain_data(answers[key], f"the entry for {key!r}"), kind)
        if problem:
            raise _mistake("prediction_not_filled_in" if answers[key] is ... else "prediction_wrong_form", problem)


@_reported
def expect_answer(answers, key, expected, hint=None):
    """Check one entry of a dict of predictions, naming the entry that is wrong."""
    __tracebackhide__ = True
    if type(answers) is not dict:
        raise _mistake("predictions_not_a_dict", f"The answers should be a dict, got {type(answers).__name__}.")
    if key not in answers:
        raise _mistake("prediction_missing", f"The answers have no entry for {key!r}.")
    if answers[key] is ...:
        raise _mistake("prediction_not_filled_in", f"The entry for {key!r} is still ... (fill in your prediction).")
    actual = _plain_data(answers[key], f"the entry for {key!r}")
    if same_answer(actual, expected):
        return
    if isinstance(expected, bool) and _is_number(actual):
        message = f"The entry for {key!r} is {repr(actual)}: this is a yes/no question, answer True or False."
    elif _is_number(expected) and isinstance(actual, bool):
        message = f"The entry for {key!r} is {repr(actual)}: this question asks for a number."
    else:
        message = f"The entry for {key!r} is {repr(actual)}, which is not what happens."
    # Each question its own kind: the class report counts who predicted what wrong.
    raise _mistake(f"wrong_prediction_{kind_of(str(key))}", message + (f" {hint}" if hint else ""))


@_reported
def expect_gradcheck(function, inputs, name="the function", *, double_backward=False):
    """Compare a function's backward with finite differences in float64 (and its double backward).

    In the judge, ``function`` is the student's, in their kernel: torch's gradcheck runs here on a
    function whose forward and backward are evaluated there (see :class:`_KernelFunction`)."""
    __tracebackhide__ = True
    inputs = tuple(inputs)
    for i, tensor in enumerate(inputs):
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.dtype != torch.float64:
            raise _mistake("gradcheck_input_not_float64", f"gradcheck input {i} is {tensor.dtype}; finite differences need float64.")
    if type(function) is probes.Ref or type(function) is probes._RemoteMethod:
        remote = _Held(function)

        def function(*args):
            return _KernelFunction.apply(remote, len(args), *args)
    try:
        torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
    except probes.StudentError:
        raise
    except Exception as error:
        raise _mistake("backward_disagrees_with_finite_differences", f"gradcheck failed for {name}: backward disagrees with finite differences.\n{error}") from None
    if double_backward:
        try:
            torch.autograd.gradgradcheck(function, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        except probes.StudentError:
            raise
        except Exception as error:
            raise _mistake(
                "backward_not_differentiable", f"gradgradcheck failed for {name}: its backward is not itself differentiable "
                f"(is it decorated with once_differentiable, or does it leave the graph?).\n{error}"
            ) from None


class _Held:
    """Handles carried through Function.apply, which must not see them (they answer torch functions)."""

    def __init__(self, *items):
        self.items = items


class _KernelFunction(torch.autograd.Function):
    """A function of the student's kernel as a node of the judge's graph: its forward runs there on copies of
    the inputs, and its backward is theirs too (through :class:`_KernelVJP`, itself differentiable once more)."""

    @staticmethod
    def forward(ctx, remote, count, *inputs):
        sent = [probes.kernel.send(x.detach().requires_grad_(needs)) if isinstance(x, torch.Tensor) else x
                for x, needs in zip(inputs, ctx.needs_input_grad[2:])]
        out = remote.items[0](*sent)
        ctx.kernel_inputs, ctx.kernel_output = sent, out
        ctx.save_for_backward(*[x for x in inputs if isinstance(x, torch.Tensor)])
        return _plain_tensor(out, "the output").clone()

    @staticmethod
    def backward(ctx, grad_output):
        return (None, None, *_KernelVJP.apply(_Held(ctx.kernel_output, ctx.kernel_inputs), grad_output,
                                              *ctx.saved_tensors))


class _KernelVJP(torch.autograd.Function):
    """The student's backward, run in their kernel with create_graph=True, so that it can be differentiated again."""

    @staticmethod
    def forward(ctx, held, grad_output, *inputs):
        output, kernel_inputs = held.items
        kernel_torch = probes.kernel.torch
        wanted = [x for x in kernel_inputs if type(x) is probes.Ref and x.requires_grad]
        sent_grad = probes.kernel.send(grad_output.detach().requires_grad_(True))
        grads = kernel_torch.autograd.grad(output, wanted, sent_grad, create_graph=True, allow_unused=True)
        by_input = dict(zip(map(id, wanted), grads))
        results = [by_input.get(id(x)) for x in kernel_inputs]
        ctx.kernel = (results, kernel_inputs, sent_grad)
        return tuple(torch.zeros_like(x) if r is None else _plain_tensor(r, "a gradient").clone()
                     for r, x in zip(results, inputs))

    @staticmethod
    def backward(ctx, *grad_grads):
        results, kernel_inputs, sent_grad = ctx.kernel
        pairs = [(r, probes.kernel.send(g.detach())) for r, g in zip(results, grad_grads) if r is not None and r.requires_grad]
        wrt = [x for x in kernel_inputs if type(x) is probes.Ref and x.requires_grad] + [sent_grad]
        if not pairs:
            return (None, None, *[None] * len(kernel_inputs))
        second = probes.kernel.torch.autograd.grad([r for r, _ in pairs], wrt, [g for _, g in pairs],
                                                   allow_unused=True, retain_graph=True)
        by_input = dict(zip(map(id, wrt), second))
        value = lambda ref: None if by_input.get(id(ref)) is None else _plain_tensor(by_input[id(ref)], "a gradient")
        return (None, value(sent_grad), *[value(x) if type(x) is probes.Ref else None for x in kernel_inputs])


def _fail_with_graph(kind, message, walked, marks=None, outside=None):
    """Fail with ``message`` and the student's graph, the culprit marked (shown above the message)."""
    probes.show(graphs.draw_fault(walked, marks, outside, fault=message.split(":")[0]))
    raise _mistake(kind, message + " The drawing shows your graph, with what the check found in red.")


@_reported
def expect_function_in_graph(output, function_class, name="the output"):
    """Assert that ``output`` was produced by ``function_class.apply``, not by plain torch ops."""
    __tracebackhide__ = True
    grad_fn = getattr(output, "grad_fn", None)
    if grad_fn is None:
        raise _mistake("no_grad_fn", f"{name} has no grad_fn: it is not attached to any graph "
                    "(did an input require grad, and was the Function called with .apply?).")
    if getattr(grad_fn, "_forward_cls", None) is not function_class:
        _fail_with_graph(
            "function_not_in_graph", f"{name} was made by {probes.type_name(grad_fn)}, not by {function_class.__name__}: "
            f"call {function_class.__name__}.apply(...) so that your backward is the one autograd runs.",
            graphs.walk_backward_graph(output), {0: f"not {function_class.__name__}Backward"})


@_reported
def expect_reaches(output, leaves, name="the loss"):
    """Assert that backward from ``output`` reaches each tensor of ``leaves`` (``{name: tensor}``) as a leaf
    that requires grad. A fault of the graph's structure fails with the student's graph drawn and the culprit
    marked: a tensor that no path reaches (the graph was cut by ``detach``, ``.data`` or ``no_grad``), a
    tensor that does not require grad, a tensor that is not a leaf."""
    __tracebackhide__ = True
    if getattr(output, "grad_fn", None) is None:
        raise _mistake("no_grad_fn", f"{name} has no grad_fn: it is not connected to {', '.join(leaves)} (computed under "
                    "torch.no_grad(), or from detached tensors, .item() or NumPy?).")
    walked = graphs.walk_backward_graph(output, leaves)
    for leaf, tensor in leaves.items():
        if not tensor.requires_grad:
            _fail_with_graph("leaf_does_not_require_grad", f"{leaf} does not require grad, so backward gives it no gradient: set "
                             f"requires_grad on {leaf} before computing {name} from it.", walked,
                             outside={leaf: "does not require grad"})
        if not tensor.is_leaf:
            made_by = graphs.node_of(walked, tensor.grad_fn)
            message = (f"{leaf} is not a leaf: it was made by {probes.type_name(tensor.grad_fn)} from other "
                       f"tensors, so backward keeps no .grad for it. Make {leaf} the tensor that requires grad "
                       "(create it, then call .requires_grad_() on the result), or call .retain_grad() on it.")
            if made_by is None:
                _fail_with_graph("not_a_leaf", message, walked, outside={leaf: "not a leaf, and not in this graph"})
            _fail_with_graph("not_a_leaf", message, walked, {made_by: f"made {leaf}: {leaf} is not a leaf"})
        if graphs.node_of(walked, tensor) is None and not walked["truncated"]:
            _fail_with_graph("graph_cut_before_leaf", f"no path leads from {name} back to {leaf}: the graph was cut between them "
                             "(detach(), .data, or a step under torch.no_grad()), so backward sends "
                             f"{leaf} no gradient.", walked, outside={leaf: "got no gradient"})


@_reported
def expect_gradient_shape(gradient, tensor, name, *, graph=None):
    """Assert that ``gradient`` has the shape of ``tensor``, the input it belongs to. ``graph``, the output of the
    Function whose backward returned it, is drawn with that node marked when the gradient was not reduced over
    the dimensions that broadcasting stretched."""
    __tracebackhide__ = True
    got, wanted = tuple(gradient.shape), tuple(tensor.shape)
    if got == wanted:
        return
    try:
        broadcast = torch.broadcast_shapes(got, wanted) == torch.Size(got)
    except RuntimeError:
        broadcast = False
    message = f"{name} has shape {got}, but its input has shape {wanted}"
    if not broadcast:
        raise _mistake("wrong_gradient_shape", message + ": a gradient has the shape of the tensor it belongs to.")
    message += (": it was not reduced over the broadcast dimensions. The input was stretched to the output's shape "
                "in forward, so its gradient sums over the dimensions it was stretched along.")
    if graph is None or getattr(graph, "grad_fn", None) is None:
        raise _mistake("grad_not_reduced_over_broadcast", message)
    _fail_with_graph("grad_not_reduced_over_broadcast", message, graphs.walk_backward_graph(graph), {0: f"returned shape {got} for an input of shape {wanted}"})


@_reported
def expect_each_closure_once(output, runs, nodes):
    """For an engine of your own (notebook 07): assert that ``backprop(output)`` ran the closure of every node
    with parents exactly once. ``runs`` is ``{name: times run}``, ``nodes`` ``{name: node}``; a node run never
    or more than once fails with the engine's graph drawn and that node marked."""
    __tracebackhide__ = True
    never = [name for name, count in runs.items() if count == 0]
    most = max(runs, key=runs.get)
    if never:
        name = never[0]
        kind = "closure_never_ran"
        message, note = (f"backprop never ran the closure of {name} (a {nodes[name].op!r} node): visit every node "
                         "reachable through .parents."), "never ran"
    elif runs[most] > 1:
        kind, name, note = "closure_ran_more_than_once", most, f"ran {runs[most]} times"
        message = (f"backprop ran the closure of {most} {runs[most]} times, so its gradient was sent on {runs[most]} "
                   "times: remember which nodes the walk has visited, and list each once.")
    else:
        return
    leaves = {leaf: node for leaf, node in nodes.items() if not node.parents}
    inner = {inner: node for inner, node in nodes.items() if node.parents and node is not output}
    probes.show(graphs.draw_engine_graph(output, leaves, inner, show_grads=False, marks={id(nodes[name]): note}))
    raise _mistake(kind, message + " The drawing shows your graph, with that node in red.")


# What autograd's errors in backward name: a node that returned a gradient of the wrong shape, and a saved
# tensor changed in place (with the node that made it, unless it is a leaf).
_INVALID_GRADIENT = re.compile(r"Function (\w+) returned an invalid gradient at index (\d+) - got \[([\d, ]*)\] "
                               r"but expected shape compatible with \[([\d, ]*)\]")
_CHANGED_IN_PLACE = re.compile(r"modified by an inplace operation: \[[\w.]+ \[[\d, ]*\]\](?:, which is output \d+ of (\w+))?")


@_reported
def expect_backward(output, gradient=None, name="backward", hint=""):
    """Run ``output.backward(gradient)``. When autograd rejects the graph (a node returned a gradient of the
    wrong shape, a tensor backward needs was changed in place) it fails with the student's graph drawn and
    the node at fault marked; ``hint`` adds the exercise's own advice."""
    __tracebackhide__ = True
    try:
        output.backward() if gradient is None else output.backward(gradient)
        return
    except RuntimeError as error:
        said = str(error).splitlines()[0].split(" Hint:")[0]
        invalid, changed = _INVALID_GRADIENT.search(said), _CHANGED_IN_PLACE.search(said)
        if not (invalid or changed):
            raise
    hint = f" {hint}" if hint else ""
    walked = graphs.walk_backward_graph(output)
    if invalid:
        kind, position, got, wanted = invalid.groups()
        marks = {index: f"returned shape [{got}] for input {position} of shape [{wanted}]"
                 for index, entry in enumerate(walked["nodes"]) if re.fullmatch(rf"{kind}\d*", entry["kind"])}
        _fail_with_graph("backward_returned_wrong_shape", f"{name}: {kind} returned a gradient of shape [{got}] for its input {position}, "
                         f"which has shape [{wanted}]: a gradient must have the shape of its input (sum it over any "
                         f"dimensions that were broadcast).{hint} Autograd said: {said}", walked, marks)
    kind = changed.group(1)
    # torch names the node by its forward ("Exp") or its backward ("ExpBackward0"), depending on the version.
    marks = {index: "its output was changed in place after backward saved it"
             for index, entry in enumerate(walked["nodes"])
             if kind and re.fullmatch(rf"{kind}(Backward\d*)?", entry["kind"])}
    if not kind:
        marks = {index: "changed in place after backward saved it"
                 for index, entry in enumerate(walked["nodes"]) if entry["kind"] == "AccumulateGrad"}
    _fail_with_graph("saved_tensor_changed_in_place", f"{name}: a tensor that backward needs was changed in place after it was saved "
                     f"({'the output of ' + kind if kind else 'a leaf'}): change a copy (clone()) or compute "
                     f"out of place.{hint} Autograd said: {said}", walked, marks)


@_reported
def expect_raises(error_type, action, name="this call"):
    """Assert that ``action()`` raises ``error_type``."""
    __tracebackhide__ = True
    try:
        action()
    except error_type:
        return
    except Exception as error:
        raise _mistake(f"raised_{snake_case(type(error).__name__)}", f"{name} raised {type(error).__name__} ({error}); expected {error_type.__name__}.") from None
    raise _mistake(f"did_not_raise_{snake_case(error_type.__name__)}", f"{name} should raise {error_type.__name__}, but it did not.")
