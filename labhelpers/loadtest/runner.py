"""``run()``: check the target and the bounds, reach the target, run the generator, and
turn its record into a ``LoadResult``.

The generator runs in a subprocess (``python generator.py CONFIG``), not in the notebook's
process: the kernel already runs an event loop, the generator's CPU use must be its own to
be meaningful, and the in-cluster pod runs the very same file the very same way.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from labhelpers.loadtest import generator, guard, incluster
from labhelpers.loadtest import target as _target
from labhelpers.loadtest.result import LoadResult

#: A closed run given neither requests nor duration sends this many (hey's -n is 200).
DEFAULT_REQUESTS = 1000
#: A closed run given only ``requests`` stops anyway after this long.
DEFAULT_TIME_LIMIT_S = 120.0


class LoadTestWarning(UserWarning):
    """Something about a run that makes its numbers less trustworthy (e.g. the generator
    saturated its CPU core, or requests failed)."""


def run(lab: Any = None, target: str = "ecommerce-backend", path: str = "/api/products",
        port: int | str | None = None, requests: int | None = None, concurrency: int = 50,
        rate: float | None = None, duration: float | None = None, *,
        mode: str = "auto", paths: Sequence[str] | None = None, method: str = "GET",
        headers: dict[str, str] | None = None, header: str | None = "X-Cache",
        timeout: float = 10.0, time_limit: float | None = None, allow_any: bool = False,
        name: str | None = None, image: str | None = None,
        verify_tls: bool = True, ca_file: str | None = None,
        show_kubectl: bool | None = None) -> LoadResult:
    """Load-test a Service of the lab (or a loopback URL) and return every request's result.

    - closed model (``rate=None``, like ``hey -n requests -c concurrency``): stops after
      ``requests`` (default 1000) or ``duration`` seconds, whichever comes first.
    - open model (``rate=R`` req/s, like wrk2): needs ``duration`` or ``requests``;
      latency counts from each request's intended send time (coordinated omission).
    - ``target``: a Service name in ``lab``'s namespace (``port``: number or name, default
      its first) or an ``http://`` / ``https://`` URL (loopback or a lab Service's name/IP,
      unless ``allow_any=True``; HTTPS is verified against the system's CAs or
      ``ca_file``, or not at all with ``verify_tls=False`` for a self-signed lab
      certificate). ``mode``: auto | direct | port-forward | in-cluster (see
      ``labhelpers.loadtest.target``). ``paths``: several paths, used in turn (e.g.
      distinct cache keys). ``header``: a response header recorded per request
      (``X-Cache`` → ``result.by_header()``).
    - bounded: ``time_limit`` (default ``duration`` + ``timeout`` + 1, or 120 s for a
      count-only closed run) is a hard stop; sizes above ``guard.MAX_*`` are refused.
    """
    if mode not in target_modes():
        raise ValueError(f"mode must be one of {', '.join(target_modes())}; got {mode!r}")
    closed = rate is None
    if closed and requests is None and duration is None:
        requests = DEFAULT_REQUESTS
    guard.check_bounds(requests, duration, concurrency, rate, timeout)
    deadline = _deadline(requests, rate, duration, timeout, time_limit)
    show = lab.show_kubectl if show_kubectl is None and lab is not None else bool(show_kubectl)
    path_list = list(paths) if paths else [path]
    if any(not p.startswith("/") for p in path_list):
        raise ValueError("paths must start with '/'")
    cfg: dict[str, Any] = {"method": method, "headers": headers or {}, "header": header,
                           "concurrency": concurrency, "rate": rate, "requests": requests,
                           "duration": duration, "timeout": timeout, "deadline": deadline}
    if target.startswith("https://"):
        cfg.update(verify_tls=verify_tls, ca_file=ca_file)

    if "://" in target:  # a URL (parse_url refuses schemes other than http/https)
        host, _ = _target.parse_url(target)
        guard.check_host(host, _target.lab_hosts(lab) if lab is not None else (), allow_any)
        base = target.rstrip("/") if paths else target
        cfg["urls"] = [base + p for p in path_list] if paths else [target]
        reach = _target.Reach(target, "url", target)
    else:
        if lab is None:
            raise ValueError("a Service target needs the lab: run(lab, 'ecommerce-backend')")
        sp = _target.service_port(lab, target, port)
        if mode == "in-cluster":
            cfg["urls"] = [f"http://{sp.dns}:{sp.port}{p}" for p in path_list]
            record, _pod = incluster.run_in_cluster(lab, cfg, image, show)
            return _finish(record, cfg, name or f"{target} (in-cluster)", "in-cluster")
        reach = _target.reach_service(lab, sp, mode)
        cfg["urls"] = [reach.base + p for p in path_list]
    try:
        if show:
            print(f"$ {_hey_for(cfg)}   # the same load with hey ({reach.description})")
        record = run_local(cfg)
    finally:
        reach.close()
    return _finish(record, cfg, name or _default_name(target, cfg), reach.mode)


def target_modes() -> tuple[str, ...]:
    return _target.MODES


def run_local(cfg: dict[str, Any]) -> dict[str, Any]:
    """The generator in a subprocess of this interpreter; its record from stdout."""
    proc = subprocess.run([sys.executable, generator.__file__, json.dumps(cfg)],
                          capture_output=True, text=True, timeout=float(cfg["deadline"]) + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def _finish(record: dict[str, Any], cfg: dict[str, Any], name: str, mode: str
            ) -> LoadResult:
    result = LoadResult.from_record(record, name, cfg["urls"][0], mode)
    for text in result.warnings:
        # One line that names the run, not a frame: from a notebook the first frame outside
        # labhelpers may be IPython's display machinery, whose path meant nothing to a
        # learner. The result's table shows the same warnings.
        warnings.warn_explicit(f"load test {name!r}: {text}", LoadTestWarning,
                               filename="labhelpers.loadtest", lineno=0,
                               module="labhelpers.loadtest")
    return result


def _deadline(requests: int | None, rate: float | None, duration: float | None,
              timeout: float, time_limit: float | None) -> float:
    if time_limit is not None:
        if not 0 < time_limit <= guard.MAX_DURATION_S + 120:
            raise ValueError(f"time_limit must be in (0, {guard.MAX_DURATION_S + 120:g}] s")
        return float(time_limit)
    if duration is not None:
        return duration + timeout + 1
    if rate is not None and requests is not None:
        return min(requests / rate + timeout + 1, guard.MAX_DURATION_S + 120)
    return DEFAULT_TIME_LIMIT_S


def _default_name(target: str, cfg: dict[str, Any]) -> str:
    what = target if not target.startswith("http") else target.split("/", 3)[2]
    if cfg["rate"]:
        return f"{what} @{cfg['rate']:g}/s"
    return f"{what} c={cfg['concurrency']}"


def _hey_for(cfg: dict[str, Any]) -> str:
    parts = ["hey"]
    if cfg["rate"]:
        dur = cfg["duration"] or (cfg["requests"] / cfg["rate"])
        parts += ["-z", f"{math.ceil(dur)}s", "-c", str(cfg["concurrency"]),
                  "-q", f"{cfg['rate'] / cfg['concurrency']:g}"]
    elif cfg["duration"]:
        parts += ["-z", f"{math.ceil(cfg['duration'])}s", "-c", str(cfg["concurrency"])]
    else:
        parts += ["-n", str(cfg["requests"]), "-c", str(cfg["concurrency"])]
    if cfg["method"] != "GET":
        parts += ["-m", cfg["method"]]
    return " ".join(parts + [cfg["urls"][0]])
