"""Stable kinds of mistakes: the name under which the class report groups a failed check.

Each check of :mod:`autograd_course.checks` fails with a message for the student and a kind, a short
snake_case name of what the message names (``grad_not_reduced_over_broadcast``,
``accumulated_across_backward``). A test's own ``expect(condition, message)`` may pass ``kind=``; without
one, the judge reads the kind from the message *as the test writes it* (:func:`kind_at`), its placeholders
left out, so that every student who fails that check gets the same kind whatever values, shapes or labels
the message quotes.
"""

import ast
import re

# Words that say nothing about the mistake.
_FILLER = frozenset("a an the is are was were be been it its this that these those of to in on at by for "
                    "with and or so as your you should".split())
# Values a message quotes: `code`, 'text', "text", (…), […], {…}, and numbers.
_VALUES = re.compile(r"`[^`]*`|(?<!\w)'[^']*'(?!\w)|\"[^\"]*\"|\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_POSSESSIVE = re.compile(r"(?<=\w)'s\b")      # "the caller's x": not a quoted value
_FIRST_CLAUSE = re.compile(r"[.:;!?](?:\s|$)")
_WORDS = re.compile(r"[a-z_][a-z0-9_]*")
KIND = re.compile(r"[a-z][a-z0-9_]{0,79}")
MOST_WORDS = 8


def kind_of(message):
    """The kind a message names: its first clause with words in it, lowercased, without the values it quotes."""
    for clause in _FIRST_CLAUSE.split(str(message).strip().split("\n")[0]):
        clause = _POSSESSIVE.sub("", clause)
        words = [word for word in _WORDS.findall(_VALUES.sub(" ", clause).lower()) if word not in _FILLER]
        if words:
            return "_".join(words[:MOST_WORDS]).strip("_")[:80] or "failed"
    return "failed"


# The calls whose message argument a test writes: expect(condition, message) and AssertionError(message).
_MESSAGE_ARGUMENT = {"expect": 1, "AssertionError": 0}


def _template(node):
    """A message's text as the test writes it, each placeholder as ``{}``; None when it is not written out."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _template(node.left), _template(node.right)
        return None if left is None or right is None else left + right
    return None


def _message_node(node):
    if isinstance(node, ast.Assert):
        return node.msg
    if isinstance(node, ast.Call):
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        position = _MESSAGE_ARGUMENT.get(name)
        keyword = next((k.value for k in node.keywords if k.arg == "message"), None)
        if position is not None:
            return keyword or (node.args[position] if len(node.args) > position else None)
    return None


def kind_at(source, line):
    """The kind of the check that failed at ``line`` of a test's ``source``: the innermost ``expect(...)``,
    ``AssertionError(...)`` or ``assert`` there, named from its message's written text; None when there is none."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return None
    found = [(node.end_lineno - node.lineno, template) for node in ast.walk(tree)
             if getattr(node, "lineno", 0) <= line <= (getattr(node, "end_lineno", 0) or 0)
             and (template := _template(_message_node(node))) is not None]
    return kind_of(min(found, key=lambda entry: entry[0])[1].replace("{}", " ")) if found else None


def snake_case(name):
    """``NotImplementedError`` as ``not_implemented_error``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
