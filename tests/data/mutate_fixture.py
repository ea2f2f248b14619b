"""Injects one known break into a copy of a real fixture (the mutation tier).

    python mutate_fixture.py SRC_DIR DST_DIR MUTATION

SRC_DIR is a fixture made by a release (meta.json, model.pt,
model.safetensors, inputs.safetensors, outputs.safetensors). DST_DIR gets the
same fixture with MUTATION applied to its checkpoint, written in both formats,
and meta.json's file hashes updated: to every reader it is a fixture whose
producer saved these tensors. The reference outputs are the producer's own,
untouched, so a consumer that reads the mutated checkpoint is judged against
what the unbroken model computes.

Mutations (each names the tensor it touched on stdout):
  none             a faithful copy (the control: must stay IDENTICAL)
  rename-key       one parameter saved under another name
  missing-key      one parameter left out
  extra-key        one tensor the model does not have
  transpose        a non-square weight saved transposed (mis-shaped)
  transpose-kept-shape  a weight saved transposed, then reshaped to its own
                   shape (what a wrong row/column order does: same shape,
                   other values)
  reshape          a weight saved flattened
  perturb-1e-3     +1e-3 on one element of a weight
  norm-scale-0.01  +0.01 on every element of one norm scale
  nan              one weight element set to NaN
  inf              one weight element set to +Inf
  float16          every floating tensor stored as float16
  truncate-pt      model.pt cut to half its length (safetensors intact)
  truncate-safetensors  model.safetensors cut to half its length
"""
import hashlib
import json
import os
import shutil
import sys
from collections import OrderedDict

import torch
from safetensors.torch import load_file, save_file


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pick(state, want):
    """The first tensor (in name order) that `want(name, tensor)` accepts."""
    for name in sorted(state):
        if want(name, state[name]):
            return name
    sys.exit(f"no tensor fits the mutation among {sorted(state)}")


def is_weight(name, t):
    return t.is_floating_point() and t.dim() == 2 and name.endswith("weight") and "emb" not in name


def is_norm_scale(name, t):
    last = name.rsplit(".", 1)[-1]
    return t.is_floating_point() and t.dim() == 1 and (last in ("gamma", "g") or
                                                       (last == "weight" and "norm" in name))


def mutate(state, kind):
    if kind == "none":
        return "nothing"
    if kind == "rename-key":
        name = pick(state, lambda n, t: t.is_floating_point())
        state[name.replace(".weight", ".renamed_weight") if name.endswith(".weight") else name + "_renamed"] = \
            state.pop(name)
        return name
    if kind == "missing-key":
        name = pick(state, is_weight)
        del state[name]
        return name
    if kind == "extra-key":
        state["xcompat_extra.weight"] = torch.zeros(3, 3)
        return "xcompat_extra.weight"
    if kind == "transpose":
        name = pick(state, lambda n, t: is_weight(n, t) and t.shape[0] != t.shape[1])
        state[name] = state[name].t().contiguous()
        return name
    if kind == "transpose-kept-shape":
        name = pick(state, is_weight)
        state[name] = state[name].t().contiguous().reshape(state[name].shape)
        return name
    if kind == "reshape":
        name = pick(state, is_weight)
        state[name] = state[name].reshape(-1).contiguous()
        return name
    if kind in ("perturb-1e-3", "nan", "inf"):
        name = pick(state, is_weight)
        t = state[name].clone()
        flat = t.view(-1)
        flat[0] = flat[0] + 1e-3 if kind == "perturb-1e-3" else (float("nan") if kind == "nan" else float("inf"))
        state[name] = t
        return name
    if kind == "norm-scale-0.01":
        name = pick(state, is_norm_scale)
        state[name] = state[name] + 0.01
        return name
    if kind == "float16":
        for name in state:
            if state[name].is_floating_point():
                state[name] = state[name].to(torch.float16)
        return "every floating tensor"
    if kind.startswith("truncate-"):
        return "model." + kind[len("truncate-"):]
    sys.exit(f"unknown mutation {kind}")


def main():
    src, dst, kind = sys.argv[1:4]
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    state = OrderedDict(load_file(os.path.join(src, "model.safetensors")))
    touched = mutate(state, kind)
    torch.save(state, os.path.join(dst, "model.pt"))
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(dst, "model.safetensors"))
    if kind.startswith("truncate-"):
        path = os.path.join(dst, touched)
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    meta_path = os.path.join(dst, "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["files"] = {name: sha256(os.path.join(dst, name)) for name in meta["files"]}
    meta["mutation"] = {"kind": kind, "tensor": touched}
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    print(touched)


if __name__ == "__main__":
    main()
