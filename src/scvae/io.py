"""Safe file writes: write beside the target, then rename over it in one step.

A reader never sees a half-written file: the content goes to a temporary file in
the target's folder (same file system) and :func:`os.replace` moves it into place
only when writing succeeded. On failure the temporary file is removed and any
previous file at the target is left untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    Parameters
    ----------
    path
        The final file. Its folder is created when missing.

    Yields
    ------
    Path
        An empty, already created file in the same folder. Write to it (or replace
        it) inside the block. If the block raises, the file is deleted and ``path``
        is not touched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _new_temporary(target)
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def _new_temporary(target: Path) -> Path:
    """Create an empty hidden file beside ``target`` with the usual (umask) permissions."""
    for _ in range(100):
        candidate = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            handle = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return candidate
    raise FileExistsError(f"could not create a temporary file beside {target}")


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding=encoding) as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (keys sorted, newline at the end) atomically; return the path.

    The object is serialised before anything is written, so an object that is not
    JSON-serialisable raises ``TypeError`` and leaves no file behind.
    """
    text = json.dumps(obj, indent=indent, sort_keys=True) + "\n"
    return atomic_write_text(path, text)
