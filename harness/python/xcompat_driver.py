"""xcompat's driver inside a release worker.

Called from C++ (harness/bridge/python_worker.cpp) through the embedded
interpreter; one x-transformers release per process, imported once. The C++
side owns the protocol, timeouts and process handling; this module only
builds models from specs, writes fixtures and runs forward passes.

Every public function takes and returns plain dicts/str/bytes so the bridge
stays thin. Errors are raised as exceptions; the bridge turns them into a
protocol error. Two of them are verdicts about the release, never guesses:
`Unsupported` (proven: the release does not have what the spec asks for) and
`Broken` (the release has it but fails on it: an ERROR cell).
"""

import hashlib
import importlib
import inspect
import json
import os
import platform
import re
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

torch.use_deterministic_algorithms(True, warn_only=True)

FIXTURE_FORMAT = 4

# The release this worker serves: imported by bind_release(), never at module
# import, so that a zygote can import this module (and torch) before it forks.
x_transformers = None

# Imported once by the zygote before it forks release workers: what every
# release shares from the venv, heaviest first (einx pulls in torch._dynamo,
# 1.3 s of a worker's start). A sandbox may not ship any of these itself:
# its copy would be ignored (bind_release checks).
PRELOAD = ("torch._dynamo", "numpy", "einops", "safetensors.torch", "packaging.version", "loguru", "sympy")


def _set_threads():
    torch.set_num_threads(int(os.environ.get("XCOMPAT_TORCH_THREADS", "1")))


_set_threads()


def preload():
    """Zygote only: imports PRELOAD (what is installed of it). Returns the
    names imported."""
    done = []
    for name in PRELOAD:
        try:
            importlib.import_module(name)
            done.append(name)
        except ImportError:
            pass
    return done


def apply_environment(env):
    """A forked worker takes the main side's XCOMPAT_* variables as they are
    now (the zygote's copy may be older)."""
    for key in [k for k in os.environ if k.startswith("XCOMPAT_")]:
        if key not in env:
            del os.environ[key]
    for key, value in env.items():
        os.environ[key] = value
    _set_threads()


def _shadowed_preloads(sandbox):
    """Top-level packages of the sandbox that are already imported from
    elsewhere: the release would silently get the venv's copy."""
    clash = []
    for entry in os.listdir(sandbox):
        name = entry[:-3] if entry.endswith(".py") else entry
        if "." in name or name.endswith("-info") or name not in sys.modules:
            continue
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if not os.path.realpath(origin).startswith(os.path.realpath(sandbox) + os.sep):
            clash.append(name)
    return clash


def bind_release(sandbox):
    """Imports x_transformers (the caller has put `sandbox` first on
    sys.path). Returns info()."""
    global x_transformers
    clash = _shadowed_preloads(sandbox)
    if clash:
        raise RuntimeError(f"sandbox {sandbox} ships {', '.join(clash)}, already imported from the venv: "
                           "its own copy would be ignored (start workers with XCOMPAT_WORKER_START=spawn)")
    global IMPORT_WARNINGS
    # What the release makes torch (or Python) warn about while it is
    # imported, e.g. torch.jit.script deprecated since torch 2.10: recorded
    # with every cell this worker judges, so the day a torch turns such a
    # warning into an error the matrix already names it.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x_transformers = importlib.import_module("x_transformers")
    seen = []
    for w in caught:
        line = f"{w.category.__name__}: {str(w.message).splitlines()[0][:300]}"
        if line not in seen:
            seen.append(line)
    IMPORT_WARNINGS = seen[:20]
    return info()


class Unsupported(Exception):
    """The release does not have what the spec asks for: it rejects an
    argument, or (for releases that ignore unknown arguments) an argument
    provably changes nothing in the model it builds."""


class Broken(Exception):
    """The release has what the spec asks for but fails on it (raises while
    building or running its own model): a finding about the release."""


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}

# Releases that silently drop constructor arguments they do not know
# (XT-HISTORY: 0.0.14 - 1.28.5; from 1.29.0 AttentionLayers asserts). Their
# fixtures prove that every spec argument takes effect.
IGNORES_UNKNOWN_ARGUMENTS = ((0, 0, 14), (1, 29, 0))


IMPORT_WARNINGS = []


def release_version():
    try:
        from importlib.metadata import version

        return version("x-transformers")
    except Exception:  # a sandbox without dist-info: fall back to the module path
        return "unknown"


def info():
    """What this worker sees: versions and where x_transformers came from."""
    return {
        "x_transformers": release_version(),
        "x_transformers_path": os.path.dirname(x_transformers.__file__),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "import_warnings": IMPORT_WARNINGS,
    }


# --- spec -> model ------------------------------------------------------------

# Argument prefixes that x-transformers routes to sub-modules (XTransformer's
# enc_/dec_, then Attention's attn_ / cross_attn_, FeedForward's ff_).
_ROUTED_PREFIXES = ("enc_", "dec_", "cross_attn_", "attn_", "ff_")


