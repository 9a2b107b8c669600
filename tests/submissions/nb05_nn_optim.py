"""Alternative correct answers and typical mistakes for 05_nn_optim: each replaces one whole solution cell."""

# solution grade_id -> another correct answer written differently (all of them together must score full marks)
ALTERNATIVES = {
    "numpy_backward": '''
def numpy_backward(params, cache, y):
    """Gradients of the mean cross-entropy of the two-layer net, as a dict of NumPy arrays."""
    x, h, p = cache["x"], cache["h"], cache["p"]
    n, c = p.shape
    one_hot = np.eye(c)[y]
    d_logits = (p - one_hot) / n
    d_hidden = np.dot(d_logits, params["W2"].transpose()) * (1 - np.square(h))
    return {
        "W2": np.einsum("nh,nc->hc", h, d_logits),
        "b2": np.einsum("nc->c", d_logits),
        "W1": np.einsum("nd,nh->dh", x, d_hidden),
        "b1": d_hidden.sum(axis=0),
    }
''',
    "torch_backward": '''
def torch_backward(params, cache, y):
    """Gradients of the mean cross-entropy of the two-layer net, computed by hand with torch."""
    x, h, p = cache["x"], cache["h"], cache["p"]
    d_logits = (p - torch.nn.functional.one_hot(y, p.shape[1]).to(p.dtype)) / len(y)
    d_z = torch.mm(d_logits, params["W2"].t()) * (1 - h * h)
    grads = {}
    grads["W2"] = torch.mm(h.t(), d_logits)
    grads["b2"] = d_logits.sum(0)
    grads["W1"] = torch.mm(x.t(), d_z)
    grads["b1"] = d_z.sum(0)
    return grads
''',
    "update_predictions": '''
update_predictions = dict()
update_predictions["w -= lr * w.grad raises an error"] = True
update_predictions["w = w - lr * w.grad leaves w a leaf"] = False
update_predictions["in-place update under no_grad leaves w a leaf"] = True
update_predictions["the update clears w.grad"] = False
''',
    "sgd_step_by_hand": '''
def sgd_step_by_hand(model, loss_fn, x, y, lr):
    """One plain gradient-descent step on model's parameters; returns the loss before the step."""
    params = list(model.parameters())
    for p in params:
        p.grad = None
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.add_(g, alpha=-lr)
    return float(loss)
''',
    "call_predictions": '''
call_predictions = {"probe(x) runs the hook": True, "probe.forward(x) runs the hook": False,
                    "len(list(probe.parameters()))": 1 + 1}
''',
    "repeated_linear": '''
class RepeatedLinear(nn.Module):
    """One Linear(features, features), applied k times with tanh; k is chosen per call."""

    def __init__(self, features):
        super().__init__()
        self.add_module("layer", nn.Linear(features, features))

    def forward(self, x, k):
        if k == 0:
            return x
        return self.forward(F.linear(x, self.layer.weight, self.layer.bias).tanh(), k - 1)
''',
    "momentum_sgd": '''
class MomentumSGD(torch.optim.Optimizer):
    """SGD with momentum, weight decay and optional Nesterov, like torch.optim.SGD with dampening=0."""

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0, nesterov=False):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        """Update every parameter that has a gradient, once."""
        for group in self.param_groups:
            for p in (q for q in group["params"] if q.grad is not None):
                d_p = p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                buf = state.setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(group["momentum"]).add_(d_p)        # a zero start gives buf = d_p on step 1
                if group["nesterov"]:
                    d_p = d_p.add(buf, alpha=group["momentum"])
                else:
                    d_p = buf
                p.add_(d_p, alpha=-group["lr"])
''',
}

