"""Read a submission's code for what a course notebook never needs, for the instructor to look at.

A static check of the student's cells (the code the course did not write).  It
flags, it does not score: the sandbox and the tests' positive evidence decide
the grade; this says where to look.  Flagged:
- rebinding what tests rely on (``torch.allclose = ...``, builtins, ``sys.modules``);
- IPython and kernel internals (transformers, exception handlers, events, ``run_cell``);
- dunder attribute access beyond the usual ones (``__dict__``, ``__code__``, ``__globals__``, ...);
- ``exec``/``eval``/``compile``, dynamic ``getattr``/``setattr``/``delattr``, ``__import__``;
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
    "custom_exceptions", "CustomTB", "events", "run_cell", "run_cell_async", "run_ast_nodes", "run_code",
    "transform_cell", "showtraceback", "showsyntaxerror", "displayhook", "display_pub", "do_execute",
    "execute_request", "kernel", "shell", "user_ns", "user_global_ns", "excepthook", "register_magic_function",
    "settrace", "setprofile", "gettrace", "_getframe", "f_back", "f_globals", "f_locals", "f_trace",
}
ALLOWED_DUNDERS = {"__init__", "__name__", "__qualname__", "__doc__", "__call__", "__len__", "__getitem__",
                   "__repr__", "__str__", "__iter__", "__next__", "__enter__", "__exit__", "__version__",
                   "__add__", "__mul__", "__sub__", "__truediv__", "__neg__", "__pow__", "__matmul__",
                   "__radd__", "__rmul__", "__rsub__", "__rtruediv__", "__rpow__", "__eq__", "__hash__",
                   "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__contains__", "__setitem__"}
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


def scan_source(source):
    """Descriptions of suspicious statements in one cell's code."""
    found = _shell_lines(source)
    for pattern, what in PATTERNS:
        if pattern.search(source):
            found.append(what)
    try:
        tree = ast.parse(_python_source(source))
    except SyntaxError:
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
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] not in ALLOWED_IMPORTS:
                    found.append(f"imports {module or 'a relative module'} (outside the course's modules)")
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
