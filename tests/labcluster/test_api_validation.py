"""Validation errors with the real server's reason, code and message; nothing stored."""

from __future__ import annotations

import pytest
from kube_helpers import deployment, status_body
from kubernetes import client

pytestmark = pytest.mark.cluster


def _fails(fn, *args) -> tuple[int, dict]:
    with pytest.raises(client.ApiException) as err:
        fn(*args)
    return err.value.status, status_body(err.value)


def test_selector_must_match_template_labels(kube_apps, kube_ns):
    d = deployment("postgres", labels={"app": "postgres"})
    d["spec"]["selector"]["matchLabels"] = {"app": "db"}
    code, body = _fails(kube_apps.create_namespaced_deployment, kube_ns, d)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'Deployment.apps "postgres" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"postgres"}: `selector` does not match template `labels`')
    assert body["details"]["kind"] == "Deployment" and body["details"]["group"] == "apps"
    assert body["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.template.metadata.labels",
        "message": 'Invalid value: map[string]string{"app":"postgres"}: '
                   "`selector` does not match template `labels`"}]
    assert kube_apps.list_namespaced_deployment(kube_ns).items == []


def test_invalid_name(kube_core, kube_ns):
    code, body = _fails(kube_core.create_namespaced_config_map, kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}})
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase '
        "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
        "must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def test_service_name_is_a_dns1035_label(kube_core, kube_ns):
    code, body = _fails(kube_core.create_namespaced_service, kube_ns, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"},
        "spec": {"ports": [{"port": 80}]}})
    assert code == 422
    assert body["message"].startswith(
        'Service "1svc" is invalid: metadata.name: Invalid value: "1svc": a DNS-1035 label')


def test_port_range(kube_core, kube_ns):
    code, body = _fails(kube_core.create_namespaced_service, kube_ns, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "p"},
        "spec": {"ports": [{"port": 70000}]}})
    assert code == 422
    # targetPort defaults to port before validation, so both are reported (as upstream)
    assert body["message"] == ('Service "p" is invalid: [spec.ports[0].port: Invalid value: '
                               "70000: must be between 1 and 65535, inclusive, "
                               "spec.ports[0].targetPort: Invalid value: 70000: must be between "
                               "1 and 65535, inclusive]")


def test_lifecycle_hooks_are_validated_as_upstream(kube_apps, kube_ns):
    """validateLifecycle: one handler per hook, sleep within the grace period (1.32)."""
    d = deployment("hooks")
    pod = d["spec"]["template"]["spec"]
    pod["terminationGracePeriodSeconds"] = 10
    pod["containers"][0]["lifecycle"] = {
        "preStop": {"sleep": {"seconds": 11}},
        "postStart": {"exec": {"command": ["true"]}, "httpGet": {"path": "/", "port": 80}}}
    code, body = _fails(kube_apps.create_namespaced_deployment, kube_ns, d)
    assert code == 422
    assert body["message"] == (
        'Deployment.apps "hooks" is invalid: [spec.template.spec.containers[0].lifecycle.'
        "postStart.httpGet: Forbidden: may not specify more than 1 handler type, "
        "spec.template.spec.containers[0].lifecycle.preStop.sleep: Invalid value: 11: must "
        "be greater than 0 and less than terminationGracePeriodSeconds (10). Enable "
        "AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.]")
    pod["containers"][0]["lifecycle"] = {"preStop": {}}
    code, body = _fails(kube_apps.create_namespaced_deployment, kube_ns, d)
    assert body["message"] == (
        'Deployment.apps "hooks" is invalid: spec.template.spec.containers[0].lifecycle.'
        "preStop: Required value: must specify a handler type")
    pod["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}},
                                         "postStart": {"httpGet": {"path": "/", "port": 80}}}
    created = kube_apps.create_namespaced_deployment(kube_ns, d)
    assert created.spec.template.spec.containers[0].lifecycle.pre_stop.sleep.seconds == 5
    kube_apps.delete_namespaced_deployment("hooks", kube_ns)


def test_duplicate_container_names_and_several_errors(kube_apps, kube_ns):
    d = deployment("dup")
    c = d["spec"]["template"]["spec"]["containers"][0]
    d["spec"]["template"]["spec"]["containers"].append(dict(c))
    d["spec"]["replicas"] = -1
    code, body = _fails(kube_apps.create_namespaced_deployment, kube_ns, d)
    assert code == 422
    assert body["message"] == (
        'Deployment.apps "dup" is invalid: [spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0, spec.template.spec.containers[1].name: Duplicate value: \"web\", "
        "spec.template.spec.containers[1].ports[0].name: Duplicate value: \"http\"]")
    assert [c["reason"] for c in body["details"]["causes"]] == [
        "FieldValueInvalid", "FieldValueDuplicate", "FieldValueDuplicate"]


