"""xcompat: does a checkpoint saved by one x-transformers release load, and
compute the same, in another? And if not, carry it across exactly.

Quick start::

    import xcompat
    xcompat.fingerprint("model.pt")                  # which model, which releases saved this layout
    sd, report = xcompat.convert_state_dict(torch.load("model.pt", weights_only=True),
                                            from_="0.28.4", to="2.31.10")
    print(report)                                    # changes crossed, arguments B needs, what is lost
    xcompat.load_state_dict(model, "model.pt")       # converted to the installed release, then loaded
    xcompat.save(model, "model.pt")                  # stamped with the release, torch and spec
    xcompat.check("model.pt")                        # does the installed release compute the same?

The module over the C++ core (xcompat._core) reads checkpoints with
restricted readers (no pickle code runs) and holds the release history.
Importing xcompat does not import torch: tensors come back as torch tensors
when torch tensors were handed in (or torch is already imported), as numpy
arrays otherwise.
"""
import os as _os

from . import _core
from ._errors import CheckpointError, LoadError, ProducerUnknown, UnknownRelease, XcompatError
from ._api import (ConversionReport, adapt, check_release, convert_file, convert_state_dict, fingerprint,
                   installed_release, load_state_dict, save)
from ._check import CheckReport, check

__version__ = _core.version()

# The installed package carries its data files (the release history, pins,
# the spec catalogue) beside the module; a checkout's build reads the
# checkout's own.
_data = _os.path.join(_os.path.dirname(__file__), "data")
if _os.path.isfile(_os.path.join(_data, "matrix", "history.toml")):
    _core.set_data_root(_data)

__all__ = [
    "CheckReport", "CheckpointError", "ConversionReport", "LoadError", "ProducerUnknown", "UnknownRelease", "XcompatError",
    "adapt", "check", "check_release", "convert_file", "convert_state_dict", "fingerprint", "installed_release", "load_state_dict",
    "save",
]
