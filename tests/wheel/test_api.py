"""The Python API of the installed wheel, as a user calls it (tests/wheel/run
sets the environment: the corpus a release made, fixtures of 0.28.4 and
1.31.4, torch and x-transformers 2.31.10 importable)."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

start = time.perf_counter()
import xcompat  # noqa: E402

IMPORT_S = time.perf_counter() - start
assert "torch" not in sys.modules, "import xcompat imported torch"

CORPUS = os.environ["XCOMPAT_TEST_CORPUS"]
FIXTURES = os.environ["XCOMPAT_TEST_FIXTURES"]
TO = "2.31.10"
failures = []


def case(fn):
    try:
        fn()
        print(f"  ok    {fn.__name__}")
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the script fails
        failures.append(fn.__name__)
        print(f"  FAIL  {fn.__name__}: {type(e).__name__}: {e}")
    return fn


def corpus_spec(file):
    """The spec the release built the corpus file's (first) model with."""
    manifest = json.load(open(os.path.join(CORPUS, "manifest.json")))
    (entry,) = [f for f in manifest["files"] if f["file"] == file]
    return entry["models"][0]["spec"]


def driver():
    """xcompat's release driver, bound to the installed x-transformers: it
    builds a spec's model and runs its forward path as the matrix does."""
    if os.environ["XCOMPAT_TEST_DRIVER"] not in sys.path:
        sys.path.insert(0, os.environ["XCOMPAT_TEST_DRIVER"])
    import x_transformers
    import xcompat_driver
    xcompat_driver.x_transformers = x_transformers
    return xcompat_driver


def fixture(release, spec):
    found = sorted(glob.glob(os.path.join(FIXTURES, release, f"{spec}-float32-*")))
    assert found, f"no fixture {release}/{spec}"
    meta = json.load(open(os.path.join(found[0], "meta.json")))
    return found[0], meta


@case
def the_package_is_the_installed_one():
    if os.environ.get("XCOMPAT_TEST_IN_CHECKOUT") != "1":
        assert xcompat.__file__.startswith(sys.prefix), f"xcompat came from {xcompat.__file__}, not the wheel"


@case
def installed_release_is_the_environments():
    assert xcompat.installed_release() == TO


@case
def fingerprint_of_a_training_dict_places_it():
    fp = xcompat.fingerprint(os.path.join(CORPUS, "training_dict.pt"))
    assert fp.known, fp
    (model,) = fp.models
    assert model["prefix"] == "model.", model["prefix"]
    assert any(r["first"].startswith("0.") for r in model["ranges"]), model["ranges"]


@case
def typed_errors_carry_the_command_lines_message():
    try:
        xcompat.fingerprint(os.environ["XCOMPAT_TEST_HOSTILE"])
    except xcompat.CheckpointError as e:
        cli = os.environ["XCOMPAT_TEST_HOSTILE_CLI"].strip()
        assert cli.endswith(str(e)), (cli, str(e))
    else:
        raise AssertionError("a hostile file was read")
    try:
        xcompat.convert_state_dict(os.path.join(CORPUS, "ar_wrapper.pt"), from_="0.28.99", to=TO)
    except xcompat.UnknownRelease as e:
        assert "x-transformers has no such release" in str(e), e
    else:
        raise AssertionError("an unpublished release was taken")
    try:
        xcompat.convert_state_dict(os.path.join(CORPUS, "ar_wrapper.pt"), to=TO)
    except xcompat.ProducerUnknown as e:
        assert "from_=" in str(e) and "0.28.4" in str(e), e
    else:
        raise AssertionError("a file without a stamp was converted without from_")
    assert issubclass(xcompat.CheckpointError, xcompat.XcompatError)


def forward(model, spec, fixture_dir):
    import torch
    d = driver()
    from safetensors.torch import load_file
    inputs = load_file(os.path.join(fixture_dir, "inputs.safetensors"))
    with torch.no_grad():
        return d.forward_path(model, spec, inputs)


