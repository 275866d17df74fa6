"""Pod networking for plain processes: own IP for listening sockets, cluster DNS for names.

Two implementations of the same contract (see README "Network shim"):

- `labnet.so` (LD_PRELOAD, C, compiled on first use): works for every dynamically linked
  program — psql, nginx, curl, redis-server, Python.
- `pyhook/sitecustomize.py` (PYTHONPATH): patches `socket` in Python processes only; the
  fallback where no C compiler exists (Binder may lack gcc). Non-Python images then rely
  on per-image config (postgres `listen_addresses`, redis `--bind`, nginx upstream names
  rewritten to IPs by the nginx handler).

`shim_env()` is the one entry point a handler needs: the variables that make a process
see its pod's network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from labcluster.node.ports import SHIM_ENV as SHIM_PORTS_ENV
from labcluster.node.ports import node_ports

SOURCE = Path(__file__).with_name("labnet.c")
# What the shims read. Programs that reset their workers' environment (nginx keeps only
# TZ) must be told to keep these (nginx's `env` directive), or the workers lose the pod's
# network view: no pod IP, no Service DNAT, no NetworkPolicy.
SHIM_VARS = ("LABCLUSTER_POD_IP", "LABCLUSTER_HOSTS", "LABCLUSTER_SERVICES",
             "LABCLUSTER_NETPOL", "LABCLUSTER_SEARCH", "LABCLUSTER_HOSTNAME",
             SHIM_PORTS_ENV, "LABCLUSTER_SHIM")
PYHOOK_DIR = Path(__file__).with_name("pyhook")

_lock = threading.Lock()
_built: dict[tuple[Path, Path], Path | None] = {}


class ShimBuildError(RuntimeError):
    pass


def default_cache_dir() -> Path:
    """A per-user cache that other users can read (PostgreSQL runs unprivileged).

    ~/.cache would do for us, but a home dir is often 0700 and the dynamic loader of a
    process that dropped root must be able to open the library, so it lives under the
    temp dir in a folder we own and only we can write.
    """
    base = os.environ.get("LABCLUSTER_CACHE")
    if base:
        return Path(base)
    return Path(tempfile.gettempdir()) / f"labcluster-{os.getuid()}"


def _safe_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o755)
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise ShimBuildError(f"{path} is not ours or is writable by others; refusing to use it")
    return path


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def compile_cached(source: Path, name: str, flags: list[str], libs: list[str],
                   error: type[Exception], cache_dir: Path | None = None,
                   suffix: str = "") -> Path | None:
    """Compile ``source`` once per source version into the cache as
    ``<name>-<hash><suffix>``; None when there is no C compiler. Shared by the shim and
    the C kube-proxy.

    The output name carries the source's hash, and the file is renamed into place, so
    concurrent builders (parallel test runs) never see a half-written file.
    """
    cache_dir = _safe_dir(cache_dir or default_cache_dir())
    key = (cache_dir, source)
    with _lock:
        if key in _built:
            return _built[key]
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
        target = cache_dir / f"{name}-{digest}{suffix}"
        if not target.exists():
            cc = compiler()
            if cc is None:
                _built[key] = None
                return None
            fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=f".{name}.tmp")
            os.close(fd)
            cmd = [cc, *flags, "-o", tmp, str(source), *libs]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                Path(tmp).unlink(missing_ok=True)
                raise error(f"{' '.join(cmd)} failed:\n{result.stderr}")
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        _built[key] = target
        return target


def build(cache_dir: Path | None = None) -> Path | None:
    """labnet.so, compiled once per source version; None when there is no C compiler."""
    return compile_cached(SOURCE, "labnet", ["-shared", "-fPIC", "-O2"], ["-ldl"],
                          ShimBuildError, cache_dir, suffix=".so")


def active_mode(mode: str = "auto") -> str:
    """Which shim a process will get for `mode`: "c", "python" or "off"."""
    mode = os.environ.get("LABCLUSTER_SHIM_MODE", mode)
    if mode in ("python", "off"):
        return mode
    try:
        return "c" if build() is not None else "python"
    except ShimBuildError:
        if mode == "c":
            raise
        return "python"


def shim_env(
    pod_ip: str,
    hosts_file: Path,
    search: Iterable[str],
    hostname: str = "",
    base_env: dict[str, str] | None = None,
    mode: str = "auto",
) -> dict[str, str]:
    """Variables that give a process its pod's network view.

    mode: "auto" (C library if it builds, else the Python hook), "c" (C library or an
    error), "python", "off".
    `LABCLUSTER_SHIM` in the result says which one is active, for `imageID`-style honesty.
    """
    env = dict(base_env or {})
    env["LABCLUSTER_POD_IP"] = pod_ip
    env["LABCLUSTER_HOSTS"] = str(hosts_file)
    env["LABCLUSTER_SERVICES"] = str(Path(hosts_file).with_name("services"))  # network.py
    env["LABCLUSTER_SERVICES_UDP"] = str(Path(hosts_file).with_name("services-udp"))
    env["LABCLUSTER_NETPOL"] = str(Path(hosts_file).with_name("netpol"))  # netpol.py
    env["LABCLUSTER_SEARCH"] = " ".join(search)
    if hostname:
        env["LABCLUSTER_HOSTNAME"] = hostname
    env.pop(SHIM_PORTS_ENV, None)
    env.update(node_ports().shim_env())  # privileged ports when not root (ports.py)
    mode = os.environ.get("LABCLUSTER_SHIM_MODE", mode)
    library = None
    if mode in ("auto", "c"):
        try:
            library = build()
        except ShimBuildError:
            if mode == "c":
                raise
    if mode == "c" and library is None:
        raise ShimBuildError("LABCLUSTER_SHIM_MODE=c but no C compiler (cc/gcc) was found")
    if library is not None:
        preload = env.get("LD_PRELOAD", "")
        env["LD_PRELOAD"] = f"{library} {preload}".strip()
        env["LABCLUSTER_SHIM"] = "labnet.so"
    elif mode != "off":
        python_path = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PYHOOK_DIR), python_path) if p)
        env["LABCLUSTER_SHIM"] = "python"
    else:
        env["LABCLUSTER_SHIM"] = "off"
    return env