def _version_tuple():
    try:
        return tuple(int(p) for p in release_version().split(".")[:3])
    except ValueError:
        return None


def _spec_arguments(spec):
    """(section, name, value) of every constructor argument in the spec."""
    for section in ("wrapper", "layers", "xtransformer"):
        for name, value in (spec.get(section) or {}).items():
            yield section, name, value


def _unaccepted_argument(error, spec):
    """The spec argument a construction error rejects, or None. Only a
    release saying it does not know one of the spec's own arguments counts:
    any other exception is the release failing (Broken)."""
    text = str(error)
    names = {}
    for section, name, _ in _spec_arguments(spec):
        stripped = name
        while True:
            names.setdefault(stripped, (section, name))
            prefix = next((p for p in _ROUTED_PREFIXES if stripped.startswith(p)), None)
            if prefix is None:
                break
            stripped = stripped[len(prefix):]
    if isinstance(error, TypeError):
        m = re.search(r"unexpected keyword argument '(\w+)'", text)
        if m and m.group(1) in names:
            return names[m.group(1)]
    if isinstance(error, AssertionError):
        m = re.search(r"unrecognized kwargs passed in dict_keys\(\[(.*)\]\)", text)
        if m:
            for quoted in re.findall(r"'(\w+)'", m.group(1)):
                if quoted in names:
                    return names[quoted]
    return None


def with_args(spec, args):
    """The spec with constructor arguments added (a conversion's `args`, per
    section). XTransformer takes layer arguments once per model, prefixed;
    bare attention layers take no wrapper arguments."""
    spec = json.loads(json.dumps(spec))
    for section, values in (args or {}).items():
        if spec["model"] == "layers" and section != "layers":
            raise Unsupported(f"bare attention layers cannot take the {section} arguments {', '.join(sorted(values))}")
        if spec["model"] == "xtransformer":
            target = spec.setdefault("xtransformer", {})
            for name, value in values.items():
                if section != "layers":
                    raise Unsupported(f"XTransformer cannot take the {section} argument {name}")
                target["enc_" + name] = value
                target["dec_" + name] = value
        else:
            spec.setdefault(section, {}).update(values)
    return spec


def _wrapper_kwargs(spec):
    """TransformerWrapper's arguments, with module descriptions made modules:
    {"module": "Linear", "bias": true} for to_logits is nn.Linear(dim, logits)."""
    kw = dict(spec.get("wrapper", {}))
    for name, value in list(kw.items()):
        if isinstance(value, dict) and value.get("module") == "Linear":
            dim = int(spec["layers"]["dim"])
            out = int(kw.get("logits_dim") or kw["num_tokens"])
            kw[name] = torch.nn.Linear(dim, out, bias=bool(value.get("bias", True)))
    return kw


# torch.nn modules a spec may describe as {"module": NAME, ...its keyword
# arguments} where x-transformers takes a user's module (upstream's tests pass
# ff_custom_activation = nn.Sigmoid(), attn_hybrid_module = GRU(...)). An
# allow-list: a spec file is untrusted input.
SPEC_MODULES = ("Sigmoid", "Tanh", "ReLU", "GELU", "SiLU", "GRU")


def _modules_described(kwargs):
    """kwargs with each module description ({"module": name, ...}) made that
    torch.nn module; to_logits's {"module": "Linear"} is _wrapper_kwargs'."""
    out = dict(kwargs)
    for name, value in kwargs.items():
        if isinstance(value, dict) and "module" in value and value["module"] != "Linear":
            if value["module"] not in SPEC_MODULES:
                raise Unsupported(f"argument '{name}' describes module {value['module']!r} "
                                  f"(a spec may describe {', '.join(SPEC_MODULES)})")
            out[name] = getattr(torch.nn, value["module"])(**{k: v for k, v in value.items() if k != "module"})
    return out


# The model kinds beside TransformerWrapper and XTransformer: the wrapper
# class a spec's `wrapper` table goes to (None: bare attention layers), and
# the layers classes it may hold (a spec's `layers_class`).
WRAPPER_CLASSES = {
    "decoder": "TransformerWrapper",
    "encoder": "TransformerWrapper",
    "continuous": "ContinuousTransformerWrapper",
    "vit": "ViTransformerWrapper",
    "layers": None,
}
LAYERS_CLASSES = {"decoder": "Decoder", "encoder": "Encoder"}


def layers_class(spec):
    """"decoder" or "encoder": the Decoder / Encoder the spec's layers are.
    TransformerWrapper specs say it in `model`; continuous and layers specs in
    `layers_class`; a ViTransformerWrapper takes an Encoder only."""
    kind = spec["model"]
    if kind in ("decoder", "encoder"):
        return kind
    if kind == "vit":
        cls = spec.get("layers_class", "encoder")
        if cls != "encoder":
            raise Unsupported("ViTransformerWrapper takes an Encoder only (layers_class = \"encoder\")")
        return cls
    cls = spec.get("layers_class")
    if cls not in LAYERS_CLASSES:
        raise Unsupported(f"a {kind} spec names its layers_class (decoder or encoder), not {cls!r}")
    return cls


