"""Every break & fix scenario on a real labcluster: start shows the symptom the learner
meets, the doctor names the cause and the object, the solution makes check() pass; and
the doctor finds nothing in a healthy lab.

Expected findings live here as (rule, object) pairs only, never as wording."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import doctor_cases
import pandas as pd
import pytest

import labhelpers
from labhelpers import breakfix, manifests, results
from labhelpers.doctor import diagnose

pytestmark = pytest.mark.timeout(600)
NAMES = breakfix.names()

#: What the doctor must name for each scenario: (rule, object) pairs.
DIAGNOSIS = {
    "bad-image-tag": {("image-pull", "Deployment/cart-service")},
    "combined": {("apply-rejected", "Deployment/redis"),
                 ("oom-killed", "Deployment/ecommerce-backend"),
                 ("unknown-host", "ConfigMap/ecommerce-config")},
    "missing-secret-key": {("config-error", "Deployment/ecommerce-backend")},
    "missing-storageclass": {("pvc-unbound", "StatefulSet/postgres")},
    "oom-backend": {("oom-killed", "Deployment/ecommerce-backend")},
    "readiness-404": {("readiness-failing", "Deployment/ecommerce-backend")},
    "selector-mismatch": {("apply-rejected", "Deployment/redis")},
    "service-selector": {("service-no-match", "Service/cart-service")},
    "target-port": {("target-port-mismatch", "Service/ecommerce-backend")},
    "wrong-db-host": {("unknown-host", "ConfigMap/ecommerce-config")},
}


def wait_for(fn: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value is not None and value is not False:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _statuses(s: breakfix.Symptoms) -> set[str]:
    return set(s.pods["status"])


def _reasons(s: breakfix.Symptoms) -> set[str]:
    return set(s.events["reason"])


#: The symptom each scenario must show at start (as a learner first meets it).
SYMPTOM = {
    "bad-image-tag": lambda s: _statuses(s) & {"ImagePullBackOff", "ErrImagePull"},
    "combined": lambda s: any("Deployment/redis" in e for e in s.apply_errors)
    and (s.pods["restarts"].max() >= 1 or _statuses(s) & {"OOMKilled", "CrashLoopBackOff"}),
    "missing-secret-key": lambda s: "CreateContainerConfigError" in _statuses(s),
    "missing-storageclass": lambda s: "Pending" in _statuses(s)
    and "FailedScheduling" in _reasons(s),
    "oom-backend": lambda s: s.pods["restarts"].max() >= 1
    or _statuses(s) & {"OOMKilled", "CrashLoopBackOff"},
    "readiness-404": lambda s: any("statuscode: 404" in m for m in s.events["message"]),
    "selector-mismatch": lambda s: any("does not match template" in e
                                       for e in s.apply_errors),
    "service-selector": lambda s: "HTTP 503" in s.call and "0/1" not in set(s.pods["ready"]),
    "target-port": lambda s: "HTTP 200" not in s.call and "0/1" not in set(s.pods["ready"]),
    "wrong-db-host": lambda s: "HTTP 200" not in s.call and "0/1" in set(s.pods["ready"]),
}


@pytest.fixture(scope="module")
def settled(challenges: dict[str, breakfix.Challenge]) -> dict[str, bool]:
    with ThreadPoolExecutor(len(challenges)) as pool:
        done = dict(zip(challenges, pool.map(lambda c: c.wait_for_symptoms(150),
                                             challenges.values()), strict=True))
    return done


@pytest.fixture(scope="module")
def healthy(bf_lab: labhelpers.Lab) -> labhelpers.Lab:
    with contextlib.redirect_stdout(io.StringIO()):
        bf_lab.deploy("all")
    return bf_lab


def test_scenarios_table_lists_every_folder() -> None:
    df = breakfix.scenarios()
    assert set(df["name"]) == set(DIAGNOSIS) and "combined" in set(df["name"])
    limits = dict(zip(df["name"], df["time_limit_minutes"], strict=True))
    assert limits["combined"] == 20  # the lab text's time limit for its challenge
    assert all(int(v) == v and v > 0 for v in limits.values())


def test_unknown_scenario_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no break & fix scenario 'nope'; scenarios: "):
        breakfix.start("nope", cluster="labcluster")


@pytest.mark.parametrize("name", NAMES)
def test_start_shows_the_symptom(name: str, challenges, settled) -> None:
    ch = challenges[name]
    assert settled[name], f"{name}: pods never settled"
    s = ch.symptoms(show=False)
    assert SYMPTOM[name](s), f"{name}:\n{s}"
    assert ch.lab.namespace == f"breakfix-{name}"


@pytest.mark.parametrize("name", NAMES)
def test_doctor_names_cause_and_object(name: str, challenges, settled) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        df = diagnose(challenges[name].lab)
    found = set(zip(df["rule"], df["object"], strict=True))
    assert DIAGNOSIS[name] <= found, df[["rule", "object", "evidence"]].to_string()
    assert set(df.columns) >= {"severity", "object", "problem", "evidence", "fix"}
    assert (df["evidence"].str.len() > 0).all() and (df["fix"].str.len() > 0).all()


def _row(challenges, name: str, rule: str) -> pd.Series:
    with contextlib.redirect_stdout(io.StringIO()):
        df = diagnose(challenges[name].lab)
    return df[df["rule"] == rule].iloc[0]


def test_doctor_evidence_puts_selector_beside_labels(challenges, settled) -> None:
    row = _row(challenges, "service-selector", "service-no-match")
    ev = row["evidence"]
    assert "selector app=cart vs pods of Deployment/cart-service: app=cart-service" in ev, ev
    assert "app=cart-service" in row["fix"] and row["severity"] == "error"


def test_doctor_evidence_for_oom_config_host_and_probe(challenges, settled) -> None:
    oom = _row(challenges, "oom-backend", "oom-killed")
    assert "32Mi" in oom["evidence"] and "137" in oom["evidence"], oom["evidence"]
    cfg = _row(challenges, "missing-secret-key", "config-error")
    assert "postgres-password" in cfg["evidence"] and "keys: password" in cfg["evidence"]
    assert "password" in cfg["fix"]
    host = _row(challenges, "wrong-db-host", "unknown-host")
    assert "'postgres'" in host["fix"], host["fix"]  # difflib's closest Service
    assert "postgres-db" in host["evidence"].split("log of ")[1], host["evidence"]
    probe = _row(challenges, "readiness-404", "readiness-failing")
    assert "404" in probe["evidence"] and "/healthz" in probe["problem"], probe.to_dict()
    pvc = _row(challenges, "missing-storageclass", "pvc-unbound")
    assert "fast-ssd" in pvc["evidence"] and "standard" in pvc["evidence"]


def test_hints_one_at_a_time_and_solution_has_kubectl(challenges) -> None:
    ch = challenges["service-selector"]
    with contextlib.redirect_stdout(io.StringIO()):
        first, second = ch.hint(), ch.hint()
        text = ch.solution()
    assert first.startswith("💡 Hint 1/") and second.startswith("💡 Hint 2/")
    assert "$ kubectl patch service cart-service -n breakfix-service-selector" in text
    outcome = ch.outcome(breakfix.CheckResult(False, pd.DataFrame(), "❌"))
    assert outcome["hints_shown"] == 2 and outcome["solution_seen_after_seconds"] is not None


def test_each_step_of_the_challenge_has_its_kubectl(challenges) -> None:
    ch = challenges["combined"]
    with contextlib.redirect_stdout(io.StringIO()):
        steps = [ch.solution(n) for n in (1, 2, 3)]
        with pytest.raises(ValueError, match="steps 1..3, not 4"):
            ch.solution(4)
    assert "$ kubectl apply -n breakfix-combined -f manifests/lab/cache.yaml" in steps[0]
    assert "$ kubectl set resources deployment ecommerce-backend -n breakfix-combined" \
        in steps[1]
    assert "$ kubectl rollout restart deployment ecommerce-backend -n breakfix-combined" \
        in steps[2]
    assert all(s.startswith(f"Step {n}/3: ") for n, s in enumerate(steps, 1))


def _kubectl_patch(ch: breakfix.Challenge) -> list[str]:
    """The fix as kubectl sends it (strategic merge patch or create, another field
    manager), to show check() judges the cluster, not the route."""
    ns = ch.lab.namespace
    if ch.name == "service-selector":
        ch.lab.core.patch_namespaced_service(
            "cart-service", ns, {"spec": {"selector": {"app": "cart-service"}}},
            field_manager="kubectl-patch")
    elif ch.name == "wrong-db-host":
        ch.lab.core.patch_namespaced_config_map(
            "ecommerce-config", ns, {"data": {"DATABASE_HOST": "postgres"}},
            field_manager="kubectl-patch")
        ch.lab.restart("deploy/ecommerce-backend", wait=False)
    elif ch.name == "selector-mismatch":  # kubectl apply -f manifests/lab/cache.yaml
        redis = next(o for o in manifests.load(breakfix.LAB_DIR / "cache.yaml")
                     if o["kind"] == "Deployment")
        ch.lab.apps.create_namespaced_deployment(ns, redis,
                                                 field_manager="kubectl-client-side-apply")
    return ["patched"]


def _edit_cell(ch: breakfix.Challenge) -> list[str]:
    """The fix as notebook 8's ✏️ cell makes it: edit the broken copy, Challenge.apply."""
    backend = ch.broken_object("Deployment/ecommerce-backend")
    res = backend["spec"]["template"]["spec"]["containers"][0]["resources"]
    res["requests"]["memory"], res["limits"]["memory"] = "256Mi", "1Gi"
    assert ch.apply(backend), "the edited object was not applied"
    return ["edited"]


