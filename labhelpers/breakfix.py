"""The break & fix challenge: deploy a broken variant of the lab into a namespace of its
own, show the learner what they would first meet, and check the fix on the live cluster.

The scenarios are ``manifests/broken/*`` (the lab with injected faults); each folder's
``scenario.yaml`` holds the symptom, hints, solution, the lab text's time limit and the
machine-checkable ``fixed_when`` conditions. ``check()`` looks only at the cluster, so it
does not matter whether the learner fixed it with kubectl, ``lab.apply`` or edited YAML.

Who fixed it is recorded too (``outcome()``/``record()``: ``solved_by`` "learner" or
"solution"): a challenge started with ``solution=True`` (the notebook's ``apply_solution``
parameter, for instructors and CI) or healed by ``fix()`` is never credited to a learner,
so an instructor's report cannot count a run that applied the answer as solved.

A namespace is never deleted or recreated here: a classroom learner may do neither (they
get ``lab-<user>-breakfix`` from the instructor). ``start()`` instead deletes what
labhelpers labelled there (the previous scenario) and waits until it is gone.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml
from kubernetes import client

import labhelpers
from labhelpers import actions, commands, manifests, ownership, tables
from labhelpers.apply import ApplyError, delete_one, request
from labhelpers.cluster import Target
from labhelpers.lab import CLEANUP_KINDS, Lab
from labhelpers.manifests.ordering import apply_order, delete_order
from labhelpers.podstatus import is_ready

BROKEN_DIR = manifests.MANIFESTS_DIR / "broken"
LAB_DIR = manifests.MANIFESTS_DIR / "lab"
#: Waiting reasons that are a symptom in themselves (the pod will not get further alone).
STUCK = {"ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "CrashLoopBackOff",
         "InvalidImageName", "CreateContainerError"}
WORKLOADS = ("Deployment", "StatefulSet")
NOT_READY_AFTER = 20.0  # s a started container may take to become Ready before it counts
STABLE_FOR = 7.0  # s the namespace must look the same (> one readiness period, 5 s)
#: What check() compares with the broken deploy to tell "nothing was changed": these kinds'
#: objects by uid, with their generation (workloads: spec only, not status) or
#: resourceVersion (the rest have no status that moves by itself). Not PVCs: binding moves
#: them; the one fix that involves a claim deletes its StatefulSet too.
FINGERPRINT_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"),
                     ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"))
#: Made in every namespace by the cluster itself, whenever it gets to it.
NOT_FINGERPRINTED = {"ConfigMap/kube-root-ca.crt"}
SOLVED_BY = ("learner", "solution")


# ------------------------------------------------------------------ the scenario files
def _meta(name: str) -> dict[str, Any]:
    path = BROKEN_DIR / name / "scenario.yaml"
    if not path.is_file():
        raise ValueError(f"no break & fix scenario {name!r}; scenarios: "
                         + ", ".join(names()))
    return yaml.safe_load(path.read_text())


def names() -> list[str]:
    return sorted(p.parent.name for p in BROKEN_DIR.glob("*/scenario.yaml"))


def scenarios() -> pd.DataFrame:
    """Every scenario: name, title, difficulty, time limit, the symptom a learner sees."""
    rows = []
    for name in names():
        m = _meta(name)
        rows.append({"name": name, "title": m["title"], "difficulty": m["difficulty"],
                     "time_limit_minutes": m.get("time_limit_minutes"),
                     "symptom": m["symptom"]})
    df = pd.DataFrame(rows, columns=["name", "title", "difficulty", "time_limit_minutes",
                                     "symptom"])
    order = {"easy": 0, "medium": 1, "hard": 2}
    df = df.sort_values(["difficulty", "name"], key=lambda s: s.map(order)
                        if s.name == "difficulty" else s).reset_index(drop=True)
    df.attrs["kubectl"] = "ls manifests/broken"
    return df


def minimal(objects: list[dict[str, Any]], workloads: list[str]) -> list[dict[str, Any]]:
    """Only the workloads a fault needs, one replica, small CPU requests: several scenarios
    then fit side by side on a small machine (config and Services are all kept, so host
    names still resolve)."""
    out = []
    for obj in objects:
        if obj["kind"] in WORKLOADS and obj["metadata"]["name"] not in workloads:
            continue
        obj = copy.deepcopy(obj)
        if obj["kind"] in WORKLOADS:
            obj["spec"]["replicas"] = 1
            for c in obj["spec"]["template"]["spec"].get("containers") or []:
                c.setdefault("resources", {}).setdefault("requests", {})["cpu"] = "10m"
        out.append(obj)
    return out


# ------------------------------------------------------------------ what the learner sees
@dataclass
class Symptoms:
    """The first look: pods, warning events, and a health call that fails."""

    pods: pd.DataFrame
    events: pd.DataFrame
    call: str
    apply_errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"❌ apply refused: {e}" for e in self.apply_errors]
        parts.append("$ " + self.pods.attrs.get("kubectl", "kubectl get pods"))
        parts.append(self.pods.to_string(index=False) if not self.pods.empty else "No pods.")
        parts.append("$ " + self.events.attrs.get("kubectl", "kubectl get events"))
        ev = self.events[["reason", "object", "count", "message"]].tail(8)
        parts.append(ev.to_string(index=False, max_colwidth=110) if not ev.empty
                     else "No warning events.")
        if self.call:
            parts.append(self.call)
        return "\n".join(parts)

    def show(self) -> Symptoms:
        print(self)
        return self


@dataclass
class CheckResult:
    """``bool(result)`` is True when every condition of ``fixed_when`` holds."""

    passed: bool
    table: pd.DataFrame
    summary: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.summary + "\n" + self.table.to_string(index=False, max_colwidth=100)


class Challenge:
    """One started scenario in its own namespace (``.lab`` is a Lab over it)."""

    def __init__(self, name: str, lab: Lab, small: bool, apply_errors: list[ApplyError],
                 adopt: bool = False, since: dt.datetime | None = None,
                 solution: bool = False) -> None:
        self.name, self.lab, self.small, self.adopt = name, lab, small, adopt
        self.meta = _meta(name)
        #: True when this run may apply the solution (``start(solution=True)``, the
        #: notebook's ``apply_solution``) or did (``fix()``): a pass is then the solution's.
        self.solution_used = solution
        #: The namespace's objects right after the broken deploy (see check()).
        self.fingerprint: dict[str, str] | None = None
        self.apply_errors = apply_errors
        self.started = time.monotonic()
        #: Events before this moment belong to an earlier scenario in the same namespace
        #: (a learner cannot delete events), so symptoms() leaves them out.
        self.since = since
        self._hints_shown = 0
        #: When solution() was first shown (elapsed seconds), for the record: a pass after
        #: reading the solution is still the learner's, but an instructor may want to know.
        self.solution_seen_at: int | None = None

    def __repr__(self) -> str:
        return (f"<Challenge {self.name} ({self.meta['difficulty']}) ns={self.lab.namespace} "
                f"elapsed={_fmt(self.elapsed)} limit={self.time_limit_minutes} min>")

    # ---------------------------------------------------------------- timer
    @property
    def time_limit_minutes(self) -> int:
        return int(self.meta.get("time_limit_minutes") or 20)

    @property
    def elapsed(self) -> dt.timedelta:
        return dt.timedelta(seconds=round(time.monotonic() - self.started))

    @property
    def remaining(self) -> dt.timedelta:
        return max(dt.timedelta(0), dt.timedelta(minutes=self.time_limit_minutes)
                   - self.elapsed)

    # ---------------------------------------------------------------- look
    def wait_for_symptoms(self, timeout: float = 120) -> bool:
        """Until every pod is Ready or visibly stuck (False when ``timeout`` ran out)."""
        return _wait_settled(self.lab, timeout)

    def symptoms(self, show: bool = True) -> Symptoms:
        core, ns = self.lab.core, self.lab.namespace
        pods = tables.pods_table(core.list_namespaced_pod(ns).items, ns)
        events = tables.events_table(_recent(core.list_namespaced_event(ns).items,
                                             self.since), ns, True)
        call = ""
        target = self.meta.get("symptom_call")
        if target:
            r = _http(self.lab, target["service"], target["path"])
            raw = actions.proxy_path(ns, target["service"], target["path"], None)
            call = f"$ {commands.raw_request(raw)}\n→ {r}"
        s = Symptoms(pods, events, call, [str(e) for e in self.apply_errors])
        return s.show() if show else s

    def hint(self) -> str:
        """The next hint (as the lab text's collapsible hints: one at a time)."""
        hints = self.meta["hints"]
        if self._hints_shown >= len(hints):
            text = f"No more hints ({len(hints)} shown). challenge.solution() shows the fix."
        else:
            self._hints_shown += 1
            text = f"💡 Hint {self._hints_shown}/{len(hints)}: {hints[self._hints_shown - 1]}"
        print(text)
        return text

    def steps(self) -> list[dict[str, Any]]:
        """The fix step by step: ``title``, ``fix`` (words) and ``kubectl`` (the exact
        commands, for this challenge's namespace). A scenario without ``steps`` in its
        scenario.yaml is one step: its ``solution`` and ``solution_kubectl``."""
        ns = self.lab.namespace
        raw = self.meta.get("steps") or [{"title": self.meta["title"],
                                          "fix": self.meta["solution"],
                                          "kubectl": self.meta.get("solution_kubectl") or []}]
        return [{"title": st["title"], "fix": st["fix"],
                 "kubectl": [c.replace("{namespace}", ns) for c in st.get("kubectl") or []]}
                for st in raw]

    def solution(self, step: int | None = None) -> str:
        """The fix in words with the kubectl commands for it: every step, or step ``step``
        (1-based). The commands name files relative to the course's folder (the one with
        ``manifests/``): run them there."""
        steps = self.steps()
        if step is not None:
            if not 1 <= step <= len(steps):
                raise ValueError(f"{self.name} has steps 1..{len(steps)}, not {step}")
            chosen = [(step, steps[step - 1])]
        else:
            chosen = list(enumerate(steps, 1))
        blocks = []
        for n, st in chosen:
            head = f"Step {n}/{len(steps)}: {st['title']}\n" if len(steps) > 1 else ""
            cmds = "\n".join(f"$ {c}" for c in st["kubectl"])
            blocks.append(f"{head}{st['fix']}" + (f"\nWith kubectl:\n{cmds}" if cmds else ""))
        text = "\n\n".join(blocks)
        if self.solution_seen_at is None:
            self.solution_seen_at = int(self.elapsed.total_seconds())
        print(text)
        return text

    # ---------------------------------------------------------------- act
    def lab_object(self, ref: str) -> dict[str, Any]:
        """The working lab's version of ``Kind/name`` (as this challenge deployed it)."""
        return self._object(LAB_DIR, ref)

    def broken_object(self, ref: str) -> dict[str, Any]:
        """``Kind/name`` as the broken manifests have it: a copy to edit and ``lab.apply``."""
        return self._object(BROKEN_DIR / self.name, ref)

    def _object(self, folder: Any, ref: str) -> dict[str, Any]:
        objs = manifests.load(folder)
        if self.small:
            objs = minimal(objs, self.meta.get("minimal_workloads") or [])
        for o in objs:
            if manifests.ref(o) == ref:
                return copy.deepcopy(o)
        raise KeyError(f"{ref} is not in {folder} (as this challenge deploys it)")

    def apply(self, obj: dict[str, Any]) -> bool:
        """Apply the learner's edited copy of a broken object (from :meth:`broken_object`).

        Returns whether it was applied. An object still equal to the broken manifest is not
        sent (running an unedited ✏️ cell changes nothing — and does not undo a fix made
        with kubectl); one the API server refuses prints the refusal instead of raising,
        so a notebook run to the end shows every step's state rather than stopping."""
        ref = manifests.ref(obj)
        try:
            unchanged = obj == self.broken_object(ref)
        except KeyError:
            unchanged = False
        if unchanged:
            print(f"✏️ {ref} is unchanged from the broken manifests, so nothing was sent (a "
                  "fix you made with kubectl stays as it is). To fix it here, change it at "
                  "the marked line and run the cell again.")
            return False
        try:
            self.lab.apply(obj, adopt=self.adopt)
        except ApplyError as exc:
            print(f"❌ apply refused: {exc}")
            return False
        print(f"applied your {ref} to namespace {self.lab.namespace}")
        return True

    def fix(self) -> list[str]:
        """Apply the solution (what a learner would do by hand; for demos and tests).

        From now on a passing check is the solution's, not the learner's."""
        self.solution_used = True
        done = []
        for step in self.meta.get("solution_steps") or []:
            (verb, arg), = step.items()
            if verb == "apply_lab":
                self.lab.apply(self.lab_object(arg), adopt=self.adopt)
            elif verb == "delete":
                _delete_and_wait(self.lab, arg)
            elif verb == "restart":
                self.lab.restart(arg, wait=False)
            else:
                raise ValueError(f"{self.name}: unknown solution step {verb!r}")
            done.append(f"{verb} {arg}")
        return done

    def check(self, timeout: float = 0, quiet: bool = False) -> CheckResult:
        """Every ``fixed_when`` condition on the live cluster (polls up to ``timeout`` s).

        It answers at once, without waiting, when nothing in the namespace has changed
        since the broken deploy (same objects, same specs): no scenario heals by itself,
        so there is nothing to wait for."""
        deadline = time.monotonic() + timeout
        untouched = False
        while True:
            rows = [_condition(self.lab, c) for c in self.meta["fixed_when"]]
            passed = all(r["ok"] == "✅" for r in rows)
            if passed or time.monotonic() >= deadline:
                break
            if self.fingerprint is not None and _fingerprint(self.lab) == self.fingerprint:
                untouched = True  # every scenario stays broken until something changes
                break
            time.sleep(1)
        df = pd.DataFrame(rows, columns=["condition", "ok", "evidence"])
        limit = f"time limit {self.time_limit_minutes} min"
        if passed and self.solution_used:
            summary = (f"✅ {self.name} fixed after {_fmt(self.elapsed)} ({limit}) — by the "
                       "solution (apply_solution / fix()), so it is not recorded as solved "
                       "by you")
        elif passed:
            over = self.elapsed > dt.timedelta(minutes=self.time_limit_minutes)
            summary = (f"✅ {self.name} fixed after {_fmt(self.elapsed)} ({limit}"
                       f"{', over it' if over else ''})")
        else:
            failing = "".join(f"\n  {r['condition']}: {r['evidence']}" for r in rows
                              if r["ok"] != "✅")
            summary = (f"❌ {self.name} not fixed yet ({_fmt(self.elapsed)} of "
                       f"{self.time_limit_minutes} min)")
            if untouched:
                summary += (f": nothing in namespace {self.lab.namespace} has changed since "
                            "the broken deploy — change an object (a ✏️ cell or kubectl) first")
            summary += f". Failing:{failing}"
        result = CheckResult(passed, df, summary)
        if not quiet:
            print(summary)
        return result

    def outcome(self, result: CheckResult) -> dict[str, Any]:
        """What :meth:`record` stores: solved or not, by whom, how long, the conditions."""
        solved_by = (SOLVED_BY[1] if self.solution_used else SOLVED_BY[0]) if result else None
        seconds = int(self.elapsed.total_seconds())
        return {"scenario": self.name, "solved": bool(result), "solved_by": solved_by,
                "elapsed_seconds": seconds, "time_limit_minutes": self.time_limit_minutes,
                "within_time_limit": bool(result) and seconds <= 60 * self.time_limit_minutes,
                "hints_shown": self._hints_shown,
                "solution_seen_after_seconds": self.solution_seen_at,
                "summary": result.summary,
                "conditions": result.table.to_dict("records")}

    def record(self, result: CheckResult, learner: str | None = None,
               section: str = "breakfix") -> dict[str, Any]:
        """Store :meth:`outcome` as ``sections[section]["challenge"]`` of the learner's
        results file (``labhelpers.results``); returns it."""
        from labhelpers import results

        data = self.outcome(result)
        results.record(section, "challenge", data, learner=learner)
        return data

    def doctor(self) -> pd.DataFrame:
        from labhelpers.doctor import diagnose

        return diagnose(self.lab)

    def cleanup(self) -> dict[str, list[str]]:
        """Delete what the scenario made. A namespace labhelpers created goes whole; one it
        uses without having made it (the classroom's ``lab-<user>-breakfix``, or
        ``adopt=True``) stays, with everything in it that labhelpers did not label."""
        if self.lab._is_namespace_ours():
            return self.lab.cleanup()
        deleted = _clear(self.lab, wait=False)
        left = [f"Namespace/{self.lab.namespace} (not created by labhelpers)"]
        print("deleted: " + (", ".join(deleted) or "nothing"))
        print("left: " + ", ".join(left))
        return {"deleted": deleted, "left": left}


# ------------------------------------------------------------------ start
def default_namespace(target: Target, name: str) -> str:
    """``<service-account namespace>-breakfix`` in a learner's pod (the one namespace for
    break & fix the classroom gives them), else ``breakfix-<name>``."""
    if target.kind == "in-cluster" and target.service_account_namespace:
        return target.service_account_namespace + ownership.BREAKFIX_SUFFIX
    return f"breakfix-{name}"


def start(name: str, cluster: str = "auto", namespace: str | None = None, *,
          lab: Lab | None = None, small: bool = False, wait: float = 120,
          show: bool = True, adopt: bool = False, solution: bool = False) -> Challenge:
    """Deploy scenario ``name`` and show its symptoms once they have appeared (or after
    ``wait`` seconds).

    ``namespace``: default ``breakfix-<name>``, or ``<sa-namespace>-breakfix`` inside a
    classroom learner's pod. An existing namespace is kept: what labhelpers labelled there
    (an earlier scenario) is deleted first, the rest stays. It must be one labhelpers made,
    the pod's adopted one, or ``adopt=True``.
    ``lab``: reuse its connection. ``small``: only the workloads the fault needs, one
    replica each (several scenarios side by side on a small machine).
    ``solution``: this run may apply the solution (the notebook's ``apply_solution``): a
    pass is then recorded as ``solved_by: "solution"``, never as the learner's.
    """
    meta = _meta(name)
    if lab is None:
        lab = labhelpers.connect(namespace, cluster, show_kubectl=False)
    ns = namespace or default_namespace(lab.target, name)
    if lab.namespace != ns:
        lab = lab.in_namespace(ns)
    since = _reuse_namespace(lab, adopt)
    objs = manifests.load(BROKEN_DIR / name)
    if small:
        objs = minimal(objs, meta.get("minimal_workloads") or [])
    errors: list[ApplyError] = []
    for obj in apply_order(objs):
        try:
            lab.apply(obj, adopt=adopt)
        except ApplyError as exc:
            errors.append(exc)
    lab.last_apply_error = errors[-1] if errors else None  # what the doctor reads
    print(f"🔨 {name}: {meta['title']} ({meta['difficulty']}, time limit "
          f"{meta.get('time_limit_minutes', 20)} min) in namespace {ns}")
    challenge = Challenge(name, lab, small, errors, adopt, since, solution)
    if wait:
        challenge.wait_for_symptoms(wait)
    challenge.fingerprint = _fingerprint(lab)
    if show:
        challenge.symptoms()
    return challenge


def _reuse_namespace(lab: Lab, adopt: bool) -> dt.datetime | None:
    """Make an existing namespace ready for a scenario without deleting it; returns when
    it was cleared (None: no namespace yet, apply creates it)."""
    ns = lab._namespace_object()
    if ns is None:
        return None
    if not (ownership.is_ours(ns.metadata.labels) or adopt or lab.adopted()):
        raise ownership.NotOurs(
            f"namespace {lab.namespace} exists and labhelpers did not create it; pass "
            "adopt=True to start the challenge there anyway (only objects labhelpers "
            "labelled are deleted), or namespace= to start it elsewhere")
    _clear(lab)
    # Event times have whole seconds: an event of the cleared scenario's last second stays.
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _labelled(lab: Lab) -> list[dict[str, Any]]:
    """Every object of the lab's kinds in the namespace that carries our labels."""
    found = []
    for api_version, kind in CLEANUP_KINDS:
        path = lab.resources.path({"apiVersion": api_version, "kind": kind,
                                   "metadata": {"namespace": lab.namespace}}, with_name=False)
        code, _, raw = request(lab.api, "GET", path,
                               query=[("labelSelector", ownership.SELECTOR)])
        if code >= 400:
            raise client.ApiException(status=code, reason=raw.decode(errors="replace"))
        for item in json.loads(raw)["items"]:
            item["apiVersion"], item["kind"] = api_version, kind
            found.append(item)
    return found


def _ref(api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace}}


