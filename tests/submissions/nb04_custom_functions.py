"""Alternative correct answers and typical mistakes for 04_custom_functions: each replaces one whole solution cell."""

# solution grade_id -> another correct answer written differently (all of them together must score full marks)
ALTERNATIVES = {
    "predict_apply": '''
predictions = dict()
predictions["grad enabled inside forward"] = False   # apply turns grad mode off around forward
predictions["ctx is y.grad_fn"] = True               # the context is the SpyBackward node
predictions["requires_grad without grad inputs"] = False
''',
    "leaky_relu": '''
class LeakyReLUFn(Function):
    """Leaky ReLU with negative slope 0.1; saves only the mask it needs."""

    @staticmethod
    def forward(ctx, x):
        positive = x > 0
        ctx.save_for_backward(positive)
        return x * torch.where(positive, 1.0, 0.1).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (positive,) = ctx.saved_tensors
        slope = positive.to(grad_output.dtype) * 0.9 + 0.1
        return grad_output * slope


class LeakyReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.fn = LeakyReLUFn

    def forward(self, x):
        return self.fn.apply(x)
''',
    "elu": '''
class ELUFn(Function):
    """Saves the output: for x <= 0 the derivative alpha * exp(x) equals y + alpha."""

    @staticmethod
    def forward(ctx, x, alpha):
        y = torch.where(x > 0, x, alpha * (torch.exp(x) - 1))
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.where(x > 0, grad_output, grad_output * (y + ctx.alpha))
        return grad_x, None
''',
    "predict_checks": '''
predictions = {
    "float32 passes": not True,
    "catches ignored grad_output": True,
    "relu at 0 passes": bool(0),
}
''',
    "prelu": '''
class PReLUFn(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x, alpha)
        return x.clamp(min=0) + alpha * x.clamp(max=0)

    @staticmethod
    def backward(ctx, grad_output):
        x, alpha = ctx.saved_tensors
        grad_x = grad_alpha = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_output * torch.where(x > 0, torch.ones_like(alpha), alpha)
        if ctx.needs_input_grad[1]:
            grad_alpha = (grad_output * x.clamp(max=0)).sum_to_size(alpha.shape)
        return grad_x, grad_alpha


class PReLU(nn.Module):
    def __init__(self, num_features, init=0.25):
        super().__init__()
        self.register_parameter("alpha", nn.Parameter(torch.ones(num_features) * init))

    def forward(self, x):
        return PReLUFn.apply(x, self.alpha)
''',
    "silu": '''
class SiLUFn(Function):
    @staticmethod
    def forward(ctx, x):
        y = x * torch.sigmoid(x)
        ctx.save_for_backward(x, y)        # an input and the output: both stay differentiable
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * (s + y * (1 - s))
''',
    "sign_ste": '''
class SignSTE(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sign()

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output.masked_fill(x.abs() > 1, 0.0)
''',
    "bug_grad_output": '''
class SoftplusFixed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.softplus(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / (1 + torch.exp(-x))
''',
    "bug_precedence": '''
class PolyFixed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 3 * x ** 2 + 2 * x + 1

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 6 * x * grad_output + 2 * grad_output
''',
    "bug_inplace": '''
class XExpFixed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        out = x.clone()
        return out.mul_(torch.exp(x))   # in place on a fresh copy: x itself is untouched

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (1 + x) * torch.exp(x)
''',
    "hardtanh_in_place": '''
class HardtanhInPlace(Function):
    """Saves the mask it needs, computed before x is overwritten."""

    @staticmethod
    def forward(ctx, x):
        inside = (x > -1) & (x < 1)
        ctx.save_for_backward(inside)
        torch.nn.functional.hardtanh_(x)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output.masked_fill(~inside, 0.0)
''',
    "predict_no_grad_outputs": '''
predictions = dict.fromkeys(["unmarked indices require grad", "unmarked mask requires grad"], False)
predictions["unmarked mask requires grad"] = True    # a float output counts as differentiable until it is marked
predictions["grad for the marked mask"] = "Zeros"
''',
    "softsign_func": '''
class SoftsignFn(Function):
    """Saves the output: 1 / (1 + |x|) = 1 - |y|."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x / (x.abs() + 1)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * torch.square(1 - y.abs())
''',
}

