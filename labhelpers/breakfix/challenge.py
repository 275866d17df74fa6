"""The challenge a learner works on (symptoms, hints, solution, check, record) and
``start()``, which deploys a scenario into its namespace."""

from __future__ import annotations

import copy
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

import labhelpers
from labhelpers import actions, commands, manifests, ownership, results, tables
from labhelpers.apply import ApplyError
from labhelpers.breakfix.catalog import BROKEN_DIR, LAB_DIR, SOLVED_BY, _meta, minimal
from labhelpers.breakfix.conditions import _condition, _fmt, _http
from labhelpers.breakfix.namespace import (
    _clear,
    _delete_and_wait,
    _fingerprint,
    _recent,
    _reuse_namespace,
    _wait_settled,
)
from labhelpers.cluster import Target
from labhelpers.doctor import diagnose
from labhelpers.lab import Lab
from labhelpers.manifests.ordering import apply_order


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
        data = self.outcome(result)
        results.record(section, "challenge", data, learner=learner)
        return data

    def doctor(self) -> pd.DataFrame:
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