def _clear(lab: Lab, wait: bool = True, timeout: float = 90) -> list[str]:
    """Delete what labhelpers labelled here, plus the claims of its StatefulSets (their
    controller makes them unlabelled, and a leftover claim would hand the next scenario's
    database the old volume); with ``wait``, until they and their pods are gone, so the
    next scenario's pods start alone. Returns the Kind/name deleted."""
    ns = lab.namespace
    items = _labelled(lab)
    refs = [_ref(o["apiVersion"], o["kind"], o["metadata"]["name"], ns) for o in items]
    uids = {o["metadata"]["uid"] for o in items if o["kind"] in WORKLOADS}
    named = {r["metadata"]["name"] for r in refs if r["kind"] == "PersistentVolumeClaim"}
    claims = [p.metadata.name for p in lab.core.list_namespaced_persistent_volume_claim(ns).items
              if p.metadata.name not in named]
    refs += [_ref("v1", "PersistentVolumeClaim", name, ns) for name in ownership.template_claims(
        [o for o in items if o["kind"] == "StatefulSet"], claims)]
    owners = uids | {rs.metadata.uid for rs in lab.apps.list_namespaced_replica_set(ns).items
                     if _owned_by(rs, uids)}
    pods = {p.metadata.uid for p in lab.core.list_namespaced_pod(ns).items
            if _owned_by(p, owners)}
    deleted = [manifests.ref(r) for r in delete_order(refs) if delete_one(lab.resources, r)]
    if wait:
        _wait_gone(lab, refs, pods, timeout)
    return deleted


