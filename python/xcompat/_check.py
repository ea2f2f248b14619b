"""xcompat.check: does release B (by default the one installed here, with
this environment's torch) compute what the release that saved a checkpoint
computed? Measured like a matrix cell:

  1. the model is found in the file (or dict) and staged as a flat state dict;
  2. release A (from_, else the stamp) builds the spec in its sandbox (made
     under the state directory on demand: pip install --target --no-deps, with
     its era's extras), loads the staged tensors strictly and computes the
     reference on inputs drawn from the spec's seed;
  3. B loads the staged file as it is (direct); when that does not pass, the
     file converted to B (with the constructor arguments B needs);
  4. each output is judged by the C++ comparison with the pins' tolerance.

Every release runs in its own Python process (this interpreter, so this
environment's torch); nothing of them is imported here.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from . import _core
from ._api import Report, _Source, _producer, convert_file, fingerprint, installed_release
from ._errors import XcompatError

# What a release's process runs: the driver of the matrix's workers
# (data/harness/python/xcompat_driver.py), bound to the x-transformers first
# on sys.path (a sandbox, or this environment's own).
_RELEASE_SCRIPT = r"""
import json, os, sys
driver, sandbox, action, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
sys.path.insert(0, driver)
if sandbox:
    sys.path.insert(0, sandbox)
import xcompat_driver as d
import x_transformers
d.x_transformers = x_transformers
if action == "reference":
    result = d.make_reference(args["spec"], args["checkpoint"], args["out"], args["version"])
else:
    result = d.evaluate(args["spec"], args["fixture"], args["checkpoint"], repeats=1, args=args.get("args"),
                        adapters=args.get("adapters"))
    if result["status"] == "ok":
        with open(args["out"], "wb") as f:
            f.write(result.pop("logits"))
