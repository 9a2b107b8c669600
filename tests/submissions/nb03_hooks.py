"""Alternative correct answers and typical mistakes for 03_hooks: each replaces one whole solution cell."""

# solution grade_id -> another correct answer written differently (all of them together must score full marks)
ALTERNATIVES = {
    "intermediate_grads": '''
import functools


def intermediate_grads(forward, x):
    """Return {name: d loss / d named[name]} for ``loss, named = forward(x)``, collected with tensor hooks."""
    loss, named = forward(x)
    collected = {}

    def store(name, grad):
        collected[name] = grad.clone()

    handles = []
    try:
        for name, tensor in named.items():
            handles.append(tensor.register_hook(functools.partial(store, name)))
        loss.backward()
    finally:
        while handles:
            handles.pop().remove()
    return {name: collected[name] for name in named}
''',
    "clamp_hook": '''
def register_clamp_hook(t, c):
    """Clamp each element of the gradient arriving at ``t`` to [-c, c]; return the hook's handle."""
    def clip(grad):
        limit = torch.full_like(grad, c)
        return torch.minimum(torch.maximum(grad, -limit), limit)
    handle = t.register_hook(clip)
    return handle
''',
    "hook_predictions": '''
predictions = {"A": 6, "B": 60, "C": 13, "D": 0, "E": 1.0, "F": " Y "}
''',
    "layer_grad_norms": '''
def layer_grad_norms(model, x, loss_fn):
    """Norm of d loss / d (output of each nn.Linear in model.modules()), first layer first, as a 1-D tensor."""
    recorded = []
    handles = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            handles.append(module.register_full_backward_hook(
                lambda module, grad_input, grad_output: recorded.append(float(grad_output[0].norm()))))
    try:
        loss = loss_fn(model(x))
        loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    recorded.reverse()          # backward reaches the last layer first
    return torch.tensor(recorded)
''',
    "saved_tensor_stats": '''
def saved_tensor_stats(fn, *inputs):
    """Run fn(*inputs) counting the tensors autograd saves for backward; return (out, count, nbytes)."""
    sizes = []

    def pack(tensor):
        sizes.append(tensor.nelement() * tensor.element_size())
        return (tensor,)            # anything can be stored...

    def unpack(box):
        return box[0]               # ...as long as unpack gives the tensor back

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        out = fn(*inputs)
    return out, len(sizes), sum(sizes)
''',
    "checkpoint_predictions": '''
checkpoint_predictions = {"A": 2.0, "B": True, "C": True, "D": False}
''',
    "checkpointed_forward": '''
def checkpointed_forward(blocks, x, segment):
    """Run x through blocks in order, every `segment` consecutive blocks in one checkpoint (use_reentrant=False)."""
    blocks = list(blocks)
    groups = [nn.Sequential(*blocks[start:start + segment]) for start in range(0, len(blocks), segment)]
    for group in groups:            # each group is a module of its own: nothing for a later call to look up
        x = checkpoint(group, x, use_reentrant=False)
    return x
''',
}

# solution grade_id -> (the mistake, in words; the whole cell with that mistake; words its failure message must contain)
MISTAKES = {
    "intermediate_grads": ("registers the hooks but never removes them", '''
def intermediate_grads(forward, x):
    """Return {name: d loss / d named[name]} for ``loss, named = forward(x)``, collected with tensor hooks."""
    loss, named = forward(x)
    grads = {}
    for name, tensor in named.items():
        tensor.register_hook(lambda g, name=name: grads.update({name: g}))
    loss.backward()
    return grads
''', "still registered"),
    "clamp_hook": ("the hook clamps into a local variable and returns nothing, so the gradient is unchanged", '''
def register_clamp_hook(t, c):
    """Clamp each element of the gradient arriving at ``t`` to [-c, c]; return the hook's handle."""
    def hook(grad):
        grad = grad.clamp(-c, c)
    return t.register_hook(hook)
''', "returns None"),
    "hook_predictions": ("thinks the last-registered hook runs first, so C = (6 + 1) * 2", '''
predictions = {"A": 6.0, "B": 60.0, "C": 14.0, "D": 0.0, "E": 1, "F": "y"}
''', "order they were registered"),
    "layer_grad_norms": ("appends the norms in the order the hooks fire, i.e. last layer first", '''
def layer_grad_norms(model, x, loss_fn):
    """Norm of d loss / d (output of each nn.Linear in model.modules()), first layer first, as a 1-D tensor."""
    norms = []
    handles = [m.register_full_backward_hook(lambda m, gin, gout: norms.append(gout[0].norm()))
               for m in model.modules() if isinstance(m, torch.nn.Linear)]
    loss_fn(model(x)).backward()
    for handle in handles:
        handle.remove()
    return torch.stack(norms)
''', "wrong layer order"),
    "saved_tensor_stats": ("keeps the counters in a global dict, so they grow across calls", '''
stats = {"count": 0, "nbytes": 0}


def count_pack(t):
    stats["count"] += 1
    stats["nbytes"] += t.numel() * t.element_size()
    return t


def saved_tensor_stats(fn, *inputs):
    """Run fn(*inputs) counting the tensors autograd saves for backward; return (out, count, nbytes)."""
    with torch.autograd.graph.saved_tensors_hooks(count_pack, lambda t: t):
        out = fn(*inputs)
    return out, stats["count"], stats["nbytes"]
''', "across calls"),
    "checkpoint_predictions": ("thinks a checkpointed segment's forward runs once, A = 1", '''
checkpoint_predictions = {"A": 1, "B": True, "C": True, "D": False}
''', "rebuilds"),
    "checkpointed_forward": ("puts each block in a checkpoint of its own instead of every `segment` blocks in one", '''
def checkpointed_forward(blocks, x, segment):
    """Run x through blocks in order, every `segment` consecutive blocks in one checkpoint (use_reentrant=False)."""
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False)
    return x
''', "each block is in a checkpoint of its own"),
}

# solution grade_id -> (the rule broken, in words; a cell that gives right values but breaks the rule the exercise
# states; words its failure message must contain). Each loses exactly its own exercise's points.
RULE_BREAKS = {
    "clamp_hook": ("clamps the gradient it receives in place (clamp_) and returns it", '''
def register_clamp_hook(t, c):
    """Clamp each element of the gradient arriving at ``t`` to [-c, c]; return the hook's handle."""
    def clip(grad):
        return grad.clamp_(-c, c)
    return t.register_hook(clip)
''', "changed its argument in place"),
    "layer_grad_norms": ("records the outputs with forward hooks and asks torch.autograd.grad, no backward hooks", '''
def layer_grad_norms(model, x, loss_fn):
    """Norm of d loss / d (output of each nn.Linear in model.modules()), first layer first, as a 1-D tensor."""
    outputs = []
    handles = [m.register_forward_hook(lambda module, args, output: outputs.append(output))
               for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        loss = loss_fn(model(x))
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack([g.norm() for g in torch.autograd.grad(loss, outputs)])
''', "register_full_backward_hook"),
    "checkpointed_forward": ("uses the reentrant checkpoint, and makes the input require grad so that it works", '''
def checkpointed_forward(blocks, x, segment):
    """Run x through blocks in order, every `segment` consecutive blocks in one checkpoint (use_reentrant=False)."""
    h = x if x.requires_grad else x.detach().requires_grad_()
    for start in range(0, len(blocks), segment):
        h = checkpoint(run_blocks, blocks[start:start + segment], h, use_reentrant=True)
    return h
''', "use_reentrant=False"),
}
