"""Pure parts of describe/top/charts/styling: quantities, colours, env redaction, target
parsing and the timeline built from pod and event objects. No cluster needed."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from kubernetes import client

from labhelpers import charts, metrics, timeline
from labhelpers.describe import env_line, parse_target
from labhelpers.styling import AMBER, GREEN, RED, LabFrame, colour, lab_frame

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(("q", "cores"), [("41000000n", 0.041), ("250m", 0.25), ("2", 2.0),
                                          ("1500u", 0.0015), (3, 3.0)])
def test_cpu_quantities(q, cores: float) -> None:
    assert metrics.millicores(q) == pytest.approx(cores * 1000)


@pytest.mark.parametrize(("q", "mib"), [("512Mi", 512), ("1Gi", 1024), ("104388Ki", 101.94),
                                        ("128M", 122.07), ("1048576", 1)])
def test_memory_quantities(q: str, mib: float) -> None:
    assert metrics.mebibytes(q) == pytest.approx(mib, abs=0.01)


def test_bad_quantity_is_a_clear_error_and_none_is_nan() -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity: '12 apples'"):
        metrics.quantity("12 apples")
    assert math.isnan(metrics.quantity(None))


@pytest.mark.parametrize(("q", "value"), [("0.5", 0.5), ("500m", 0.5), ("1Gi", 2**30),
                                          ("1e3", 1000.0), ("41000000n", 0.041), (2, 2.0)])
def test_quantity_edges_follow_the_client_parser(q: str | int, value: float) -> None:
    assert metrics.quantity(q) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["", "NaN", "1ki", "Gi"])
def test_non_quantities_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        metrics.quantity(bad)


@pytest.mark.parametrize(("value", "expected"), [
    ("Running", GREEN), ("✅", GREEN), ("1/1", GREEN), ("Pending", AMBER),
    ("ContainerCreating", AMBER), ("1/2", AMBER), ("Init:0/1", AMBER),
    ("CrashLoopBackOff", RED), ("OOMKilled", RED), ("ImagePullBackOff", RED), ("Error", RED),
    ("❌", RED), ("0/1", RED), ("Init:CrashLoopBackOff", RED), ("postgres-0", ""), (3, ""),
])
def test_status_colours(value, expected: str) -> None:
    assert colour(value) == expected


def test_labframe_keeps_colours_through_filtering_and_prints_plain() -> None:
    df = LabFrame({"name": ["a", "b"], "status": ["Running", "OOMKilled"]})
    df.attrs["kubectl"] = "kubectl get pods"
    bad = df[df["status"] != "Running"]
    assert isinstance(bad, LabFrame) and bad.attrs["kubectl"] == "kubectl get pods"
    html = bad._repr_html_()
    assert RED in html and GREEN not in html and "OOMKilled" in html
    assert str(df) == pd.DataFrame(df).to_string()  # text output unchanged
    assert isinstance(lab_frame(pd.DataFrame({"x": [1]})), LabFrame)


def test_labframe_html_escapes_every_cell_and_header() -> None:
    """A Secret's ``<redacted: 17 bytes>`` was an unknown tag to the browser: an empty cell."""
    df = LabFrame({"key": ["password", "<i>k</i>"], "value": ["<redacted: 17 bytes>", ["<b>"]],
                   "<th>": [1, 2]})
    html = df._repr_html_()
    assert "&lt;redacted: 17 bytes&gt;" in html and "<redacted" not in html
    assert "&lt;i&gt;k&lt;/i&gt;" in html and "<b>" not in html and "&lt;th&gt;" in html
    # non-unique labels: the Styler refuses them, pandas' own (escaping) HTML is used
    twice = LabFrame([["<x>", "y"]], columns=["a", "a"])
    assert "&lt;x&gt;" in twice._repr_html_()


def test_labframe_html_numbers_are_short_and_a_default_index_is_hidden() -> None:
    df = LabFrame({"name": ["a", "b"], "whole": [7.0, 1000.0], "part": [0.123456789, math.nan],
                   "cpu": [3.4, 12.6]})
    df.attrs["formats"] = {"cpu": "{:.0f}", "absent": "{:.2f}"}
    html = df._repr_html_()
    cells = [c.split(">", 1)[1] for c in html.split("<td ")[1:]]
    cells = [c.split("</td>")[0] for c in cells]
    assert cells == ["a", "7", "0.123457", "3", "b", "1000", "—", "13"], cells
    assert ".000000" not in html and "row_heading" not in html  # no 0..n-1 index column
    assert "row_heading" in df.set_index("name")._repr_html_()  # a real index stays


