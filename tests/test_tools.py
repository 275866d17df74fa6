"""tests/tools.py: a tool the tests need fails the run where it must exist (CI, root) and
skips only on a developer's machine without it — checked with the real hook, through
pytest's own outcome exceptions."""

from __future__ import annotations

import pytest
from tools import missing_message, require_tool, tools_expected


@pytest.mark.parametrize(("env", "euid", "expected"), [
    ({"CI": "true"}, 1000, True),
    ({"CI": "1"}, 1000, True),
    ({}, 0, True),
    ({"CI": "false"}, 0, True),
    ({}, 1000, False),
    ({"CI": ""}, 1000, False),
    ({"CI": "0"}, 1000, False),
    ({"CI": "no"}, 1000, False),
])
def test_where_tools_are_expected(env: dict[str, str], euid: int, expected: bool) -> None:
    assert (tools_expected(env, euid) is not None) is expected


def test_a_missing_tool_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"hey is not installed, but CI='true' "
                       r"is set: the tests that need it must run here, not skip"):
        require_tool("hey", None, "apt-get install hey")


def test_a_missing_tool_skips_on_a_developer_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match=r"^wrk is not installed \(apt-get "
                       r"install wrk\)$"):
        require_tool("wrk", "", "apt-get install wrk")


def test_a_present_tool_neither_fails_nor_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require_tool("nginx", "/usr/sbin/nginx", "apt-get install nginx")


def test_the_message_names_the_install() -> None:
    assert missing_message("chromium", "apt-get install chromium", None) == (
        "chromium is not installed (apt-get install chromium)")
