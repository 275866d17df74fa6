"""Build the storefront image and put it where the learner's cluster can find it.

A local cluster (kind, minikube, k3d) cannot pull ``storefront:<version>`` from anywhere:
the image exists only after someone builds it, and each flavour has its own way of
loading it into its nodes. Docker Desktop's cluster shares the Docker daemon, so a build
is enough. labcluster runs the storefront from this package, so it needs no image at all.
A remote cluster must pull from a registry (see docs/real-clusters.md): with
``--registry`` (default ``$LAB_IMAGE_REGISTRY``, the setting labhelpers applies the
manifests with) the image is tagged ``<registry>/storefront:<version>`` and pushed there
instead of loaded, whatever the flavour.

    python -m labcourse.images [--context CTX] [--kubeconfig PATH] [--builder docker]
                                [--registry HOST[/PATH]] [--dry-run | --check]

Exit status: 0 done (or nothing to do), 1 a tool is missing (the commands to run were
printed) or, with --check, a node lacks the image, 2 bad input (no kubeconfig, unknown
context, unreachable cluster, no Dockerfile).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from labhelpers.errors import LabError
from labhelpers.manifests import REGISTRY_ENV, check_registry

IMAGE = "storefront"
DIST = "ecommerce-k8s-lab"
BUILDERS = ("docker", "podman", "nerdctl")
FLAVOURS = ("kind", "minikube", "k3d", "docker-desktop", "labcluster", "remote")


@dataclass(frozen=True)
class Loader:
    """How one local cluster takes an image: from the Docker daemon by name, or (other
    builders) from an archive the builder saved."""

    default_name: str
    by_name: Callable[[str, str], list[str]]
    by_archive: Callable[[str, str], list[str]]
    target: str  # "{name}" is the cluster/profile


LOADERS: dict[str, Loader] = {
    "kind": Loader("kind",
                   lambda image, name: ["kind", "load", "docker-image", image, "--name", name],
                   lambda archive, name: ["kind", "load", "image-archive", archive, "--name",
                                          name],
                   "kind cluster {name}'s nodes"),
    "minikube": Loader("minikube",
                       lambda image, name: ["minikube", "image", "load", image, "-p", name],
                       lambda archive, name: ["minikube", "image", "load", archive, "-p", name],
                       "minikube profile {name}"),
    "k3d": Loader("k3s-default",
                  lambda image, name: ["k3d", "image", "import", image, "-c", name],
                  lambda archive, name: ["k3d", "image", "import", archive, "-c", name],
                  "k3d cluster {name}"),
}


class ImageError(LabError, RuntimeError):
    """Something the learner must fix before an image can be built or loaded."""


@dataclass(frozen=True)
class Flavour:
    """Which kind of cluster, and the name its own tool knows it by (kind's ``--name``,
    minikube's profile, k3d's ``-c``)."""

    kind: str
    cluster: str | None = None
    how: str = ""  # what the guess rests on, for the printed line


@dataclass
class Step:
    argv: list[str]
    why: str
    env: dict[str, str] = field(default_factory=dict)

    def shell(self) -> str:
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in self.env.items())
        return prefix + shlex.join(self.argv)


@dataclass
class Plan:
    flavour: Flavour
    image: str
    steps: list[Step]
    note: str = ""


# ----------------------------------------------------------------------------- detection


def flavour_from_context(context: str, cluster: str | None = None) -> Flavour | None:
    """The flavour from the names the tools give their kubeconfig entries, or None."""
    for name in (context, cluster or ""):
        if name.startswith("kind-") and len(name) > 5:
            return Flavour("kind", name[5:], f"context {context!r}")
        if name.startswith("k3d-") and len(name) > 4:
            return Flavour("k3d", name[4:], f"context {context!r}")
        if name == "docker-desktop":
            return Flavour("docker-desktop", None, f"context {context!r}")
        if name == "labcluster":
            return Flavour("labcluster", None, f"context {context!r}")
        if name == "minikube":
            return Flavour("minikube", "minikube", f"context {context!r}")
    return None


def flavour_from_nodes(nodes: list[dict[str, Any]]) -> Flavour | None:
    """The flavour from Node objects (for renamed contexts): labels, providerID, runtime."""
    for node in nodes:
        meta = node.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = meta.get("name") or ""
        provider = (node.get("spec") or {}).get("providerID") or ""
        info = (node.get("status") or {}).get("nodeInfo") or {}
        how = f"node {name!r}"
        if "minikube.k8s.io/name" in labels:
            return Flavour("minikube", labels["minikube.k8s.io/name"], how)
        if provider.startswith("kind://"):  # kind://docker/<cluster>/<node>
            parts = provider[len("kind://"):].split("/")
            return Flavour("kind", parts[1] if len(parts) > 2 else None, how)
        if provider.startswith("k3s://k3d-"):  # k3s://k3d-<cluster>-server-0
            host = provider[len("k3s://k3d-"):]
            cluster = host.rsplit("-", 2)[0] if host.count("-") >= 2 else host
            return Flavour("k3d", cluster, how)
        if name == "docker-desktop" or name.startswith("desktop-"):
            return Flavour("docker-desktop", None, how)
        if str(info.get("containerRuntimeVersion", "")).startswith("labcluster://"):
            return Flavour("labcluster", None, how)
    return None


def current_context(kubeconfig: str | None, context: str | None) -> tuple[str, str | None, str]:
    """(context, its cluster name, kubeconfig path); ImageError when they do not exist."""
    path = kubeconfig or (os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None)
    path = path or str(Path.home() / ".kube" / "config")
    if not Path(path).is_file():
        raise ImageError(f"no kubeconfig at {path}: start your cluster (kind create cluster, "
                         "minikube start, k3d cluster create) or pass --kubeconfig")
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ImageError(f"{path} is not valid YAML: {exc}") from exc
    contexts = {c.get("name"): (c.get("context") or {}) for c in doc.get("contexts") or []}
    name = context or doc.get("current-context")
    if not name:
        raise ImageError(f"{path} has no current-context; pass --context "
                         f"(it has: {', '.join(map(str, contexts)) or 'none'})")
    if name not in contexts:
        raise ImageError(f"context {name!r} is not in {path} "
                         f"(it has: {', '.join(map(str, contexts)) or 'none'})")
    return name, contexts[name].get("cluster"), path


def detect(kubeconfig: str | None = None, context: str | None = None,
           read_nodes: bool = True) -> Flavour:
    """Context name first (no network); if it says nothing, ask the cluster for its nodes;
    else "remote" (a cluster that pulls from a registry)."""
    name, cluster, path = current_context(kubeconfig, context)
    found = flavour_from_context(name, cluster)
    if found or not read_nodes:
        return found or Flavour("remote", None, f"context {name!r}")
    return (flavour_from_nodes(list_nodes(path, name))
            or Flavour("remote", None, f"context {name!r}"))


def list_nodes(kubeconfig: str | None, context: str | None) -> list[dict[str, Any]]:
    """The cluster's Node objects as the API sends them (camelCase), or ImageError."""
    name, _, path = current_context(kubeconfig, context)
    from kubernetes import client, config

    try:
        api = config.new_client_from_config(config_file=path, context=name)
        raw = client.CoreV1Api(api).list_node(_request_timeout=10, _preload_content=False)
        return json.loads(raw.data)["items"]
    except Exception as exc:  # unreachable cluster: say so, don't guess a flavour
        raise ImageError(f"context {name!r}: cannot list nodes ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc


# ----------------------------------------------------------------------------- presence


def canonical(image: str) -> str:
    """An image reference as the kubelet reports it: `storefront:0.1.0`, `docker.io/library/
    storefront:0.1.0` and `docker.io/storefront:0.1.0` are one image (default tag latest)."""
    name = image.split("@", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def nodes_missing(nodes: list[dict[str, Any]], image: str) -> list[str]:
    """Names of the nodes whose ``status.images`` lack ``image`` (what a pull-less cluster
    such as kind needs on every node a pod may land on)."""
    want = canonical(image)
    missing = []
    for node in nodes:
        names = {canonical(n) for entry in (node.get("status") or {}).get("images") or []
                 for n in entry.get("names") or []}
        if want not in names:
            missing.append((node.get("metadata") or {}).get("name", "?"))
    return missing


# ----------------------------------------------------------------------------- planning


def version() -> str:
    """The package's version: the tag the manifests use and the Dockerfile pins."""
    return metadata.version(DIST)


def repo_root() -> Path:
    """The checkout holding storefront/Dockerfile (an installed wheel has none)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "storefront" / "Dockerfile").is_file():
        raise ImageError(f"no storefront/Dockerfile under {root}: building the image needs a "
                         "clone of the course repository (git clone …; pip install -e .)")
    return root


def find_builder(preferred: str | None = None, path: str | None = None) -> str | None:
    """The first of docker, podman, nerdctl on PATH (or the one asked for)."""
    for name in (preferred,) if preferred else BUILDERS:
        if shutil.which(name, path=path):
            return name
    return None


def plan(flavour: Flavour, builder: str, tag: str, root: Path,
         archive: str | None = None, registry: str | None = None) -> Plan:
    """The commands that build the image and load it into ``flavour``'s nodes — or, with
    a ``registry``, push it there for the nodes to pull."""
    image = f"{IMAGE}:{tag}"
    if flavour.kind == "labcluster":
        return Plan(flavour, image, [], "labcluster runs the storefront from this package: "
                    "no image to build or load" + (f" (registry {registry} not used)"
                                                   if registry else ""))
    build = Step([builder, "build", "-f", str(root / "storefront" / "Dockerfile"),
                  "--build-arg", f"VERSION={tag}", "-t", image, str(root)],
                 f"build {image} from storefront/Dockerfile",
                 {"DOCKER_BUILDKIT": "1"} if builder == "docker" else {})
    if registry:
        pushed = f"{registry}/{image}"
        return Plan(flavour, pushed, [
            build, Step([builder, "tag", image, pushed], f"name it for {registry}"),
            Step([builder, "push", pushed], f"push it to {registry} (log in first if it "
                 f"asks: {builder} login {registry.split('/')[0]})")],
            f"the cluster pulls {pushed}: labhelpers applies the lab with it while "
            f"{REGISTRY_ENV}={registry} is set (or connect(image_registry=...)); kubectl "
            "users add manifests/components/registry")
    archive = archive or str(Path(tempfile.gettempdir()) / f"{IMAGE}-{tag}.tar")
    save = Step([builder, "save", "-o", archive, image], f"save {image} to {archive}")
    kind = flavour.kind
    if kind == "docker-desktop":
        if builder != "docker":
            raise ImageError("Docker Desktop's cluster sees only the Docker daemon's images: "
                             "build with docker (--builder docker)")
        return Plan(flavour, image, [build], "Docker Desktop's cluster shares the Docker "
                    "daemon: the build is all it needs")
    if kind in LOADERS:
        loader = LOADERS[kind]
        name = flavour.cluster or loader.default_name
        what = f"copy {image} into {loader.target.format(name=repr(name))}"
        load = ([Step(loader.by_name(image, name), what)] if builder == "docker"
                else [save, Step(loader.by_archive(archive, name), what)])
        return Plan(flavour, image, [build, *load])
    if kind == "remote":
        return Plan(flavour, image, [build], "a remote cluster pulls from a registry: run "
                    f"again with --registry HOST[/PATH] (or {REGISTRY_ENV}) to push it there")
    raise ImageError(f"unknown cluster flavour {kind!r} (known: {', '.join(FLAVOURS)})")


# ----------------------------------------------------------------------------- running


def run(p: Plan, dry_run: bool = False, path: str | None = None,
        out: Any = None) -> int:
    """Run the plan's steps; when a tool is missing, print every remaining command and
    return 1 instead of failing half-way without saying what is left."""
    out = out or sys.stdout
    print(f"cluster: {p.flavour.kind}" + (f" {p.flavour.cluster!r}" if p.flavour.cluster
                                         else "") + f" (from {p.flavour.how})", file=out)
    if p.note:
        print(p.note, file=out)
    missing = sorted({s.argv[0] for s in p.steps if not shutil.which(s.argv[0], path=path)})
    if dry_run or missing:
        if missing:
            print(f"not found on PATH: {', '.join(missing)}. Install it, then run:", file=out)
        for step in p.steps:
            print(f"  {step.shell()}    # {step.why}", file=out)
        return 1 if missing and not dry_run else 0
    for step in p.steps:
        print(f"$ {step.shell()}", file=out, flush=True)
        env = {**os.environ, **({"PATH": path} if path else {}), **step.env}
        exe = shutil.which(step.argv[0], path=path) or step.argv[0]
        done = subprocess.run([exe, *step.argv[1:]], env=env, check=False)
        if done.returncode != 0:
            raise ImageError(f"{step.argv[0]} exited {done.returncode} ({step.why})")
    print(f"{p.image} is ready for the cluster" if p.steps else "nothing to do", file=out)
    return 0


def verify_published(kubeconfig: str | None, context: str | None, tag: str,
          registry: str | None = None) -> int:
    """Whether the cluster's nodes hold ``storefront:<tag>`` (preflight's question)."""
    image = f"{IMAGE}:{tag}"
    nodes = list_nodes(kubeconfig, context)
    flavour = flavour_from_nodes(nodes)
    if flavour and flavour.kind == "labcluster":
        print(f"labcluster runs the storefront from this package: {image} is not needed")
        return 0
    if registry:
        print(f"{registry}/{image}: the nodes pull it from {registry} when a pod needs it "
              "(not checked here; an unreachable or missing image shows as ImagePullBackOff)")
        return 0
    missing = nodes_missing(nodes, image)
    if not missing:
        print(f"{image} is on every node ({len(nodes)})")
        return 0
    print(f"{image} is missing on {', '.join(missing)}: run `python -m labcourse.images` "
          "(or push it to a registry, docs/real-clusters.md)")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labcourse.images",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, then ~/.kube/config")
    parser.add_argument("--context", help="default: the kubeconfig's current-context")
    parser.add_argument("--flavour", choices=FLAVOURS, help="skip detection")
    parser.add_argument("--cluster-name", help="kind/k3d cluster or minikube profile name")
    parser.add_argument("--builder", choices=BUILDERS, help="default: the first on PATH")
    parser.add_argument("--tag", help="default: the package version")
    parser.add_argument("--registry", default=os.environ.get(REGISTRY_ENV) or None,
                        help=f"push to HOST[:PORT][/PATH] instead of loading (default: "
                        f"${REGISTRY_ENV})")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--check", action="store_true",
                        help="only say whether every node has the image (exit 1 if not)")
    args = parser.parse_args(argv)
    try:
        registry = check_registry(args.registry) if args.registry else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.check:
            return verify_published(args.kubeconfig, args.context, args.tag or version(), registry)
        if args.flavour:
            flavour = Flavour(args.flavour, args.cluster_name, "--flavour")
        else:
            flavour = detect(args.kubeconfig, args.context)
            if args.cluster_name:
                flavour = Flavour(flavour.kind, args.cluster_name, flavour.how)
        tag = args.tag or version()
        builder = find_builder(args.builder)
        if flavour.kind == "labcluster":
            return run(plan(flavour, "docker", tag, Path("."), registry=registry), args.dry_run)
        root = repo_root()
        if builder is None:
            wanted = args.builder or "docker"
            print(f"no image builder found ({args.builder or ' / '.join(BUILDERS)}); "
                  "install Docker or Podman, then run:")
            for step in plan(flavour, wanted, tag, root, registry=registry).steps:
                print(f"  {step.shell()}    # {step.why}")
            return 1
        return run(plan(flavour, builder, tag, root, registry=registry), args.dry_run)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
