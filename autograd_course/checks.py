"""Checks used by the visible and hidden tests, with messages that name the mistake.

Every check first undoes monkeypatches (see :mod:`autograd_course._guard`) and
compares with torch functions bound here, at import, which the course's locked
setup cell does before any student code runs.  Test cells import this module
themselves (``from autograd_course import checks as ck``) rather than relying
on a name a submission could rebind.
"""

import functools
import numbers
import sys
import types

import numpy
import torch

from . import _guard
from ._report import report as _report

# Bound before student code runs: what the checks compare with.
_Fail = AssertionError
_Tensor = torch.Tensor
# Only these tensor types are compared: a subclass can answer any torch function as it likes.
_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
# Plain Python data that compares honestly; anything else could define __eq__ to lie.
_PLAIN_SCALARS = (bool, int, float, complex, str, bytes, type(None), type(Ellipsis), torch.dtype)
_PLAIN_CONTAINERS = (tuple, list, set, frozenset, dict, torch.Size)
_numpy_bool = numpy.bool_
_no_torch_function = torch._C.DisableTorchFunction
_torch_modes_active = getattr(torch._C, "_len_torch_function_stack", lambda: 0)
_dispatch_modes_active = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 0)
_allclose = torch.allclose
_as_tensor = torch.as_tensor
_broadcast_shapes = torch.broadcast_shapes
_gradcheck = torch.autograd.gradcheck
_gradgradcheck = torch.autograd.gradgradcheck
_float64 = torch.float64
_isinstance = isinstance
_bool = bool
_abs = abs
_round = round
_len = len
_repr = repr
_type = type
_Exception = Exception
_Real = numbers.Real
_str = str
_float = float
_max = max
_any = any


def _guarded(check):
    @functools.wraps(check)
    def run(*args, **kwargs):
        __tracebackhide__ = True  # the student sees the test cell and the message, not this frame
        tampered = _guard.tampered_before_setup()
        if tampered:
            raise _Fail(
                "The grading environment was changed before the course setup cell ran "
                f"({', '.join(tampered)} replaced). This notebook cannot be graded "
                "automatically; ask your instructor."
            )
        restore_everything()
        if _torch_modes_active() or _dispatch_modes_active():
            raise _Fail("A torch function or dispatch mode is active, so torch's answers cannot be trusted "
                        "here: exit every `with TorchFunctionMode()`/`TorchDispatchMode()` block first.")
        try:
            with _no_torch_function():
                return check(*args, **kwargs)
        except _Fail as failure:
            _report(failure)   # re-raised without the frames of the comparison code

    return run


def _require_plain_tensor(value, name):
    if _type(value) not in _PLAIN_TENSOR_TYPES:
        raise _Fail(f"{name} is a {_type(value).__name__}, a subclass of torch.Tensor; "
                    "return a plain tensor (a subclass can change what comparisons answer).")


def _plain_data(value, name, depth=0):
    """``value`` when it is built only from plain Python data, whose comparisons cannot lie."""
    kind = _type(value)
    if kind in _PLAIN_SCALARS:
        return value
    if kind in _PLAIN_CONTAINERS and depth < 20:
        items = value.items() if kind is dict else ((None, item) for item in value)
        for key, item in items:
            if key is not None:
                _plain_data(key, name, depth + 1)
            _plain_data(item, name, depth + 1)
        return value
    raise _Fail(f"{name} should be plain Python data (a number, string, bool, None or a list/tuple/dict "
                f"of them), got {kind.__name__}.")


def _fmt(tensor):
    """A short, readable rendering of a tensor's values."""
    flat = tensor.detach().reshape(-1)
    shown = [_round(float(v), 4) for v in flat[:6]]
    more = f", ... ({flat.numel()} values)" if flat.numel() > 6 else ""
    return f"{shown}{more}" if tensor.dim() else f"{shown[0]}"


def _close(actual, expected, atol, rtol):
    return _allclose(actual.detach().to(_float64), expected.detach().to(_float64), atol=atol, rtol=rtol)


