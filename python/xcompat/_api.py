"""The Python API: fingerprint, convert, load and save checkpoints of any
x-transformers release, over the same C++ core as the command line."""
import functools
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Mapping

from . import _core
from . import _tensors
from ._errors import LoadError, ProducerUnknown, XcompatError


class Report(dict):
    """A JSON report with attribute access: ``report.outcome`` is ``report["outcome"]``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ConversionReport(Report):
    """What a conversion did: ``outcome`` (unchanged, lossless, lossless with arguments,
    lossy), ``changes`` crossed (release history ids), ``args`` release B needs
    per section and ``constructor`` (the same as Python calls), ``folded`` (what
    was absorbed exactly into a tensor B keeps), ``adapters`` (modules of B's
    model that take what B's classes cannot hold), ``lost`` (what B computes
    otherwise), ``lossy_tensors`` (each with its largest magnitude), ``notes``,
    ``models`` (one report per model found)."""

    def __str__(self):
        lines = [f"{self.get('from')} -> {self.get('to')}: {self.get('outcome_line', self.get('outcome'))}"]
        if self.get("changes"):
            lines.append("changes: " + ", ".join(self["changes"]))
        for line in self.get("constructor", []):
            lines.append("build the model with: " + line)
        for folded in self.get("folded", []):
            lines.append("folded: " + folded)
        for a in self.get("adapters", []):
            lines.append(f"adapted: {a['tensor']} ({a['kind']} of {a['module']}, {a['change']})")
        for lost in self.get("lost", []):
            lines.append("lost: " + lost)
        for t in self.get("lossy_tensors", []):
            lines.append(f"dropped: {t['tensor']} (largest |x| {t['max_abs']:.3g})")
        return "\n".join(lines)


def installed_release() -> str:
    """The x-transformers release installed in this environment (its package metadata)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("x-transformers")
    except PackageNotFoundError:
        raise XcompatError("x-transformers is not installed in this environment: pass to= a release") from None


def check_release(release: str, role: str = "release") -> None:
    """Raises UnknownRelease unless x-transformers published `release` inside the history's range."""
    _core.check_release(release, role)


# --- where the tensors come from ---------------------------------------------

class _Source:
    """A checkpoint file (read by the restricted readers) or a state dict in
    memory (a flat dict, a training dict of dicts, or a module), flattened to
    names as the core sees them: "model.token_emb.emb.weight"."""

    def __init__(self, source):
        self.file = None
        self.record = {}
        self.tensors = {}      # flat name -> tensor (in memory)
        self.places = {}       # flat name -> (container path, key)
        self.containers = {}   # flat prefix -> container path, of the dicts that hold tensors
        self.dicts = {}        # flat prefix -> container path, of every dict
        self.original = None
        if isinstance(source, (str, os.PathLike)):
            self.what = os.fspath(source)
            self.file = _core.Checkpoint(self.what)
            self.infos = self.file.tensors()
            self.record = json.loads(self.file.record())
            self.as_torch = _torch_available()
            return
        if hasattr(source, "state_dict") and callable(source.state_dict):
            source = source.state_dict()
        if not isinstance(source, Mapping):
            raise XcompatError(f"expected a path, a state dict or a module, not {type(source).__name__}")
        self.what = "state dict"
        self.original = source
        self._walk(source, (), "")
        self.infos = [_tensors.info(name, t) for name, t in self.tensors.items()]
        self.as_torch = any(_tensors.is_torch_tensor(t) for t in self.tensors.values())

    def _walk(self, node, path, prefix):
        self.dicts[prefix] = path
        for key, value in node.items():
            name = prefix + str(key)
            if _tensors.is_tensor(value):
                self.tensors[name] = value
                self.places[name] = (path, key)
                self.containers.setdefault(prefix, path)
            elif isinstance(value, Mapping):
                self._walk(value, path + (key,), name + ".")

    def fetch(self, name):
        if self.file is not None:
            return self.file.read(name)
        return _tensors.to_wire(self.tensors[name])

    def tensor(self, name):
        if self.file is not None:
            return _tensors.from_wire(self.file.read(name), self.as_torch)
        return self.tensors[name]

    def device(self):
        for t in self.tensors.values():
            if _tensors.is_torch_tensor(t):
                return t.device
        return None

    def rebuild(self, flat, dropped=()):
        """The converted tensors in the container's own shape (other entries
        kept as they were, the `dropped` places cut out)."""
        if self.original is None:
            return flat
        out = _shell(self.original)
        for place in dropped:
            path = self.dicts.get(place)
            if path:
                parent = out
                for k in path[:-1]:
                    parent = parent[k]
                parent.pop(path[-1], None)
        for name, tensor in flat.items():
            if name in self.places:
                path, key = self.places[name]
            else:  # a new name: it lives in the container whose prefix it has (the longest)
                prefix = max((p for p in self.containers if name.startswith(p)), key=len, default="")
                path, key = self.containers.get(prefix, ()), name[len(prefix):]
            node = out
            for k in path:
                node = node[k]
            node[key] = tensor
        return out


