"""What a course notebook's first cells load lazily, imported ahead by the course runner.

The kubernetes client imports its API classes on first use: ``CoreV1Api`` and
``AppsV1Api``, which ``connect()`` makes, build about 280 pydantic models (0.6 s here), and
``Lab.loadtest`` imports the load-test package on its first call (0.4 s). ``import
labhelpers`` leaves them to first use, so a learner's kernel starts quickly. ``labcourse``
imports this module in the next notebook's kernel while the current notebook runs (its
warm-up), so the notebook's first cells do not pay for them.
"""

import kubernetes.client.api.apps_v1_api  # noqa: F401
import kubernetes.client.api.core_v1_api  # noqa: F401

import labhelpers.loadtest  # noqa: F401