print("XCOMPAT-RESULT " + json.dumps({"release": d.release_version(), **result}, default=str))
"""


class CheckReport(Report):
    """The answer: ``exit_code`` 0 (B computes the same as it is), 3 (it does
    not: ``converted`` says whether ``xcompat convert`` carries it), 2
    (cannot tell: ``cannot_tell`` says why); ``direct`` and ``converted``
    each with its ``verdict``, ``reason`` and ``metrics``."""

    def __str__(self):
        lines = [f"{self['file']}: saved by {self['from']} ({self['from_source']}), checked against "
                 f"{self['to']}{' (installed)' if self.get('installed') else ''}"]
        if self.get("spec_assumed"):
            lines.append("  the model's arguments were read from its tensors (pass spec= to be sure); assumed:")
            lines.extend(f"      {a}" for a in self["spec_assumed"])
        if self.get("cannot_tell"):
            lines.append(f"  cannot tell: {self['cannot_tell']}")
        for path in ("direct", "converted", "adapted"):
            r = self.get(path)
            if r:
                lines.append(f"  {path}: {r['verdict']}" + (f" ({r['reason']})" if r.get("reason") else ""))
                for what, names in (r.get("load_report") or {}).items():
                    if names:
                        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
                        lines.append(f"      {what}: {', '.join(names[:3])}{more}")
                if r.get("metrics"):
                    lines.append(f"      nmse {r['metrics']['nmse']:.3g}, max |diff| {r['metrics']['max_abs']:.3g}")
                if r.get("outcome"):
                    lines.append(f"      the conversion: {r['outcome']}")
                for line in r.get("constructor", []):
                    lines.append(f"      build the model with: {line}")
        if self.get("convert_command"):
            lines.append(f"  carry it across: {self['convert_command']}")
        lines.append({0: "safe as it is", 3: "breaks", 2: "cannot tell"}[self["exit_code"]])
        return "\n".join(lines)


_PASSING = ("IDENTICAL", "CLOSE")


def _data_path(*parts):
    here = os.path.join(os.path.dirname(__file__), "data", *parts)
    if os.path.exists(here):
        return here
    return os.path.join(_core.project_root(), *parts)


def _sandbox(release, install):
    """The directory x-transformers `release` is importable from, installed on demand."""
    target = os.path.join(_core.release_sandboxes(), release)
    if os.path.isdir(os.path.join(target, "x_transformers")):
        return target
    if not install:
        raise XcompatError(f"x-transformers {release} is not installed in {target}: pass install=True")
    packages = [f"x-transformers=={release}", *_core.extras_for(release)]
    partial = target + ".partial"
    subprocess.run(["rm", "-rf", partial], check=True)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "--target", partial, *packages], capture_output=True, text=True)
    if r.returncode != 0:
        raise XcompatError(f"pip could not install {' '.join(packages)}: {r.stderr.strip()[-600:]}")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(partial, target)
    return target


def _run_release(sandbox, action, args):
    r = subprocess.run([sys.executable, "-c", _RELEASE_SCRIPT, _data_path("harness", "python"), sandbox or "",
                        action, json.dumps(args)], capture_output=True, text=True)
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("XCOMPAT-RESULT "):
            return json.loads(line[len("XCOMPAT-RESULT "):])
    tail = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"status": "error", "error": tail[:600]}


def _measure(sandbox, spec, fixture, checkpoint, args, consumer, adapters=None):
    out = os.path.join(fixture, f"out-{os.path.basename(checkpoint)}.bin")
    r = _run_release(sandbox, "evaluate", {"spec": spec, "fixture": fixture, "checkpoint": checkpoint,
                                            "args": args or None, "out": out, "adapters": adapters or None})
    if r["status"] == "load_fail":
        return {"verdict": "LOAD_FAIL", "reason": r["error"].splitlines()[0][:300], "load_report": r["load_report"]}
    if r["status"] != "ok":
        return {"verdict": "ERROR", "reason": r.get("error", "")}
    dtype = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}[r["dtype"]]
    with open(out, "rb") as f:
        data = bytearray(f.read())
    judged = json.loads(_core.judge((dtype, r["shape"], data), os.path.join(fixture, "outputs.safetensors"),
                                    spec.get("name", ""), consumer))
    judged["release"] = r["release"]
    return judged


def _complete_spec(spec, found):
    """A spec in the catalogue's form: what the fingerprint read, with the
    seed, batch and sequence the inputs are drawn from."""
    spec = json.loads(json.dumps(spec or found.get("spec") or {}))
    if not spec.get("model"):
        raise XcompatError("the model's kind is not known: pass spec=")
    spec.setdefault("name", "check")
    spec.setdefault("seed", 0)
    spec.setdefault("batch", 2)
    max_len = (spec.get("wrapper") or {}).get("max_seq_len", 16)
    spec.setdefault("seq_len", min(16, int(max_len)))
    if found.get("dtype") and "dtype" not in spec:
        spec["dtype"] = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}.get(found["dtype"], "float32")
    return spec


def check(source, to: str = "installed", *, from_: str = None, spec: dict = None, key: str = "",
          install: bool = True) -> CheckReport:
    """Does release `to` compute what the release that saved `source` computed?

    `to`: "installed" (the x-transformers and torch of this environment) or a
    release X.Y.Z (run from its sandbox). `from_`: the saving release, else
    the file's stamp. `spec`: the model's arguments in the catalogue's form,
    else what the stamp or the fingerprint says. Returns a CheckReport
    (``exit_code``, ``direct``, ``converted``, ``adapted`` when the
    conversion is lossy and adapters may carry it, ``convert_command``).

    >>> r = xcompat.check("trained-on-0.28.4.pt", from_="0.28.4")
    >>> r.exit_code, r.direct["verdict"], r.converted["verdict"]
    (3, 'LOAD_FAIL', 'DRIFT')
    """
    import torch

    src = _Source(source)
    found_models = fingerprint(source if src.file is not None else src.original, key).models
    if len(found_models) != 1:
        places = ", ".join(repr(m["prefix"]) for m in found_models)
        raise XcompatError(f"{src.what}: {len(found_models)} x-transformers models in it ({places}): pass key= "
                           "to choose one")
    found = found_models[0]
    release, from_source, _torch, known_spec = _producer(src, from_, key)
    _core.check_release(release, "from_" if from_source == "from_" else f"saved by ({from_source})")
    installed = to == "installed"
    target = installed_release() if installed else to
    _core.check_release(target, "to")
    given = spec or known_spec
    spec = _complete_spec(given, found)
    report = CheckReport(file=src.what, model=found["prefix"], kind=found["kind"], spec=spec, installed=installed,
                         torch=torch.__version__, **{"from": release, "from_source": from_source, "to": target})
    if not given:  # read from the tensors: what they cannot tell was assumed
        report["spec_assumed"] = found.get("ambiguous", [])

    # The model's own tensors, flat, as A's model names them.
    prefix = found["prefix"]
    names = [n for n, _, _ in src.infos if n.startswith(prefix)]
    digest = hashlib.sha256(json.dumps([src.infos, release, target, spec], sort_keys=True, default=str).encode())
    work = os.path.join(_core.state_dir(), "checks", digest.hexdigest()[:16])
    os.makedirs(work, exist_ok=True)
    staged = os.path.join(work, "model.pt")
    torch.save({n[len(prefix):]: _as_torch(src.tensor(n)) for n in names}, staged)

    reference = os.path.join(work, "reference")
    os.makedirs(reference, exist_ok=True)
    try:
        sandbox_a = _sandbox(release, install)
    except XcompatError as e:
        report["cannot_tell"] = f"no reference: {e}"
        report["exit_code"] = 2
        return report
    made = _run_release(sandbox_a, "reference", {"spec": spec, "checkpoint": staged, "out": reference,
                                                 "version": _core.version()})
    if made["status"] != "ok":
        why = made.get("error", "").splitlines()[0][:300] if made.get("error") else made["status"]
        report["cannot_tell"] = f"{release} does not {'load' if made['status'] == 'load_fail' else 'run'} it: {why}"
        report["exit_code"] = 2
        return report

    sandbox_b = None if installed else _sandbox(target, install)
    consumer = target
    report["direct"] = _measure(sandbox_b, spec, reference, staged, None, consumer)
    if report["direct"]["verdict"] in _PASSING:
        report["exit_code"] = 0
        return report
    converted_path = os.path.join(reference, "converted.pt")
    try:
        conversion = convert_file(staged, converted_path, to=target, from_=release, spec=spec)
    except XcompatError as e:
        report["converted"] = {"verdict": "REFUSED", "reason": str(e)}
        report["exit_code"] = 3
        return report
    measured = _measure(sandbox_b, spec, reference, converted_path, conversion.get("args"), consumer)
    measured["outcome"] = conversion.get("outcome")
    measured["constructor"] = conversion.get("constructor", [])
    report["converted"] = measured
    if measured["verdict"] in _PASSING:
        report["convert_command"] = (f"xcompat convert {src.what} --from {release} --to {target} "
                                     f"--out converted.pt")
    elif conversion.get("outcome") == "lossy":
        _adapted_path(report, src, staged, reference, release, target, spec, sandbox_b, consumer)
    report["exit_code"] = 3
    return report


def _adapted_path(report, src, staged, reference, release, target, spec, sandbox_b, consumer):
    """The plain conversion is lossy: converted again keeping what the
    history's adapters carry, and measured with B's model adapted, as the
    sweep's adapted path does. Sets report["adapted"], and the command when
    it passes."""
    adapted_path = os.path.join(reference, "adapted.pt")
    try:
        conversion = convert_file(staged, adapted_path, to=target, from_=release, spec=spec,
                                  adapter=os.path.join(reference, "adapter.py"))
    except XcompatError as e:
        report["adapted"] = {"verdict": "REFUSED", "reason": str(e)}
        return
    rows = [[a["module"], a["kind"], list(a["shape"]), a["change"]] for a in conversion.get("adapters", [])]
    if conversion.get("outcome") != "lossless with an adapter" or not rows:
        report["adapted"] = {"verdict": "LOSSY", "outcome": conversion.get("outcome"),
                             "reason": "what the conversion loses, no adapter of the history carries"}
        return
    measured = _measure(sandbox_b, spec, reference, adapted_path, conversion.get("args"), consumer, rows)
    measured["outcome"] = conversion.get("outcome")
    measured["adapters"] = rows
    if measured["verdict"] in _PASSING:
        measured["verdict"] = "ADAPTED"
        report["convert_command"] = (f"xcompat convert {src.what} --from {release} --to {target} "
                                     f"--adapter adapter.py --out converted.pt")
    report["adapted"] = measured


def _as_torch(value):
    import torch
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.from_numpy(value)
