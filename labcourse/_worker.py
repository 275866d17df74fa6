"""One notebook through papermill, in a process of its own (labcourse/runner.py starts it
as a script with ``python -P``, so neither labcourse nor labhelpers is imported here).

    _worker.py NOTEBOOK OUTPUT --parameters YAML --cwd DIR [--cell-timeout S] [--kernel K]

Exit 0: every cell ran; 1: a cell raised (the executed notebook holds the error) or the run
failed before that (the last line printed says why). SIGTERM shuts the kernel down.
"""

from __future__ import annotations

import argparse
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
from papermill.exceptions import PapermillExecutionError  # noqa: E402

#: This run's folder for its kernel's sockets: private (0700), and its own, so runs side by
#: side (a batch's learners) never pick the same socket (jupyter_client's default,
#: ``kernel-ipc-<n>`` in the working directory, is shared by every run in that folder).
SOCKETS = tempfile.mkdtemp(prefix="labcourse-kernel-")


class IPCKernelManager(AsyncKernelManager):
    """Kernels over unix sockets, not loopback TCP: no port any local user can reach."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(SOCKETS, "kernel-ipc"))
        super().__init__(**kwargs)


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
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.WARNING)
    try:
        pm.execute_notebook(args.notebook, args.output,
                            parameters=yaml.safe_load(args.parameters) or {}, cwd=args.cwd,
                            kernel_name=args.kernel, progress_bar=False, log_output=False,
                            execution_timeout=args.cell_timeout,
                            kernel_manager_class=IPCKernelManager)
    except PapermillExecutionError:
        return 1  # the executed notebook says which cell and why
    except Exception as exc:  # the runner reports this line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(SOCKETS, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
