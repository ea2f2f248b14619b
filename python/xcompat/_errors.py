"""The exceptions xcompat raises: every one an XcompatError, with the message
the command line prints for the same input."""
from ._core import CheckpointError, UnknownRelease, XcompatError


class ProducerUnknown(XcompatError):
    """Which release saved the checkpoint is neither given (``from_=``) nor
    recorded in it (a stamp): the message names the releases whose layout it has."""


class LoadError(XcompatError):
    """The model refused the converted state dict (``load_state_dict``): the
    message says why and what the conversion needs of the model."""


__all__ = ["CheckpointError", "LoadError", "ProducerUnknown", "UnknownRelease", "XcompatError"]
