"""The newcomer: a fresh clone of this commit, a fresh private HOME, nothing preset, and
README's lab command exactly as written.

As root (CI, containers) root's home is mode 0700 — the case that broke the course before
(PostgreSQL runs as `nobody` and could not enter ~/.labcluster). The whole course runs
once here, with `./scripts/lab`, and must report every notebook passed. As a plain user
(a laptop, Binder's jovyan), `./scripts/lab --quick` deploys the lab and checks it.

Nothing of the developer's is used or touched: the clone installs its own .venv with an
empty pip cache; as root, root's default state dir /var/lib/labcluster is a fresh temp dir
bind-mounted in a private mount namespace (so a developer's own lab there is neither
used nor disturbed), and the cluster is stopped in that namespace at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROOT_STATE = Path("/var/lib/labcluster")
NOTEBOOK_COUNT = len(list((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")))
# Install (~2 min with an empty pip cache) + the course (~4 min; 3x on a busy machine).
COURSE_TIMEOUT = 1800
NOISE = ("IPKernelApp", "Kernel is running over TCP", "BuildBackendWarning",
         "DEPRECATION:", "WARNING: Location", "Traceback")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git to clone")


def newcomer_env(home: Path) -> dict[str, str]:
    """The machine's environment as a new shell has it: no project variables, no venv."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAB", "KUBECONFIG", "VIRTUAL_ENV", "PYTHON", "PYTEST",
                                "JUPYTER"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != venv_bin)
    env["HOME"] = str(home)
    return env


def private_home(parent: Path, owner: tuple[int, int] | None = None) -> Path:
    home = parent / "home"
    home.mkdir()
    if owner:
        os.chown(home, *owner)
    home.chmod(0o700)
    return home


def fresh_clone(parent: Path) -> Path:
    clone = parent / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)],
                   check=True, timeout=300)
    return clone


@pytest.fixture
def workdir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Kept when the test fails (the clone's .venv/logs and runs/ say what happened)."""
    folder = Path(tempfile.mkdtemp(prefix="newcomer-"))
    folder.chmod(0o755)
    failed_before = request.session.testsfailed
    yield folder
    if request.session.testsfailed == failed_before:
        shutil.rmtree(folder, ignore_errors=True)


def run(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[int, str]:
    with log.open("w") as out:
        proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=COURSE_TIMEOUT)
    return proc.returncode, log.read_text(errors="replace")


@pytest.mark.timeout(COURSE_TIMEOUT + 120)
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="the root newcomer needs root (and unshare for a private "
                           "/var/lib/labcluster); the plain-user test below runs anywhere")
def test_root_newcomer_runs_the_whole_course_with_the_readme_command(workdir):
    clone = fresh_clone(workdir)
    home = private_home(workdir)
    state = workdir / "var-lib-labcluster"
    state.mkdir()
    made_mount_point = not ROOT_STATE.exists()
    ROOT_STATE.mkdir(parents=True, exist_ok=True)
    script = (f'mount --bind "{state}" "{ROOT_STATE}" || exit 97\n'
              f'./scripts/lab; rc=$?\n'
              f'[ -x .venv/bin/labcluster ] && .venv/bin/labcluster down >/dev/null\n'
              f'exit $rc\n')
    try:
        rc, text = run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
                       newcomer_env(home), clone, workdir / "lab.log")
    finally:
        if made_mount_point:
            ROOT_STATE.rmdir()  # ours, and empty: the cluster's files went to `state`
    where = f"(whole output in {workdir / 'lab.log'}; install log in {clone}/.venv/logs)"
    assert rc == 0, f"./scripts/lab exited {rc} {where}:\n{text[-6000:]}"
    assert f"all {NOTEBOOK_COUNT} notebooks passed" in text, text[-4000:]
    for line in ("==> creating .venv", "==> installing the project", "==> starting labcluster"):
        assert line in text, f"no progress line {line!r} {where}"
    noise = [n for n in NOISE if n in text]
    assert noise == [], f"the newcomer's terminal shows {noise} {where}"
    # the state went to root's default, privately
    assert (state / "store.sqlite").exists(), sorted(p.name for p in state.iterdir())
    assert stat.S_IMODE(state.stat().st_mode) == 0o711
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir() if p.is_file()}
    assert {"store.sqlite", "server.log", "kubeconfig", "server.key"} <= set(modes), modes
    assert {name: m for name, m in modes.items() if m != 0o600} == {}, modes
    assert not (home / ".labcluster").exists(), "root's 0700 home holds no cluster state"


@pytest.mark.timeout(COURSE_TIMEOUT)
def test_plain_user_newcomer_deploys_and_checks_the_lab(workdir):
    """As root this runs as `nobody` (setpriv); as a plain user, as that user."""
    owner: tuple[int, int] | None = None
    prefix: list[str] = []
    if os.geteuid() == 0:
        owner = (65534, 65534)
        prefix = ["setpriv", f"--reuid={owner[0]}", f"--regid={owner[1]}", "--clear-groups"]
    clone = fresh_clone(workdir)
    home = private_home(workdir, owner)
    if owner:
        subprocess.run(["chown", "-R", f"{owner[0]}:{owner[1]}", str(clone)], check=True)
    rc, text = run([*prefix, "./scripts/lab", "--quick"], newcomer_env(home), clone,
                   workdir / "quick.log")
    try:
        where = f"(whole output in {workdir / 'quick.log'})"
        assert rc == 0, f"./scripts/lab --quick exited {rc} {where}:\n{text[-6000:]}"
        counted = re.search(r"(\d+)/(\d+) criteria pass", text)
        assert counted and counted[1] == counted[2], text[-3000:]
        state = home / ".labcluster"
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / "store.sqlite").stat().st_mode) == 0o600
    finally:
        subprocess.run([*prefix, str(clone / ".venv/bin/labcluster"), "down"],
                       env=newcomer_env(home), cwd=clone, capture_output=True, timeout=120)
