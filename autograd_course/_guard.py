"""Keep a submission's monkeypatches from deciding its grade.

The course's locked setup cell imports this module before any student code
runs, so the snapshot taken here is of the real torch and builtins.  Every
check in :mod:`autograd_course.checks` calls :func:`restore` first: whatever a
submission rebound on the watched namespaces (``torch.allclose = ...``,
``builtins.isinstance = ...``, a new method on ``torch.Tensor``) is put back
before the test computes its reference.  A submission that patches before the
setup cell runs (a cell inserted above it) is caught by :func:`tampered_names`,
which checks where the critical functions come from.
"""

import builtins
import math
import types

import torch
import torch.autograd
import torch.nn.functional
import torch.testing

# Namespaces whose entries are restored before each check.  Classes also lose
# entries a submission added (an override on a class shadows the real method);
# modules keep new entries, because torch adds submodules lazily.
_MISSING = object()
_MODULES = (torch, torch.testing, torch.autograd, torch.nn.functional, builtins, math)
_CLASSES = (torch.Tensor,)

# IPython swaps these builtins in and out around every cell; they are not tampering.
_IPYTHON_BUILTINS = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__"}

_snapshots = {id(ns): dict(vars(ns)) for ns in _MODULES + _CLASSES}

# Functions the checks call; each must come from torch itself or be a C builtin.
_CRITICAL = {
    "torch.allclose": lambda: torch.allclose,
    "torch.equal": lambda: torch.equal,
    "torch.isclose": lambda: torch.isclose,
    "torch.testing.assert_close": lambda: torch.testing.assert_close,
    "torch.autograd.grad": lambda: torch.autograd.grad,
    "torch.autograd.backward": lambda: torch.autograd.backward,
    "torch.autograd.gradcheck": lambda: torch.autograd.gradcheck,
    "torch.Tensor.backward": lambda: torch.Tensor.backward,
    "builtins.isinstance": lambda: builtins.isinstance,
    "builtins.abs": lambda: builtins.abs,
    "builtins.len": lambda: builtins.len,
}
_TORCH_DIR = torch.__file__.rsplit("/", 1)[0]


def _is_genuine(obj):
    if isinstance(obj, types.BuiltinFunctionType):
        return True
    code = getattr(obj, "__code__", None)
    return code is not None and code.co_filename.startswith(_TORCH_DIR)


def _tampered_now():
    return sorted(name for name, get in _CRITICAL.items() if not _is_genuine(get()))


_TAMPERED_AT_SETUP = _tampered_now()


def restore():
    """Put back every watched entry a submission rebound or added; return their names."""
    changed = []
    for ns in _MODULES + _CLASSES:
        snap = _snapshots[id(ns)]
        current = vars(ns)
        for name, original in snap.items():
            if ns is builtins and name in _IPYTHON_BUILTINS:
                continue
            if current.get(name, _MISSING) is not original:
                setattr(ns, name, original)
                changed.append(f"{getattr(ns, '__name__', ns)}.{name}")
        if ns in _CLASSES:
            for name in [n for n in current if n not in snap]:
                delattr(ns, name)
                changed.append(f"{ns.__name__}.{name}")
    return changed


def tampered_before_setup():
    """Critical functions found replaced when the course setup cell ran."""
    return list(_TAMPERED_AT_SETUP)
