"""Alternative correct answers and typical mistakes for 08_forward_mode_and_torch_func: each replaces one whole solution cell."""

# solution grade_id -> another correct answer written differently (all of them together must score full marks)
ALTERNATIVES = {
    "jvp_with_duals": '''
def jvp_with_duals(f, x, v):
    with fwAD.dual_level():
        out = fwAD.unpack_dual(f(fwAD.make_dual(x, v)))
        return out.primal.clone(), out.tangent.clone()
''',
    "mode_predictions": '''
predictions = dict(zip(["network loss", "simulation", "elementwise"], ["reverse", "forward", "either"]))
''',
    "jacobian_by_columns": '''
def jacobian_by_columns(f, x):
    def column(unit):
        return jvp(f, (x,), (unit,))[1]
    # All the columns in one vectorized forward pass; out_dims=1 lays them side by side.
    return vmap(column, out_dims=1)(torch.eye(x.numel(), dtype=x.dtype))
''',
    "hvp_forward_over_reverse": '''
def hvp_forward_over_reverse(f, x, v):
    # Reverse over forward: the gradient of the directional derivative grad f . v is H v as well.
    return grad(lambda t: jvp(f, (t,), (v,))[1])(x)
''',
    "grads_loss_and_accuracy": '''
def grads_loss_and_accuracy(model, w, b, x, labels):
    from torch.func import grad_and_value

    def loss_and_logits(w, b):
        logits = model(w, b, x)
        return F.cross_entropy(logits, labels), logits

    (grad_w, grad_b), (loss, logits) = grad_and_value(loss_and_logits, argnums=(0, 1), has_aux=True)(w, b)
    right = logits.argmax(1).eq(labels).sum()
    return grad_w, grad_b, loss, right / torch.tensor(len(labels), dtype=logits.dtype)
''',
    "per_sample_grads": '''
def per_sample_grads(model, loss_fn, x, y):
    names = [name for name, _ in model.named_parameters()]
    values = tuple(p.detach() for _, p in model.named_parameters())

    def loss_of_one(values, x_i, y_i):
        outputs = functional_call(model, dict(zip(names, values)), (x_i[None],))
        return loss_fn(outputs, y_i[None])

    grads = vmap(grad(loss_of_one), in_dims=(None, 0, 0))(values, x, y)
    return dict(zip(names, grads))
''',
    "ensemble_outputs": '''
def ensemble_outputs(models, x):
    from torch.func import stack_module_state

    params, buffers = stack_module_state(models)
    return vmap(lambda p, b: functional_call(models[0], {**p, **b}, x), in_dims=(0, 0))(params, buffers)
''',
    "many_vjps": '''
def many_vjps(f, x, cotangents):
    from torch.func import vjp

    _, pullback = vjp(f, x)
    return torch.stack([pullback(u)[0] for u in cotangents])
''',
    "softsign_function": '''
class Softsign(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x / (1 + x.abs())

    @staticmethod
    def setup_context(ctx, inputs, output):
        # Save 1 + |x|, which both derivatives square.
        (x,) = inputs
        denominator = 1 + x.abs()
        ctx.save_for_backward(denominator)
        ctx.save_for_forward(denominator)

    @staticmethod
    def backward(ctx, grad_output):
        (denominator,) = ctx.saved_tensors
        return grad_output * denominator.pow(-2)

    @staticmethod
    def jvp(ctx, x_tangent):
        (denominator,) = ctx.saved_tensors
        return x_tangent * denominator.pow(-2)
''',
    "per_sample_grads_with_dropout": '''
def per_sample_grads_with_dropout(model, loss_fn, x, y):
    names = [name for name, _ in model.named_parameters()]
    values = tuple(p.detach() for _, p in model.named_parameters())

    def loss_of_one(values, x_i, y_i):
        return loss_fn(functional_call(model, dict(zip(names, values)), (x_i[None],)), y_i[None])

    per_sample = vmap(grad(loss_of_one), in_dims=(None, 0, 0), randomness="different")
    return dict(zip(names, per_sample(values, x, y)))
''',
}

