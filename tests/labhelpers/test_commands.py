"""The printed kubectl lines (labhelpers.commands) are shell that splits back into exactly the
arguments the helper used (issue 15): the end-to-end replay with the real kubectl is in
tests/notebooks/test_installed_package.py; these pin the quoting without a cluster."""

from __future__ import annotations

import shlex

import pytest

from labhelpers import commands
from labhelpers.manifests import compare


def test_exec_keeps_a_sh_c_script_one_argument():
    script = 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "SELECT count(*) FROM products"'
    line = commands.exec_in("ns-1", "sts/postgres", ["sh", "-c", script])
    assert shlex.split(line) == ["kubectl", "exec", "-n", "ns-1", "sts/postgres", "--",
                                 "sh", "-c", script]
    # the variables are left for the pod's shell, not expanded by the learner's
    assert "'psql -U \"$POSTGRES_USER\"" in line


def test_raw_requests_use_the_verb_of_their_method():
    path = "/api/v1/namespaces/n/services/b/proxy/api/products?limit=1"
    assert shlex.split(commands.raw_request(path)) == ["kubectl", "get", "--raw", path]
    post = commands.raw_request("/x/api/orders", "POST", {"session_id": "s 1", "n": 2})
    body, _, kubectl = post.partition(" | ")
    assert shlex.split(body) == ["echo", '{"session_id": "s 1", "n": 2}']
    assert shlex.split(kubectl) == ["kubectl", "create", "--raw", "/x/api/orders", "-f", "-"]
    assert commands.raw_request("/x", "DELETE") == "kubectl delete --raw /x"
    with pytest.raises(ValueError, match="no raw PATCH"):
        commands.raw_request("/x", "PATCH")


def test_dry_run_moves_a_kustomization_namespace_instead_of_passing_n():
    lines = compare.dry_run_lines("production", "dryrun-p-1", "ecommerce-production", True)
    assert lines[0] == "kubectl create namespace dryrun-p-1"
    assert lines[-1] == "kubectl delete namespace dryrun-p-1"
    assert " -n " not in lines[1] and "sed 's/namespace: ecommerce-production$/" in lines[1]
    # a namespace the caller gave (not made here) is neither created nor deleted
    assert compare.dry_run_lines("lab", "mine", None, False) == [
        "kubectl apply -k manifests/lab --server-side --dry-run=server -n mine"]
