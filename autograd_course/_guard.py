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
_IPYTHON_BUILTINS = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__", "input"}

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


def _torch_wrapped(value, original):
    """``value`` is torch's own decorator around ``original``, not a submission's replacement."""
    code = getattr(value, "__code__", None)
    return (getattr(value, "__wrapped__", None) is original and code is not None
            and code.co_filename.startswith(_TORCH_DIR))


def restore():
    """Put back every watched entry a submission rebound or added; return their names."""
    changed = []
    for ns in _MODULES + _CLASSES:
        snap = _snapshots[id(ns)]
        current = vars(ns)
        for name, original in snap.items():
            if ns is builtins and name in _IPYTHON_BUILTINS:
                continue
            value = current.get(name, _MISSING)
            if value is original:
                continue
            if _torch_wrapped(value, original):
                snap[name] = value      # torch wrapped its own function (torch._dynamo does on import)
                continue
            setattr(ns, name, original)
            changed.append(f"{getattr(ns, '__name__', ns)}.{name}")
        if ns in _CLASSES:
            for name in [n for n in current if n not in snap]:
                delattr(ns, name)
                changed.append(f"{ns.__name__}.{name}")
    _restored.extend(changed)
    return changed


def note_restored(name):
    """Record that ``name`` had been replaced and was put back (reported with the test's evidence)."""
    _restored.append(name)


def tampered_before_setup():
    """Critical functions found replaced when the course setup cell ran."""
    return list(_TAMPERED_AT_SETUP)


# ---------------------------------------------------------------------------
# Sealing the grading kernel.
#
# While nbgrader autogrades (NBGRADER_EXECUTION=autograde), the locked setup
# cell seals the kernel before any student code runs.  Every test cell then ends
# with a call to ``evidence(nonce)``: the grader counts a test only when that
# call's output arrives with the nonce it put there (positive evidence that the
# test ran to its end) and with no finding of tampering.  Code that blanks or
# rewrites cells, swallows exceptions, traces or profiles frames, or patches
# IPython, the kernel or the course's modules leaves the evidence missing or
# reports itself, and the tests after it score 0.

from .grading import EVIDENCE_MIME  # noqa: E402  (shared with the grader, which reads it)

_sealed = {}           # filled by seal(): what the kernel looked like before student code
_findings = []         # what the audit hook saw student code do (kept in order, deduplicated)
_attempts = []         # operations the audit hook refused (nothing happened; reported, not scored)
_restored = []         # names restore() had to put back

# Packages whose functions may sit in IPython's transformer and event lists (matplotlib's
# inline backend registers callbacks there the first time a notebook plots).
_TRUSTED_PACKAGES = ("IPython", "ipykernel", "matplotlib_inline", "matplotlib", "traitlets", "jupyter_client", "comm")
# Operations no course notebook needs and that reach past the notebook's own objects.
_BLOCKED_EVENTS = {
    "gc.get_objects": "walks every live object (gc.get_objects)",
    "gc.get_referrers": "walks the interpreter's references (gc.get_referrers)",
    "gc.get_referents": "walks the interpreter's references (gc.get_referents)",
    "sys.addaudithook": "adds an audit hook",
    "sys._current_frames": "reads other threads' frames",
    # A notebook needs no processes of its own (graphviz starts `dot` itself, which is allowed).
    "os.fork": "forks the kernel (os.fork)",
    "os.forkpty": "forks the kernel (os.forkpty)",
    "os.system": "runs a shell command (os.system)",
    "os.posix_spawn": "starts a process (os.posix_spawn)",
    "os.spawn": "starts a process (os.spawn*)",
    "os.exec": "replaces the kernel with another program (os.exec*)",
    "subprocess.Popen": "starts a process (subprocess)",
    "pty.spawn": "starts a process (pty.spawn)",
}
_RECORDED_EVENTS = {
    "sys.settrace": "installs a trace function (sys.settrace)",
    "sys.setprofile": "installs a profile function (sys.setprofile)",
    "ctypes.dlopen": "loads a C library with ctypes",
    "ctypes.dlsym": "looks up a C symbol with ctypes",
    "ctypes.cdata": "reads raw memory with ctypes",
    "ctypes.addressof": "takes a raw address with ctypes",
    "ctypes.string_at": "reads raw memory with ctypes",
    "ctypes.wstring_at": "reads raw memory with ctypes",
    "code.__new__": "builds a code object by hand",
    "function.__new__": "builds a function object by hand",
}