BY_KUBECTL = {"service-selector", "wrong-db-host", "selector-mismatch"}
BY_CELL = {"oom-backend"}


@pytest.fixture(scope="module")
def fixed(challenges, settled) -> dict[str, list[str]]:
    """Every scenario's solution applied, side by side: three the way kubectl does it, one
    through a ✏️ cell's edit, the rest through Challenge.fix() (the solution)."""
    def one(ch: breakfix.Challenge) -> list[str]:
        if ch.name in BY_KUBECTL:
            return _kubectl_patch(ch)
        return _edit_cell(ch) if ch.name in BY_CELL else ch.fix()
    with contextlib.redirect_stdout(io.StringIO()), ThreadPoolExecutor(4) as pool:
        return dict(zip(challenges, pool.map(one, challenges.values()), strict=True))


def test_unedited_cells_change_nothing_and_record_not_solved(
        challenges, settled, tmp_path, monkeypatch) -> None:
    """The learner who did nothing: notebook 8's ✏️ cells as released (the broken copies,
    unedited) send nothing, the check on the live cluster fails, and the results file
    says not solved — through the helpers, on the running labcluster."""
    ch = challenges["combined"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        sent = [ch.apply(ch.broken_object(ref)) for ref in
                ("Deployment/redis", "Deployment/ecommerce-backend", "ConfigMap/ecommerce-config")]
        result = ch.check(timeout=300)
    assert sent == [False, False, False], out.getvalue()
    assert "unchanged from the broken manifests, so nothing was sent" in out.getvalue()
    assert not result and result.summary.startswith("❌ combined not fixed yet"), str(result)
    assert "\n  ready Deployment/redis: 404" in result.summary, result.summary
    assert "/api/health: HTTP 503 (API server) no endpoints available" in result.summary
    assert "nothing in namespace breakfix-combined has changed" in result.summary  # at once
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path))
    with contextlib.redirect_stdout(io.StringIO()):
        ch.record(result, learner="idle")
    doc = json.loads((tmp_path / "idle.json").read_text())
    entry = doc["sections"]["breakfix"]["challenge"]
    assert (entry["solved"], entry["solved_by"], entry["scenario"]) == (False, None, "combined")
    assert results.challenge_status(entry) == "unsolved"
    assert any(c["ok"] == "❌" for c in entry["conditions"])
    assert entry["hints_shown"] == 0 and "solution_seen_after_seconds" in entry


