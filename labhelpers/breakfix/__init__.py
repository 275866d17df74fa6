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

The package, bottom up: ``catalog`` (the scenario files), ``namespace`` (clear, fingerprint,
settle), ``conditions`` (``fixed_when``, on the live cluster), ``challenge`` (``Challenge``
and ``start()``). Above ``lab``, ``manifests`` and ``doctor``; nothing below imports it.
"""

from __future__ import annotations

from labhelpers.breakfix.catalog import BROKEN_DIR, LAB_DIR, _meta, minimal, names, scenarios
from labhelpers.breakfix.challenge import Challenge, CheckResult, Symptoms, default_namespace, start

__all__ = ["BROKEN_DIR", "LAB_DIR", "Challenge", "CheckResult", "Symptoms", "_meta",
           "default_namespace", "minimal", "names", "scenarios", "start"]
