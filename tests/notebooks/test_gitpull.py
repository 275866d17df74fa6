"""How a class on JupyterHub gets the course: an nbgitpuller link (issue 20).

`labcourse link` prints the link; nbgitpuller's own puller (the code behind the link's
``git-pull`` endpoint) pulls this repository into a temp "home" as the link says, notebook
01 runs from the pulled folder on the session's cluster, and a second pull after the
learner edited that notebook keeps the learner's edit while the course's new commit arrives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest
from conftest import ROOT, reset_namespaces
from nbgitpuller.pull import GitPuller

from labcourse import cli, gitpull

pytestmark = pytest.mark.timeout(600)
HUB = "https://hub.example.edu"
LEARNER_NOTE = "My own note: the API server answers on 127.0.0.1."


def test_link_has_nbgitpullers_form(capsys) -> None:
    repo = "https://github.com/example/ecommerce-k8s-lab"
    assert cli.main(["link", "--hub", HUB + "/hub/", "--repo", repo,
                        "--branch", "main"]) == 0
    assert capsys.readouterr().out.strip() == (
        "https://hub.example.edu/hub/user-redirect/git-pull"
        "?repo=https%3A%2F%2Fgithub.com%2Fexample%2Fecommerce-k8s-lab"
        "&urlpath=lab%2Ftree%2Fecommerce-k8s-lab%2Fnotebooks%2F01-preflight.ipynb"
        "&branch=main")
    own = gitpull.link(HUB, repo + ".git", path="notebooks/", targetpath="course", app="tree")
    assert parse_qs(urlsplit(own).query) == {
        "repo": [repo + ".git"], "urlpath": ["tree/course/notebooks"],
        "targetpath": ["course"]}


@pytest.mark.parametrize("argv, message", [
    (["--hub", "hub.example.edu", "--repo", "https://x/r"], "expected the hub's address"),
    (["--hub", HUB, "--repo", "https://u:secret@x/r"], "holds a password or token"),
    (["--hub", HUB, "--repo", "https://x/r", "--path", "../etc"], "inside the repository"),
])
def test_bad_link_input_is_refused(argv: list[str], message: str, capsys) -> None:
    assert cli.main(["link", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert "secret" not in captured.err


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def _pull(link: str, home: Path) -> Path:
    """What the link's ``git-pull`` endpoint does: nbgitpuller's GitPuller with the link's
    repo and branch, into ``home/<targetpath or repository name>`` (its handler's default)."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    repo_dir = home / query.get("targetpath", gitpull.folder_for(query["repo"]))
    for _ in GitPuller(query["repo"], str(repo_dir), branch=query["branch"]).pull():
        pass
    return repo_dir


def test_pulled_course_runs_and_a_second_pull_keeps_the_learners_edit(
        course_env: dict[str, str], work_dir: Path) -> None:
    # the course's repository as a class would host it: this commit on branch main
    upstream = work_dir / "hosted" / "ecommerce-k8s-lab"
    _git("init", "--bare", "-q", "-b", "main", str(upstream), cwd=work_dir)
    _git("push", "-q", str(upstream), "HEAD:refs/heads/main", cwd=ROOT)
    home = work_dir / "home"
    home.mkdir()

    link = gitpull.link(HUB, str(upstream), "main")
    pulled = _pull(link, home)
    assert pulled == home / "ecommerce-k8s-lab"
    opened = parse_qs(urlsplit(link).query)["urlpath"][0]
    assert (home / opened.removeprefix("lab/tree/")).is_file()  # the link opens a real file
    assert _git("rev-parse", "HEAD", cwd=pulled) == _git("rev-parse", "HEAD", cwd=ROOT)

    reset_namespaces(course_env["KUBECONFIG"])
    out = work_dir / "run"
    run = subprocess.run(
        [sys.executable, "-m", "labcourse", "run", "--course-dir",
         str(pulled / "notebooks"), "--notebooks", "01", "--cluster", "kubeconfig",
         "--output", str(out)], env=course_env, cwd=work_dir, capture_output=True,
        text=True, timeout=540)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    executed = nbformat.read(out / "01-preflight.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code)

    # the learner writes in the notebook's first cell; the course changes the same cell
    # and adds a file: nbgitpuller merges with -Xours, so the learner's cell wins
    notebook = pulled / "notebooks" / "01-preflight.ipynb"
    mine = nbformat.read(notebook, as_version=4)
    mine.cells[0].source = LEARNER_NOTE + "\n\n" + mine.cells[0].source
    nbformat.write(mine, notebook)
    staging = work_dir / "staging"
    _git("clone", "-q", "-b", "main", str(upstream), str(staging), cwd=work_dir)
    theirs = nbformat.read(staging / "notebooks" / "01-preflight.ipynb", as_version=4)
    theirs.cells[0].source = "Updated by the course.\n\n" + theirs.cells[0].source
    nbformat.write(theirs, staging / "notebooks" / "01-preflight.ipynb")
    (staging / "notebooks" / "ERRATA.md").write_text("Week 2: notebook 03 changed.\n")
    _git("add", "-A", cwd=staging)
    _git("-c", "user.name=Course", "-c", "user.email=course@example.edu", "commit", "-q",
         "-m", "week 2", cwd=staging)
    _git("push", "-q", "origin", "main", cwd=staging)

    assert _pull(link, home) == pulled
    after = nbformat.read(notebook, as_version=4)
    nbformat.validate(after)
    assert after.cells[0].source.startswith(LEARNER_NOTE)
    assert "Updated by the course." not in after.cells[0].source
    assert (pulled / "notebooks" / "ERRATA.md").read_text() == "Week 2: notebook 03 changed.\n"
    upstream_head = _git("rev-parse", "main", cwd=upstream).strip()
    assert _git("merge-base", "--is-ancestor", upstream_head, "HEAD", cwd=pulled) == ""
    assert json.loads(notebook.read_text())["nbformat"] == 4