def test_required_fields(kube_apps, kube_ns):
    d = deployment("req")
    d["spec"]["template"]["spec"]["containers"][0].pop("image")
    code, body = _fails(kube_apps.create_namespaced_deployment, kube_ns, d)
    assert code == 422
    assert body["message"] == ('Deployment.apps "req" is invalid: '
                               "spec.template.spec.containers[0].image: Required value")


def test_unknown_field_strict_is_bad_request_and_warn_drops_it(kube_api, kube_ns):
    import json
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u"},
            "data": {"a": "1"}, "dta": {"b": "2"}}
    path = f"/api/v1/namespaces/{kube_ns}/configmaps"
    resp = kube_api.call_api(*kube_api.param_serialize(
        method="POST", resource_path=path + "?fieldValidation=Strict", body=body,
        header_params={"Content-Type": "application/json"}, auth_settings=["BearerToken"]))
    resp.read()
    assert resp.status == 400
    status = json.loads(resp.data)
    assert status["reason"] == "BadRequest"
    assert status["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                                 'strict decoding error: unknown field "dta"')
    resp = kube_api.call_api(*kube_api.param_serialize(
        method="POST", resource_path=path, body=body,
        header_params={"Content-Type": "application/json"}, auth_settings=["BearerToken"]))
    resp.read()
    assert resp.status == 201
    assert "dta" not in json.loads(resp.data)
    assert 'unknown field "dta"' in resp.getheader("Warning")


def test_immutable_selector(kube_apps, kube_ns):
    kube_apps.create_namespaced_deployment(kube_ns, deployment("imm", replicas=0))
    d = kube_apps.read_namespaced_deployment("imm", kube_ns)
    d.spec.selector.match_labels = {"app": "imm", "x": "y"}
    d.spec.template.metadata.labels = {"app": "imm", "x": "y"}
    d.metadata.resource_version = None  # the controller may write status meanwhile
    code, body = _fails(kube_apps.replace_namespaced_deployment, "imm", kube_ns, d)
    assert code == 422
    assert body["message"] == (
        'Deployment.apps "imm" is invalid: spec.selector: Invalid value: v1.LabelSelector{'
        'MatchLabels:map[string]string{"app":"imm", "x":"y"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")


def test_service_cluster_ip_is_immutable(kube_core, kube_ns):
    svc = kube_core.create_namespaced_service(kube_ns, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ip"},
        "spec": {"ports": [{"port": 80}]}})
    code, body = _fails(kube_core.patch_namespaced_service, "ip", kube_ns,
                        {"spec": {"clusterIP": "None", "clusterIPs": ["None"]}})
    assert code == 422
    assert body["message"] == ('Service "ip" is invalid: spec.clusterIPs[0]: Invalid value: '
                               '[]string{"None"}: may not change once set')
    assert kube_core.read_namespaced_service("ip", kube_ns).spec.cluster_ip == svc.spec.cluster_ip


def test_statefulset_volume_claim_templates_are_immutable(kube_apps, kube_ns):
    from kube_helpers import NO_NODE
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
           "spec": {"serviceName": "db", "replicas": 0, "selector": {"matchLabels": {"a": "db"}},
                    "template": {"metadata": {"labels": {"a": "db"}}, "spec": {
                        "nodeSelector": NO_NODE,
                        "containers": [{"name": "pg", "image": "postgres:16"}]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}]}}
    kube_apps.create_namespaced_stateful_set(kube_ns, sts)
    code, body = _fails(kube_apps.patch_namespaced_stateful_set, "db", kube_ns,
                        {"spec": {"serviceName": "other"}})
    assert code == 422
    assert body["message"] == (
        'StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec for '
        "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def test_invalid_label_value(kube_core, kube_ns):
    code, body = _fails(kube_core.create_namespaced_config_map, kube_ns, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "l", "labels": {"app": "not valid!"}}})
    assert code == 422
    assert body["message"].startswith(
        'ConfigMap "l" is invalid: metadata.labels: Invalid value: "not valid!": a valid label '
        "must be an empty string or consist of alphanumeric characters")


def test_terminating_namespace_refuses_new_objects(kube_core):
    kube_core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": "lc-term-x"}})
    kube_core.create_namespaced_config_map("lc-term-x", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "block"}})
    kube_core.delete_namespace("lc-term-x")
    try:
        kube_core.create_namespaced_config_map("lc-term-x", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}})
    except client.ApiException as exc:
        body = status_body(exc)
        if exc.status == 403:
            assert body["reason"] == "Forbidden"
            assert body["message"] == (
                'configmaps "late" is forbidden: unable to create new content in namespace '
                "lc-term-x because it is being terminated")
        else:  # the namespace may already be gone
            assert exc.status == 404
    else:
        raise AssertionError("created in a terminating namespace")


def test_secret_data_must_be_base64(kube_core, kube_ns):
    code, body = _fails(kube_core.create_namespaced_secret, kube_ns, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"},
        "data": {"password": "not base64!"}})
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"] == ('Secret in version "v1" cannot be handled as a Secret: '
                               "illegal base64 data at input byte 3")
