"""The toolbox's `tar`/`test` (kubectl cp's commands) and the container path view they
use, without a cluster: option spellings kubectl and people use, the mount table, and a
tar that tries to leave the container through a symlink."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from labcluster.node.containerfs import ContainerFS, env_for
from labcluster.node.toolbox_tar import Usage, create, extract, parse


@pytest.mark.parametrize(("args", "mode", "file", "directory", "paths"), [
    (["cf", "-", "/tmp/x"], "c", "-", None, ["/tmp/x"]),  # kubectl cp from a pod
    (["-xmf", "-", "-C", "/tmp"], "x", "-", "/tmp", []),  # kubectl cp to a pod
    (["--no-same-permissions", "--no-same-owner", "-xmf", "-"], "x", "-", None, []),
    (["xCf", "/d", "a.tar"], "x", "a.tar", "/d", []),  # old style: values in letter order
    (["-c", "-f", "out.tar", "--directory=/srv", "a", "b"], "c", "out.tar", "/srv", ["a", "b"]),
    (["tf", "-"], "t", "-", None, []),
])
def test_options(args, mode, file, directory, paths) -> None:
    opts = parse(args)
    assert (opts.mode, opts.file, opts.directory, opts.paths) == (mode, file, directory, paths)


def test_option_errors() -> None:
    with pytest.raises(Usage, match="You must specify one of"):
        parse(["-f", "-"])
    with pytest.raises(Usage, match="more than one"):
        parse(["-cx"])
    with pytest.raises(Usage, match="unrecognized option '--frobnicate'"):
        parse(["-c", "--frobnicate"])


def _fs(tmp_path: Path) -> ContainerFS:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "vol").mkdir()
    return ContainerFS(env_for(tmp_path / "rootfs", [("/data", tmp_path / "vol")], "/work"))


def test_paths_go_through_the_mount_table(tmp_path: Path) -> None:
    fs = _fs(tmp_path)
    assert fs.host("/data/a/b") == tmp_path / "vol/a/b"
    assert fs.host("/data") == tmp_path / "vol"
    assert fs.host("/database") == tmp_path / "rootfs/database"  # a prefix, not a mount
    assert fs.host("/../../etc/passwd") == tmp_path / "rootfs/etc/passwd"
    assert fs.absolute("x") == "/work/x"
    assert "data" in fs.children("/")


def test_round_trip_through_the_container_view(tmp_path: Path) -> None:
    fs = _fs(tmp_path)
    (tmp_path / "vol/sub").mkdir()
    (tmp_path / "vol/sub/f.txt").write_text("in the volume\n")
    out = io.BytesIO()
    assert create(parse(["cf", "-", "/data"]), fs, out) == 0
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as archive:
        names = archive.getnames()
    assert names == ["data", "data/sub", "data/sub/f.txt"]
    assert extract(parse(["-xmf", "-", "-C", "/copy"]), fs, io.BytesIO(out.getvalue()),
                   False) == 2  # -C to a directory that does not exist, as GNU tar says
    (tmp_path / "rootfs/copy").mkdir()
    assert extract(parse(["-xmf", "-", "-C", "/copy"]), fs, io.BytesIO(out.getvalue()),
                   False) == 0
    assert (tmp_path / "rootfs/copy/data/sub/f.txt").read_text() == "in the volume\n"


def test_a_symlink_cannot_carry_a_write_out_of_the_container(tmp_path: Path,
                                                             capsys) -> None:
    fs = _fs(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        link = tarfile.TarInfo("escape")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        archive.addfile(link)
        data = b"owned"
        for name in ("escape/file", "escape/newdir/file"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert extract(parse(["-xf", "-", "-C", "/"]), fs, io.BytesIO(buf.getvalue()), False) == 2
    assert list(outside.iterdir()) == []
    err = capsys.readouterr().err
    assert "escape/file: Cannot open: Permission denied" in err
    assert "escape/newdir/file: Cannot open: Permission denied" in err
