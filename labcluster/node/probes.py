"""Probe runners: one attempt each, returning (success, output) as the kubelet words it.

Scheduling (initialDelaySeconds, periodSeconds, thresholds) is the kubelet's; these only
do one check with a timeout. Messages follow the real kubelet's, so `Unhealthy` events
read the same: `HTTP probe failed with statuscode: 404`, `dial tcp ...: connect:
connection refused`, `Get "http://...": context deadline exceeded`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

BODY_LIMIT = 10 * 1024  # the kubelet keeps at most 10 KiB of a probe's output
USER_AGENT = "kube-probe/1.32"


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    output: str


def _dial_error(host: str, port: int, exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        why = "connect: connection refused"
    elif isinstance(exc, asyncio.TimeoutError | TimeoutError):
        why = "i/o timeout"
    else:
        why = f"connect: {getattr(exc, 'strerror', None) or exc}"
    return f"dial tcp {host}:{port}: {why}"


async def tcp_socket(host: str, port: int, timeout: float = 1.0) -> ProbeResult:
    """Success when a TCP connection opens within `timeout` (then closed at once)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return ProbeResult(False, _dial_error(host, port, exc))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, "")


async def http_get(
    host: str,
    port: int,
    path: str = "/",
    *,
    scheme: str = "HTTP",
    headers: Mapping[str, str] | None = None,
    timeout: float = 1.0,
    user_agent: str = USER_AGENT,
    any_status: bool = False,
) -> ProbeResult:
    """Success on a status in [200, 400), like the kubelet (redirects are not followed);
    with `any_status` on any answer at all, as a lifecycle hook's httpGet (upstream fails
    such a hook only when the request itself fails)."""
    if scheme.upper() != "HTTP":
        return ProbeResult(False, f"scheme {scheme} is not supported by labcluster probes")
    path = path if path.startswith("/") else "/" + path
    url = f"http://{host}:{port}{path}"
    try:
        result = await asyncio.wait_for(
            _http_get(host, port, path, {"User-Agent": user_agent, **(headers or {})}), timeout)
    except TimeoutError:
        return ProbeResult(
            False,
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
        )
    except OSError as exc:
        return ProbeResult(False, f'Get "{url}": {_dial_error(host, port, exc)}')
    except ValueError as exc:
        return ProbeResult(False, f'Get "{url}": malformed HTTP response: {exc}')
    if any_status and not result.success:
        return ProbeResult(True, result.output)
    return result


async def _http_get(host: str, port: int, path: str, headers: Mapping[str, str]) -> ProbeResult:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        fields = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*",
                  "Connection": "close", **headers}
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        writer.write((request + "\r\n").encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(repr(status_line[:80]))
        status = int(parts[1])
        length: int | None = None
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                length = int(value.strip())
        want = BODY_LIMIT if length is None else min(length, BODY_LIMIT)
        body = b""
        while len(body) < want:
            chunk = await reader.read(want - len(body))
            if not chunk:
                break
            body += chunk
    finally:
        writer.close()
    text = body.decode("utf-8", "replace")
    if 200 <= status < 400:
        return ProbeResult(True, text)
    return ProbeResult(False, f"HTTP probe failed with statuscode: {status}")


async def exec_probe(runner, argv: list[str], timeout: float = 1.0) -> ProbeResult:
    """Run `argv` in the container via `runner` (an exec.Exec); success is exit code 0.

    Output is stdout+stderr as the kubelet reports it in the Unhealthy event.
    """
    result = await runner.run_async(argv, timeout=timeout)
    output = (result.stdout + result.stderr).decode("utf-8", "replace")[:BODY_LIMIT]
    if result.timed_out:
        return ProbeResult(False, f"command {argv!r} timed out")
    return ProbeResult(result.exit_code == 0, output)
