"""Fetch files over HTTP(S) safely, and unpack archives without escaping their folder.

:func:`download` streams a URL into ``<target>.part`` beside the target, resuming a
partial file with an HTTP ``Range`` request (or starting again when the server ignores
it), retrying transient failures with exponential back-off, checking the bytes received
against ``Content-Length``, the size and the SHA-256 digest when they are known, and only
then renaming the file into place, beside a record of its size and digest
(``<target>.verified``) that later runs check the kept file against. A file of unknown
size is capped (:data:`MAX_DOWNLOAD_BYTES`), so an endless stream is stopped. Only the
standard library (``urllib``) is used for the transfer; ``tqdm`` draws the progress bar.

:func:`extract` unpacks a tar or zip archive after checking every member: absolute
paths, ``..`` components, links leading out of the target, special files, more than
:data:`MAX_MEMBERS` members and more bytes than :func:`extraction_limit` allows are
refused before anything is written. Links that stay inside are written as copies of what they
point to, so no link is ever created on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import posixpath
import shutil
import socket
import stat
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from scvae.errors import DataError

#: attempts after the first one, and the first pause (doubled after each failure)
RETRIES = 4
BACKOFF_SECONDS = 1.0
TIMEOUT_SECONDS = 60.0
CHUNK_BYTES = 1 << 16
#: most bytes fetched for a file of unknown size, unless SCVAE_DOWNLOAD_MAX_BYTES says otherwise
MAX_DOWNLOAD_BYTES = 32 << 30
CAP_VARIABLE = "SCVAE_DOWNLOAD_MAX_BYTES"
#: most members of an archive, and most bytes it may unpack to (absolute, and per byte of it)
MAX_MEMBERS = 10_000
MAX_EXTRACT_BYTES = 64 << 30
EXTRACT_RATIO = 100
#: HTTP statuses worth retrying; any other HTTP error is final
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class IncompleteDownload(OSError):
    """The connection ended before the announced number of bytes arrived."""


class _TooLarge(Exception):
    """More bytes are announced or sent than the file may have."""


class _Final(Exception):
    """A failure that retrying cannot fix (for example HTTP 404 or an unknown host)."""


def part_path(path: str | os.PathLike[str]) -> Path:
    """Where the partial download of ``path`` is kept (``<name>.part`` beside it)."""
    path = Path(path)
    return path.with_name(path.name + ".part")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_path(path: str | os.PathLike[str]) -> Path:
    """Where the verification record of a completed download is kept (``<name>.verified``)."""
    path = Path(path)
    return path.with_name(path.name + ".verified")


def size_cap() -> int:
    """Most bytes fetched for a file whose size is not known (``SCVAE_DOWNLOAD_MAX_BYTES``)."""
    text = os.environ.get(CAP_VARIABLE, "").strip()
    if not text:
        return MAX_DOWNLOAD_BYTES
    try:
        return max(1, int(float(text)))
    except ValueError:
        raise DataError(None, f"{CAP_VARIABLE}='{text}' is not a number of bytes") from None


def download(
    url: str,
    path: str | os.PathLike[str],
    *,
    size: int | None = None,
    sha256: str | None = None,
    max_size: int | None = None,
    retries: int | None = None,
    backoff: float | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``path`` (resuming, retrying and verifying); return ``path``.

    Parameters
    ----------
    url
        An ``http``/``https`` (or ``file``) URL.
    path
        The final file. If it already exists it is checked against ``size``/``sha256``
        or, failing those, against the record of its download (``<name>.verified``); a
        file that fails is moved aside to ``<name>.rejected`` and fetched again. A file
        with neither (put there by hand) is used as it is.
    size, sha256
        Expected size in bytes and hex SHA-256 digest, checked when given.
    max_size
        Most bytes accepted when ``size`` is not given (default :func:`size_cap`).
    retries, backoff, timeout
        Extra attempts after the first, the first pause in seconds (doubled after
        each failure) and the socket timeout; defaults are the module constants.
    progress
        Show a progress bar with size and rate on stderr (when it is a terminal).

    Raises
    ------
    DataError
        When the file cannot be fetched (the message names the URL and where to put
        the file by hand) or fails verification. Nothing unverified is ever renamed
        into place: a transfer is kept as ``<name>.part`` until it has been checked.
    """
    path = Path(path)
    if path.exists() and _kept(path, url, size, sha256):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(path)
    cap = size if size is not None else (max_size if max_size is not None else size_cap())
    retries = RETRIES if retries is None else retries
    backoff = BACKOFF_SECONDS if backoff is None else backoff
    timeout = TIMEOUT_SECONDS if timeout is None else timeout
    if progress:
        print(f"Downloading {url}\n  to {path}", file=sys.stderr)
    failure: BaseException | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _transfer(url, part, size=size, cap=cap, timeout=timeout, progress=progress)
        except _Final as error:
            raise _unavailable(url, path, str(error)) from None
        except _TooLarge as error:
            part.unlink(missing_ok=True)
            raise DataError(url, f"the download was stopped: {error}; nothing was kept") from None
        except (OSError, http.client.HTTPException) as error:
            failure = error
            continue
        break
    else:
        raise _unavailable(url, path, _describe(failure))
    _verify(part, url, path, size, sha256, delete=True)
    _write_record(path, url, part)
    os.replace(part, path)
    return path


