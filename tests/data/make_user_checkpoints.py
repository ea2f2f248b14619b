"""A corpus of checkpoints shaped as real users save them, made by a release.

Run under one release's sandbox (from the checkout root):

    PYTHONPATH=.xcompat/releases/V .venv/bin/python tests/data/make_user_checkpoints.py \
        --out DIR [--only SHAPE,...]

It imports that release's x_transformers, builds small models (dim 32, depth
1-2, heads 2-4, vocabularies 64-128, sequences 32-64), trains each for four
Adam steps on random tokens with the release's own loss (through
AutoregressiveWrapper where the shape is one; MSE / cross-entropy otherwise)
and writes one file per shape into DIR plus DIR/manifest.json. Everything is
seeded: the tensors are the same on every run (torch.save's archive carries a
random serialization id, so the bytes are not). Shapes the release cannot make
are listed under `skipped` with the exception text; the script never fails on
one. Nothing generated is committed: the tests in tests/release generate the
corpus with the releases at test time. tests/data/check_user_corpus.py loads
every file back under the same release, strictly, from the manifest alone.

Shapes (the manifest's `shape`; file name in brackets):
  ar_wrapper        torch.save(AutoregressiveWrapper(TransformerWrapper(Decoder)).state_dict()), keys net.*
  training_dict     {"model", "optimizer", "step", "epoch", "config"}, model = TransformerWrapper
  lightning_ckpt    the dict Lightning 2.4's checkpoint connector dumps through ModelCheckpoint at the end
                    of epoch 0 [epoch=0-step=4.ckpt]; state_dict keys model.net.*
  ema               ema-pytorch 0.8.3's EMA(model).state_dict(): initted, step, online_model.*, ema_model.*
  ema_dict          {"model": model sd, "ema": ema_model sd, "step"}
  ddp               a training dict of a DistributedDataParallel(AutoregressiveWrapper) (single-process gloo
                    group; prefixed by hand when no group can start), keys module.net.*
  compiled          torch.compile(AutoregressiveWrapper(...)).state_dict(), keys _orig_mod.net.*
  continuous        ContinuousTransformerWrapper(Decoder) state dict
  vit               ViTransformerWrapper(Encoder) state dict (classifier head)
  app_model         user_models.AppModel: own embedding, GRU and head around a bare x-transformers Decoder
  app_xtransformer  user_models.AppXModel: two TransformerWrappers (text., speech.) and an own bridge
  whole_model       torch.save(TransformerWrapper) - a pickled module
  whole_app         torch.save(AppModel) - a pickled module naming user_models.AppModel
  safetensors       the ar_wrapper's state dict through safetensors.torch.save_file [ar_wrapper.safetensors]
  xtransformer      XTransformer (encoder-decoder) state dict

manifest.json:
  {"format": 1, "release": x_transformers version, "torch", "python", "generator",
   "files": [{
      "file", "shape", "release",
      "format": "pt" (torch.save of tensors and plain data: torch.load(weights_only=True) reads it)
              | "pt-module" (a pickled nn.Module: weights_only=False, and user_models importable)
              | "safetensors",
      "container_key": where models[0]'s state dict sits in the file: "/"-separated dict keys,
                       "" for the file itself (for pt-module: the loaded module's state_dict()),
      "models": [{"prefix": key prefix inside its container ("" / "net." / "model.net." / ...),
                  "container_key": this model's container (as above; differs from the file's for
                                   ema_dict's second model),
                  "role": "model" | "online" | "ema",
                  "kind": "TransformerWrapper" | "ContinuousTransformerWrapper" | "ViTransformerWrapper"
                          | "XTransformer" | "AttentionLayers",
                  "layers": "Decoder" | "Encoder" | null (XTransformer),
                  "args": {"wrapper": {...}, "layers": {...}} (AttentionLayers: layers only;
                          XTransformer: {"xtransformer": {...}}), the exact constructor keywords,
                  "spec": the catalogue-form spec (fixtures/specs.toml) for TransformerWrapper and
                          XTransformer models, else null}],
      "other_tensors": names in the model containers that belong to no model (the app's own, EMA's
                       counters), "notes": how it was made, "bytes", "sha256",
      "unsafe_globals": what torch.load(weights_only=True) would refuse (pt-module files)}],
   "skipped": [{"shape", "reason"}]}
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
import traceback
import warnings
from copy import deepcopy
from pathlib import Path

warnings.filterwarnings("ignore")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import user_models  # noqa: E402

import x_transformers  # noqa: E402

MANIFEST_FORMAT = 1
STEPS = 4
LR = 1e-3
BATCH = 2

SHAPES = ("ar_wrapper", "training_dict", "lightning_ckpt", "ema", "ema_dict", "ddp", "compiled",
          "continuous", "vit", "app_model", "app_xtransformer", "whole_model", "whole_app",
          "safetensors", "xtransformer")


def shape_seed(shape):
    """Per shape, the same in every release."""
    return 100 + SHAPES.index(shape)


def release_version():
    try:
        return importlib.metadata.version("x-transformers")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


RELEASE = release_version()


class CannotMake(Exception):
    """The release has no way to make the shape (a class or argument is missing)."""


# --- configurations -----------------------------------------------------------

def small_decoder(num_tokens=128, max_seq_len=64, depth=2, heads=4, **layers):
    """(wrapper, layers) keywords of a small TransformerWrapper(Decoder)."""
    base = {"dim": 32, "depth": depth, "heads": heads, "attn_dim_head": 8}
    base.update(layers)
    return {"num_tokens": num_tokens, "max_seq_len": max_seq_len}, base


# A model with an optimizer state (three copies of every weight) stays under
# 200 KB at depth 1, heads 2, vocabulary 64.
def tiny_decoder(**layers):
    return small_decoder(num_tokens=64, max_seq_len=32, depth=1, heads=2, ff_mult=2, **layers)


def catalogue_spec(name, kind, wrapper, layers, seed, seq_len=16):
    """The fixtures/specs.toml form of a TransformerWrapper model."""
    return {"name": "user-" + name.replace("_", "-"), "model": {"Decoder": "decoder", "Encoder": "encoder"}[kind],
            "seed": seed, "batch": BATCH, "seq_len": min(seq_len, wrapper["max_seq_len"]), "mask": "none",
            "wrapper": dict(wrapper), "layers": dict(layers)}


def model_entry(prefix, kind, layers, args, spec=None, role="model", container_key=None):
    return {"prefix": prefix, "container_key": container_key, "role": role, "kind": kind,
            "layers": layers, "args": args, "spec": spec}


def wrapper_entry(prefix, name, seed, wrapper, layers, layers_kind="Decoder", **kw):
    return model_entry(prefix, "TransformerWrapper", layers_kind, {"wrapper": wrapper, "layers": layers},
                       catalogue_spec(name, layers_kind, wrapper, layers, seed), **kw)


# --- training -----------------------------------------------------------------

def train(params_of, loss_of, steps=STEPS, after_step=None):
    """A user's loop: Adam over the model's parameters, `steps` steps, each on
    the batch loss_of(step) returns, then after_step() (an EMA's update).
    Returns the optimizer."""
    opt = torch.optim.Adam(params_of, lr=LR)
    for i in range(steps):
        opt.zero_grad()
        loss = loss_of(i)
        loss.backward()
        opt.step()
        if after_step:
            after_step()
    return opt


def tokens(seed, num_tokens, length, batch=BATCH):
    g = torch.Generator().manual_seed(seed)
    return lambda i: torch.randint(0, num_tokens, (batch, length), generator=g)


def train_ar(ar, seed, num_tokens, seq_len=16):
    """Trains an AutoregressiveWrapper (or a module wrapping one: DDP) with the
    release's own loss: wrapper(tokens) with tokens one longer than the input."""
    data = tokens(seed + 1, num_tokens, seq_len + 1)
    ar.train()
    opt = train(ar.parameters(), lambda i: ar(data(i)))
    ar.eval()
    return opt


def build_ar(seed, wrapper, layers):
    torch.manual_seed(seed)
    net = user_models.build_wrapper(wrapper, layers, "Decoder")
    return x_transformers.AutoregressiveWrapper(net)


def plain_config(wrapper, layers):
    """The constructor arguments as a user's config dict: one flat level."""
    cfg = dict(wrapper)
    cfg.update(layers)
    return cfg


# --- EMA, as ema-pytorch 0.8.3 saves it ----------------------------------------

class EMA(nn.Module):
    """ema_pytorch.EMA (0.8.3) reduced to what its state dict and update hold:
    the online model and a deep copy (`online_model`, `ema_model`, registered
    in that order with include_online_model = True, the default), and the
    buffers `initted` (bool) and `step` (int64). update() follows the
    package's schedule (copy until update_after_step, then lerp towards the
    online model every update_every steps with the inverse-gamma warm-up
    decay)."""

    def __init__(self, model, beta=0.9999, update_after_step=100, update_every=10, inv_gamma=1.0, power=2 / 3,
                 min_value=0.0):
        super().__init__()
        self.beta = beta
        self.online_model = model
        self.ema_model = deepcopy(model)
        for p in self.ema_model.parameters():
            p.detach_()
        self.update_every = update_every
        self.update_after_step = update_after_step
        self.inv_gamma = inv_gamma
        self.power = power
        self.min_value = min_value
        self.register_buffer("initted", torch.tensor(False))
        self.register_buffer("step", torch.tensor(0))

    def _pairs(self):
        def floating(m):
            for name, t in list(m.named_parameters()) + list(m.named_buffers()):
                if torch.is_floating_point(t) or torch.is_complex(t):
                    yield name, t
        return zip(floating(self.ema_model), floating(self.online_model))

    def get_current_decay(self):
        epoch = (self.step - self.update_after_step - 1).clamp(min=0.)
        value = 1 - (1 + epoch / self.inv_gamma) ** - self.power
        if epoch.item() <= 0:
            return 0.
        return value.clamp(min=self.min_value, max=self.beta).item()

    @torch.no_grad()
    def update(self):
        step = self.step.item()
        self.step += 1
        if not self.initted.item():
            for (_, e), (_, o) in self._pairs():
                e.copy_(o)
            self.initted.data.copy_(torch.tensor(True))
            return
        should_update = step % self.update_every == 0
        if should_update and step <= self.update_after_step:
            for (_, e), (_, o) in self._pairs():
                e.copy_(o)
            return
        if should_update:
            decay = self.get_current_decay()
            for (_, e), (_, o) in self._pairs():
                e.lerp_(o, 1. - decay)


def train_with_ema(seed, wrapper, layers):
    """A decoder trained through AutoregressiveWrapper, with an EMA updated
    after every optimizer step (update_after_step = 0, update_every = 1, so
    that the EMA weights differ from the online ones after four steps)."""
    ar = build_ar(seed, wrapper, layers)
    model = ar.net
    ema = EMA(model, beta=0.99, update_after_step=0, update_every=1)
    data = tokens(seed + 1, wrapper["num_tokens"], 17)
    ar.train()
    train(ar.parameters(), lambda i: ar(data(i)), after_step=ema.update)
    ar.eval()
    ema.eval()
    return model, ema


# --- the shapes -----------------------------------------------------------------
# Each returns (payload writer, entry) by writing its file and returning the
# manifest entry without file statistics; CannotMake or any exception skips it.

def rotary_decoder():
    """The usual LLM shape: rotary positions, no absolute ones. Releases before
    1.20 take a rotary width of at least 32 whatever the head, so the heads are
    32 wide."""
    wrapper, layers = small_decoder(heads=2, attn_dim_head=32, ff_mult=2, rotary_pos_emb=True)
    wrapper["use_abs_pos_emb"] = False
    return wrapper, layers


def shape_ar_wrapper(out, seed):
    wrapper, layers = rotary_decoder()
    ar = build_ar(seed, wrapper, layers)
    train_ar(ar, seed, wrapper["num_tokens"])
    torch.save(ar.state_dict(), out / "ar_wrapper.pt")
    return {"file": "ar_wrapper.pt", "format": "pt", "container_key": "",
            "models": [wrapper_entry("net.", "ar_wrapper", seed, wrapper, layers)],
            "notes": "AutoregressiveWrapper(TransformerWrapper(Decoder)).state_dict() after 4 Adam steps "
                     "on the wrapper's loss, as x-transformers' README trains"}


def shape_training_dict(out, seed):
    wrapper, layers = tiny_decoder(use_rmsnorm=True)
    ar = build_ar(seed, wrapper, layers)
    opt = train_ar(ar, seed, wrapper["num_tokens"])
    torch.save({"model": ar.net.state_dict(), "optimizer": opt.state_dict(), "step": STEPS, "epoch": 1,
                "config": plain_config(wrapper, layers)}, out / "training_dict.pt")
    return {"file": "training_dict.pt", "format": "pt", "container_key": "model",
            "models": [wrapper_entry("", "training_dict", seed, wrapper, layers)],
            "notes": "a training loop's resumable checkpoint: the TransformerWrapper's state dict, Adam's "
                     "state, step, epoch and the constructor arguments as a flat config dict"}


class LitModel(nn.Module):
    """What a LightningModule holding `self.model = AutoregressiveWrapper(...)`
    contributes to the checkpoint: its state dict, keys model.net.*."""

    def __init__(self, ar):
        super().__init__()
        self.model = ar


def _ready_completed(n):
    return {"ready": n, "completed": n}


def _started(n):
    return {"ready": n, "completed": n, "started": n}


def _processed(n, completed=None):
    return {"ready": n, "completed": n if completed is None else completed, "started": n, "processed": n}


def lightning_checkpoint(lit, opt, steps, hparams, dirpath):
    """The dict pytorch_lightning 2.4.0's _CheckpointConnector.dump_checkpoint
    returns when the default ModelCheckpoint (monitor None, save_top_k 1)
    saves at the end of epoch 0 after `steps` training batches, automatic
    optimization, one optimizer, no scheduler, no validation, 32-bit
    precision (whose plugin state is empty, so it adds no key), hyper-
    parameters saved with save_hyperparameters() from **kwargs. Key order as
    Lightning writes it."""
    batch_progress = {"total": _processed(steps), "current": _processed(steps), "is_last_batch": True}
    zero_progress = {"total": _processed(0), "current": _processed(0), "is_last_batch": False}
    fit_loop = {
        "state_dict": {},
        "epoch_loop.state_dict": {"_batches_that_stepped": steps},
        "epoch_loop.batch_progress": batch_progress,
        "epoch_loop.scheduler_progress": {"total": _ready_completed(0), "current": _ready_completed(0)},
        "epoch_loop.automatic_optimization.state_dict": {},
        "epoch_loop.automatic_optimization.optim_progress": {"optimizer": {
            "step": {"total": _ready_completed(steps), "current": _ready_completed(steps)},
            "zero_grad": {"total": _started(steps), "current": _started(steps)}}},
        "epoch_loop.manual_optimization.state_dict": {},
        "epoch_loop.manual_optimization.optim_step_progress": {"total": _ready_completed(0),
                                                               "current": _ready_completed(0)},
        "epoch_loop.val_loop.state_dict": {},
        "epoch_loop.val_loop.batch_progress": zero_progress,
        # at on_train_epoch_end the epoch is processed, not yet completed
        "epoch_progress": {"total": _processed(1, completed=0), "current": _processed(1, completed=0)},
    }
    eval_loop = {"state_dict": {}, "batch_progress": deepcopy(zero_progress)}
    predict_loop = {"state_dict": {}, "batch_progress": {"total": _processed(0), "current": _processed(0)}}
    filename = f"epoch=0-step={steps}.ckpt"
    callback_key = ("ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, "
                    "'every_n_epochs': 1, 'train_time_interval': None}")
    return {
        "epoch": 0,
        "global_step": steps,
        "pytorch-lightning_version": "2.4.0",
        "state_dict": lit.state_dict(),
        "loops": {"fit_loop": fit_loop, "validate_loop": eval_loop, "test_loop": deepcopy(eval_loop),
                  "predict_loop": predict_loop},
        "callbacks": {callback_key: {
            "monitor": None, "best_model_score": None, "best_model_path": f"{dirpath}/{filename}",
            "current_score": None, "dirpath": dirpath, "best_k_models": {}, "kth_best_model_path": "",
            "kth_value": torch.tensor(float("inf")), "last_model_path": ""}},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": dict(hparams),
    }, filename


def shape_lightning_ckpt(out, seed):
    wrapper, layers = tiny_decoder(ff_glu=True)
    lit = LitModel(build_ar(seed, wrapper, layers))
    opt = train_ar(lit.model, seed, wrapper["num_tokens"])
    hparams = dict(plain_config(wrapper, layers), lr=LR)
    ckpt, filename = lightning_checkpoint(lit, opt, STEPS, hparams,
                                          "/home/user/project/lightning_logs/version_0/checkpoints")
    torch.save(ckpt, out / filename)
    return {"file": filename, "format": "pt", "container_key": "state_dict",
            "models": [wrapper_entry("model.net.", "lightning_ckpt", seed, wrapper, layers)],
            "notes": "the dict Lightning 2.4.0 writes (ModelCheckpoint defaults, end of epoch 0), assembled "
                     "without Lightning from its checkpoint connector's source; the LightningModule holds "
                     "self.model = AutoregressiveWrapper(...)"}


def shape_ema(out, seed):
    wrapper, layers = small_decoder(num_tokens=64, max_seq_len=32, depth=1, heads=2)
    _, ema = train_with_ema(seed, wrapper, layers)
    torch.save(ema.state_dict(), out / "ema.pt")
    return {"file": "ema.pt", "format": "pt", "container_key": "",
            "models": [wrapper_entry("ema_model.", "ema", seed, wrapper, layers, role="ema"),
                       wrapper_entry("online_model.", "ema", seed, wrapper, layers, role="online")],
            "notes": "ema-pytorch 0.8.3's EMA(model, beta=0.99, update_after_step=0, update_every=1)"
                     ".state_dict() (include_online_model=True, the default), updated after each of 4 "
                     "Adam steps; reimplemented from the package's source, not installed"}


def shape_ema_dict(out, seed):
    wrapper, layers = small_decoder(num_tokens=64, max_seq_len=32, depth=1, heads=2)
    model, ema = train_with_ema(seed, wrapper, layers)
    torch.save({"model": model.state_dict(), "ema": ema.ema_model.state_dict(), "step": STEPS},
               out / "ema_dict.pt")
    return {"file": "ema_dict.pt", "format": "pt", "container_key": "model",
            "models": [wrapper_entry("", "ema_dict", seed, wrapper, layers, role="online", container_key="model"),
                       wrapper_entry("", "ema_dict", seed, wrapper, layers, role="ema", container_key="ema")],
            "notes": "{'model': online weights, 'ema': the EMA copy's weights, 'step'}"}


def shape_ddp(out, seed):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    wrapper, layers = tiny_decoder()
    ar = build_ar(seed, wrapper, layers)
    how = "DistributedDataParallel(AutoregressiveWrapper(...)) over a single-process gloo group (CPU)"
    started = False
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if not dist.is_initialized():
                dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=0, world_size=1)
                started = True
            model = DistributedDataParallel(ar)
        except Exception as e:  # no process group here: what DDP would have saved, by hand
            model = None
            how = f"no process group could start ({type(e).__name__}: {e}); module. prefixed by hand"
        try:
            if model is not None:
                opt = train_ar(model, seed, wrapper["num_tokens"])
                state = model.state_dict()
            else:
                opt = train_ar(ar, seed, wrapper["num_tokens"])
                state = {"module." + k: v for k, v in ar.state_dict().items()}
        finally:
            if started:
                dist.destroy_process_group()
    torch.save({"model": state, "optimizer": opt.state_dict(), "step": STEPS, "epoch": 1,
                "config": plain_config(wrapper, layers)}, out / "ddp.pt")
    return {"file": "ddp.pt", "format": "pt", "container_key": "model",
            "models": [wrapper_entry("module.net.", "ddp", seed, wrapper, layers)],
            "notes": f"a training dict saved from {how}"}


