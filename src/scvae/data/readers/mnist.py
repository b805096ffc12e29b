"""The three MNIST file formats: LeCun's IDX files, the normalised pickle, the binarised text.

* ``mnist_original``: IDX files (``train-images-idx3-ubyte[.gz]`` and friends). A folder
  holding LeCun's four files gives the training images then the test images, their digit
  labels and ``split indices``; a single images file gives those images, with labels from
  ``--labels`` (an IDX labels file or any labels file). Values are the pixel intensities
  0-255.
* ``mnist_normalised``: a pickle (plain or gzip) of two or three ``(images, digits)``
  pairs: training, (validation,) test, images scaled to [0, 1]. It is read with an
  unpickler that builds NumPy arrays and nothing else, so a hostile file cannot run code.
* ``mnist_binarised``: Larochelle's ``.amat`` text files of 0/1 pixels, one image per
  line, without labels. A folder holding ``binarized_mnist_{train,valid,test}.amat``
  gives all three with ``split indices``; a single file gives its images.

Example names are ``image 1``, ``image 2``, ...; feature names ``pixel 1``, ``pixel 2``, ...;
the metadata says ``example type: images`` and the image shape (``feature dimensions``,
rows x columns, from the IDX header or a square number of pixels).
"""

from __future__ import annotations

import io
import math
import pickle
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from scvae.data.raw import RawData, ReadOptions
from scvae.data.readers.checks import check_budget, checked_reader, content_bound
from scvae.data.readers.labels import labels_for
from scvae.data.readers.text import read_text_table
from scvae.data.readers.text_io import is_gzip, open_binary, reading
from scvae.errors import DataError

SPLITS = ("training", "validation", "test")
#: most bytes of a (decompressed) MNIST pickle; the normalised set takes about 220 MB
MAX_PICKLE_BYTES = 2 << 30

#: IDX type byte -> NumPy big-endian dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

#: LeCun's file names (without ``.gz``), by role and split
LECUN_FILES = {
    ("values", "training"): "train-images-idx3-ubyte",
    ("labels", "training"): "train-labels-idx1-ubyte",
    ("values", "test"): "t10k-images-idx3-ubyte",
    ("labels", "test"): "t10k-labels-idx1-ubyte",
}
#: Larochelle's file names, by split
LAROCHELLE_FILES = {
    "training": "binarized_mnist_train.amat",
    "validation": "binarized_mnist_valid.amat",
    "test": "binarized_mnist_test.amat",
}


# ------------------------------------------------------------------ IDX
def read_idx(path: str | Path) -> np.ndarray:
    """An IDX array (plain or gzip): two zero bytes, a type byte, the number of dimensions,
    the dimensions (big-endian 32-bit), then the values in C order."""
    path = Path(path)
    with reading(path), open_binary(path) as stream:
        head = stream.read(4)
        if len(head) != 4 or head[:2] != b"\x00\x00" or head[2] not in IDX_TYPES:
            raise DataError(path, "is not an IDX file (it should start with 00 00, a type byte)")
        dimensions = head[3]
        if not 1 <= dimensions <= 4:
            raise DataError(path, f"declares {dimensions} dimensions; IDX files here have 1 to 4")
        raw_shape = stream.read(4 * dimensions)
        if len(raw_shape) != 4 * dimensions:
            raise DataError(path, "ends inside its list of dimensions")
        shape = struct.unpack(f">{dimensions}I", raw_shape)
        dtype = np.dtype(IDX_TYPES[head[2]])
        count = math.prod(shape)
        limit = content_bound(path, is_gzip(path))
        if count * dtype.itemsize > limit:
            raise DataError(
                path, f"declares {count:,} values, more than its {path.stat().st_size:,} bytes hold"
            )
        check_budget(path, count, dtype.itemsize, "the IDX array")
        data = stream.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise DataError(
                path, f"holds {len(data) // dtype.itemsize:,} values, not the {count:,} declared"
            )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _images(path: Path) -> tuple[np.ndarray, list[int]]:
    """Images as rows (float32) and the image shape, from an IDX file of images."""
    array = read_idx(path)
    if array.ndim < 2:
        raise DataError(path, "holds a list of numbers, not images (use it as labels)")
    shape = list(array.shape[1:]) if array.ndim > 2 else [array.shape[1]]
    return array.reshape(array.shape[0], -1).astype(np.float32), shape


def _digits(path: Path, count: int) -> np.ndarray:
    array = read_idx(path)
    if array.ndim != 1:
        raise DataError(path, f"holds an array of {array.ndim} dimensions, not one label a image")
    if len(array) != count:
        raise DataError(path, f"has {len(array)} labels for {count} images")
    return np.array([str(int(value)) for value in array], dtype=object)


