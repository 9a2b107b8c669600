"""Read a submission's code for what a course notebook never needs, for the instructor to look at.

A static check of the student's cells (the code the course did not write).  It
flags, it does not score: the judge decides the grade (judge.py), and the sandbox
holds the student's code; this says where to look.  Flagged:
- rebinding what tests rely on (``torch.allclose = ...``, builtins, ``sys.modules``);
- IPython and kernel internals (``get_ipython``, transformers, exception handlers, events, ``run_cell``),
  trace functions and frames;
- the course's own modules beyond the public ones (the probes, the checks' internals, grading) and
  aliases of course or IPython modules;
- torch's operator registry and internals (``torch.library``, ``torch._C``, ``torch.ops``);
- dunder attribute access beyond the usual ones (``__dict__``, ``__code__``, ``__globals__``, ...);
- attribute names built from strings: ``exec``/``eval``/``compile``, dynamic ``getattr``/``setattr``/
  ``delattr``, ``operator.attrgetter``/``methodcaller``, ``__import__``;
- imports outside the course's allow-list, file, process and network access, shell escapes.
"""

import ast
import builtins
import re

# Test cells run in the notebook's namespace: rebinding these names there changes what tests call.
SHADOWED_NAMES = {name for name in dir(builtins) if not name.startswith("_")} | {"torch", "ck"}
WATCHED_ROOTS = {"torch", "builtins", "__builtins__", "autograd_course", "ck", "checks", "np", "numpy", "math", "sys"}
# What a course notebook imports; anything else is worth a look.
ALLOWED_IMPORTS = {
    "torch", "torchviz", "numpy", "math", "cmath", "random", "statistics", "itertools", "functools",
    "collections", "dataclasses", "typing", "operator", "copy", "time", "timeit", "warnings", "contextlib",
    "string", "textwrap", "enum", "abc", "numbers", "fractions", "decimal", "matplotlib", "icecream",
    "autograd_course", "sklearn", "hypothesis", "graphviz", "pprint", "heapq", "bisect", "re",
}
IPYTHON_INTERNALS = {
    "input_transformers_cleanup", "input_transformers_post", "ast_transformers", "set_custom_exc",
    "custom_exceptions", "CustomTB", "run_cell", "run_cell_async", "run_ast_nodes", "run_code",
    "transform_cell", "showtraceback", "showsyntaxerror", "displayhook", "display_pub", "do_execute",
    "execute_request", "kernel", "shell", "user_ns", "user_global_ns", "excepthook", "register_magic_function",
    "settrace", "setprofile", "gettrace", "_getframe", "f_back", "f_globals", "f_locals", "f_trace",
}
ALLOWED_DUNDERS = {"__init__", "__name__", "__qualname__", "__doc__", "__call__", "__len__", "__getitem__",
                   "__repr__", "__str__", "__iter__", "__next__", "__enter__", "__exit__", "__version__",
                   "__add__", "__mul__", "__sub__", "__truediv__", "__neg__", "__pow__", "__matmul__",
                   "__radd__", "__rmul__", "__rsub__", "__rtruediv__", "__rpow__", "__eq__", "__hash__",
                   "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__contains__", "__setitem__"}
# Processes and shells: os.system, os.fork, os.exec*, os.spawn*, os.popen, os.kill (subprocess is not imported).
PROCESS_CALL = re.compile(r"^(system|popen|fork|forkpty|kill|killpg|(exec|spawn|posix_spawn)\w*)$")
DYNAMIC_CALLS = {"exec": "runs code from a string (exec)", "eval": "evaluates a string (eval)",
                 "compile": "compiles code at run time (compile)", "__import__": "imports by name (__import__)",
                 "open": "opens a file", "breakpoint": "starts a debugger", "vars": "reads a namespace (vars)",
                 "globals": "reads the global namespace (globals)", "locals": "reads a namespace (locals)"}
PATTERNS = [
    (re.compile(r"\bsys\s*\.\s*modules\b"), "edits or reads sys.modules"),
    (re.compile(r"\b__builtins__\b|\bimport\s+builtins\b|\bfrom\s+builtins\b"), "touches builtins"),
    (re.compile(r"\bimportlib\s*\.\s*reload\b"), "reloads a module"),
    (re.compile(r"\.__dict__\s*\["), "writes through a __dict__"),
    (re.compile(r"\bget_ipython\s*\(\s*\)\s*\.\s*(system|getoutput|run_cell|ex|ev)\b"), "runs code through IPython"),
]
# Methods through which an object decides what comparisons, isinstance or torch functions answer.
# What a student's code may use of the course package; the rest is the grader's machinery.
PUBLIC_COURSE_MODULES = {"autograd_course", "autograd_course.graphs", "autograd_course.data", "autograd_course.notebook"}
COURSE_ROOTS = {"autograd_course", "probes", "_probe_server", "checks", "ck", "IPython", "ipykernel", "get_ipython"}
BY_NAME_CALLS = {"attrgetter": "reads attributes by name (operator.attrgetter)",
                 "methodcaller": "calls methods by name (operator.methodcaller)"}
TORCH_INTERNALS = ("torch.library", "torch._C", "torch.ops", "torch._ops", "torch.utils._python_dispatch",
                   "torch.overrides")
LYING_METHODS = {"__eq__", "__ne__", "__bool__", "__torch_function__", "__torch_dispatch__",
                 "__instancecheck__", "__subclasscheck__", "__getattribute__"}
