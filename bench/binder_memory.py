"""Does the whole course fit in mybinder.org's 2 GB, run as an unprivileged user?

What it runs, as ``nobody`` (Binder has no root), in a fresh temp HOME:
- a JupyterLab server (what Binder starts), and one Jupyter kernel that does what a
  learner's first notebook does: ``import labhelpers``, ``labhelpers.connect()`` (which
  starts labcluster: API server + node) and ``lab.deploy("all")`` (7 pods: postgres,
  redis, cart, 2 backends, 2 nginx frontends), then ``lab.check()``;
- meanwhile this process (root, so it may read every process's smaps) sums the memory of
  every process of that run: PSS (shared pages divided among their users, so a shared
  library counts once overall), and USS (private pages) and RSS for comparison.

Printed: the peak during the deploy and the settled total after it, each as a ratio of the
2 GiB Binder limit (and of the 1 GiB guarantee); per-process rows; and what did not work
as non-root (pods not Ready, failed checks, warning events).

Why a private mount namespace: here the interpreter lives under /root (mode 0700), which
``nobody`` cannot enter. The driver runs in ``unshare --mount`` where /root is a tmpfs
holding only a bind mount of the interpreter's prefix; nothing changes outside.

Run (as root, or as any non-root user: then it runs as you):
    .venv/bin/python bench/binder_memory.py [--user nobody] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shlex
import shutil
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
GIB = 2**30
BINDER_LIMIT, BINDER_GUARANTEE = 2 * GIB, 1 * GIB

KERNEL_DEPLOY = """
import labhelpers
lab = labhelpers.connect()
try:
    lab.deploy("all")
    deploy_error = None
except Exception as exc:  # reported, and the memory is still measured
    deploy_error = f"{type(exc).__name__}: {exc}"
