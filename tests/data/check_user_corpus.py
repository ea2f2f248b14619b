"""Checks a corpus of user-shaped checkpoints against its manifest, under the
release that made it.

    PYTHONPATH=.xcompat/releases/V .venv/bin/python tests/data/check_user_corpus.py DIR [DIR...]

DIR is what tests/data/make_user_checkpoints.py --out DIR wrote with the same
release. For every file of DIR/manifest.json it:
  - loads the file: torch.load(weights_only=True) for "pt" files (so the
    corpus holds nothing a safe loader refuses), safetensors' load_file for
    "safetensors", and for "pt-module" files (a pickled module: the generator
    side only) torch.load(weights_only=False) with tests/data on sys.path;
  - takes each model's state dict by its container_key and prefix, builds the
    model from the manifest's args alone and load_state_dict(strict=True)s it;
  - where the model has a catalogue-form spec, builds the spec through the
    driver (harness/python/xcompat_driver.py's _construct), loads the same
    tensors strictly and runs the spec's forward path on its inputs;
  - checks that other_tensors names exactly the tensors no model claims, and
    the file's size and sha256.
Prints one line per file and exits 1 when anything disagrees (0 otherwise).
It also fails a manifest made by another release than the one imported.
"""

import hashlib
import importlib.metadata
import json
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
for p in (HERE, ROOT / "harness" / "python"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import x_transformers  # noqa: E402
import xcompat_driver  # noqa: E402

xcompat_driver.x_transformers = x_transformers  # as bind_release() would, without a sandbox check


def layers_class(name):
    return {"Decoder": x_transformers.Decoder, "Encoder": x_transformers.Encoder}[name]


def build(model):
    """The model a manifest entry describes, from its args only."""
    kind, args = model["kind"], model["args"]
    if kind == "AttentionLayers":
        return layers_class(model["layers"])(**args["layers"])
    if kind == "XTransformer":
        return x_transformers.XTransformer(**args["xtransformer"])
    if kind in ("TransformerWrapper", "ContinuousTransformerWrapper", "ViTransformerWrapper"):
        cls = getattr(x_transformers, kind)
        return cls(attn_layers=layers_class(model["layers"])(**args["layers"]), **args["wrapper"])
    raise ValueError(f"unknown kind {kind!r}")


def load(path, fmt):
    if fmt == "safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if fmt == "pt-module":
        module = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"a pt-module file holds {type(module).__name__}")
        return module.state_dict()
    if fmt == "pt":
        return torch.load(path, map_location="cpu", weights_only=True)
    raise ValueError(f"unknown format {fmt!r}")


def container(whole, key):
    node = whole
    for part in [p for p in key.split("/") if p]:
        node = node[part]
    if not isinstance(node, dict) or not all(torch.is_tensor(v) for v in node.values()):
        raise TypeError(f"container {key!r} is not a state dict")
    return node


def check_file(corpus, entry):
    path = corpus / entry["file"]
    problems = []
    data = path.read_bytes()
    if len(data) != entry["bytes"]:
        problems.append(f"size {len(data)} != manifest {entry['bytes']}")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        problems.append("sha256 differs from the manifest")
    if entry["release"] != RELEASE:
        problems.append(f"made by {entry['release']}, checked under {RELEASE}")
    whole = load(path, entry["format"])
    if entry["models"] and entry["models"][0]["container_key"] != entry["container_key"]:
        problems.append("container_key differs from models[0]'s")
    claimed = set()
    done = []
    for m in entry["models"]:
        state = container(whole, m["container_key"])
        sub = {k[len(m["prefix"]):]: v for k, v in state.items() if k.startswith(m["prefix"])}
        if not sub:
            problems.append(f"no tensor under {m['container_key']!r} starts with {m['prefix']!r}")
            continue
        claimed |= {(m["container_key"], k) for k in state if k.startswith(m["prefix"])}
        torch.manual_seed(0)
        try:
            build(m).load_state_dict(sub, strict=True)
        except Exception as e:
            problems.append(f"{m['kind']} at {m['prefix']!r} from args: {type(e).__name__}: {str(e)[:300]}")
            continue
        what = f"{m['kind']}@{m['container_key'] or '.'}:{m['prefix'] or '-'}"
        if m["spec"] is not None:
            spec = dict(m["spec"], dtype="float32")
            try:
                model = xcompat_driver._construct(spec).eval()
                model.load_state_dict(sub, strict=True)
                out = xcompat_driver.forward(model, spec, xcompat_driver.make_inputs(spec))
                if not torch.isfinite(out).all():
                    raise ValueError("the spec's forward gives non-finite values")
                what += "+spec"
            except Exception as e:
                problems.append(f"spec {spec['name']}: {type(e).__name__}: {str(e)[:300]}")
                continue
        elif m["kind"] in ("TransformerWrapper", "XTransformer"):
            problems.append(f"{m['kind']} at {m['prefix']!r} has no catalogue spec")
        done.append(what)
    other = []
    for key in dict.fromkeys(m["container_key"] for m in entry["models"]):
        other += [(f"{key}/" if key else "") + k for k in container(whole, key) if (key, k) not in claimed]
    if other != entry["other_tensors"]:
        problems.append(f"other_tensors {entry['other_tensors']} but unclaimed {other}")
    return done, problems


def check_corpus(corpus):
    manifest = json.loads((corpus / "manifest.json").read_text())
    failures = 0
    if manifest["release"] != RELEASE:
        print(f"{corpus}: manifest of {manifest['release']}, but x_transformers {RELEASE} is imported")
        return 1
    for entry in manifest["files"]:
        try:
            done, problems = check_file(corpus, entry)
        except Exception as e:
            done, problems = [], [f"{type(e).__name__}: {str(e)[:300]}"]
        status = "ok" if not problems else "FAIL"
        print(f"{RELEASE:8} {entry['shape']:17} {status:4} {' '.join(done)}")
        for p in problems:
            print(f"         {p}")
        failures += bool(problems)
    for s in manifest["skipped"]:
        print(f"{RELEASE:8} {s['shape']:17} skip {s['reason'][:160]}")
    return failures


RELEASE = importlib.metadata.version("x-transformers")


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    failures = sum(check_corpus(Path(d)) for d in argv)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