def _top_pod(name: str, cpu: tuple[str, str] | None, mem: tuple[str, str]) -> client.V1Pod:
    requests = {"memory": mem[0], **({"cpu": cpu[0]} if cpu else {})}
    limits = {"memory": mem[1], **({"cpu": cpu[1]} if cpu else {})}
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="c", resources=client.V1ResourceRequirements(requests=requests,
                                                              limits=limits))]))


def test_top_table_is_use_and_percent_of_request_and_limit_as_numbers() -> None:
    pods = [_top_pod("backend-1", ("200m", "1"), ("256Mi", "1Gi")),
            _top_pod("nocpu-1", None, ("64Mi", "128Mi")), _top_pod("new-1", ("100m", "500m"),
                                                                 ("64Mi", "128Mi"))]
    items = [{"metadata": {"name": "backend-1"},
              "containers": [{"name": "c", "usage": {"cpu": "7012345n", "memory": "40Mi"}}]},
             {"metadata": {"name": "nocpu-1"},
              "containers": [{"name": "c", "usage": {"cpu": "1m", "memory": "3500Ki"}}]}]
    df = metrics.top_table(pods, items, "ns")
    assert list(df.columns) == metrics.COLUMNS and isinstance(df, LabFrame)
    assert all(pd.api.types.is_float_dtype(df[c]) for c in metrics.COLUMNS[2:])
    b = df[df["pod"] == "backend-1"].iloc[0]
    assert (b["cpu m"], b["cpu % req"], b["cpu % lim"]) == (7, 3.5, 0.7)
    assert (b["mem Mi"], b["mem % req"], b["mem % lim"]) == (40, 15.6, 3.9)
    nocpu = df[df["pod"] == "nocpu-1"].iloc[0]
    assert math.isnan(nocpu["cpu % req"]) and nocpu["mem Mi"] == 3.4
    assert df[df["pod"] == "new-1"].iloc[0].iloc[2:].isna().all()  # no metrics yet
    html = df._repr_html_()
    assert ".000000" not in html and ">7<" in html and ">3.4<" in html and ">—<" in html
    assert "white-space: nowrap" in html  # pod names stay whole; the headers wrap instead
    fig = charts.plot_top(df)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(df["pod"])
    notes = [t.get_text() for t in fig.axes[0].texts]
    # the 7m bar is labelled with its numbers (it is 3.5 % wide, not 0.7 % of a 1000m axis)
    assert "3.5% (7m)" in notes and "0.7%" in notes and "no request" in notes
    assert "no metrics yet" in notes
    assert fig.axes[0].get_xlim()[1] >= 100 and fig._repr_png_().startswith(b"\x89PNG")


def test_env_values_from_secrets_and_secret_looking_literals_are_not_shown() -> None:
    ref = client.V1EnvVar(name="DB_PASSWORD", value_from=client.V1EnvVarSource(
        secret_key_ref=client.V1SecretKeySelector(name="pg", key="password")))
    assert env_line(ref) == "<set to the key 'password' in secret 'pg'>  Optional: false"
    literal = client.V1EnvVar(name="API_TOKEN", value="hunter2hunter2")
    assert "hunter2" not in env_line(literal) and "14 chars" in env_line(literal)
    assert env_line(client.V1EnvVar(name="PGDATA", value="/data")) == "/data"


def test_describe_targets() -> None:
    assert parse_target("deploy/x") == ("Deployment", "x")
    assert parse_target("sts/db") == ("StatefulSet", "db")
    assert parse_target("svc/web") == ("Service", "web")
    assert parse_target("pvc/data") == ("PersistentVolumeClaim", "data")
    assert parse_target("postgres-0") == ("Pod", "postgres-0")
    with pytest.raises(ValueError, match="describe knows"):
        parse_target("ingress/x")


