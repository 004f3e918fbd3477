"""Atomic writes: the target appears whole or not at all, and no temp file survives."""

import json
import os

import pytest

from network.storage.atomic import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_atomic_write_bytes_creates_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "blob.bin"
    atomic_write_bytes(target, b"\x00\x01\x02")
    assert target.read_bytes() == b"\x00\x01\x02"
    assert os.listdir(tmp_path) == ["blob.bin"]


def test_atomic_write_text_and_json_round_trip(tmp_path):
    atomic_write_text(tmp_path / "t.txt", "héllo\nworld\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\nworld\n"
    atomic_write_json(tmp_path / "m.json", {"sizes": [784, 30, 10]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"sizes": [784, 30, 10]}


def test_atomic_write_replaces_an_existing_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["x.txt"]


def test_failure_inside_atomic_open_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as f:
            f.write("half of the new cont")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_unserialisable_json_touches_nothing(tmp_path):
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "m.json", {"bad": object()})
    assert os.listdir(tmp_path) == []


def test_new_file_gets_the_umask_mode_not_mkstemp_0600(tmp_path):
    target = atomic_write_bytes(tmp_path / "b", b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~mask


def test_missing_folder_is_an_error_not_a_silent_mkdir(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "nope" / "b", b"x")
    assert not (tmp_path / "nope").exists()


def test_verify_sees_the_complete_temp_file_before_the_rename(tmp_path):
    target = tmp_path / "d.bin"
    seen = []

    def verify(tmp):
        seen.append((tmp.parent, tmp.read_bytes(), target.exists()))

    with atomic_open(target, "wb", verify=verify) as f:
        f.write(b"abc")
        f.write(b"def")
    assert seen == [(tmp_path, b"abcdef", False)]  # same folder, whole file, not yet renamed
    assert target.read_bytes() == b"abcdef"


def test_failed_verify_discards_the_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "d.bin"
    target.write_bytes(b"good")

    def verify(tmp):
        raise ValueError("checksum mismatch")

    with pytest.raises(ValueError, match="checksum mismatch"):
        with atomic_open(target, "wb", verify=verify) as f:
            f.write(b"bad")
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["d.bin"]


def test_a_missing_folder_is_named_not_the_temporary_file(tmp_path):
    target = tmp_path / "no" / "such" / "model.json"
    with pytest.raises(FileNotFoundError) as info:
        atomic_write_text(target, "{}")
    assert info.value.filename == str(target.parent)
    assert "create it first" in str(info.value) and ".tmp" not in str(info.value)
    assert not (tmp_path / "no").exists()
