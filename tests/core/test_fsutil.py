"""The one atomic-write helper: modes, no clobbering when asked, nothing left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zkclear.fsutil import write_atomic, write_json_atomic


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_write_replace_and_modes(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "f.txt"
    assert write_atomic(p, "one") == p and p.read_text() == "one" and _mode(p) == 0o600
    write_atomic(p, b"two", mode=0o644)
    assert p.read_bytes() == b"two" and _mode(p) == 0o644
    write_json_atomic(tmp_path / "d.json", {"a": [1]})
    assert (tmp_path / "d.json").read_text() == '{\n "a": [\n  1\n ]\n}\n'
    assert sorted(f.name for f in p.parent.iterdir()) == ["f.txt"]  # no temporary left


def test_no_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "k.json"
    write_atomic(p, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomic(p, "second", overwrite=False)
    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "link", "x", overwrite=False)
    assert p.read_text() == "first"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["k.json", "link"]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no" / "f", "x", make_dirs=False)
