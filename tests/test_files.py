"""Atomic writes: complete files or none, and no clash between machines writing into one shared folder."""

import socket

import pytest

from common.core.files import atomic_path, atomic_write_text


def test_a_write_that_fails_leaves_neither_the_file_nor_its_temporary(tmp_path):
    target = tmp_path / "out" / "manifest.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_the_temporary_name_names_the_host_so_shards_on_two_machines_never_share_one(tmp_path, monkeypatch):
    names = []
    for host in ("node01", "node02"):
        monkeypatch.setattr(socket, "gethostname", lambda host=host: host)
        with atomic_path(tmp_path / "part.csv") as temporary:
            names.append(temporary.name)
            temporary.write_text(host)
    assert names[0] != names[1] and all(name.startswith(".part.") for name in names)
    atomic_write_text(tmp_path / "part.csv", "whole")
    assert [path.name for path in tmp_path.iterdir()] == ["part.csv"]
