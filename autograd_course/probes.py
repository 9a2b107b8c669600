"""How a test cell reaches the student's notebook: the same test code runs in the student's kernel and in the judge.

A test cell names what it checks through two objects::

    from autograd_course.probes import notebook, kernel

    x = kernel.send(torch.tensor([1.0, -2.0], requires_grad=True))   # a tensor in the student's kernel
    y = notebook.LeakyReLUFn.apply(x)                                 # the notebook's LeakyReLUFn
    y.backward(torch.ones(2))
    ck.expect_grad(x.grad, ...)                                       # the checks read plain values

``notebook.NAME`` is an object the notebook defined; ``kernel`` makes things inside the student's
kernel (``kernel.send(tensor)``, ``kernel.tensor(...)``, ``kernel.torch``, ``kernel.module("copy")``).

Two modes, one meaning:
- In JupyterLab, Colab and nbgrader's *Validate* (the visible tests) the test runs in the student's
  kernel: ``notebook.NAME`` is the object itself and ``kernel.send(t)`` is ``t``.
- While grading, the whole test cell runs in the judge, a process where no student code ever runs.
  There ``notebook.NAME`` is a :class:`Ref`, a handle on an object in the student's kernel: attribute
  reads, calls, operators, torch functions (``torch.sin(ref)``), ``with``, iteration and ``isinstance``
  on it are carried out in the student's kernel by course-written probes (``_probe_server``), and what
  comes back is plain data: numbers, strings, lists, dicts, and tensors as dtype, shape and raw bytes,
  all size-capped, read without unpickling, evaluating or importing anything the kernel sent.  Objects
  stay in the kernel as new handles.  A function of the test passed to the student's code (a forward,
  a loss, a hook to count calls) runs in the judge when the student's code calls it.  References are
  computed in the judge and never sent; the test's source never reaches the kernel.

Test code uses :func:`value` (plain values), :func:`type_name` and ``isinstance`` rather than
``type(x)``, which in the judge is :class:`Ref`.
"""

import base64
import binascii
import builtins
import json
import math
import re
import select
import types

import numpy
import torch

__all__ = ["notebook", "kernel", "value", "type_name", "Ref", "StudentError"]

# What may cross from the student's kernel: caps on one message, nesting and tensors.
MAX_MESSAGE_BYTES = 32 << 20
MAX_DEPTH = 24
MAX_ELEMENTS = 1 << 22           # of one tensor or array
INLINE_ELEMENTS = 4096           # a tensor this small comes back with its values at once
MAX_TEXT = 1 << 16               # of a string the judge keeps (messages, reprs)
TENSOR_DTYPES = {name: getattr(torch, name) for name in (
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    "int8", "int16", "int32", "int64", "uint8", "bool")}
ARRAY_DTYPES = {"float16", "float32", "float64", "complex64", "complex128", "int8", "int16", "int32", "int64",
                "uint8", "uint16", "uint32", "uint64", "bool"}
_DEVICE = re.compile(r"^(cpu|cuda|mps|meta|xpu)(:\d{1,3})?$")


class StudentError(Exception):
    """An exception the student's code raised while the test ran it (in the judge: its type name and message).

    In the judge it is also an instance of the builtin exception it names, so that ``except RuntimeError``
    in a test catches a RuntimeError of the student's code."""

    def __init__(self, message, kernel_type="Exception", operation=""):
        super().__init__(message)
        self.message, self.kernel_type, self.operation = message, kernel_type, operation

    def __str__(self):
        return self.message


class ProtocolError(StudentError):
    """The student's kernel answered something that is not an answer (too large, malformed, or nothing)."""


_ERROR_CLASSES = {}


def _error_class(kernel_type):
    """StudentError, also an instance of the builtin exception named ``kernel_type`` when there is one."""
    name = kernel_type.rsplit(".", 1)[-1]
    builtin = getattr(builtins, name, None) if kernel_type in (name, f"builtins.{name}") else None
    if not (isinstance(builtin, type) and issubclass(builtin, Exception)) or issubclass(StudentError, builtin):
        return StudentError
    if name not in _ERROR_CLASSES:
        _ERROR_CLASSES[name] = type(name, (StudentError, builtin), {"__module__": "builtins"})
    return _ERROR_CLASSES[name]


# ---------------------------------------------------------------------------------------------
# The two objects tests use; they answer for the current mode.

_session = None       # a RemoteSession while the judge runs a test, else None (the test runs in the kernel)


def _user_namespace():
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    if shell is not None:
        return shell.user_ns
    import __main__

    return vars(__main__)


