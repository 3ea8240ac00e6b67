"""Foreign PyTorch checkpoints read without running any of their code.

A whole-model checkpoint (`torch.save(model)`, as pytorch/examples and awd-lstm-lm write them)
is a pickle, and a stock unpickler calls whatever function the file names. Here every name the
file asks for goes through `find_class`, which knows only tensor storage, a few plain
containers and the classes the caller accepts. An accepted class becomes a `Pickled` holder of
the attributes recorded for it: no method of the original class ever runs. Any other name is
refused before anything is called.
"""

from __future__ import annotations

import _compat_pickle
import collections
import pickle
import types
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch

from .errors import LstmlmError


class Pickled:
    """An object of a checkpoint's class, as the attributes its pickle recorded. Its class's
    `source` is the dotted name in the file (e.g. `model.RNNModel`). The helpers below read
    it: its attributes are the file's, so no method of its own could be trusted to be."""

    source = ""

    def __init__(self, *args, **kwargs):
        # A class called through REDUCE rather than built: nothing of the original runs, and
        # the arguments, which no reader needs, are dropped.
        pass

    def __repr__(self) -> str:
        return f"<pickled {type(self).source}>"


def source_of(obj) -> str:
    """The dotted class name a Pickled came from ("" for anything else)."""
    return type(obj).source if isinstance(obj, Pickled) else ""


def attribute(obj: Pickled, name: str, default=None):
    return vars(obj).get(name, default)


def children(obj: Pickled) -> dict[str, Pickled]:
    """The submodules of a pickled nn.Module, by name."""
    found = attribute(obj, "_modules")
    return dict(found) if isinstance(found, dict) else {}


def tensors(obj: Pickled, prefix: str = "") -> dict[str, torch.Tensor]:
    """The parameters and buffers of a pickled nn.Module and of its submodules, by dotted
    name, as `state_dict` names them."""
    found = {}
    for store in ("_parameters", "_buffers"):
        values = attribute(obj, store)
        for name, tensor in (values.items() if isinstance(values, dict) else ()):
            if isinstance(tensor, torch.Tensor):
                found[prefix + name] = tensor.detach()
    for name, child in children(obj).items():
        if isinstance(child, Pickled):
            found.update(tensors(child, f"{prefix}{name}."))
    return found


def _plain_dict(*args, **kwargs) -> dict:
    """A `collections.defaultdict` (an optimizer's state) read as a plain dict."""
    return {}


def _no_backend(*args, **kwargs) -> None:
    """PyTorch 0.3's modules pickled their THNN backend; it is not needed to read weights."""
    return None


# The functions and types a checkpoint's tensors and containers are rebuilt with; all of
# them PyTorch's or the standard library's, none of them able to run the file's code.
SAFE = {
    "torch._utils._rebuild_tensor": torch._utils._rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": torch._utils._rebuild_parameter_with_state,
    "torch.nn.parameter.Parameter": torch.nn.Parameter,
    "torch.Size": torch.Size,
    "torch.device": torch.device,
    "collections.OrderedDict": collections.OrderedDict,
    "collections.defaultdict": _plain_dict,
    "builtins.dict": dict,
    "builtins.set": set,
    "builtins.list": list,
    "builtins.tuple": tuple,
    "torch.nn.backends.thnn._get_thnn_function_backend": _no_backend,
}


class RefusedGlobal(LstmlmError):
    pass


def _qualified(module: str, name: str) -> str:
    """The dotted name a stock unpickler would import: protocol 2 files written by Python 3
    carry Python 2's names (`__builtin__`, `commands` for subprocess), which it maps back."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    else:
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return f"{module}.{name}"


def load(path: str | Path, accepts: Callable[[str], bool], what: str) -> object:
    """The object pickled in the PyTorch checkpoint `path` (zip or legacy format), its
    tensors on the CPU, every class that `accepts(dotted name)` read as a `Pickled` holder.
    `accepts` may raise LstmlmError to refuse a class with its own message; a name it does not
    accept is refused in one line, which names it. `what` names the format in messages."""
    path = Path(path)
    holders: dict[str, type] = {}

    def find_class(module: str, name: str):
        dotted = _qualified(module, name)
        if dotted in SAFE:
            return SAFE[dotted]
        if not accepts(dotted):
            raise RefusedGlobal(f"{path}: refused: the checkpoint names {dotted}, which is not "
                                f"part of a {what} checkpoint (loading it could run code)")
        if dotted not in holders:
            holders[dotted] = type(name, (Pickled,), {"source": dotted})
        return holders[dotted]

    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module, name):  # noqa: D102 (pickle's hook)
            return find_class(module, name)

    def restricted_load(file, **options):
        return RestrictedUnpickler(file, **options).load()

    # torch.load wraps `pickle_module.Unpickler` (for storages) and calls its `find_class`
    # for every other name, so each global the file holds meets the check above.
    restricted = types.SimpleNamespace(__name__="lstmlm.untrusted", Unpickler=RestrictedUnpickler,
                                       load=restricted_load)
    _check_is_checkpoint(path, what)
    try:
        with warnings.catch_warnings():
            # Legacy files carry each module's source, which torch compares with the class
            # it was given (a holder here) and warns about; nothing is taken from it.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", pickle_module=restricted,
                              weights_only=False)
    except LstmlmError:
        raise
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, KeyError, TypeError,
            AttributeError, IndexError, zipfile.BadZipFile) as error:
        raise LstmlmError(f"{path}: cannot read it as a {what} checkpoint (damaged or "
                          f"truncated?): {str(error).splitlines()[0] if str(error) else type(error).__name__}"
                          ) from None


def _check_is_checkpoint(path: Path, what: str) -> None:
    """Refuse in one line a file that is neither of PyTorch's two checkpoint layouts."""
    try:
        with open(path, "rb") as file:
            head = file.read(2)
    except OSError as error:
        raise LstmlmError(f"cannot read {path}: {error.strerror or error}") from None
    if zipfile.is_zipfile(path):
        return
    if head[:1] != b"\x80":  # a pickle of protocol 2 or later starts with PROTO
        raise LstmlmError(f"{path}: not a PyTorch checkpoint (neither a zip archive nor a "
                          f"pickle; a truncated download?)")

