"""``kubectl port-forward`` in the kernel: 127.0.0.1:<local> → a pod behind a Service.

Why not run kubectl: it is not on Binder or a learner's laptop by default, and a notebook
must not leave a process behind. So the forward is the official client's
``pods/portforward`` websocket (``kubernetes.stream.portforward``), one per accepted
connection, the API every cluster serves (labcluster included). Like
``kubectl port-forward service/x`` it resolves the Service to one ready pod and that pod's
``targetPort``; unlike kubectl, a connection that cannot reach that pod (it was replaced by a
rollout) picks a ready pod again instead of ending the forward.

Loopback only: the listener binds 127.0.0.1, never 0.0.0.0. Every forward is stopped by
:meth:`Forward.stop`, by ``Lab.cleanup()``, and when the kernel's process ends (``atexit``;
a killed process closes its sockets anyway), so no listener outlives the notebook.
"""

from __future__ import annotations

import atexit
import contextlib
import select
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.stream import portforward

LOOPBACK = "127.0.0.1"
#: Live forwards of this process, stopped at exit.
_LIVE: weakref.WeakSet[Relay] = weakref.WeakSet()


class Relay:
    """127.0.0.1:<local_port> (0: a free one) → ``pod:remote_port``, one ``pods/portforward``
    websocket per accepted connection (the client's PortForward runs a thread per websocket).

    ``kubernetes.stream.portforward`` swaps ``call_api`` on the ApiClient it is given for
    the duration of the call, which is not thread-safe: the relay opens its websockets one
    at a time (a lock) on an ApiClient of its own, so the lab's client is never left
    patched. ``repick`` (optional) names another ready pod when opening one to ``pod``
    fails: the next connections go there."""

    def __init__(self, core: client.CoreV1Api, namespace: str, pod: str, port: int,
                 local_port: int = 0,
                 repick: Callable[[], tuple[str, int]] | None = None) -> None:
        self.core = client.CoreV1Api(client.ApiClient(core.api_client.configuration))
        self.namespace, self.pod, self.remote_port = namespace, pod, port
        self.repick = repick
        self._lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.server.bind((LOOPBACK, local_port))
        except OSError as exc:
            self.server.close()
            raise OSError(exc.errno, f"cannot listen on {LOOPBACK}:{local_port}: "
                                     f"{exc.strerror} (pass local_port=0 for a free one)") from None
        self.server.listen(256)
        self.server.settimeout(0.5)  # the accept loop looks at _stopping twice a second
        self.port: int = self.server.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()

    @property
    def active(self) -> bool:
        return not self._stopping.is_set()

    def start(self) -> Relay:
        t = threading.Thread(target=self._accept, name=f"port-forward-{self.port}", daemon=True)
        t.start()
        self._threads.append(t)
        _LIVE.add(self)
        return self

    def stop(self) -> None:
        """Close the listener and every forwarded connection; wait for their threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self.server.close()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in list(self._threads):
            if t is not threading.current_thread():
                t.join(timeout=5)
        _LIVE.discard(self)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            t = threading.Thread(target=self._pump, args=(conn,), daemon=True,
                                 name=f"port-forward-{self.port}-conn")
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _open(self) -> Any:
        with self._lock:
            try:
                return portforward(self.core.connect_get_namespaced_pod_portforward, self.pod,
                                   self.namespace, ports=str(self.remote_port))
            except Exception:
                if self.repick is None:
                    raise
                self.pod, self.remote_port = self.repick()  # that pod is gone: another one
                return portforward(self.core.connect_get_namespaced_pod_portforward, self.pod,
                                   self.namespace, ports=str(self.remote_port))

    def _pump(self, conn: socket.socket) -> None:
        self._conns.add(conn)
        try:
            pf = self._open()
        except Exception:  # noqa: BLE001 - the client sees a reset, the error a failed request
            self._conns.discard(conn)
            conn.close()
            return
        remote = pf.socket(self.remote_port)
        try:
            pair = {conn: remote, remote: conn}
            while not self._stopping.is_set():
                ready, _, _ = select.select(list(pair), [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            self._conns.discard(conn)
            conn.close()
            pf.close()


def service_port(svc: Any, port: int | str | None) -> Any:
    """The Service's port named or numbered ``port`` (its first when None), as kubectl
    picks one for `port-forward service/x`; ValueError lists the ports it has."""
    ports = svc.spec.ports or []
    chosen = ports[0] if port is None and ports else next(
        (p for p in ports if port in (p.port, p.name, str(p.port))), None)
    if chosen is None:
        have = ", ".join(f"{p.name or '-'}:{p.port}" for p in ports)
        raise ValueError(f"Service {svc.metadata.name} has no port {port!r} (it has {have})")
    return chosen


def service_target(core: client.CoreV1Api, namespace: str, service: str,
                   port: int | str | None = None) -> tuple[int, str, int]:
    """(Service port, a ready pod, that pod's port) — what ``kubectl port-forward
    service/x`` resolves: the port by number or name (default: the first), the pod from the
    Service's ready endpoints."""
    try:
        svc = core.read_namespaced_service(service, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            raise LookupError(f"no Service {service!r} in namespace {namespace}") from None
        raise
    chosen = service_port(svc, port)
    ep = core.read_namespaced_endpoints(service, namespace)
    for subset in ep.subsets or []:
        pod_port = next((p.port for p in subset.ports or []
                         if chosen.name in (None, p.name) or len(subset.ports) == 1), None)
        for addr in subset.addresses or []:
            if addr.target_ref is not None and addr.target_ref.kind == "Pod" and pod_port:
                return chosen.port, addr.target_ref.name, int(pod_port)
    raise ConnectionError(f"Service {service} has no ready pod to forward to")


def wait_for_endpoint(core: client.CoreV1Api, namespace: str, service: str,
                      port: int | str | None, timeout: float) -> tuple[int, str, int]:
    """:func:`service_target` once the Service has a ready pod (``kubectl wait`` for the
    pods' Ready condition is the kubectl side of it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return service_target(core, namespace, service, port)
        except ConnectionError:
            if time.monotonic() > deadline:
                raise ConnectionError(f"Service {service} in namespace {namespace} has no "
                                      f"ready pod after {timeout:.0f}s: is its Deployment "
                                      "deployed and Ready? (lab.pods())") from None
            time.sleep(0.5)


class Forward(Relay):
    """A forward to a Service (what ``kubectl port-forward service/NAME LOCAL:PORT`` does)."""

    def __init__(self, core: client.CoreV1Api, namespace: str, service: str,
                 port: int | str | None = None, local_port: int = 0,
                 timeout: float = 60) -> None:
        self.service = service
        self.service_port, pod, pod_port = wait_for_endpoint(core, namespace, service, port,
                                                             timeout)
        super().__init__(core, namespace, pod, pod_port, local_port, repick=lambda: (
            service_target(core, namespace, service, port)[1:]))

    @property
    def url(self) -> str:
        """Where the forward listens, for this machine's programs (and its browser)."""
        return f"http://{LOOPBACK}:{self.port}/"

    def __repr__(self) -> str:
        state = "forwarding" if self.active else "stopped"
        return (f"<Forward {LOOPBACK}:{self.port} → service/{self.service}:{self.service_port} "
                f"(pod {self.pod}:{self.remote_port}) {state}>")


def stop_all() -> None:
    """Stop every forward this process started (at exit, and for tests)."""
    for relay in list(_LIVE):
        relay.stop()


def live() -> list[Relay]:
    """The forwards of this process that are still listening."""
    return [r for r in _LIVE if r.active]


atexit.register(stop_all)