class _Notebook:
    """``notebook.NAME``: what the notebook defined under NAME (also ``notebook["NAME"]``)."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name):
        if _session is not None:
            return _session.request({"op": "name", "name": name}, f"notebook.{name}")
        namespace = _user_namespace()
        if name not in namespace:
            raise NameError(f"the notebook defines no {name!r} yet: run the cell that defines it, then this test")
        return namespace[name]

    def __contains__(self, name):
        if _session is not None:
            return _session.request({"op": "has_name", "name": name}, f"{name!r} in notebook")
        return name in _user_namespace()

    def __repr__(self):
        return "<the student's notebook>"


class _Kernel:
    """The student's kernel: where the student's objects live and where tests make the inputs they hand them."""

    @property
    def torch(self):
        """torch as the student's kernel has it."""
        return self.module("torch")

    def module(self, name):
        """A module imported in the student's kernel (``kernel.module("copy").deepcopy(model)``)."""
        if _session is not None:
            return _session.module(name)
        import importlib

        return importlib.import_module(name)

    def send(self, data):
        """A copy of ``data`` (a tensor, an array, plain data) in the student's kernel; tensors keep requires_grad.

        Send the tensors whose gradient or state the test reads afterwards: a tensor passed straight to the
        student's code arrives as a fresh copy, and one that requires grad may not be passed that way."""
        if _session is not None:
            return _session.request({"op": "send", "value": _session.encode(data, keep_grad=True)}, "kernel.send(...)")
        return data

    def tensor(self, *args, **kwargs):
        """``torch.tensor(...)`` made in the student's kernel."""
        if _session is not None:
            return self.torch.tensor(*args, **kwargs)
        return torch.tensor(*args, **kwargs)

    def mirror(self, make):
        """The same module built twice, ``(the test's copy, the kernel's copy)``, with the same weights.

        ``make(nn)`` builds it from the ``torch.nn`` it is given (``lambda nn: nn.Sequential(nn.Linear(4, 2))``):
        the test's own torch.nn for the reference, the kernel's for the copy the student's code receives."""
        reference = make(torch.nn)
        copy = make(self.module("torch.nn"))
        copy.load_state_dict(reference.state_dict())
        return reference, copy

    def __repr__(self):
        return "<the student's kernel>"


notebook = _Notebook()
kernel = _Kernel()


def value(obj):
    """The plain value of ``obj``: a tensor's or array's values (detached), plain data as it is.

    In the judge a :class:`Ref` of a tensor comes back as a judge tensor, of an array as an array; a
    handle on any other object stays a handle. Lists, tuples and dicts are resolved element by element."""
    if type(obj) in (list, tuple):
        return type(obj)(value(item) for item in obj)
    if type(obj) is dict:
        return {key: value(item) for key, item in obj.items()}
    if type(obj) is Ref:
        return obj._Ref__value()
    if isinstance(obj, torch.Tensor):
        return obj.detach()
    return obj


def type_name(obj):
    """The name of ``obj``'s type as the student's code made it (``type(obj).__name__`` in the kernel)."""
    if type(obj) is Ref:
        return obj._Ref__info["type"].rsplit(".", 1)[-1]
    return type(obj).__name__


def kernel_type(obj):
    """The qualified name of ``obj``'s type in the student's kernel, e.g. 'torch.Tensor' or '__main__.Value'."""
    if type(obj) is Ref:
        return obj._Ref__info["type"]
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


# ---------------------------------------------------------------------------------------------
# The judge's side: handles on the kernel's objects, and the session that carries the probes.

_TENSOR_SHORTCUTS = {"shape", "dtype", "device", "ndim", "is_leaf", "requires_grad", "dim", "size", "numel",
                     "nelement", "is_floating_point", "element_size"}
_FRESH_ONLY = {"is_leaf", "requires_grad"}         # these change as the student's code runs; shapes do not
_REMOTE_DUNDERS = {"__name__", "__qualname__", "__doc__", "__module__", "__self__", "__func__", "__wrapped__"}


