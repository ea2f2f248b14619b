# Generates tests/data/checkpoints/*: the inputs of tests/unit/test_safetensors.cpp
# and tests/unit/test_pt_reader.cpp, plus expected.json with the numbers torch
# itself reports for them. Every file under tests/data/checkpoints/ is generated
# by this script; do not edit them by hand. Regenerate with:
#
#   .venv/bin/python tests/data/make_checkpoints.py   (from the checkout root)
#
# The hostile pickles are assembled byte by byte (struct + opcodes) and only
# ever disassembled with pickletools, never loaded: nothing in them runs.
import collections
import io
import json
import pickletools
import struct
import zipfile
import zlib
from pathlib import Path

import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent / "checkpoints"
ARCHIVE = "archive"  # the folder name torch.save puts inside the zip


def safetensors_dtype(t):
    return {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16",
        torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32",
        torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
    }[t.dtype]


def expected_entry(t):
    """What the C++ readers must produce for t: dtype, shape, raw bytes, values."""
    flat = t.detach().contiguous().reshape(-1)
    return {
        "dtype": safetensors_dtype(t),
        "shape": list(t.shape),
        "hex": flat.view(torch.uint8).numpy().tobytes().hex(),
        "values": flat.double().tolist(),
    }


def make_state_dict():
    torch.manual_seed(0)
    emb = torch.randn(5, 3)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8
    sd = collections.OrderedDict()
    sd["emb.weight"] = emb
    sd["head.weight"] = emb  # tied: the same storage under two names
    sd["row_view"] = base[2]  # a view at a storage offset
    sd["transposed"] = base.t()  # non-contiguous strides
    sd["strided"] = base[:, ::2]  # non-contiguous, skips elements
    sd["scalar"] = torch.tensor(-2.5)  # 0-d
    sd["f64"] = torch.randn(3, dtype=torch.float64)
    sd["bf16"] = torch.randn(2, 4).to(torch.bfloat16)
    sd["f16"] = torch.tensor([0.5, -0.0, 65504.0, 1e-7], dtype=torch.float16)
    sd["i64"] = torch.tensor([-5, 0, 2**40 + 3], dtype=torch.int64)
    sd["i32"] = torch.tensor([[-7, 8]], dtype=torch.int32)
    sd["i16"] = torch.tensor([300, -300], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    sd["u8"] = torch.tensor([0, 255, 7], dtype=torch.uint8)
    sd["mask"] = torch.tensor([True, False, True])
    sd["empty"] = torch.zeros(0, 4)
    sd["param"] = torch.nn.Parameter(torch.full((2,), 1.5))
    tagged = torch.nn.Parameter(torch.full((2, 1), -3.0))
    tagged.tag = "kept"  # extra state: pickled via _rebuild_parameter_with_state
    sd["tagged_param"] = tagged
    sd._metadata = {"": {"version": 1}}  # as nn.Module.state_dict() sets it
    return sd


def zip_bytes(entries, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries.items():
            # A fixed date, so regenerating leaves unchanged files byte-identical.
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return buf.getvalue()


def zip64_bytes(entries):
    """A STORED zip whose central directory carries every size and offset in
    zip64 extra fields (as torch's miniz does past 4 GiB), so the reader's
    zip64 path is tested without a 4 GiB file."""
    out, central = bytearray(), bytearray()
    ff32 = 0xFFFFFFFF
    for name, data in entries.items():
        raw = name.encode()
        crc, offset = zlib.crc32(data), len(out)
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, ff32, ff32,
                           len(raw), len(local_extra)) + raw + local_extra + data
        extra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc,
                               ff32, ff32, len(raw), len(extra), 0, 0, 0, 0, ff32) + raw + extra
    cd_offset = len(out)
    out += central
    z64_offset = len(out)
    n = len(entries)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, z64_offset, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, ff32, ff32, 0)
    return bytes(out)


def torch_zip_entries(path):
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i.filename) for i in z.infolist()}


def torch_shaped_zip(pickle_bytes):
    return zip_bytes({f"{ARCHIVE}/data.pkl": pickle_bytes, f"{ARCHIVE}/byteorder": b"little",
                      f"{ARCHIVE}/version": b"3\n"})


def unicode_op(s):
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def short_unicode_op(s):
    raw = s.encode()
    return b"\x8c" + struct.pack("<B", len(raw)) + raw


