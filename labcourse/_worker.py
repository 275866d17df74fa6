"""One notebook through papermill, in a process of its own (labcourse/runner.py starts it
as a script with ``python -P``, so neither labcourse nor labhelpers is imported here).

    _worker.py NOTEBOOK OUTPUT --parameters YAML --cwd DIR [--cell-timeout S] [--kernel K]
               [--warm MODULE,MODULE...] [--sockets DIR] [--done-fd FD]

Exit 0: every cell ran; 1: a cell raised (the executed notebook holds the error) or the run
failed before that (the last line printed says why); 3: told not to run (``--warm``, and
standard input closed without a line). SIGTERM shuts the kernel down.

``--warm``: start the kernel and import those modules in it (silently: no execution count,
nothing in the notebook), then wait for a line on standard input before running. The
runner starts the next notebook's worker this way while the current notebook runs, so its
kernel start and imports (2-3 s per notebook here) overlap the current notebook's waits
instead of adding to the course. The notebook's own cells all run as written; an import
that fails in the warm-up is left for the notebook's cell to fail on, with its traceback.

``--done-fd``: once the executed notebook is written, the exit code is written there (a
line) before the kernel is shut down. Shutting a kernel down takes 0.5-0.8 s here
(ipykernel's own exit); the runner starts the next notebook on that line, so the shutdown
overlaps it instead of adding to the course, and still waits for this process's end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

# jsonschema imports the optional rfc3987_syntax when installed, which builds a Lark
# grammar at import (~3 s of CPU here) for format checks nobody runs; see
# labhelpers/_quickimport.py, which does the same in the notebooks' kernels.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

import papermill as pm  # noqa: E402
import yaml  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from jupyter_core.utils import run_sync  # noqa: E402
from papermill.exceptions import PapermillExecutionError  # noqa: E402

#: This run's folder for its kernel's sockets: private (0700), and its own, so runs side by
#: side (a batch's learners) never pick the same socket (jupyter_client's default,
#: ``kernel-ipc-<n>`` in the working directory, is shared by every run in that folder).
#: The runner makes it and removes it after the run (``--sockets``), so a worker that had to
#: be killed leaves nothing in the temp dir; run alone, the worker makes its own.
SOCKETS = ""


class IPCKernelManager(AsyncKernelManager):
    """Kernels over unix sockets, not loopback TCP: no port any local user can reach."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(SOCKETS, "kernel-ipc"))
        super().__init__(**kwargs)


#: The warm-up's code: each module imported on its own, an ImportError left for the cell.
#: In a function, so the notebook's namespace gets nothing (and no name is left undefined
#: to delete when the notebook imports nothing).
WARM_CODE = """
def _labcourse_warm(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass
_labcourse_warm({names!r})
del _labcourse_warm
"""
WARM_TIMEOUT = 120.0


def _kernel_name(notebook: str, asked: str | None) -> str:
    if asked:
        return asked
    with open(notebook, encoding="utf-8") as fh:
        return json.load(fh)["metadata"]["kernelspec"]["name"]


async def _warm_kernel(kernel_name: str, cwd: str | None, modules: list[str]
                       ) -> IPCKernelManager:
    """A started kernel that has imported ``modules``, through a client of its own (the
    notebook's client comes later, from nbclient); silent, so the notebook's first cell is
    still execution count 1."""
    km = IPCKernelManager(kernel_name=kernel_name)
    await km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=WARM_TIMEOUT)
        msg_id = kc.execute(WARM_CODE.format(names=modules), silent=True,
                            store_history=False)
        while True:
            reply = await kc.get_shell_msg(timeout=WARM_TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
    finally:
        kc.stop_channels()
    return km


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # papermill then shuts the running kernel down


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="labcourse-notebook-worker")
    p.add_argument("notebook")
    p.add_argument("output")
    p.add_argument("--parameters", default="{}")
    p.add_argument("--cwd")
    p.add_argument("--cell-timeout", type=float)
    p.add_argument("--kernel")
    p.add_argument("--warm", help="modules to import before the go line on stdin")
    p.add_argument("--sockets", help="a private folder for the kernel's sockets")
    p.add_argument("--done-fd", type=int, help="where to write the exit code, a line, "
                                               "before the kernel's shutdown")
    args = p.parse_args(argv)
    global SOCKETS
    SOCKETS = args.sockets or tempfile.mkdtemp(prefix="labcourse-kernel-")
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.WARNING)
    km: IPCKernelManager | None = None
    try:
        if args.warm is not None:
            modules = [m for m in args.warm.split(",") if m]
            km = run_sync(_warm_kernel)(_kernel_name(args.notebook, args.kernel), args.cwd,
                                        modules)
            if not sys.stdin.readline():  # closed without a go: this run is cancelled
                return 3
        try:
            pm.execute_notebook(args.notebook, args.output,
                                parameters=yaml.safe_load(args.parameters) or {},
                                cwd=args.cwd, kernel_name=args.kernel, progress_bar=False,
                                log_output=False, execution_timeout=args.cell_timeout,
                                kernel_manager_class=IPCKernelManager, km=km)
            rc = 0
        except PapermillExecutionError:
            rc = 1  # the executed notebook says which cell and why
        except Exception as exc:  # the runner reports this line
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            rc = 1
        _report(args.done_fd, rc)
        return rc
    finally:
        if km is not None:  # a kernel papermill was given is not papermill's to stop
            run_sync(km.shutdown_kernel)(now=False)
        shutil.rmtree(SOCKETS, ignore_errors=True)


def _report(fd: int | None, rc: int) -> None:
    """The run's exit code on ``--done-fd``, then the fd closed (the runner reads to EOF)."""
    if fd is None:
        return
    try:
        os.write(fd, f"{rc}\n".encode())
    except OSError:  # the runner is gone: it no longer waits for the line
        pass
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