def _shell(node):
    """The container without its tensors: dicts copied, other values shared."""
    out = OrderedDict() if isinstance(node, OrderedDict) else {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            out[key] = _shell(value)
        elif not _tensors.is_tensor(value):
            out[key] = value
    if hasattr(node, "_metadata"):  # torch's per-module versions, read by load_state_dict
        out._metadata = node._metadata
    return out


def _torch_available() -> bool:
    if "torch" in sys.modules:
        return True
    import importlib.util
    return importlib.util.find_spec("torch") is not None


# --- the API -----------------------------------------------------------------

def fingerprint(source, key: str = "") -> Report:
    """What a checkpoint holds, from its tensors' names, shapes and dtypes alone.

    `source`: a path (.pt, .pth, .ckpt, .safetensors: read without running any
    of its pickle code) or a state dict / training dict / module in memory.
    Returns a Report: ``models`` (each with ``kind``, ``prefix``, ``args``,
    ``ranges``: the releases whose layout it has), ``others`` (tensors of no
    model), ``known`` (every model matched a release's layout).

    >>> fp = xcompat.fingerprint("model.pt")
    >>> fp.models[0]["kind"], fp.models[0]["ranges"]
    ('TransformerWrapper', ['0.28.4 - 0.29.2'])
    """
    src = _Source(source)
    report = json.loads(_core.fingerprint_tensors(src.infos, json.dumps(src.record), src.what, key))
    return Report(report)


def _producer(src, from_, fingerprint_key):
    """(release, where it was told, torch, spec) of whoever saved the tensors:
    `from_`, else the file's stamp, else a fixture's meta.json beside it (as
    the command line reads them). The spec comes from the stamp either way."""
    known = json.loads(_core.provenance(src.what)) if src.file is not None else None
    if known is None:
        for field in ("x_transformers", "release"):
            if isinstance(src.record.get(field), str):
                known = {"release": src.record[field], "source": "stamp", "torch": src.record.get("torch"),
                         "spec": src.record.get("spec")}
                break
    spec = (known or {}).get("spec") or None
    if from_ is not None:
        return from_, "from_", None, spec
    if known is not None:
        return known["release"], known["source"], known.get("torch"), spec
    try:
        ranges = [_range_text(r) for m in fingerprint(src.what if src.file is not None else src.original,
                                                      fingerprint_key).models for r in m.get("ranges", [])]
    except XcompatError:
        ranges = []
    layout = f"; its layout is that of releases {', '.join(ranges)}" if ranges else ""
    raise ProducerUnknown(f"{src.what}: which release saved it is not recorded in it (no xcompat stamp): "
                          f"pass from_=\"X.Y.Z\"{layout}")


def _range_text(r):
    text = r["first"] if r["first"] == r["last"] else f"{r['first']} - {r['last']}"
    return text + (f" (torch {r['torch']})" if r.get("torch") else "")


def _convert(src, from_, to, spec, key, strict, optimizer, from_torch, adapters=False):
    if strict and adapters:
        raise XcompatError("strict refuses anything but a pure conversion, and adapters asks for more: give one of them")
    release, from_source, stamped_torch, known_spec = _producer(src, from_, key)
    if spec is None:
        spec = known_spec
    conversion = _core.plan_state_dict(src.infos, release, from_torch or stamped_torch or "", to,
                                       json.dumps(spec) if spec is not None else "", key, strict, optimizer,
                                       src.what, from_source, adapters)
    device = src.device()
    computed = {}
    conversion.run(src.fetch, lambda name, wire: computed.__setitem__(
        name, _tensors.from_wire(wire, src.as_torch, device)))
    flat = {}
    for name, _dtype, _shape, same in conversion.outputs():
        flat[name] = src.tensor(same) if same is not None else computed[name]
    report = ConversionReport(json.loads(conversion.report()))
    report["from"], report["to"] = release, to
    return flat, report


def convert_state_dict(state_dict, from_: str = None, to: str = None, *, spec: dict = None, key: str = "",
                       strict: bool = False, optimizer: str = "refuse", from_torch: str = None,
                       adapters: bool = False):
    """Carries a state dict from the release that saved it (`from_`) to release `to`.

    `state_dict`: a flat state dict, a training dict holding one (or several
    models: an EMA copy, a wrapper), a module, or a checkpoint's path.
    `to`: a release, default the installed one. `from_`: default the file's
    stamp; required otherwise. `spec`: the model's arguments in the
    catalogue's form, when known (decides changes that matter only for some
    arguments). `optimizer`: "refuse", "keep" or "drop" an optimizer state
    the conversion invalidates. `adapters`: keep what B's classes have no
    place for (a LayerNorm bias) for an adapter of B's model: the report's
    ``adapters`` then name the modules, and ``xcompat.adapt(model, report)``
    gives the model built in B its parameters before ``load_state_dict``.

    Returns ``(converted, report)``: for a dict, the same container shape
    with the models' tensors converted (tensors that did not change are the
    same objects, not copies; other entries kept); for a path, a flat dict by
    path ("model.token_emb.emb.weight", as safetensors holds tensors: pass
    ``torch.load(path, weights_only=True)`` to keep a container's shape).
    And a ConversionReport. Raises UnknownRelease,
    ProducerUnknown, CheckpointError or XcompatError with the command line's
    message.

    >>> sd, report = xcompat.convert_state_dict(sd, from_="0.28.4", to="2.31.10")
    >>> report.outcome, report.constructor
    ('lossless with arguments', ['TransformerWrapper(..., to_logits = nn.Linear(dim, num_tokens, bias = True))'])
    """
    src = _Source(state_dict)
    flat, report = _convert(src, from_, to or installed_release(), spec, key, strict, optimizer, from_torch, adapters)
    dropped = report.get("optimizer", []) if report.get("optimizer_action") == "dropped" else []
    return src.rebuild(flat, dropped), report


def convert_file(source, destination, *, to: str = None, from_: str = None, spec: dict = None, key: str = "",
                 strict: bool = False, optimizer: str = "refuse", dry_run: bool = False,
                 adapter: str = None) -> ConversionReport:
    """`xcompat convert SOURCE --to TO --out DESTINATION [--adapter ADAPTER]`:
    the file converted on disk, streamed tensor by tensor, with its
    container shape kept (.pt) and its provenance recorded. With `adapter`
    (a path), what B's classes cannot hold is kept for an adapter of B's
    model, written there as a stand-alone Python file (needs only torch:
    ``adapt(model)`` before ``load_state_dict``). Returns the report."""
    if strict and adapter:
        raise XcompatError("strict refuses anything but a pure conversion, and adapter asks for more: give one of them")
    destination_to = to or installed_release()
    report = ConversionReport(json.loads(_core.convert_file(os.fspath(source), os.fspath(destination), from_ or "",
                                                            destination_to, json.dumps(spec) if spec else "", key,
                                                            strict, optimizer, dry_run, bool(adapter))))
    if adapter and report.get("adapters") and not dry_run:
        _write_adapter(os.fspath(adapter), report)
    return report


def _write_adapter(path, report):
    """The stand-alone adapter file, written by the same C++ as `xcompat convert --adapter`."""
    _core.write_adapter(path, json.dumps(report["adapters"]), report["from"], report["to"],
                        "xcompat.convert_file(..., adapter=%r)" % path)


def load_state_dict(model, source, from_: str = None, strict: bool = True, *, key: str = "", spec: dict = None,
                    to: str = None, adapt: bool = True) -> ConversionReport:
    """Loads a checkpoint of any release into `model`, built with the installed release.

    Like ``model.load_state_dict(torch.load(path))``, with the checkpoint first
    converted from the release that saved it (`from_`, else its stamp) to
    the installed one. `model` may be an x-transformers model or your own
    module holding one; `source` a path (read without unpickling code) or a
    state dict / training dict. Raises LoadError when the model does not take
    the converted tensors (the message says what the conversion needs of
    the model, such as constructor arguments). Where the installed release's
    classes have no place for a tensor (an old LayerNorm's bias), the model
    is adapted first (`adapt`, default True): the modules named in the
    report's ``adapters`` gain the parameters that restore what the saving
    release computed. ``adapt=False`` loads the conversion as it is: what
    it loses, the report says.

    >>> model = TransformerWrapper(num_tokens=256, max_seq_len=64, attn_layers=Decoder(dim=64, depth=2, heads=4))
    >>> report = xcompat.load_state_dict(model, "trained-on-0.28.4.pt", from_="0.28.4")
    """
    src = _Source(source)
    flat, report = _convert(src, from_, to or installed_release(), spec, key, False, "keep", None, adapt)
    wanted = list(model.state_dict().keys())
    prefix = _prefix_for(flat, wanted)
    sub = {name[len(prefix):]: t for name, t in flat.items() if name.startswith(prefix)}
    if report.get("adapters"):
        _adapter_code().adapt(model, _adapter_rows(report, prefix))
    try:
        result = model.load_state_dict(sub, strict=strict)
    except RuntimeError as e:
        needs = "".join(f"\n  build the model with: {line}" for line in report.get("constructor", []))
        raise LoadError(f"{src.what}: converted from {report['from']} to {report['to']} "
                        f"({report.get('outcome')}), but the model does not take it: {e}{needs}") from None
    report["missing_keys"] = list(result.missing_keys)
    report["unexpected_keys"] = list(result.unexpected_keys)
    report["prefix"] = prefix
    return report


@functools.lru_cache(maxsize=1)
def _adapter_code():
    """harness/python/xcompat_adapter.py: the code `xcompat convert --adapter`
    writes out for users without the package, run here from the package's data
    (loaded once: every adapted module then shares its hook function)."""
    import importlib.util
    from ._check import _data_path
    path = _data_path("harness", "python", "xcompat_adapter.py")
    spec = importlib.util.spec_from_file_location("xcompat._adapter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _adapter_rows(report, prefix=""):
    rows = []
    for a in report.get("adapters", []):
        module = a["module"][len(prefix):] if prefix and a["module"].startswith(prefix) else a["module"]
        rows.append((module, a["kind"], tuple(a["shape"]), a["change"]))
    return rows


def adapt(model, report):
    """Adapts `model`, built with release B, to take a checkpoint converted
    with ``adapters=True``: each module the report's ``adapters`` name gains
    the parameter that restores what release A computed (``output_bias``: a
    bias added to the module's output). In place; returns the model. Call it
    before ``model.load_state_dict(converted, strict=True)``.

    >>> converted, report = xcompat.convert_state_dict(sd, from_="0.28.4", to="2.31.10", adapters=True)
    >>> model = TransformerWrapper(...)       # built with 2.31.10, as the report's constructor says
    >>> xcompat.adapt(model, report).load_state_dict(converted, strict=True)
    """
    return _adapter_code().adapt(model, _adapter_rows(report))


def _prefix_for(flat, wanted):
    """Where the model's keys sit among the converted names: the prefix that
    holds most of them ("" for a plain state dict, "model." in a training dict)."""
    if not wanted:
        return ""
    candidates = {""}
    for mk in wanted[:4]:
        for name in flat:
            if name.endswith(mk) and (len(name) == len(mk) or name[-len(mk) - 1] == "."):
                candidates.add(name[: len(name) - len(mk)])
    return max(sorted(candidates), key=lambda p: sum((p + mk) in flat for mk in wanted))


def save(model, path, *, spec: dict = None, release: str = None) -> dict:
    """Saves `model`'s state dict (or a state dict) stamped with the release
    that saved it, the torch and the spec: every xcompat command and function
    reads the stamp, and ``torch.load`` ignores it. `.safetensors` keeps it in
    the metadata, other extensions use torch.save's zip. Written to a
    temporary name and renamed into place. Returns the stamp.

    >>> xcompat.save(model, "model.pt", spec={"model": "decoder", "layers": {"dim": 64, "depth": 2, "heads": 4}})
    """
    import torch
    state_dict = model.state_dict() if hasattr(model, "state_dict") else model
    stamp = {"x_transformers": release or installed_release(), "torch": torch.__version__.split("+")[0],
             "stamped_by": f"xcompat {_core.version()}"}
    if spec is not None:
        stamp["spec"] = spec
    path = os.fspath(path)
    partial = path + ".partial"
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import save_file
            # safetensors refuses tensors that share storage (tied weights): each its own copy.
            tensors = {k: v.detach().clone().contiguous() for k, v in state_dict.items()}
            save_file(tensors, partial, metadata={"xcompat": json.dumps(stamp)})
        else:
            import zipfile
            torch.save(state_dict, partial)
            with zipfile.ZipFile(partial, "a") as z:
                z.writestr(z.namelist()[0].split("/")[0] + "/xcompat.json", json.dumps(stamp))
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return stamp