# Hostile data.pkl payloads. Each would run a command if handed to pickle.load;
# the reader must refuse the global before anything else happens.
HOSTILE = {
    # GLOBAL 'os system' + REDUCE, the classic.
    "hostile_os_system.pt": ("os.system", b"\x80\x02" + b"cos\nsystem\n"
                             + unicode_op("echo pwned") + b"\x85" + b"R" + b"."),
    # STACK_GLOBAL (protocol 4) spelling of builtins.eval.
    "hostile_builtins_eval.pt": ("builtins.eval", b"\x80\x04" + short_unicode_op("builtins")
                                 + short_unicode_op("eval") + b"\x93"
                                 + short_unicode_op("print('pwned')") + b"\x85" + b"R" + b"."),
    # A plausible state_dict opening, then subprocess.Popen as an entry's value.
    "hostile_subprocess.pt": ("subprocess.Popen", b"\x80\x02" + b"ccollections\nOrderedDict\n"
                              + b")R" + b"(" + unicode_op("w") + b"csubprocess\nPopen\n"
                              + unicode_op("echo pwned") + b"\x85" + b"R" + b"u" + b"."),
    # Python 2 module name for exec, hidden behind a memo round trip.
    "hostile_builtin_exec.pt": ("__builtin__.exec", b"\x80\x02" + b"c__builtin__\nexec\n"
                                + b"q\x00" + b"0" + b"h\x00"
                                + unicode_op("print('pwned')") + b"\x85" + b"R" + b"."),
    # A torch.save(model)-shaped pickle (NEWOBJ of a class, BUILD of its
    # attributes) whose attribute REDUCEs os.system: class records are read
    # inertly, but this global is still refused by name.
    "hostile_module_os_system.pt": ("os.system", b"\x80\x02" + b"c__main__\nTinyModel\n" + b")\x81"
                                    + b"}(" + unicode_op("training") + b"\x88"
                                    + unicode_op("_parameters") + b"}"
                                    + unicode_op("hook") + b"cos\nsystem\n"
                                    + unicode_op("echo pwned") + b"\x85" + b"R"
                                    + b"ub" + b"."),
}


def deep_nesting_pickle(depth):
    """A list nested `depth` levels deep: EMPTY_LIST `depth` times, then
    APPEND each into the one before. Python's own unpickler builds it
    without recursion; a recursive reader would overflow its stack."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def write_hostile(expected):
    expected["hostile"] = []
    for name, (refused, payload) in HOSTILE.items():
        pickletools.dis(payload, out=io.StringIO())  # well-formed, never executed
        (OUT / name).write_bytes(torch_shaped_zip(payload))
        expected["hostile"].append({"file": name, "global": refused})
    deep = deep_nesting_pickle(3000)
    pickletools.dis(deep, out=io.StringIO())
    (OUT / "hostile_deep.pt").write_bytes(torch_shaped_zip(deep))


def write_refused(expected, sd_path):
    """Files that are well-formed but outside the accepted subset."""
    entries = torch_zip_entries(sd_path)
    (OUT / "compressed.pt").write_bytes(zip_bytes(entries, zipfile.ZIP_DEFLATED))
    torch.save({"w": torch.ones(2)}, OUT / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save({"a.b": torch.ones(2), "a": {"b": torch.zeros(2)}}, OUT / "colliding.pt")
    expected["refused"] = [
        {"file": "compressed.pt", "error": "compressed"},
        {"file": "legacy.pt", "error": "legacy"},
        {"file": "colliding.pt", "error": "two entries reach the path 'a.b'"},
        {"file": "hostile_deep.pt", "error": "nested more than 1000 levels deep"},
    ]


def write_scalars(expected):
    torch.manual_seed(1)
    ckpt = {"w": torch.randn(2, 2), "version": "1.2.3", "step": 7, "lr": 0.25,
            "ema": True, "note": None}
    torch.save(ckpt, OUT / "with_scalars.pt")
    expected["scalars"] = {
        "file": "with_scalars.pt",
        "tensors": {"w": expected_entry(ckpt["w"])},
        "entries": {k: v for k, v in ckpt.items() if not isinstance(v, torch.Tensor)},
    }


# --- nested checkpoints and torch.save(model) ---------------------------------

def path_join(prefix, key):
    return f"{prefix}.{key}" if prefix else str(key)


def flatten(obj):
    """The reader's names for obj (harness/checkpoint/pt_tree.hpp): tensors
    and None/bool/int/float/str leaves by their dict keys and list/tuple
    indices joined with '.', a module's tensors by its state_dict() names."""
    tensors, scalars = {}, {}

    def walk(o, path):
        if isinstance(o, torch.nn.Module):
            for k, v in o.state_dict().items():
                tensors[path_join(path, k)] = v
        elif isinstance(o, torch.Tensor):
            tensors[path] = o
        elif isinstance(o, dict):
            for k, v in o.items():
                walk(v, path_join(path, k))
        elif isinstance(o, (list, tuple)):
            for i, v in enumerate(o):
                walk(v, path_join(path, i))
        elif o is None or isinstance(o, (bool, int, float, str)):
            scalars[path] = o
    walk(obj, "")
    return tensors, scalars


