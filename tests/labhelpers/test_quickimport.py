"""The packages keep the slow optional ``rfc3987_syntax`` import out of every kernel and
the labcluster server (see labhelpers/_quickimport.py), without changing what validation
rejects. No cluster needed; each check runs in a fresh interpreter, since this test
process may already have imported the module for real."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
import {package}
import kubernetes, kubernetes_validate
print(sys.modules.get("rfc3987_syntax", "never imported"))
bad = {{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "x"}},
        "data": {{"k": 1}}}}
try:
    kubernetes_validate.validate(bad, "1.32", strict=True)
except kubernetes_validate.ValidationError as exc:
    print("rejected:", exc.message)
"""


@pytest.mark.parametrize("package", ["labhelpers", "labcluster"])
def test_import_skips_rfc3987_syntax_and_validation_still_rejects(package: str) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE.format(package=package)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "None"
    assert out[1] == "rejected: 1 is not of type 'string', 'null'"