# solution grade_id -> (the mistake, in words; the whole cell with that mistake; words its failure message must contain)
MISTAKES = {
    "numpy_backward": ("forgets the 1/n of the batch mean in the gradient of the logits", '''
def numpy_backward(params, cache, y):
    """Gradients of the mean cross-entropy of the two-layer net, as a dict of NumPy arrays."""
    x, h, p = cache["x"], cache["h"], cache["p"]
    g_s = p.copy()
    g_s[np.arange(len(y)), y] -= 1.0
    g_h = g_s @ params["W2"].T
    g_z = g_h * (1.0 - h ** 2)
    return {"W1": x.T @ g_z, "b1": g_z.sum(axis=0), "W2": h.T @ g_s, "b2": g_s.sum(axis=0)}
''', "batch size"),
    "torch_backward": ("lets autograd do the work: rebuilds the forward with requires_grad and calls backward", '''
def torch_backward(params, cache, y):
    """Gradients of the mean cross-entropy of the two-layer net, computed by hand with torch."""
    leaves = {name: value.detach().clone().requires_grad_() for name, value in params.items()}
    h = torch.tanh(cache["x"] @ leaves["W1"] + leaves["b1"])
    loss = F.cross_entropy(h @ leaves["W2"] + leaves["b2"], y)
    loss.backward()
    return {name: leaf.grad for name, leaf in leaves.items()}
''', "used autograd"),
    "update_predictions": ("believes the optimizer-style update also clears the gradient", '''
update_predictions = {
    "w -= lr * w.grad raises an error": True,
    "w = w - lr * w.grad leaves w a leaf": False,
    "in-place update under no_grad leaves w a leaf": True,
    "the update clears w.grad": True,
}
''', "the update clears w.grad"),
    "sgd_step_by_hand": ("updates the parameters in place outside torch.no_grad()", '''
def sgd_step_by_hand(model, loss_fn, x, y, lr):
    """One plain gradient-descent step on model's parameters; returns the loss before the step."""
    model.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    for p in model.parameters():
        p -= lr * p.grad
    return loss.item()
''', "no_grad"),
    "call_predictions": ("counts the plain tensor attribute and the listed Linear as parameters", '''
call_predictions = {
    "probe(x) runs the hook": True,
    "probe.forward(x) runs the hook": False,
    "len(list(probe.parameters()))": 5,
}
''', "not registered"),
    "repeated_linear": ("makes one Linear per step (a ModuleList), so nothing is shared", '''
class RepeatedLinear(nn.Module):
    """One Linear(features, features), applied k times with tanh; k is chosen per call."""

    def __init__(self, features):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(features, features) for _ in range(8)])

    def forward(self, x, k):
        for layer in self.layers[:k]:
            x = torch.tanh(layer(x))
        return x
''', "reuse it"),
    "momentum_sgd": ("keeps the momentum buffer in a local variable, so it restarts every step", '''
class MomentumSGD(torch.optim.Optimizer):
    """SGD with momentum, weight decay and optional Nesterov, like torch.optim.SGD with dampening=0."""

    def __init__(self, params, lr=0.01, momentum=0.9, weight_decay=0.0, nesterov=False):
        defaults = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        """Update every parameter that has a gradient, once."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                buf = torch.zeros_like(p)
                buf = group["momentum"] * buf + g
                if group["nesterov"]:
                    p -= group["lr"] * (g + group["momentum"] * buf)
                else:
                    p -= group["lr"] * buf
''', "self.state"),
}

# solution grade_id -> (the rule broken, in words; a cell that gives right values but breaks the rule the exercise
# states; words its failure message must contain). Each loses exactly its own exercise's points.
RULE_BREAKS = {
    "numpy_backward": ("lets torch's autograd compute the gradients and converts them to NumPy", '''
def numpy_backward(params, cache, y):
    """Gradients of the mean cross-entropy of the two-layer net, as a dict of NumPy arrays."""
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    hidden = torch.tanh(torch.tensor(cache["x"]) @ leaves["W1"] + leaves["b1"])
    F.cross_entropy(hidden @ leaves["W2"] + leaves["b2"], torch.tensor(y)).backward()
    return {k: v.grad.numpy() for k, v in leaves.items()}
''', "used autograd"),
}
