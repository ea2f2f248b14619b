# xcompat adapter: what a checkpoint of one x-transformers release needs of
# another release's model to compute as it did. Needs only torch.
#
# Where the newer release's classes have no place for a tensor of the older
# one (a LayerNorm bias, a logits bias), `xcompat convert --adapter
# adapter.py` keeps the tensor and writes this file with ADAPTERS filled in.
# Build the model in the new release as you always do, then:
#
#     import adapter
#     adapter.adapt(model)
#     model.load_state_dict(converted_state_dict, strict=True)
#
# `xcompat.adapt(model, report)` and `xcompat.load_state_dict` run the same
# code from the installed package. The adapters are the release history's
# (matrix/history.toml, `adapters`), a closed vocabulary:
#
#   output_bias   the module gains a parameter `xcompat_output_bias`, added
#                 to its output (restores a bias the newer class dropped)
#   layer_norm    the norm module (an RMSNorm or ScaleNorm) computes a
#                 LayerNorm instead, with parameters `xcompat_layer_norm_weight`
#                 and `xcompat_layer_norm_bias` (the older release's final
#                 norm was always a LayerNorm)
#   rotate_values the attention module rotates its values with the rotary
#                 embedding it rotates its keys with (releases before 1.20.0
#                 did; 2.x has no argument for it); no parameter
#   identity      the module returns its input (a norm the older release
#                 did not have); no parameter
#   uniform_padded_queries
#                 the attention's output at padded query positions is what
#                 releases before 1.4.0 computed there: uniform attention
#                 over every key (the values' mean), projected out
#
# adapt() is idempotent, and registers nothing but parameters and forward
# hooks: the model's own code and classes stay the new release's. Save the
# adapted model's state dict and it holds the adapter's tensors too; call
# adapt() again after building the model to load it.
import torch

# Filled in by `xcompat convert --adapter`: (module, kind, shape, change),
# the module as the converted checkpoint names it.
ADAPTERS = []
FROM, TO = "", ""

OUTPUT_BIAS = "xcompat_output_bias"


def _add_output_bias(module, _args, output):
    return output + getattr(module, OUTPUT_BIAS)


def _output_bias(module, shape):
    if OUTPUT_BIAS in module._parameters:
        return  # adapted already
    like = next(iter(module.parameters(recurse=False)), None)
    if like is None:
        like = next(iter(module.buffers(recurse=False)), None)
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    module.register_parameter(OUTPUT_BIAS, torch.nn.Parameter(torch.zeros(tuple(shape), dtype=dtype, device=device)))
    module.register_forward_hook(_add_output_bias)


LAYER_NORM = "xcompat_layer_norm_"


def _as_layer_norm(module, args, _output):
    x = args[0]
    weight, bias = getattr(module, LAYER_NORM + "weight"), getattr(module, LAYER_NORM + "bias")
    # nn.LayerNorm(dim) as the older release built it: eps 1e-5.
    return torch.nn.functional.layer_norm(x, weight.shape, weight, bias, 1e-5)


def _layer_norm(module, shape):
    if LAYER_NORM + "weight" in module._parameters:
        return  # adapted already (one row per tensor: weight, bias)
    like = next(iter(module.parameters(recurse=False)), None)
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    module.register_parameter(LAYER_NORM + "weight", torch.nn.Parameter(torch.ones(tuple(shape), dtype=dtype, device=device)))
    module.register_parameter(LAYER_NORM + "bias", torch.nn.Parameter(torch.zeros(tuple(shape), dtype=dtype, device=device)))
    module.register_forward_hook(_as_layer_norm)


def _remember_rotary(attention, _args, kwargs):
    # The rotary embedding this call rotates keys with, for the value hook;
    # a cross-attention (given a context) rotates nothing of its values.
    attention._xcompat_rotary = None if kwargs.get("context") is not None else kwargs.get("rotary_pos_emb")