class PatternLayer(torch.nn.Module):
    """A parameterless module that pickles only its pattern, as einops'
    Rearrange (inside x-transformers' attention) does."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern

    def __getstate__(self):
        return {"pattern": self.pattern}

    def __setstate__(self, state):
        self.__init__(state["pattern"])


class TinyModel(torch.nn.Module):
    """A small module tree as torch.save(model) pickles it: nested modules, a
    None bias, a tied weight, persistent and non-persistent buffers, a plain
    tensor attribute (not state), a module with its own __getstate__."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(5, 3)
        self.blocks = torch.nn.ModuleList([torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.GELU()),
                                           torch.nn.LayerNorm(3)])
        self.split = PatternLayer("b n (h d) -> b h n d")
        self.head = torch.nn.Linear(3, 5, bias=False)
        self.head.weight = self.emb.weight  # tied
        self.register_buffer("positions", torch.arange(4))
        self.register_buffer("cache", torch.zeros(2, 3), persistent=False)
        self.register_buffer("unused", None)
        self.scale = torch.tensor(0.5)  # a plain attribute: not in state_dict()
        self.name = "tiny"


def small_training_state():
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(5, 3)).pow(2).sum().backward()
        opt.step()
    return model, opt


def write_nested(expected):
    model, opt = small_training_state()
    training = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 10, "loss": 0.125,
                "note": None, "big": 2**40 + 1, "blob": b"\x00\xffxyz"}
    torch.save(training, OUT / "training.pt")
    lightning = {"epoch": 3, "global_step": 30, "pytorch-lightning_version": "2.4.0",
                 "state_dict": collections.OrderedDict((f"model.{k}", v) for k, v in model.state_dict().items()),
                 "optimizer_states": [opt.state_dict()], "lr_schedulers": [],
                 "hyper_parameters": {"dim": 3, "lr": 1e-3, "betas": (0.9, 0.99), "name": "tiny", "tied": True}}
    torch.save(lightning, OUT / "lightning.ckpt")
    torch.manual_seed(3)
    top_list = [torch.randn(2), {"a": torch.arange(3)}, (3, "x", None)]
    torch.save(top_list, OUT / "top_list.pt")
    nested_old = {"state_dict": {"w": torch.ones(2)}, "epoch": 3}  # refused before nesting was read
    torch.save(nested_old, OUT / "nested.pt")
    torch.manual_seed(4)
    module = TinyModel()
    torch.save(module, OUT / "module.pt")
    torch.save({"model": module, "epoch": 1}, OUT / "module_in_dict.pt")
    names = list(module.state_dict().keys())
    assert "cache" not in names and "head.weight" in names and "scale" not in names, names

    expected["nested"] = []
    for name, obj in [("training.pt", training), ("lightning.ckpt", lightning), ("top_list.pt", top_list),
                      ("nested.pt", nested_old), ("module.pt", module), ("module_in_dict.pt", {"model": module, "epoch": 1})]:
        tensors, scalars = flatten(obj)
        loaded = torch.load(OUT / name, weights_only=False)
        again, _ = flatten(loaded)
        assert list(again) == list(tensors), name
        expected["nested"].append({"file": name, "tensors": {k: expected_entry(v) for k, v in tensors.items()},
                                   "scalars": scalars})
    expected["module"] = {"file": "module.pt", "state_dict_keys": names, "tied": [["emb.weight", "head.weight"]],
                          "class": "__main__.TinyModel"}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    sd = make_state_dict()
    expected = {
        "generated_by": "tests/data/make_checkpoints.py",
        "torch_version": torch.__version__,
        "state_dict": {k: expected_entry(v) for k, v in sd.items()},
        "tied": [["emb.weight", "head.weight"]],
    }

    sd_path = OUT / "state_dict.pt"
    torch.save(sd, sd_path)
    (OUT / "state_dict_zip64.pt").write_bytes(zip64_bytes(torch_zip_entries(sd_path)))
    reloaded = torch.load(OUT / "state_dict_zip64.pt", weights_only=True)
    assert all(torch.equal(reloaded[k], v) for k, v in sd.items()), "zip64 repack lost data"
    expected["pt_files"] = ["state_dict.pt", "state_dict_zip64.pt"]

    # safetensors refuses shared and non-contiguous tensors: store independent copies.
    metadata = {"format": "pt", "x_transformers_version": "2.3.1"}
    save_file({k: v.detach().contiguous().clone() for k, v in sd.items()},
              OUT / "state_dict.safetensors", metadata=metadata)
    expected["safetensors_file"] = "state_dict.safetensors"
    expected["safetensors_metadata"] = metadata

    write_scalars(expected)
    write_nested(expected)
    write_hostile(expected)
    write_refused(expected, sd_path)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
