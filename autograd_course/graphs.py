"""Drawing autograd graphs with torchviz, in the course's colours.

torchviz draws backward nodes (grey), leaves that require grad (blue), saved
tensors (orange) and outputs (green).  ``draw_graph`` adds what a first reader
needs: names and values on leaves and outputs, optional nodes for named
intermediate tensors (yellow, dashed link to the node that made them), and a
legend.  The result is a ``graphviz.Digraph``, shown inline by Jupyter.

``draw_engine_graph`` draws, in the same colours, a graph made by an autograd
engine of your own (notebook 07): any objects with ``data``, ``grad``,
``parents`` and ``op`` attributes.  ``side_by_side`` puts several drawings
into one picture, each in its own titled frame.
"""

import graphviz
import torchviz

LEAF, INTERMEDIATE, OUTPUT, SAVED, BACKWARD = "lightblue", "lightyellow", "darkolivegreen1", "orange", "lightgrey"


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
    return draw_graph(output, **kwargs).pipe(format="svg").decode()


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


def draw_engine_graph(output, params=None, intermediates=None, *, show_values=True, show_grads=True, legend=True):
    """Draw the graph of an engine of your own, in ``draw_graph``'s colours.

    A node is any object with ``data`` (a float or a NumPy array), ``grad``, ``parents`` (the nodes it was
    computed from) and ``op`` (a short label such as ``"*"``).  Nodes without parents are leaves (blue);
    every other node is drawn as its operation (grey), the part that runs backward.  ``output`` gets a
    green box, ``intermediates`` (``{name: node}``) yellow ones, as in ``draw_graph``; ``params``
    (``{name: leaf}``) names leaves.  show_grads adds each box's ``grad``.
    """
    leaf_names = {id(node): name for name, node in (params or {}).items()}
    named = {id(node): name for name, node in (intermediates or {}).items()}
    dot = graphviz.Digraph(node_attr=dict(style="filled", shape="box", align="left", fontsize="11", ranksep="0.1",
                                          height="0.2", fontname="Helvetica"), graph_attr=dict(size="12,12"))
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
                                 ("operation (runs backward)", BACKWARD)):
                if colour == INTERMEDIATE and not set(named) - {id(output)}:
                    continue
                box.node(f"legend {text}", text, fillcolor=colour, style="filled", fontsize="9")
    return dot


def side_by_side(drawings):
    """One picture of several drawings (``{title: graphviz.Digraph}``), each in a titled frame.

    Their legends are left out: pass ``legend=False`` or not, the frames share the course's colours.
    """
    combined = graphviz.Digraph(graph_attr=dict(rankdir="BT", size="14,8"))
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


__all__ = ["draw_engine_graph", "draw_graph", "render_svg", "side_by_side"]
