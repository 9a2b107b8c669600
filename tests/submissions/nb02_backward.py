"""Alternative correct answers and typical mistakes for 02_backward: each replaces one whole solution cell."""

# solution grade_id -> another correct answer written differently (all of them together must score full marks)
ALTERNATIVES = {
    "tanh_unit_grads": '''
def tanh_unit_grads(x, y, w, b):
    """Return (dL/dw, dL/db) for L = mean((tanh(w * x + b) - y) ** 2), by the chain rule, without autograd."""
    n = x.shape[0]
    z = x * w + b
    residual = torch.tanh(z) - y
    upstream = residual * (2.0 / n)            # dL/da_i
    local = 1.0 / torch.cosh(z) ** 2           # d tanh / dz = sech^2 z
    dz = upstream * local
    return torch.dot(dz, x), torch.sum(dz)
''',
    "vjp_both_ways": '''
def vjp_by_backward(f, x, v):
    """Return v^T J_f(x) computed with .backward(v); x does not require grad, v has the shape of f(x)."""
    leaf = x.clone().requires_grad_()
    torch.autograd.backward(f(leaf), grad_tensors=v)
    return leaf.grad


def vjp_by_grad(f, x, v):
    """Return v^T J_f(x) computed with torch.autograd.grad(..., grad_outputs=v), writing no .grad."""
    leaf = x.detach().clone()
    leaf.requires_grad = True
    scalar = (f(leaf) * v).sum()               # the gradient of v . f(x) is v^T J
    return torch.autograd.grad(scalar, [leaf])[0]
''',
    "accumulation_predictions": '''
predictions = {"a": ..., "b": ..., "c": ..., "d": ..., "e": ...}   # replace each ... with the value of x.grad
predictions["a"] = 12
predictions["b"] = 12
predictions["c"] = 6
predictions["d"] = 33
predictions["e"] = 6
''',
    "hidden_grads": '''
def weight_and_hidden_grads(W, x):
    """Return (dL/dW, dL/dh) for h = x @ W.T and L = logsumexp(h, dim=1).sum(), with one .backward()."""
    weight = torch.nn.Parameter(W.clone())
    hidden = torch.einsum("bn,mn->bm", x, weight)
    loss = torch.logsumexp(hidden, dim=1).sum()
    torch.autograd.backward(loss, inputs=[weight, hidden])   # inputs= also fills .grad of an intermediate
    return weight.grad.detach(), hidden.grad
''',
    "hvp": '''
def hvp(f, x, v):
    """Return H_f(x) @ v for a scalar function f, by two torch.autograd.grad calls, as a differentiable tensor."""
    gradient = torch.autograd.grad(f(x), [x], create_graph=True)[0]
    return torch.autograd.grad(gradient, [x], grad_outputs=[v], create_graph=True)[0]
''',
    "jacobian_by_rows": '''
def jacobian_by_rows(f, x):
    """Return the (m, n) Jacobian of f at x (1-D, shape (n,)), one VJP with a unit vector per row, one call to f."""
    leaf = x.detach().clone().requires_grad_(True)
    y = f(leaf)
    m = y.shape[0]
    J = torch.empty(m, x.shape[0], dtype=x.dtype)
    for i, unit in enumerate(torch.eye(m, dtype=y.dtype)):
        leaf.grad = None                                   # one row at a time: no accumulation
        y.backward(unit, retain_graph=i < m - 1)
        J[i] = leaf.grad
    return J
''',
    "nan_gradient_source": '''
def nan_gradient_source(fn, *inputs):
    """Return the name of the backward function that anomaly mode reports for a NaN in the gradient of
    fn(*inputs) (a string such as "PowBackward0"), or None when the backward pass finishes without one."""
    import re

    leaves = [t.clone().requires_grad_(True) for t in inputs]
    warnings.filterwarnings("ignore", message="Anomaly Detection has been enabled")
    warnings.filterwarnings("ignore", message="Error detected in")
    with torch.autograd.set_detect_anomaly(True):          # as a with block, it restores the mode it found
        try:
            output = fn(*leaves)
            torch.autograd.grad(output, leaves, allow_unused=True)
        except RuntimeError as error:
            found = re.match(r"Function '(.+?)' returned nan values", str(error))
            if found is None:
                raise
            return found.group(1)
    return None
''',
    "softplus_repaired": '''
def softplus_repaired(z):
    """softplus_by_hand's values (z where z > 20, log(1 + e^z) elsewhere), with a gradient that is never NaN."""
    picks_z = z > 20
    harmless = torch.where(picks_z, torch.zeros_like(z), z)   # a second where: exp(0) where the branch is not used
    return torch.where(picks_z, z, torch.log1p(torch.exp(harmless)))
''',
}