def _release_class(name):
    """x_transformers.<name>, or Unsupported when the release has no such class."""
    cls = getattr(x_transformers, name, None)
    if cls is None:
        raise Unsupported(f"x-transformers {release_version()} has no {name}")
    return cls


class _DroppedSilently(AssertionError):
    """An argument the release would drop without a word (raised by
    _UnknownLayerArgumentsRefused, not by the release)."""


class _UnknownLayerArgumentsRefused:
    """While a spec's model is built: AttentionLayers refuses the keyword
    arguments it does not know, as the releases from 1.28 on do themselves
    (`assert len(kwargs) == 0, 'unrecognized kwargs passed in ...'`). Older
    releases drop them without a word, so a spec with an argument they
    predate (use_adaptive_layernorm, cross_attn_dim_context, rel_pos_kwargs)
    was built as another model: a producer's fixture that is not the spec,
    and a consumer whose failure to load looks like a gap in the release
    history. The refusal makes both UNSUPPORTED, with the argument named.
    Scoped to the construction: the release itself is left as it is."""

    def __enter__(self):
        self.cls = getattr(x_transformers.x_transformers, "AttentionLayers", None)
        self.original = None
        if self.cls is None or "len(kwargs) == 0" in inspect.getsource(self.cls.__init__):
            return self
        original = self.original = self.cls.__init__
        named = set(inspect.signature(original).parameters)
        # The prefixes the release routes on to Attention / FeedForward (which refuse what they do not know).
        prefixes = tuple(re.findall(r"groupby_prefix_and_trim\('(\w+)', kwargs\)", inspect.getsource(original)))

        def refusing(layers, *args, **kwargs):
            unknown = [k for k in kwargs if k not in named and not k.startswith(prefixes)]
            if unknown:
                raise _DroppedSilently(f"unrecognized kwargs passed in dict_keys({unknown!r})")
            original(layers, *args, **kwargs)

        self.cls.__init__ = refusing
        return self

    def __exit__(self, *exc):
        if self.original is not None:
            self.cls.__init__ = self.original
        return False


def _construct(spec):
    with _UnknownLayerArgumentsRefused():
        return _construct_model(spec)


def _construct_model(spec):
    kind = spec["model"]
    if kind == "xtransformer":
        return x_transformers.XTransformer(**_modules_described(spec.get("xtransformer", {})))
    if kind not in WRAPPER_CLASSES:
        raise Unsupported(f"unknown model kind '{kind}'")
    layers_cls = _release_class(LAYERS_CLASSES[layers_class(spec)])
    layers = layers_cls(**_modules_described(spec.get("layers", {})))
    if WRAPPER_CLASSES[kind] is None:
        return layers
    wrapper_cls = _release_class(WRAPPER_CLASSES[kind])
    return wrapper_cls(attn_layers=layers, **_wrapper_kwargs(spec))


# How far every parameter is moved from its initial value (0.1 * N(0, 1)).
TRAINED_NOISE = 0.1


def _like_trained(model, seed):
    """Moves every parameter away from its initialisation, with noise drawn
    from the spec's seed: a fresh model has norm gains of exactly one and
    biases of exactly zero, where trained checkpoints do not, and a change
    that only shows on such values (a LayerNorm bias with nowhere to go, a
    gain stored minus one) would pass unseen. Buffers (rotary frequencies,
    a constant beta) are what the release computes, and stay."""
    g = torch.Generator().manual_seed(seed + 7919)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if p.is_floating_point():
                p.add_(TRAINED_NOISE * torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype))


def build_model(spec, cast=True):
    """Builds the spec's model with the spec's seed, in eval mode, in the
    spec's dtype (drawn in float32 first, so every dtype starts from the
    same weights). Raises Unsupported or Broken."""
    torch.manual_seed(int(spec["seed"]))
    try:
        model = _construct(spec)
    except Unsupported:
        raise
    except Exception as e:
        rejected = _unaccepted_argument(e, spec)
        if rejected is not None and isinstance(e, _DroppedSilently):
            raise Unsupported(f"release ignores {rejected[0]} argument '{rejected[1]}': it predates it, and its "
                              "AttentionLayers drops the arguments it does not know without a word") from e
        if rejected is not None:
            raise Unsupported(f"release does not accept {rejected[0]} argument '{rejected[1]}' "
                              f"({type(e).__name__}: {str(e).strip()[:200]})") from e
        raise Broken(f"release fails to build the spec: {type(e).__name__}: {str(e).strip()[:500]}") from e
    model = model.eval()
    _like_trained(model, int(spec["seed"]))
    dtype = spec.get("dtype", "float32")
    if dtype not in DTYPES:
        raise Unsupported(f"dtype '{dtype}' (xcompat computes in {', '.join(DTYPES)})")
    return model.to(DTYPES[dtype]) if cast else model