print("DEPLOY_ERROR", deploy_error)
"""
KERNEL_REPORT = """
import json
pods = lab.pods()
checks = lab.check()
warnings = lab.events(warnings_only=True)
print("REPORT " + json.dumps({
    "pods": pods.astype(str).to_dict("records"),
    "checks": checks.astype(str).to_dict("records"),
    "warnings": warnings.astype(str).tail(20).to_dict("records"),
}))
"""


# ------------------------------------------------------------------------ driver side


def driver(work: Path) -> None:
    """Runs as the unprivileged user: JupyterLab + one kernel that deploys the lab."""
    from jupyter_client.manager import KernelManager

    status = work / "status.json"

    def phase(name: str, **extra: Any) -> None:
        tmp = status.with_suffix(".tmp")
        tmp.write_text(json.dumps({"phase": name, "t": time.time(), **extra}))
        os.replace(tmp, status)

    log = (work / "jupyter.log").open("wb")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--ServerApp.token={secrets.token_urlsafe(16)}",
         f"--ServerApp.root_dir={ROOT}"], stdout=log, stderr=subprocess.STDOUT)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT / "notebooks"))
    kc = km.client()
    kc.start_channels()
    outputs: list[str] = []

    def hook(msg: dict) -> None:
        content = msg.get("content", {})
        if msg["msg_type"] == "stream":
            outputs.append(content["text"])
        elif msg["msg_type"] == "error":
            outputs.append("ERROR " + content.get("ename", "") + ": " + content.get("evalue", ""))

    report: dict[str, Any] = {}
    try:
        kc.wait_for_ready(timeout=180)
        phase("deploying", kernel_pid=km.provisioner.process.pid, server_pid=server.pid)
        started = time.monotonic()
        kc.execute_interactive(KERNEL_DEPLOY, timeout=900, output_hook=hook)
        deploy_s = time.monotonic() - started
        kc.execute_interactive(KERNEL_REPORT, timeout=300, output_hook=hook)
        text = "".join(outputs)
        for line in text.splitlines():
            if line.startswith("REPORT "):
                report = json.loads(line[len("REPORT "):])
            if line.startswith("DEPLOY_ERROR "):
                report["deploy_error"] = None if line.endswith(" None") else line[13:]
        report["deploy_seconds"] = deploy_s
        report["kernel_errors"] = [ln for ln in text.splitlines() if ln.startswith("ERROR ")]
        from labcluster.node.netshim import active_mode
        from labcluster.node.ports import port_map

        pm = port_map()
        report["ports"] = (f"ports below {pm.below} shifted by +{pm.offset}" if pm.active
                           else "no remapping")
        report["shim"] = active_mode()
        phase("ready", **report)
        deadline = time.monotonic() + 600
        while not (work / "stop").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        import labcluster

        labcluster.stop()
        phase("done", **report)


# ------------------------------------------------------------------------ parent side


def blocking_dir(path: Path) -> Path | None:
    """The first directory on the way to ``path`` that others cannot traverse."""
    for parent in [*reversed(path.parents)][1:]:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def driver_command(work: Path, user: str) -> list[str]:
    """The driver, as ``user``; in a private mount namespace when the interpreter's
    prefix sits in a directory the user cannot enter (see the module docstring)."""
    me = [sys.executable, str(Path(__file__).resolve()), "--driver", str(work)]
    if os.geteuid() != 0:
        return me
    pw = pwd.getpwnam(user)
    drop = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]
    prefix = Path(sys.base_prefix).resolve()
    blocked = blocking_dir(Path(os.path.realpath(sys.executable)))
    if blocked is None:
        return [*drop, *me]
    hold = work / "prefix"
    hold.mkdir()
    inner = prefix.relative_to(blocked)
    script = " && ".join([
        f"mount --bind {shlex.quote(str(prefix))} {shlex.quote(str(hold))}",
        f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(blocked))}",
        f"mkdir -p {shlex.quote(str(blocked / inner))}",
        f"mount --bind {shlex.quote(str(hold))} {shlex.quote(str(blocked / inner))}",
        "exec " + shlex.join([*drop, *me]),
    ])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def run_processes(root_pid: int, work: Path) -> list[psutil.Process]:
    """Every process of the run: descendants of the driver, plus anything (labcluster
    outlives the kernel that started it) whose environment points into ``work``."""
    found: dict[int, psutil.Process] = {}
    try:
        top = psutil.Process(root_pid)
        for p in [top, *top.children(recursive=True)]:
            found[p.pid] = p
    except psutil.NoSuchProcess:
        pass
    marker = str(work)
    for p in psutil.process_iter():
        if p.pid in found or p.pid == os.getpid():
            continue
        try:
            if marker in p.cwd() or any(marker in v for v in p.environ().values()):
                found[p.pid] = p
        except (psutil.Error, OSError):
            continue
    return list(found.values())


def _under_node(p: psutil.Process) -> bool:
    """A container process: a descendant of the labcluster server that is not kube-proxy."""
    try:
        if "kubeproxy" in " ".join(p.cmdline()):
            return False
        return any("labcluster" in " ".join(a.cmdline()) and "serve" in a.cmdline()
                   for a in p.parents())
    except (psutil.Error, OSError):
        return False


def _pod_name(p: psutil.Process) -> str:
    """HOSTNAME of the process or its nearest ancestor that has one (the pod's name)."""
    try:
        for proc in [p, *p.parents()]:
            name = proc.environ().get("HOSTNAME")
            if name:
                return name
    except (psutil.Error, OSError):
        pass
    return "?"


def classify(p: psutil.Process, work: Path, driver_pids: set[int]) -> tuple[str, str]:
    """(group, what) of a process: the pods, labcluster, JupyterLab, the kernel."""
    try:
        cmd = " ".join(p.cmdline())
        env = p.environ()
        cwd = p.cwd()
    except (psutil.Error, OSError):
        return "gone", p.name()
    if p.pid in driver_pids:
        return "bench driver (not counted)", "bench driver (not counted)"
    pods = f"{work}/home/.labcluster/node/pods/"
    if pods in cwd or pods in env.get("PATH", "") or _under_node(p):
        return "pods (7)", f"pod {_pod_name(p)}: {p.name()}"
    if "ipykernel" in cmd:
        return "kernel", "kernel (import labhelpers, connect, deploy)"
    if "jupyterlab" in cmd or "jupyter-lab" in cmd:
        return "JupyterLab server", "JupyterLab server"
    if "kubeproxy" in cmd:
        return "labcluster", "labcluster kube-proxy"
    if "labcluster" in cmd:
        return "labcluster", "labcluster " + (cmd.split("labcluster", 1)[1][:30] or "server")
    return "other", p.name()


def sample(root_pid: int, work: Path, driver_pids: set[int]) -> list[dict[str, Any]]:
    rows = []
    for p in run_processes(root_pid, work):
        try:
            mem = p.memory_full_info()
            group, what = classify(p, work, driver_pids)
            rows.append({"pid": p.pid, "group": group, "what": what,
                         "name": p.name(), "pss": mem.pss, "uss": mem.uss, "rss": mem.rss})
        except (psutil.Error, OSError):
            continue
    return rows


def counted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r["group"].startswith("bench driver")]


def total(rows: list[dict[str, Any]], key: str) -> int:
    return sum(r[key] for r in counted(rows))