def shape_compiled(out, seed):
    wrapper, layers = small_decoder(depth=1)
    ar = build_ar(seed, wrapper, layers)
    compiled = torch.compile(ar)  # lazy: nothing is compiled until it is called
    train_ar(ar, seed, wrapper["num_tokens"])  # the same parameters; eager, so no compiler is needed
    state = compiled.state_dict()
    if not next(iter(state)).startswith("_orig_mod."):
        raise CannotMake(f"torch.compile's module saved keys without _orig_mod.: {next(iter(state))}")
    torch.save(state, out / "compiled.pt")
    return {"file": "compiled.pt", "format": "pt", "container_key": "",
            "models": [wrapper_entry("_orig_mod.net.", "compiled", seed, wrapper, layers)],
            "notes": "torch.compile(AutoregressiveWrapper(...)).state_dict() (a real OptimizedModule; "
                     "trained eagerly through the wrapped module, which shares its parameters)"}


def shape_continuous(out, seed):
    cls = getattr(x_transformers, "ContinuousTransformerWrapper", None)
    if cls is None:
        raise CannotMake("x_transformers has no ContinuousTransformerWrapper")
    wrapper = {"dim_in": 16, "dim_out": 16, "max_seq_len": 32}
    layers = {"dim": 32, "depth": 2, "heads": 4, "attn_dim_head": 8}
    torch.manual_seed(seed)
    model = cls(attn_layers=x_transformers.Decoder(**layers), **wrapper)
    g = torch.Generator().manual_seed(seed + 1)
    data = [(torch.randn(BATCH, 16, 16, generator=g), torch.randn(BATCH, 16, 16, generator=g)) for _ in range(STEPS)]
    model.train()
    train(model.parameters(), lambda i: F.mse_loss(model(data[i][0]), data[i][1]))
    model.eval()
    torch.save(model.state_dict(), out / "continuous.pt")
    return {"file": "continuous.pt", "format": "pt", "container_key": "",
            "models": [model_entry("", "ContinuousTransformerWrapper", "Decoder",
                                   {"wrapper": wrapper, "layers": layers})],
            "notes": "ContinuousTransformerWrapper(Decoder) trained on an MSE loss"}


