"""Readers: one module per format, each a plain function ``(path, options) -> RawData``.

The :data:`READERS` registry maps a format name to ``"module:function"``; modules are
imported only when used. :func:`infer_format` guesses the format from a path, and
:func:`read` dispatches (``--format`` always wins over inference).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from scvae.data.raw import RawData, ReadOptions
from scvae.errors import DataError

Reader = Callable[[Path, ReadOptions], RawData]

#: format name -> "module:function" (module relative to this package)
READERS: dict[str, str] = {
    "matrix_ebf": "text:read_matrix_ebf",
    "matrix_fbe": "text:read_matrix_fbe",
    "loom": "loom:read_loom",
    "h5": "hdf5:read_hdf5",
    "10x": "tenx:read_10x",
    "h5ad": "h5ad:read_h5ad",
    "gtex": "gtex:read_gtex",
    "json": "json_spec:read_json_spec",
    "tcga": "named:read_tcga",
    "macosko": "named:read_macosko",
    "10x_combine": "named:read_10x_combine",
    "development": "named:read_development",
    "mnist_original": "mnist:read_mnist_original",
    "mnist_normalised": "mnist:read_mnist_normalised",
    "mnist_binarised": "mnist:read_mnist_binarised",
}

#: accepted spellings of format names (normalised: lower case, '-' and ' ' -> '_')
ALIASES: dict[str, str] = {
    "tsv": "matrix_ebf",
    "csv": "matrix_ebf",
    "txt": "matrix_ebf",
    "matrix": "matrix_ebf",
    "hdf5": "h5",
    "10x_h5": "10x",
    "10x_mtx": "10x",
    "mtx": "10x",
    "tenx": "10x",
    "anndata": "h5ad",
    "gct": "gtex",
    "10xcombine": "10x_combine",
    "mnist_normalized": "mnist_normalised",
    "mnist_binarized": "mnist_binarised",
    "idx": "mnist_original",
    "amat": "mnist_binarised",
}

_TEXT_ENDINGS = (".tsv", ".csv", ".txt", ".tab")


def normalise_format(name: str) -> str:
    """Return the registered format name for ``name`` or raise :class:`DataError`."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key.startswith("tsv") or key.startswith("csv"):
        key = "matrix_ebf"
    key = ALIASES.get(key, key)
    if key not in READERS:
        known = ", ".join(sorted(READERS))
        raise DataError(None, f"data format '{name}' not recognised (known formats: {known})")
    return key


def _strip_gz(name: str) -> str:
    return name[:-3] if name.endswith(".gz") else name


def infer_format(path: str | Path) -> str:
    """Guess the format of ``path`` from its name (and, for folders, its contents)."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    if path.is_dir():
        return "10x"
    name = path.name.lower()
    base = _strip_gz(name)
    if name.endswith((".tar.gz", ".tgz", ".tar")) or base.endswith(".mtx"):
        return "10x"
    if base.endswith(".h5ad"):
        return "h5ad"
    if base.endswith(".loom"):
        return "loom"
    if base.endswith((".h5", ".hdf5", ".he5")):
        return _sniff_hdf5(path)
    if base.endswith(".gct"):
        return "gtex"
    if base.endswith(".json"):
        return "json"
    if base.endswith(_TEXT_ENDINGS):
        return "matrix_ebf"
    if base.endswith(".amat"):
        return "mnist_binarised"
    if base.endswith("-ubyte") and "-idx" in base:
        return "mnist_original"
    raise DataError(
        path,
        "cannot tell the format from the file name; give it with --format "
        f"(one of: {', '.join(sorted(READERS))})",
    )


def _sniff_hdf5(path: Path) -> str:
    """10x Cell Ranger ``.h5`` files are read by the 10x reader, others by ``h5``."""
    import h5py

    from scvae.data.readers.hdf5 import open_hdf5

    with open_hdf5(path) as f:
        if "matrix" in f and isinstance(f["matrix"], h5py.Group) and "barcodes" in f["matrix"]:
            return "10x"
        groups = [f[k] for k in f if isinstance(f[k], h5py.Group)]
        if groups and all("barcodes" in g and "gene_names" in g for g in groups):
            return "10x"
    return "h5"


def get_reader(format_name: str) -> Reader:
    """Return the reader function registered for ``format_name``."""
    module_name, function_name = READERS[normalise_format(format_name)].split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, function_name)


def read(
    path: str | Path, format_name: str = "infer", options: ReadOptions | None = None
) -> RawData:
    """Read ``path`` with the reader for ``format_name`` (``"infer"`` guesses it)."""
    from scvae.data.readers.checks import require_regular

    path = require_regular(Path(path), folder_ok=True)
    fmt = (
        infer_format(path) if format_name in (None, "", "infer") else normalise_format(format_name)
    )
    return get_reader(fmt)(path, options or ReadOptions())
