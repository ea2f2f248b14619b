"""Does release B reproduce release A's outputs with a file `xcompat convert` wrote?

Run under B's sandbox (tests/release/test_user_checkpoints.cpp does):

    PYTHONPATH=.xcompat/releases/B:harness/python .venv/bin/python tests/data/verify_converted.py \
        --converted conv.pt --prefix model.net. --spec spec.json --reference DIR

The converted file keeps the container's shape (a training dict, a
Lightning .ckpt...): it is read with torch.load(weights_only=True), as a
user of B reads it, and walked into paths as xcompat's readers name them
(dict keys joined with '.'). The model under --prefix is loaded strictly
into B's build of the spec (the spec carries the constructor arguments the
conversion named), run on A's reference inputs (`xcompat check`'s reference
directory: inputs.safetensors, outputs.safetensors) and compared with A's
outputs. Prints one JSON line: {"loaded", "error", "max_abs", "identical",
"close", "other_keys"}.
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file

import xcompat_driver as driver


def walk(obj, prefix, out, leaves=False):
    """Every tensor of a nested container (with leaves: every scalar too), by path."""
    if isinstance(obj, torch.Tensor) or (leaves and not isinstance(obj, (dict, list, tuple))):
        out[prefix[:-1]] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            walk(v, f"{prefix}{k}.", out, leaves)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            walk(v, f"{prefix}{i}.", out, leaves)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--converted", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--original", default="", help="the file converted: every entry of no model must be kept")
    ap.add_argument("--models", default="", help="the places of the models converted, '/'-separated ('' the top level)")
    ap.add_argument("--dropped", default="", help="places removed on purpose (an optimizer state), '/'-separated")
    a = ap.parse_args()
    sandbox = next(p for p in sys.path if "releases" in p)
    driver.bind_release(sandbox)
    spec = json.load(open(a.spec))
    if a.converted.endswith(".safetensors"):
        flat = load_file(a.converted)
    else:
        flat = walk(torch.load(a.converted, map_location="cpu", weights_only=True), "", {})
    state = {k[len(a.prefix):]: v for k, v in flat.items() if k.startswith(a.prefix)}
    model = driver.build_model(spec)
    result = {"other_keys": len(flat) - len(state)}
    if a.original:
        # Everything of no model, as it was: same paths, same values (tensors bitwise).
        def entries(path):
            obj = torch.load(path, map_location="cpu", weights_only=True)
            return walk(obj, "", {}, leaves=True)
        places = a.models.split("/") + [p for p in a.dropped.split("/") if p]
        keep = lambda k: not any(k.startswith(p) for p in places)
        before = {k: v for k, v in entries(a.original).items() if keep(k)}
        after = {k: v for k, v in entries(a.converted).items() if keep(k)}
        same = before.keys() == after.keys() and all(
            (torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype) if isinstance(before[k], torch.Tensor)
            else before[k] == after[k] for k in before)
        result.update(kept_entries=len(before), kept_same=bool(same),
                      kept_diff=sorted(set(before) ^ set(after))[:10])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        result.update(loaded=False, error=str(e)[:2000])
        print(json.dumps(result))
        return
    inputs = load_file(os.path.join(a.reference, "inputs.safetensors"))
    expected = load_file(os.path.join(a.reference, "outputs.safetensors"))["logits"]
    with torch.no_grad():
        got = driver.forward(model, spec, inputs).contiguous()
    diff = (got.double() - expected.double()).abs().max().item() if got.shape == expected.shape else float("inf")
    result.update(loaded=True, error="", max_abs=diff, identical=bool(torch.equal(got, expected)),
                  close=bool(got.shape == expected.shape and torch.allclose(got, expected, rtol=1.3e-6, atol=1e-5)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