def shape_vit(out, seed):
    cls = getattr(x_transformers, "ViTransformerWrapper", None)
    if cls is None:
        raise CannotMake("x_transformers has no ViTransformerWrapper")
    layers = {"dim": 32, "depth": 2, "heads": 4, "attn_dim_head": 8}
    tried = []
    model = None
    for wrapper in ({"image_size": 32, "patch_size": 8, "num_classes": 10},
                    {"image_size": 32, "patch_size": 8}):
        try:
            torch.manual_seed(seed)
            model = cls(attn_layers=x_transformers.Encoder(**layers), **wrapper)
            break
        except TypeError as e:
            tried.append(f"{sorted(wrapper)}: {e}")
    if model is None:
        raise CannotMake("ViTransformerWrapper takes none of the argument sets: " + "; ".join(tried))
    g = torch.Generator().manual_seed(seed + 1)
    images = [torch.randn(BATCH, 3, 32, 32, generator=g) for _ in range(STEPS)]
    labels = [torch.randint(0, 10, (BATCH,), generator=g) for _ in range(STEPS)]

    def loss(i):
        out = model(images[i])
        if "num_classes" in wrapper:
            return F.cross_entropy(out, labels[i])
        return out.pow(2).mean()

    model.train()
    train(model.parameters(), loss)
    model.eval()
    torch.save(model.state_dict(), out / "vit.pt")
    note = "ViTransformerWrapper(Encoder) trained on cross-entropy over 10 classes"
    if tried:
        note += f" (rejected first: {'; '.join(tried)})"
    return {"file": "vit.pt", "format": "pt", "container_key": "",
            "models": [model_entry("", "ViTransformerWrapper", "Encoder", {"wrapper": wrapper, "layers": layers})],
            "notes": note}