def read_status(work: Path) -> dict[str, Any]:
    try:
        return json.loads((work / "status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {"phase": "starting"}


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", default="nobody", help="unprivileged user (when root)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--driver", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.driver:
        driver(args.driver)
        return 0

    work = Path(tempfile.mkdtemp(prefix="binder-memory-"))
    (work / "home").mkdir()
    if os.geteuid() == 0:
        pw = pwd.getpwnam(args.user)
        for path in (work, work / "home"):
            os.chown(path, pw.pw_uid, pw.pw_gid)
        work.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LABCLUSTER_", "KUBE", "JUPYTER_", "LAB_", "VIRTUAL_ENV"))}
    env.update({"HOME": str(work / "home"), "LABCLUSTER_HOME": str(work / "home/.labcluster"),
                "LAB_HEADLESS": "1", "LAB_RESULTS_DIR": str(work / "home/results"),
                "PYTHONUNBUFFERED": "1", "TMPDIR": str(work / "home")})
    cmd = driver_command(work, args.user)
    who = args.user if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    print(f"running the course as {who} (uid {pwd.getpwnam(who).pw_uid}) in {work}")
    log = (work / "driver.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, cwd=str(work), stdout=log, stderr=subprocess.STDOUT)
    driver_pids: set[int] = set()
    peak: tuple[int, list[dict[str, Any]]] = (0, [])
    deploy_samples: list[int] = []
    started = time.monotonic()
    status = read_status(work)
    try:
        while proc.poll() is None and status["phase"] not in ("ready", "done"):
            if not driver_pids:
                driver_pids = {p.pid for p in run_processes(proc.pid, work)
                               if "--driver" in " ".join(p.cmdline()) or p.pid == proc.pid
                               or p.name() in ("unshare", "sh", "setpriv")}
            rows = sample(proc.pid, work, driver_pids)
            if status["phase"] == "deploying":
                deploy_samples.append(total(rows, "pss"))
                if total(rows, "pss") > peak[0]:
                    peak = (total(rows, "pss"), rows)
            time.sleep(0.5)
            status = read_status(work)
            if time.monotonic() - started > 1200:
                raise TimeoutError("the course did not come up in 20 minutes")
        if status["phase"] != "ready":
            raise RuntimeError(f"driver ended in phase {status['phase']}:\n"
                               + (work / "driver.log").read_text(errors="replace")[-3000:])
        time.sleep(3)  # settle: the kernel idle, pods past start-up
        settled = []
        for _ in range(5):
            settled.append(sample(proc.pid, work, driver_pids))
            time.sleep(1)
        rows = sorted(settled, key=lambda r: total(r, "pss"))[len(settled) // 2]
    finally:
        (work / "stop").touch()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    report(rows, peak, deploy_samples, status)
    return 0


def report(rows, peak, deploy_samples, status) -> None:
    pss, uss, rss = total(rows, "pss"), total(rows, "uss"), total(rows, "rss")
    print(f"\ndeploy (kernel: import labhelpers, connect, deploy all): "
          f"{status.get('deploy_seconds', 0):.1f} s, {len(deploy_samples)} samples")
    print(f"{'what':<48} {'pid':>7} {'PSS':>10} {'USS':>10} {'RSS':>10}")
    for r in sorted(rows, key=lambda r: -r["pss"]):
        print(f"{r['what'][:48]:<48} {r['pid']:>7} {mib(r['pss']):>10} {mib(r['uss']):>10} "
              f"{mib(r['rss']):>10}")
    groups: dict[str, list[int]] = {}
    for r in counted(rows):
        groups.setdefault(r["group"], []).append(r["pss"])
    print("\nby part (PSS):")
    for group, values in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {group:<22} {mib(sum(values)):>10}  ({len(values)} processes)")
    n = len(counted(rows))
    print(f"\nsettled total over {n} processes (median of 5 samples):")
    print(f"  PSS {mib(pss)} = {pss / BINDER_LIMIT:.2f} × the 2 GiB Binder limit "
          f"({pss / BINDER_GUARANTEE:.2f} × the 1 GiB guarantee)")
    print(f"  USS {mib(uss)} (private only) · RSS {mib(rss)} (shared pages counted per "
          f"process: {rss / BINDER_LIMIT:.2f} × 2 GiB, an overestimate)")
    if peak[0]:
        print(f"peak during the deploy: PSS {mib(peak[0])} = {peak[0] / BINDER_LIMIT:.2f} × "
              f"2 GiB (median over the deploy {mib(statistics.median(deploy_samples))})")
    print(f"\nnon-root: {status.get('ports')}; network shim: {status.get('shim')}")
    if status.get("deploy_error"):
        print(f"deploy FAILED: {status['deploy_error']}")
    for err in status.get("kernel_errors", []):
        print(f"kernel: {err}")
    pods = status.get("pods", [])
    not_ready = [p for p in pods if p.get("status") != "Running"
                 or p.get("ready", "").split("/")[0] != p.get("ready", "").split("/")[-1]]
    print(f"pods: {len(pods)}, not ready: {len(not_ready)}")
    for p in not_ready:
        print(f"  {p}")
    failed = [c for c in status.get("checks", []) if c.get("ok") != "✅"]
    print(f"checks: {len(status.get('checks', [])) - len(failed)}/{len(status.get('checks', []))}"
          " pass")
    for c in failed:
        print(f"  ❌ {c.get('criterion')}: {c.get('evidence')} → {c.get('hint')}")
    for w in status.get("warnings", []):
        print(f"  warning event: {w}")


if __name__ == "__main__":
    raise SystemExit(main())