# solution grade_id -> (the mistake, in words; the whole cell with that mistake; words its failure message must contain)
MISTAKES = {
    "jvp_with_duals": ("unpacks the output after the dual level has ended", '''
def jvp_with_duals(f, x, v):
    with fwAD.dual_level():
        y = f(fwAD.make_dual(x, v))
    return fwAD.unpack_dual(y)
''', "inside the block"),
    "mode_predictions": ("thinks an elementwise function needs one forward pass per input", '''
predictions = {"network loss": "reverse", "simulation": "forward", "elementwise": "forward"}
''', "diagonal Jacobian"),
    "jacobian_by_columns": ("stacks the columns as rows", '''
def jacobian_by_columns(f, x):
    columns = []
    for j in range(len(x)):
        unit = torch.zeros_like(x)
        unit[j] = 1.0
        columns.append(jvp(f, (x,), (unit,))[1])
    return torch.stack(columns)
''', "transposed"),
    "hvp_forward_over_reverse": ("takes the JVP of f instead of grad(f)", '''
def hvp_forward_over_reverse(f, x, v):
    return jvp(f, (x,), (v,))[1]
''', "directional derivative"),
    "grads_loss_and_accuracy": ("runs the model a second time for the loss and the accuracy", '''
def grads_loss_and_accuracy(model, w, b, x, labels):
    grad_w, grad_b = grad(lambda w, b: F.cross_entropy(model(w, b, x), labels), argnums=(0, 1))(w, b)
    logits = model(w, b, x)
    return grad_w, grad_b, F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()
''', "model ran 2 times"),
    "ensemble_outputs": ("calls each model in a loop and stacks the outputs", '''
def ensemble_outputs(models, x):
    return torch.stack([model(x) for model in models])
''', "ran 3 times for 3 models"),
    "many_vjps": ("calls torch.func.vjp, and so f, once per cotangent", '''
def many_vjps(f, x, cotangents):
    from torch.func import vjp

    return torch.stack([vjp(f, x)[1](u)[0] for u in cotangents])
''', "f ran 4 times for 4 cotangents"),
    "softsign_function": ("saves x for backward only, so jvp finds nothing in ctx.saved_tensors", '''
class Softsign(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x / (1 + x.abs())

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / (1 + x.abs()) ** 2

    @staticmethod
    def jvp(ctx, x_tangent):
        (x,) = ctx.saved_tensors
        return x_tangent / (1 + x.abs()) ** 2
''', "save_for_forward"),
    "per_sample_grads_with_dropout": ("lets vmap draw one dropout mask for the whole batch", '''
def per_sample_grads_with_dropout(model, loss_fn, x, y):
    params = {name: p.detach() for name, p in model.named_parameters()}

    def one_sample_loss(params, x_i, y_i):
        return loss_fn(functional_call(model, params, (x_i.unsqueeze(0),)), y_i.unsqueeze(0))

    return vmap(grad(one_sample_loss), in_dims=(None, 0, 0), randomness="same")(params, x, y)
''', "same dropout mask"),
    "per_sample_grads": ("differentiates the batch loss without vmap", '''
def per_sample_grads(model, loss_fn, x, y):
    params = {name: p.detach() for name, p in model.named_parameters()}

    def batch_loss(params):
        return loss_fn(functional_call(model, params, (x,)), y)

    return grad(batch_loss)(params)
''', "whole batch"),
}

# solution grade_id -> (a further typical mistake, in words; the whole cell; words its failure message must
# contain): graded together, as one more submission.
MORE_MISTAKES = {
    "per_sample_grads": ("maps every argument of vmap over dim 0, the parameters included", '''
def per_sample_grads(model, loss_fn, x, y):
    names = [name for name, _ in model.named_parameters()]
    values = tuple(p.detach() for _, p in model.named_parameters())

    def loss_of_one(values, x_i, y_i):
        outputs = functional_call(model, dict(zip(names, values)), (x_i[None],))
        return loss_fn(outputs, y_i[None])

    grads = vmap(grad(loss_of_one), in_dims=(0, 0, 0))(values, x, y)
    return dict(zip(names, grads))
''', "in_dims None"),
    "softsign_function": ("returns the derivative from jvp without multiplying by the tangent", '''
class Softsign(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x / (1 + x.abs())

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / (1 + x.abs()) ** 2

    @staticmethod
    def jvp(ctx, x_tangent):
        (x,) = ctx.saved_tensors
        return 1 / (1 + x.abs()) ** 2
''', "without multiplying by the tangent"),
    "per_sample_grads_with_dropout": ("leaves vmap's randomness at its default, which refuses dropout", '''
def per_sample_grads_with_dropout(model, loss_fn, x, y):
    params = {name: p.detach() for name, p in model.named_parameters()}

    def one_sample_loss(params, x_i, y_i):
        return loss_fn(functional_call(model, params, (x_i.unsqueeze(0),)), y_i.unsqueeze(0))

    return vmap(grad(one_sample_loss), in_dims=(None, 0, 0))(params, x, y)
''', "randomness='different'"),
}