def app_model_args():
    return {"num_tokens": 128, "dim": 32, "decoder": {"dim": 32, "depth": 2, "heads": 4, "attn_dim_head": 8}}


def build_app(seed):
    args = app_model_args()
    torch.manual_seed(seed)
    app = user_models.AppModel(**args)
    data = tokens(seed + 1, args["num_tokens"], 17)

    def loss(i):
        t = data(i)
        logits = app(t[:, :-1])
        return F.cross_entropy(logits.transpose(1, 2), t[:, 1:])

    app.train()
    train(app.parameters(), loss)
    app.eval()
    return app, args


def app_entry(args):
    return model_entry("decoder.", "AttentionLayers", "Decoder", {"layers": args["decoder"]})


def shape_app_model(out, seed):
    app, args = build_app(seed)
    torch.save(app.state_dict(), out / "app_model.pt")
    return {"file": "app_model.pt", "format": "pt", "container_key": "", "models": [app_entry(args)],
            "notes": "user_models.AppModel(**" + json.dumps(args) + "): own nn.Embedding, nn.GRU 'encoder' "
                     "and nn.Linear head around x_transformers.Decoder, trained on next-token cross-entropy"}


def shape_app_xtransformer(out, seed):
    text = {"wrapper": {"num_tokens": 128, "max_seq_len": 32},
            "layers": {"dim": 32, "depth": 1, "heads": 2, "attn_dim_head": 8}}
    speech = {"wrapper": {"num_tokens": 64, "max_seq_len": 64},
              "layers": {"dim": 32, "depth": 1, "heads": 2, "attn_dim_head": 8, "cross_attend": True}}
    torch.manual_seed(seed)
    app = user_models.AppXModel(text, speech, dim=32)
    g = torch.Generator().manual_seed(seed + 1)
    batches = [(torch.randint(0, 128, (BATCH, 12), generator=g), torch.randint(0, 64, (BATCH, 17), generator=g))
               for _ in range(STEPS)]

    def loss(i):
        src, tgt = batches[i]
        logits = app(src, tgt[:, :-1])
        return F.cross_entropy(logits.transpose(1, 2), tgt[:, 1:])

    app.train()
    train(app.parameters(), loss)
    app.eval()
    torch.save(app.state_dict(), out / "app_xtransformer.pt")
    models = [wrapper_entry("text.", "app_xtransformer-text", seed, text["wrapper"], text["layers"],
                            layers_kind="Encoder"),
              wrapper_entry("speech.", "app_xtransformer-speech", seed, speech["wrapper"], speech["layers"])]
    models[1]["spec"]["inputs"] = {"context": [12, 32]}  # cross_attend: the spec's forward takes a context
    return {"file": "app_xtransformer.pt", "format": "pt", "container_key": "", "models": models,
            "notes": "user_models.AppXModel: TransformerWrapper(Encoder) as `text`, TransformerWrapper(Decoder, "
                     "cross_attend) as `speech`, the app's nn.Linear `bridge` between them"}


