"""xcompat's driver inside a release worker.

Called from C++ (harness/bridge/python_worker.cpp) through the embedded
interpreter; one x-transformers release per process, imported once. The C++
side owns the protocol, timeouts and process handling; this module only
builds models from specs, writes fixtures and runs forward passes.

Every public function takes and returns plain dicts/str/bytes so the bridge
stays thin. Errors are raised as exceptions; the bridge turns them into a
protocol error. `Unsupported` means the release cannot build the spec.
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

FIXTURE_FORMAT = 2
_MODULE_SOURCE = None

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
    x_transformers = importlib.import_module("x_transformers")
    return info()


class Unsupported(Exception):
    """The release cannot build this spec (missing feature or rejected argument)."""


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
    }


# --- spec -> model ------------------------------------------------------------

# Argument prefixes that x-transformers routes to sub-modules (Attention,
# FeedForward); the rest of the name is what the sub-module must know.
_ROUTED_PREFIXES = ("attn_", "ff_", "enc_", "dec_")


def _module_source():
    global _MODULE_SOURCE
    if _MODULE_SOURCE is None:
        parts = []
        for mod in list(sys.modules.values()):
            name = getattr(mod, "__name__", "")
            if name.startswith("x_transformers"):
                try:
                    parts.append(inspect.getsource(mod))
                except (OSError, TypeError):
                    pass
        _MODULE_SOURCE = "\n".join(parts)
    return _MODULE_SOURCE


_KNOWN_ARGUMENTS = set()


def _check_known_arguments(kwargs, where):
    """Old releases (0.0.14 - 1.28.5) silently ignore unknown keyword
    arguments and build a plain model. Refuse any argument whose name the
    release's source never mentions, so such a spec is UNSUPPORTED instead of
    a silently different model."""
    src = _module_source()

    def known(name):
        if name not in _KNOWN_ARGUMENTS and re.search(r"\b%s\b" % re.escape(name), src):
            _KNOWN_ARGUMENTS.add(name)
        return name in _KNOWN_ARGUMENTS

    for key in kwargs:
        name = key
        # Strip routing prefixes one at a time (XTransformer's
        # `dec_attn_dim_head` is routed to the decoder, then to Attention).
        while not known(name):
            prefix = next((p for p in _ROUTED_PREFIXES if name.startswith(p)), None)
            if prefix is None:
                raise Unsupported(f"release does not know {where} argument '{key}'")
            name = name[len(prefix):]


def build_model(spec):
    """Builds the spec's model with the spec's seed, in eval mode."""
    torch.manual_seed(int(spec["seed"]))
    kind = spec["model"]
    try:
        if kind in ("decoder", "encoder"):
            layers_cls = x_transformers.Decoder if kind == "decoder" else x_transformers.Encoder
            layers_kw = dict(spec.get("layers", {}))
            wrapper_kw = dict(spec.get("wrapper", {}))
            _check_known_arguments(layers_kw, "layers")
            _check_known_arguments(wrapper_kw, "wrapper")
            model = x_transformers.TransformerWrapper(attn_layers=layers_cls(**layers_kw), **wrapper_kw)
        elif kind == "xtransformer":
            kw = dict(spec.get("xtransformer", {}))
            _check_known_arguments(kw, "xtransformer")
            model = x_transformers.XTransformer(**kw)
        else:
            raise Unsupported(f"unknown model kind '{kind}'")
    except Unsupported:
        raise
    except (TypeError, ValueError, AssertionError, NotImplementedError) as e:
        # From 1.29.0 unknown arguments are rejected; asserts guard bad combos.
        raise Unsupported(f"release cannot build the spec: {type(e).__name__}: {e}")
    return model.eval()


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
    b, n = int(spec["batch"]), int(spec["seq_len"])
    if spec["model"] == "xtransformer":
        kw = spec["xtransformer"]
        src = torch.randint(0, int(kw["enc_num_tokens"]), (b, n), generator=g)
        tgt = torch.randint(0, int(kw["dec_num_tokens"]), (b, n), generator=g)
        inputs = {"src": src, "tgt": tgt}
        if spec.get("mask", "none") == "padding":
            inputs["src_mask"] = _padding_mask(b, n)
        return inputs
    vocab = int(spec["wrapper"]["num_tokens"])
    inputs = {"x": torch.randint(0, vocab, (b, n), generator=g)}
    if spec.get("mask", "none") == "padding":
        inputs["mask"] = _padding_mask(b, n)
    return inputs


def _padding_mask(b, n):
    """Row i keeps its first n - 3*i positions (at least 1): right padding."""
    lengths = [max(1, n - 3 * i) for i in range(b)]
    return torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]


@torch.no_grad()
def forward(model, spec, inputs):
    """The spec's forward path, spelled so that every release from 0.x to 2.x
    takes it (XTransformer.forward returns a loss, so call its parts)."""
    if spec["model"] == "xtransformer":
        mask = inputs.get("src_mask")
        enc = model.encoder(inputs["src"], mask=mask, return_embeddings=True)
        return model.decoder.net(inputs["tgt"], context=enc, context_mask=mask)
    if "mask" in inputs:
        return model(inputs["x"], mask=inputs["mask"])
    return model(inputs["x"])


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
    Returns meta (also written to meta.json). Raises Unsupported."""
    model = build_model(spec)
    inputs = make_inputs(spec)
    try:
        logits = forward(model, spec, inputs).float().contiguous()
    except Exception as e:  # e.g. tie_embedding, broken from 0.24.0 to 1.16.7
        raise Unsupported(f"release fails to run the spec on its own weights: {type(e).__name__}: {e}")
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


def evaluate(spec, fixture_dir, checkpoint="model.pt", repeats=3):
    """Loads the fixture's checkpoint into this release's build of the spec
    (strict) and runs forward on the fixture's inputs.

    Returns {"status": "ok", "logits": bytes (float32), "shape": [...],
    "latency_ms": median} or {"status": "load_fail", "load_report": {...},
    "error": str}. Raises Unsupported when this release cannot build the spec.
    The checkpoint is untrusted: torch.load(weights_only=True) refuses every
    pickled global outside tensors and plain containers."""
    t0 = time.perf_counter()
    key = json.dumps(spec, sort_keys=True)
    model, pristine = _take_model(spec, key)
    t1 = time.perf_counter()
    path = os.path.join(fixture_dir, checkpoint)
    if checkpoint.endswith(".safetensors"):
        ckpt = load_file(path)
    else:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    report = _load_report(model.state_dict(), ckpt)
    try:
        model.load_state_dict(ckpt, strict=True)
    except RuntimeError as e:
        _return_unused_model(key, model, pristine)
        timing = {"build_ms": (t1 - t0) * 1e3, "load_ms": (time.perf_counter() - t1) * 1e3}
        return {"status": "load_fail", "load_report": report, "error": str(e).strip()[:4000], "timing": timing}
    inputs = load_file(os.path.join(fixture_dir, "inputs.safetensors"))
    t2 = time.perf_counter()
    times = []
    logits = None
    for _ in range(max(1, int(repeats))):
        t = time.perf_counter()
        logits = forward(model, spec, inputs)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    logits = logits.float().contiguous()
    return {
        "status": "ok",
        "logits": logits.numpy().tobytes(),
        "shape": list(logits.shape),
        "latency_ms": times[len(times) // 2],
        "load_report": report,
        "timing": {"build_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3, "forward_ms": sum(times)},
    }


# --- test hooks (only with XCOMPAT_TEST_HOOKS=1) --------------------------------

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
