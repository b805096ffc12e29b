"""Atomic writes: all or nothing, never a temporary file left behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from scvae.io import atomic_path, atomic_write_json, atomic_write_text


def test_write_text_creates_folders_and_leaves_only_the_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "note.txt"
    assert atomic_write_text(target, "héllo\n") == target
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["note.txt"]


def test_write_text_replaces_previous_content(tmp_path: Path) -> None:
    target = tmp_path / "note.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"


def test_failed_block_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_text("original")
    seen: list[Path] = []
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as temporary:
        seen.append(temporary)
        assert temporary.parent == tmp_path and temporary.exists()
        temporary.write_text("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "original"
    assert not seen[0].exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_failed_block_without_previous_file_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_path(tmp_path / "x.txt") as temporary:
        temporary.write_text("partial")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_block_may_replace_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    with atomic_path(target) as temporary:
        temporary.unlink()
        temporary.write_text("rewritten")
    assert target.read_text() == "rewritten"


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_json_sorted_with_newline(tmp_path: Path) -> None:
    target = atomic_write_json(tmp_path / "c.json", {"b": 1, "a": [1, 2]})
    text = target.read_text()
    assert text.endswith("\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": [1, 2], "b": 1}


def test_write_json_unserialisable_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "c.json", {"a": object()})
    assert list(tmp_path.iterdir()) == []
