"""Find a cluster and say which: in-cluster service account, then kubeconfig, then the
embedded labcluster. Everything after this goes through the ApiClient it returns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.config import incluster_config

from labhelpers import guard

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_NAMESPACE = "ecommerce-lab"
CLUSTERS = ("auto", "in-cluster", "kubeconfig", "labcluster")


@dataclass
class Target:
    """Which cluster we reached and how (what the one printed line says)."""

    api: client.ApiClient
    kind: str  # "in-cluster" | "kubeconfig" | "labcluster"
    context: str | None
    cluster_name: str | None
    namespace: str
    kubeconfig: str | None = None
    #: In a pod: the namespace its service account lives in (the ``namespace`` file). A
    #: classroom's instructor makes it, so labhelpers counts it as adopted (``Lab``).
    service_account_namespace: str | None = None


def in_cluster_available() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SA_DIR / "token").is_file()


def service_account_namespace() -> str | None:
    """The namespace a pod's service account lives in (its ``namespace`` file), or None
    outside a pod."""
    ns_file = SA_DIR / "namespace"
    return ns_file.read_text().strip() or None if ns_file.is_file() else None


def kubeconfig_path(kubeconfig: str | None) -> str | None:
    """The kubeconfig to use: the argument, $KUBECONFIG (first entry), ~/.kube/config."""
    if kubeconfig:
        return str(kubeconfig)
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    default = Path.home() / ".kube" / "config"
    return env or (str(default) if default.is_file() else None)


def _in_cluster(namespace: str | None) -> Target:
    """The pod's service account; its namespace file is the default namespace (a
    JupyterHub classroom puts each learner in their own)."""
    cfg = client.Configuration()
    loader = incluster_config.InClusterConfigLoader(
        token_filename=str(SA_DIR / "token"), cert_filename=str(SA_DIR / "ca.crt"))
    loader.load_and_set(cfg)
    home = service_account_namespace()
    return Target(client.ApiClient(cfg), "in-cluster", None, None,
                  namespace or home or DEFAULT_NAMESPACE, service_account_namespace=home)


def _from_kubeconfig(path: str, context: str | None, namespace: str | None,
                     kind: str) -> Target:
    contexts, current = config.list_kube_config_contexts(config_file=path)
    chosen = next((c for c in contexts if c["name"] == context), None) if context else current
    if chosen is None:
        names = ", ".join(c["name"] for c in contexts)
        raise ValueError(f"context {context!r} is not in {path} (it has: {names})")
    api = config.new_client_from_config(config_file=path, context=chosen["name"])
    ns = namespace or DEFAULT_NAMESPACE
    return Target(api, kind, chosen["name"], chosen["context"].get("cluster"), ns, path)


def find_target(namespace: str | None = None, cluster: str = "auto", context: str | None = None,
            kubeconfig: str | None = None, allow_production: bool = False,
            labcluster_home: str | None = None) -> Target:
    """Pick the cluster (see the module docstring) and apply the production guard."""
    if cluster not in CLUSTERS:
        raise ValueError(f"cluster must be one of {', '.join(CLUSTERS)}; got {cluster!r}")
    path = kubeconfig_path(kubeconfig)
    if cluster == "in-cluster" or (cluster == "auto" and in_cluster_available()
                                   and not kubeconfig and not context):
        target = _in_cluster(namespace)
    elif cluster == "kubeconfig" or (cluster == "auto" and path):
        if not path:
            raise ValueError("no kubeconfig: pass kubeconfig=..., set $KUBECONFIG "
                             "or create ~/.kube/config")
        target = _from_kubeconfig(path, context, namespace, "kubeconfig")
    else:
        import labcluster  # only its public entry point

        started = labcluster.ensure_running(labcluster_home)
        target = _from_kubeconfig(str(started), None, namespace, "labcluster")
    guard.refuse_production({"context": target.context, "cluster": target.cluster_name}, allow_production)
    return target


def server_version(api: client.ApiClient) -> str:
    return client.VersionApi(api).get_code().git_version