def test_a_refused_edit_prints_the_refusal(challenges, settled) -> None:
    """A ✏️ cell whose edit the API server refuses prints why and goes on (a notebook run
    to the end), and the object is still not there."""
    ch = challenges["combined"]
    redis = ch.broken_object("Deployment/redis")
    redis["spec"]["selector"]["matchLabels"] = {"app": "still-wrong"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert ch.apply(redis) is False
    assert "❌ apply refused: Deployment/redis rejected by the API server" in out.getvalue()
    assert not ch.check(quiet=True)


def test_doctor_says_where_the_refusal_came_from(challenges, settled) -> None:
    row = _row(challenges, "combined", "apply-rejected")
    assert "known from the last rejected apply" in row["problem"], row["problem"]
    assert "in the cluster now: no Deployment/redis" in row["evidence"], row["evidence"]


@pytest.mark.parametrize("name", NAMES)
def test_check_fails_while_broken(name: str, challenges, settled) -> None:
    result = challenges[name].check(quiet=True)
    assert not result and "❌" in result.summary, str(result)


@pytest.mark.parametrize("name", NAMES)
def test_check_passes_after_the_solution(name: str, challenges, fixed) -> None:
    result = challenges[name].check(timeout=150, quiet=True)
    assert result, str(result)
    assert "✅" in result.summary and "time limit" in result.summary


#: Who fixed each scenario in ``fixed`` (kubectl or a ✏️ cell: the learner; fix(): not).
def _expected_by(name: str) -> str:
    return "learner" if name in BY_KUBECTL | BY_CELL else "solution"


@pytest.mark.parametrize("name", NAMES)
def test_who_solved_it_is_recorded(name: str, challenges, fixed, tmp_path, monkeypatch) -> None:
    ch = challenges[name]
    result = ch.check(timeout=150, quiet=True)
    monkeypatch.setenv("LAB_RESULTS_DIR", str(tmp_path))
    entry = ch.record(result, learner="someone")
    assert entry["solved"] and entry["solved_by"] == _expected_by(name), entry
    saved = json.loads((tmp_path / "someone.json").read_text())["sections"]["breakfix"]
    assert results.challenge_status(saved["challenge"]) == _expected_by(name)
    if _expected_by(name) == "solution":
        assert "by the solution" in result.summary and "not recorded as solved by you" \
            in result.summary, result.summary


def test_a_started_with_solution_challenge_is_never_the_learners(bf_lab) -> None:
    """start(solution=True) — the notebook's apply_solution — marks the run before anything
    is fixed: whoever then fixes it, a pass is the solution's."""
    with contextlib.redirect_stdout(io.StringIO()):
        ch = breakfix.start("service-selector", lab=bf_lab, namespace="breakfix-with-solution",
                            small=True, wait=0, show=False, solution=True)
    try:
        _kubectl_patch(ch)  # as a learner would
        result = ch.check(timeout=150, quiet=True)
        assert result, str(result)
        assert ch.outcome(result)["solved_by"] == "solution"
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            ch.cleanup()


def test_doctor_drops_a_refusal_once_the_object_exists(challenges, fixed) -> None:
    """selector-mismatch was fixed with kubectl: labhelpers still remembers the refused
    apply, but the doctor checks the cluster and no longer reports it."""
    ch = challenges["selector-mismatch"]
    assert ch.lab.last_apply_error is not None  # remembered, and stale
    with contextlib.redirect_stdout(io.StringIO()):
        df = diagnose(ch.lab)
    assert "apply-rejected" not in set(df["rule"]), df[["rule", "object"]].to_string()


def test_doctor_finds_nothing_in_a_healthy_lab(healthy: labhelpers.Lab) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        df = diagnose(healthy)
    assert df.empty, df[["rule", "object", "evidence"]].to_string()
    assert "no problems found" in out.getvalue()


def test_doctor_rules_beyond_the_scenarios(bf_lab: labhelpers.Lab, challenges) -> None:
    """CrashLoopBackOff (with the log line), insufficient resources, a failing liveness
    probe, a ConfigMap that does not exist."""
    lab = bf_lab.in_namespace(doctor_cases.NAMESPACE)

    def found() -> pd.DataFrame | None:
        with contextlib.redirect_stdout(io.StringIO()):
            df = diagnose(lab)
        named = set(zip(df["rule"], df["object"], strict=True))
        return df if named >= doctor_cases.EXPECTED else None
    df = wait_for(found, 120, "the doctor's findings for the extra cases")
    rows = df.set_index(["rule"])[df["object"].isin([o for _, o in
                                                     doctor_cases.EXPECTED]).to_numpy()]
    assert "fatal: no config file" in rows.loc["crash-loop", "evidence"]
    assert "Insufficient cpu" in rows.loc["insufficient-resources", "evidence"]
    assert "Liveness probe failed" in rows.loc["liveness-failing", "evidence"]
    assert "missing-config" in rows.loc["config-error", "problem"]


def test_a_pod_whose_readiness_probe_gave_up_has_settled_before_the_fallback(bf_lab):
    """A started pod that is not Ready counts as settled (its symptom shown) once its
    readiness probe failed ``failureThreshold`` times, as the kubelet's own events say: not
    only after NOT_READY_AFTER, and never with fewer failures."""
    import datetime as dt

    from labhelpers.breakfix import catalog, namespace

    ns = "breakfix-readiness-rule"
    lab = bf_lab.in_namespace(ns)
    with contextlib.redirect_stdout(io.StringIO()):
        lab.apply([{"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "never-ready", "namespace": ns},
                    "spec": {"containers": [{
                        "name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"],
                        "readinessProbe": {"exec": {"command": ["sh", "-c", "exit 1"]},
                                           "periodSeconds": 1, "failureThreshold": 3}}]}}])
    seen: list[tuple[int, bool]] = []
    deadline = time.monotonic() + 60
    settled = False
    while not settled and time.monotonic() < deadline:
        pod = lab.core.read_namespaced_pod("never-ready", ns)
        events = lab.core.list_namespaced_event(ns).items
        now = dt.datetime.now(dt.UTC)
        failures = namespace._readiness_failures(pod, events)
        settled = namespace._pod_settled(pod, events, now)
        seen.append((failures, settled))
        time.sleep(0.2)
    assert settled, f"never settled: (failures, settled) seen {seen[-5:]}"
    (started,) = [cs.state.running.started_at for cs in pod.status.container_statuses]
    assert (now - started).total_seconds() < catalog.NOT_READY_AFTER, \
        "settled only by the fallback, not by the readiness rule"
    assert failures >= 3 and not pod.status.container_statuses[0].ready
    assert [f for f, s in seen if s and f < 3] == [], seen
