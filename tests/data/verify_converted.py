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


def walk(obj, prefix, out):
    """Every tensor of a nested container, by path."""
    if isinstance(obj, torch.Tensor):
        out[prefix[:-1]] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            walk(v, f"{prefix}{k}.", out)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            walk(v, f"{prefix}{i}.", out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--converted", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--reference", required=True)
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
