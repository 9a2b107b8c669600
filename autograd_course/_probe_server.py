"""The student's kernel's side of grading: carry out the judge's probes and answer with plain data.

While grading, the worker runs ``serve()`` in the student's kernel where a test cell stands, and the
judge (see :mod:`autograd_course.probes`) sends its probes over a socket the grader gave the kernel at
start (file descriptor ``$AUTOGRAD_COURSE_PROBE_FD``): look up a name of the notebook, read or set an
attribute, call a function, apply an operator.  Results stay here as numbered objects; what goes back
is their description (a tensor's dtype, shape, grad_fn and, when small, its bytes) or plain data.

Nothing here decides a grade: a notebook that changed this module can only answer wrongly.
"""

import base64
import importlib
import json
import math
import operator
import os
import socket
import sys

import numpy
import torch

from .probes import INLINE_ELEMENTS, MAX_DEPTH, MAX_ELEMENTS, MAX_TEXT, TENSOR_DTYPES, _tensor_bytes

FD_VARIABLE = "AUTOGRAD_COURSE_PROBE_FD"
MAX_ITEMS = 100_000        # elements of all containers in one answer
OPERATORS = {name: getattr(operator, name) for name in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_", "xor", "lshift", "rshift",
    "iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "imatmul", "iand", "ior", "ixor", "ilshift",
    "irshift", "eq", "ne", "lt", "le", "gt", "ge", "neg", "pos", "abs", "invert", "contains", "getitem", "setitem",
    "delitem")}
# NumPy scalars that go back as Python numbers (numpy.sctypes is gone in NumPy 2).
_NUMPY_SCALARS = (numpy.bool_, numpy.float16, numpy.float32, numpy.float64, numpy.int8, numpy.int16, numpy.int32,
                  numpy.int64, numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64, numpy.intc, numpy.uintc,
                  numpy.longlong, numpy.ulonglong)
BUILTINS = {"len": len, "bool": bool, "float": float, "int": int, "index": operator.index, "complex": complex,
            "list": list, "repr": lambda obj: repr(obj)[:MAX_TEXT], "str": lambda obj: str(obj)[:MAX_TEXT],
            "isinstance": isinstance, "issubclass": issubclass, "hasattr": hasattr, "callable": callable}


class CourseTestFailure(Exception):
    """Raised inside the student's code when a function the test handed it failed (the test fails with it)."""


class _EndOfTest(BaseException):
    """The judge ended the test while the student's code was still inside a function of the test."""


def serve():
    """Answer one test cell's probes; called by the grader, never by a student."""
    fd = int(os.environ[FD_VARIABLE])
    with socket.socket(fileno=os.dup(fd)) as sock:      # the kernel keeps its own descriptor for later tests
        try:
            _Server(sock).run()
        except _EndOfTest:
            pass


