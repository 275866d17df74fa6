"""The GitHub Actions workflows parse, pin every action to a major version, and say what
the release process promises (both platforms, push only on release, ghcr.io, the same
test command as CI here). Static: GitHub's runners cannot be reached from here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@v\d+$")


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as True; GitHub reads it as "on".
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job["steps"]]


def step(doc: dict[str, Any], action: str) -> dict[str, Any]:
    found = [s for s in steps(doc) if s.get("uses", "").startswith(action + "@")]
    assert len(found) == 1, f"expected one {action} step"
    return found[0]


@pytest.mark.parametrize("name", ["image.yml", "ci.yml"])
def test_parses_and_pins_major_versions(name):
    doc = load(name)
    assert doc["on"] and doc["jobs"]
    for job in doc["jobs"].values():
        assert job["runs-on"] == "ubuntu-latest" and job.get("timeout-minutes")
        for s in job["steps"]:
            assert ("uses" in s) != ("run" in s), s
            if "uses" in s:
                assert PINNED.match(s["uses"]), f"{name}: {s['uses']} is not pinned to @vN"


@pytest.mark.parametrize("name", ["image.yml", "ci.yml"])
def test_least_privilege(name):
    perms = load(name)["permissions"]
    assert perms["contents"] == "read"
    assert set(perms) <= {"contents", "packages"}


def test_image_builds_both_platforms_with_buildx_and_qemu():
    doc = load("image.yml")
    step(doc, "docker/setup-qemu-action")
    step(doc, "docker/setup-buildx-action")
    build = step(doc, "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert (ROOT / build["file"]).is_file() and build["context"] == "."
    assert build["build-args"] == "VERSION=${{ steps.meta.outputs.version }}"


def test_image_pushes_only_on_release_to_ghcr():
    doc = load("image.yml")
    assert doc["on"]["release"]["types"] == ["published"]
    build = step(doc, "docker/build-push-action")["with"]
    assert build["push"] == "${{ github.event_name == 'release' }}"
    assert step(doc, "docker/login-action")["if"] == "github.event_name == 'release'"
    assert step(doc, "docker/login-action")["with"]["registry"] == "ghcr.io"
    tags = build["tags"].splitlines()
    assert "${{ steps.meta.outputs.image }}:${{ steps.meta.outputs.version }}" in tags
    meta = next(s for s in steps(doc) if s.get("id") == "meta")["run"]
    assert 'image=ghcr.io/$owner/storefront' in meta and "${GITHUB_REPOSITORY_OWNER,,}" in meta
    assert doc["permissions"]["packages"] == "write"


def test_image_builds_on_prs_touching_the_image():
    paths = load("image.yml")["on"]["pull_request"]["paths"]
    assert "storefront/**" in paths and "pyproject.toml" in paths


def test_ci_runs_the_projects_test_command():
    doc = load("ci.yml")
    assert "./scripts/test" in [s.get("run") for s in steps(doc)]
    assert step(doc, "actions/setup-python")["with"]["python-version"] == "3.11"
    assert (ROOT / "scripts" / "test").is_file()
    assert "pull_request" in doc["on"] and doc["on"]["push"]["branches"] == ["main"]