def _simple_attributes(model):
    """Every module's plain settings (numbers, flags, strings): where an
    argument that leaves no tensor (a dropout rate, a flag read in forward)
    shows that the release took it."""
    out = []
    for name, module in model.named_modules():
        for key, value in sorted(vars(module).items()):
            if key.startswith("_"):
                continue
            if isinstance(value, (bool, int, float, str, type(None))) or (
                    isinstance(value, tuple) and all(isinstance(v, (bool, int, float, str)) for v in value)):
                out.append((name, key, repr(value)))
    return out


def _fingerprint(spec, inputs):
    """What a spec builds, as comparable values: state-dict names and shapes,
    the module tree, the modules' settings, and the output on the inputs.
    None when the release raises on it (it reacted to the spec)."""
    try:
        model = build_model(spec, cast=False)
        out = forward(model, spec, inputs)
    except Exception:
        return None
    state = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    return state, repr(model), _simple_attributes(model), out


def _same(a, b):
    return a is not None and b is not None and a[:3] == b[:3] and a[3].shape == b[3].shape and torch.equal(a[3], b[3])


def _another_value(value):
    """A value of the same kind that a release taking the argument would
    build differently from; None when there is no safe one to try."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 0.5 if value + 0.5 < 1 else value / 2
    return None


def _named_parameter(section, name, spec_kind="decoder"):
    """True when the constructor that receives a wrapper or layers argument
    names it in its signature: the release has the argument, even where its
    value changes nothing (use_abs_pos_emb beside rotary, a rotary width
    below its minimum). XTransformer's enc_/dec_ routing is the release's own
    and is where arguments were dropped: those are always proven."""
    import inspect

    def named(cls, n):
        try:
            return n in inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            return False

    if section == "wrapper":
        wrapper = WRAPPER_CLASSES.get(spec_kind, "TransformerWrapper")
        return wrapper is not None and named(getattr(x_transformers, wrapper, None), name)
    if section == "layers":
        routed = {"attn_": "Attention", "cross_attn_": "Attention", "ff_": "FeedForward"}
        for prefix, cls in routed.items():
            if name.startswith(prefix):
                return named(getattr(x_transformers.x_transformers, cls, None), name[len(prefix):])
        return named(x_transformers.x_transformers.AttentionLayers, name)
    return False


def ignored_argument(spec, inputs):
    """For releases that drop unknown arguments: the first spec argument the
    receiving constructor does not name and that provably changes nothing
    (the spec built without it, and with another value, gives the same
    model and outputs), as a reason; else None. An argument whose value
    equals the release's default changes nothing when removed but does when
    altered: it is taken."""
    full = None
    for section, name, value in _spec_arguments(spec):
        if _named_parameter(section, name, spec["model"]):
            continue
        if full is None:
            full = _fingerprint(spec, inputs)
        without = json.loads(json.dumps(spec))
        del without[section][name]
        base = _fingerprint(without, inputs)
        if not _same(base, full):
            continue
        other = _another_value(value)
        if other is None:
            continue  # cannot tell: the argument is given the benefit of the doubt
        altered = json.loads(json.dumps(spec))
        altered[section][name] = other
        if not _same(_fingerprint(altered, inputs), base):
            continue
        return (f"release ignores {section} argument '{name}': the spec built without it, or with "
                f"{name} = {other!r}, gives the same model and outputs")
    return None


def _may_ignore_arguments():
    v = _version_tuple()
    low, high = IGNORES_UNKNOWN_ARGUMENTS
    return v is not None and low <= v < high


# Models evaluate() built whose checkpoint failed to load, by spec, with a
# copy of every tensor as built. Building is most of a cell's cost and most
# cells are LOAD_FAIL. A failed strict load only writes tensor data into the
# parameters and buffers that matched (no release overrides the load hooks),
# so restoring the copy makes such a model exactly a new one. A model that
# ran forward is never reused: a forward may add caches (ALiBi's bias buffer)
# or change anything else.
_UNUSED_MODELS = {}
_UNUSED_KEPT = 2


def _model_tensors(model):
    yield from model.named_parameters()
    yield from model.named_buffers()


def _take_model(spec, key):
    hit = _UNUSED_MODELS.pop(key, None)
    if hit is not None:
        return hit
    model = build_model(spec)
    return model, {name: t.detach().clone() for name, t in _model_tensors(model)}


def _return_unused_model(key, model, pristine):
    with torch.no_grad():
        for name, t in _model_tensors(model):
            t.copy_(pristine[name])
    _UNUSED_MODELS[key] = (model, pristine)
    while len(_UNUSED_MODELS) > _UNUSED_KEPT:
        _UNUSED_MODELS.pop(next(iter(_UNUSED_MODELS)))


def make_inputs(spec):
    """Inputs drawn from a generator seeded by the spec, independent of the
    model's parameter draw, so every release gets the same inputs."""
    g = torch.Generator().manual_seed(int(spec["seed"]) + 1_000_003)
    float_dtype = DTYPES.get(spec.get("dtype", "float32"), torch.float32)
    b = int(spec["batch"])
    if spec["model"] == "vit":
        # img [batch, channels, image_size, image_size]: seeded N(0, 1) pixels
        kw = spec["wrapper"]
        side = int(kw["image_size"])
        return {"img": torch.randn((b, int(kw.get("channels", 3)), side, side), generator=g).to(float_dtype)}
    n = int(spec["seq_len"])
    if spec["model"] in ("continuous", "layers"):
        # x [batch, seq_len, features]: seeded N(0, 1) embeddings, as wide as
        # the wrapper's dim_in (else the layers' dim) takes them
        width = (spec.get("wrapper") or {}).get("dim_in") or spec["layers"]["dim"]
        inputs = {"x": torch.randn((b, n, int(width)), generator=g).to(float_dtype)}
    elif spec["model"] == "xtransformer":
        kw = spec["xtransformer"]
        src = torch.randint(0, int(kw["enc_num_tokens"]), (b, n), generator=g)
        tgt = torch.randint(0, int(kw["dec_num_tokens"]), (b, n), generator=g)
        inputs = {"src": src, "tgt": tgt}
        if spec.get("mask", "none") == "padding":
            inputs["src_mask"] = _padding_mask(b, n)
        return inputs
    else:
        inputs = {"x": torch.randint(0, int(spec["wrapper"]["num_tokens"]), (b, n), generator=g)}
    if spec.get("mask", "none") == "padding":
        inputs["mask"] = _padding_mask(b, n)
    # The spec's `inputs` table: forward arguments beside the tokens, drawn
    # after them (so a spec without it keeps its inputs), in the model's dtype.
    extra = spec.get("inputs", {})
    if "context" in extra:
        m, d = (int(s) for s in extra["context"])
        inputs["context"] = torch.randn((b, m, d), generator=g).to(float_dtype)
        if extra.get("context_mask"):
            inputs["context_mask"] = _padding_mask(b, m)
    if "condition" in extra:
        inputs["condition"] = torch.randn((b, int(extra["condition"][0])), generator=g).to(float_dtype)
    return inputs