def reproduces(release, spec_name):
    """Loads `release`'s fixture into a 2.31.10 model built as the conversion
    asks: the outputs match where the conversion is lossless, and differ
    where it says it is lossy (the matrix's CONVERTED, and its honesty)."""
    import torch
    d = driver()
    from safetensors.torch import load_file
    fixture_dir, meta = fixture(release, spec_name)
    spec = meta["spec"]
    path = os.path.join(fixture_dir, "model.pt")
    _, planned = xcompat.convert_state_dict(path, from_=release, to=TO, spec=spec, adapters=True)
    model = d.build_model(d.with_args(spec, planned.args))
    report = xcompat.load_state_dict(model, path, from_=release, spec=spec)  # adapts the model where it must
    assert report.outcome == planned.outcome
    got = forward(model, spec, fixture_dir)
    want = load_file(os.path.join(fixture_dir, "outputs.safetensors"))["logits"]
    close = torch.allclose(got, want, rtol=1e-4, atol=1e-5)
    if report.outcome in ("unchanged", "lossless", "lossless with arguments", "lossless with an adapter"):
        assert close, f"{release} -> {TO} {spec_name}: {report.outcome}, yet max |diff| {(got - want).abs().max():.3g}"
    else:
        assert report.lossy_tensors or report.lost, report  # a tensor dropped, or a computation B does otherwise
        assert not close, f"{release} -> {TO} {spec_name}: said lossy, yet the outputs match"
    return report.outcome


@case
def load_state_dict_reproduces_where_the_conversion_is_lossless():
    outcomes = {(r, s): reproduces(r, s) for r in ("0.28.4", "1.31.4")
                for s in ("decoder-rmsnorm", "decoder-rotary", "xtransformer-cross")}
    print("      outcomes:", outcomes)
    assert any(o.startswith("lossless") for o in outcomes.values()), "no lossless pair was exercised"
    # Every lossy pair of these is now carried by an adapter (0.28.4's norms,
    # rotated values); the plain conversion's lossy answer is the next case's.
    assert any(o == "lossless with an adapter" for o in outcomes.values()), "no adapted pair was exercised"


@case
def a_dict_in_memory_converts_like_the_file_and_shares_what_did_not_change():
    import torch
    path = os.path.join(CORPUS, "training_dict.pt")
    loaded = torch.load(path, weights_only=True)
    spec = corpus_spec("training_dict.pt")
    converted, report = xcompat.convert_state_dict(loaded, from_="0.28.4", to=TO, optimizer="drop", spec=spec)
    # From a path, the tensors come back flat, by path (as safetensors holds them).
    flat, _ = xcompat.convert_state_dict(path, from_="0.28.4", to=TO, optimizer="drop", spec=spec)
    from_file = {"model": {k[len("model."):]: t for k, t in flat.items() if k.startswith("model.")}}
    assert set(converted) == set(loaded) - {"optimizer"}, "the container's shape changed"
    assert converted["step"] == loaded["step"] and converted["config"] == loaded["config"]
    model_in, model_out = loaded["model"], converted["model"]
    assert set(model_out) == set(from_file["model"])
    for k, t in model_out.items():
        assert torch.equal(t, from_file["model"][k]), k
    shared = [k for k, t in model_out.items() if any(t is s for s in model_in.values())]
    assert shared, "every tensor was copied"
    assert report.changes and report.outcome == "lossy", report.outcome


@case
def load_state_dict_finds_the_model_in_a_lightning_checkpoint():
    d = driver()
    path = os.path.join(CORPUS, "epoch=0-step=4.ckpt")
    fp = xcompat.fingerprint(path)
    (found,) = fp.models
    spec = corpus_spec("epoch=0-step=4.ckpt")
    _, planned = xcompat.convert_state_dict(path, from_="0.28.4", to=TO, spec=spec, optimizer="keep")
    model = d.build_model(d.with_args(spec, planned.args))
    report = xcompat.load_state_dict(model, path, from_="0.28.4", spec=spec)
    assert report.prefix == found["prefix"], (report.prefix, found["prefix"])
    assert not report.missing_keys and not report.unexpected_keys


@case
def the_model_refusing_the_tensors_is_a_load_error():
    d = driver()
    fixture_dir, meta = fixture("0.28.4", "decoder-rmsnorm")
    model = d.build_model(meta["spec"])  # without the arguments the conversion asks for
    try:
        xcompat.load_state_dict(model, os.path.join(fixture_dir, "model.pt"), from_="0.28.4")
    except xcompat.LoadError as e:
        assert "build the model with" in str(e), e
    else:
        raise AssertionError("a model without to_logits' bias took the converted tensors")


