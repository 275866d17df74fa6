"""configMap/secret volumes: the kubelet's atomic layout, updates, read-only files."""

from __future__ import annotations

import os
from pathlib import Path

from labcluster.node import atomicwriter, readonly


def test_atomic_layout_and_update(tmp_path: Path) -> None:
    vol = tmp_path / "cfg"
    assert atomicwriter.write(vol, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    first = os.readlink(vol / "..data")
    assert first.startswith("..") and (vol / first / "a").read_bytes() == b"1"
    assert os.readlink(vol / "a") == "..data/a"
    assert (vol / "dir" / "b").read_bytes() == b"2"
    assert (vol / "a").stat().st_mode & 0o777 == 0o444  # write bits removed
    assert (vol / "dir" / "b").stat().st_mode & 0o777 == 0o400
    assert (vol / first).stat().st_mode & 0o777 == 0o555
    assert not atomicwriter.write(vol, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert os.readlink(vol / "..data") == first  # unchanged payload: nothing touched
    assert atomicwriter.write(vol, {"a": (b"changed", 0o644), "c": (b"3", 0o644)})
    second = os.readlink(vol / "..data")
    assert second != first and not (vol / first).exists()  # old payload removed
    assert (vol / "a").read_bytes() == b"changed" and (vol / "c").read_bytes() == b"3"
    assert not (vol / "dir").exists() and not (vol / "dir").is_symlink()
    entries = sorted(os.listdir(vol))
    assert entries == sorted(["..data", second, "a", "c"])


def test_older_layout_is_replaced_and_sealed_trees_are_removable(tmp_path: Path) -> None:
    vol = tmp_path / "cfg"
    vol.mkdir()
    (vol / "stale").write_text("from an older node")
    atomicwriter.write(vol, {"k": (b"v", 0o644)})
    assert not (vol / "stale").exists() and (vol / "k").read_bytes() == b"v"
    snap = readonly.snapshot(vol / "..data", tmp_path / "snap")
    assert (snap / "k").read_bytes() == b"v" and snap.stat().st_mode & 0o777 == 0o555
    readonly.remove(tmp_path / "snap")
    readonly.remove(vol)
    assert not vol.exists() and not (tmp_path / "snap").exists()


def test_read_only_snapshots_stop_at_64_mib(tmp_path: Path) -> None:
    """node README: a `readOnly` PVC/emptyDir/hostPath mount is a sealed copy "up to 64 MiB,
    else CreateContainerConfigError". Sparse files: the size counts, no disk is used until
    a copy is made, and none is made for the refused one."""
    assert readonly.SNAPSHOT_LIMIT == 64 * 2**20
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "part-a", "wb") as f:
        f.truncate(readonly.SNAPSHOT_LIMIT - 1)
    (big / "part-b").write_bytes(b"x")
    view = readonly.snapshot(big, tmp_path / "fits")  # exactly 64 MiB: copied and sealed
    assert (view / "part-b").read_bytes() == b"x"
    assert (view / "part-a").stat().st_size == readonly.SNAPSHOT_LIMIT - 1
    assert view.stat().st_mode & 0o777 == 0o555
    readonly.remove(view)
    (big / "part-c").write_bytes(b"y")  # one byte more
    try:
        readonly.snapshot(big, tmp_path / "refused")
    except readonly.SnapshotTooLarge as exc:
        assert str(exc) == (f"readOnly mount of {big}: {readonly.SNAPSHOT_LIMIT + 1} bytes is "
                            f"more than the {readonly.SNAPSHOT_LIMIT} bytes labcluster copies "
                            "to make it read-only")
    else:
        raise AssertionError("a read-only mount over 64 MiB was copied")
    assert not (tmp_path / "refused").exists()