def _padding_mask(b, n):
    """Row i keeps its first n - 3*i positions (at least 1): right padding."""
    lengths = [max(1, n - 3 * i) for i in range(b)]
    return torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]


def forward_path(model, spec, inputs):
    """The spec's forward path, spelled so that every release from 0.x to 2.x
    takes it (XTransformer.forward returns a loss, so call its parts).
    Without a grad mode of its own, so the exporters can capture it."""
    if spec["model"] == "xtransformer":
        mask = inputs.get("src_mask")
        enc = model.encoder(inputs["src"], mask=mask, return_embeddings=True)
        return model.decoder.net(inputs["tgt"], context=enc, context_mask=mask)
    if spec["model"] == "vit":
        return model(inputs["img"])
    # Spelled out rather than **inputs: the tokens are positional, and a spec
    # without extra inputs calls every release exactly as before.
    kwargs = {k: inputs[k] for k in ("mask", "context", "context_mask", "condition") if k in inputs}
    return model(inputs["x"], **kwargs)


forward = torch.no_grad()(forward_path)


# --- fixtures -----------------------------------------------------------------

def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_fixture(spec, out_dir, xcompat_version):
    """Writes a fixture for `spec` into `out_dir` (which must exist and be
    empty; the C++ side renames it into the cache when this returns).
    Returns meta (also written to meta.json). Raises Unsupported or Broken."""
    model = build_model(spec)
    inputs = make_inputs(spec)
    # Whether the release takes the spec's arguments does not depend on the
    # dtype (the proof builds in float32): asked first, so a release that
    # ignores one is UNSUPPORTED in every dtype, even one it cannot run.
    if _may_ignore_arguments():
        reason = ignored_argument(spec, inputs)
        if reason:
            raise Unsupported(reason)
    try:
        logits = forward(model, spec, inputs).contiguous()
    except Exception as e:  # e.g. tie_embedding, broken from 0.24.0 to 1.16.7
        raise Broken(f"release fails to run the spec on its own weights: {type(e).__name__}: {str(e)[:500]}") from e
    meta = _write_fixture(model, spec, inputs, logits, out_dir, xcompat_version)
    meta["rounding"] = rounding_bound(model, spec, inputs, logits)
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return meta


