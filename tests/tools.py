"""System tools some tests use for real (kubectl, nginx, hey, wrk, chromium, hadolint …):
where they must exist a missing one FAILS the test, elsewhere it skips and says why.

A skip that nobody reads turns a broken install into a green run: scripts/test installs
these tools (scripts/_venv.sh, as root with apt-get; hadolint from the test extra), so on CI
(``CI`` set, as GitHub Actions and GitLab set it) and as root a missing tool is a broken
install. Only a developer's own machine without them gets a skip, with the install hint.

Use ``needs_tool("nginx", nginx_binary(), "apt-get install nginx")`` as a mark (module
``pytestmark`` or a test's decorator); tests/conftest.py's ``pytest_runtest_setup`` reads
it. Inside a test, ``require_tool`` does the same.
"""

from __future__ import annotations

import os

import pytest

MARK = "needs_tool"
#: kubectl is not in Debian's archive at a current version (bookworm has 1.20):
#: GitHub's ubuntu runners have it; elsewhere it comes from Kubernetes' own packages.
KUBECTL_INSTALL = "https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/"


def tools_expected(env: dict[str, str] | None = None, euid: int | None = None) -> str | None:
    """Why the tools must be installed here (CI set, or running as root), or None."""
    env = os.environ if env is None else env
    ci = env.get("CI", "").strip().lower()
    if ci not in ("", "0", "false", "no"):
        return f"CI={env['CI']!r} is set"
    if (os.geteuid() if euid is None else euid) == 0:
        return "this run is root (scripts/_venv.sh installs them with apt-get)"
    return None


def missing_message(name: str, install: str, why: str | None) -> str:
    if why:
        return (f"{name} is not installed, but {why}: the tests that need it must run "
                f"here, not skip ({install})")
    return f"{name} is not installed ({install})"


def needs_tool(name: str, found: object, install: str) -> pytest.MarkDecorator:
    """A mark: ``found`` is the tool's path (or any truthy value) when it is there."""
    return getattr(pytest.mark, MARK)(name=name, found=bool(found), install=install)


def require_tool(name: str, found: object, install: str) -> None:
    """In a test (or at module level): fail (CI/root) or skip (elsewhere) when ``found``
    is falsy."""
    if found:
        return
    why = tools_expected()
    if why:
        pytest.fail(missing_message(name, install, why), pytrace=False)
    pytest.skip(missing_message(name, install, None), allow_module_level=True)