class _Server:
    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.objects = {}          # ref id -> object (kept alive for the test)
        self.ids = {}              # id(object) -> ref id
        self.sent_types = set()
        self.stubs = {}
        self.number = None
        self.namespace = _user_namespace()
        self.budget = MAX_ITEMS

    # -- the wire (the judge is trusted; what goes back is capped by the judge)
    def read(self):
        line = self.reader.readline()
        if not line:
            raise _EndOfTest()
        return json.loads(line)

    def send(self, message):
        self.sock.sendall(json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n")

    def run(self):
        while True:                              # drop what an aborted test left unread
            message = self.read()
            if "hello" in message:
                self.number = message["hello"]
                break
        self.send({"hello": self.number})
        while True:
            message = self.read()
            if "end" in message:
                return
            if "ops" in message:
                self.send({"results": [self.answer(op) for op in message["ops"]]})

    def answer(self, op):
        self.budget = MAX_ITEMS
        try:
            result = self.dispatch(op)
            return {"ok": self.encode(result, full=op.get("op") == "value", force_ref=op.get("op") == "send")}
        except _EndOfTest:
            raise
        except BaseException as error:        # whatever the student's code raised, KeyboardInterrupt included
            return {"error": {"type": _type_name(type(error)), "message": _message(error)}}

    # -- probes
    def dispatch(self, op):
        kind = op["op"]
        if kind == "name":
            if op["name"] not in self.namespace:
                raise NameError(f"the notebook defines no {op['name']!r}: run the cell that defines it")
            return self.namespace[op["name"]]
        if kind == "has_name":
            return op["name"] in self.namespace
        if kind == "import":
            return importlib.import_module(op["name"])
        if kind in ("value", "send"):
            return self.decode(op.get("obj", op.get("value")))
        if kind == "getattr":
            return getattr(self.decode(op["obj"]), op["name"])
        if kind == "setattr":
            setattr(self.decode(op["obj"]), op["name"], self.decode(op["value"]))
            return None
        if kind == "delattr":
            delattr(self.decode(op["obj"]), op["name"])
            return None
        if kind == "call":
            return self.decode(op["fn"])(*self.decode(op["args"]), **self.decode_kwargs(op["kwargs"]))
        if kind == "method":
            target = getattr(self.decode(op["obj"]), op["name"])
            return target(*self.decode(op["args"]), **self.decode_kwargs(op["kwargs"]))
        if kind == "operator":
            return OPERATORS[op["name"]](*self.decode(op["args"]))
        if kind == "builtin":
            return BUILTINS[op["name"]](*self.decode(op["args"]))
        raise ValueError(f"unknown probe {kind!r}")

    # -- what the judge sent
    def decode(self, data):
        if data is None or type(data) in (bool, int, float, str):
            return data
        tag = data["$"]
        if tag in ("list", "tuple", "set", "size"):
            items = [self.decode(item) for item in data["items"]]
            return {"list": list, "tuple": tuple, "set": set, "size": torch.Size}[tag](items)
        if tag == "dict":
            return {self.decode(key): self.decode(item) for key, item in data["items"]}
        if tag == "ref":
            return self.objects[data["id"]]
        if tag == "method":
            return getattr(self.objects[data["obj"]["id"]], data["name"])
        if tag == "tensor":
            dtype = TENSOR_DTYPES[data["dtype"]]
            raw = base64.b64decode(data["data"])
            tensor = (torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(data["shape"]).clone()
                      if raw else torch.empty(data["shape"], dtype=dtype))
            if data.get("parameter"):
                return torch.nn.Parameter(tensor, requires_grad=data.get("requires_grad", True))
            # requires_grad_(False) on a plain tensor would be refused inside a torch.func transform
            return tensor.requires_grad_(True) if data.get("requires_grad") else tensor
        if tag == "ndarray":
            return numpy.frombuffer(base64.b64decode(data["data"]), dtype=data["dtype"]).reshape(data["shape"]).copy()
        if tag == "float":
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[data["v"]]
        if tag == "complex":
            return complex(data["re"], data["im"])
        if tag == "dtype":
            return getattr(torch, data["name"])
        if tag == "device":
            return torch.device(data["name"])
        if tag == "slice":
            return slice(self.decode(data["start"]), self.decode(data["stop"]), self.decode(data["step"]))
        if tag == "ellipsis":
            return Ellipsis
        if tag == "qualname":
            return _resolve(data["name"])
        if tag == "callback":
            return self.stub(data["id"])
        if tag == "failure_type":
            return CourseTestFailure
        if tag == "failure":
            return CourseTestFailure("the test failed inside this block")
        raise ValueError(f"unknown data {tag!r}")

    def decode_kwargs(self, kwargs):
        return {key: self.decode(item) for key, item in kwargs.items()}

    def stub(self, key):
        """A function standing for one of the test's: calling it runs the test's function in the judge."""
        if key not in self.stubs:
            server = self

            def test_function(*args, **kwargs):
                server.send({"callback": key, "args": server.encode(list(args)), "kwargs": server.encode(kwargs)})
                while True:
                    message = server.read()
                    if "ops" in message:
                        server.send({"results": [server.answer(op) for op in message["ops"]]})
                    elif "return" in message:
                        return server.decode(message["return"])
                    elif "raise" in message:
                        raise CourseTestFailure(message["raise"])
                    elif "end" in message:
                        raise _EndOfTest()

            self.stubs[key] = test_function
        return self.stubs[key]

    # -- what goes back
    def encode(self, obj, depth=0, full=False, force_ref=False):
        if depth > MAX_DEPTH:
            return {"$": "ref", **self.describe(obj, full=False)}
        kind = type(obj)
        if not force_ref:
            if obj is None or kind in (bool, int, str):
                return obj[:MAX_TEXT] if kind is str else obj
            if kind is float:
                return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
            if isinstance(obj, numpy.generic) and kind in _NUMPY_SCALARS:
                return self.encode(obj.item(), depth)
            if kind is complex:
                return {"$": "complex", "re": _finite(obj.real), "im": _finite(obj.imag)}
            if kind in (list, tuple, set, frozenset, torch.Size):
                self.budget -= len(obj)
                if self.budget >= 0:
                    tag = {list: "list", tuple: "tuple", torch.Size: "size"}.get(kind, "set")
                    return {"$": tag, "items": [self.encode(item, depth + 1) for item in obj]}
            if kind is dict:
                self.budget -= len(obj)
                if self.budget >= 0:
                    return {"$": "dict", "items": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                                   for k, v in obj.items()]}
            if kind is torch.dtype:
                return {"$": "dtype", "name": str(obj).rsplit(".", 1)[-1]}
            if kind is torch.device:
                return {"$": "device", "name": str(obj)}
            if kind is slice:
                return {"$": "slice", "start": self.encode(obj.start, depth + 1),
                        "stop": self.encode(obj.stop, depth + 1), "step": self.encode(obj.step, depth + 1)}
            if obj is Ellipsis:
                return {"$": "ellipsis"}
        return {"$": "ref", **self.describe(obj, full)}

    def describe(self, obj, full):
        ref_id = self.ids.get(id(obj))
        if ref_id is None:
            ref_id = len(self.objects) + 1
            self.objects[ref_id], self.ids[id(obj)] = obj, ref_id
        kind_of = type(obj)
        info = {"id": ref_id, "type": _type_name(kind_of)}
        if id(kind_of) not in self.sent_types:
            self.sent_types.add(id(kind_of))
            info["mro"] = [_type_name(base) for base in kind_of.__mro__[1:]]
        if issubclass(kind_of, torch.Tensor):
            info.update(kind="tensor", **_tensor_info(obj, full))
        elif issubclass(kind_of, numpy.ndarray):
            info.update(kind="ndarray", **_array_info(obj, full))
        elif issubclass(kind_of, type):
            info["kind"] = "class"
        elif kind_of is type(sys):
            info["kind"] = "module"
        elif callable(obj):
            info["kind"] = "function"
        else:
            info["kind"] = "object"
        return info