def _fingerprint(lab: Lab) -> dict[str, str]:
    """``Kind/name`` → uid and generation (workloads) or resourceVersion (the rest) of
    every object of :data:`FINGERPRINT_KINDS` in the namespace, labelled or not (an object
    a learner made with kubectl counts as a change too)."""
    out = {}
    for api_version, kind in FINGERPRINT_KINDS:
        path = lab.resources.path({"apiVersion": api_version, "kind": kind,
                                   "metadata": {"namespace": lab.namespace}}, with_name=False)
        code, _, raw = request(lab.api, "GET", path)
        if code >= 400:
            raise client.ApiException(status=code, reason=raw.decode(errors="replace"))
        for item in json.loads(raw)["items"]:
            meta = item["metadata"]
            if (f"{kind}/{meta['name']}" in NOT_FINGERPRINTED
                    or item.get("type") == "kubernetes.io/service-account-token"):
                continue
            version = (meta.get("generation") if kind in WORKLOADS
                       else meta.get("resourceVersion"))
            out[f"{kind}/{meta['name']}"] = f"{meta.get('uid')}@{version}"
    return out


def _owned_by(obj: Any, uids: set[str]) -> bool:
    return any(ref.uid in uids for ref in obj.metadata.owner_references or [])


def _wait_gone(lab: Lab, refs: list[dict[str, Any]], pods: set[str], timeout: float
               ) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left = [manifests.ref(r) for r in refs
                if request(lab.api, "GET", lab.resources.path(r))[0] != 404]
        left += [f"Pod/{p.metadata.name}" for p in
                 lab.core.list_namespaced_pod(lab.namespace).items if p.metadata.uid in pods]
        if not left:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"namespace {lab.namespace}: {', '.join(left)} still there "
                               f"{timeout:.0f}s after delete")
        time.sleep(0.5)


