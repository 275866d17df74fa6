"""Helpers shared by the manifest tests (a uniquely named module: `conftest` is not importable
reliably when several test folders have one)."""

from __future__ import annotations

import yaml

from labhelpers.manifests import KUSTOMIZATION_NAMES, MANIFESTS_DIR

#: Every kustomization folder under manifests/ (whatever its file's accepted name),
#: Components included: our subset builds them all.
KUSTOMIZATIONS = sorted(
    {p.parent.relative_to(MANIFESTS_DIR).as_posix()
     for name in KUSTOMIZATION_NAMES for p in MANIFESTS_DIR.rglob(name)}
)
SCENARIOS = sorted(p.name for p in (MANIFESTS_DIR / "broken").iterdir() if p.is_dir())


def scenario(name: str) -> dict:
    return yaml.safe_load((MANIFESTS_DIR / "broken" / name / "scenario.yaml").read_text())


def by_ref(objects) -> dict[str, dict]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def main_container(obj: dict) -> dict:
    return pod_spec(obj)["containers"][0]
