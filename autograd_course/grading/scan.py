"""Flag code in a submission that patches what the tests rely on, for the instructor to read."""

import ast
import builtins
import re

# Test cells run in the notebook's namespace: rebinding these names there changes what tests call.
SHADOWED_NAMES = {name for name in dir(builtins) if not name.startswith("_")} | {"torch", "ck"}
WATCHED_ROOTS = {"torch", "builtins", "__builtins__", "autograd_course", "ck", "checks", "np", "numpy", "math", "sys"}
PATTERNS = [
    (re.compile(r"\bsys\s*\.\s*modules\b"), "edits or reads sys.modules"),
    (re.compile(r"\b__builtins__\b|\bimport\s+builtins\b|\bfrom\s+builtins\b"), "touches builtins"),
    (re.compile(r"\bimportlib\s*\.\s*reload\b"), "reloads a module"),
    (re.compile(r"\.__dict__\s*\["), "writes through a __dict__"),
]


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


def scan_source(source):
    """Descriptions of suspicious statements in one cell's code."""
    found = []
    for pattern, what in PATTERNS:
        if pattern.search(source):
            found.append(what)
    try:
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
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
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args and _root_name(node.args[0]) in WATCHED_ROOTS:
                found.append(f"calls {node.func.id} on {_dotted(node.args[0])}")
    return found


def scan_notebook(nb):
    """[(cell index, description)] for the student-editable code cells of a notebook."""
    flags = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("locked"):
            continue
        for what in scan_source(cell.source):
            flags.append((index, what))
    return flags
