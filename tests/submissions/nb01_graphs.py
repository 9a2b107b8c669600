"""Alternative correct answers and typical mistakes for 01_graphs: each replaces one whole solution cell."""

ALTERNATIVES = {
    "leaf_predictions": '''
predictions = dict.fromkeys(["a.is_leaf", "k.is_leaf", "d.is_leaf", "f.is_leaf"], True)
predictions.update(dict.fromkeys(["k.requires_grad", "c.is_leaf", "d.requires_grad", "e.is_leaf", "f.requires_grad"], False))
predictions.update({"c.requires_grad": True, "g.requires_grad": True})
''',
    "ops_in_order": '''
from collections import deque

def ops_in_order(output):
    names, visited, queue = [], {output.grad_fn}, deque([output.grad_fn])
    while queue:
        node = queue.popleft()
        names.append(node.name() if not hasattr(node, "variable") else "AccumulateGrad")
        for child, _ in node.next_functions:
            if child is not None and child not in visited:
                visited.add(child)
                queue.append(child)
    return names
''',
    "find_leaves": '''
def find_leaves(output):
    found = {}
    def visit(node):
        if node is None:
            return
        if hasattr(node, "variable"):
            found[id(node.variable)] = node.variable
        for child, _ in node.next_functions:
            visit(child)
    visit(output.grad_fn)
    return list(found.values())
''',
    "inplace_predictions": '''
raises = {"exp_then_add_": True, "square_then_mul_": True}
raises["scale_then_add_"] = raises["relu_input_zeroed"] = False
''',
    "logistic_loss": '''
def logistic_loss(w, b, x, t):
    z = w * x + b
    p = 1 / (1 + torch.exp(-z))
    return torch.mean(torch.square(p - t))
''',
    "double_until": '''
def double_until(x, limit):
    steps = 0
    while float(torch.linalg.vector_norm(x * 2 ** steps)) < limit:
        steps += 1
    return x * 2 ** steps, steps
''',
}

MISTAKES = {
    "leaf_predictions": ("believes a dtype conversion keeps a tensor a leaf", '''
predictions = {
    "a.is_leaf": True, "k.is_leaf": True, "k.requires_grad": False,
    "c.is_leaf": False, "c.requires_grad": True, "d.is_leaf": True, "d.requires_grad": False,
    "e.is_leaf": True, "f.is_leaf": True, "f.requires_grad": False, "g.requires_grad": True,
}
''', "dtype conversion counts as an op"),
    "ops_in_order": ("walks depth-first instead of breadth-first", '''
def ops_in_order(output):
    order, seen, stack = [], set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        order.append(type(node).__name__)
        stack.extend(reversed([n for n, _ in node.next_functions]))
    return order
''', "breadth-first"),
    "find_leaves": ("looks only one level down from the output", '''
def find_leaves(output):
    return [node.variable for node, _ in output.grad_fn.next_functions if hasattr(node, "variable")]
''', "follow next_functions all the way down"),
    "inplace_predictions": ("thinks every in-place change breaks backward", '''
raises = {"exp_then_add_": True, "scale_then_add_": True, "square_then_mul_": True, "relu_input_zeroed": True}
''', "saved"),
    "logistic_loss": ("sums the squared errors instead of averaging them", '''
def logistic_loss(w, b, x, t):
    p = torch.sigmoid(w * x + b)
    return ((p - t) ** 2).sum()
''', "divide by n"),
    "double_until": ("detaches the running value, cutting the graph", '''
def double_until(x, limit):
    y, steps = x.detach().clone(), 0
    while y.norm() < limit:
        y = y * 2
        steps += 1
    return y, steps
''', "does not require grad"),
}

# solution grade_id -> (a further typical mistake, in words; the whole cell; words its failure message must
# contain): graded together, as one more submission.
MORE_MISTAKES = {
    "logistic_loss": ("reads w through .data, so no gradient reaches w", '''
def logistic_loss(w, b, x, t):
    p = torch.sigmoid(w.data * x + b)
    return ((p - t) ** 2).mean()
''', "no path leads from the loss back to w"),
}
