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
raised; a worker fault (crash, timeout) is not recorded and is tried again,
and so is a failure of the machine rather than the release (a compiler
missing or killed, a full disk, memory exhausted): EnvironmentFault.
"""

import errno
import json
import os
import subprocess
import time
import traceback
import warnings

import torch
from safetensors.torch import load_file, save_file

EXPORT_FORMAT = 2  # 2: probe inputs and outputs beside the artifact
ARTIFACT_FILES = {"torchscript": "model.ts", "aoti": "model.pt2"}


class _FixtureForward(torch.nn.Module):
    """The fixture's forward path (driver.forward) over positional tensors,
    in the record's input order: what both exporters need."""

    def __init__(self, driver, model, spec, names):
        super().__init__()
        self.model = model
        self.exported_on = None  # the test hook's branch: the first input's sum at export
        self._driver = driver
        self._spec = spec
        self._names = list(names)

    def forward(self, *tensors):
        inputs = dict(zip(self._names, tensors))
        if _hook("XCOMPAT_TEST_EXPORT_BRANCH"):
            # Test hook: data-dependent control flow, which torch.export
            # cannot capture and tracing silently bakes in: inputs other than
            # those it was exported on take another branch.
            if bool(tensors[0].sum() != self.exported_on):
                return self._driver.forward_path(self.model, self._spec, inputs) + 1.0
        return self._driver.forward_path(self.model, self._spec, inputs)


class EnvironmentFault(RuntimeError):
    """An export that failed for a reason outside the release: raised, so
    that nothing is recorded and the next sweep exports again."""


# Text that names the machine, not the release, wherever in the chain it
# appears (the compiler's output is inside inductor's exception text).
_ENVIRONMENT_MARKERS = [
    ("No space left on device", "the disk is full"),
    ("Disk quota exceeded", "the disk is full"),
    ("Cannot allocate memory", "memory is exhausted"),
    ("internal compiler error", "the compiler crashed"),
    ("Killed signal terminated program", "the compiler was killed"),
    ("InvalidCxxCompiler", "no working C++ compiler"),
    ("g++: not found", "no C++ compiler"),
    ("No such file or directory: 'g++'", "no C++ compiler"),
    ("No such file or directory: 'c++'", "no C++ compiler"),
]


def environment_failure(e):
    """Why an export failed outside the release ("the disk is full"), or
    None when the failure is the release's."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, MemoryError) or (isinstance(e, OSError) and e.errno == errno.ENOMEM):
            return "memory is exhausted"
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return "the disk is full"
        if isinstance(e, subprocess.CalledProcessError) and e.returncode < 0:
            return f"the compiler was killed by signal {-e.returncode}"
        text = f"{type(e).__name__}: {e}"
        for marker, why in _ENVIRONMENT_MARKERS:
            if marker in text:
                return why
        e = e.__cause__ or e.__context__
    return None


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
        if line and line not in out and issubclass(w.category, (DeprecationWarning, FutureWarning, UserWarning,
                                                              torch.jit.TracerWarning)):
            out.append(line)
    return out[:20]


def _trace(wrapper, args, probe_args, path, stamp):
    """Traces on the fixture's inputs with the tracer's own check on, over
    those and the probe inputs. A trace that disagrees with eager there (it
    baked in a branch, a shape, a constant) is kept and its check's message
    returned: the cell runs it on the probe inputs and shows the DRIFT, the
    message is its cause. "" when the check passed."""
    check = ""
    try:
        traced = torch.jit.trace(wrapper, args, check_trace=True, check_inputs=[args, probe_args])
    except torch.jit.TracingCheckError as e:
        check = " ".join(str(e).split())[:600]
        traced = torch.jit.trace(wrapper, args, check_trace=False)
    traced.save(path, _extra_files={"xcompat.json": json.dumps(stamp, sort_keys=True)})
    return check


def _probe_inputs(driver, spec, inputs, kind):
    """Inputs the artifact was not made from, drawn independently (another
    seed): for a trace, also another sequence length, and with it another
    padding mask, where the spec has one; an AOTInductor package is compiled
    for the fixture's shapes, so its probe keeps them. Returns the inputs
    and how they were drawn."""
    probe_spec = dict(spec, seed=int(spec["seed"]) + 7919)
    n = spec.get("seq_len")
    if kind == "torchscript" and n and spec["model"] != "vit" and int(n) > 4:
        probe_spec["seq_len"] = int(n) - 3
    probe = driver.make_inputs(probe_spec)
    if set(probe) != set(inputs):  # the spec draws other inputs than the fixture holds: keep its names
        probe = {k: v for k, v in probe.items() if k in inputs}
    return probe, {"seed": probe_spec["seed"], "seq_len": probe_spec.get("seq_len")}


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
    wrapper.exported_on = args[0].sum() if args else None
    # The probe: the release's eager outputs on inputs the artifact never saw.
    # A model that takes no other length gets the fixture's shapes with other
    # values; one that takes no other values either gets no probe (recorded).
    drawn, probe_args = None, args
    for probe_kind in dict.fromkeys([kind, "aoti"]):
        try:
            probe, drawn = _probe_inputs(driver, spec, inputs, probe_kind)
            with torch.no_grad():
                probe_args = tuple(probe[n] for n in names)
                probe_out = wrapper(*probe_args)
        except Exception:  # noqa: BLE001 - tried with the next, narrower probe
            drawn, probe_args = None, args
            continue
        save_file({k: v.contiguous() for k, v in probe.items()}, os.path.join(out_dir, "probe_inputs.safetensors"))
        save_file({"logits": probe_out.contiguous()}, os.path.join(out_dir, "probe_outputs.safetensors"))
        break
    release = driver.release_version()
    stamp = {"producer": "xcompat", "x_transformers": release, "torch": torch.__version__, "kind": kind,
             "format": EXPORT_FORMAT, "spec": spec.get("name", ""), "dtype": spec.get("dtype", "float32")}
    record = {"format": EXPORT_FORMAT, "kind": kind, "release": release, "torch": torch.__version__,
              "inputs": names, "stamp": stamp, "probe": drawn}
    path = os.path.join(out_dir, ARTIFACT_FILES[kind])
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.no_grad():
                if _hook("XCOMPAT_TEST_EXPORT_RAISE") == kind:
                    raise RuntimeError("test hook: export refused")
                if _hook("XCOMPAT_TEST_EXPORT_ENVIRONMENT") == kind:  # a full disk, as a test sees one
                    raise RuntimeError("writing the package failed") from OSError(
                        errno.ENOSPC, "No space left on device", path)
                if kind == "torchscript":
                    check = _trace(wrapper, args, probe_args, path, stamp)
                    if check:
                        record["trace_check"] = check
                else:
                    _compile_aoti(wrapper, args, path, stamp, cache_dir)
            record.update(status="ok", file=ARTIFACT_FILES[kind], sha256=driver.sha256_file(path))
        except Exception as e:  # noqa: BLE001 - every export failure is the cell's finding
            if os.path.exists(path):
                os.remove(path)
            why = environment_failure(e)
            if why:
                raise EnvironmentFault(f"[environment] {why}: {_first_line(e)}") from e
            record.update(status="failed", error=_first_line(e),
                          construct=failing_construct(e, os.path.dirname(driver.x_transformers.__file__)))
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["warnings"] = _warning_lines(caught)
    with open(os.path.join(out_dir, "export.json"), "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    return record