def _package_dir(name):
    """The folder a package is installed in, found without importing it ('' when absent)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return spec.origin.rsplit("/", 1)[0] + "/" if spec is not None and spec.origin else None


def _code_file(obj):
    """The file the Python code behind ``obj`` was compiled from, or None (C code, unknown)."""
    for _ in range(3):
        obj = getattr(obj, "__func__", obj)              # bound method -> function
        code = getattr(obj, "__code__", None) if isinstance(obj, types.FunctionType) else None
        if code is not None:
            return code.co_filename
        if isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType, types.WrapperDescriptorType)):
            return None
        obj = getattr(type(obj), "__call__", None)        # a callable object: its class's __call__
    return None


def _is_trusted(obj, trusted_dirs):
    """Code that ships with IPython, the kernel or the course, not code written in a cell."""
    filename = _code_file(obj)
    if filename is None:
        return isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType))
    return filename.startswith(trusted_dirs)


def _student_frame(frame, stdlib, installed):
    """Whether the operation was asked for by code written in the notebook (or a file it wrote).

    The asker is the innermost frame outside the standard library: for ``os.fork()`` in a
    cell that is the cell; for graphviz starting ``dot`` it is the graphviz package.
    """
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (filename.startswith(stdlib) or filename.startswith("<frozen")):
            return not filename.startswith(installed)
        frame = frame.f_back
    return False


def _shell_state(shell):
    """What a submission could change about how cells run."""
    kernel = getattr(shell, "kernel", None)
    events = getattr(shell, "events", None)
    return {
        "input_transformers_cleanup": tuple(shell.input_transformers_cleanup),
        "input_transformers_post": tuple(shell.input_transformers_post),
        "ast_transformers": tuple(shell.ast_transformers),
        "event callbacks": tuple((name, tuple(callbacks)) for name, callbacks in sorted(events.callbacks.items()))
        if events is not None else (),
    }


def _watched_objects(shell):
    """Instances and classes whose methods decide how a cell runs and how its result is reported."""
    kernel = getattr(shell, "kernel", None)
    objects = [shell, getattr(shell, "display_pub", None), getattr(shell, "displayhook", None),
               getattr(shell, "compile", None), getattr(shell, "events", None), kernel]
    return [obj for obj in objects if obj is not None]


_torch_function_stack = getattr(torch._C, "_len_torch_function_stack", lambda: 0)
_torch_dispatch_stack = getattr(torch._C, "_len_torch_dispatch_stack", lambda: 0)
_torch_function_enabled = getattr(torch._C, "_is_torch_function_enabled", lambda: False)


def seal(shell=None):
    """Record the kernel as the course left it and start watching it; called once by setup_notebook."""
    import os
    import sys

    if _sealed:
        return
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
    if shell is None:
        return
    from IPython.display import publish_display_data

    trusted_dirs = tuple(d for d in map(_package_dir, _TRUSTED_PACKAGES + (__name__.split(".")[0],)) if d)
    course_dir = _package_dir(__name__.split(".")[0])
    stdlib = tuple({os.path.dirname(os.__file__) + "/", os.path.realpath(os.path.dirname(os.__file__)) + "/"})
    installed = tuple({os.path.realpath(p) + "/" for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
                      | {p + "/" for p in (sys.prefix, sys.base_prefix)} | {course_dir})
    gettrace, getprofile, getframe = sys.gettrace, sys.getprofile, sys._getframe
    watched = _watched_objects(shell)
    state = _shell_state(shell)
    findings = []
    # Whatever ran before the setup cell must not already have changed how cells run.
    for name, entries in state.items():
        flat = [cb for _, cbs in entries for cb in cbs] if name == "event callbacks" else list(entries)
        for entry in flat:
            if not _is_trusted(entry, trusted_dirs):
                findings.append(f"changed IPython's {name} before the course setup cell ran")
                break
    if shell.custom_exceptions:
        findings.append("set a custom exception handler before the course setup cell ran")
    if gettrace() is not None or getprofile() is not None:
        findings.append("installed a trace or profile function before the course setup cell ran")
    _findings.extend(findings)
    _sealed.update(
        shell=shell, state=state, trusted_dirs=trusted_dirs, gettrace=gettrace, getprofile=getprofile,
        publish=publish_display_data, modules={name: sys.modules.get(name) for name in (
            "torch", "builtins", "sys", "autograd_course", "autograd_course.checks", __name__,
            "IPython", "IPython.core.interactiveshell", "IPython.display", "ipykernel.ipkernel")},
        meta_path=tuple(sys.meta_path), path_hooks=tuple(sys.path_hooks), sys_module=sys,
        restore_everything=sys.modules[__name__.rsplit(".", 1)[0] + ".checks"].restore_everything,
        instance_dicts=[(obj, dict(vars(obj))) for obj in watched if hasattr(obj, "__dict__")],
        class_dicts=[(cls, dict(vars(cls))) for obj in watched for cls in type(obj).__mro__
                     if cls is not object],
    )
    trusted_types = tuple(cls for cls, _ in _sealed["class_dicts"])

    def audit(event, args, _blocked=_BLOCKED_EVENTS, _recorded=_RECORDED_EVENTS, _findings=_findings,
              _attempts=_attempts,
              _getframe=getframe, _trusted_types=trusted_types, _isinstance=isinstance, _type=type):
        what = _blocked.get(event) or _recorded.get(event)
        if what is None and event in ("object.__setattr__", "object.__delattr__") and args:
            target = args[0]
            if target in _trusted_types or (_isinstance(target, types.FunctionType)
                                            and _is_trusted(target, trusted_dirs)):
                what = f"patches {getattr(target, '__qualname__', _type(target).__name__)}.{args[1]}"
        if what is None or not _student_frame(_getframe(1), stdlib, installed):
            return
        if event in _recorded:            # it happens: the kernel can no longer be trusted
            if what not in _findings:
                _findings.append(what)
            return
        if what not in _attempts:         # it is refused: nothing changed, but it is worth a look
            _attempts.append(what)
        raise PermissionError(f"not allowed while grading: this notebook {what}")

    sys.addaudithook(audit)
    # Tensor subclasses answer torch functions as they like (torch.allclose -> True): while
    # grading, torch ignores their __torch_function__ for the rest of the kernel's life.
    torch._C.DisableTorchFunctionSubclass().__enter__()


def tampering():
    """Ways in which the kernel no longer runs cells as the course set it up (empty when it does)."""
    if not _sealed:
        return ["the course setup cell did not seal the grading kernel (was it removed or changed?)"]
    sys = _sealed["sys_module"]
    found = list(_findings)
    shell, trusted_dirs = _sealed["shell"], _sealed["trusted_dirs"]
    now = _shell_state(shell)
    for name, entries in now.items():
        flat = [cb for _, cbs in entries for cb in cbs] if name == "event callbacks" else list(entries)
        if any(not _is_trusted(entry, trusted_dirs) for entry in flat):
            found.append(f"changed IPython's {name}")
    if shell.custom_exceptions:
        found.append("set a custom exception handler (set_custom_exc)")
    if _sealed["gettrace"]() is not None or _sealed["getprofile"]() is not None:
        found.append("left a trace or profile function installed")
    for name, module in _sealed["modules"].items():
        if sys.modules.get(name) is not module:
            found.append(f"replaced sys.modules[{name!r}]")
    if tuple(sys.meta_path) != _sealed["meta_path"] or tuple(sys.path_hooks) != _sealed["path_hooks"]:
        found.append("changed the import system (sys.meta_path or sys.path_hooks)")
    if not (_is_trusted(sys.excepthook, trusted_dirs) and _is_trusted(sys.displayhook, trusted_dirs)):
        found.append("replaced sys.excepthook or sys.displayhook")
    for owner, before in _sealed["instance_dicts"] + _sealed["class_dicts"]:
        owner_name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
        for name, value in vars(owner).items():
            if before.get(name, _MISSING) is not value and callable(value) and not _is_trusted(value, trusted_dirs):
                found.append(f"replaced {owner_name}.{name}")
    if _torch_function_stack() or _torch_dispatch_stack():
        found.append("left a torch function or dispatch mode active")
    if _torch_function_enabled():
        found.append("switched tensor subclasses' __torch_function__ back on")
    return list(dict.fromkeys(found))


def evidence(nonce):
    """The last statement of every test cell while grading: say that the test ran to here."""
    if not _sealed:
        return
    _sealed["restore_everything"]()
    _sealed["publish"]({EVIDENCE_MIME: {"nonce": nonce, "tampering": tampering(), "refused": list(_attempts),
                                        "restored": list(dict.fromkeys(_restored))}})