# solution grade_id -> (the mistake, in words; the whole cell with that mistake; words its failure message must contain)
MISTAKES = {
    "tanh_unit_grads": ("forgets the local derivative of tanh in the chain", '''
def tanh_unit_grads(x, y, w, b):
    """Return (dL/dw, dL/db) for L = mean((tanh(w * x + b) - y) ** 2), by the chain rule, without autograd."""
    a = torch.tanh(w * x + b)
    dL_da = 2 * (a - y) / len(x)
    return (dL_da * x).sum(), dL_da.sum()
''', "derivative of tanh"),
    "vjp_both_ways": ("sets requires_grad on the caller's x, so a second call accumulates into x.grad", '''
def vjp_by_backward(f, x, v):
    """Return v^T J_f(x) computed with .backward(v); x does not require grad, v has the shape of f(x)."""
    x.requires_grad_(True)
    f(x).backward(v)
    return x.grad


def vjp_by_grad(f, x, v):
    """Return v^T J_f(x) computed with torch.autograd.grad(..., grad_outputs=v), writing no .grad."""
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(f(x), x, grad_outputs=v)[0]
''', "accumulate"),
    "accumulation_predictions": ("believes every backward call overwrites .grad", '''
predictions = {"a": 6.0, "b": 6.0, "c": 6.0, "d": 27.0, "e": 6.0}
''', "accumulate"),
    "hidden_grads": ("forgets retain_grad, so the intermediate keeps no .grad", '''
def weight_and_hidden_grads(W, x):
    """Return (dL/dW, dL/dh) for h = x @ W.T and L = logsumexp(h, dim=1).sum(), with one .backward()."""
    W = W.detach().clone().requires_grad_(True)
    h = x @ W.T
    torch.logsumexp(h, dim=1).sum().backward()
    return W.grad, h.grad
''', "retain_grad"),
    "hvp": ("computes the first gradient without create_graph=True", '''
def hvp(f, x, v):
    """Return H_f(x) @ v for a scalar function f, by two torch.autograd.grad calls, as a differentiable tensor."""
    (g,) = torch.autograd.grad(f(x), x)
    (hv,) = torch.autograd.grad((g * v).sum(), x, create_graph=True)
    return hv
''', "create_graph=True to the first call"),
    "jacobian_by_rows": ("forgets retain_graph, so the second row's backward finds the graph freed", '''
def jacobian_by_rows(f, x):
    """Return the (m, n) Jacobian of f at x (1-D, shape (n,)), one VJP with a unit vector per row, one call to f."""
    leaf = x.detach().requires_grad_(True)
    y = f(leaf)
    rows = []
    for i in range(len(y)):
        unit = torch.zeros_like(y)
        unit[i] = 1.0
        rows.append(torch.autograd.grad(y, leaf, grad_outputs=unit)[0])
    return torch.stack(rows)
''', "retain_graph=True"),
    "nan_gradient_source": ("returns the whole error message instead of the backward function's name", '''
def nan_gradient_source(fn, *inputs):
    """Return the name of the backward function that anomaly mode reports for a NaN in the gradient of
    fn(*inputs) (a string such as "PowBackward0"), or None when the backward pass finishes without one."""
    leaves = [t.detach().requires_grad_(True) for t in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.autograd.detect_anomaly():
                fn(*leaves).backward()
        except RuntimeError as error:
            return str(error)
    return None
''', "whole error message"),
    "softplus_repaired": ("clamps the result of exp instead of its input, so the gradient stays NaN", '''
def softplus_repaired(z):
    """softplus_by_hand's values (z where z > 20, log(1 + e^z) elsewhere), with a gradient that is never NaN."""
    return torch.where(z > 20, z, torch.log1p(torch.exp(z).clamp(max=1e30)))
''', "keep exp's input in range"),
}

