"""Drawing autograd graphs with torchviz, in the course's colours.

torchviz draws backward nodes (grey), leaves that require grad (blue), saved
tensors (orange) and outputs (green).  ``draw_graph`` adds what a first reader
needs: names and values on leaves and outputs, optional nodes for named
intermediate tensors (yellow, dashed link to the node that made them), and a
legend.  The result is a ``graphviz.Digraph``, shown inline by Jupyter as SVG that
carries a text description of the graph (``role="img"`` and ``aria-label``), so a
screen reader reads the nodes and where each passes its gradient, not the boxes.

``draw_engine_graph`` draws, in the same colours, a graph made by an autograd
engine of your own (notebook 07): any objects with ``data``, ``grad``,
``parents`` and ``op`` attributes.  ``side_by_side`` puts several drawings
into one picture, each in its own titled frame.  Both carry text descriptions too.

``walk_backward_graph`` and ``draw_fault`` are the checks' diagnosis: the student's own graph, read through
attributes only (so the judge reads it from the student's kernel as data), drawn in the same colours with the
culprit in red: a leaf no path reaches, the node at fault, with a note.  ``draw_engine_graph(marks=...)`` does
the same for an engine of one's own.
"""

import re
from xml.sax.saxutils import escape, quoteattr

import graphviz
import torchviz

LEAF, INTERMEDIATE, OUTPUT, SAVED, BACKWARD = "lightblue", "lightyellow", "darkolivegreen1", "orange", "lightgrey"
FAULT = "#ff8a80"        # what a failed check found in the student's graph (draw_fault, marks)


def _values_text(shape, flat):
    """Small values as a box shows them: '2' for a scalar, '[1, 2]' otherwise; '' when there are none to show
    (``flat`` is None, or longer than 4)."""
    if flat is None or len(flat) > 4:
        return ""
    values = ", ".join(f"{float(v):.3g}" for v in flat)
    return f"[{values}]" if len(shape) else values


def _label(name, tensor, show_values):
    shape = "(" + ", ".join(str(d) for d in tensor.shape) + ")"
    text = f"{name}\n{shape}" if name else shape
    small = show_values and tensor.numel() <= 4
    values = _values_text(tuple(tensor.shape), tensor.detach().reshape(-1).tolist() if small else None)
    return f"{text}\n{values}" if values else text


