"""Downloads (resume, retries, verification, offline errors) and safe archive extraction."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import tarfile
import zipfile
from pathlib import Path

import pytest
from local_http import LocalServer

from scvae.data import download as download_module
from scvae.data.download import download, extract, part_path, record_path, verified
from scvae.errors import DataError

BODY = bytes(range(256)) * 40  # 10,240 bytes
DIGEST = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    sleeps: list[float] = []
    monkeypatch.setattr(download_module.time, "sleep", sleeps.append)
    with LocalServer() as local:
        local.files["f.bin"] = BODY
        local.sleeps = sleeps
        yield local


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/missing.gz"


def test_download_writes_the_file_and_leaves_no_part(server, tmp_path):
    target = tmp_path / "sub" / "f.bin"
    assert download(server.url("f.bin"), target, size=len(BODY), sha256=DIGEST) == target
    assert target.read_bytes() == BODY
    assert not part_path(target).exists()
    assert server.requests == [("f.bin", None)]


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    server.drop_once["f.bin"] = 3000
    target = tmp_path / "f.bin"
    download(server.url("f.bin"), target, sha256=DIGEST, backoff=0.5, progress=False)
    assert target.read_bytes() == BODY
    assert server.requests == [("f.bin", None), ("f.bin", "bytes=3000-")]
    assert server.statuses == [200, 206]
    assert server.sleeps == [0.5]


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    target = tmp_path / "f.bin"
    part_path(target).write_bytes(BODY[:1234])
    download(server.url("f.bin"), target, size=len(BODY), progress=False)
    assert target.read_bytes() == BODY
    assert server.requests == [("f.bin", "bytes=1234-")]


def test_server_ignoring_range_restarts_the_file(server, tmp_path):
    server.ignore_range.add("f.bin")
    target = tmp_path / "f.bin"
    part_path(target).write_bytes(b"x" * 500)  # not a prefix of the real file
    download(server.url("f.bin"), target, sha256=DIGEST, progress=False)
    assert target.read_bytes() == BODY
    assert server.statuses == [200]


def test_part_longer_than_the_file_is_restarted_after_416(server, tmp_path):
    target = tmp_path / "f.bin"
    part_path(target).write_bytes(b"y" * (len(BODY) + 10))
    download(server.url("f.bin"), target, sha256=DIGEST, backoff=0, progress=False)
    assert target.read_bytes() == BODY
    assert server.statuses == [416, 200]


def test_transient_errors_are_retried_with_exponential_back_off(server, tmp_path):
    server.fail["f.bin"] = 3
    download(server.url("f.bin"), tmp_path / "f.bin", backoff=1.0, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert server.sleeps == [1.0, 2.0, 4.0]


def test_checksum_mismatch_is_refused_and_deleted(server, tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(DataError, match="corrupt.*SHA-256") as caught:
        download(server.url("f.bin"), target, sha256="0" * 64, progress=False)
    assert server.url("f.bin") in str(caught.value)
    assert not target.exists() and not part_path(target).exists()


def test_size_mismatch_is_refused(server, tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(DataError, match=f"announces {len(BODY):,} bytes, more than 99"):
        download(server.url("f.bin"), target, size=99, progress=False)
    assert not target.exists() and not part_path(target).exists()


def test_missing_file_fails_at_once_naming_url_and_target(server, tmp_path):
    target = tmp_path / "nope.gz"
    with pytest.raises(DataError) as caught:
        download(server.url("nope.gz"), target, progress=False)
    message = str(caught.value)
    assert server.url("nope.gz") in message and str(target.absolute()) in message
    assert "HTTP 404" in message
    assert len(server.requests) == 1 and server.sleeps == []


def test_offline_error_names_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(download_module.time, "sleep", lambda seconds: None)
    url = _closed_port_url()
    target = tmp_path / "data" / "x" / "original" / "x-values-full.gz"
    with pytest.raises(DataError) as caught:
        download(url, target, retries=2, progress=False)
    message = str(caught.value)
    assert message.startswith(url)
    assert f"put it at {target.absolute()}" in message
    assert not target.exists()


def test_existing_file_is_verified_not_fetched(server, tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(BODY)
    assert download(server.url("f.bin"), target, sha256=DIGEST) == target
    assert server.requests == []


def test_kept_bad_file_is_moved_aside_and_fetched_again(server, tmp_path, capsys):
    target = tmp_path / "f.bin"
    damaged = BODY[:-1] + b"!"
    target.write_bytes(damaged)
    download(server.url("f.bin"), target, sha256=DIGEST, progress=False)
    assert target.read_bytes() == BODY
    assert (tmp_path / "f.bin.rejected").read_bytes() == damaged  # the user's file is kept
    assert "fetching it again" in capsys.readouterr().err
    assert server.requests == [("f.bin", None)]


def test_download_record_detects_a_file_damaged_later(server, tmp_path):
    target = tmp_path / "f.bin"
    download(server.url("f.bin"), target, progress=False)  # nothing pinned
    record = json.loads(record_path(target).read_text())
    assert record["size"] == len(BODY) and record["sha256"] == DIGEST
    assert verified(target)
    target.write_bytes(BODY[:5000])  # cut short on disk after the download
    assert not verified(target)
    download(server.url("f.bin"), target, progress=False)
    assert target.read_bytes() == BODY
    assert len(server.requests) == 2


def test_file_placed_by_hand_without_record_is_used_as_is(server, tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"mine")
    download(server.url("f.bin"), target, progress=False)
    assert target.read_bytes() == b"mine" and not verified(target)
    assert server.requests == []


def test_corrupted_download_is_never_put_in_place(server, tmp_path):
    server.files["f.bin"] = BODY[:100] + b"\xff" + BODY[101:]
    target = tmp_path / "f.bin"
    with pytest.raises(DataError, match="corrupt.*SHA-256"):
        download(server.url("f.bin"), target, sha256=DIGEST, retries=0, progress=False)
    assert not target.exists() and not record_path(target).exists()
    assert not part_path(target).exists()
    server.files["f.bin"] = BODY  # the mirror is fixed: the next run fetches it
    download(server.url("f.bin"), target, sha256=DIGEST, progress=False)
    assert target.read_bytes() == BODY


def test_short_body_under_a_lying_content_length_is_not_kept(server, tmp_path):
    server.announce["f.bin"] = len(BODY) + 5000
    target = tmp_path / "f.bin"
    with pytest.raises(DataError, match="closed after"):
        download(server.url("f.bin"), target, retries=2, backoff=0, progress=False)
    assert not target.exists() and not record_path(target).exists()
    assert len(server.requests) == 3


def test_endless_stream_is_stopped_at_the_cap(server, tmp_path, monkeypatch):
    server.endless.add("forever")
    target = tmp_path / "forever"
    with pytest.raises(DataError, match="more than 1,000,000 bytes arrived"):
        download(server.url("forever"), target, max_size=1_000_000, progress=False)
    assert not target.exists() and not part_path(target).exists()
    monkeypatch.setenv("SCVAE_DOWNLOAD_MAX_BYTES", "300000")
    with pytest.raises(DataError, match="more than 300,000 bytes arrived"):
        download(server.url("forever"), target, progress=False)


def test_announced_size_above_the_cap_is_refused_before_reading(server, tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(DataError, match="announces 10,240 bytes, more than 1,000"):
        download(server.url("f.bin"), target, max_size=1000, progress=False)
    assert not part_path(target).exists()


def test_progress_bar_shows_bytes_total_and_resume_offset(server, tmp_path, monkeypatch):
    seen: list[dict] = []

    class Recorder:
        def __init__(self, **kwargs):
            seen.append(kwargs)
            self.n = kwargs["initial"]

        def update(self, count):
            self.n += count

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            seen[-1]["final"] = self.n

    import tqdm.auto

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    target = tmp_path / "f.bin"
    part_path(target).write_bytes(BODY[:100])
    download(server.url("f.bin"), target)
    (options,) = seen
    assert (options["total"], options["initial"], options["final"]) == (len(BODY), 100, len(BODY))
    assert options["unit"] == "B" and options["unit_scale"] is True and options["disable"] is None


# ------------------------------------------------------------------ extraction
def _tar(path: Path, members: list[tarfile.TarInfo], contents: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info in members:
            data = contents.get(info.name)
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_safe_tar_is_extracted_with_inner_links_as_copies(tmp_path):
    folder = tarfile.TarInfo("top")
    folder.type = tarfile.DIRTYPE
    archive = _tar(
        tmp_path / "ok.tar.gz",
        [
            folder,
            _file("top/a.txt"),
            _link("top/b.txt", "a.txt"),
            _link("c.txt", "top/a.txt", tarfile.LNKTYPE),
        ],
        {"top/a.txt": b"hello"},
    )
    written = extract(archive, tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "c.txt",
        "top/a.txt",
        "top/b.txt",
    ]
    assert [(out / n).read_bytes() for n in ("top/a.txt", "top/b.txt", "c.txt")] == [b"hello"] * 3
    assert not any(p.is_symlink() for p in out.rglob("*"))


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_file("../evil.txt"), "contains '..'"),
        (_file("ok/../../evil.txt"), "contains '..'"),
        (_file("/tmp/evil.txt"), "absolute path"),
        (_link("escape", "../../etc/passwd"), "points outside"),
        (_link("escape", "/etc/passwd"), "absolute path"),
        (_link("sub/escape", "../.."), "points outside"),
        (_link("hard", "../outside", tarfile.LNKTYPE), "points outside"),
    ],
)
def test_malicious_tar_is_refused_before_writing_anything(tmp_path, member, message):
    contents = {"first.txt": b"x", member.name: b"evil"} if member.isfile() else {"first.txt": b"x"}
    archive = _tar(tmp_path / "bad.tar.gz", [_file("first.txt"), member], contents)
    with pytest.raises(DataError, match=message):
        extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_tar_with_a_device_file_is_refused(tmp_path):
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    archive = _tar(tmp_path / "dev.tar", [device], {})
    with pytest.raises(DataError, match="special file"):
        extract(archive, tmp_path / "out")


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "C:/evil.txt"])
def test_malicious_zip_is_refused(tmp_path, name):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("fine.txt", b"ok")
        archive.writestr(name, b"evil")
    with pytest.raises(DataError, match="refusing"):
        extract(path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_zip_is_extracted(tmp_path):
    path = tmp_path / "ok.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("d/x.txt", b"one")
        archive.writestr("y.txt", b"two")
    written = extract(path, tmp_path / "out")
    assert [p.read_bytes() for p in written] == [b"one", b"two"]


def test_not_an_archive_is_a_data_error(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_text("just text\n")
    with pytest.raises(DataError, match="not a readable tar or zip"):
        extract(path, tmp_path / "out")


def _zip_with_mode(path: Path, name: str, mode: int, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        archive.writestr(info, data)
    return path


def test_zip_symlink_out_of_the_target_is_refused(tmp_path):
    import stat

    path = _zip_with_mode(tmp_path / "link.zip", "sneaky", stat.S_IFLNK | 0o777, b"../../x")
    with pytest.raises(DataError, match="points outside"):
        extract(path, tmp_path / "out")


def test_zip_special_file_is_refused(tmp_path):
    import stat

    path = _zip_with_mode(tmp_path / "fifo.zip", "pipe", stat.S_IFIFO | 0o644, b"")
    with pytest.raises(DataError, match="special file"):
        extract(path, tmp_path / "out")


def test_archive_declaring_more_than_the_size_limit_is_refused_before_writing(tmp_path):
    header = tarfile.TarInfo("big/matrix.mtx")
    header.size = 1 << 31  # declared only: the refusal comes before any data is read
    archive = tmp_path / "big.tar.gz"
    archive.write_bytes(gzip.compress(header.tobuf()))
    with pytest.raises(DataError, match="would unpack to more than"):
        extract(archive, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*"))


def test_archive_with_too_many_members_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "MAX_MEMBERS", 5)
    members = [_file(f"f{i}.txt") for i in range(6)]
    archive = _tar(tmp_path / "many.tar.gz", members, {m.name: b"x" for m in members})
    with pytest.raises(DataError, match="more than 5 members"):
        extract(archive, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*"))


def test_special_file_in_the_way_is_refused_not_read(server, tmp_path):
    target = tmp_path / "f.bin"
    os.mkfifo(target)  # reading it would block forever
    with pytest.raises(DataError, match="not a regular file"):
        download(server.url("f.bin"), target, progress=False)
    assert server.requests == []