def _tensor_info(tensor, full):
    """What the judge sees of a tensor: read past any __torch_function__ a subclass defines."""
    with torch._C.DisableTorchFunctionSubclass():
        plain = torch.Tensor.detach(tensor)
        grad_fn = torch.Tensor.grad_fn.__get__(tensor)
        info = {"dtype": str(plain.dtype).rsplit(".", 1)[-1], "shape": list(plain.shape), "device": str(plain.device),
                "requires_grad": bool(torch.Tensor.requires_grad.__get__(tensor)),
                "is_leaf": bool(torch.Tensor.is_leaf.__get__(tensor)),
                "grad_fn": None if grad_fn is None else type(grad_fn).__name__}
        count = plain.numel()
        if info["dtype"] not in TENSOR_DTYPES or count > MAX_ELEMENTS:
            info.update(dtype="float32" if info["dtype"] not in TENSOR_DTYPES else info["dtype"], data=None,
                        opaque=f"a {info['dtype']} tensor of {count} elements is not sent", shape=[0])
        elif full or count <= INLINE_ELEMENTS:
            try:
                info["data"] = base64.b64encode(_tensor_bytes(plain.cpu().contiguous())).decode()
            except Exception as error:   # a tensor inside a torch.func transform has no storage to read
                info.update(data=None, opaque=_message(error)[:200])
    return info


def _array_info(array, full):
    info = {"dtype": array.dtype.name, "shape": list(array.shape)}
    if array.dtype.kind not in "biufc" or array.size > MAX_ELEMENTS:
        info.update(dtype="float64", shape=[0], data=None, opaque=f"an array of dtype {array.dtype} is not sent")
    elif full or array.size <= INLINE_ELEMENTS:
        info["data"] = base64.b64encode(numpy.ascontiguousarray(array).tobytes()).decode()
    return info


def _finite(number):
    return number if math.isfinite(number) else 0.0


def _type_name(kind):
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', kind.__name__)}"


def _message(error):
    try:
        return str(error)[:4000]
    except Exception:     # an exception whose __str__ fails
        return f"({type(error).__name__} without a readable message)"


_RESOLVED = {}


def _resolve(name):
    """A torch, numpy or Python function or class by its dotted name, as the judge named it."""
    if name not in _RESOLVED:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                obj = getattr(obj, attribute)
            _RESOLVED[name] = obj
            break
        else:
            raise ImportError(f"no {name} in the student's kernel")
    return _RESOLVED[name]


def _user_namespace():
    from .probes import _user_namespace as namespace

    return namespace()
