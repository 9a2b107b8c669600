"""Alternative correct answers and typical mistakes for 07_build_your_own_autograd: each replaces one whole solution cell."""

# solution grade_id -> another correct answer written differently (all of them together must score full marks)
ALTERNATIVES = {
    "manual_pass_predictions": '''
predictions = {"twice: a.grad": 4, "twice: b.grad": 2}
predictions.update({"assign: a.grad": 1.0, "assign: b.grad": 1})
predictions["wrong order: a.grad"], predictions["wrong order: b.grad"] = 1, 0.0
''',
    "local_rules": '''
def mul(a, b):
    out = Value(a.data * b.data, parents=[a, b], op="*")

    def _backward():
        da, db = b.data, a.data           # read before adding: a and b may be the same Value
        a.grad = a.grad + da * out.grad
        b.grad = b.grad + db * out.grad

    out._backward = _backward
    return out


def power(a, k):
    slope = k * a.data ** (k - 1)         # the local derivative, computed once in the forward pass
    out = Value(a.data ** k, [a], f"**{k}")

    def _backward():
        a.grad += slope * out.grad

    out._backward = _backward
    return out


def exp(a):
    out = Value(math.e ** a.data, [a], "exp")

    def _backward():
        a.grad += math.exp(a.data) * out.grad

    out._backward = _backward
    return out


def tanh(a):
    t = 1 - 2 / (math.exp(2 * a.data) + 1)
    out = Value(t, [a], "tanh")

    def _backward():
        a.grad += (1 - t) * (1 + t) * out.grad

    out._backward = _backward
    return out
''',
    "backprop": '''
def backprop(root):
    """Kahn's algorithm, as PyTorch's engine does it: a node runs once every edge from above has delivered."""
    waiting, nodes, stack = {}, {}, [root]
    while stack:
        node = stack.pop()
        if id(node) in nodes:
            continue
        nodes[id(node)] = node
        for parent in node.parents:
            waiting[id(parent)] = waiting.get(id(parent), 0) + 1
            stack.append(parent)
    root.grad = 1.0
    ready = [root]
    while ready:
        node = ready.pop()
        node._backward()
        for parent in node.parents:
            waiting[id(parent)] -= 1
            if waiting[id(parent)] == 0:
                ready.append(parent)
''',
    "unbroadcast": '''
def unbroadcast(grad, shape):
    out = np.array(grad, dtype=float)
    while out.ndim > len(shape):
        out = out.sum(axis=0)
    for axis in range(out.ndim):
        if shape[axis] == 1:
            out = out.sum(axis=axis, keepdims=True)
    return out.reshape(shape)
''',
    "array_ops": '''
def array_mul(a, b):
    out = Array(np.multiply(a.data, b.data), parents=(a, b), op="*")

    def _backward():
        for node, other in ((a, b), (b, a)):
            node.grad = node.grad + unbroadcast(np.multiply(out.grad, other.data), node.shape)

    out._backward = _backward
    return out


def array_matmul(a, b):
    out = Array(np.einsum("ik,kj->ij", a.data, b.data), (a, b), "@")

    def _backward():
        a.grad += np.einsum("ij,kj->ik", out.grad, b.data)
        b.grad += np.einsum("ik,ij->kj", a.data, out.grad)

    out._backward = _backward
    return out


def array_sum(a, axis=None, keepdims=False):
    out = Array(np.sum(a.data, axis=axis, keepdims=keepdims), (a,), "sum")

    def _backward():
        grad = np.asarray(out.grad)
        if axis is not None and not keepdims:
            grad = grad.reshape([1 if d == axis % a.data.ndim else n for d, n in enumerate(a.shape)])
        a.grad += np.ones_like(a.data) * grad

    out._backward = _backward
    return out
''',
    "sgd_step": '''
def sgd_step(params, closure, lr):
    for p in params:
        p.grad = np.full(p.data.shape, 0.0)
    loss = closure()
    loss.backward()
    for p in params:
        p.data = p.data - lr * p.grad
    return loss.data.item()
''',
}

# solution grade_id -> (the mistake, in words; the whole cell with that mistake; words its failure message must contain)
MISTAKES = {
    "manual_pass_predictions": ("thinks the order of the closures does not matter", '''
predictions = {"assign: a.grad": 1.0, "assign: b.grad": 1.0, "wrong order: a.grad": 2.0, "wrong order: b.grad": 1.0,
               "twice: a.grad": 4.0, "twice: b.grad": 2.0}
''', "wrong order"),
    "local_rules": ("the closure of mul assigns into .grad instead of adding", '''
def mul(a, b):
    out = Value(a.data * b.data, (a, b), "*")

    def _backward():
        a.grad = out.grad * b.data
        b.grad = out.grad * a.data

    out._backward = _backward
    return out


def power(a, k):
    out = Value(a.data ** k, (a,), f"**{k}")

    def _backward():
        a.grad += out.grad * k * a.data ** (k - 1)

    out._backward = _backward
    return out


def exp(a):
    out = Value(math.exp(a.data), (a,), "exp")

    def _backward():
        a.grad += out.grad * out.data

    out._backward = _backward
    return out


def tanh(a):
    out = Value(math.tanh(a.data), (a,), "tanh")

    def _backward():
        a.grad += out.grad * (1 - out.data ** 2)

    out._backward = _backward
    return out
''', "instead of adding"),
    "backprop": ("sorts without remembering visited nodes, so a shared node runs more than once", '''
def backprop(root):
    order = []

    def visit(node):
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    root.grad = 1.0
    for node in reversed(order):
        node._backward()
''', "ran the closure of c 3 times"),
    "unbroadcast": ("sums the leading axes but not the stretched axes of size 1", '''
def unbroadcast(grad, shape):
    grad = np.asarray(grad, dtype=np.float64)
    extra = grad.ndim - len(shape)
    return grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
''', "not the axes where shape has size 1"),
    "array_ops": ("array_mul adds the broadcast-shaped gradient without unbroadcast", '''
def array_mul(a, b):
    out = Array(a.data * b.data, (a, b), "*")

    def _backward():
        a.grad += out.grad * b.data
        b.grad += out.grad * a.data

    out._backward = _backward
    return out


def array_matmul(a, b):
    out = Array(a.data @ b.data, (a, b), "@")

    def _backward():
        a.grad += out.grad @ b.data.T
        b.grad += a.data.T @ out.grad

    out._backward = _backward
    return out


def array_sum(a, axis=None, keepdims=False):
    out = Array(a.data.sum(axis=axis, keepdims=keepdims), (a,), "sum")

    def _backward():
        grad = out.grad
        if axis is not None and not keepdims:
            grad = np.expand_dims(grad, axis)
        a.grad += np.broadcast_to(grad, a.shape)

    out._backward = _backward
    return out
''', "with unbroadcast"),
    "sgd_step": ("never resets the gradients between steps", '''
def sgd_step(params, closure, lr):
    loss = closure()
    loss.backward()
    for p in params:
        p.data -= lr * p.grad
    return float(loss.data)
''', "not reset"),
}
