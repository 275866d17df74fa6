"""The kubeconfig labcluster writes (mode 0600): a normal one, usable by kubectl too."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml


@dataclass
class KubeconfigInfo:
    server: str
    token: str

    @property
    def port(self) -> int | None:
        return urlparse(self.server).port


def write_kubeconfig(path: Path, server: str, token: str, ca_pem: bytes) -> None:
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "labcluster", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": "labcluster-admin", "user": {"token": token}}],
        "contexts": [{"name": "labcluster", "context": {
            "cluster": "labcluster", "user": "labcluster-admin", "namespace": "default"}}],
        "current-context": "labcluster",
    }
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_kubeconfig(path: Path) -> KubeconfigInfo | None:
    try:
        doc = yaml.safe_load(path.read_text())
        return KubeconfigInfo(doc["clusters"][0]["cluster"]["server"],
                              doc["users"][0]["user"]["token"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None