SAFE_MAGICS = ("%matplotlib", "%time", "%timeit", "%%time", "%%timeit", "%config InlineBackend")


def _root_name(node):
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _shell_lines(source):
    found = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("!") or re.match(r"\w+\s*=\s*!", stripped):
            found.append("runs a shell command (!)")
        elif stripped.startswith("%") and not stripped.startswith(SAFE_MAGICS):
            found.append(f"uses the magic {stripped.split()[0]}")
    return found


def _python_source(source):
    """The cell without IPython's magic and shell lines, which are not Python."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _torch_internal(dotted):
    return next((prefix for prefix in TORCH_INTERNALS if dotted == prefix or dotted.startswith(prefix + ".")), None)


def _import_flag(module):
    """Why importing ``module`` is worth a look, or None."""
    if module.split(".")[0] not in ALLOWED_IMPORTS:
        return f"imports {module or 'a relative module'} (outside the course's modules)"
    parts = module.split(".")
    if parts[0] == "autograd_course" and len(parts) > 1 and ".".join(parts[:2]) not in PUBLIC_COURSE_MODULES:
        return f"imports {'.'.join(parts[:2])}, the course's grading machinery"
    if _torch_internal(module):
        return f"imports {_torch_internal(module)} (torch's operator registry or internals)"
    if parts[-1] in BY_NAME_CALLS:
        return BY_NAME_CALLS[parts[-1]]
    return None


def scan_source(source):
    """Descriptions of suspicious statements in one cell's code (RecursionError: nested too deeply to read)."""
    found = _shell_lines(source)
    for pattern, what in PATTERNS:
        if pattern.search(source):
            found.append(what)
    try:
        tree = ast.parse(_python_source(source))
    except (SyntaxError, ValueError):      # ValueError: a NUL byte in the source
        return found
    for node in tree.body:
        names = []
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        found.extend(f"rebinds {name!r} in the notebook namespace" for name in names if name in SHADOWED_NAMES)
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if isinstance(target, ast.Attribute) and _root_name(target) in WATCHED_ROOTS:
                found.append(f"assigns {_dotted(target)}")
        if isinstance(node, ast.ClassDef):
            bases = {_dotted(base).rsplit(".", 1)[-1] for base in node.bases}
            methods = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
            lying = sorted(methods & LYING_METHODS)
            if lying or bases & {"TorchFunctionMode", "TorchDispatchMode"}:
                found.append(f"defines class {node.name} that decides what comparisons or torch functions "
                             f"answer ({', '.join(lying or sorted(bases))})")
        if isinstance(node, ast.Assign) and _root_name(node.value) in COURSE_ROOTS:
            found.append(f"aliases {_dotted(node.value)} (a course or IPython module)")
        if isinstance(node, ast.Import):
            found.extend(flag for flag in map(_import_flag, (alias.name for alias in node.names)) if flag)
        elif isinstance(node, ast.ImportFrom):
            # "from torch import library" imports torch.library: the names count as the module's parts
            names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names if node.module]
            flag = next((flag for flag in map(_import_flag, names) if flag), None)
            found.extend([flag] if flag else [])
        elif isinstance(node, ast.Name) and node.id == "get_ipython":
            found.append("reaches IPython (get_ipython)")
        elif isinstance(node, ast.Attribute) and _torch_internal(_dotted(node)) and _root_name(node) == "torch":
            found.append(f"reaches {_torch_internal(_dotted(node))} (torch's operator registry or internals)")
        elif isinstance(node, ast.Attribute) and node.attr in ("register", "unregister") and \
                isinstance(node.value, ast.Attribute) and node.value.attr == "events":
            # IPython's shell.events.register(...); a profiler's prof.events() is course material
            found.append("reaches interpreter or IPython internals (.events)")
        elif isinstance(node, ast.Attribute) and _root_name(node) == "os" and PROCESS_CALL.match(node.attr):
            found.append(f"starts or signals processes (os.{node.attr})")
        elif isinstance(node, ast.Attribute) and node.attr in BY_NAME_CALLS:
            found.append(BY_NAME_CALLS[node.attr])
        elif isinstance(node, ast.Attribute):
            if node.attr in IPYTHON_INTERNALS:
                found.append(f"reaches interpreter or IPython internals (.{node.attr})")
            elif node.attr.startswith("__") and node.attr.endswith("__") and node.attr not in ALLOWED_DUNDERS:
                found.append(f"uses the dunder attribute {node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in DYNAMIC_CALLS:
                found.append(DYNAMIC_CALLS[name])
            elif name in ("setattr", "delattr"):
                if node.args and _root_name(node.args[0]) in WATCHED_ROOTS:
                    found.append(f"calls {name} on {_dotted(node.args[0])}")
                else:
                    found.append(f"sets or deletes attributes by name ({name})")
            elif name == "getattr" and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
                found.append("reads attributes by a computed name (getattr)")
    return list(dict.fromkeys(found))


def scan_notebook(nb, known_sources=()):
    """[(cell index, description)] for the code cells a student wrote or changed.

    Locked cells and cells whose source is exactly a code cell of the released
    notebook (``known_sources``) are the course's own code and are not read.
    """
    flags = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("locked"):
            continue
        if cell.source in known_sources:
            continue
        for what in scan_source(cell.source):
            flags.append((index, what))
    return flags
