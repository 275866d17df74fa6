"""The project's promises to a newcomer: README's two commands exist and CI runs the test one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> dict[str, str]:
    rows = re.findall(r"^\| (run the [^|]+?) \| `([^`]+)` \|$", (ROOT / "README.md").read_text(), re.M)
    return dict(rows)


def test_readme_names_two_commands_that_exist():
    commands = readme_commands()
    assert set(commands) == {"run the lab on the embedded cluster", "run the tests (what CI runs)"}
    for command in commands.values():
        script = ROOT / command.split()[0]
        assert script.is_file(), f"README names {command!r} but {script} does not exist"
        assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_ci_runs_the_readme_test_command():
    test_command = readme_commands()["run the tests (what CI runs)"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci
