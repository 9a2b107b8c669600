"""Alternative correct answers and typical mistakes for 06_zero_grad: each replaces one whole solution cell."""

# solution grade_id -> another correct answer written differently (all of them together must score full marks)
ALTERNATIVES = {
    "grad_history": '''
def grad_history(loss_fn, w, k):
    """Return [w.grad after 1 call, after 2 calls, ..., after k calls] of loss_fn(w).backward(), never zeroed."""
    if w.grad is not None:
        w.grad = None
    snapshots = []
    while len(snapshots) < k:
        torch.autograd.backward(loss_fn(w))
        snapshots.append(w.grad.detach().clone())
    return snapshots
''',
    "accumulate_grads": '''
def accumulate_grads(model, loss_fn, x, y, k):
    """Accumulate the full-batch gradient of a mean-reduced loss over k micro-batches; return the grads."""
    for p in model.parameters():
        p.grad = None
    x_parts, y_parts = torch.tensor_split(x, k), torch.tensor_split(y, k)
    sizes = [part.shape[0] for part in x_parts]
    total = sum(sizes)
    for xb, yb, size in zip(x_parts, y_parts, sizes):
        loss = loss_fn(model(xb), yb)
        loss = loss * size / total
        loss.backward()
    return [p.grad.clone() for p in model.parameters()]
''',
    "grad_norms": '''
def grad_norms(model):
    """{name: norm of p.grad as a float (0.0 when p.grad is None)} for every named parameter of model."""
    norms = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            norms[name] = 0.0
        else:
            norms[name] = float(torch.linalg.vector_norm(p.grad.detach()))
    return norms
''',
    "freeze_and_make_optimizer": '''
def freeze_and_make_optimizer(model, base_lr, head_lr):
    """Freeze model[0]; return SGD over model[2] (lr=base_lr) and model[4] (lr=head_lr), momentum 0.9, wd 1e-2."""
    for p in model[0].parameters():
        p.requires_grad = False
        p.grad = None
    head_ids = {id(p) for p in model[4].parameters()}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    head = [p for p in model.parameters() if id(p) in head_ids]
    return torch.optim.SGD([dict(params=body, lr=base_lr, momentum=0.9, weight_decay=1e-2),
                            dict(params=head, lr=head_lr, momentum=0.9, weight_decay=1e-2)])
''',
    "tracking_predictions": '''
predictions = dict(a=True, b=False, c=True, d=True, e=False, f=False, g=False, h="error")
''',
    "evaluate": '''
def evaluate(model, x, y, batch_size):
    """Mean cross-entropy of model over all of (x, y) as a float; batched, no graph, eval mode, mode restored."""
    mode = model.training
    model.train(False)
    try:
        with torch.inference_mode():
            summed = sum(F.cross_entropy(model(x[i:i + batch_size]), y[i:i + batch_size], reduction="sum").item()
                         for i in range(0, len(x), batch_size))
    finally:
        model.train(mode)
    return summed / x.shape[0]
''',
    "backward_time_by_node": '''
def backward_time_by_node(step_fn):
    """Profile one call of step_fn; return {backward node name: (calls, total CPU microseconds)}."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as recorded:
        step_fn()
    found = {}
    for event in recorded.events():
        before, engine, node = event.name.partition("autograd::engine::evaluate_function: ")
        if engine and not before:
            calls, micros = found.get(node, (0, 0.0))
            found[node] = (calls + 1, micros + event.cpu_time_total)
    return found
''',
}

# solution grade_id -> (the mistake, in words; the whole cell with that mistake; words its failure message must contain)
MISTAKES = {
    "grad_history": ("stores w.grad itself, not a copy, so every entry is the same tensor updated in place", '''
def grad_history(loss_fn, w, k):
    """Return [w.grad after 1 call, after 2 calls, ..., after k calls] of loss_fn(w).backward(), never zeroed."""
    w.grad = None
    history = []
    for _ in range(k):
        loss_fn(w).backward()
        history.append(w.grad)
    return history
''', "clone"),
    "accumulate_grads": ("divides every micro-batch loss by k although the micro-batches have different sizes", '''
def accumulate_grads(model, loss_fn, x, y, k):
    """Accumulate the full-batch gradient of a mean-reduced loss over k micro-batches; return the grads."""
    model.zero_grad()
    for xb, yb in zip(torch.tensor_split(x, k), torch.tensor_split(y, k)):
        loss = loss_fn(model(xb), yb) / k
        loss.backward()
    return [p.grad for p in model.parameters()]
''', "different sizes"),
    "grad_norms": ("keeps the old p.grad.norm() call, which crashes once zero_grad() has set .grad to None", '''
def grad_norms(model):
    """{name: norm of p.grad as a float (0.0 when p.grad is None)} for every named parameter of model."""
    return {name: p.grad.norm().item() for name, p in model.named_parameters()}
''', "None"),
    "freeze_and_make_optimizer": ("freezes the layer but keeps it in the optimizer with its stale gradient, so weight "
                                  "decay moves it once zero_grad(set_to_none=False) turns that gradient into zeros", '''
def freeze_and_make_optimizer(model, base_lr, head_lr):
    """Freeze model[0]; return SGD over model[2] (lr=base_lr) and model[4] (lr=head_lr), momentum 0.9, wd 1e-2."""
    model[0].requires_grad_(False)
    body = list(model[0].parameters()) + list(model[2].parameters())
    return torch.optim.SGD([{"params": body}, {"params": model[4].parameters(), "lr": head_lr}],
                           lr=base_lr, momentum=0.9, weight_decay=1e-2)
''', "weight decay"),
    "tracking_predictions": ("believes model.eval() switches gradient tracking off", '''
predictions = {"a": False, "b": False, "c": True, "d": True, "e": False, "f": False, "g": False, "h": "error"}
''', "eval"),
    "evaluate": ("relies on model.eval() and forgets torch.no_grad(), so every batch builds a graph", '''
def evaluate(model, x, y, batch_size):
    """Mean cross-entropy of model over all of (x, y) as a float; batched, no graph, eval mode, mode restored."""
    was_training = model.training
    model.eval()
    total = 0.0
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        total += F.cross_entropy(model(xb), yb).item() * len(xb)
    model.train(was_training)
    return total / len(x)
''', "eval"),
    "backward_time_by_node": ("matches 'Backward' in the profiler's names and strips the engine's prefix, so every node "
                              "is counted twice: once for the engine's record and once for the node's own", '''
def backward_time_by_node(step_fn):
    """Profile one call of step_fn; return {backward node name: (calls, total CPU microseconds)}."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step_fn()
    nodes = {}
    for event in prof.key_averages():
        if "Backward" in event.key or "AccumulateGrad" in event.key:
            name = event.key.split(": ")[-1]
            calls, micros = nodes.get(name, (0, 0.0))
            nodes[name] = (calls + event.count, micros + event.cpu_time_total)
    return nodes
''', "twice"),
}

# solution grade_id -> (the rule broken, in words; a cell that gives right values but breaks the rule the exercise
# states; words its failure message must contain). Each loses exactly its own exercise's points.
RULE_BREAKS = {
    "backward_time_by_node": ("calls step_fn once more before profiling, as a warm-up, which takes a training step "
                              "nobody asked for", '''
def backward_time_by_node(step_fn):
    """Profile one call of step_fn; return {backward node name: (calls, total CPU microseconds)}."""
    engine_record = "autograd::engine::evaluate_function: "
    step_fn()                                   # warm-up, so that one-time costs stay out of the profile
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step_fn()
    return {event.key[len(engine_record):]: (event.count, event.cpu_time_total)
            for event in prof.key_averages() if event.key.startswith(engine_record)}
''', "exactly once"),
}
