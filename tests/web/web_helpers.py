"""Paths and loaders shared by the web tier's tests."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import socket
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "storefront" / "web"
SITE = WEB / "site"
NGINX_CONF = WEB / "nginx.conf"
GENERATED = ROOT / "manifests" / "lab" / "frontend-site.yaml"
GENERATOR = ROOT / "scripts" / "gen-site-configmap"
DOCKERFILE = ROOT / "storefront" / "Dockerfile"


def load_generator() -> ModuleType:
    """Import scripts/gen-site-configmap (no .py suffix) as a module."""
    loader = importlib.machinery.SourceFileLoader("gen_site_configmap", str(GENERATOR))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