def shape_whole_model(out, seed):
    wrapper, layers = small_decoder(depth=1)
    ar = build_ar(seed, wrapper, layers)
    train_ar(ar, seed, wrapper["num_tokens"])
    torch.save(ar.net, out / "whole_model.pt")
    return {"file": "whole_model.pt", "format": "pt-module", "container_key": "",
            "models": [wrapper_entry("", "whole_model", seed, wrapper, layers)],
            "notes": "torch.save(model) of the TransformerWrapper itself (a pickled module: loading it "
                     "needs weights_only=False and the saving release's classes)"}


def shape_whole_app(out, seed):
    app, args = build_app(seed)
    if type(app).__module__ != "user_models":
        raise CannotMake(f"AppModel is {type(app).__module__}.AppModel, not user_models.AppModel")
    torch.save(app, out / "whole_app.pt")
    return {"file": "whole_app.pt", "format": "pt-module", "container_key": "", "models": [app_entry(args)],
            "notes": "torch.save(app) of user_models.AppModel(**" + json.dumps(args) + ") (a pickled module: "
                     "loading it needs weights_only=False, user_models and the saving release's classes)"}


def shape_safetensors(out, seed):
    from safetensors.torch import save_file, save_model

    wrapper, layers = rotary_decoder()
    seed = shape_seed("ar_wrapper")  # the same model as ar_wrapper.pt, tensor for tensor
    ar = build_ar(seed, wrapper, layers)
    train_ar(ar, seed, wrapper["num_tokens"])
    path = out / "ar_wrapper.safetensors"
    try:
        save_file(ar.state_dict(), str(path))
        how = "safetensors.torch.save_file(wrapper.state_dict(), ...)"
    except (RuntimeError, ValueError) as e:  # shared or non-contiguous tensors: what users then do
        save_model(ar, str(path))
        how = f"safetensors.torch.save_model(wrapper, ...) after save_file refused: {str(e).splitlines()[0][:200]}"
    return {"file": path.name, "format": "safetensors", "container_key": "",
            "models": [wrapper_entry("net.", "safetensors", seed, wrapper, layers)],
            "notes": f"the ar_wrapper shape's model (same seed, data and steps: the same tensors) written with {how}"}


