"""Stand-ins for paths too long for a unix socket: made beside the pod, found again by the
same path, and removed through the pod dir's links only when they are ours."""

from __future__ import annotations

import tempfile
from pathlib import Path

from labcluster.node import standins


def test_a_short_path_is_used_as_it_is(tmp_path):
    short = Path("/tmp/x/run")
    assert standins.short_dir(short, "pgsock") == short


def test_a_long_path_gets_a_stable_stand_in_linked_from_it(tmp_path):
    long = tmp_path / ("d" * 90) / "containers" / "postgres" / "run"
    made = standins.make(long, "pgsock")
    try:
        assert made.parent == Path(tempfile.gettempdir()) and made.is_dir()
        assert made.name.startswith("labcluster-pgsock-")
        assert long.is_symlink() and long.readlink() == made
        assert standins.make(long, "pgsock") == made == standins.short_dir(long, "pgsock")
        (made / ".s.PGSQL.5432.lock").write_text("1")
        assert standins.remove_linked_from(tmp_path) == [made]
        assert not made.exists()
    finally:
        if made.exists():
            made.rmdir()


def test_links_to_anything_not_ours_are_left_alone(tmp_path):
    pod = tmp_path / "pod"
    pod.mkdir()
    theirs = Path(tempfile.mkdtemp(prefix="someone-elses-"))
    outside = tmp_path / "labcluster-pgsock-0123456789abcdef"  # our prefix, not the temp dir
    outside.mkdir()
    try:
        (pod / "a").symlink_to(theirs)
        (pod / "b").symlink_to(outside)
        assert standins.remove_linked_from(pod) == []
        assert theirs.is_dir() and outside.is_dir()
    finally:
        theirs.rmdir()
