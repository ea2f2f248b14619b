"""Tensors across the boundary with the C++ core, which sees a dtype name, a
shape and raw bytes. torch is imported only when a torch tensor is handed
over, or when the caller asks for torch tensors back."""
import sys

# torch's dtype names as the core spells them (safetensors' names).
_TORCH_NAMES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "int32": "I32",
    "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
}
_NUMPY_NAMES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
                "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def is_torch_tensor(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def is_tensor(value) -> bool:
    if is_torch_tensor(value):
        return True
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.ndarray)


def info(name: str, value) -> tuple:
    """(name, dtype, shape) of a torch tensor or numpy array."""
    if is_torch_tensor(value):
        dtype = str(value.dtype).removeprefix("torch.")
        return name, _TORCH_NAMES.get(dtype, dtype), list(value.shape)
    dtype = value.dtype.name
    return name, _NUMPY_NAMES.get(dtype, dtype), list(value.shape)


def to_wire(value) -> tuple:
    """(dtype, shape, a buffer of the bytes), copying only what is not
    contiguous on the CPU already."""
    _, dtype, shape = info("", value)
    if is_torch_tensor(value):
        flat = value.detach().cpu().contiguous().reshape(-1)
        return dtype, shape, flat.view(__import__("torch").uint8).numpy()
    import numpy
    return dtype, shape, numpy.ascontiguousarray(value).reshape(-1).view(numpy.uint8)


def from_wire(wire: tuple, as_torch: bool, device=None):
    """A tensor from (dtype, shape, uint8 array owning the bytes), without a copy."""
    dtype, shape, array = wire
    if as_torch:
        import torch
        torch_dtype = {v: getattr(torch, k) for k, v in _TORCH_NAMES.items()}[dtype]
        tensor = torch.from_numpy(array).view(torch_dtype).reshape(shape)
        return tensor if device is None else tensor.to(device)
    import numpy
    if dtype == "BF16":  # numpy has no bfloat16: its raw bits, as torch's .view(torch.int16) gives them
        return array.view(numpy.int16).reshape(shape)
    numpy_dtype = {v: k for k, v in _NUMPY_NAMES.items()}[dtype]
    return array.view(numpy_dtype).reshape(shape)