# solution grade_id -> (the rule broken, in words; a cell that gives right values but breaks the rule the exercise
# states; words its failure message must contain). Each loses exactly its own exercise's points.
RULE_BREAKS = {
    "tanh_unit_grads": ("lets autograd compute the gradients", '''
def tanh_unit_grads(x, y, w, b):
    """Return (dL/dw, dL/db) for L = mean((tanh(w * x + b) - y) ** 2), by the chain rule, without autograd."""
    with torch.enable_grad():
        w = w.detach().requires_grad_(True)
        b = b.detach().requires_grad_(True)
        return torch.autograd.grad(((torch.tanh(w * x + b) - y) ** 2).mean(), (w, b))
''', "chain rule by hand"),
    "vjp_both_ways": ("computes vjp_by_grad with .backward()", '''
def vjp_by_backward(f, x, v):
    """Return v^T J_f(x) computed with .backward(v); x does not require grad, v has the shape of f(x)."""
    leaf = x.detach().requires_grad_(True)
    f(leaf).backward(v)
    return leaf.grad


def vjp_by_grad(f, x, v):
    """Return v^T J_f(x) computed with torch.autograd.grad(..., grad_outputs=v), writing no .grad."""
    return vjp_by_backward(f, x, v)
''', "grad_outputs=v"),
    "hidden_grads": ("asks torch.autograd.grad instead of reading .grad after one backward", '''
def weight_and_hidden_grads(W, x):
    """Return (dL/dW, dL/dh) for h = x @ W.T and L = logsumexp(h, dim=1).sum(), with one .backward()."""
    W = W.detach().clone().requires_grad_(True)
    h = x @ W.T
    return torch.autograd.grad(torch.logsumexp(h, dim=1).sum(), (W, h))
''', "calls torch.autograd.grad"),
    "jacobian_by_rows": ("hands the work to torch.autograd.functional.jacobian", '''
def jacobian_by_rows(f, x):
    """Return the (m, n) Jacobian of f at x (1-D, shape (n,)), one VJP with a unit vector per row, one call to f."""
    return torch.autograd.functional.jacobian(f, x)
''', "torch.autograd.functional"),
    "nan_gradient_source": ("switches anomaly mode on for good and never off", '''
def nan_gradient_source(fn, *inputs):
    """Return the name of the backward function that anomaly mode reports for a NaN in the gradient of
    fn(*inputs) (a string such as "PowBackward0"), or None when the backward pass finishes without one."""
    torch.autograd.set_detect_anomaly(True)
    leaves = [t.detach().requires_grad_(True) for t in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(*leaves).backward()
        except RuntimeError as error:
            if "returned nan values" not in str(error):
                raise
            return str(error).split("'")[1]
    return None
''', "left anomaly mode switched on"),
    "softplus_repaired": ("calls torch.nn.functional.softplus instead of repairing the where", '''
def softplus_repaired(z):
    """softplus_by_hand's values (z where z > 20, log(1 + e^z) elsewhere), with a gradient that is never NaN."""
    return torch.nn.functional.softplus(z)
''', "torch.nn.functional.softplus"),
}

# solution grade_id -> (a further typical mistake, in words; the whole cell; words its failure message must
# contain): graded together, as one more submission, like the rule breaks.
MORE_MISTAKES = {
    "vjp_both_ways": ("vjp_by_backward works on the caller's x (requires_grad_ on it, returns x.grad)", '''
def vjp_by_backward(f, x, v):
    """Return v^T J_f(x) computed with .backward(v); x does not require grad, v has the shape of f(x)."""
    x.requires_grad_(True)
    f(x).backward(v)
    return x.grad


def vjp_by_grad(f, x, v):
    """Return v^T J_f(x) computed with torch.autograd.grad(..., grad_outputs=v), writing no .grad."""
    leaf = x.detach().requires_grad_(True)
    return torch.autograd.grad(f(leaf), leaf, grad_outputs=v)[0]
''', "changed the caller's x"),
    "jacobian_by_rows": ("never clears .grad between rows, so each row adds the rows before it", '''
def jacobian_by_rows(f, x):
    """Return the (m, n) Jacobian of f at x (1-D, shape (n,)), one VJP with a unit vector per row, one call to f."""
    leaf = x.detach().clone().requires_grad_(True)
    y = f(leaf)
    J = torch.empty(y.shape[0], x.shape[0], dtype=x.dtype)
    for i, unit in enumerate(torch.eye(y.shape[0], dtype=y.dtype)):
        y.backward(unit, retain_graph=True)
        J[i] = leaf.grad
    return J
''', ".grad accumulates across backward passes"),
    "nan_gradient_source": ("asks torch.autograd.grad for every input without allow_unused", '''
def nan_gradient_source(fn, *inputs):
    """Return the name of the backward function that anomaly mode reports for a NaN in the gradient of
    fn(*inputs) (a string such as "PowBackward0"), or None when the backward pass finishes without one."""
    leaves = [t.detach().requires_grad_(True) for t in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.autograd.detect_anomaly():
                torch.autograd.grad(fn(*leaves), leaves)
        except RuntimeError as error:
            if "returned nan values" not in str(error):
                raise
            return str(error).split("'")[1]
    return None
''', "allow_unused=True"),
}
