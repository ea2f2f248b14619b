"""Deployment artifacts of a release's fixture model, for the C++ consumers
cpp-torchscript and cpp-export (docs/DEPLOYMENT.md).

Runs inside a release worker, next to xcompat_driver (which passes itself in,
so this module never imports x_transformers on its own). The release rebuilds
its fixture's spec, loads the fixture's own checkpoint strictly, and exports
its forward on the fixture's inputs:

  torchscript   torch.jit.trace -> model.ts (the stamp in the archive's
                extra files, "xcompat.json")
  aoti          torch.export + AOTInductor -> model.pt2 (the stamp in the
                package metadata, key "xcompat")

The result is a record (export.json) kept with the fixture: either the file
with its sha256 and the input order, or why the model does not export (the
exception's first line and the construct of the release that failed).
Export failures are findings about the release, so they are returned, not
raised; a worker fault (crash, timeout) is not recorded and is tried again.
"""

import json
import os
import time
import traceback
import warnings

import torch
from safetensors.torch import load_file

EXPORT_FORMAT = 1
ARTIFACT_FILES = {"torchscript": "model.ts", "aoti": "model.pt2"}


class _FixtureForward(torch.nn.Module):
    """The fixture's forward path (driver.forward) over positional tensors,
    in the record's input order: what both exporters need."""

    def __init__(self, driver, model, spec, names):
        super().__init__()
        self.model = model
        self._driver = driver
        self._spec = spec
        self._names = list(names)

    def forward(self, *tensors):
        inputs = dict(zip(self._names, tensors))
        if _hook("XCOMPAT_TEST_EXPORT_BRANCH"):
            # Test hook: data-dependent control flow, which torch.export
            # cannot capture (and tracing silently bakes in).
            if bool(tensors[0].sum() > 0):
                return self._driver.forward_path(self.model, self._spec, inputs) * 1.0
        return self._driver.forward_path(self.model, self._spec, inputs)


def _hook(name):
    return os.environ.get(name) if os.environ.get("XCOMPAT_TEST_HOOKS") == "1" else None


def _first_line(e):
    text = str(e).strip() or type(e).__name__
    return f"{type(e).__name__}: {text.splitlines()[0][:300]}"


def failing_construct(e, package_dir):
    """Where in the release the export failed: the innermost frame inside the
    release's package ("x_transformers/attend.py:123: if n == 1 and causal:"),
    else the innermost frame of the model's forward path, else ""."""
    frames = []
    seen = set()
    while e is not None and id(e) not in seen:  # the chain: export re-raises user errors
        seen.add(id(e))
        frames = traceback.extract_tb(e.__traceback__) + frames
        e = e.__cause__ or e.__context__
    torch_dir = os.path.dirname(torch.__file__) + os.sep
    inside = [f for f in frames if os.path.abspath(f.filename).startswith(package_dir + os.sep)]
    if not inside:  # failed outside the release: the innermost frame that is not torch's own
        inside = [f for f in frames if not os.path.abspath(f.filename).startswith(torch_dir)]
    if not inside:
        return ""
    f = inside[-1]
    rel = os.path.relpath(f.filename, os.path.dirname(package_dir))
    if rel.startswith(".."):
        rel = os.path.basename(f.filename)
    return f"{rel}:{f.lineno}: {(f.line or '').strip()[:200]}"


def _warning_lines(caught):
    """What the exporter warned about, once each: deprecations above all
    (torch.jit.trace is deprecated from torch 2.10)."""
    out = []
    for w in caught:
        line = f"{w.category.__name__}: {str(w.message).strip().splitlines()[0][:240]}" if str(w.message).strip() else ""
        if line and line not in out and issubclass(w.category, (DeprecationWarning, FutureWarning, UserWarning)):
            out.append(line)
    return out[:20]


def _trace(wrapper, args, path, stamp):
    traced = torch.jit.trace(wrapper, args, check_trace=False)
    traced.save(path, _extra_files={"xcompat.json": json.dumps(stamp, sort_keys=True)})


def _compile_aoti(wrapper, args, path, stamp, cache_dir):
    import torch._inductor.config as inductor_config  # noqa: PLC0415 (only export cells pay for it)

    if cache_dir:
        # Kept under xcompat's state: inductor reuses its precompiled header
        # and kernels across releases and runs (a cold compile is ~3x slower).
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache_dir
    # One compiler process per worker: the sweep's -j decides parallelism.
    inductor_config.compile_threads = 1
    program = torch.export.export(wrapper, args, strict=False)
    torch._inductor.aoti_compile_and_package(
        program, package_path=path,
        inductor_configs={"aot_inductor.metadata": {"xcompat": json.dumps(stamp, sort_keys=True)}})


def export_artifact(driver, spec, fixture_dir, kind, out_dir, cache_dir=""):
    """Writes <out_dir>/export.json and, when the model exports, its artifact.
    Raises driver.Broken when the fixture's own checkpoint does not load."""
    if kind not in ARTIFACT_FILES:
        raise ValueError(f"unknown artifact kind {kind!r} (torchscript, aoti)")
    model = driver.build_model(spec)
    report, error = driver.load_strict(model, os.path.join(fixture_dir, "model.pt"))
    if error:
        raise driver.Broken("its own checkpoint does not load: " + error.splitlines()[0][:200])
    skew = _hook("XCOMPAT_TEST_DEPLOY_SKEW")
    if skew:  # test hook: an artifact that computes something else than the eager model
        with torch.no_grad():
            for p in model.parameters():
                if p.is_floating_point():
                    p.add_(float(skew))
    inputs = load_file(os.path.join(fixture_dir, "inputs.safetensors"))
    names = sorted(inputs)
    args = tuple(inputs[n] for n in names)
    wrapper = _FixtureForward(driver, model, spec, names).eval()
    release = driver.release_version()
    stamp = {"producer": "xcompat", "x_transformers": release, "torch": torch.__version__, "kind": kind,
             "format": EXPORT_FORMAT, "spec": spec.get("name", ""), "dtype": spec.get("dtype", "float32")}
    record = {"format": EXPORT_FORMAT, "kind": kind, "release": release, "torch": torch.__version__,
              "inputs": names, "stamp": stamp}
    path = os.path.join(out_dir, ARTIFACT_FILES[kind])
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.no_grad():
                if _hook("XCOMPAT_TEST_EXPORT_RAISE") == kind:
                    raise RuntimeError("test hook: export refused")
                if kind == "torchscript":
                    _trace(wrapper, args, path, stamp)
                else:
                    _compile_aoti(wrapper, args, path, stamp, cache_dir)
            record.update(status="ok", file=ARTIFACT_FILES[kind], sha256=driver.sha256_file(path))
        except Exception as e:  # noqa: BLE001 - every export failure is the cell's finding
            if os.path.exists(path):
                os.remove(path)
            record.update(status="failed", error=_first_line(e),
                          construct=failing_construct(e, os.path.dirname(driver.x_transformers.__file__)))
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["warnings"] = _warning_lines(caught)
    with open(os.path.join(out_dir, "export.json"), "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    return record