def read_original_files(
    values: Mapping[str, Path], labels: Mapping[str, Path | None] | None = None
) -> RawData:
    """IDX images (and digit labels) by split, stacked in training, validation, test order."""
    splits = [split for split in SPLITS if split in values] + sorted(set(values) - set(SPLITS))
    parts, shapes, digits = [], [], []
    for split in splits:
        images, shape = _images(values[split])
        parts.append(images)
        shapes.append(shape)
        label_path = (labels or {}).get(split)
        digits.append(None if label_path is None else _digits(label_path, len(images)))
    if any(shape != shapes[0] for shape in shapes):
        raise DataError(values[splits[0]], f"its images are {shapes[0]}, others {shapes[1:]}")
    stacked = np.concatenate(parts) if len(parts) > 1 else parts[0]
    all_labelled = all(d is not None for d in digits)
    if any(d is not None for d in digits) and not all_labelled:
        raise DataError(values[splits[0]], "some splits have label files and others do not")
    return _raw(
        stacked,
        np.concatenate(digits) if all_labelled and digits else None,
        shapes[0],
        _split_indices(splits, [len(p) for p in parts]) if len(parts) > 1 else None,
    )


# ------------------------------------------------------------------ pickle
class _ArraysOnly(pickle.Unpickler):
    """Unpickles tuples, lists, numbers and NumPy arrays; refuses every other class."""

    #: (module, name) -> (NumPy module (1.x spelling), attribute) of what may be loaded
    ALLOWED = {
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
        **{
            (f"numpy.{core}.{module}", name): (f"core.{module}", name)
            for core in ("core", "_core")
            for module, name in (
                ("multiarray", "_reconstruct"),
                ("multiarray", "scalar"),
                ("numeric", "_frombuffer"),
            )
        },
    }

    def find_class(self, module: str, name: str) -> Any:
        if module == "_codecs" and name == "encode":  # how protocol 2 stores bytes
            import codecs

            return codecs.encode
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        where, attribute = self.ALLOWED[(module, name)]
        if where == "numpy":
            return getattr(np, attribute)
        return getattr(_numpy_module(where), attribute)


def _numpy_module(name: str) -> Any:
    """``numpy.core.<x>`` under NumPy 1, ``numpy._core.<x>`` under NumPy 2."""
    import importlib

    try:
        return importlib.import_module("numpy._" + name)
    except ImportError:  # NumPy 1
        return importlib.import_module("numpy." + name)


