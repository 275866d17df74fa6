"""The node as a server component: kubelet + scheduler + PVC binder + kube-proxy + DNS.

`labcluster.server.default_components()` loads `create(home)`. Everything reacts to
in-process watches (pods, PVCs, Services, Endpoints) through one de-duplicating queue;
a slow step (stopping a pod gracefully) runs in its own task so others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import errno
import logging
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from labcluster import home as homedir
from labcluster.api import ClusterApi
from labcluster.component import ServerContext, TaskComponent
from labcluster.errors import ApiError
from labcluster.node import clusterdns, heartbeat, readonly, security, standins
from labcluster.node.dns import HostsTable
from labcluster.node.dnsserver import DnsServer
from labcluster.node.imagebase import NodeConfig
from labcluster.node.kubelet import PodWorker
from labcluster.node.loopback import IPAllocator
from labcluster.node.netpol import drop_seconds
from labcluster.node.network import Network
from labcluster.node.routes import NodeRoutes
from labcluster.node.scheduling import (
    NODE_NAME,
    Binder,
    ensure_default_class,
    register_node,
    schedule,
)
from labcluster.node.supervisor import MARKER
from labcluster.registry import Resource

log = logging.getLogger("labcluster.node")
STOP_GRACE_AT_SHUTDOWN = 10.0


POD_CIDR_ENV = "LABCLUSTER_POD_CIDR"
DNS_SUBNET_ATTEMPTS = 8


def pod_cidr() -> str:
    """A random /24 in 127.64-127.99 unless set: clusters side by side never share IPs."""
    return os.environ.get(POD_CIDR_ENV) or \
        f"127.{random.randint(64, 99)}.{random.randint(0, 255)}.0/24"


async def start_dns_in_a_free_subnet(
        choose: Callable[[], str] = pod_cidr,
        attempts: int = DNS_SUBNET_ATTEMPTS) -> tuple[IPAllocator, DnsServer]:
    """The pod subnet and the cluster DNS server on its first address.

    A random /24 is only probably free: another cluster on this machine (or a process
    it left) may already hold the DNS port on that address. Then another /24 is drawn
    instead of failing the whole start; a subnet the user fixed is not second-guessed.
    """
    for attempt in range(1, attempts + 1):
        ips = IPAllocator(choose())
        address = ips.allocate()
        try:
            return ips, await clusterdns.start_server(address)
        except OSError as exc:
            fixed = bool(os.environ.get(POD_CIDR_ENV))
            if exc.errno != errno.EADDRINUSE or fixed or attempt == attempts:
                where = f"{POD_CIDR_ENV}={os.environ[POD_CIDR_ENV]}" if fixed else \
                    f"{attempt} random pod subnets"
                raise OSError(exc.errno, f"cluster DNS cannot listen on {address} "
                              f"({exc.strerror}; tried {where})") from exc
            log.warning("dns: %s is taken (%s); drawing another pod subnet",
                        address, exc.strerror)
    raise AssertionError("unreachable")  # the loop returns or raises


class NodeComponent(TaskComponent):
    name = "node"

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home = Path(home)
        self.state = self.home / "node"
        self.api: ClusterApi
        self.workers: dict[str, PodWorker] = {}        # pod uid -> worker
        self.stopping: dict[str, asyncio.Task[None]] = {}
        self.queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        self.pending: set[tuple[str, str, str]] = set()
        self.routes = NodeRoutes(self)
        self._net_dirty = asyncio.Event()

    # ------------------------------------------------------------------ component
    def setup(self, ctx: ServerContext) -> None:
        reg = ctx.registry
        if reg.lookup("storage.k8s.io", "storageclasses") is None:
            reg.add(Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False,
                             ("sc",), has_spec=False))
        verbs = ("get", "list")
        reg.add(Resource("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False,
                         verbs=verbs, stored=False, has_spec=False))
        reg.add(Resource("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True,
                         verbs=verbs, stored=False, has_spec=False))
        ctx.add_routes(self.routes.routes())

    async def start(self, api: ClusterApi) -> None:
        self.api = api
        api.pod_metrics_source = self.routes.collect_pod_metrics  # the HPA controller's
        # As root, PostgreSQL runs as `nobody` and must traverse the home to its claim's
        # directory (and reach the hosts table): 0711, never listable (labcluster.home).
        mode = homedir.dir_mode()
        self.home.chmod(mode)
        for folder in (self.state, self.state / "pods"):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(mode)
        await asyncio.to_thread(reap_leftovers, self.state)
        self.table = HostsTable(self.state / "hosts")
        self.table.write({})
        self.ips, dns = await start_dns_in_a_free_subnet()
        self.binder = Binder(api, self.state / "volumes")
        drop_seconds()  # a bad LABCLUSTER_NETPOL_DROP_SECONDS fails the start, with its name
        self.network = Network(api, self.table, self.state / "proxy.json")
        self.network.dns = dns
        dns_ip = await clusterdns.ensure_service(api, self.network.dns)
        self.nodecfg = NodeConfig(hosts_file=self.table.path, nameserver=dns_ip,
                                  hide=security.private_paths(self.home))
        await register_node(api, self.home)
        await ensure_default_class(api)
        for res in ("pods", "persistentvolumeclaims", "services", "endpoints",
                    "networkpolicies", "namespaces"):
            self.spawn(lambda res=res: self._watch(res), f"node-watch-{res}")
        self.spawn(self._work, "node-worker")
        self.spawn(self._net_loop, "node-network")
        self.spawn(self._resync, "node-resync")
        self.spawn(self._heartbeat, "node-heartbeat")

    async def stop(self) -> None:
        await super().stop()
        workers = list(self.workers.values())
        self.workers.clear()
        await asyncio.gather(*(w.stop(min(STOP_GRACE_AT_SHUTDOWN, _grace(w.pod)))
                               for w in workers), return_exceptions=True)
        for w in workers:
            w.kill_now()
            standins.remove_linked_from(w.dir)  # the pod dir stays for the next start
        for t in self.stopping.values():
            t.cancel()
        await self.network.close()
        if self.network.dns is not None:
            await self.network.dns.close()
        await self.routes.close()
        with contextlib.suppress(ApiError):  # what the node controller would say later
            await heartbeat.mark_unknown(self.api, NODE_NAME)

    # ------------------------------------------------------------------ events
    async def _watch(self, res: str) -> None:
        async for etype, obj in self.api.watch(res, copies=False):
            if etype == "ERROR":
                return
            meta = obj["metadata"]
            if res in ("services", "endpoints", "networkpolicies", "namespaces"):
                self._net_dirty.set()
            elif res == "pods":
                self.enqueue("pod", meta["namespace"], meta["name"])
                self._net_dirty.set()
                if etype == "DELETED":
                    self._retry_unscheduled()
            else:
                self.enqueue("pvc", meta["namespace"], meta["name"])

    def enqueue(self, kind: str, ns: str, name: str) -> None:
        key = (kind, ns, name)
        if key not in self.pending:
            self.pending.add(key)
            self.queue.put_nowait(key)

    def _retry_unscheduled(self, ns: str | None = None) -> None:
        for pod in self.api.listers.list("pods", ns):
            if not (pod.get("spec") or {}).get("nodeName"):
                self.enqueue("pod", pod["metadata"]["namespace"], pod["metadata"]["name"])

    async def _heartbeat(self) -> None:
        """The kubelet's Lease renewal and node status heartbeat (heartbeat.py)."""
        while True:
            try:
                await heartbeat.renew_lease(self.api, NODE_NAME)
                await heartbeat.post_status(self.api, NODE_NAME)
            except ApiError as exc:
                log.warning("node: heartbeat: %s", exc)
            await asyncio.sleep(heartbeat.heartbeat_seconds())

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(10)
            self._retry_unscheduled()

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            self.pending.discard(key)
            kind, ns, name = key
            try:
                if kind == "pod":
                    await self.reconcile_pod(ns, name)
                elif await self.binder.reconcile(ns, name):
                    self._retry_unscheduled(ns)
            except ApiError as exc:
                if exc.code in (404, 409):
                    asyncio.get_running_loop().call_later(0.1, self.enqueue, *key)
                else:
                    log.warning("node: %s %s/%s: %s", kind, ns, name, exc)
            except Exception:
                log.exception("node: %s %s/%s failed", kind, ns, name)
                asyncio.get_running_loop().call_later(1, self.enqueue, *key)

    async def _net_loop(self) -> None:
        """Sync on changes, and at least every second so a dead kube-proxy is restarted."""
        while True:
            with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancel
                async with asyncio.timeout(1.0):
                    await self._net_dirty.wait()
            self._net_dirty.clear()
            await self.network.sync()
            try:
                await self.network.check_node_ports()
            except Exception:  # a report must never stop the proxy's upkeep
                log.exception("node: checking NodePorts")
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ pods
    def worker_for(self, pod: dict[str, Any]) -> PodWorker | None:
        return self.workers.get(pod["metadata"]["uid"])

    def claim_dir(self, ns: str, claim: str) -> Path | None:
        return self.binder.bound_path(ns, claim)

    async def reconcile_pod(self, ns: str, name: str) -> None:
        pod = copy.deepcopy(self.api.listers.get("pods", ns, name))  # the worker keeps it
        for uid, w in list(self.workers.items()):
            if w.ns == ns and w.name == name and (pod is None or pod["metadata"]["uid"] != uid):
                self._stop_worker(w, 0.0)  # the object is gone: no grace left
        if pod is None:
            return
        spec, meta = pod.get("spec") or {}, pod["metadata"]
        if not spec.get("nodeName"):
            if not meta.get("deletionTimestamp") and spec.get(
                    "schedulerName", "default-scheduler") == "default-scheduler":
                await schedule(self.api, pod)
            return
        if spec["nodeName"] != NODE_NAME:
            return
        worker = self.workers.get(meta["uid"])
        if meta.get("deletionTimestamp"):
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            if worker is not None:
                self._stop_worker(worker, grace, delete=True)
            elif meta["uid"] not in self.stopping:
                await self._finish_delete(ns, name, meta["uid"])
            return
        if worker is None and (pod.get("status") or {}).get("phase") not in ("Succeeded",
                                                                              "Failed"):
            ip = self.ips.allocate()
            worker = PodWorker(self.api, self.nodecfg, pod, ip,
                               self.state / "pods" / meta["uid"], self.claim_dir)
            self.workers[meta["uid"]] = worker
            worker.start()

    def _stop_worker(self, worker: PodWorker, grace: float, delete: bool = False) -> None:
        if worker.uid in self.stopping:
            return

        async def run() -> None:
            try:
                await worker.stop(grace)
            finally:
                self.workers.pop(worker.uid, None)
                self.ips.release(worker.ip)
                self.stopping.pop(worker.uid, None)
            if delete:
                await self._finish_delete(worker.ns, worker.name, worker.uid)
            standins.remove_linked_from(worker.dir)
            readonly.remove(worker.dir, ignore_errors=True)

        self.stopping[worker.uid] = asyncio.get_running_loop().create_task(run())

    async def _finish_delete(self, ns: str, name: str, uid: str) -> None:
        """What the kubelet does once containers are gone: delete with grace 0."""
        with contextlib.suppress(ApiError):
            await self.api.delete("pods", ns, name, grace_period_seconds=0,
                                  preconditions={"uid": uid})


def reap_leftovers(state: Path) -> int:
    """Kill container processes a crashed server of this home left behind.

    A server killed with SIGKILL cannot stop its containers (they run in their own
    sessions); the next `up` finds them by their hosts table (env) or, for programs that
    overwrite their environ with a title (nginx, redis), their cwd under the node dir.
    """
    hosts, prefix = str(state / "hosts"), f"{state}/"
    me = {os.getpid(), os.getppid()}
    killed = 0
    for proc in psutil.process_iter():
        if proc.pid in me:
            continue
        try:
            env, cwd = proc.environ(), proc.cwd()
            if (MARKER in env and env.get("LABCLUSTER_HOSTS") == hosts) or \
                    cwd.startswith(prefix):
                proc.kill()
                killed += 1
        except (psutil.Error, OSError):
            continue
    if killed:
        log.warning("node: killed %d processes left by a previous server of %s", killed,
                    state.parent)
    return killed


def _grace(pod: dict[str, Any]) -> float:
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def create(home: Path) -> NodeComponent:
    return NodeComponent(home)