def rounding_bound(model, spec, inputs, logits, wide_weights=""):
    """What rounding alone does to this model's outputs in its dtype: the
    same function (this release, these weights and inputs) evaluated in a
    wider dtype (float64 for a float32 model, float32 for a bfloat16 one),
    against the outputs in the dtype. A converted path that differs by more
    than rounding can make is not "rounding" (harness/sweep/converted_path.cpp).
    {"reference", "nmse", "max_abs"}, or {"error"} when the model does not run
    in the wider dtype. `wide_weights`: a safetensors file of the same
    tensors in float32 (a conversion's unrounded results), loaded into the
    widened model in place of its own weights."""
    wide = torch.float64 if logits.dtype == torch.float32 else torch.float32
    # Widened in place and narrowed back (exact: the wider dtype holds every
    # value of the narrower): a copy would not do, as a release's tied
    # logits are a lambda over the original module.
    narrow = {id(t): t.dtype for _, t in _model_tensors(model)}
    # The weights as loaded, put back afterwards when others replace them.
    kept = {id(t): t.data for _, t in _model_tensors(model)} if wide_weights else {}
    try:
        with torch.no_grad():
            for _, t in _model_tensors(model):
                if t.is_floating_point():
                    t.data = t.data.to(wide)
            if wide_weights:
                unrounded = load_file(wide_weights)
                model.load_state_dict({k: v.to(wide) if v.is_floating_point() else v for k, v in unrounded.items()},
                                      strict=True)
            x = {k: v.to(wide) if v.is_floating_point() else v for k, v in inputs.items()}
            ref = forward(model, spec, x).to(torch.float64)
    except Exception as e:  # noqa: BLE001 - no bound: no cause is called rounding
        return {"reference": str(wide).replace("torch.", ""), "error": f"{type(e).__name__}: {str(e)[:200]}"}
    finally:
        with torch.no_grad():
            for _, t in _model_tensors(model):
                t.data = kept[id(t)] if id(t) in kept else t.data.to(narrow[id(t)])
    out = logits.to(torch.float64)
    if not bool(torch.isfinite(out).all()) or not bool(torch.isfinite(ref).all()):
        return {"reference": str(wide).replace("torch.", ""), "error": "non-finite outputs"}
    diff = out - ref
    denom = float((ref * ref).mean())
    return {"reference": str(wide).replace("torch.", ""),
            "nmse": float((diff * diff).mean()) / denom if denom > 0 else float((diff * diff).mean()),
            "max_abs": float(diff.abs().max()) if diff.numel() else 0.0}


def make_reference(spec, checkpoint, out_dir, xcompat_version):
    """A fixture made of a user's checkpoint (`xcompat check`): this
    release builds the spec, loads the file strictly, and computes its
    outputs on inputs drawn from the spec's seed; written like a catalogue
    fixture, so every consumer evaluates it the same way. The file is
    untrusted: weights_only. Returns {"status": "ok", "meta": ...} or
    {"status": "load_fail", "load_report": ..., "error": ...}."""
    model = build_model(spec)
    report, error = _load_strict(model, checkpoint)
    if error:
        return {"status": "load_fail", "load_report": report, "error": error}
    inputs = make_inputs(spec)
    try:
        logits = forward(model, spec, inputs).contiguous()
    except Exception as e:
        raise Broken(f"release fails to run the spec on this checkpoint: {type(e).__name__}: {str(e)[:500]}") from e
    return {"status": "ok", "meta": _write_fixture(model, spec, inputs, logits, out_dir, xcompat_version)}


def _write_fixture(model, spec, inputs, logits, out_dir, xcompat_version):
    try:
        return _write_fixture_files(model, spec, inputs, logits, out_dir, xcompat_version)
    except (OSError, RuntimeError) as e:
        # torch.save says "unexpected pos" when the file system refuses a write.
        raise OSError(f"writing the fixture failed (is the disk full, or a file size limit reached?): "
                      f"{type(e).__name__}: {str(e)[:300]}") from e


