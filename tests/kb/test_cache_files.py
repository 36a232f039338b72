"""The cache-file writer shared by the index pickles and the encoder graph."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from knowledge_base.cache_files import STALE_CACHE_S, write_atomic


def test_writes_atomically_and_prunes_only_stale_files_of_its_kind(tmp_path: Path) -> None:
    old = time_shifted(tmp_path / "index-old.pkl", -STALE_CACHE_S - 60)
    recent = time_shifted(tmp_path / "index-recent.pkl", -60)
    other_kind = time_shifted(tmp_path / "vectors-old.pkl", -STALE_CACHE_S - 60)
    other_suffix = time_shifted(tmp_path / "index-old.onnx", -STALE_CACHE_S - 60)

    assert write_atomic(tmp_path / "index-new.pkl", lambda handle: handle.write(b"data"))

    assert (tmp_path / "index-new.pkl").read_bytes() == b"data"
    assert not old.exists()
    assert recent.exists()
    assert other_kind.exists()
    assert other_suffix.exists()
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    def broken(handle: object) -> None:
        raise RuntimeError("serialisation failed")

    with pytest.raises(RuntimeError):
        write_atomic(tmp_path / "index-x.pkl", broken)
    assert list(tmp_path.iterdir()) == []

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert write_atomic(blocked / "index-y.pkl", lambda handle: handle.write(b"x")) is False


def time_shifted(path: Path, seconds: float) -> Path:
    path.write_bytes(b"old")
    when = path.stat().st_mtime + seconds
    os.utime(path, (when, when))
    return path
