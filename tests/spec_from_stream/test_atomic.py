"""Atomic replacement of files."""

import os

import pytest

from spec_from_stream.atomic import write_atomic


def test_write_creates_folders_and_replaces_content(tmp_path):
    path = tmp_path / "a" / "b" / "doc.json"

    write_atomic(path, b"one")
    write_atomic(path, b"two", durable=False)

    assert path.read_bytes() == b"two"
    assert os.listdir(path.parent) == ["doc.json"]


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "doc.json"
    write_atomic(path, b"old")

    def crash(*args):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError) as raised:
        write_atomic(path, b"new")
    monkeypatch.undo()

    # a failed write names no file by itself: the message names the target
    assert raised.value.filename == str(path)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["doc.json"]