def _write_fixture_files(model, spec, inputs, logits, out_dir, xcompat_version):
    state = model.state_dict()

    torch.save(state, os.path.join(out_dir, "model.pt"))
    # safetensors refuses shared storage (tied weights): store copies.
    save_file({k: v.detach().clone().contiguous() for k, v in state.items()},
              os.path.join(out_dir, "model.safetensors"),
              # One key only: safetensors writes metadata in hash-map order,
              # so several keys would make the file's bytes vary run to run.
              metadata={"xcompat": json.dumps({"producer": "xcompat", "x_transformers": release_version(),
                                               "format": FIXTURE_FORMAT}, sort_keys=True)})
    save_file({k: v.contiguous() for k, v in inputs.items()}, os.path.join(out_dir, "inputs.safetensors"))
    save_file({"logits": logits}, os.path.join(out_dir, "outputs.safetensors"))

    files = ["model.pt", "model.safetensors", "inputs.safetensors", "outputs.safetensors"]
    meta = {
        "format": FIXTURE_FORMAT,
        "producer": "xcompat",
        "xcompat": xcompat_version,
        "versions": info(),
        "release": release_version(),
        "spec": spec,
        "seed": int(spec["seed"]),
        "dtype": spec.get("dtype", "float32"),
        "parameters": [
            {"name": k, "shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
            for k, v in state.items()
        ],
        "outputs": {"logits": list(logits.shape)},
        "files": {f: _sha256(os.path.join(out_dir, f)) for f in files},
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return meta


# --- cells --------------------------------------------------------------------

def _load_report(model_state, ckpt):
    missing = sorted(k for k in model_state if k not in ckpt)
    unexpected = sorted(k for k in ckpt if k not in model_state)
    misshaped = sorted(
        f"{k}: checkpoint {list(ckpt[k].shape)} vs model {list(model_state[k].shape)}"
        for k in model_state
        if k in ckpt and tuple(ckpt[k].shape) != tuple(model_state[k].shape)
    )
    return {"missing": missing, "unexpected": unexpected, "misshaped": misshaped}


def _load_strict(model, path):
    """Loads an untrusted checkpoint into `model`, strictly: torch.load with
    weights_only (no pickled code runs), or safetensors. Returns (the load
    report, None) or (the load report, the error text)."""
    if path.endswith(".safetensors"):
        ckpt = load_file(path)
    else:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    report = _load_report(model.state_dict(), ckpt)
    try:
        model.load_state_dict(ckpt, strict=True)
    except RuntimeError as e:
        return report, str(e).strip()[:4000]
    return report, None


load_strict = _load_strict
sha256_file = _sha256


def export_artifact(spec, fixture_dir, kind, out_dir, cache_dir=""):
    """A deployment artifact of the fixture's model (xcompat_deploy): returns
    the export record, written to <out_dir>/export.json."""
    import xcompat_deploy  # noqa: PLC0415 (only deployment cells need it)

    return xcompat_deploy.export_artifact(sys.modules[__name__], spec, fixture_dir, kind, out_dir, cache_dir)


def evaluate(spec, fixture_dir, checkpoint="model.pt", repeats=3, args=None, adapters=None, measure_rounding=False,
             rounding_weights=""):
    """Loads the fixture's checkpoint into this release's build of the spec
    (strict) and runs forward on the fixture's inputs.

    Returns {"status": "ok", "logits": bytes, "dtype": "float32" |
    "bfloat16", "shape": [...], "latency_ms": median, "timing": {...}} or
    {"status": "load_fail", "load_report": {...}, "error": str}. Raises
    Unsupported when this release does not have what the spec asks for,
    Broken when it fails on it.
    `adapters`: (module, kind, shape, change) tuples applied to the model
    before the load (xcompat_adapter.adapt), as `xcompat convert --adapter`
    users do: the sweep's adapted path.
    `measure_rounding`: also what rounding alone makes of this model on
    these weights (rounding_bound, in "rounding"): the consumer's side of a
    converted half-precision cell, whose producer measured its own.
    `rounding_weights`: a float32 safetensors file of the same tensors, the
    conversion's results before they were rounded to the checkpoint's dtype:
    the wide reference is computed on them, so the bound counts the
    conversion's own rounding of the weights as well.
    The checkpoint is untrusted: torch.load(weights_only=True) refuses every
    pickled global outside tensors and plain containers."""
    t0 = time.perf_counter()
    if args:
        spec = with_args(spec, args)
    key = json.dumps(spec, sort_keys=True)
    if adapters:
        import xcompat_adapter  # noqa: PLC0415 (only adapted paths need it)

        # An adapted model is not the spec's model: built for this call alone.
        model, pristine = xcompat_adapter.adapt(build_model(spec), [tuple(a) for a in adapters]), None
    else:
        model, pristine = _take_model(spec, key)
    t1 = time.perf_counter()
    report, error = _load_strict(model, os.path.join(fixture_dir, checkpoint))
    if error:
        if pristine is not None:
            _return_unused_model(key, model, pristine)
        timing = {"build_ms": (t1 - t0) * 1e3, "load_ms": (time.perf_counter() - t1) * 1e3}
        return {"status": "load_fail", "load_report": report, "error": error, "timing": timing}
    inputs = load_file(os.path.join(fixture_dir, "inputs.safetensors"))
    t2 = time.perf_counter()
    times = []
    logits = None
    for _ in range(max(1, int(repeats))):
        t = time.perf_counter()
        logits = forward(model, spec, inputs)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    # Measured on the model's own outputs, before a test hook skews them: a
    # reader that computes something else does so in the wider dtype too.
    extra = {"rounding": rounding_bound(model, spec, inputs, logits, rounding_weights)} if measure_rounding else {}
    logits = _test_flaky(logits).contiguous()
    return {
        **extra,
        "status": "ok",
        # Raw bytes in the model's own dtype (bfloat16 has no numpy dtype:
        # viewed as int16 to get at them); the C++ side reads `dtype`.
        "logits": logits.view(torch.int16).numpy().tobytes() if logits.dtype == torch.bfloat16
                  else logits.numpy().tobytes(),
        "dtype": str(logits.dtype).replace("torch.", ""),
        "shape": list(logits.shape),
        "latency_ms": times[len(times) // 2],
        "load_report": report,
        "timing": {"build_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3, "forward_ms": sum(times)},
    }


def decode_parity(spec, fixture_dir, steps=8):
    """Cached (incremental) decoding against uncached forwards, as the
    release's own AutoregressiveWrapper.generate decodes: at each of the last
    `steps` positions, the logits of net(prefix, cache=cache,
    return_intermediates=True) against those of net(prefix). Weights and
    tokens are the release's own fixture's.

    Returns {"status": "ok", "cached": bytes, "uncached": bytes, "dtype",
    "shape": [batch, steps, vocab], "step_ms": each cached call's time}. Raises Unsupported when the release has
    no key-value cache, or does not cache for this spec."""
    if spec["model"] != "decoder":
        raise Unsupported("cached decoding is a decoder's (this spec is a " + spec["model"] + ")")
    if spec.get("inputs"):
        raise Unsupported("a spec with extra forward inputs (" + ", ".join(sorted(spec["inputs"])) +
                          "): generate() is not given them here")
    if "cache" not in inspect.signature(x_transformers.TransformerWrapper.forward).parameters:
        raise Unsupported(f"x-transformers {release_version()} has no key-value cache "
                          "(TransformerWrapper.forward takes no cache)")
    key = json.dumps(spec, sort_keys=True)
    model, pristine = _take_model(spec, key)
    report, error = _load_strict(model, os.path.join(fixture_dir, "model.pt"))
    if error or not getattr(model, "can_cache_kv", True):
        _return_unused_model(key, model, pristine)  # nothing ran: it is as built
        if error:
            raise Broken("its own checkpoint does not load: " + error.splitlines()[0][:200])
        raise Unsupported("this release does not cache key-values for this spec (can_cache_kv is False), "
                          "so generate() decodes without a cache")
    # From here the model is used up (forward may add buffers, e.g. ALiBi's
    # bias): it is not returned to the pool, as after evaluate().
    x = load_file(os.path.join(fixture_dir, "inputs.safetensors"))["x"]
    n = x.shape[1]
    steps = max(1, min(int(steps), n - 1))
    cached, uncached, cache, step_ms = [], [], None, []
    with torch.no_grad():
        for t in range(n - steps, n):
            prefix = x[:, : t + 1]
            t0 = time.perf_counter()
            logits, cache = model(prefix, return_intermediates=True, cache=cache)
            step_ms.append((time.perf_counter() - t0) * 1e3)
            cached.append(logits[:, -1])
            uncached.append(model(prefix)[:, -1])
    c = torch.stack(cached, 1).contiguous()
    u = torch.stack(uncached, 1).contiguous()
    # Test hook: a cache that computes something else, to see the check fail.
    skew = os.environ.get("XCOMPAT_TEST_DECODE_SKEW") if os.environ.get("XCOMPAT_TEST_HOOKS") == "1" else None
    if skew:
        c = (c.float() + float(skew)).to(c.dtype)
    dtype = "bfloat16" if c.dtype == torch.bfloat16 else "float32"
    as_bytes = lambda t: (t.view(torch.int16) if dtype == "bfloat16" else t.float()).numpy().tobytes()
    # latency: a cached call's median; step_ms[0] is the prefix (the prompt), the rest one token each.
    return {"status": "ok", "cached": as_bytes(c), "uncached": as_bytes(u), "dtype": dtype,
            "shape": list(c.shape), "latency_ms": sorted(step_ms)[len(step_ms) // 2], "step_ms": step_ms}


# --- test hooks (only with XCOMPAT_TEST_HOOKS=1) --------------------------------

def _test_flaky(logits):
    """A consumer that computes something else: with XCOMPAT_TEST_OUTPUT_SKEW=s
    every output is scaled by 1 + s. One whose answer alternates between
    calls, as a race or an uninitialised buffer would make it: with
    XCOMPAT_TEST_FLAKY=<file>, the file counts evaluate calls across
    workers, and every odd call's output is off by 1%."""
    if os.environ.get("XCOMPAT_TEST_HOOKS") != "1":
        return logits
    skew = os.environ.get("XCOMPAT_TEST_OUTPUT_SKEW")
    if skew:
        logits = logits * (1 + float(skew))
    path = os.environ.get("XCOMPAT_TEST_FLAKY")
    if not path:
        return logits
    count = int(open(path).read() or 0) + 1 if os.path.exists(path) else 1
    with open(path, "w") as f:
        f.write(str(count))
    return logits * 1.01 if count % 2 else logits


def debug(action):
    if os.environ.get("XCOMPAT_TEST_HOOKS") != "1":
        raise RuntimeError("debug requests need XCOMPAT_TEST_HOOKS=1")
    if action == "raise":
        raise ValueError("debug: raised on request")
    if action == "signal":
        print("debug: about to die by SIGSEGV", file=sys.stderr, flush=True)
        os.kill(os.getpid(), 11)
    if action == "hang":
        while True:
            time.sleep(1)
    if action == "exit":
        os._exit(3)
    raise RuntimeError(f"unknown debug action {action}")