def _as_reference(expected, like):
    if _isinstance(expected, _Tensor):
        return expected.detach()
    return _as_tensor(expected, dtype=like.dtype if like.is_floating_point() else _float64)


def _diagnose_value(actual, expected, name, atol, rtol, known_mistakes, is_grad):
    __tracebackhide__ = True
    if actual is None:
        if is_grad:
            raise _Fail(
                f"{name} is None. Usual causes: the tensor is not a leaf (an intermediate "
                "keeps no .grad unless you call .retain_grad()), requires_grad was never "
                "set on it, or backward() was not called."
            )
        raise _Fail(f"{name} is None; did the function forget to return its result?")
    if not _isinstance(actual, _Tensor):
        raise _Fail(f"{name} should be a torch.Tensor, got {_type(actual).__name__}.")
    _require_plain_tensor(actual, name)
    if _isinstance(expected, _Tensor):
        _require_plain_tensor(expected, "the reference")
    expected = _as_reference(expected, actual)
    if actual.shape != expected.shape:
        message = f"{name} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}."
        try:
            broadcastable = _broadcast_shapes(actual.shape, expected.shape) == actual.shape
        except RuntimeError:
            broadcastable = False
        if broadcastable and actual.numel() > expected.numel():
            message += (
                " It looks like a broadcast dimension was not reduced: a gradient has the "
                "shape of its input, so sum it over the dimensions that were broadcast."
            )
        raise _Fail(message)
    if not actual.is_floating_point() and expected.is_floating_point():
        raise _Fail(f"{name} has dtype {actual.dtype}; gradients and values here are floating point.")
    if _close(actual, expected, atol, rtol):
        return
    for mistake, wrong in (known_mistakes or {}).items():
        wrong = _as_reference(wrong, actual)
        if wrong.shape == actual.shape and _close(actual, wrong, atol, rtol):
            raise _Fail(f"{name} is wrong: {mistake}.")
    nonzero = bool((expected.abs() > atol).any())
    if nonzero:
        for factor in (2, 3, 4, 5):
            if _close(actual, expected * factor, atol, rtol):
                hint = (
                    "gradients accumulate in .grad across backward calls; set .grad to None "
                    "(or call zero_grad()) before each new backward" if is_grad else
                    "is something counted more than once?"
                )
                raise _Fail(f"{name} is exactly {factor} times the expected value: {hint}.")
        if _close(actual, -expected, atol, rtol):
            raise _Fail(f"{name} has the right size but the wrong sign.")
        if not bool((actual.abs() > atol).any()):
            raise _Fail(
                f"{name} is all zeros but should not be: is the graph cut (detach, no_grad) "
                "or the incoming gradient (grad_output) dropped?"
            )
    error = (actual.detach().to(_float64) - expected.to(_float64)).abs()
    worst = int(error.reshape(-1).argmax())
    raise _Fail(
        f"{name} is wrong: largest error {float(error.max()):.3g} at flat index {worst}.\n"
        f"  got      {_fmt(actual)}\n  expected {_fmt(expected)}"
    )


@_guarded
def expect_grad(actual, expected, name="the gradient", *, atol=1e-5, rtol=1e-4, known_mistakes=None):
    """Assert that a gradient matches a reference; name the likely mistake if not.

    ``known_mistakes`` maps a description to the value that mistake produces,
    so a test can recognise, say, a backward that ignores ``grad_output``.
    """
    __tracebackhide__ = True
    _diagnose_value(actual, expected, name, atol, rtol, known_mistakes, is_grad=True)


@_guarded
def expect_close(actual, expected, name="the result", *, atol=1e-5, rtol=1e-4, known_mistakes=None):
    """Assert that a tensor value matches a reference, with the same diagnostics."""
    __tracebackhide__ = True
    _diagnose_value(actual, expected, name, atol, rtol, known_mistakes, is_grad=False)