def shape_xtransformer(out, seed):
    cls = getattr(x_transformers, "XTransformer", None)
    if cls is None:
        raise CannotMake("x_transformers has no XTransformer")
    args = {"dim": 32, "enc_num_tokens": 64, "enc_depth": 1, "enc_heads": 2, "enc_attn_dim_head": 8,
            "enc_max_seq_len": 32, "dec_num_tokens": 64, "dec_depth": 1, "dec_heads": 2,
            "dec_attn_dim_head": 8, "dec_max_seq_len": 32}
    torch.manual_seed(seed)
    model = cls(**args)
    g = torch.Generator().manual_seed(seed + 1)
    batches = [(torch.randint(0, 64, (BATCH, 16), generator=g), torch.randint(0, 64, (BATCH, 17), generator=g))
               for _ in range(STEPS)]
    model.train()
    train(model.parameters(), lambda i: model(*batches[i]))
    model.eval()
    torch.save(model.state_dict(), out / "xtransformer.pt")
    spec = {"name": "user-xtransformer", "model": "xtransformer", "seed": seed, "batch": BATCH, "seq_len": 16,
            "mask": "none", "xtransformer": dict(args)}
    return {"file": "xtransformer.pt", "format": "pt", "container_key": "",
            "models": [model_entry("", "XTransformer", None, {"xtransformer": args}, spec)],
            "notes": "XTransformer(...) trained on its own loss, model(src, tgt)"}