def _recent(events: list[Any], since: dt.datetime | None) -> list[Any]:
    if since is None:
        return events
    return [e for e in events if (e.last_timestamp or e.event_time or e.first_timestamp
                                  or e.metadata.creation_timestamp) >= since]


def _pod_settled(pod: Any, events: list[Any], now: dt.datetime) -> bool:
    """True when the pod shows what it is going to show: Ready, visibly stuck, or started
    and still not Ready after :data:`NOT_READY_AFTER` seconds."""
    if is_ready(pod):
        return True
    if pod.status.phase == "Pending" and not pod.spec.node_name:
        return any(e.reason == "FailedScheduling" and e.involved_object.name ==
                   pod.metadata.name and e.involved_object.uid in (None, pod.metadata.uid)
                   for e in events)  # the uid: postgres-0 of an earlier scenario
    statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses
                                                             or [])
    for cs in statuses:
        waiting = cs.state.waiting if cs.state else None
        if cs.restart_count or (waiting and waiting.reason in STUCK):
            return True
    running = [cs.state.running for cs in pod.status.container_statuses or []
               if cs.state and cs.state.running]
    started = all(cs.started for cs in pod.status.container_statuses or [])
    return bool(running) and started and all(
        (now - r.started_at).total_seconds() >= NOT_READY_AFTER for r in running
        if r.started_at)


