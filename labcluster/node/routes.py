"""The node's API routes: services/pods proxy, pods/log, pods/exec, metrics.k8s.io.

Served by the API server process (the component adds them before the generic routes),
so clients reach pods exactly as through a real API server: the official client's
`connect_get_namespaced_service_proxy_with_path`, `read_namespaced_pod_log` and
`kubernetes.stream.stream(connect_get_namespaced_pod_exec, ...)` work unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from aiohttp import web

from labcluster.errors import ApiError
from labcluster.node import metrics
from labcluster.node.containerstatus import CONTAINER_CREATING, Waiting
from labcluster.node.exec import Exec
from labcluster.node.imagebase import CommandNotFound
from labcluster.node.logs import follow_async, read_log
from labcluster.node.netpol import HOST_IP
from labcluster.node.network import ready_endpoints
from labcluster.node.portforward import PortForwarder
from labcluster.node.ports import node_ports
from labcluster.node.scheduling import NODE_NAME
from labcluster.node.spdy import Session
from labcluster.node.supervisor import METRICS_WINDOW
from labcluster.selectors import labels_match, parse_label_selector

if TYPE_CHECKING:
    from labcluster.api import ClusterApi
    from labcluster.node.kubelet import PodWorker
    from labcluster.node.network import Network


class NodeView(Protocol):
    """What the routes need of the node (NodeComponent is one): its API, network and pod
    workers. A protocol, so routes.py never imports the component that mounts it."""

    api: ClusterApi
    network: Network
    workers: dict[str, PodWorker]

    def worker_for(self, pod: dict[str, Any]) -> PodWorker | None: ...

HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
       "trailers", "transfer-encoding", "upgrade", "authorization", "host",
       "content-length", "content-encoding"}
CORE = "/api/v1/namespaces/{namespace}"
METRICS = "/apis/metrics.k8s.io/v1beta1"
STDOUT, STDERR, ERROR = 1, 2, 3
PORTFORWARD_PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+" + PORTFORWARD_PROTOCOL  # kubectl's websocket-tunnelled SPDY


def _fail(exc: ApiError) -> web.Response:
    return web.json_response(exc.status(), status=exc.code)


class NodeRoutes:
    def __init__(self, node: NodeView) -> None:
        self.node = node
        self.rr = itertools.count()
        self._session: aiohttp.ClientSession | None = None
        self._attached: set[str] = set()  # containers (process markers) attached once

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.route("*", CORE + "/services/{name}/proxy{path:(/.*)?}", self.service_proxy),
            web.route("*", CORE + "/pods/{name}/proxy{path:(/.*)?}", self.pod_proxy),
            web.get(CORE + "/pods/{name}/log", self.pod_log),
            web.route("*", CORE + "/pods/{name}/exec", self.pod_exec),
            web.route("*", CORE + "/pods/{name}/attach", self.pod_attach),
            web.route("*", CORE + "/pods/{name}/portforward", self.pod_portforward),
            web.get(METRICS + "/nodes", self.node_metrics),
            web.get(METRICS + "/nodes/{name}", self.node_metrics),
            web.get(METRICS + "/pods", self.pod_metrics),
            web.get(METRICS + "/namespaces/{namespace}/pods", self.pod_metrics),
            web.get(METRICS + "/namespaces/{namespace}/pods/{name}", self.pod_metrics),
        ]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ proxy
    async def service_proxy(self, request: web.Request) -> web.StreamResponse:
        return await self._proxy(request, "services", self._service_target)

    async def pod_proxy(self, request: web.Request) -> web.StreamResponse:
        return await self._proxy(request, "pods", self._pod_target)

    async def _proxy(self, request: web.Request, kind: str,
                     target: Callable[[dict[str, Any], str], tuple[str, int]],
                     ) -> web.StreamResponse:
        """`{kind}/[scheme:]name[:port]/proxy/...`: find the object, pick host and port
        (in the API's numbers), dial the port where it really listens (ports.py)."""
        ns = request.match_info["namespace"]
        scheme, name, port = _split_name(request.match_info["name"])
        obj = self.node.api.listers.get(kind, ns, name)
        if obj is None:
            return _fail(ApiError(404, "NotFound", f'{kind} "{name}" not found', name=name,
                                  kind=kind))
        try:
            host, number = target(obj, port)
        except ApiError as exc:
            return _fail(exc)
        policy = self.node.network.policy
        if not policy.allows(HOST_IP, host, number):
            # the API server is outside the pod network: NetworkPolicies apply to its
            # dial as to any host client's, and a dropped SYN ends in a dial timeout
            await asyncio.sleep(policy.timeout_ms / 1000)
            return _fail(ApiError(503, "ServiceUnavailable", "error trying to reach service: "
                                  f"dial tcp {host}:{number}: i/o timeout"))
        number = node_ports().host_port(number)
        return await self._forward(request, f"{scheme or 'http'}://{host}:{number}")

    def _service_target(self, svc: dict[str, Any], port: str) -> tuple[str, int]:
        """A ready endpoint of the chosen Service port, round robin."""
        ports = (svc.get("spec") or {}).get("ports") or []
        chosen = next((p for p in ports if not port or p.get("name") == port
                       or str(p.get("port")) == port), None)
        targets = ready_endpoints(self.node.api, svc, chosen) if chosen else []
        if not targets:
            raise ApiError(503, "ServiceUnavailable", "no endpoints available for service "
                           f'"{svc["metadata"]["name"]}"')
        return targets[next(self.rr) % len(targets)]

    @staticmethod
    def _pod_target(pod: dict[str, Any], port: str) -> tuple[str, int]:
        """The pod IP and the port given by number or name (default: the first port, 80)."""
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise ApiError(503, "ServiceUnavailable", "pod has no IP yet")
        if port.isdigit():
            return ip, int(port)
        ports = [p for c in pod["spec"]["containers"] for p in c.get("ports") or []]
        found = [p for p in ports if not port or p.get("name") == port]
        return ip, int(found[0]["containerPort"]) if found else 80

    async def _forward(self, request: web.Request, base: str) -> web.StreamResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        url = base + (request.match_info.get("path") or "/")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        body = await request.read()
        try:
            async with self._session.request(
                    request.method, url, params=request.query, headers=headers,
                    data=body or None, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=60)) as up:
                data = await up.read()
                out = {k: v for k, v in up.headers.items() if k.lower() not in HOP}
                return web.Response(status=up.status, body=data, headers=out)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _fail(ApiError(503, "ServiceUnavailable", f"error trying to reach service: "
                                  f"{exc}"))

    # ------------------------------------------------------------------ log
    def _container(self, request: web.Request) -> tuple[Any, Any, str]:
        ns, name = request.match_info["namespace"], request.match_info["name"]
        pod = self.node.api.listers.get("pods", ns, name)
        if pod is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")
        names = [c["name"] for c in pod["spec"]["containers"]]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
        cname = request.query.get("container") or (names[0] if len(names) == 1 else "")
        if not cname:
            raise ApiError(400, "BadRequest", f"a container name must be specified for pod "
                           f"{name}, choose one of: [{' '.join(names)}]")
        if cname not in names + inits:
            raise ApiError(400, "BadRequest", f"container {cname} is not valid for pod {name}")
        worker = self.node.worker_for(pod)
        state = next((c for c in worker.inits + worker.containers if c.name == cname),
                     None) if worker else None
        return worker, state, cname

    async def pod_log(self, request: web.Request) -> web.StreamResponse:
        try:
            worker, state, cname = self._container(request)
        except ApiError as exc:
            return _fail(exc)
        name = request.match_info["name"]
        if worker is None or state is None or state.launch is None:
            reason = (state.state.reason if state and isinstance(state.state, Waiting)
                      else None) or CONTAINER_CREATING
            return _fail(ApiError(400, "BadRequest", f'container "{cname}" in pod "{name}" '
                                  f"is waiting to start: {reason}"))
        q = request.query
        log_dir = state.launch.run_dir / "logs"
        previous = q.get("previous") in ("true", "1")
        path = log_dir / ("previous.log" if previous else "current.log")
        if previous and not path.exists():
            return _fail(ApiError(400, "BadRequest", f'previous terminated container "{cname}" '
                                  f'in pod "{name}" not found'))
        since = None
        if q.get("sinceSeconds"):
            since = datetime.now(UTC) - timedelta(seconds=int(q["sinceSeconds"]))
        elif q.get("sinceTime"):
            since = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
        opts: dict[str, Any] = {"tail": int(q["tailLines"]) if q.get("tailLines") else None,
                                "since": since, "timestamps": q.get("timestamps") in ("true", "1")}
        if q.get("follow") not in ("true", "1") or previous:
            text = await asyncio.to_thread(read_log, path, **opts,
                                           limit_bytes=int(q["limitBytes"])
                                           if q.get("limitBytes") else None)
            return web.Response(text=text, content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        proc = state.proc
        async for chunk in follow_async(path, lambda: proc is not None and proc.running(), **opts):
            await resp.write(chunk.encode())
        await resp.write_eof()
        return resp

    # ------------------------------------------------------------------ exec
    async def pod_exec(self, request: web.Request) -> web.StreamResponse:
        try:
            worker, state, cname = self._container(request)
        except ApiError as exc:
            return _fail(exc)
        if state is None or state.proc is None or not state.proc.running() or \
                state.handler is None or state.launch is None:
            return _fail(ApiError(400, "BadRequest", f"unable to upgrade connection: container "
                                  f"not found (\"{cname}\")"))
        argv = request.query.getall("command", [])
        use_stdin = request.query.get("stdin") in ("true", "1")
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        runner = Exec(state.handler, state.launch, state.proc.marker)
        try:
            proc = await runner.start(argv, stdin=use_stdin)
        except (CommandNotFound, OSError) as exc:
            await ws.send_bytes(bytes([ERROR]) + json.dumps(_exit_status(
                127 if isinstance(exc, CommandNotFound) else 126, str(exc))).encode())
            await ws.close()
            return ws

        async def pump(stream: asyncio.StreamReader | None, channel: int) -> None:
            while stream is not None:
                data = await stream.read(65536)
                if not data:
                    return
                await ws.send_bytes(bytes([channel]) + data)

        async def feed() -> None:
            async for msg in ws:
                if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    continue
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                if not data or proc.stdin is None:
                    continue
                if data[0] == 0:
                    proc.stdin.write(data[1:])
                    await proc.stdin.drain()
                elif data[0] == 255 and data[1:2] == b"\x00":
                    proc.stdin.close()

        feeder = asyncio.get_running_loop().create_task(feed())
        try:
            await asyncio.gather(pump(proc.stdout, STDOUT), pump(proc.stderr, STDERR))
            code = await proc.wait()
            await ws.send_bytes(bytes([ERROR]) + json.dumps(_exit_status(code)).encode())
        finally:
            feeder.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await ws.close()
        return ws

    # ------------------------------------------------------------------ attach
    async def pod_attach(self, request: web.Request) -> web.StreamResponse:
        """`kubectl attach` / `kubectl run -i`: the container's main process over exec's
        channels. Output is the container log from now on (all on stdout: the log does
        not keep the order between the two streams); stdin goes to the process when the
        container has `stdin: true`, and with `stdinOnce` the end of the client's stdin
        closes it. The status channel reports the exit when the process ends."""
        try:
            worker, state, cname = self._container(request)
        except ApiError as exc:
            return _fail(exc)
        proc = state.proc if state is not None else None
        if proc is None or state.launch is None:
            return _fail(ApiError(400, "BadRequest", f"unable to upgrade connection: container "
                                  f"not found (\"{cname}\")"))
        # `kubectl run -i -- sh -c "echo hi"` attaches after a short command already ended:
        # then the whole log is sent (a real node would have lost it), then the exit
        ended = not proc.running()
        # stdinOnce (kubectl run -i) means one attach session for the container's life: it
        # gets the output from the start, which a fast command may already have written
        # between the pod turning Running and kubectl attaching
        first = bool(state.spec.get("stdinOnce")) and proc.marker not in self._attached
        self._attached.add(proc.marker)
        stdin = proc.popen.stdin if proc.popen is not None else None
        if request.query.get("stdin") in ("true", "1") and stdin is None:
            return _fail(ApiError(400, "BadRequest", "Stdin is not enabled for this pod"))
        once = bool(state.spec.get("stdinOnce"))
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        log_path = state.launch.run_dir / "logs" / "current.log"

        async def pump() -> None:
            async for line in follow_async(log_path, proc.running,
                                           tail=None if ended or first else 0):
                await ws.send_bytes(bytes([STDOUT]) + line.encode())

        async def feed() -> None:
            async for msg in ws:
                if msg.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    continue
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                if stdin is None or not data:
                    continue
                if data[0] == 0:
                    await asyncio.to_thread(_write_flush, stdin, data[1:])
                elif data[0] == 255 and data[1:2] == b"\x00" and once:
                    stdin.close()
            if once and stdin is not None and not stdin.closed:
                stdin.close()  # the client went away: stdinOnce ends the input

        loop = asyncio.get_running_loop()
        feeder = loop.create_task(feed())
        try:
            await pump()
            term = await asyncio.to_thread(proc.wait, 5)
            code = term.exit_code if term is not None else 0
            await ws.send_bytes(bytes([ERROR]) + json.dumps(_exit_status(code)).encode())
        except (ConnectionError, RuntimeError):
            pass  # the client left first
        finally:
            feeder.cancel()
            await ws.close()
        return ws

    # ------------------------------------------------------------------ portforward
    async def pod_portforward(self, request: web.Request) -> web.StreamResponse:
        """The websocket port-forward protocol: per port a data (2i) and an error (2i+1)
        channel, each opened by a frame holding the port (little endian)."""
        ns, name = request.match_info["namespace"], request.match_info["name"]
        pod = self.node.api.listers.get("pods", ns, name)
        ip = ((pod or {}).get("status") or {}).get("podIP")
        if pod is None or not ip or (pod.get("status") or {}).get("phase") != "Running":
            return _fail(ApiError(400, "BadRequest", f'pod "{name}" is not running'))
        offered = {p.strip() for value in request.headers.getall("Sec-WebSocket-Protocol", [])
                   for p in value.split(",")}
        if TUNNEL_PROTOCOL in offered:
            return await self._spdy_over_websocket(request, pod, ip)
        if request.headers.get("Upgrade", "").lower() == "spdy/3.1":
            return await self._spdy_upgrade(request, pod, ip)
        ports = [int(p) for value in request.query.getall("ports", [])
                 for p in value.split(",") if p.strip().isdigit()]
        if not ports:
            return _fail(ApiError(400, "BadRequest", "query parameter \"ports\" is required"))
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io", "portforward.k8s.io"))
        await ws.prepare(request)
        writers: dict[int, asyncio.StreamWriter] = {}
        pumps = []

        async def pump(i: int, reader: asyncio.StreamReader) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await reader.read(65536):
                    await ws.send_bytes(bytes([2 * i]) + data)
            if len(writers) == 1:
                await ws.close()

        for i, port in enumerate(ports):
            head = port.to_bytes(2, "little")
            await ws.send_bytes(bytes([2 * i]) + head)
            await ws.send_bytes(bytes([2 * i + 1]) + head)
            try:
                reader, writer = await asyncio.open_connection(
                    ip, node_ports().host_port(port))
            except OSError as exc:
                await ws.send_bytes(bytes([2 * i + 1]) + (
                    f"error forwarding port {port} to pod {name}: {exc}").encode())
                continue
            writers[i] = writer
            pumps.append(asyncio.get_running_loop().create_task(pump(i, reader)))
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                writer = writers.get(msg.data[0] // 2)
                if writer is not None and msg.data[0] % 2 == 0:
                    writer.write(msg.data[1:])
                    await writer.drain()
        finally:
            for t in pumps:
                t.cancel()
            for w in writers.values():
                w.close()
        return ws

    async def _spdy_over_websocket(self, request: web.Request, pod: dict[str, Any],
                                   ip: str) -> web.StreamResponse:
        """kubectl's port-forward (1.30+): SPDY/3.1 frames as a byte stream in websocket
        binary messages (client-go's tunneling dialer), one session for all of its local
        connections; the streams are served by PortForwarder."""
        ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=0)
        await ws.prepare(request)
        forwarder = self._forwarder(pod, ip, ws.send_bytes)
        session = forwarder.session
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    session.feed(msg.data)
                elif msg.type != aiohttp.WSMsgType.TEXT:
                    break
                if session.closed.is_set():
                    break
        finally:
            session.close()
            await forwarder.close()
            await session.wait_writer()
            await ws.close()
        return ws

    async def _spdy_upgrade(self, request: web.Request, pod: dict[str, Any],
                            ip: str) -> web.StreamResponse:
        """kubectl's fallback (and kubectl < 1.30): `Upgrade: SPDY/3.1`, answered with
        101, after which the connection carries SPDY frames both ways. aiohttp does not
        treat SPDY as an upgrade, so our parser takes the connection's bytes before the
        101 goes out (the client sends no frame before it has read it)."""
        versions = [v.strip() for value in request.headers.getall(
            "X-Stream-Protocol-Version", []) for v in value.split(",")]
        if versions and PORTFORWARD_PROTOCOL not in versions:
            return _fail(ApiError(403, "Forbidden", "unable to upgrade: unable to negotiate "
                                  f"protocol: client supports {versions}, server supports "
                                  f"[{PORTFORWARD_PROTOCOL}]"))
        transport = request.transport
        if transport is None:
            return web.Response(status=400)
        inbox: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def send(frame: bytes) -> None:
            if transport.is_closing():
                raise ConnectionResetError("the client closed the connection")
            transport.write(frame)

        forwarder = self._forwarder(pod, ip, send)
        session = forwarder.session
        request.protocol.set_parser(_RawBytes(inbox))  # type: ignore[arg-type]
        response = web.StreamResponse(status=101, headers={
            "Connection": "Upgrade", "Upgrade": "SPDY/3.1",
            "X-Stream-Protocol-Version": PORTFORWARD_PROTOCOL})
        response.force_close()
        await response.prepare(request)
        request.protocol.keep_alive(False)
        try:
            while (data := await inbox.get()) is not None:
                session.feed(data)
                if session.closed.is_set():
                    break
        finally:
            session.close()
            await forwarder.close()
            await session.wait_writer()
            transport.close()
        return response

    def _forwarder(self, pod: dict[str, Any], ip: str,
                   send: Callable[[bytes], Awaitable[None]]) -> PortForwarder:
        async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.wait_for(
                asyncio.open_connection(ip, node_ports().host_port(port)), 10)

        holder: list[PortForwarder] = []
        session = Session(send, lambda stream: holder[0].on_stream(stream))
        meta = pod["metadata"]
        holder.append(PortForwarder(session, dial, meta["name"], meta.get("uid", ""),
                                    lambda port: f"{ip}:{port}"))
        return holder[0]

    # ------------------------------------------------------------------ metrics
    async def node_metrics(self, request: web.Request) -> web.Response:
        usage = await asyncio.to_thread(metrics.node_usage, 0.2)
        item = {"metadata": {"name": NODE_NAME, "labels": {}}, "timestamp": _stamp(),
                "window": "20s", "usage": {"cpu": metrics.cpu_quantity(usage.cpu_millicores),
                                           "memory": metrics.memory_quantity(usage.memory_bytes)}}
        base = {"apiVersion": "metrics.k8s.io/v1beta1"}
        if request.match_info.get("name"):
            if request.match_info["name"] != NODE_NAME:
                return _fail(ApiError(404, "NotFound", f'nodes.metrics.k8s.io '
                                      f'"{request.match_info["name"]}" not found'))
            return web.json_response({**base, "kind": "NodeMetrics", **item})
        return web.json_response({**base, "kind": "NodeMetricsList", "metadata": {},
                                  "items": [{**base, "kind": "NodeMetrics", **item}]})

    async def pod_metrics(self, request: web.Request) -> web.Response:
        ns, name = request.match_info.get("namespace"), request.match_info.get("name")
        try:  # `kubectl top pod -l app=x`
            items = await self.collect_pod_metrics(ns, name, request.query.get("labelSelector"))
        except ApiError as exc:
            return _fail(exc)
        if name:
            if not items:
                return _fail(ApiError(404, "NotFound", f'podmetrics.metrics.k8s.io "{ns}/{name}" '
                                      "not found"))
            return web.json_response(items[0])
        return web.json_response({"apiVersion": "metrics.k8s.io/v1beta1",
                                  "kind": "PodMetricsList", "metadata": {}, "items": items})

    async def collect_pod_metrics(self, ns: str | None, name: str | None,
                                  label_selector: str | None) -> list[dict[str, Any]]:
        """PodMetrics of the running pods: what `kubectl top` and the HPA controller read
        (the controller in-process, through ClusterApi.pod_metrics)."""
        wanted = parse_label_selector(label_selector)
        items = []
        for worker in list(self.node.workers.values()):
            if (ns and worker.ns != ns) or (name and worker.name != name):
                continue
            if wanted and not labels_match(wanted, worker.pod["metadata"].get("labels")):
                continue
            containers = []
            for c in worker.containers:
                if c.proc is not None and c.proc.running():
                    u = await asyncio.to_thread(c.proc.usage)
                    containers.append(metrics.container_metrics(c.name, u.cpu_millicores,
                                                                u.memory_bytes))
            if containers:
                items.append({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
                              "metadata": {"name": worker.name, "namespace": worker.ns,
                                           "labels": worker.pod["metadata"].get("labels", {})},
                              "timestamp": _stamp(), "window": f"{METRICS_WINDOW:g}s",
                              "containers": containers})
        return items


class _RawBytes:
    """A payload parser for aiohttp's protocol that hands every byte of an upgraded
    connection to a queue (None at EOF)."""

    def __init__(self, inbox: asyncio.Queue[bytes | None]) -> None:
        self.inbox = inbox

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.inbox.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.inbox.put_nowait(None)


def _write_flush(stream: Any, data: bytes) -> None:
    with contextlib.suppress(OSError, ValueError):  # closed, or the process is gone
        stream.write(data)
        stream.flush()


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _exit_status(code: int, message: str = "") -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": message or f"command terminated with non-zero exit code: error "
                       f"executing command, exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _split_name(raw: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]` as the proxy subresource names its target."""
    parts = raw.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", raw, ""