# --- driver ---------------------------------------------------------------------

def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _containers(path, entry):
    """{container_key: state dict} of the file just written."""
    if entry["format"] == "safetensors":
        from safetensors.torch import load_file

        whole = load_file(str(path))
    elif entry["format"] == "pt-module":
        whole = torch.load(path, map_location="cpu", weights_only=False).state_dict()
    else:
        whole = torch.load(path, map_location="cpu", weights_only=True)
    out = {}
    for m in entry["models"]:
        key = m["container_key"]
        node = whole
        for part in [p for p in key.split("/") if p]:
            node = node[part]
        out[key] = node
    return out


def _finish(out, shape, entry):
    """Fills in what every entry has: release, shape, each model's container
    key, the tensors no model claims, file statistics, unsafe globals."""
    path = out / entry["file"]
    entry = {"file": entry["file"], "shape": shape, "release": RELEASE, **{k: v for k, v in entry.items() if k != "file"}}
    for m in entry["models"]:
        if m["container_key"] is None:
            m["container_key"] = entry["container_key"]
    other = []
    for key, state in _containers(path, entry).items():
        prefixes = [m["prefix"] for m in entry["models"] if m["container_key"] == key]
        other += [(f"{key}/" if key else "") + name for name in state
                  if not any(name.startswith(p) for p in prefixes)]
    entry["other_tensors"] = other
    entry["bytes"] = path.stat().st_size
    entry["sha256"] = _sha256(path)
    unsafe = []
    if entry["format"] != "safetensors":
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except Exception as e:  # older torch: say so rather than guess
            unsafe = [f"(not determined: {type(e).__name__}: {e})"]
    entry["unsafe_globals"] = sorted(unsafe)
    return entry


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="directory to write the files and manifest.json into")
    ap.add_argument("--only", default="", help="comma-separated shapes (default: all): " + ",".join(SHAPES))
    args = ap.parse_args(argv)
    only = [s for s in args.only.split(",") if s] or list(SHAPES)
    unknown = [s for s in only if s not in SHAPES]
    if unknown:
        ap.error(f"unknown shape(s) {', '.join(unknown)}; known: {', '.join(SHAPES)}")
    torch.set_num_threads(int(os.environ.get("XCOMPAT_TORCH_THREADS", "1")))
    args.out.mkdir(parents=True, exist_ok=True)
    files, skipped = [], []
    for shape in only:
        seed = shape_seed(shape)
        before = set(os.listdir(args.out))
        try:
            entry = globals()[f"shape_{shape}"](args.out, seed)
            files.append(_finish(args.out, shape, entry))
            print(f"{shape:17} {entry['file']:28} {files[-1]['bytes']:>8} bytes")
        except Exception as e:
            reason = f"{type(e).__name__}: {str(e).strip()[:500]}"
            if os.environ.get("XCOMPAT_DEBUG"):
                traceback.print_exc()
            for partial in set(os.listdir(args.out)) - before:  # nothing half-made stays
                (args.out / partial).unlink()
            skipped.append({"shape": shape, "reason": reason})
            print(f"{shape:17} skipped: {reason}")
    manifest = {"format": MANIFEST_FORMAT, "release": RELEASE, "torch": torch.__version__,
                "python": platform.python_version(), "generator": "tests/data/make_user_checkpoints.py",
                "files": files, "skipped": skipped}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