def _wait_settled(lab: Lab, timeout: float) -> bool:
    """Until every pod has settled, and stayed so for :data:`STABLE_FOR` seconds (a pod
    waiting for its database becomes Ready one probe period after the database)."""
    deadline = time.monotonic() + timeout
    since: float | None = None
    while time.monotonic() < deadline:
        pods = [p for p in lab.core.list_namespaced_pod(lab.namespace).items
                if not p.metadata.deletion_timestamp]
        events = lab.core.list_namespaced_event(lab.namespace).items
        now = dt.datetime.now(dt.UTC)
        if pods and all(_pod_settled(p, events, now) for p in pods):
            since = since or time.monotonic()
            if time.monotonic() - since >= STABLE_FOR:
                return True
        else:
            since = None
        time.sleep(1)
    return False


def _delete_and_wait(lab: Lab, ref: str, timeout: float = 60) -> None:
    kind, _, name = ref.partition("/")
    version = "apps/v1" if kind in WORKLOADS else "v1"
    obj = {"apiVersion": version, "kind": kind,
           "metadata": {"name": name, "namespace": lab.namespace}}
    delete_one(lab.resources, obj)
    read = _reader(lab, kind)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read(name, lab.namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.5)
    raise TimeoutError(f"{ref} still there {timeout:.0f}s after delete")


