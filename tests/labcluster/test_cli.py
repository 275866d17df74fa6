"""`labcluster` on the command line: --home before or after the command means the same."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from labcluster import cli


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(argv)
    return rc, out.getvalue()


@pytest.mark.parametrize("argv", [["--home", "{home}", "status"], ["status", "--home", "{home}"],
                                  ["down", "--home", "{home}"]])
def test_home_before_or_after_the_command(tmp_path: Path, argv: list[str]) -> None:
    home = tmp_path / "elsewhere"
    rc, out = run([a.replace("{home}", str(home)) for a in argv])
    if "down" in argv:
        assert (rc, out) == (0, "labcluster was not running\n")
    else:
        assert rc == 3 and f"state dir {home}" in out, out
    assert not home.exists(), "asking about a cluster creates nothing"


def test_an_unknown_option_is_refused_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["down", "--homes", "/x"])
    assert exc.value.code == 2 and "unrecognized arguments: --homes" in capsys.readouterr().err
