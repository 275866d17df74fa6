"""server_dry_run on a real API server (labcluster's control plane): the API server
checks what it serves and stores nothing; what it does not serve is checked offline."""

from __future__ import annotations

import shutil

import pytest
import yaml
from kubernetes import client

from labhelpers.apply import ApplyError
from labhelpers.manifests import compare as cmp

SERVED = {"ConfigMap", "Service", "StatefulSet", "Deployment", "Secret"}


def test_production_dry_run_accepts_everything_and_stores_nothing(lab):
    ns = "compare-dry-existing"
    lab.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        df = cmp.server_dry_run(lab, "production", namespace=ns)
        assert not lab.apps.list_namespaced_deployment(ns).items  # dry run: nothing stored
        # kube-root-ca.crt is the cluster's own (root-ca-cert-publisher), in every namespace
        assert [c.metadata.name for c in lab.core.list_namespaced_config_map(ns).items] == \
            ["kube-root-ca.crt"]
    finally:
        lab.core.delete_namespace(ns)
    objects = {f"{o['kind']}/{o['metadata']['name']}": o for o in cmp.render("production")}
    for row in df.itertuples():
        obj = objects[row.object]
        try:
            lab.resources.lookup(obj["apiVersion"], obj["kind"])
            served = True
        except ApplyError:
            served = False
        assert row.how == ("server dry run" if served else "offline (schema 1.32)"), row
    kinds = {row.object.split("/")[0]: row.how for row in df.itertuples()}
    assert {k for k, how in kinds.items() if how == "server dry run"} >= SERVED - {"Secret"}
    # labcluster serves every kind production uses (HPA, PDB, NetworkPolicy too): the
    # server checks them all, none falls back to the offline schema
    assert set(df["how"]) == {"server dry run"}, df.to_string()
    assert set(df["result"]) == {"accepted"}, df.to_string()
    assert len(df) == len([o for o in cmp.render("production") if o["kind"] != "Namespace"])


def test_scratch_namespace_is_made_and_removed(lab):
    df = cmp.server_dry_run(lab, "staging")
    assert (df["how"] == "server dry run").all() and (df["result"] == "accepted").all()
    scratch = df.attrs["namespace"]
    assert scratch.startswith("dryrun-staging-")
    try:  # deleted: gone, or still Terminating
        ns = lab.core.read_namespace(scratch)
        assert ns.metadata.deletion_timestamp is not None or ns.status.phase == "Terminating"
    except client.ApiException as exc:
        assert exc.status == 404
    # run again at once (a learner re-running the cell): its own scratch namespace
    again = cmp.server_dry_run(lab, "staging")
    assert again.attrs["namespace"] != scratch
    assert (again["result"] == "accepted").all(), again.to_string()


def test_the_server_rejects_a_bad_object(lab, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(cmp.MANIFESTS_DIR / "lab", bad)
    backend = list(yaml.safe_load_all((bad / "backend.yaml").read_text()))
    deploy = next(d for d in backend if d and d["kind"] == "Deployment")
    deploy["spec"]["selector"]["matchLabels"] = {"app": "not-the-template"}
    (bad / "backend.yaml").write_text(yaml.safe_dump_all(backend))
    df = cmp.server_dry_run(lab, bad, namespace="compare-dry-bad").set_index("object")
    row = df.loc["Deployment/ecommerce-backend"]
    assert row["result"].startswith("rejected (422"), row.to_dict()
    assert "selector" in row["note"]
    assert (df.drop("Deployment/ecommerce-backend")["result"] == "accepted").all()


@pytest.mark.parametrize("variant", ["lab", "staging", "production"])
def test_render_names_every_object_once(variant):
    refs = [f"{o['kind']}/{o['metadata']['name']}" for o in cmp.render(variant)]
    assert len(refs) == len(set(refs))