@_guarded
def expect_equal(actual, expected, name="the answer", hint=None):
    """Assert exact equality of plain Python values (answers to predict-then-run questions)."""
    __tracebackhide__ = True
    actual = _plain_data(actual, name)
    if actual == expected and _type(actual) == _type(expected):
        return
    message = f"{name} is {_repr(actual)}, expected {_repr(expected)}."
    raise _Fail(message + (f" {hint}" if hint else ""))


@_guarded
def expect(condition, message):
    """Assert a condition with a message written for the student."""
    __tracebackhide__ = True
    if _isinstance(condition, _Tensor):
        _require_plain_tensor(condition, "the condition")
    elif _type(condition) not in (bool, _numpy_bool):
        raise _Fail(f"{message} (the check got a {_type(condition).__name__}, not True or False)")
    if not _bool(condition):
        raise _Fail(message)


def _is_number(value):
    return _isinstance(value, _Real) and not _isinstance(value, _bool)


def _words(text):
    return text.strip().strip("'\"").strip().lower()


def same_answer(actual, expected):
    """Whether a prediction gives the expected answer: a number by its value (2.0 answers 2), True and
    False only as themselves (1 does not answer a yes/no question), words ignoring case and quotes."""
    if _isinstance(expected, _bool):
        return _isinstance(actual, _bool) and actual == expected
    if _is_number(expected):
        return _is_number(actual) and _abs(actual - expected) <= 1e-9 * _max(1.0, _abs(expected))
    if _isinstance(expected, _str):
        return _isinstance(actual, _str) and _words(actual) == _words(expected)
    return _type(actual) == _type(expected) and actual == expected


def _answer_form_problem(key, actual, kind):
    """What is wrong with the form of one prediction, or None. kind: bool (True or False), float (a
    number), or a tuple of the answers the question offers."""
    if actual is ...:
        return f"The entry for {key!r} is still ... (fill in your prediction)."
    if kind is _bool and not _isinstance(actual, _bool):
        return f"The entry for {key!r} should be True or False (a yes/no question), got {_repr(actual)}."
    if kind is _float and not _is_number(actual):
        return f"The entry for {key!r} should be a number, got {_repr(actual)}."
    if _isinstance(kind, tuple) and not _any(same_answer(actual, option) for option in kind):
        offered = " or ".join(_repr(option) for option in kind)
        return f"The entry for {key!r} should be {offered}, got {_repr(actual)}."
    return None


@_guarded
def expect_prediction_form(answers, kinds, name="predictions"):
    """Check that every prediction is recorded, in the form its question asks for, without saying whether
    it is right: visible tests check this, hidden tests grade the answers as they were recorded.

    kinds maps each key to bool (True or False), float (a number) or a tuple of the answers offered."""
    __tracebackhide__ = True
    if _type(answers) is not dict:
        raise _Fail(f"{name} should be a dict, got {_type(answers).__name__}.")
    missing = [key for key in kinds if key not in answers]
    if missing:
        raise _Fail(f"{name} has no entry for {', '.join(_repr(key) for key in missing)}; keep every key it started with.")
    unknown = [key for key in answers if key not in kinds]
    if unknown:
        raise _Fail(f"{name} has entries no question asks about: {', '.join(_repr(key) for key in unknown)}.")
    for key, kind in kinds.items():
        problem = _answer_form_problem(key, _plain_data(answers[key], f"the entry for {key!r}"), kind)
        if problem:
            raise _Fail(problem)


@_guarded
def expect_answer(answers, key, expected, hint=None):
    """Check one entry of a dict of predictions, naming the entry that is wrong."""
    __tracebackhide__ = True
    if _type(answers) is not dict:
        raise _Fail(f"The answers should be a dict, got {_type(answers).__name__}.")
    if key not in answers:
        raise _Fail(f"The answers have no entry for {key!r}.")
    if answers[key] is ...:
        raise _Fail(f"The entry for {key!r} is still ... (fill in your prediction).")
    actual = _plain_data(answers[key], f"the entry for {key!r}")
    if same_answer(actual, expected):
        return
    if _isinstance(expected, _bool) and _is_number(actual):
        message = f"The entry for {key!r} is {_repr(actual)}: this is a yes/no question, answer True or False."
    elif _is_number(expected) and _isinstance(actual, _bool):
        message = f"The entry for {key!r} is {_repr(actual)}: this question asks for a number."
    else:
        message = f"The entry for {key!r} is {_repr(actual)}, which is not what happens."
    raise _Fail(message + (f" {hint}" if hint else ""))


