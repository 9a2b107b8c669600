"""Drawing autograd graphs with torchviz, in the course's colours.

torchviz draws backward nodes (grey), leaves that require grad (blue), saved
tensors (orange) and outputs (green).  ``draw_graph`` adds what a first reader
needs: names and values on leaves and outputs, optional nodes for named
intermediate tensors (yellow, dashed link to the node that made them), and a
legend.  The result is a ``graphviz.Digraph``, shown inline by Jupyter.
"""

import torchviz

LEAF, INTERMEDIATE, OUTPUT, SAVED, BACKWARD = "lightblue", "lightyellow", "darkolivegreen1", "orange", "lightgrey"


def _label(name, tensor, show_values):
    shape = "(" + ", ".join(str(d) for d in tensor.shape) + ")"
    text = f"{name}\n{shape}" if name else shape
    if show_values and tensor.numel() <= 4:
        values = ", ".join(f"{float(v):.3g}" for v in tensor.detach().reshape(-1))
        text += f"\n[{values}]" if tensor.dim() else f"\n{values}"
    return text


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


__all__ = ["draw_graph", "render_svg"]
