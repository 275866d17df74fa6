"""labcourse.images: flavour detection, the command plans, and the real subprocess path.

No Docker engine, kind, minikube or k3d can run here, so the end-to-end tests put stand-in
executables on PATH: scripts named ``fake-<tool>`` that record their argv (and are reached
through a ``<tool>`` symlink, so the module's own PATH lookup is what finds them).
Detection from nodes runs against a real labcluster (renamed context, node object)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import labcluster
from labcourse import images
from labcourse.images import Flavour, ImageError

ROOT = Path(__file__).resolve().parents[2]
VERSION = images.version()
IMAGE = f"storefront:{VERSION}"


# ----------------------------------------------------------------------- pure detection


@pytest.mark.parametrize(("context", "cluster", "kind", "name"), [
    ("kind-kind", "kind-kind", "kind", "kind"),
    ("kind-lab", None, "kind", "lab"),
    ("minikube", "minikube", "minikube", "minikube"),
    ("k3d-course", "k3d-course", "k3d", "course"),
    ("docker-desktop", "docker-desktop", "docker-desktop", None),
    ("labcluster", "labcluster", "labcluster", None),
    ("renamed", "kind-other", "kind", "other"),  # a renamed context still names its cluster
])
def test_flavour_from_context(context, cluster, kind, name):
    found = images.flavour_from_context(context, cluster)
    assert found is not None and (found.kind, found.cluster) == (kind, name)


@pytest.mark.parametrize("context", ["gke_proj_zone_c1", "kind-", "arn:aws:eks:x", "k3d"])
def test_unknown_context_names_say_nothing(context):
    assert images.flavour_from_context(context, None) is None


def _node(name="n", labels=None, provider=None, runtime="containerd://1.7"):
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"providerID": provider} if provider else {},
            "status": {"nodeInfo": {"containerRuntimeVersion": runtime}}}


@pytest.mark.parametrize(("node", "kind", "name"), [
    (_node("lab-control-plane", provider="kind://docker/lab/lab-control-plane"), "kind", "lab"),
    (_node("minikube", labels={"minikube.k8s.io/name": "course"}), "minikube", "course"),
    (_node("k3d-dev-server-0", provider="k3s://k3d-dev-server-0"), "k3d", "dev"),
    (_node("k3d-my-lab-agent-1", provider="k3s://k3d-my-lab-agent-1"), "k3d", "my-lab"),
    (_node("docker-desktop"), "docker-desktop", None),
    (_node("desktop-control-plane"), "docker-desktop", None),
    (_node("labcluster", runtime="labcluster://processes"), "labcluster", None),
])
def test_flavour_from_nodes(node, kind, name):
    found = images.flavour_from_nodes([node])
    assert found is not None and (found.kind, found.cluster) == (kind, name)


def test_cloud_nodes_are_not_a_local_flavour():
    assert images.flavour_from_nodes([_node("ip-10-0-1-5", provider="aws:///eu-west-1a/i-1")]) \
        is None


def _kubeconfig(tmp_path: Path, contexts: list[str], current: str | None,
                server: str = "https://127.0.0.1:1") -> Path:
    doc = {"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": c, "cluster": {"server": server}} for c in contexts],
           "users": [{"name": "u", "user": {"token": "t"}}],
           "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts]}
    if current:
        doc["current-context"] = current
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_detect_uses_current_context_then_the_one_asked_for(tmp_path):
    path = _kubeconfig(tmp_path, ["kind-a", "k3d-b", "minikube"], "kind-a")
    assert images.detect(str(path)) == Flavour("kind", "a", "context 'kind-a'")
    assert images.detect(str(path), "k3d-b").kind == "k3d"
    assert images.detect(str(path), "minikube").cluster == "minikube"


def test_detect_honours_KUBECONFIG(tmp_path, monkeypatch):
    path = _kubeconfig(tmp_path, ["docker-desktop"], "docker-desktop")
    monkeypatch.setenv("KUBECONFIG", f"{path}{os.pathsep}/nonexistent")
    assert images.detect().kind == "docker-desktop"


def test_bad_context_is_a_clear_error(tmp_path):
    path = _kubeconfig(tmp_path, ["kind-a"], "kind-a")
    with pytest.raises(ImageError, match=r"context 'nope' is not in .*\(it has: kind-a\)"):
        images.detect(str(path), "nope")


def test_no_current_context_is_a_clear_error(tmp_path):
    path = _kubeconfig(tmp_path, ["kind-a"], None)
    with pytest.raises(ImageError, match="no current-context; pass --context"):
        images.detect(str(path))


def test_missing_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(ImageError, match="no kubeconfig at .*kind create cluster"):
        images.detect(str(tmp_path / "absent"))


def test_unreachable_cluster_is_an_error_not_a_guess(tmp_path):
    path = _kubeconfig(tmp_path, ["my-laptop"], "my-laptop", server="https://127.0.0.1:9")
    with pytest.raises(ImageError, match="context 'my-laptop': cannot list nodes"):
        images.detect(str(path))


# ------------------------------------------------------------------- against labcluster


@pytest.fixture(scope="module")
def labcluster_kubeconfig() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="images-test-"))
    try:
        yield labcluster.ensure_running(home)
    finally:
        labcluster.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def _renamed(kubeconfig: Path, tmp_path: Path, name: str) -> Path:
    doc = yaml.safe_load(kubeconfig.read_text())
    for ctx in doc["contexts"]:
        ctx["name"] = name
        ctx["context"]["cluster"] = name
    for cl in doc["clusters"]:
        cl["name"] = name
    doc["current-context"] = name
    out = tmp_path / "renamed"
    out.write_text(yaml.safe_dump(doc))
    return out


def test_renamed_context_is_recognised_by_its_node(labcluster_kubeconfig, tmp_path):
    path = _renamed(labcluster_kubeconfig, tmp_path, "my-laptop")
    found = images.detect(str(path))
    assert (found.kind, found.how) == ("labcluster", "node 'labcluster'")


def test_labcluster_needs_no_image(labcluster_kubeconfig, capsys):
    assert images.main(["--kubeconfig", str(labcluster_kubeconfig)]) == 0
    out = capsys.readouterr().out
    assert "cluster: labcluster (from context 'labcluster')" in out
    assert "no image to build or load" in out and "nothing to do" in out


# ------------------------------------------------------------------------------ plans


def _argvs(p: images.Plan) -> list[list[str]]:
    return [s.argv for s in p.steps]


def _build(builder: str) -> list[str]:
    return [builder, "build", "-f", str(ROOT / "storefront" / "Dockerfile"),
            "--build-arg", f"VERSION={VERSION}", "-t", IMAGE, str(ROOT)]


@pytest.mark.parametrize(("flavour", "load"), [
    (Flavour("kind", "lab"), [["kind", "load", "docker-image", IMAGE, "--name", "lab"]]),
    (Flavour("kind", None), [["kind", "load", "docker-image", IMAGE, "--name", "kind"]]),
    (Flavour("minikube", "p1"), [["minikube", "image", "load", IMAGE, "-p", "p1"]]),
    (Flavour("k3d", "dev"), [["k3d", "image", "import", IMAGE, "-c", "dev"]]),
    (Flavour("docker-desktop"), []),
    (Flavour("remote"), []),
])
def test_docker_plans(flavour, load):
    p = images.plan(flavour, "docker", VERSION, ROOT)
    assert _argvs(p) == [_build("docker"), *load]
    assert p.steps[0].env == {"DOCKER_BUILDKIT": "1"}  # the Dockerfile uses RUN --mount


@pytest.mark.parametrize(("flavour", "load"), [
    (Flavour("kind", "lab"), ["kind", "load", "image-archive", "/t/s.tar", "--name", "lab"]),
    (Flavour("minikube", "p1"), ["minikube", "image", "load", "/t/s.tar", "-p", "p1"]),
    (Flavour("k3d", "dev"), ["k3d", "image", "import", "/t/s.tar", "-c", "dev"]),
])
@pytest.mark.parametrize("builder", ["podman", "nerdctl"])
def test_non_docker_builders_go_through_an_archive(flavour, load, builder):
    p = images.plan(flavour, builder, VERSION, ROOT, archive="/t/s.tar")
    assert _argvs(p) == [_build(builder), [builder, "save", "-o", "/t/s.tar", IMAGE], load]


def test_labcluster_plan_is_empty_and_says_why():
    p = images.plan(Flavour("labcluster"), "docker", VERSION, ROOT)
    assert p.steps == [] and "no image" in p.note


def test_remote_plan_says_to_push():
    assert "registry" in images.plan(Flavour("remote"), "docker", VERSION, ROOT).note


def test_docker_desktop_refuses_podman():
    with pytest.raises(ImageError, match="build with docker"):
        images.plan(Flavour("docker-desktop"), "podman", VERSION, ROOT)


def test_unknown_flavour_is_an_error():
    with pytest.raises(ImageError, match="unknown cluster flavour 'eks'"):
        images.plan(Flavour("eks"), "docker", VERSION, ROOT)


def test_version_is_the_tag_the_manifests_use():
    tags = {c["image"] for f in (ROOT / "manifests" / "lab").glob("*.yaml")
            for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "Deployment"
            for c in d["spec"]["template"]["spec"]["containers"]
            if c["image"].startswith("storefront:")}
    assert tags == {IMAGE}


# ----------------------------------------------------- the real subprocess path, fakes


FAKE = """#!/bin/sh
# fake-{tool}: a stand-in for {tool} (none can run here); records how it was called.
printf '%s\\n' "${{0##*/}} $* BUILDKIT=${{DOCKER_BUILDKIT:-}}" >> "{log}"
exit {code}
"""


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A PATH holding only the fakes asked for: make(tool, exit_code=0)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    monkeypatch.setenv("PATH", str(bindir))

    def make(tool: str, code: int = 0) -> None:
        fake = bindir / f"fake-{tool}"
        fake.write_text(FAKE.format(tool=tool, log=log, code=code))
        fake.chmod(0o755)
        (bindir / tool).symlink_to(fake.name)

    make.log = log  # type: ignore[attr-defined]
    return make


def _calls(fake_bin) -> list[str]:
    return fake_bin.log.read_text().splitlines()


def test_kind_with_docker_end_to_end(fake_bin, tmp_path, capsys):
    fake_bin("docker")
    fake_bin("kind")
    path = _kubeconfig(tmp_path, ["kind-lab"], "kind-lab")
    assert images.main(["--kubeconfig", str(path)]) == 0
    assert _calls(fake_bin) == [
        f"docker {' '.join(_build('docker')[1:])} BUILDKIT=1",
        f"kind load docker-image {IMAGE} --name lab BUILDKIT=",
    ]
    assert f"{IMAGE} is ready for the cluster" in capsys.readouterr().out


def test_k3d_with_podman_end_to_end(fake_bin, tmp_path):
    fake_bin("podman")
    fake_bin("k3d")
    path = _kubeconfig(tmp_path, ["k3d-dev"], "k3d-dev")
    assert images.main(["--kubeconfig", str(path)]) == 0
    calls = _calls(fake_bin)
    assert [c.split()[:2] for c in calls] == [["podman", "build"], ["podman", "save"],
                                             ["k3d", "image"]]
    archive = calls[1].split()[3]
    assert calls[2] == f"k3d image import {archive} -c dev BUILDKIT="


def test_builder_order_prefers_docker(fake_bin, tmp_path):
    fake_bin("nerdctl")
    fake_bin("docker")
    path = _kubeconfig(tmp_path, ["docker-desktop"], "docker-desktop")
    assert images.main(["--kubeconfig", str(path)]) == 0
    assert [c.split()[0] for c in _calls(fake_bin)] == ["docker"]


def test_dry_run_runs_nothing(fake_bin, tmp_path, capsys):
    fake_bin("docker")
    fake_bin("minikube")
    path = _kubeconfig(tmp_path, ["minikube"], "minikube")
    assert images.main(["--kubeconfig", str(path), "--dry-run"]) == 0
    assert _calls(fake_bin) == []
    out = capsys.readouterr().out
    assert f"minikube image load {IMAGE} -p minikube" in out
    assert "DOCKER_BUILDKIT=1 docker build" in out


def test_missing_loader_prints_what_to_run_and_runs_nothing(fake_bin, tmp_path, capsys):
    fake_bin("docker")  # no kind
    path = _kubeconfig(tmp_path, ["kind-lab"], "kind-lab")
    assert images.main(["--kubeconfig", str(path)]) == 1
    out = capsys.readouterr().out
    assert "not found on PATH: kind. Install it, then run:" in out
    assert f"kind load docker-image {IMAGE} --name lab" in out
    assert _calls(fake_bin) == []  # no half-done build without its load


def test_no_builder_is_a_clear_message(fake_bin, tmp_path, capsys):
    fake_bin("kind")
    path = _kubeconfig(tmp_path, ["kind-lab"], "kind-lab")
    assert images.main(["--kubeconfig", str(path)]) == 1
    out = capsys.readouterr().out
    assert "no image builder found (docker / podman / nerdctl)" in out
    assert "docker build -f" in out and _calls(fake_bin) == []


def test_failing_tool_stops_with_its_exit_code(fake_bin, tmp_path, capsys):
    fake_bin("docker", code=3)
    fake_bin("kind")
    path = _kubeconfig(tmp_path, ["kind-lab"], "kind-lab")
    assert images.main(["--kubeconfig", str(path)]) == 2
    assert "docker exited 3 (build storefront" in capsys.readouterr().err
    assert [c.split()[0] for c in _calls(fake_bin)] == ["docker"]  # kind never ran


def test_bad_context_exits_2(tmp_path, capsys):
    path = _kubeconfig(tmp_path, ["kind-lab"], "kind-lab")
    assert images.main(["--kubeconfig", str(path), "--context", "nope"]) == 2
    assert "error: context 'nope' is not in" in capsys.readouterr().err


def test_cli_as_a_module(fake_bin, tmp_path):
    fake_bin("docker")
    path = _kubeconfig(tmp_path, ["kind-x"], "kind-x")
    done = subprocess.run([sys.executable, "-m", "labcourse.images", "--kubeconfig",
                           str(path), "--dry-run"], capture_output=True, text=True,
                          env={**os.environ}, check=False)
    assert done.returncode == 0, done.stderr
    assert "cluster: kind 'x' (from context 'kind-x')" in done.stdout
    assert "not found on PATH: kind" in done.stdout


# ------------------------------------------------------------------ presence on nodes


@pytest.mark.parametrize(("ref", "canon"), [
    ("storefront:0.1.0", "storefront:0.1.0"),
    ("docker.io/library/storefront:0.1.0", "storefront:0.1.0"),
    ("docker.io/storefront:0.1.0", "storefront:0.1.0"),
    ("storefront", "storefront:latest"),
    ("ghcr.io/alice/storefront:0.1.0", "ghcr.io/alice/storefront:0.1.0"),
    ("localhost:5000/storefront", "localhost:5000/storefront:latest"),
    ("docker.io/library/storefront@sha256:abc", "storefront:latest"),
])
def test_canonical_image_names(ref, canon):
    assert images.canonical(ref) == canon


def _with_images(name: str, *names: str) -> dict:
    return {"metadata": {"name": name},
            "status": {"images": [{"names": list(names), "sizeBytes": 1}]}}


def test_nodes_missing_the_image():
    nodes = [_with_images("kind-control-plane", "docker.io/library/storefront:0.1.0",
                          "docker.io/library/storefront@sha256:0f"),
             _with_images("kind-worker", "docker.io/library/storefront:0.0.9"),
             {"metadata": {"name": "fresh"}, "status": {}}]
    assert images.nodes_missing(nodes, "storefront:0.1.0") == ["kind-worker", "fresh"]
    assert images.nodes_missing(nodes[:1], "storefront:0.1.0") == []


def test_check_on_labcluster_says_no_image_is_needed(labcluster_kubeconfig, capsys):
    assert images.main(["--check", "--kubeconfig", str(labcluster_kubeconfig)]) == 0
    assert "is not needed" in capsys.readouterr().out


def test_check_on_an_unreachable_cluster_is_a_clear_error(tmp_path, capsys):
    path = _kubeconfig(tmp_path, ["kind-x"], "kind-x", server="https://127.0.0.1:9")
    assert images.main(["--check", "--kubeconfig", str(path)]) == 2
    assert "context 'kind-x': cannot list nodes" in capsys.readouterr().err


def test_check_names_the_nodes_without_the_image(monkeypatch, capsys):
    """A kind cluster cannot run here: its nodes (as the API lists them) stand in."""
    nodes = [_with_images("lab-control-plane", f"docker.io/library/{IMAGE}"),
             _with_images("lab-worker", "docker.io/kindest/kindnetd:v2")]
    monkeypatch.setattr(images, "list_nodes", lambda kubeconfig, context: nodes)
    assert images.verify_published(None, None, VERSION) == 1
    out = capsys.readouterr().out
    assert f"{IMAGE} is missing on lab-worker: run `python -m labcourse.images`" in out
    monkeypatch.setattr(images, "list_nodes", lambda kubeconfig, context: nodes[:1])
    assert images.verify_published(None, None, VERSION) == 0
    assert f"{IMAGE} is on every node (1)" in capsys.readouterr().out


# ------------------------------------------------------------------ a registry setting


@pytest.mark.parametrize("flavour", [Flavour("kind", "lab"), Flavour("remote"),
                                     Flavour("docker-desktop")])
def test_a_registry_means_tag_and_push_instead_of_load(flavour):
    p = images.plan(flavour, "docker", VERSION, ROOT, registry="ghcr.io/alice")
    pushed = f"ghcr.io/alice/{IMAGE}"
    assert p.image == pushed
    assert _argvs(p) == [_build("docker"), ["docker", "tag", IMAGE, pushed],
                         ["docker", "push", pushed]]
    assert "LAB_IMAGE_REGISTRY=ghcr.io/alice" in p.note


def test_registry_from_the_environment_end_to_end(fake_bin, tmp_path, monkeypatch, capsys):
    """The same setting labhelpers applies the lab with: LAB_IMAGE_REGISTRY."""
    fake_bin("podman")
    fake_bin("kind")
    monkeypatch.setenv("LAB_IMAGE_REGISTRY", "registry.example.edu:5000/course/")
    path = _kubeconfig(tmp_path, ["kind-lab"], "kind-lab")
    assert images.main(["--kubeconfig", str(path)]) == 0
    pushed = f"registry.example.edu:5000/course/{IMAGE}"
    calls = _calls(fake_bin)
    assert [c.split()[:2] for c in calls] == [["podman", "build"], ["podman", "tag"],
                                             ["podman", "push"]]  # no kind load
    assert calls[1] == f"podman tag {IMAGE} {pushed} BUILDKIT="
    assert calls[2] == f"podman push {pushed} BUILDKIT="
    assert f"{pushed} is ready for the cluster" in capsys.readouterr().out


def test_bad_registry_is_exit_2_and_runs_nothing(fake_bin, tmp_path, capsys):
    fake_bin("docker")
    path = _kubeconfig(tmp_path, ["kind-lab"], "kind-lab")
    assert images.main(["--kubeconfig", str(path), "--registry", "https://GHCR.io/x"]) == 2
    assert "is not host[:port][/path]" in capsys.readouterr().err
    assert not fake_bin.log.exists() or _calls(fake_bin) == []