# solution grade_id -> (the mistake, in words; the whole cell with that mistake; words its failure message must contain)
MISTAKES = {
    "predict_apply": ("thinks autograd records the operations inside forward", '''
predictions = {"grad enabled inside forward": True, "ctx is y.grad_fn": True, "requires_grad without grad inputs": False}
''', "grad enabled inside forward"),
    "leaky_relu": ("backward returns the local slope and ignores grad_output", '''
class LeakyReLUFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, 0.1 * x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, torch.ones_like(x), 0.1 * torch.ones_like(x))


class LeakyReLU(nn.Module):
    def forward(self, x):
        return LeakyReLUFn.apply(x)
''', "grad_output was ignored"),
    "elu": ("backward returns only the gradient for x, nothing for the float alpha", '''
class ELUFn(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return torch.where(x > 0, x, alpha * (torch.exp(x) - 1))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.where(x > 0, torch.ones_like(x), ctx.alpha * torch.exp(x))
''', "its gradient is None"),
    "predict_checks": ("expects gradcheck to pass in float32 for a correct backward", '''
predictions = {"float32 passes": True, "catches ignored grad_output": True, "relu at 0 passes": False}
''', "float32"),
    "prelu": ("returns the alpha gradient with the shape of x (never reduced over the batch)", '''
class PReLUFn(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x, alpha)
        return torch.where(x > 0, x, alpha * x)

    @staticmethod
    def backward(ctx, grad_output):
        x, alpha = ctx.saved_tensors
        grad_x = grad_alpha = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.where(x > 0, grad_output, alpha * grad_output)
        if ctx.needs_input_grad[1]:
            grad_alpha = torch.where(x > 0, torch.zeros_like(x), grad_output * x)
        return grad_x, grad_alpha


class PReLU(nn.Module):
    def __init__(self, num_features, init=0.25):
        super().__init__()
        self.alpha = nn.Parameter(torch.full((num_features,), float(init)))

    def forward(self, x):
        return PReLUFn.apply(x, self.alpha)
''', "not reduced over the broadcast"),
    "silu": ("decorates the backward with once_differentiable", '''
class SiLUFn(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * s * (1 + x * (1 - s))
''', "once_differentiable"),
    "sign_ste": ("passes the gradient straight through everywhere, without clipping", '''
class SignSTE(Function):
    @staticmethod
    def forward(ctx, x):
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
''', "not clipped"),
    "bug_grad_output": ("copies the buggy backward unchanged: grad_output is still ignored", '''
class SoftplusFixed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.softplus(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.sigmoid(x)
''', "grad_output was ignored"),
    "bug_precedence": ("reorders the product but keeps the precedence slip", '''
class PolyFixed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 3 * x ** 2 + 2 * x + 1

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return 6 * x * grad_output + 2
''', "precedence"),
    "bug_inplace": ("keeps the in-place multiplication of the saved input", '''
class XExpFixed(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        x *= torch.exp(x)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (1 + x) * torch.exp(x)
''', "in place"),
    "hardtanh_in_place": ("clamps x in place but forgets ctx.mark_dirty(x)", '''
class HardtanhInPlace(Function):
    @staticmethod
    def forward(ctx, x):
        x.clamp_(-1, 1)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (y.abs() < 1).to(grad_output.dtype)
''', "mark_dirty"),
    "predict_no_grad_outputs": ("thinks a float output that forward did not mark needs no gradient", '''
predictions = {"unmarked indices require grad": False, "unmarked mask requires grad": False, "grad for the marked mask": "zeros"}
''', "unmarked mask requires grad"),
    "softsign_func": ("writes the setup_context form but forgets generate_vmap_rule, so vmap refuses it", '''
class SoftsignFn(Function):
    @staticmethod
    def forward(x):
        return x / (1 + x.abs())

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / (1 + x.abs()) ** 2
''', "generate_vmap_rule"),
}

# solution grade_id -> (the rule broken, in words; a cell that gives right values but breaks the rule the exercise
# states; words its failure message must contain). Each loses exactly its own exercise's points.
RULE_BREAKS = {
    "hardtanh_in_place": ("returns a new clamped tensor instead of changing x in place", '''
class HardtanhInPlace(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.clamp(-1, 1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * ((y > -1) & (y < 1)).to(grad_output.dtype)
''', "in place"),
    "softsign_func": ("keeps the classic forward(ctx, x), with no setup_context", '''
class SoftsignFn(Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x / (1 + x.abs())

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / (1 + x.abs()) ** 2
''', "setup_context"),
}