def _pod(name: str, uid: str) -> client.V1Pod:
    term = client.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled",
                                             started_at=at(5), finished_at=at(30))
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, uid=uid, creation_timestamp=at(0)),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app")]),
        status=client.V1PodStatus(
            conditions=[client.V1PodCondition(type="PodScheduled", status="True",
                                              last_transition_time=at(1)),
                        client.V1PodCondition(type="Ready", status="True",
                                              last_transition_time=at(40))],
            container_statuses=[client.V1ContainerStatus(
                name="app", image="x", image_id="", ready=True, restart_count=1,
                state=client.V1ContainerState(
                    running=client.V1ContainerStateRunning(started_at=at(35))),
                last_state=client.V1ContainerState(terminated=term))]))


def _event(pod: str, uid: str, reason: str, when: int, first: int | None = None,
           count: int = 1) -> client.CoreV1Event:
    return client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=f"{pod}.{reason}"),
        involved_object=client.V1ObjectReference(kind="Pod", name=pod, uid=uid),
        reason=reason, message=f"{reason} {pod}", type="Normal", count=count,
        first_timestamp=at(first if first is not None else when), last_timestamp=at(when))


def test_timeline_from_pods_and_the_events_of_a_deleted_one() -> None:
    pods = [_pod("web-1", "u1")]
    events = [_event("web-1", "u1", "Started", 5), _event("web-1", "u1", "BackOff", 32),
              _event("db-0", "old", "Scheduled", -50), _event("db-0", "old", "Killing", -10)]
    df = timeline.timeline_table(pods, events, "ns")
    web = df[df["uid"] == "u1"]
    assert list(web["what"]) == ["created", "scheduled", "terminated", "BackOff", "started",
                                 "ready"]
    term = web[web["what"] == "terminated"].iloc[0]
    assert term["time"] == at(30) and "OOMKilled (exit code 137); 1 restarts" in term["detail"]
    gone = df[df["uid"] == "old"]
    assert gone["deleted"].all()
    assert list(gone["what"]) == ["created", "scheduled", "Killing", "last seen"]
    assert gone["time"].min() == at(-50) and gone["time"].max() == at(-10)
    fig = charts.plot_timeline(df, now=at(60))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["db-0 (deleted)", "web-1"]
    notes = {t.get_text() for t in fig.axes[0].texts}
    assert "OOMKilled" in notes and "Killing" in notes


def test_a_pod_lab_deleted_keeps_its_started_and_ready_moments() -> None:
    """A deleted pod drawn with no started/ready markers looked never-ready; a pod
    lab.delete_pod removed is remembered as it was."""
    from labhelpers.podlife import DeletedPod

    was = _pod("api-1", "gone")
    deleted = DeletedPod("api-1", "gone", "deploy/api", [], at(50), was)
    events = [_event("api-1", "gone", "Killing", 50)]
    df = timeline.timeline_table([_pod("api-2", "new")], events, "ns", [deleted])
    old = df[df["uid"] == "gone"]
    assert old["deleted"].all()
    assert {"created", "scheduled", "started", "ready", "Killing", "deleted"} <= set(old["what"])
    assert old[old["what"] == "ready"]["time"].iloc[0] == at(40)
    assert old[old["what"] == "deleted"]["time"].iloc[0] == at(50)
    assert not df[df["uid"] == "new"]["deleted"].any()
    fig = charts.plot_timeline(df, now=at(60))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "api-1 (deleted)" in labels


def test_empty_charts_say_why() -> None:
    empty = timeline.timeline_table([], [], "ns")
    assert empty.empty
    assert "no pods" in charts.plot_timeline(empty).texts[0].get_text()
    assert "no pods" in charts.plot_top(metrics.top_table([], [], "ns")).texts[0].get_text()


def test_doctor_pod_events_belong_to_this_pod_not_an_earlier_one_of_the_same_name() -> None:
    """postgres-0 recreated (or a scenario restarted): the old pod's Unhealthy event must
    not be read as the new pod's."""
    from labhelpers.doctor.snapshot import Snapshot

    def event(uid: str, reason: str, second: int) -> client.CoreV1Event:
        return client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"postgres-0.{uid}"), reason=reason,
            involved_object=client.V1ObjectReference(kind="Pod", name="postgres-0", uid=uid),
            message=f"{reason} of {uid}", last_timestamp=at(second))

    snap = Snapshot(lab=None, namespace="ecommerce-lab",
                    events=[event("old", "Unhealthy", 1), event("new", "Unhealthy", 2),
                            event("new", "Started", 3)])
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="postgres-0", uid="new"))
    assert [e.message for e in snap.pod_events(pod)] == ["Unhealthy of new", "Started of new"]
    assert [e.message for e in snap.pod_events(pod, "Unhealthy")] == ["Unhealthy of new"]