class Ref:
    """An object in the student's kernel, seen from the judge. Only dunder methods: every other name is the object's."""

    __slots__ = ("_Ref__session", "_Ref__id", "_Ref__info", "_Ref__epoch", "_Ref__path", "_Ref__attrs",
                 "__weakref__")

    def __init__(self, session, ref_id, path):
        object.__setattr__(self, "_Ref__session", session)
        object.__setattr__(self, "_Ref__id", ref_id)
        object.__setattr__(self, "_Ref__info", {})
        object.__setattr__(self, "_Ref__epoch", -1)
        object.__setattr__(self, "_Ref__path", path)
        object.__setattr__(self, "_Ref__attrs", {})

    # -- what the judge knows without asking
    def __fresh(self):
        return self.__epoch == self.__session.epoch

    def __kind(self):
        return self.__info.get("kind", "object")

    def __value(self):
        kind = self.__kind()
        if kind not in ("tensor", "ndarray"):
            return self
        info = self.__info
        if not (self.__fresh() and info.get("data") is not None):
            self.__session.request({"op": "value", "obj": self.__wire()}, f"the values of {self.__path}")
            info = self.__info
        if info.get("data") is None:
            raise StudentError(f"the values of {self.__path} cannot be read ({info.get('opaque') or 'no data'})",
                               "ValueError", self.__path)
        return _decode_array(info, kind)

    def __wire(self):
        return {"$": "ref", "id": self.__id}

    def __call_remote(self, op, description):
        return self.__session.request(op, description)

    @property
    def __class__(self):
        judge_class = self.__session.judge_class(self.__info) if self.__info else None
        return judge_class if judge_class is not None else Ref

    # -- attributes
    def __getattr__(self, name):
        if name.startswith("_Ref__"):
            raise AttributeError(name)
        if name.startswith("__") and name.endswith("__") and name not in _REMOTE_DUNDERS:
            raise AttributeError(name)
        path = f"{self.__path}.{name}"
        kind = self.__kind()
        if kind in ("tensor", "ndarray") and name in _TENSOR_SHORTCUTS and (self.__fresh() or name not in _FRESH_ONLY):
            shortcut = _tensor_shortcut(self.__info, kind, name)
            if shortcut is not _MISSING:
                return shortcut
        if kind == "tensor" and name in self.__session.tensor_methods:
            return _RemoteMethod(self, name, path)
        if kind == "module" and name in self.__attrs:
            return self.__attrs[name]
        result = self.__call_remote({"op": "getattr", "obj": self.__wire(), "name": name}, path)
        if kind == "module":
            self.__attrs[name] = result
        return result

    def __setattr__(self, name, value):
        if name.startswith("_Ref__"):
            object.__setattr__(self, name, value)
            return
        self.__attrs.pop(name, None)
        self.__call_remote({"op": "setattr", "obj": self.__wire(), "name": name,
                            "value": self.__session.encode(value)}, f"{self.__path}.{name} = ...")

    def __delattr__(self, name):
        self.__attrs.pop(name, None)
        self.__call_remote({"op": "delattr", "obj": self.__wire(), "name": name}, f"del {self.__path}.{name}")

    # -- calls
    def __call__(self, *args, **kwargs):
        session = self.__session
        return session.request({"op": "call", "fn": self.__wire(), "args": session.encode(list(args)),
                                "kwargs": session.encode_kwargs(kwargs)}, f"{self.__path}(...)")

    def __operator(self, name, *args):
        session = self.__session
        return session.request({"op": "operator", "name": name, "args": session.encode(list(args))},
                               f"{name}({self.__path}, ...)")

    def __builtin(self, name, *args):
        session = self.__session
        return session.request({"op": "builtin", "name": name, "args": session.encode([self, *args])},
                               f"{name}({self.__path})")

    # -- containers and conversions
    def __len__(self):
        return self.__builtin("len")

    def __bool__(self):
        return self.__builtin("bool")

    def __float__(self):
        return self.__builtin("float")

    def __int__(self):
        return self.__builtin("int")

    def __index__(self):
        return self.__builtin("index")

    def __complex__(self):
        return self.__builtin("complex")

    def __iter__(self):
        return iter(self.__builtin("list"))

    def __contains__(self, item):
        return self.__operator("contains", self, item)

    def __getitem__(self, key):
        return self.__operator("getitem", self, key)

    def __setitem__(self, key, value):
        self.__operator("setitem", self, key, value)

    def __delitem__(self, key):
        self.__operator("delitem", self, key)

    def __enter__(self):
        return self.__session.request({"op": "method", "obj": self.__wire(), "name": "__enter__",
                                       "args": {"$": "list", "items": []}, "kwargs": {}}, f"with {self.__path}")

    def __exit__(self, kind, error, traceback):
        failed = {"$": "failure"} if error is not None else None
        self.__session.request({"op": "method", "obj": self.__wire(), "name": "__exit__",
                                "args": {"$": "list", "items": [failed and {"$": "failure_type"}, failed, None]},
                                "kwargs": {}},
                               f"the end of with {self.__path}")
        return False              # an exception in the test is never swallowed by the student's object

    def __instancecheck__(self, instance):
        return self.__session.request({"op": "builtin", "name": "isinstance",
                                       "args": self.__session.encode([instance, self])},
                                      f"isinstance(..., {self.__path})")

    def __subclasscheck__(self, subclass):
        return self.__session.request({"op": "builtin", "name": "issubclass",
                                       "args": self.__session.encode([subclass, self])},
                                      f"issubclass(..., {self.__path})")

    def __repr__(self):
        if self.__kind() in ("tensor", "ndarray"):
            try:
                return repr(self.__value())
            except StudentError:
                pass
        return f"<{type_name(self)} in the student's kernel>"

    __str__ = __repr__

    def __format__(self, spec):
        if not spec:
            return repr(self)
        plain = self.__value()
        if isinstance(plain, torch.Tensor) and plain.numel() == 1:
            return format(plain.item(), spec)
        if isinstance(plain, numpy.ndarray) and plain.size == 1:
            return format(plain.item(), spec)
        return format(repr(self), spec)

    # -- numpy and torch hand their functions over when a Ref is among the arguments
    def __array__(self, dtype=None, copy=None):
        plain = self.__value()
        if type(plain) is Ref:      # a handle on an object that is no tensor or array: numpy.asarray would recurse
            raise TypeError(f"{self._Ref__path} is a {type_name(plain)}, not an array")
        array = plain.numpy() if isinstance(plain, torch.Tensor) else numpy.asarray(plain)
        return array.astype(dtype) if dtype is not None else array

    @classmethod
    def __torch_function__(cls, func, types=(), args=(), kwargs=None):
        session = _session_of(args, kwargs)
        return session.call_by_name(func, args, kwargs or {})

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        target = ufunc if method == "__call__" else getattr(ufunc, method)
        return self.__session.call_by_name(target, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return self.__session.call_by_name(func, args, kwargs)

    def __deepcopy__(self, memo):
        return self.__session.module("copy").deepcopy(self)

    def __copy__(self):
        return self.__session.module("copy").copy(self)


def _binary(name, reflected=False):
    def method(self, other):
        args = (other, self) if reflected else (self, other)
        return self._Ref__operator(name, *args)
    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


_ARITHMETIC = {"add": "add", "sub": "sub", "mul": "mul", "truediv": "truediv", "floordiv": "floordiv",
               "mod": "mod", "pow": "pow", "matmul": "matmul", "and": "and_", "or": "or_", "xor": "xor",
               "lshift": "lshift", "rshift": "rshift"}
for _name, _op in _ARITHMETIC.items():
    setattr(Ref, f"__{_name}__", _binary(_op))
    setattr(Ref, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(Ref, f"__i{_name}__", _binary(f"i{_name}"))       # operator.iadd, ..., operator.iand
for _name in ("eq", "ne", "lt", "le", "gt", "ge"):
    setattr(Ref, f"__{_name}__", _binary(_name))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(Ref, f"__{_name}__", lambda self, _op=_name: self._Ref__operator(_op, self))
Ref.__hash__ = object.__hash__       # set again: defining __eq__ above removed it


class _RemoteMethod:
    """``tensor_ref.name`` for a method of torch.Tensor: called, it is one probe; used otherwise, it is read."""

    __slots__ = ("owner", "name", "path")

    def __init__(self, owner, name, path):
        self.owner, self.name, self.path = owner, name, path

    def __call__(self, *args, **kwargs):
        session = self.owner._Ref__session
        return session.request({"op": "method", "obj": self.owner._Ref__wire(), "name": self.name,
                                "args": session.encode(list(args)), "kwargs": session.encode_kwargs(kwargs)},
                               f"{self.path}(...)")


_MISSING = object()


def _tensor_shortcut(info, kind, name):
    shape = tuple(info.get("shape", ()))
    if name == "shape":
        return torch.Size(shape) if kind == "tensor" else shape
    if name == "dtype":
        return TENSOR_DTYPES[info["dtype"]] if kind == "tensor" else numpy.dtype(info["dtype"])
    if name == "ndim":
        return len(shape)
    if name in ("is_leaf", "requires_grad"):
        return bool(info.get(name)) if kind == "tensor" else _MISSING
    if kind != "tensor":
        return _MISSING
    if name == "device":
        return torch.device(info.get("device", "cpu"))
    if name == "dim":
        return lambda: len(shape)
    if name in ("numel", "nelement"):
        return lambda: math.prod(shape)
    if name == "size":
        return lambda dim=None: torch.Size(shape) if dim is None else shape[dim]
    if name == "is_floating_point":
        return lambda: TENSOR_DTYPES[info["dtype"]].is_floating_point
    if name == "element_size":
        return lambda: torch.empty((), dtype=TENSOR_DTYPES[info["dtype"]]).element_size()
    return _MISSING


def _decode_array(info, kind):
    """A judge tensor (or array) from a kernel's description: dtype from a fixed list, the bytes checked against the shape."""
    shape = info["shape"]
    count = math.prod(shape)
    try:
        raw = base64.b64decode(info["data"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise ProtocolError("the student's kernel sent values that are not valid base64", "ValueError") from None
    if kind == "ndarray":
        dtype = numpy.dtype(info["dtype"])
        if len(raw) != count * dtype.itemsize:
            raise ProtocolError("the student's kernel sent an array whose bytes do not match its shape", "ValueError")
        return numpy.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    dtype = TENSOR_DTYPES[info["dtype"]]
    size = torch.empty((), dtype=dtype).element_size()
    if len(raw) != count * size:
        raise ProtocolError("the student's kernel sent a tensor whose bytes do not match its shape", "ValueError")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()


def _session_of(args, kwargs):
    found = []

    def visit(item, depth=0):
        if type(item) is Ref:
            found.append(item._Ref__session)
        elif type(item) is _RemoteMethod:
            found.append(item.owner._Ref__session)
        elif type(item) in (list, tuple) and depth < 4:
            for element in item:
                visit(element, depth + 1)
        elif type(item) is dict and depth < 4:
            for element in item.values():
                visit(element, depth + 1)

    visit(list(args))
    visit(dict(kwargs or {}))
    if not found:
        raise TypeError("no handle on the student's kernel among the arguments")
    return found[0]


class _Abort(Exception):
    """The worker stopped this test (the kernel stopped serving, or the test ran past its time)."""


class RemoteSession:
    """One test cell's conversation with the student's kernel, from the judge.

    ``sock`` carries newline-delimited JSON to and from the kernel's probe server; ``control`` is the
    worker's channel, read only for an abort while the judge waits for the kernel."""

    def __init__(self, sock, control=None, number=0, control_pending=lambda: False):
        self.sock, self.control, self.number, self.control_pending = sock, control, number, control_pending
        self.epoch = 0
        self.round_trips = 0
        self.refs = {}                      # kernel ref id -> Ref (one handle per kernel object)
        self.callbacks = {}                 # id -> judge callable handed to the kernel
        self.callback_ids = {}              # id(callable) -> id
        self.callback_failure = None        # the first exception a callback raised: it fails the test
        self.types = {}                     # kernel type name -> its base classes' names, as the kernel said
        self.buffer = bytearray()
        self.tensor_methods = _tensor_methods()
        self.modules = {}
        self.pictures = []                  # what show() was given while the test ran: into the cell's outputs

    # -- the wire
    def _send(self, message):
        self.sock.sendall(json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n")

    def _receive(self):
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line, self.buffer = bytes(self.buffer[:end]), self.buffer[end + 1:]
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError, MemoryError):
                    raise ProtocolError("the student's kernel sent an answer that is not valid JSON or is nested "
                                        "too deeply", "ValueError") from None
                if type(message) is not dict:
                    raise ProtocolError("the student's kernel sent an answer of the wrong form", "ValueError")
                return message
            if len(self.buffer) > MAX_MESSAGE_BYTES:
                raise ProtocolError(f"the student's kernel sent an answer larger than {MAX_MESSAGE_BYTES >> 20} MiB",
                                    "ValueError")
            if self.control_pending():
                raise _Abort(self.control_message())
            waiting = [self.sock] + ([self.control] if self.control is not None else [])
            ready, _, _ = select.select(waiting, [], [])
            if self.control is not None and self.control in ready:
                raise _Abort(self.control_message())
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ProtocolError("the student's kernel stopped answering (it closed the connection)", "EOFError")
            self.buffer += chunk

    def control_message(self):
        """Overridden by the judge: what the worker said (an abort) while the judge waited."""
        return "the test was stopped"

    def hello(self):
        """Open the conversation: the kernel's server answers the same number (anything older is dropped)."""
        self._send({"hello": self.number})
        while True:
            message = self._receive()
            if message.get("hello") == self.number:
                return

    def end(self):
        self._send({"end": self.number})

    def request(self, op, description):
        """Carry out one probe in the kernel; return its decoded result (or raise the student's exception)."""
        self.epoch += 1
        self.round_trips += 1
        self._send({"ops": [op]})
        while True:
            message = self._receive()
            if "callback" in message:
                self._run_callback(message)
                continue
            results = message.get("results")
            if type(results) is not list or len(results) != 1 or type(results[0]) is not dict:
                raise ProtocolError("the student's kernel sent an answer of the wrong form", "ValueError")
            break
        result = results[0]
        failure, self.callback_failure = self.callback_failure, None
        if failure is not None:
            raise failure
        if "error" in result:
            error = result["error"] if type(result["error"]) is dict else {}
            kind = _text(error.get("type"), 200) or "Exception"
            message = _text(error.get("message"), MAX_TEXT)
            raise _error_class(kind)(message, kind, description)
        return self.decode(result.get("ok"), description)

    def _run_callback(self, message):
        function = self.callbacks.get(message.get("callback"))
        try:
            if function is None:
                raise ProtocolError("the student's kernel called back a function the test never gave it", "ValueError")
            args = self.decode(message.get("args", {"$": "list", "items": []}), "an argument")
            kwargs = self.decode(message.get("kwargs", {"$": "dict", "items": []}), "an argument")
            if type(args) not in (list, tuple) or type(kwargs) is not dict or not all(type(k) is str for k in kwargs):
                raise ProtocolError("the student's kernel called back with arguments of the wrong form", "ValueError")
            result = function(*args, **kwargs)
            reply = {"return": self.encode(result)}
        except _Abort:
            raise
        except BaseException as error:       # the test's own function failed: that fails the test
            if self.callback_failure is None:
                self.callback_failure = error
            reply = {"raise": f"{type(error).__name__}: {error}"[:2000]}
        self.epoch += 1
        self._send(reply)

    # -- handles and names
    def module(self, name):
        if name not in self.modules:
            self.modules[name] = self.request({"op": "import", "name": name}, f"the student's kernel's {name}")
        return self.modules[name]

    def call_by_name(self, func, args, kwargs):
        """A torch, numpy or Python function called on handles: the same function, called in the kernel."""
        name = _qualified_names().get(id(func))
        if name is None:
            raise TypeError(f"{getattr(func, '__qualname__', func)!r} cannot be run in the student's kernel; "
                            "call it on plain values (autograd_course.probes.value) or reach it through kernel.torch")
        return self.request({"op": "call", "fn": {"$": "qualname", "name": name}, "args": self.encode(list(args)),
                             "kwargs": self.encode_kwargs(kwargs)}, f"{name}(...)")

    def judge_class(self, info):
        """The judge's class standing for the kernel type in ``info``: its first base the judge knows."""
        classes = _known_classes()
        for name in [info.get("type", "")] + list(self.types.get(info.get("type", ""), ())):
            if name in classes:
                return classes[name]
        return None

    # -- decoding what the kernel sent (never trusted)
    def decode(self, data, path, depth=0):
        if depth > MAX_DEPTH:
            raise ProtocolError("the student's kernel sent data nested too deeply", "ValueError")
        kind = type(data)
        if data is None or kind in (bool, int, float):
            if kind is int and abs(data) > 1 << 256:
                raise ProtocolError("the student's kernel sent an integer too large to use", "ValueError")
            return data
        if kind is str:
            return data[:MAX_TEXT]
        if kind is not dict:
            raise ProtocolError("the student's kernel sent data of the wrong form", "ValueError")
        tag = data.get("$")
        if tag in ("list", "tuple", "set", "size"):
            items = data.get("items")
            if type(items) is not list:
                raise ProtocolError("the student's kernel sent a malformed list", "ValueError")
            decoded = [self.decode(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(items)]
            if tag == "size":
                if not all(type(v) is int for v in decoded):
                    raise ProtocolError("the student's kernel sent a malformed torch.Size", "ValueError")
                return torch.Size(decoded)
            if tag == "set":
                try:
                    return set(decoded)
                except TypeError:
                    raise ProtocolError("the student's kernel sent a malformed set", "ValueError") from None
            return decoded if tag == "list" else tuple(decoded)
        if tag == "dict":
            items = data.get("items")
            if type(items) is not list or not all(type(pair) is list and len(pair) == 2 for pair in items):
                raise ProtocolError("the student's kernel sent a malformed dict", "ValueError")
            result = {}
            for key, item in items:
                key = self.decode(key, path, depth + 1)
                try:
                    result[key] = self.decode(item, f"{path}[{key!r}]", depth + 1)
                except TypeError:
                    raise ProtocolError("the student's kernel sent a dict with a key that is not hashable",
                                        "ValueError") from None
            return result
        if tag == "float":
            number = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(data.get("v"))
            if number is None:
                raise ProtocolError("the student's kernel sent a malformed number", "ValueError")
            return number
        if tag == "complex":
            real, imag = data.get("re"), data.get("im")
            if type(real) not in (int, float) or type(imag) not in (int, float):
                raise ProtocolError("the student's kernel sent a malformed complex number", "ValueError")
            return complex(real, imag)
        if tag == "dtype":
            dtype = TENSOR_DTYPES.get(data.get("name"))
            if dtype is None:
                raise ProtocolError("the student's kernel sent an unknown dtype", "ValueError")
            return dtype
        if tag == "device":
            name = data.get("name")
            if type(name) is not str or not _DEVICE.match(name):
                raise ProtocolError("the student's kernel sent an unknown device", "ValueError")
            return torch.device(name)
        if tag == "slice":
            parts = [self.decode(data.get(k), path, depth + 1) for k in ("start", "stop", "step")]
            if not all(p is None or type(p) is int for p in parts):
                raise ProtocolError("the student's kernel sent a malformed slice", "ValueError")
            return slice(*parts)
        if tag == "ellipsis":
            return Ellipsis
        if tag == "ref":
            return self._ref(data, path)
        raise ProtocolError("the student's kernel sent data of an unknown kind", "ValueError")

    def _ref(self, data, path):
        ref_id = data.get("id")
        if type(ref_id) is not int:
            raise ProtocolError("the student's kernel sent a malformed handle", "ValueError")
        info = _checked_info(data)
        mro = data.get("mro")
        if mro is not None:
            if type(mro) is not list or len(mro) > 64 or not all(type(n) is str and len(n) < 300 for n in mro):
                raise ProtocolError("the student's kernel sent a malformed type", "ValueError")
            self.types[info["type"]] = tuple(mro)
        ref = self.refs.get(ref_id)
        if ref is None:
            ref = self.refs[ref_id] = Ref(self, ref_id, path)
        object.__setattr__(ref, "_Ref__info", info)
        object.__setattr__(ref, "_Ref__epoch", self.epoch)    # fresh until the next probe
        return ref

    # -- encoding what the judge sends (its own objects)
    def encode(self, obj, keep_grad=False, depth=0):
        if depth > MAX_DEPTH:
            raise ValueError("the test sends data nested too deeply")
        kind = type(obj)
        if obj is None or kind in (bool, int, str):
            return obj
        if kind is float:
            if math.isfinite(obj):
                return obj
            return {"$": "float", "v": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
        if kind is Ref:
            if obj._Ref__session is not self:
                raise ValueError("a handle from another test cannot be used in this one")
            return obj._Ref__wire()
        if kind is _RemoteMethod:
            return {"$": "method", "obj": obj.owner._Ref__wire(), "name": obj.name}
        if kind is complex:
            return {"$": "complex", "re": obj.real, "im": obj.imag}
        if kind is torch.Size:
            return {"$": "size", "items": list(obj)}
        if kind in (list, tuple, set, frozenset):
            tag = {list: "list", tuple: "tuple"}.get(kind, "set")
            return {"$": tag, "items": [self.encode(item, keep_grad, depth + 1) for item in obj]}
        if isinstance(obj, dict):
            return {"$": "dict", "items": [[self.encode(k, keep_grad, depth + 1), self.encode(v, keep_grad, depth + 1)]
                                           for k, v in obj.items()]}
        if isinstance(obj, torch.dtype):
            return {"$": "dtype", "name": str(obj).rsplit(".", 1)[-1]}
        if isinstance(obj, torch.device):
            return {"$": "device", "name": str(obj)}
        if kind is slice:
            return {"$": "slice", "start": self.encode(obj.start), "stop": self.encode(obj.stop),
                    "step": self.encode(obj.step)}
        if obj is Ellipsis:
            return {"$": "ellipsis"}
        if isinstance(obj, torch.Tensor):
            if obj.requires_grad and not keep_grad:
                raise TypeError("a tensor that requires grad reaches the student's code only as a copy: send it first "
                                "with kernel.send(tensor), and use what that returns, to read its gradient afterwards")
            plain = obj.detach().cpu().contiguous()
            return {"$": "tensor", "dtype": str(plain.dtype).rsplit(".", 1)[-1], "shape": list(plain.shape),
                    "data": base64.b64encode(_tensor_bytes(plain)).decode(), "requires_grad": bool(obj.requires_grad),
                    "parameter": isinstance(obj, torch.nn.Parameter)}
        if isinstance(obj, numpy.ndarray):
            plain = numpy.ascontiguousarray(obj)       # ndim >= 1: the shape sent is obj's own
            return {"$": "ndarray", "dtype": plain.dtype.name, "shape": list(obj.shape),
                    "data": base64.b64encode(plain.tobytes()).decode()}
        if isinstance(obj, numpy.generic):
            return self.encode(obj.item(), keep_grad, depth)
        name = _qualified_names().get(id(obj))
        if name is not None:
            return {"$": "qualname", "name": name}
        if callable(obj):
            key = self.callback_ids.get(id(obj))
            if key is None:
                key = self.callback_ids[id(obj)] = len(self.callbacks) + 1
                self.callbacks[key] = obj
            return {"$": "callback", "id": key}
        raise TypeError(f"a {kind.__name__} cannot be sent to the student's kernel")

    def encode_kwargs(self, kwargs):
        return {str(key): self.encode(value) for key, value in kwargs.items()}


def _text(value, limit):
    return value[:limit] if type(value) is str else ""


_KINDS = {"tensor", "ndarray", "class", "module", "function", "object"}


def _checked_info(data):
    """A handle's description, with every field the judge uses checked."""
    kind = data.get("kind", "object")
    type_name_ = data.get("type")
    if kind not in _KINDS or type(type_name_) is not str or len(type_name_) > 300:
        raise ProtocolError("the student's kernel sent a malformed handle", "ValueError")
    info = {"kind": kind, "type": type_name_}
    if kind in ("tensor", "ndarray"):
        shape, dtype = data.get("shape"), data.get("dtype")
        if (type(shape) is not list or len(shape) > 32 or not all(type(n) is int and 0 <= n < 1 << 40 for n in shape)
                or math.prod(shape) > MAX_ELEMENTS):
            raise ProtocolError("the student's kernel sent a tensor of a malformed or too large shape", "ValueError")
        if dtype not in (TENSOR_DTYPES if kind == "tensor" else ARRAY_DTYPES):
            raise ProtocolError(f"the student's kernel sent a tensor of an unsupported dtype ({str(dtype)[:40]})",
                                "ValueError")
        info.update(shape=shape, dtype=dtype)
        payload = data.get("data")
        info["data"] = payload if type(payload) is str else None
        info["opaque"] = _text(data.get("opaque"), 300) or None
        if kind == "tensor":
            device = data.get("device", "cpu")
            info["device"] = device if type(device) is str and _DEVICE.match(device) else "cpu"
            info["requires_grad"] = data.get("requires_grad") is True
            info["is_leaf"] = data.get("is_leaf") is True
            grad_fn = data.get("grad_fn")
            info["grad_fn"] = grad_fn[:200] if type(grad_fn) is str else None
    return info


def _tensor_bytes(tensor):
    """The raw bytes of a contiguous CPU tensor, whatever its dtype."""
    flat = tensor.reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


# Names of torch, numpy and Python functions and classes, for calling the same one in the kernel.
_QUALIFIED = {}
_CLASSES = {}
_TENSOR_METHODS = set()
_NAMED_MODULES = ("torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.autograd",
                  "torch.autograd.functional", "torch.autograd.graph", "torch.autograd.forward_ad", "torch.func",
                  "torch.linalg", "torch.special", "torch.fft", "torch.optim", "torch.testing", "torch.utils.checkpoint",
                  "torch.utils.hooks", "torch.profiler", "numpy", "numpy.linalg", "numpy.random", "math", "operator",
                  "builtins", "copy", "functools", "itertools", "collections", "contextlib", "warnings")


def _qualified_names():
    if not _QUALIFIED:
        import importlib

        for module_name in _NAMED_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for attribute, obj in list(vars(module).items()):
                if attribute.startswith("__") or isinstance(obj, (types.ModuleType, bool, int, float, str, bytes)):
                    continue
                if callable(obj) or isinstance(obj, type):
                    _QUALIFIED.setdefault(id(obj), f"{module_name}.{attribute}")
        for owner in (torch.Tensor, torch._C.TensorBase):
            for attribute, obj in vars(owner).items():
                if callable(obj) or isinstance(obj, (types.MethodDescriptorType, types.WrapperDescriptorType)):
                    _QUALIFIED.setdefault(id(obj), f"torch.Tensor.{attribute}")
        _QUALIFIED[id(torch.Tensor)] = "torch.Tensor"
    return _QUALIFIED


def _known_classes():
    """The judge's classes by the name the kernel gives a type (module.qualname), for isinstance on handles."""
    if not _CLASSES:
        import importlib

        for module_name in _NAMED_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for obj in list(vars(module).values()):
                if isinstance(obj, type):
                    _CLASSES.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
        for cls in (torch.Tensor, torch.nn.Parameter, numpy.ndarray, object):
            _CLASSES[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return _CLASSES


def _tensor_methods():
    """Names of torch.Tensor's methods: a handle on a tensor calls them in one probe."""
    if not _TENSOR_METHODS:
        for name in dir(torch.Tensor):
            attribute = getattr(torch.Tensor, name, None)
            if name.startswith("__") or isinstance(attribute, (property, types.GetSetDescriptorType)):
                continue
            if callable(attribute):
                _TENSOR_METHODS.add(name)
    return _TENSOR_METHODS


def _route_where_to_the_kernel():
    """torch.where(cond, handle, 0.0) crashes torch's argument parser (a handle claims torch.Tensor as its
    __class__, and the Scalar overload reads it as one) before __torch_function__ is asked: in the judge,
    torch.where with a handle among its arguments goes to the kernel first."""
    original = torch.where
    if getattr(original, "routes_handles", False):
        return
    names = _qualified_names()

    def where(*args, **kwargs):
        try:
            session = _session_of(args, kwargs)
        except TypeError:          # no handle: the judge's own tensors
            return original(*args, **kwargs)
        return session.call_by_name(original, args, kwargs)

    where.routes_handles = True
    names[id(where)] = names.get(id(original), "torch.where")
    torch.where = where


MAX_PICTURES = 3                 # of one test cell
MAX_PICTURE_BYTES = 1 << 20


def show(picture):
    """Show ``picture`` (a drawing with ``_repr_image_svg_xml`` and a ``description``) with a test's message: below
    the test cell in the student's kernel; while grading, in the test cell's outputs and so in the feedback.
    A picture that cannot be drawn (no graphviz ``dot`` program) is left out: the message is what counts."""
    try:
        bundle = {"image/svg+xml": picture._repr_image_svg_xml(), "text/plain": picture.description}
    except Exception:   # noqa: BLE001 (graphviz raises its own errors for a missing or failing dot)
        return
    if _session is not None:
        if len(_session.pictures) < MAX_PICTURES and len(bundle["image/svg+xml"]) <= MAX_PICTURE_BYTES:
            _session.pictures.append(bundle)
        return
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is not None:
        display(bundle, raw=True)


def install(session):
    """Run the next test cells against ``session`` (the judge), or in this process again with None."""
    global _session
    if session is not None:
        _route_where_to_the_kernel()
    _session = session