def _kept(path: Path, url: str, size: int | None, sha256: str | None) -> bool:
    """Whether an existing file passes its checks; one that fails is moved aside."""
    if not path.is_file():
        raise DataError(path, "is in the way of a download but is not a regular file")
    expected_size, expected_digest = size, sha256
    record = _read_record(path)
    if expected_size is None and expected_digest is None and record is not None:
        expected_size, expected_digest = record.get("size"), record.get("sha256")
    try:
        _verify(path, url, path, expected_size, expected_digest, delete=False)
    except DataError as error:
        rejected = path.with_name(path.name + ".rejected")
        os.replace(path, rejected)
        record_path(path).unlink(missing_ok=True)
        print(f"{error.problem}\n  moved it to {rejected} and fetching it again", file=sys.stderr)
        return False
    return True


def _write_record(path: Path, url: str, part: Path) -> None:
    """Write ``<name>.verified`` (size and digest of ``part``) atomically, before the rename."""
    record = {"url": url, "size": part.stat().st_size, "sha256": file_sha256(part)}
    temporary = record_path(path).with_name(record_path(path).name + ".tmp")
    temporary.write_text(json.dumps(record, sort_keys=True))
    os.replace(temporary, record_path(path))


def _read_record(path: Path) -> dict | None:
    """The verification record of ``path``, or ``None`` (absent or unreadable)."""
    try:
        record = json.loads(record_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    size, digest = record.get("size"), record.get("sha256")
    if not isinstance(size, int) or not isinstance(digest, str):
        return None
    return {"size": size, "sha256": digest}


def verified(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` exists with a record whose size matches (a cheap check, no digest)."""
    path = Path(path)
    record = _read_record(path)
    return path.is_file() and record is not None and path.stat().st_size == record["size"]


def _unavailable(url: str, path: Path, reason: str) -> DataError:
    return DataError(
        url,
        f"could not be downloaded ({reason}). If this machine is offline, fetch the "
        f"file elsewhere and put it at {path.absolute()}",
    )


def _describe(error: BaseException | None) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    """Open ``url`` (from byte ``offset`` if positive); sort failures into final or not."""
    request = urllib.request.Request(url, headers={"User-Agent": "scvae"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https/file)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code in RETRYABLE_STATUSES or (error.code == 416 and offset):
            raise
        raise _Final(_describe(error)) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, socket.gaierror):  # unknown host: offline, most likely
            raise _Final(f"cannot resolve the host: {error.reason}") from None
        raise
    except ValueError as error:  # malformed URL or unknown scheme
        raise _Final(str(error)) from None


def _transfer(
    url: str, part: Path, *, size: int | None, cap: int, timeout: float, progress: bool
) -> None:
    """One attempt: append to ``part`` (or restart it) until the server is done."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset >= size:
        return  # complete already (verification judges a file that is too long)
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416:
            raise
        part.unlink()  # the server cannot resume from here: start again next attempt
        raise IncompleteDownload(f"the server refused to resume at byte {offset}") from None
    with response:
        resumed = offset and getattr(response, "status", None) == 206
        start = offset if resumed and _range_start(response) == offset else 0
        announced = response.headers.get("Content-Length", "").strip()
        expected = start + int(announced) if announced.isdigit() else size
        if expected is not None and expected > cap:
            raise _TooLarge(f"the server announces {expected:,} bytes, more than {cap:,}")
        received = start
        with (
            open(part, "ab" if start else "wb") as sink,
            _bar(part, expected, start, progress) as bar,
        ):
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                received += len(chunk)
                if received > cap:
                    raise _TooLarge(f"more than {cap:,} bytes arrived")
                sink.write(chunk)
                bar.update(len(chunk))
            sink.flush()
            os.fsync(sink.fileno())
    if expected is not None and received < expected:
        raise IncompleteDownload(f"the connection closed after {received} of {expected} bytes")


def _range_start(response: http.client.HTTPResponse) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` answer."""
    value = response.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    first = rest.split("-", 1)[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


@contextlib.contextmanager
def _bar(part: Path, total: int | None, initial: int, progress: bool) -> Iterator:
    from tqdm.auto import tqdm

    name = part.name[: -len(".part")] if part.name.endswith(".part") else part.name
    with tqdm(
        total=total,
        initial=initial,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=None if progress else True,  # None: only on a terminal
    ) as bar:
        yield bar


def _verify(
    file: Path, url: str, path: Path, size: int | None, sha256: str | None, *, delete: bool
) -> None:
    """Check size and digest; a bad download is deleted (``delete``), else only refused."""
    problem = None
    actual_size = file.stat().st_size
    if size is not None and actual_size != size:
        problem = f"it has {actual_size} bytes, but {size} were expected"
    elif sha256 is not None:
        digest = file_sha256(file)
        if digest != sha256.lower():
            problem = f"its SHA-256 is {digest}, but {sha256.lower()} was expected"
    if problem is None:
        return
    if delete:
        file.unlink(missing_ok=True)
        raise DataError(url, f"the download is corrupt ({problem}); it was deleted, so try again")
    raise DataError(path, f"is not the expected file from {url} ({problem})")


# ------------------------------------------------------------------ extraction
def extract(archive: str | os.PathLike[str], target: str | os.PathLike[str]) -> list[Path]:
    """Unpack a tar (plain or compressed) or zip archive into ``target`` safely.

    Every member is checked before anything is written: absolute paths, ``..``
    components, links (symbolic or hard) leading outside ``target`` and special files
    (devices, pipes) are refused with :class:`DataError`. Links that stay inside are
    written as copies of the file they point to.

    Returns
    -------
    list of Path
        The regular files written, in archive order.
    """
    archive, target = Path(archive), Path(target)
    with open(archive, "rb") as file:
        is_zip = file.read(4) == b"PK\x03\x04"
    try:
        if is_zip:
            with zipfile.ZipFile(archive) as opened:
                return _extract_zip(opened, target, archive)
        with tarfile.open(archive, "r:*") as opened:
            return _extract_tar(opened, target, archive)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(archive, f"is not a readable tar or zip archive ({error})") from None


def _member_path(root: Path, name: str, archive: Path, what: str) -> PurePosixPath:
    """The member's path relative to ``root``, refusing anything that leaves it."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and pure.parts[0].endswith(":")):
        raise DataError(archive, f"{what} '{name}' is an absolute path; refusing to extract")
    if ".." in pure.parts:
        raise DataError(archive, f"{what} '{name}' contains '..'; refusing to extract")
    resolved = (root / pure).resolve()
    if resolved != root and root not in resolved.parents:
        raise DataError(archive, f"{what} '{name}' leads outside {root}; refusing to extract")
    return PurePosixPath(*[part for part in pure.parts if part not in ("", ".")])


def _link_target(root: Path, member: str, link: str, archive: Path, hard: bool) -> PurePosixPath:
    """Where a link member points, relative to ``root``; refused if that is outside."""
    if link.startswith(("/", "\\")) or (link[1:2] == ":"):
        raise DataError(
            archive, f"link '{member}' points to the absolute path '{link}'; refusing to extract"
        )
    base = "" if hard else posixpath.dirname(member.replace("\\", "/"))
    joined = posixpath.normpath(posixpath.join(base, link.replace("\\", "/")))
    if joined == ".." or joined.startswith("../"):
        raise DataError(
            archive,
            f"link '{member}' points outside the archive (to '{link}'); refusing to extract",
        )
    return _member_path(root, joined, archive, "link target of")


def _extract_tar(opened: tarfile.TarFile, target: Path, archive: Path) -> list[Path]:
    root = _prepared(target)
    budget = _Budget(archive)
    plan = []
    for member in opened:  # one header at a time: the limits apply before data are read
        budget.add(member.name, member.size if member.isfile() else 0)
        relative = _member_path(root, member.name, archive, "member")
        if member.issym() or member.islnk():
            linked = _link_target(root, member.name, member.linkname, archive, member.islnk())
            plan.append((member, relative, linked))
        elif member.isfile() or member.isdir():
            plan.append((member, relative, None))
        else:
            raise DataError(archive, f"member '{member.name}' is a special file; refusing it")
    written: list[Path] = []
    for member, relative, linked in plan:
        destination = root / relative
        if member.isdir():
            destination.mkdir(parents=True, exist_ok=True)
        elif linked is None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with opened.extractfile(member) as source, open(destination, "wb") as sink:
                _copy(source, sink, member.size, archive, member.name)
            written.append(destination)
    written += _copy_links([(root / rel, root / lnk) for _, rel, lnk in plan if lnk is not None])
    return written


class _Budget:
    """Running totals of an extraction, refused past :data:`MAX_MEMBERS` or the size limit."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.limit = extraction_limit(archive)
        self.members = 0
        self.total = 0

    def add(self, name: str, size: int) -> None:
        self.members += 1
        self.total += max(0, size)
        if self.members > MAX_MEMBERS:
            raise DataError(self.archive, f"holds more than {MAX_MEMBERS:,} members; refusing it")
        if self.total > self.limit:
            raise DataError(
                self.archive,
                f"would unpack to more than {self.limit:,} bytes (at member '{name}'); "
                "refusing to extract",
            )


def extraction_limit(archive: Path) -> int:
    """Most bytes an archive may unpack to: a ratio of its size, within an absolute cap."""
    return min(MAX_EXTRACT_BYTES, archive.stat().st_size * EXTRACT_RATIO + (64 << 20))


def _copy(source: Any, sink: Any, size: int, archive: Path, name: str) -> None:
    """Copy at most ``size`` bytes (what the member declared)."""
    copied = 0
    for block in iter(lambda: source.read(CHUNK_BYTES), b""):
        copied += len(block)
        if copied > size:
            raise DataError(
                archive, f"member '{name}' holds more than the {size} bytes it declares"
            )
        sink.write(block)


def _extract_zip(opened: zipfile.ZipFile, target: Path, archive: Path) -> list[Path]:
    root = _prepared(target)
    budget = _Budget(archive)
    plan = []
    for info in opened.infolist():
        budget.add(info.filename, 0 if info.is_dir() else info.file_size)
        relative = _member_path(root, info.filename, archive, "member")
        mode = info.external_attr >> 16
        linked = None
        if stat.S_ISLNK(mode):
            if info.file_size > 4096:
                raise DataError(archive, f"link '{info.filename}' is too long")
            link = opened.read(info).decode("utf-8", "replace")
            linked = _link_target(root, info.filename, link, archive, hard=False)
        elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise DataError(archive, f"member '{info.filename}' is a special file; refusing it")
        plan.append((info, relative, linked))
    written: list[Path] = []
    for info, relative, linked in plan:
        destination = root / relative
        if info.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif linked is None:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with opened.open(info) as source, open(destination, "wb") as sink:
                _copy(source, sink, info.file_size, archive, info.filename)
            written.append(destination)
    written += _copy_links([(root / rel, root / lnk) for _, rel, lnk in plan if lnk is not None])
    return written


def _prepared(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    return target.resolve()


def _copy_links(links: list[tuple[Path, Path]]) -> list[Path]:
    """Write each in-archive link as a copy of the regular file it points to."""
    written = []
    for destination, source in links:
        if source.is_file() and not source.is_symlink():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            written.append(destination)
    return written