class GraphDrawing(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose SVG carries ``description`` for screen readers."""

    description = ""

    def __repr__(self):           # the text/plain beside the picture: what it shows, for any reader
        return self.description or super().__repr__()

    def _repr_image_svg_xml(self):
        return with_description(super()._repr_image_svg_xml(), self.description)

    _repr_svg_ = _repr_image_svg_xml     # graphviz before 0.19 asks for this name


def with_description(svg, description, title="Autograd backward graph"):
    """The SVG as one image (role="img") whose accessible name is ``description``."""
    opening = re.search(r"<svg\b[^>]*>", svg)
    if not opening:
        return svg
    tag = opening.group(0)[:-1] + f' role="img" aria-label={quoteattr(description)}>'
    text = f"<title>{escape(title)}</title>\n<desc>{escape(description)}</desc>"
    return svg[:opening.start()] + tag + "\n" + text + svg[opening.end():]


def _listing(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_graph(outputs, params=None, intermediates=None, *, show_values=True, most=16):
    """What the drawing shows, in words: the outputs, the leaves, and for each backward node the nodes it passes
    gradients to, from the output down (only counted by kind when there are more than ``most`` nodes)."""
    names = {id(t): n for n, t in (params or {}).items()}
    made = {id(t.grad_fn): n for n, t in (intermediates or {}).items() if t.grad_fn is not None}
    order, seen, queue = [], set(), [t.grad_fn for t in outputs]
    while queue:
        node = queue.pop(0)
        if node is None or node in seen:
            continue
        seen.add(node)
        order.append(node)
        queue.extend(child for child, _ in node.next_functions)
    kinds = [type(node).__name__ for node in order]
    label = {}
    for position, (node, kind) in enumerate(zip(order, kinds)):
        if hasattr(node, "variable"):
            variable = node.variable
            label[node] = "the AccumulateGrad of " + (names[id(variable)] if id(variable) in names else "an unnamed leaf")
        else:
            label[node] = kind + (f" #{kinds[:position + 1].count(kind)}" if kinds.count(kind) > 1 else "")
            if id(node) in made:
                label[node] += f" (which made {made[id(node)]})"

    def shown(tensor):
        text = "shape (" + ", ".join(str(d) for d in tensor.shape) + ")"
        if show_values and tensor.numel() <= 4:
            text += ", value " + ", ".join(f"{float(v):.3g}" for v in tensor.detach().reshape(-1))
        return text

    leaves = [label[node][len("the AccumulateGrad of "):] for node in order if hasattr(node, "variable")]
    named = [f"{n} ({shown(t)})" for n, t in (params or {}).items() if n in leaves]
    ends = (f"the output ({shown(outputs[0])})" if len(outputs) == 1 else
            f"{len(outputs)} outputs ({'; '.join(shown(t) for t in outputs)})")
    text = (f"Backward graph of {ends}, {len(order)} nodes. "
            f"Leaves that receive a gradient: {_listing(named or leaves) if leaves else 'none'}.")
    if len(order) > most:
        counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
        return text + " Nodes by kind: " + ", ".join(f"{count} x {kind}" for kind, count in counts.items()) + "."
    steps = []
    for node in order:
        children = [child for child, _ in node.next_functions if child is not None]
        if children:
            targets = [label[child] + (f" (along {children.count(child)} edges)" if children.count(child) > 1 else "")
                       for child in dict.fromkeys(children)]
            steps.append(f"{label[node]} passes gradients to {_listing(targets)}")
    return text + " From the output down: " + "; ".join(steps) + "."


def draw_graph(output, params=None, intermediates=None, *, show_values=True, show_saved=False, legend=True):
    """Draw the backward graph that ends at ``output`` (a tensor or tuple of tensors).

    params: ``{name: leaf tensor}`` to label leaves.
    intermediates: ``{name: tensor}`` of non-leaf tensors to draw next to the node that made them.
    show_values: print the values of small tensors (at most 4 elements) in their boxes.
    show_saved: also draw what built-in backward nodes saved for the backward pass.
    """
    params = dict(params or {})
    outputs = output if isinstance(output, tuple) else (output,)
    for tensor in outputs:
        if tensor.grad_fn is None:
            raise ValueError(
                "draw_graph needs an output that was computed from tensors requiring grad; "
                "this one has no grad_fn (is requires_grad off, or was it made under no_grad?)"
            )
    dot = torchviz.make_dot(output, params=params, show_saved=show_saved)
    dot.__class__ = GraphDrawing         # the same graph, shown with a text description
    dot.description = describe_graph(outputs, params, intermediates, show_values=show_values)
    dot.attr(rankdir="BT")
    dot.node_attr.update(fontname="Helvetica", fontsize="11")
    # Re-declaring a node in DOT updates its attributes: add names and values.
    for name, tensor in params.items():
        dot.node(str(id(tensor)), _label(name, tensor, show_values), fillcolor=LEAF)
    output_names = {id(t): n for n, t in (intermediates or {}).items()}
    for i, tensor in enumerate(outputs):
        name = output_names.pop(id(tensor), "output" if len(outputs) == 1 else f"output {i}")
        dot.node(str(id(tensor)), _label(name, tensor, show_values), fillcolor=OUTPUT)
    for name, tensor in (intermediates or {}).items():
        if id(tensor) not in output_names:
            continue
        if tensor.grad_fn is None:
            raise ValueError(f"intermediate {name!r} has no grad_fn; pass leaves in params instead")
        dot.node(str(id(tensor)), _label(name, tensor, show_values), fillcolor=INTERMEDIATE, style="filled,dashed")
        dot.edge(str(id(tensor.grad_fn)), str(id(tensor)), style="dashed", arrowhead="none")
    if legend:
        with dot.subgraph(name="cluster_legend") as key:
            key.attr(label="legend", fontsize="10", style="rounded", color="grey")
            for text, colour in (("leaf (requires grad)", LEAF), ("intermediate", INTERMEDIATE),
                                 ("output", OUTPUT), ("backward node", BACKWARD), ("saved tensor", SAVED)):
                if colour == SAVED and not show_saved:
                    continue
                if colour == INTERMEDIATE and not output_names:
                    continue
                key.node(f"legend {text}", text, fillcolor=colour, style="filled", fontsize="9")
    return dot


def render_svg(output, **kwargs):
    """The drawing as SVG text; raises if the graphviz ``dot`` program is missing."""
    return draw_graph(output, **kwargs)._repr_image_svg_xml()


def _shape_and_values(value):
    """(shape, flat list of values or None past 4) of a float or an array ``data``/``grad`` of an engine node."""
    shape = tuple(getattr(value, "shape", ()))
    if not hasattr(value, "reshape"):
        return shape, [value]
    return shape, value.reshape(-1).tolist() if value.size <= 4 else None


def _engine_label(name, node, show_values, show_grads):
    shape, flat = _shape_and_values(node.data)
    text = "(" + ", ".join(str(d) for d in shape) + ")"
    text = f"{name}\n{text}" if name else text
    if show_values and _values_text(shape, flat):
        text += "\n" + _values_text(shape, flat)
    if show_grads:
        grad_shape, grad_flat = _shape_and_values(node.grad)
        shown = _values_text(grad_shape, grad_flat)
        text += f"\ngrad {shown}" if shown else ""
    return text


def describe_engine_graph(output, params=None, intermediates=None, *, most=16):
    """``describe_graph`` for an engine of your own: the leaves, and for each operation the nodes it passes
    gradients to, from the output down (only counted by operation when there are more than ``most``)."""
    names = {id(node): name for name, node in (params or {}).items()}
    made = {id(node): name for name, node in (intermediates or {}).items()}
    order, seen, queue = [], set(), [output]
    while queue:
        node = queue.pop(0)
        if id(node) not in seen:
            seen.add(id(node))
            order.append(node)
            queue.extend(node.parents)
    ops = [str(node.op) or "op" for node in order if node.parents]
    label, count = {}, {}
    for node in order:
        if not node.parents:
            label[id(node)] = "leaf " + names[id(node)] if id(node) in names else "an unnamed leaf"
            continue
        op = str(node.op) or "op"
        count[op] = count.get(op, 0) + 1
        label[id(node)] = f"operation {op}" + (f" #{count[op]}" if ops.count(op) > 1 else "")
        if id(node) in made:
            label[id(node)] += f" (which made {made[id(node)]})"
    shape = ", ".join(str(d) for d in getattr(output.data, "shape", ()))
    leaves = [label[id(node)] for node in order if not node.parents]
    text = (f"Graph of your engine with output of shape ({shape}), {len(order)} nodes. "
            f"Leaves: {_listing([leaf.removeprefix('leaf ') for leaf in leaves])}.")
    if len(ops) > most:
        return text + " Operations: " + ", ".join(f"{ops.count(op)} x {op}" for op in dict.fromkeys(ops)) + "."
    steps = []
    for node in order:
        if node.parents:
            uses = [sum(q is p for q in node.parents) for p in {id(p): p for p in node.parents}.values()]
            targets = [label[id(p)] + (f" (along {n} edges)" if n > 1 else "")
                       for p, n in zip({id(p): p for p in node.parents}.values(), uses)]
            steps.append(f"{label[id(node)]} passes gradients to {_listing(targets)}")
    return text + " From the output down: " + "; ".join(steps) + "."


def draw_engine_graph(output, params=None, intermediates=None, *, show_values=True, show_grads=True, legend=True,
                      marks=None):
    """Draw the graph of an engine of your own, in ``draw_graph``'s colours.

    A node is any object with ``data`` (a float or a NumPy array), ``grad``, ``parents`` (the nodes it was
    computed from) and ``op`` (a short label such as ``"*"``).  Nodes without parents are leaves (blue);
    every other node is drawn as its operation (grey), the part that runs backward.  ``output`` gets a
    green box, ``intermediates`` (``{name: node}``) yellow ones, as in ``draw_graph``; ``params``
    (``{name: leaf}``) names leaves.  show_grads adds each box's ``grad``.  ``marks`` (``{id(node): note}``)
    draws those nodes in red with the note: a check's diagnosis.
    """
    marks = dict(marks or {})
    leaf_names = {id(node): name for name, node in (params or {}).items()}
    named = {id(node): name for name, node in (intermediates or {}).items()}
    dot = GraphDrawing(node_attr=dict(style="filled", shape="box", align="left", fontsize="11", ranksep="0.1",
                                      height="0.2", fontname="Helvetica"), graph_attr=dict(size="12,12"))
    dot.description = describe_engine_graph(output, params, intermediates)
    dot.attr(rankdir="BT")

    def key(node):
        return f"engine {id(node)}"

    seen, stack = set(), [output]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if not node.parents:
            dot.node(key(node), _engine_label(leaf_names.get(id(node), ""), node, show_values, show_grads),
                     fillcolor=LEAF)
            continue
        if id(node) in marks:
            dot.node(key(node), f"{str(node.op) or 'op'}\n{marks[id(node)]}", fillcolor=FAULT, color="red",
                     penwidth="2")
        else:
            dot.node(key(node), str(node.op) or "op", fillcolor=BACKWARD)
        for parent in node.parents:
            dot.edge(key(parent), key(node))
            stack.append(parent)
        if id(node) in named and node is not output:
            box = f"{key(node)} value"
            dot.node(box, _engine_label(named[id(node)], node, show_values, show_grads),
                     fillcolor=INTERMEDIATE, style="filled,dashed")
            dot.edge(key(node), box, style="dashed", arrowhead="none")
    if output.parents:
        dot.node(f"{key(output)} value", _engine_label(named.get(id(output), "output"), output, show_values,
                                                       show_grads), fillcolor=OUTPUT)
        dot.edge(key(output), f"{key(output)} value")
    if legend:
        with dot.subgraph(name="cluster_legend") as box:
            box.attr(label="legend", fontsize="10", style="rounded", color="grey")
            for text, colour in (("leaf", LEAF), ("intermediate", INTERMEDIATE), ("output", OUTPUT),
                                 ("operation (runs backward)", BACKWARD), ("what the check found", FAULT)):
                if colour == INTERMEDIATE and not set(named) - {id(output)} or colour == FAULT and not marks:
                    continue
                box.node(f"legend {text}", text, fillcolor=colour, style="filled", fontsize="9")
    return dot


MOST_NODES = 60          # of a drawn diagnosis; a larger graph is drawn to this many nodes from the output


def _kind(node):
    from .probes import type_name

    return re.sub(r"[^\w.<>]", "", type_name(node))[:60] or "node"


def walk_backward_graph(output, leaves=None, most=MOST_NODES):
    """The backward graph that ends at ``output``, from the output down, read through attributes only
    (``grad_fn``, ``next_functions``, ``variable``): the judge reads a student's graph through probes the
    way a kernel reads its own. ``leaves`` (``{name: tensor}``) names the leaves found.

    Returns ``{"nodes": [...], "edges": [(child, node), ...], "truncated": bool}``; each node is
    ``{"kind", "leaf": name or None, "shape": tuple or None, "object": the node}``."""
    named = list((leaves or {}).items())
    top = output.grad_fn
    nodes, edges, queue = [], [], [] if top is None else [top]

    def index_of(node):
        return next((i for i, known in enumerate(nodes) if known["object"] is node), None)

    truncated = False
    while queue:
        node = queue.pop(0)
        if index_of(node) is not None:
            continue
        if len(nodes) == most:
            truncated = True
            break
        entry = {"kind": _kind(node), "leaf": None, "shape": None, "object": node}
        if entry["kind"] == "AccumulateGrad":
            variable = node.variable
            entry["leaf"] = next((name for name, tensor in named if tensor is variable), "")
            entry["shape"] = tuple(variable.shape)[:8]      # a label stays small whatever a kernel answers
            entry["variable"] = variable
        nodes.append(entry)
        queue.extend(child for child, _ in tuple(node.next_functions)[:32] if child is not None)
    for position, entry in enumerate(nodes):
        if entry["kind"] == "AccumulateGrad":
            continue
        for child, _ in tuple(entry["object"].next_functions)[:32]:
            found = None if child is None else index_of(child)
            if found is not None:
                edges.append((found, position))
    return {"nodes": nodes, "edges": edges, "truncated": truncated, "shape": tuple(output.shape)[:8]}


def node_of(walked, obj):
    """The index of ``obj`` (a backward node, or a leaf tensor) in a walked graph, or None."""
    for index, entry in enumerate(walked["nodes"]):
        if entry["object"] is obj or entry.get("variable") is obj:
            return index
    return None


def draw_fault(walked, marks=None, outside=None, *, fault=""):
    """The student's graph (from :func:`walk_backward_graph`) in ``draw_graph``'s colours, with the culprit
    marked: ``marks`` (``{node index: note}``) are nodes of the graph, ``outside`` (``{leaf name: note}``)
    leaves that no path from the output reaches, drawn apart with the cut. ``fault`` says what went wrong,
    for the picture's description."""
    marks, outside = dict(marks or {}), dict(outside or {})
    dot = GraphDrawing(node_attr=dict(style="filled", shape="box", fontname="Helvetica", fontsize="11"))
    dot.attr(rankdir="BT")
    shape = "(" + ", ".join(str(d) for d in walked["shape"]) + ")"
    dot.node("output", f"output\n{shape}", fillcolor=OUTPUT)
    if walked["nodes"]:
        dot.edge("node 0", "output")
    words = []
    for index, entry in enumerate(walked["nodes"]):
        if entry["kind"] == "AccumulateGrad":
            label = (entry["leaf"] or "a leaf") + "\n(" + ", ".join(str(d) for d in entry["shape"]) + ")"
            colour = LEAF
        else:
            label, colour = entry["kind"], BACKWARD
        if index in marks:
            label += "\n" + marks[index]
            words.append(f"{label.splitlines()[0]} is marked: {marks[index]}")
            dot.node(f"node {index}", label, fillcolor=FAULT, color="red", penwidth="2")
        else:
            dot.node(f"node {index}", label, fillcolor=colour)
    for child, node in walked["edges"]:
        dot.edge(f"node {child}", f"node {node}")
    for name, note in outside.items():
        dot.node(f"outside {name}", f"{name}\n{note}", fillcolor=FAULT, color="red", penwidth="2")
        dot.edge(f"outside {name}", "output", style="dashed", color="red", fontcolor="red", label=" cut",
                 arrowhead="tee")
        words.append(f"{name} is outside the graph: {note}")
    if walked["truncated"]:
        dot.node("more", f"... (the first {len(walked['nodes'])} nodes from the output)", shape="plaintext",
                 style="")
    with dot.subgraph(name="cluster_legend") as key:
        key.attr(label="legend", fontsize="10", style="rounded", color="grey")
        for text, colour in (("leaf (requires grad)", LEAF), ("output", OUTPUT), ("backward node", BACKWARD),
                             ("what the check found", FAULT)):
            key.node(f"legend {text}", text, fillcolor=colour, style="filled", fontsize="9")
    kinds = [entry["leaf"] or entry["kind"] if entry["kind"] == "AccumulateGrad" else entry["kind"]
             for entry in walked["nodes"]]
    dot.description = (f"Your graph, drawn for a failed check{': ' + fault if fault else ''}. Output of shape "
                       f"{shape}; {len(kinds)} nodes from the output down: {', '.join(kinds) or 'none'}. "
                       + ". ".join(words) + ("." if words else ""))
    return dot


def side_by_side(drawings):
    """One picture of several drawings (``{title: graphviz.Digraph}``), each in a titled frame.

    Their legends are left out: pass ``legend=False`` or not, the frames share the course's colours.
    """
    combined = GraphDrawing(graph_attr=dict(rankdir="BT", size="14,8"))
    combined.description = " ".join(f"{title}: {getattr(drawing, 'description', '') or 'a graph'}"
                                    for title, drawing in drawings.items())
    for index, (title, drawing) in enumerate(drawings.items()):
        frame = graphviz.Digraph(name=f"cluster_{index}", node_attr=dict(drawing.node_attr),
                                 edge_attr=dict(drawing.edge_attr))
        frame.attr(label=title, labelloc="b", fontname="Helvetica", fontsize="12", style="rounded", color="grey")
        depth = 0
        for line in drawing.body:
            if "subgraph cluster_legend" in line:
                depth = 1
            elif depth and line.strip() == "}":
                depth = 0
            elif not depth and not line.strip().startswith("rankdir"):
                frame.body.append(line)
        combined.subgraph(frame)
    return combined


__all__ = ["describe_engine_graph", "describe_graph", "draw_engine_graph", "draw_fault", "draw_graph", "render_svg",
           "side_by_side", "walk_backward_graph"]
