"""labhelpers.manifests: loading files and folders, tiers, namespace override, clear errors."""

from __future__ import annotations

import pytest

from labhelpers.manifests import (
    MANIFESTS_DIR,
    ManifestError,
    lab_tiers,
    load,
    load_file,
    with_namespace,
)


def test_lab_tiers_follow_the_kustomization_and_rebuild_the_lab(lab):
    tiers = lab_tiers()
    assert all(path.is_file() for path in tiers.values())
    from_files = [obj for path in tiers.values() for obj in load_file(path)]
    placed = with_namespace(from_files, "ecommerce-lab")
    assert placed == lab, "deploying tier by tier gives exactly the kustomize build"
    assert all("namespace" not in o["metadata"] for o in from_files), "inputs are not changed"


def test_with_namespace_moves_everything(lab):
    moved = with_namespace(lab, "student-7")
    assert {o["metadata"].get("namespace") for o in moved if o["kind"] != "Namespace"} == {
        "student-7"
    }
    assert [o["metadata"]["name"] for o in moved if o["kind"] == "Namespace"] == ["student-7"]


def test_load_dispatches_on_what_it_is_given(lab):
    assert load(MANIFESTS_DIR / "lab") == lab
    assert [o["kind"] for o in load(MANIFESTS_DIR / "lab" / "cache.yaml")] == [
        "Service",
        "Deployment",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "not a Kubernetes object"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "no metadata.name"),
        ("apiVersion: v1\nkind: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_fail_clearly(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        load(path)


def test_missing_path(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        load(tmp_path / "nope")