@_guarded
def expect_gradcheck(function, inputs, name="the function", *, double_backward=False):
    """Compare a function's backward with finite differences in float64."""
    __tracebackhide__ = True
    inputs = tuple(inputs)
    for i, tensor in enumerate(inputs):
        if _isinstance(tensor, _Tensor) and tensor.is_floating_point() and tensor.dtype != _float64:
            raise _Fail(f"gradcheck input {i} is {tensor.dtype}; finite differences need float64.")
    try:
        _gradcheck(function, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
    except _Exception as error:
        raise _Fail(f"gradcheck failed for {name}: backward disagrees with finite differences.\n{error}") from None
    if double_backward:
        try:
            _gradgradcheck(function, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True)
        except _Exception as error:
            raise _Fail(
                f"gradgradcheck failed for {name}: its backward is not itself differentiable "
                f"(is it decorated with once_differentiable, or does it leave the graph?).\n{error}"
            ) from None


@_guarded
def expect_function_in_graph(output, function_class, name="the output"):
    """Assert that ``output`` was produced by ``function_class.apply``, not by plain torch ops."""
    __tracebackhide__ = True
    grad_fn = getattr(output, "grad_fn", None)
    if grad_fn is None:
        raise _Fail(f"{name} has no grad_fn: it is not attached to any graph "
                    "(did an input require grad, and was the Function called with .apply?).")
    if getattr(grad_fn, "_forward_cls", None) is not function_class:
        raise _Fail(
            f"{name} was made by {_type(grad_fn).__name__}, not by {function_class.__name__}: "
            f"call {function_class.__name__}.apply(...) so that your backward is the one autograd runs."
        )


@_guarded
def expect_raises(error_type, action, name="this call"):
    """Assert that ``action()`` raises ``error_type``."""
    __tracebackhide__ = True
    try:
        action()
    except error_type:
        return
    except _Exception as error:
        raise _Fail(f"{name} raised {_type(error).__name__} ({error}); expected {error_type.__name__}.") from None
    raise _Fail(f"{name} should raise {error_type.__name__}, but it did not.")


class _SealedModule(types.ModuleType):
    """A module whose existing attributes cannot be rebound or deleted."""

    def __setattr__(self, attr, value):
        if attr in self.__dict__:
            raise AttributeError(f"{self.__name__}.{attr} is part of the course's grading and is read-only")
        super().__setattr__(attr, value)

    def __delattr__(self, attr):
        raise AttributeError(f"{self.__name__}.{attr} is part of the course's grading and is read-only")


_module = sys.modules[__name__]
_ORIGINAL = dict(vars(_module))
_real_torch = torch
# The modules tests import by name: a submission that swaps an entry of sys.modules gets it put back.
_MODULE_ENTRIES = {name: sys.modules[name] for name in (
    "torch", "torch.testing", "torch.autograd", "torch.nn", "torch.nn.functional", "builtins", "math",
    "numpy", "autograd_course", __name__, _guard.__name__) if name in sys.modules}


def restore_everything():
    """Undo patches to torch, builtins, this module, and the notebook's own ``torch`` name."""
    _guard.restore()
    for name, module in _MODULE_ENTRIES.items():
        if sys.modules.get(name) is not module:
            sys.modules[name] = module
            _guard.note_restored(f"sys.modules[{name!r}]")
    namespace = vars(_module)
    for name, original in _ORIGINAL.items():
        if namespace.get(name) is not original:
            namespace[name] = original
            _guard.note_restored(f"{__name__}.{name}")
    notebook = vars(sys.modules["__main__"])
    if "torch" in notebook and notebook["torch"] is not _real_torch:
        notebook["torch"] = _real_torch
        _guard.note_restored("the notebook's name torch")


_module.__class__ = _SealedModule
