"""binder/: what repo2docker reads. There is no Docker here to run repo2docker, so this
checks what can be checked without it: the files parse the way repo2docker reads them,
the requirements resolve to this project with the ``lab`` extra, and postBuild/start
really run (postBuild in a throw-away HOME, start wrapping a command)."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VENV_BIN = Path(sys.executable).parent


def lines(name: str) -> list[str]:
    """Non-comment lines, as repo2docker's parsers see them."""
    return [ln.split("#", 1)[0].strip() for ln in (BINDER / name).read_text().splitlines()
            if ln.split("#", 1)[0].strip()]


def test_runtime_is_the_projects_python():
    (runtime,) = lines("runtime.txt")
    assert re.fullmatch(r"python-3\.\d+", runtime)
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert runtime == "python-3.11"


def test_requirements_install_this_project_editable_with_the_lab_extra():
    (req,) = lines("requirements.txt")
    assert req == "-e .[lab]"  # local → repo2docker installs it after copying the repo
    assert "lab" in PYPROJECT["project"]["optional-dependencies"]


def test_requirements_resolve_to_this_project():
    """``.`` from the repository root (repo2docker's cwd) is this project, and every
    requirement of its ``lab`` extra is met by what such an install gives (this venv was
    installed the same way: editable, from this checkout)."""
    (req,) = lines("requirements.txt")
    path, extras = re.fullmatch(r"-e (\S+?)\[(\w+)\]", req).groups()
    project = tomllib.loads((ROOT / path / "pyproject.toml").read_text())["project"]
    assert metadata.version(project["name"]) == project["version"]
    # editable: the packages import from the checkout, beside manifests/ and notebooks/
    for package in ("labhelpers", "labcluster", "storefront"):
        module = importlib.import_module(package)
        assert Path(module.__file__).resolve().parent.parent == ROOT, module.__file__
    unmet = []
    for spec in project["optional-dependencies"][extras] + project["dependencies"]:
        r = Requirement(spec)
        if r.marker and not r.marker.evaluate():
            continue
        try:
            version = metadata.version(r.name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{spec} (not installed)")
            continue
        if not r.specifier.contains(version, prereleases=True):
            unmet.append(f"{spec} (have {version})")
    assert not unmet, unmet


def test_apt_packages_are_package_names():
    packages = lines("apt.txt")
    assert {"nginx", "gcc"} <= set(packages)
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p) for p in packages)
    if shutil.which("apt-cache"):  # Debian/Ubuntu share these names
        shown = subprocess.run(["apt-cache", "show", "--no-all-versions", *packages],
                               capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_scripts_are_executable_bash_that_fails_fast(name):
    path = BINDER / name
    assert os.access(path, os.X_OK), f"binder/{name} must be executable"
    text = path.read_text()
    assert text.startswith("#!/bin/bash\n")
    first = next(ln for ln in text.splitlines()[1:] if ln.strip() and not ln.startswith("#"))
    assert first.startswith("set -e"), f"binder/{name}: the first command must be set -e…"
    syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    tracked = subprocess.run(["git", "ls-files", "-s", f"binder/{name}"], cwd=ROOT,
                             capture_output=True, text=True).stdout
    if tracked:  # committed with the executable bit (repo2docker runs it as is)
        assert tracked.startswith("100755"), tracked


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LABCLUSTER_", "JUPYTER_", "KUBE"))}
    return {**env, "HOME": str(home), "PATH": f"{VENV_BIN}{os.pathsep}{env['PATH']}"}


def test_start_exports_the_cluster_home_and_execs_the_command(tmp_path):
    env = {**env_for(tmp_path), "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')
    out = subprocess.run([str(BINDER / "start"), "sh", "-c", 'echo "$$ $LABCLUSTER_HOME '
                          '${KUBERNETES_SERVICE_HOST:-unset}"; exit 7'],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 7  # exec'd: the command's own exit status
    _pid, home, kube = out.stdout.split()
    assert home == str(tmp_path / ".labcluster")
    assert kube == "unset"


def test_start_fails_fast_without_a_command(tmp_path):
    out = subprocess.run([str(BINDER / "start"), "/nonexistent/jupyter"], env=env_for(tmp_path),
                         capture_output=True, text=True)
    assert out.returncode != 0


def test_postbuild_runs_in_a_fresh_home(tmp_path):
    """postBuild for real, confined to a temp HOME (user-level Jupyter config, caches) and a
    copy of the repository (it rewrites the image's notebooks as the learner's copies)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for part in ("notebooks", "manifests"):
        shutil.copytree(ROOT / part, repo / part)
    for package in ("labhelpers", "labcluster", "storefront"):
        (repo / package).symlink_to(ROOT / package)
    out = subprocess.run([str(BINDER / "postBuild")], cwd=repo, env=env_for(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    challenge = "08-break-and-fix.ipynb"
    assert "BEGIN SOLUTION" in (ROOT / "notebooks" / challenge).read_text()
    assert "BEGIN SOLUTION" not in (repo / "notebooks" / challenge).read_text()
    assert "your change here" in (repo / "notebooks" / challenge).read_text()
    assert len(list((repo / "notebooks").glob("[0-9][0-9]-*.ipynb"))) == \
        len(list((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")))
    assert "manifests/production: no findings" in out.stdout
    cache = tmp_path / ".cache" / "labcluster"
    if shutil.which("cc") or shutil.which("gcc"):
        assert list(cache.glob("labnet-*.so")), out.stdout
    assert oct(cache.stat().st_mode & 0o777) == "0o755"
    page = json.loads((tmp_path / ".jupyter" / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True


def test_postbuild_fails_the_build_when_a_step_fails(tmp_path):
    """set -e in practice: a copy whose lint step gets a broken manifest exits non-zero."""
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    shutil.copytree(ROOT / "manifests" / "lab", repo / "manifests" / "lab")
    shutil.copytree(ROOT / "manifests" / "broken" / "selector-mismatch",
                    repo / "manifests" / "production")
    shutil.copytree(ROOT / "manifests" / "lab", repo / "lab")  # its `../../lab`
    shutil.copytree(ROOT / "manifests" / "staging", repo / "manifests" / "staging")
    out = subprocess.run([str(BINDER / "postBuild")], cwd=repo, env=env_for(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "selector-mismatch" in out.stdout
    assert not (tmp_path / ".jupyter").exists()  # the steps after it never ran