def _rotate_values_hook(attention):
    import sys

    def rotate(_to_v, _args, v):
        rotary = getattr(attention, "_xcompat_rotary", None)
        if rotary is None:
            return v
        freqs, xpos_scale = rotary
        # As the keys are rotated: the release's own function, the inverse xpos scale.
        scale = xpos_scale ** -1.0 if torch.is_tensor(xpos_scale) else 1.0
        apply = sys.modules[type(attention).__module__].apply_rotary_pos_emb
        dim_head = attention.to_q.out_features // attention.heads
        b, n, width = v.shape
        heads = v.reshape(b, n, width // dim_head, dim_head).transpose(1, 2)
        return apply(heads, freqs, scale).transpose(1, 2).reshape(b, n, width)

    return rotate


def _rotate_values(module, _shape):
    if getattr(module, "_xcompat_rotates_values", False):
        return  # adapted already
    module._xcompat_rotates_values = True
    module.register_forward_pre_hook(_remember_rotary, with_kwargs=True)
    # First among to_v's hooks: what others see of the values is rotated, as
    # the older release's attention saw them.
    module.to_v.register_forward_hook(_rotate_values_hook(module), prepend=True)


def _remember_mask(attention, _args, kwargs):
    # The padding mask of a self-attention call (a cross-attention's queries
    # are the decoder's: left alone).
    attention._xcompat_mask = None if kwargs.get("context") is not None else kwargs.get("mask")


def _keep_values(attention):
    def keep(_to_v, _args, v):
        attention._xcompat_values = v

    return keep


def _uniform_at_padding(attention, _args, output):
    mask, values = getattr(attention, "_xcompat_mask", None), getattr(attention, "_xcompat_values", None)
    attention._xcompat_values = None
    if mask is None or values is None:
        return output
    out = output[0] if isinstance(output, tuple) else output
    # Every logit of a padded query masked: softmax is uniform over all keys,
    # so the older release's output there is the values' mean, projected out.
    uniform = attention.to_out(values.mean(dim=1, keepdim=True)).to(out.dtype).expand_as(out)
    out = torch.where(mask[..., None], out, uniform)
    return (out, *output[1:]) if isinstance(output, tuple) else out


def _uniform_padded_queries(module, _shape):
    if getattr(module, "_xcompat_uniform_padding", False):
        return  # adapted already
    module._xcompat_uniform_padding = True
    module.register_forward_pre_hook(_remember_mask, with_kwargs=True)
    module.to_v.register_forward_hook(_keep_values(module))
    module.register_forward_hook(_uniform_at_padding)


def _return_input(_module, args, _output):
    return args[0]


def _identity(module, _shape):
    if getattr(module, "_xcompat_identity", False):
        return  # adapted already
    module._xcompat_identity = True
    module.register_forward_hook(_return_input)


_KINDS = {"output_bias": _output_bias, "layer_norm": _layer_norm, "rotate_values": _rotate_values,
          "identity": _identity, "uniform_padded_queries": _uniform_padded_queries}


def _resolve(modules, path):
    """The model's module for a path as the checkpoint names it: the path
    itself, or its longest suffix the model has (a training dict's "model."
    or a wrapper's own attribute in front)."""
    parts = path.split(".") if path else []
    for start in range(len(parts) + 1):
        name = ".".join(parts[start:])
        if name in modules:
            return modules[name]
    raise KeyError(f"adapt: the model has no module {path!r} nor any suffix of it; "
                   f"is it the model built with x-transformers {TO or 'B'}?")


def adapt(model, adapters=None):
    """Adapts `model` (built with the newer release) in place and returns it.
    `adapters`: (module, kind, shape, change) tuples; default: this file's."""
    modules = dict(model.named_modules())
    for module_path, kind, shape, _change in (ADAPTERS if adapters is None else adapters):
        if kind not in _KINDS:
            raise ValueError(f"adapt: unknown adapter kind {kind!r} (known: {', '.join(sorted(_KINDS))})")
        _KINDS[kind](_resolve(modules, module_path), shape)
    return model