def read_pickle_pairs(path: str | Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(images, labels)`` pairs of a pickle written by Python 2 or 3 (plain or gzip)."""
    path = Path(path)
    limit = min(content_bound(path, is_gzip(path)), MAX_PICKLE_BYTES)
    with reading(path), open_binary(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise DataError(path, f"holds more than {limit:,} bytes; MNIST pickles are far smaller")
    check_budget(path, len(data), 2, "the pickle")  # the bytes and the arrays built from them
    try:
        content = _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DataError(path, f"is not a pickle of MNIST arrays ({error})") from None
    problem = "must hold two or three (images, digits) pairs: training, (validation,) test"
    if not isinstance(content, (tuple, list)) or not 2 <= len(content) <= 3:
        raise DataError(path, problem)
    pairs = []
    for pair in content:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise DataError(path, problem)
        images, digits = (np.asarray(part) for part in pair)
        if images.ndim < 2 or digits.ndim != 1 or len(images) != len(digits):
            raise DataError(path, f"{problem}; got arrays of shapes {images.shape}, {digits.shape}")
        if not np.issubdtype(images.dtype, np.number):
            raise DataError(path, f"holds images of type {images.dtype}, not numbers")
        pairs.append((images, digits))
    return pairs


def read_normalised_file(path: str | Path) -> RawData:
    """The normalised MNIST pickle: splits stacked, split indices, digit labels."""
    pairs = read_pickle_pairs(path)
    splits = ["training", "validation", "test"] if len(pairs) == 3 else ["training", "test"]
    widths = {int(np.prod(images.shape[1:])) for images, _ in pairs}
    if len(widths) != 1:
        raise DataError(path, f"its splits have images of different sizes ({sorted(widths)})")
    images = np.concatenate([i.reshape(len(i), -1) for i, _ in pairs]).astype(np.float32)
    digits = np.concatenate([d for _, d in pairs])
    labels = np.array([str(int(d)) if float(d).is_integer() else str(d) for d in digits], object)
    first = pairs[0][0]
    shape = list(first.shape[1:]) if first.ndim > 2 else square_shape(first.shape[1])
    return _raw(images, labels, shape, _split_indices(splits, [len(d) for _, d in pairs]))


# ------------------------------------------------------------------ binarised text
def _amat(path: Path) -> np.ndarray:
    table = read_text_table(path, index_columns=0, header=False)
    return table.values


def read_binarised_files(values: Mapping[str, Path]) -> RawData:
    """Binarised ``.amat`` files by split (training, validation, test order), no labels."""
    splits = [split for split in SPLITS if split in values] + sorted(set(values) - set(SPLITS))
    parts = [_amat(values[split]) for split in splits]
    widths = {part.shape[1] for part in parts}
    if len(widths) != 1:
        raise DataError(values[splits[0]], f"its files have different widths ({sorted(widths)})")
    stacked = sp.vstack(parts, format="csr") if len(parts) > 1 else parts[0]
    return _raw(
        stacked,
        None,
        square_shape(stacked.shape[1]),
        _split_indices(splits, [p.shape[0] for p in parts]) if len(parts) > 1 else None,
    )


# ------------------------------------------------------------------ shared
def square_shape(pixels: int) -> list[int]:
    """``[side, side]`` when ``pixels`` is a square number, else ``[pixels]``."""
    side = math.isqrt(int(pixels))
    return [side, side] if side * side == pixels else [int(pixels)]


def _split_indices(splits: list[str], sizes: list[int]) -> dict[str, np.ndarray]:
    starts = np.cumsum([0, *sizes])
    return {
        split: np.arange(starts[i], starts[i + 1], dtype=np.int64) for i, split in enumerate(splits)
    }


def image_metadata(shape: list[int]) -> dict[str, Any]:
    """Metadata of image data: its example type and the image shape."""
    return {"example type": "images", "feature dimensions": [int(s) for s in shape]}


def _raw(
    values: np.ndarray | sp.spmatrix,
    labels: np.ndarray | None,
    shape: list[int],
    split_indices: dict[str, np.ndarray] | None,
) -> RawData:
    matrix = sp.csr_matrix(values, dtype=np.float32)
    examples, features = matrix.shape
    return RawData(
        values=matrix,
        example_names=np.array([f"image {i}" for i in range(1, examples + 1)], dtype=object),
        feature_names=np.array([f"pixel {j}" for j in range(1, features + 1)], dtype=object),
        labels=labels,
        split_indices=split_indices,
        metadata=image_metadata(shape),
    )


# ------------------------------------------------------------------ readers
def _find(folder: Path, name: str) -> Path | None:
    for candidate in (name, name + ".gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _attach_labels(raw: RawData, options: ReadOptions | None, idx_ok: bool) -> RawData:
    if options is None or not options.labels_path:
        return raw
    path = Path(options.labels_path)
    if idx_ok and _looks_like_idx(path):
        raw.labels = _digits(path, raw.shape[0])
    else:
        raw.labels = labels_for(path, raw.example_names)
    return raw


def _looks_like_idx(path: Path) -> bool:
    try:
        with open_binary(path) as stream:
            head = stream.read(4)
    except OSError:
        return False
    return len(head) == 4 and head[:2] == b"\x00\x00" and head[2] in IDX_TYPES and head[3] == 1


@checked_reader
def read_mnist_original(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read LeCun's MNIST: a folder with the four IDX files, or one IDX images file.

    A single file takes its labels from ``options.labels_path`` (an IDX labels file or a
    labels file of any kind the labels reader knows).
    """
    path = Path(path)
    if path.is_dir():
        files = {key: _find(path, name) for key, name in LECUN_FILES.items()}
        values = {split: p for (role, split), p in files.items() if role == "values" and p}
        if not values:
            names = ", ".join(f"{n}[.gz]" for n in LECUN_FILES.values())
            raise DataError(path, f"holds none of MNIST's IDX files ({names})")
        labels = {split: files[("labels", split)] for split in values}
        if not all(labels.values()):
            labels = None
        return _attach_labels(read_original_files(values, labels), options, idx_ok=True)
    return _attach_labels(read_original_files({"training": path}), options, idx_ok=True)


@checked_reader
def read_mnist_normalised(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read the normalised MNIST pickle (``mnist.pkl.gz``)."""
    path = Path(path)
    if path.is_dir():
        found = _find(path, "mnist.pkl")
        if found is None:
            raise DataError(path, "holds no mnist.pkl[.gz]")
        path = found
    return _attach_labels(read_normalised_file(path), options, idx_ok=False)


@checked_reader
def read_mnist_binarised(path: str | Path, options: ReadOptions | None = None) -> RawData:
    """Read binarised MNIST: a folder with the three ``.amat`` files, or one ``.amat`` file."""
    path = Path(path)
    if path.is_dir():
        values = {s: _find(path, name) for s, name in LAROCHELLE_FILES.items()}
        values = {split: p for split, p in values.items() if p is not None}
        if not values:
            names = ", ".join(LAROCHELLE_FILES.values())
            raise DataError(path, f"holds none of the binarised MNIST files ({names})")
        raw = read_binarised_files(values)
    else:
        raw = read_binarised_files({"training": path})
    return _attach_labels(raw, options, idx_ok=False)