def _reader(lab: Lab, kind: str) -> Any:
    return {"Deployment": lab.apps.read_namespaced_deployment,
            "StatefulSet": lab.apps.read_namespaced_stateful_set,
            "Service": lab.core.read_namespaced_service,
            "ConfigMap": lab.core.read_namespaced_config_map,
            "PersistentVolumeClaim": lab.core.read_namespaced_persistent_volume_claim}[kind]


# ------------------------------------------------------------------ conditions
def _http(lab: Lab, service: str, path: str) -> str:
    try:
        r = actions.http(lab.api, lab.namespace, service, path, timeout=10)
    except Exception as exc:  # the failure is the answer
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return f"HTTP {r.status} {_body(r.text, 160)}"


def _condition(lab: Lab, cond: dict[str, Any]) -> dict[str, str]:
    (what, arg), = cond.items()
    try:
        ok, evidence = CONDITIONS[what](lab, arg)
    except client.ApiException as exc:
        ok, evidence = False, f"{exc.status} {exc.reason}" + (
            " (not there: rejected at apply, or deleted?)" if exc.status == 404 else "")
    label = (f"{what} {arg}" if isinstance(arg, str) else
             f"{what} {arg['service']}{arg['path']}")
    return {"condition": label, "ok": "✅" if ok else "❌", "evidence": evidence}


