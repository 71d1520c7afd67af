"""Reads a PyTorch state_dict file (.pth / .pt) into numpy arrays, without PyTorch.

A PyTorch weights file is a pickle, and an ordinary unpickler runs whatever code a pickle names: loading
a weights file from anywhere is running a program from there. This reader admits only what a
state_dict of plain tensors needs (ALLOWED_GLOBALS: the tensor-rebuild function, the storage types and
OrderedDict) and refuses any other global with an UnsafeWeightsFile error naming it.

Both of PyTorch's serialisations are read:
  legacy (torch.save before 1.6): five pickles in a row (a magic number, the protocol version, system
    info, the object whose tensors reference storages by key, the list of storage keys), then each
    storage as an int64 element count followed by its raw bytes, in the order of that list;
  zip (torch.save from 1.6 on): a zip archive holding <root>/data.pkl and one file per storage,
    <root>/data/<key>.

read_state_dict(path) -> {name: np.ndarray}, each array with the tensor's shape and dtype (views and
strides resolved, the arrays independent of the file).
"""

from __future__ import annotations

import collections
import io
import pathlib
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
REBUILD_TENSOR = ("torch._utils", "_rebuild_tensor_v2")
STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
ALLOWED_GLOBALS = frozenset({("collections", "OrderedDict"), REBUILD_TENSOR,
                             *(("torch", name) for name in STORAGE_DTYPES)})


class UnsafeWeightsFile(pickle.UnpicklingError):
    """The file's pickle names a global outside ALLOWED_GLOBALS (it would run code on loading)."""


class WeightsFileError(ValueError):
    """The file is not a PyTorch state_dict this reader understands (truncated, another format...)."""


class _StorageType:
    """A storage type named by the pickle (torch.FloatStorage...): its numpy dtype."""

    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


class _Tensor:
    """A tensor as the pickle describes it, before its storage's bytes are known."""

    def __init__(self, storage_key: str, offset: int, shape: tuple, stride: tuple):
        self.storage_key, self.offset, self.shape, self.stride = storage_key, offset, tuple(shape), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """Stands in for torch._utils._rebuild_tensor_v2: records where the tensor's values lie."""
    return _Tensor(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ALLOWED_GLOBALS and records the storages tensors refer to."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source
        self.storages: dict[str, tuple[np.dtype, int]] = {}  # key -> (dtype, element count)

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafeWeightsFile(
                f"{self.source}: refusing to load: its pickle names {module}.{name}, which a state_dict of "
                f"tensors never needs (a pickle can run code on loading). Only tensors, storages and "
                f"OrderedDict are read; save the weights with torch.save(model.state_dict(), path)")
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == REBUILD_TENSOR:
            return _rebuild_tensor
        return _StorageType(name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise WeightsFileError(f"{self.source}: unexpected persistent id {pid!r} (not a tensor storage)")
        _, storage_type, key, _location, numel = pid[:5]
        self.storages[str(key)] = (storage_type.dtype, int(numel))
        return str(key)


def _arrays(state: dict, storage_bytes: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """{name: array} of the pickled state whose tensors index the storages' flat arrays."""
    if not isinstance(state, dict):
        raise WeightsFileError(f"{source}: holds a {type(state).__name__}, not a state_dict of tensors")
    arrays = {}
    for name, tensor in state.items():
        if not isinstance(tensor, _Tensor):
            raise WeightsFileError(f"{source}: entry {name!r} is a {type(tensor).__name__}, not a tensor")
        flat = storage_bytes[tensor.storage_key]
        if any(n == 0 for n in tensor.shape):
            arrays[name] = np.zeros(tensor.shape, flat.dtype)
            continue
        last = tensor.offset + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride))
        if tensor.offset < 0 or min(tensor.stride, default=0) < 0 or last >= flat.size:
            raise WeightsFileError(f"{source}: tensor {name!r} reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(
            flat[tensor.offset:], shape=tensor.shape, strides=[s * flat.itemsize for s in tensor.stride])
        arrays[name] = np.array(view)  # a copy: independent of the storage
    return arrays


def _read_legacy(data: bytes, source: str) -> dict[str, np.ndarray]:
    file = io.BytesIO(data)
    try:
        magic = _RestrictedUnpickler(file, source).load()
        if magic != LEGACY_MAGIC_NUMBER:
            raise WeightsFileError(f"{source}: not a PyTorch weights file (no torch.save magic number)")
        protocol = _RestrictedUnpickler(file, source).load()
        if protocol != LEGACY_PROTOCOL_VERSION:
            raise WeightsFileError(f"{source}: torch.save protocol {protocol}, expected {LEGACY_PROTOCOL_VERSION}")
        system = _RestrictedUnpickler(file, source).load()
        if not (isinstance(system, dict) and system.get("little_endian", True)):
            raise WeightsFileError(f"{source}: written on a big-endian machine, which this reader does not read")
        unpickler = _RestrictedUnpickler(file, source)
        state = unpickler.load()
        keys = _RestrictedUnpickler(file, source).load()
    except UnsafeWeightsFile:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        if isinstance(error, WeightsFileError):
            raise
        raise WeightsFileError(f"{source}: not a readable PyTorch weights file ({error})") from error
    storages = {}
    for key in keys:
        if key not in unpickler.storages:
            raise WeightsFileError(f"{source}: storage {key!r} is listed but no tensor uses it")
        dtype, numel = unpickler.storages[key]
        header = file.read(8)
        if len(header) < 8:
            raise WeightsFileError(f"{source}: truncated: storage {key!r} is missing")
        (count,) = struct.unpack("<q", header)
        raw = file.read(count * dtype.itemsize)
        if count != numel or len(raw) < count * dtype.itemsize:
            raise WeightsFileError(f"{source}: truncated or inconsistent storage {key!r} ({count} of {numel} values)")
        storages[key] = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    return _arrays(state, storages, source)


def _read_zip(path: pathlib.Path, source: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") or name == "data.pkl"]
        if len(pickles) != 1:
            raise WeightsFileError(f"{source}: a zip archive without one data.pkl: not a torch.save file")
        root = pickles[0][: -len("data.pkl")]
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), source)
        try:
            state = unpickler.load()
        except UnsafeWeightsFile:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
            raise WeightsFileError(f"{source}: not a readable PyTorch weights file ({error})") from error
        storages = {}
        for key, (dtype, numel) in unpickler.storages.items():
            try:
                raw = archive.read(f"{root}data/{key}")
            except KeyError:
                raise WeightsFileError(f"{source}: storage {key!r} is missing from the archive") from None
            if len(raw) < numel * dtype.itemsize:
                raise WeightsFileError(f"{source}: storage {key!r} holds fewer than its {numel} values")
            storages[key] = np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=numel)
    return _arrays(state, storages, source)


def read_state_dict(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """{tensor name: numpy array} of a PyTorch state_dict file (module docstring), read without PyTorch.

    Raises FileNotFoundError, UnsafeWeightsFile (a global outside ALLOWED_GLOBALS) or WeightsFileError
    (truncated or not a state_dict), each naming the file.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if zipfile.is_zipfile(path):
        return _read_zip(path, str(path))
    return _read_legacy(path.read_bytes(), str(path))