@case
def save_stamps_and_the_stamp_is_read_back():
    import torch
    d = driver()
    fixture_dir, meta = fixture("1.31.4", "decoder-rmsnorm")
    model = d.build_model(meta["spec"])
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("model.pt", "model.safetensors"):
            path = os.path.join(tmp, name)
            stamp = xcompat.save(model, path, spec=meta["spec"])
            assert stamp["x_transformers"] == TO
            assert xcompat.fingerprint(path).models[0]["stamped"] == TO
            converted, report = xcompat.convert_state_dict(path, to="1.31.4")  # no from_: the stamp says
            assert report["from"] == TO
        state = torch.load(os.path.join(tmp, "model.pt"), weights_only=True)
        assert set(state) == set(model.state_dict())


@case
def without_torch_the_tensors_are_numpy():
    code = f"""
import sys, numpy
from safetensors.numpy import load_file
import xcompat
sd = load_file({os.path.join(CORPUS, 'ar_wrapper.safetensors')!r})
out, report = xcompat.convert_state_dict(sd, from_="0.28.4", to="1.31.4", spec={corpus_spec('ar_wrapper.safetensors')!r})
assert "torch" not in sys.modules, "torch was imported"
assert all(isinstance(t, numpy.ndarray) for t in out.values())
assert report.changes, report
print(len(out))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-800:]


@case
def check_measures_the_installed_release_and_sees_a_break():
    fixture_dir, _ = fixture("1.31.4", "decoder-rmsnorm")  # no change between 1.31.4 and 2.31.10 for it
    path = os.path.join(fixture_dir, "model.pt")
    r = xcompat.check(path, install=False)  # who saved it: the meta.json beside it
    assert r.exit_code == 0 and r.direct["verdict"] in ("IDENTICAL", "CLOSE"), r
    os.environ.update(XCOMPAT_TEST_HOOKS="1", XCOMPAT_TEST_OUTPUT_SKEW="0.001")  # B computes 0.1% off
    try:
        r = xcompat.check(path, install=False)
    finally:
        del os.environ["XCOMPAT_TEST_HOOKS"], os.environ["XCOMPAT_TEST_OUTPUT_SKEW"]
    assert r.exit_code == 3 and r.direct["verdict"] == "DRIFT", r
    fixture_dir, _ = fixture("0.28.4", "decoder-rmsnorm")  # the norm's bias is lost on the way to 2.x
    r = xcompat.check(os.path.join(fixture_dir, "model.pt"), install=False)
    assert r.exit_code == 3 and r.direct["verdict"] == "LOAD_FAIL", r
    assert r.converted["verdict"] == "DRIFT" and r.converted["outcome"] == "lossy", r


@case
def check_takes_the_adapted_path_where_the_conversion_is_lossy():
    # 0.28.4's final LayerNorm (2.31.10 builds an RMSNorm): the plain
    # conversion loses it (DRIFT), a layer_norm adapter restores it and B's
    # adapted model reproduces 0.28.4 (ADAPTED), with the --adapter command.
    fixture_dir, _ = fixture("0.28.4", "decoder-rmsnorm")
    r = xcompat.check(os.path.join(fixture_dir, "model.pt"), install=False)
    assert r.exit_code == 3 and r.direct["verdict"] == "LOAD_FAIL", r
    assert r.converted["outcome"] == "lossy" and r.converted["verdict"] == "DRIFT", r
    assert r.adapted["verdict"] == "ADAPTED" and r.adapted["outcome"] == "lossless with an adapter", r
    assert any(a[1] == "layer_norm" and a[0].endswith("final_norm") for a in r.adapted["adapters"]), r
    assert "--adapter adapter.py" in r.convert_command, r
    assert "adapted: ADAPTED" in str(r), str(r)


print(f"import xcompat: {IMPORT_S * 1000:.0f} ms")
if failures:
    sys.exit(f"{len(failures)} failed: {', '.join(failures)}")
