"""Where labcluster keeps its state, and that nobody else can read it (labcluster.home).

The layout decisions are tested with real directories and modes for each kind of user
(the functions take the user as an argument); the modes are checked on a real server.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import labcluster
from labcluster import home as homedir

NOBODY = (65534, 65534)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A temp dir everyone may traverse (pytest's own sit under a 0700 folder, which
    would block `nobody` before any folder a test makes)."""
    import shutil

    path = Path(tempfile.mkdtemp(prefix="labcluster-home-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def old_home(user_home: Path) -> Path:
    """A home as an older version left it: store and log readable by everyone."""
    legacy = user_home / ".labcluster"
    legacy.mkdir(parents=True)
    for name in ("store.sqlite", "store.sqlite-wal", "server.log"):
        (legacy / name).write_text("x")
        (legacy / name).chmod(0o644)
    return legacy


def test_plain_user_default_is_dot_labcluster_in_home(tmp_path):
    assert homedir.default_home({}, tmp_path, ids=None) == tmp_path / ".labcluster"


def test_explicit_home_wins(tmp_path):
    env = {"LABCLUSTER_HOME": str(tmp_path / "mine")}
    assert homedir.default_home(env, tmp_path, ids=NOBODY) == tmp_path / "mine"
    assert homedir.default_home(env, tmp_path, ids=None) == tmp_path / "mine"


def test_root_default_is_outside_the_home(tmp_path):
    user_home = tmp_path / "root"
    user_home.mkdir(mode=0o700)
    root_default = tmp_path / "var-lib-labcluster"
    assert homedir.default_home({}, user_home, NOBODY, root_default) == root_default


def test_root_uses_an_old_home_nobody_can_reach(tmp_path):
    user_home = tmp_path / "root"
    user_home.mkdir()
    user_home.chmod(0o755)
    legacy = old_home(user_home)
    assert homedir.default_home({}, user_home, NOBODY, tmp_path / "new") == legacy


@pytest.mark.skipif(os.geteuid() != 0, reason="modes only block another uid when we are root "
                                               "(the owner's bits are what a plain user checks)")
def test_root_refuses_an_old_home_nobody_cannot_reach_and_says_how_to_move_it(tmp_path):
    user_home = tmp_path / "root"
    user_home.mkdir()
    user_home.chmod(0o700)
    legacy = old_home(user_home)
    new = tmp_path / "new"
    with pytest.raises(homedir.HomeError) as err:
        homedir.default_home({}, user_home, NOBODY, new)
    text = str(err.value)
    assert f"cannot enter {user_home} (mode 0700)" in text
    assert f"labcluster down --home {legacy} && mv {legacy} {new}" in text
    assert (legacy / "store.sqlite").read_text() == "x", "nothing of the old home was touched"
    assert not new.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="as a plain user no other uid must get in")
def test_up_refuses_a_home_nobody_cannot_traverse_before_creating_anything(tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    home = private / "lab"
    with pytest.raises(homedir.HomeError, match=r"under .*private \(mode 0700\).*'nobody'"):
        labcluster.ensure_running(home)
    assert not home.exists()


def test_make_private_tightens_an_old_home(tmp_path):
    legacy = old_home(tmp_path)
    homedir.make_private(legacy)
    for name in ("store.sqlite", "store.sqlite-wal", "server.log"):
        assert mode(legacy / name) == 0o600, name
    assert mode(legacy) == homedir.dir_mode()
    assert homedir.dir_mode() == (0o711 if os.geteuid() == 0 else 0o700)


def test_a_running_clusters_state_is_private():
    """store (+WAL/SHM: Secret data), log, pid, kubeconfig, keys: 0600; the home 0711/0700."""
    home = Path(tempfile.mkdtemp(prefix="labcluster-home-"))
    try:
        labcluster.ensure_running(home, env={"LABCLUSTER_NODE": "0"})
        from kubernetes import client, config

        api = client.CoreV1Api(config.new_client_from_config(str(home / "kubeconfig")))
        api.create_namespaced_secret("default", client.V1Secret(
            metadata=client.V1ObjectMeta(name="home-test"), string_data={"password": "s3cret"}))
        files = {p.name: mode(p) for p in home.iterdir() if p.is_file()}
        for name in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "server.log",
                     "server.pid", "kubeconfig", "server.key", "ca.crt"):
            assert files.get(name) == 0o600, (name, oct(files.get(name, 0)), files)
        assert mode(home) == homedir.dir_mode()
    finally:
        labcluster.stop(home)
        import shutil

        shutil.rmtree(home, ignore_errors=True)