def test_describe_lists_init_containers_first_with_their_state_and_hides_last_applied() -> None:
    """A pod stuck in Init:0/1 is explained by its init container's section."""
    from labhelpers.describe.text import _annotations, _containers, _Text

    spec = client.V1PodSpec(
        init_containers=[client.V1Container(name="wait-for-db", image="busybox:1.36",
                                            command=["sh", "-c", "until nc -z postgres 5432"])],
        containers=[client.V1Container(name="backend", image="storefront:1")])
    init_status = client.V1ContainerStatus(
        name="wait-for-db", image="busybox:1.36", image_id="", ready=False, restart_count=0,
        state=client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=T0)))
    main_status = client.V1ContainerStatus(
        name="backend", image="storefront:1", image_id="", ready=False, restart_count=0,
        state=client.V1ContainerState(waiting=client.V1ContainerStateWaiting(
            reason="PodInitializing")))
    out = _Text()
    _annotations(out, client.V1ObjectMeta(annotations={
        "kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "shop"}))
    _containers(out, spec, [main_status], 0, [init_status])
    text = str(out)
    assert text.index("\nInit Containers:") < text.index("wait-for-db:") < text.index(
        "\nContainers:\n") < text.index("backend:")
    init_part = text[:text.index("\nContainers:\n")]
    assert "until nc -z postgres 5432" in init_part and "State:          Running" in init_part
    assert "Reason:       PodInitializing" in text[text.index("backend:"):]
    assert "Annotations:        team: shop" in text and "last-applied" not in text
    # a template (no statuses) lists init containers without state
    out = _Text()
    _containers(out, spec, None, 2)
    assert "Init Containers:" in str(out) and "State:" not in str(out)


def test_a_replacement_created_while_the_delete_was_answering_counts() -> None:
    """The ReplicaSet controller can create the replacement before the DELETE returns; its
    creation time (whole seconds) may then be in the second before the call ended. The
    cutoff is the time the deletion was asked for, truncated like creation times."""
    from labhelpers.podlife import newest_replacement

    def pod(uid: str, created: dt.datetime) -> client.V1Pod:
        return client.V1Pod(metadata=client.V1ObjectMeta(name=f"redis-{uid}", uid=uid,
                                                         creation_timestamp=created))

    asked = T0 + dt.timedelta(seconds=10, microseconds=900_000)   # 12:00:10.9
    old = pod("old", T0)
    same_second = pod("new", T0 + dt.timedelta(seconds=10))       # stamped 12:00:10
    assert newest_replacement([old, same_second], "old", asked) is same_second
    earlier = pod("other", T0 + dt.timedelta(seconds=9))          # before the deletion
    assert newest_replacement([old, earlier], "old", asked) is None
    later = pod("newer", T0 + dt.timedelta(seconds=12))
    assert newest_replacement([same_second, later], "old", asked) is later


def _unhealthy(message: str, last: dt.datetime, *, series: dt.datetime | None = None,
               count: int = 1) -> client.CoreV1Event:
    return client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="e", creation_timestamp=at(0)),
        involved_object=client.V1ObjectReference(kind="Pod", name="cart-service-abc"),
        reason="Unhealthy", type="Warning", message=message, count=count,
        first_timestamp=at(0), last_timestamp=last,
        series=client.CoreV1EventSeries(count=count, last_observed_time=series)
        if series else None)


def test_liveness_failures_are_the_liveness_events_of_the_window() -> None:
    from labhelpers import checks

    since = at(600)
    events = [
        _unhealthy("Liveness probe failed: HTTP probe failed with statuscode: 500", at(650)),
        _unhealthy('Liveness probe errored: rpc error: code = Unknown desc = "sh"', at(700)),
        _unhealthy("Liveness probe failed: sick", at(599)),          # before the window
        _unhealthy("Readiness probe failed: sick", at(700)),         # not liveness
        _unhealthy("Startup probe failed: connection refused", at(700)),
        # an events.k8s.io series: its last observation counts, not lastTimestamp
        _unhealthy("Liveness probe failed: again", at(10), series=at(660), count=4),
    ]
    found = checks.liveness_failures(events, since)
    assert [e.message.split(": ", 1)[1].split(":")[0] for e in found] == [
        "HTTP probe failed with statuscode", "rpc error", "again"]
