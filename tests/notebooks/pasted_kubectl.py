"""Every ``$ kubectl …`` line an executed notebook printed, pasted into a shell (issue 15).

With ``show_kubectl=True`` each step prints the kubectl command it stands for; a learner
copies it into a terminal opened in the course folder. :func:`printed_lines` collects those
lines from executed notebooks (their saved outputs, in order) and :func:`run_line` runs one
with the real kubectl, through ``bash -c`` exactly as pasted, against the cluster the
notebooks ran on.

A line that cannot be replayed after the fact is listed in :data:`NOT_REPLAYED` with the
reason; nothing else is skipped. A line that serves until Ctrl+C (``kubectl port-forward``)
is replayed as a learner uses it: started, used while it runs, then interrupted
(:data:`SERVES_UNTIL_INTERRUPTED`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat

KUBECTL = "/usr/bin/kubectl"
RESTART_PAUSE = 1.1  # seconds before a `rollout restart` line (see replay)

#: Lines not replayed, as (regex searched in the line without "$ ", why). Keep it short:
#: each entry is a line that waits forever or names what a replay after the run cannot have.
NOT_REPLAYED: list[tuple[str, str]] = [
    (r"^kubectl get \S+ .*(-w|--watch)\b",
     "-w/--watch watches until interrupted (the cell waited for a change)"),
    (r"^kubectl logs .* -f ", "-f follows the log until interrupted"),
    (r"^kubectl delete pod ", "deletes a pod by the name it had in the run: a Deployment's pod "
     "was replaced since (NotFound), and deleting postgres-0 again takes the database away "
     "from the lines after it"),
    (r"^kubectl logs -n \S+ [a-z0-9-]+-[a-z0-9]{6,10}-[a-z0-9]{5} ",
     "a Deployment's pod by its generated name: the ReplicaSet has replaced it since"),
]

#: Lines that serve until Ctrl+C, as (regex searched in the line, why). Each is started in
#: the background; it passes when it says it listens on its local port and a GET of
#: http://127.0.0.1:<port>/ through it answers 200 (the shop's page); then it gets SIGINT.
SERVES_UNTIL_INTERRUPTED: list[tuple[str, str]] = [
    (r"^kubectl port-forward .* (\d+):\d+(\s|$)",
     "kubectl port-forward forwards until Ctrl+C; the notebook then opens the shop through it"),
]
FORWARD_START_TIMEOUT = 60.0

#: Lines whose exit status is not 0, as the notebook shows: (regex searched in the line, exit
#: status, regex every error line of the output must match (and one must), why).
EXPECTED_FAILURES: list[tuple[str, int, str, str]] = [
    (r"-- nslookup postgres-db$", 1, r"NXDOMAIN|exit code 1",
     "the notebook shows that a name no Service has does not resolve"),
    (r"curl -sS -o /dev/null --connect-timeout 3 http://postgres:5432/$", 28,
     r"Failed to connect to postgres port 5432",
     "notebook 9 shows production's NetworkPolicies in force: the frontend's connect to "
     "PostgreSQL is dropped and times out"),
]


@dataclass
class Printed:
    notebook: str
    cell: int
    line: str  # without the "$ " prompt

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell}: $ {self.line}"


def _texts(output: dict) -> list[str]:
    if output.get("output_type") == "stream":
        return [output.get("text", "")]
    if output.get("output_type") in ("execute_result", "display_data"):
        text = output.get("data", {}).get("text/plain", "")
        return [text if isinstance(text, str) else "".join(text)]
    return []


def is_kubectl_line(line: str) -> bool:
    """A printed command (``$ …``) that runs kubectl (not only mentions it in a comment)."""
    return line.startswith("$ ") and re.search(r"\bkubectl\b", line.split(" # ")[0]) is not None


def printed_lines(notebooks: list[Path]) -> list[Printed]:
    """The ``$ kubectl …`` lines of these executed notebooks, in the order they ran."""
    found = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
                for text in _texts(output):
                    found += [Printed(path.name, i, line[2:].rstrip())
                              for line in text.splitlines() if is_kubectl_line(line)]
    return found


def not_replayed(line: str) -> str | None:
    """Why this line is not replayed, or None."""
    return next((why for pattern, why in NOT_REPLAYED if re.search(pattern, line)), None)


@dataclass
class Replay:
    printed: Printed
    returncode: int
    output: str

    def problem(self) -> str | None:
        """Why this replay does not match what the notebook showed, or None."""
        expected = next(((code, errors, why) for pattern, code, errors, why in EXPECTED_FAILURES
                         if re.search(pattern, self.printed.line)), None)
        if expected is None:
            return None if self.returncode == 0 else f"exit {self.returncode}"
        code, errors, why = expected
        error_lines = [ln for ln in self.output.splitlines() if re.search(r"(?i)error|nxdomain|failed to connect", ln)]
        odd = [ln for ln in error_lines if not re.search(errors, ln)]
        if self.returncode != code or not error_lines or odd:
            return (f"expected exit {code} with errors matching {errors!r} ({why}); got exit "
                    f"{self.returncode}" + (f", other errors: {odd[:3]}" if odd else ""))
        return None

    def __str__(self) -> str:
        return f"{self.printed}\n    → {self.problem()}\n    {self.output.strip()[-800:]}"


def run_line(printed: Printed, cwd: Path, env: dict[str, str], timeout: float = 180) -> Replay:
    """Run the line as pasted into bash in ``cwd`` (the course folder), with /usr/bin/kubectl
    first on PATH and pipefail on (a pipe's failure is the line's)."""
    assert Path(KUBECTL).is_file(), f"{KUBECTL} is needed (kubectl 1.32 is on this image)"
    bin_dir = Path(tempfile.mkdtemp(prefix="kubectl-bin-"))
    (bin_dir / "kubectl").symlink_to(KUBECTL)
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    try:
        done = subprocess.run([shutil.which("bash") or "/bin/bash", "-o", "pipefail", "-c",
                               printed.line], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
        return Replay(printed, done.returncode, done.stdout + done.stderr)
    except subprocess.TimeoutExpired as exc:
        return Replay(printed, -1, f"timed out after {timeout}s: {exc.stdout!r} {exc.stderr!r}")
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)


def serves_until_interrupted(line: str) -> bool:
    return any(re.search(pattern, line) for pattern, _ in SERVES_UNTIL_INTERRUPTED)


def run_forward(printed: Printed, cwd: Path, env: dict[str, str],
                timeout: float = FORWARD_START_TIMEOUT) -> Replay:
    """Run a ``kubectl port-forward`` line as pasted, GET / through its local port while it
    runs, then interrupt it as Ctrl+C does. Exit status 0 when the forward listened and the
    page came through, else kubectl's own (or 1)."""
    assert Path(KUBECTL).is_file(), f"{KUBECTL} is needed (kubectl 1.32 is on this image)"
    local = int(re.search(r" (\d+):\d+(\s|$)", printed.line).group(1))
    bin_dir = Path(tempfile.mkdtemp(prefix="kubectl-bin-"))
    (bin_dir / "kubectl").symlink_to(KUBECTL)
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}
    proc = subprocess.Popen([shutil.which("bash") or "/bin/bash", "-o", "pipefail", "-c",
                             printed.line], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    listening = f"Forwarding from 127.0.0.1:{local}"
    status: int | str = "not tried"
    try:
        deadline = time.monotonic() + timeout
        while not any(listening in ln for ln in lines) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        if any(listening in ln for ln in lines) and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=30) as r:
                    status = r.status
            except (urllib.error.URLError, OSError) as exc:
                status = f"{type(exc).__name__}: {exc}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(5)
        shutil.rmtree(bin_dir, ignore_errors=True)
    output = "".join(lines) + f"\nGET http://127.0.0.1:{local}/ through it: {status}"
    ok = status == 200
    return Replay(printed, 0 if ok else (proc.returncode or 1), output)


def replay(notebooks: list[Path], cwd: Path, env: dict[str, str]
           ) -> tuple[list[Replay], list[tuple[Printed, str]]]:
    """Every printed kubectl line of these executed notebooks, run in order: (the replays,
    the lines not replayed with why)."""
    done, skipped = [], []
    for printed in printed_lines(notebooks):
        why = not_replayed(printed.line)
        if why:
            skipped.append((printed, why))
            continue
        if "rollout restart" in printed.line:
            # kubectl refuses a second restart of a workload within the same second (its
            # restartedAt stamp has second precision); a learner does not paste that fast
            time.sleep(RESTART_PAUSE)
        if serves_until_interrupted(printed.line):
            done.append(run_forward(printed, cwd, env))
            continue
        done.append(run_line(printed, cwd, env))
    return done, skipped