def _ready(lab: Lab, ref: str) -> tuple[bool, str]:
    kind, _, name = ref.partition("/")
    obj = _reader(lab, kind)(name, lab.namespace)
    want, st = obj.spec.replicas or 0, obj.status
    ready, updated = st.ready_replicas or 0, st.updated_replicas or 0
    current = (st.observed_generation or 0) >= (obj.metadata.generation or 0)
    ok = current and ready == want and updated == want and (st.replicas or 0) == want
    return ok, f"{ready}/{want} ready, {updated} updated, {st.replicas or 0} pods"


def _endpoints(lab: Lab, ref: str) -> tuple[bool, str]:
    name = ref.partition("/")[2]
    ready, not_ready = tables.endpoint_addresses(
        lab.core.read_namespaced_endpoints(name, lab.namespace))
    return bool(ready), f"ready: {', '.join(ready) or '<none>'}" + (
        f"; not ready: {', '.join(not_ready)}" if not_ready else "")


def _bound(lab: Lab, ref: str) -> tuple[bool, str]:
    pvc = lab.core.read_namespaced_persistent_volume_claim(ref.partition("/")[2],
                                                           lab.namespace)
    return pvc.status.phase == "Bound", f"{pvc.status.phase}, class " \
        f"{pvc.spec.storage_class_name}"


def _http_ok(lab: Lab, arg: dict[str, Any]) -> tuple[bool, str]:
    r = actions.http(lab.api, lab.namespace, arg["service"], arg["path"], timeout=10)
    ok = r.status == arg["status"] if "status" in arg else 200 <= r.status < 300
    if ok and arg.get("json"):
        try:
            body = r.json
        except ValueError:
            body = {}
        ok = all(body.get(k) == v for k, v in arg["json"].items())
    return ok, f"HTTP {r.status} {_body(r.text)}"


def _body(text: str, limit: int = 120) -> str:
    """A response body for a table cell: an API server's ``Status`` by its message (the
    503 of a Service without endpoints is the API server speaking, not the app)."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status" and doc.get("message"):
        return f"(API server) {doc['message']}"[:limit]
    return text.strip()[:limit]


CONDITIONS = {"ready": _ready, "endpoints": _endpoints, "bound": _bound, "http": _http_ok}


def _fmt(delta: dt.timedelta) -> str:
    s = int(delta.total_seconds())
    return f"{s // 60}m{s % 60:02d}s"


__all__ = ["Challenge", "CheckResult", "Symptoms", "default_namespace", "names", "scenarios",
           "start"]
