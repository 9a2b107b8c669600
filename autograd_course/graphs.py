"""Drawing autograd graphs with torchviz, in the course's colours.

torchviz draws backward nodes (grey), leaves that require grad (blue), saved
tensors (orange) and outputs (green).  ``draw_graph`` adds what a first reader
needs: names and values on leaves and outputs, optional nodes for named
intermediate tensors (yellow, dashed link to the node that made them), and a
legend.  The result is a ``graphviz.Digraph``, shown inline by Jupyter as SVG that
carries a text description of the graph (``role="img"`` and ``aria-label``), so a
screen reader reads the nodes and where each passes its gradient, not the boxes.
"""

import re
from xml.sax.saxutils import escape, quoteattr

import graphviz
import torchviz

LEAF, INTERMEDIATE, OUTPUT, SAVED, BACKWARD = "lightblue", "lightyellow", "darkolivegreen1", "orange", "lightgrey"


def _label(name, tensor, show_values):
    shape = "(" + ", ".join(str(d) for d in tensor.shape) + ")"
    text = f"{name}\n{shape}" if name else shape
    if show_values and tensor.numel() <= 4:
        values = ", ".join(f"{float(v):.3g}" for v in tensor.detach().reshape(-1))
        text += f"\n[{values}]" if tensor.dim() else f"\n{values}"
    return text


class GraphDrawing(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose SVG carries ``description`` for screen readers."""

    description = ""

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


__all__ = ["describe_graph", "draw_graph", "render_svg"]
