"""The pod worker: one bound pod's containers, probes, restarts and status.

Each container has a runner task that goes through named phases (config → pull →
security → create → start and postStart → run with its probe tasks → exit → back-off →
again), each setting the container's state (containerstatus.py); the worker folds
their states into `pod.status` and writes it through the status subresource whenever
something a user can see changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labcluster.api import ClusterApi
from labcluster.component import cancel_tasks
from labcluster.errors import ApiError
from labcluster.meta import now
from labcluster.node import leftovers, probes, readonly, security
from labcluster.node.containerstatus import (
    CONFIG_ERROR,
    CONTAINER_CREATING,
    CRASH_LOOP_BACKOFF,
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACKOFF,
    POD_INITIALIZING,
    POST_START_HOOK_ERROR,
    RUN_CONTAINER_ERROR,
    START_ERROR_EXIT_CODE,
    Running,
    State,
    Terminated,
    Waiting,
)
from labcluster.node.dns import search_list
from labcluster.node.exec import Exec
from labcluster.node.imagebase import CommandNotFound, ImageHandler, ImagePullError, NodeConfig
from labcluster.node.images import resolve
from labcluster.node.launch import ContainerLaunch, ContainerPort, Mount, ProcessSpec
from labcluster.node.podspec import (
    ConfigError,
    Tokener,
    is_api_volume,
    memory_bytes,
    millicores,
    mounts_for,
    resolve_env,
    sync_api_volumes,
    volume_dirs,
)
from labcluster.node.ports import node_ports
from labcluster.node.supervisor import ContainerProcess, Termination

log = logging.getLogger("labcluster.kubelet")
KUBELET = "kubelet"
BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0
MIN_GRACE_AFTER_PRESTOP = 2.0  # upstream's minimumGracePeriodInSeconds
HOOK_USER_AGENT = "kube-lifecycle/1.32"
HOOK_HTTP_TIMEOUT = 600.0  # a postStart httpGet has no deadline upstream; ours is bounded
#: The kubelet's PLEG relists the runtime's containers every second; the pod sync that
#: follows a container's start is when its prober manager triggers the readiness probe
#: (prober_manager.go UpdatePodStatus), so readiness is first asked 1 s after the start.
PLEG_RELIST_SECONDS = 1.0


def restart_backoff(backoff: float, ran_seconds: float = 0.0) -> tuple[float, float]:
    """``(wait before this restart, back-off for the next one)`` for a container that
    ended after ``ran_seconds``: at once the first time, then 10 s doubling to 5 min; a run
    longer than 10 min starts the sequence over (the kubelet's CrashLoopBackOff). A pure
    function so the sequence can be checked without waiting through it."""
    if ran_seconds > BACKOFF_RESET:
        backoff = 0.0
    if backoff > 0:
        return backoff, min(backoff * 2, BACKOFF_MAX)
    return 0.0, BACKOFF_START


def eviction_seconds() -> float:
    """How often emptyDir usage is measured against `sizeLimit` (the kubelet's eviction
    manager checks every 10 s; 5 s here: a `du` of the pod's limited dirs only)."""
    return float(os.environ.get("LABCLUSTER_EVICTION_SECONDS", "5"))


def dir_usage(path: Path) -> int:
    """Bytes a directory tree occupies on disk (allocated blocks, as `du` and the
    kubelet's volume stats count), without following symlinks; vanishing files skipped."""
    total = 0
    stack = [path]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for e in entries:
                    try:
                        st = e.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
        except OSError:
            continue
    return total


def empty_dir_limits(pod: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """emptyDir volumes with a positive `sizeLimit`: name → (limit as written, bytes)."""
    out: dict[str, tuple[str, int]] = {}
    for v in (pod.get("spec") or {}).get("volumes") or []:
        limit = (v.get("emptyDir") or {}).get("sizeLimit") if "emptyDir" in v else None
        if limit is None:
            continue
        try:
            size = memory_bytes(limit)
        except ValueError:
            continue
        if size > 0:
            out[v["name"]] = (str(limit), size)
    return out


def volume_sync_seconds() -> float:
    """How often configMap/secret volumes are refreshed (the kubelet: ~1 min + cache TTL)."""
    return float(os.environ.get("LABCLUSTER_VOLUME_SYNC_SECONDS", "10"))


def _iso(dt: Any) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerState:
    spec: dict[str, Any]
    state: State = field(default_factory=lambda: Waiting(CONTAINER_CREATING))
    last: Terminated | None = None  # lastState: the previous run's end
    restarts: int = 0
    ready: bool = False
    started: bool = False
    image_id: str = ""
    proc: ContainerProcess | None = None
    launch: ContainerLaunch | None = None
    handler: ImageHandler | None = None
    done: bool = False  # terminated and will not restart
    #: a pod sync asks for the readiness probe now (the startup probe just succeeded)
    readiness_sync: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.spec["name"]

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "image": self.spec.get("image", ""),
                               "imageID": self.image_id, "ready": self.ready,
                               "restartCount": self.restarts, "started": self.started,
                               "state": self.state.to_status(),
                               "lastState": self.last.to_status() if self.last else {}}
        if isinstance(self.state, Running | Terminated):
            out["containerID"] = f"labcluster://{self.proc.marker}" if self.proc else ""
        return out


@dataclass
class _Restarts:
    """A container's restart bookkeeping across its loop's turns."""

    policy: str  # Always | OnFailure | Never (an init container's Always: OnFailure)
    backoff: float = 0.0  # restart_backoff's state (CrashLoopBackOff)
    pull_backoff: float = BACKOFF_START  # the next ImagePullBackOff wait

    def restarts_after(self, exit_code: int) -> bool:
        return self.policy == "Always" or (self.policy == "OnFailure" and exit_code != 0)


@dataclass
class _Run:
    """A started container process: what its run and exit phases need."""

    proc: ContainerProcess
    launch: ContainerLaunch
    ended: asyncio.Future[Termination]
    started_at: float  # time.monotonic() at the start: back-off reset, probe ticks


class PodWorker:
    """Runs one pod until stop(); see the module docstring."""

    def __init__(self, api: ClusterApi, node: NodeConfig, pod: dict[str, Any], pod_ip: str,
                 pod_dir: Path, claim_dir: Callable[[str, str], Path | None]) -> None:
        self.api = api
        self.node = node
        self.pod = pod
        self.ns = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.uid = pod["metadata"]["uid"]
        self.ip = pod_ip
        self.dir = pod_dir
        self.claim_dir = claim_dir
        self.inits = [ContainerState(c) for c in pod["spec"].get("initContainers") or []]
        self.containers = [ContainerState(c) for c in pod["spec"]["containers"]]
        if self.inits:
            for c in self.containers:
                c.state = Waiting(POD_INITIALIZING)
        self.tasks: list[asyncio.Task[Any]] = []
        self.procs: list[ContainerProcess] = []  # every process started, for stop()'s sweep
        self.stopping = False
        self.start_time = now()
        # The prober's workers start when the pod is admitted and tick every periodSeconds
        # from then on, across container restarts (prober/worker.go): a container is first
        # probed at the next tick after it started, not the moment its process exists.
        self.admitted = time.monotonic()
        self._dirty = asyncio.Event()
        self._published: dict[str, Any] | None = None
        self.evicted = ""  # the eviction message once the pod is evicted
        # serviceAccountToken projections' tokens: (audience, seconds) -> (token, from, to)
        self._tokens: dict[tuple[str, int], tuple[str, float, float]] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.create_task(self._publisher(), name=f"status-{self.name}"))
        self.tasks.append(loop.create_task(self._run_pod(), name=f"pod-{self.name}"))
        if any(is_api_volume(v) for v in self.pod["spec"].get("volumes") or []):
            self.tasks.append(loop.create_task(self._sync_volumes(), name=f"vol-{self.name}"))
        if empty_dir_limits(self.pod):
            self.tasks.append(loop.create_task(self._watch_empty_dirs(),
                                               name=f"evict-{self.name}"))
        self.touch()

    async def _watch_empty_dirs(self) -> None:
        """The eviction manager's emptyDir check: a volume past its `sizeLimit` evicts the
        pod. Cost: a `du` of the limited volumes every eviction_seconds(), in a thread."""
        limits = empty_dir_limits(self.pod)
        while not self.stopping:
            await asyncio.sleep(eviction_seconds())
            for name, (text, size) in limits.items():
                used = await asyncio.to_thread(dir_usage, self.dir / "volumes" / name)
                if used > size and not self.stopping:
                    log.info("pod %s/%s: emptyDir %s uses %d bytes > %s: evicting", self.ns,
                             self.name, name, used, text)
                    await self.evict(f'Usage of EmptyDir volume "{name}" exceeds the limit '
                                     f'"{text}". ')
                    return

    async def evict(self, message: str) -> None:
        """What the kubelet's evictPod does: a Warning `Evicted` event, every container
        killed at once (no grace, no restart), and the pod left Failed with reason
        `Evicted` and the message, for the user to read until they delete it."""
        self.evicted = message
        self.stopping = True  # the container loops record the termination and return
        await self.event("Evicted", message, "Warning")
        running = [c for c in self.inits + self.containers
                   if c.proc is not None and c.proc.running()]
        for c in running:
            await self.event("Killing", f"Stopping container {c.name}")
        await asyncio.gather(*(asyncio.to_thread(c.proc.stop, 0) for c in running
                               if c.proc is not None))
        for c in self.inits + self.containers:
            c.ready = False
        self.touch()

    def _token(self, projection: dict[str, Any]) -> str:
        """A serviceAccountToken projection's token: a TokenRequest for the pod's
        ServiceAccount bound to this pod (name and uid), the API server's audience unless
        the projection names one; renewed, as the kubelet's token manager does, once 80%
        of its lifetime has passed (the periodic volume sync writes the new one)."""
        from labcluster import satokens

        audience = projection.get("audience") or ""
        seconds = max(int(projection.get("expirationSeconds", 3600)), satokens.MIN_SECONDS)
        held = self._tokens.get((audience, seconds))
        now_s = time.time()
        if held is not None and now_s < held[1] + 0.8 * (held[2] - held[1]):
            return held[0]
        issuer = self.api.token_issuer
        if issuer is None:
            raise ConfigError("failed to fetch token: this API server issues no tokens")
        sa_name = self.pod["spec"].get("serviceAccountName") or "default"
        sa = self.api.listers.get("serviceaccounts", self.ns, sa_name)
        if sa is None:
            raise ConfigError(f'failed to fetch token: serviceaccounts "{sa_name}" not found')
        token, expires = issuer.issue(sa, seconds, [audience or satokens.AUDIENCE], self.pod)
        self._tokens[(audience, seconds)] = (token, now_s, float(expires))
        return token

    async def _sync_volumes(self) -> None:
        """The kubelet's periodic sync for configMap/secret volumes: edits reach running
        containers within VOLUME_SYNC_SECONDS (atomically, see atomicwriter.py)."""
        def get(res: str, ns: str, name: str) -> dict[str, Any] | None:
            return self.api.store.get(res, ns, name)
        while not self.stopping:
            await asyncio.sleep(volume_sync_seconds())
            try:
                changed = await asyncio.to_thread(sync_api_volumes, self.pod, self.dir, get,
                                                  self._token)
            except OSError as exc:
                log.warning("pod %s/%s volume sync: %s", self.ns, self.name, exc)
                continue
            if changed:
                log.info("pod %s/%s: updated volumes %s", self.ns, self.name, changed)

    async def _run_pod(self) -> None:
        """Init containers one by one, each to success; then the containers together."""
        for c in self.inits:
            await self._run_container(c, init=True)
            if not self._init_ok(c):
                return  # stopping, or failed with restartPolicy Never: the pod is Failed
        loop = asyncio.get_running_loop()
        for c in self.containers:
            self.tasks.append(loop.create_task(self._run_container(c), name=f"{self.name}/{c.name}"))

    @staticmethod
    def _init_ok(c: ContainerState) -> bool:
        return c.done and isinstance(c.state, Terminated) and c.state.exit_code == 0

    async def stop(self, grace: float) -> None:
        """Graceful stop of every container, each as the kubelet's killContainer does
        (preStop hook, stop signal, SIGKILL at the end of the grace period), in parallel;
        then the tasks."""
        self.stopping = True
        procs = [c for c in self.inits + self.containers
                 if c.proc is not None and c.proc.running()]
        await asyncio.gather(*(self._kill_container(c, c.proc, grace) for c in procs
                               if c.proc is not None))
        await cancel_tasks(self.tasks)
        # a container whose start was under way (its task cancelled mid-start) is not in
        # `procs` above; _start_process kills it if it started after `stopping` was set
        late = [p for p in self.procs if p.running()]
        await asyncio.gather(*(asyncio.to_thread(p.stop, min(grace, 2.0)) for p in late))

    def kill_now(self) -> None:
        """Synchronous last resort (cluster shutdown): no process may outlive the node."""
        for p in self.procs:
            if p.running():
                p.stop(grace=2)

    def _start_process(self, proc: ContainerProcess) -> None:
        """In a thread: start, unless the pod began stopping meanwhile (then end it)."""
        self.procs = [p for p in self.procs if p.popen is None or p.running()] + [proc]
        proc.start()
        if self.stopping:
            proc.stop(grace=0)

    def touch(self) -> None:
        self._dirty.set()

    async def event(self, reason: str, message: str, type_: str = "Normal") -> None:
        await self.api.record_event(self.pod, reason, message, type_, KUBELET)

    # ------------------------------------------------------------------ containers
    def _launch(self, c: ContainerState) -> ContainerLaunch:
        def get(res: str, ns: str, name: str) -> dict[str, Any] | None:
            return self.api.store.get(res, ns, name)
        pod = {**self.pod, "status": {"podIP": self.ip, "hostIP": "127.0.0.1"}}
        services = self.api.listers.list("services", self.ns)
        master = self.api.listers.get("services", "default", "kubernetes")
        env = resolve_env(pod, c.spec, get, services, master)
        token: Tokener = self._token
        volumes = volume_dirs(pod, self.dir, get, self.claim_dir, token)
        sealed = frozenset(v["name"] for v in self.pod["spec"].get("volumes") or []
                           if is_api_volume(v))
        run_dir = self.dir / "containers" / c.name
        run_dir.mkdir(parents=True, exist_ok=True)
        run_dir.chmod(0o755)
        mounts = _read_only_views(mounts_for(c.spec, volumes, env, sealed), sealed, volumes,
                                  run_dir / "readonly")
        limits = (c.spec.get("resources") or {}).get("limits") or {}
        hostname = self.pod["spec"].get("hostname") or self.name
        return ContainerLaunch(
            pod_uid=self.uid, pod_name=self.name, namespace=self.ns, container_name=c.name,
            image=c.spec.get("image", ""), pod_ip=self.ip, run_dir=run_dir,
            command=[_x(a, env) for a in c.spec["command"]] if "command" in c.spec else None,
            args=[_x(a, env) for a in c.spec["args"]] if "args" in c.spec else None,
            env=env, working_dir=c.spec.get("workingDir"), mounts=mounts,
            ports=[ContainerPort(p["containerPort"], p.get("name", ""), p.get("protocol", "TCP"))
                   for p in c.spec.get("ports") or []],
            memory_limit=memory_bytes(limits["memory"]) if "memory" in limits else None,
            cpu_limit=millicores(limits["cpu"]) if "cpu" in limits else None,
            dns_search=search_list(self.ns), hostname=hostname)

    def _secure(self, launch: ContainerLaunch, c: ContainerState, handler: ImageHandler) -> None:
        """securityContext → who the container runs as (security.py); as root, fsGroup
        gives the pod's emptyDirs to its group, as the kubelet does (not its claims: they
        are hostPath volumes, whose ownership the kubelet never manages)."""
        ident = security.identity(self.pod, c.spec, handler.user)
        launch.uid = ident.uid
        launch.host_user = security.host_ids(ident)
        launch.no_new_privs = ident.no_new_privs
        launch.read_only_root = ident.read_only_root
        if launch.host_user is None and security.userns_available():
            launch.userns, launch.hide = security.userns_ids(ident), self.node.hide
        fs_group = ((self.pod["spec"].get("securityContext") or {}).get("fsGroup"))
        if fs_group is not None and launch.host_user is not None:
            security.apply_fs_group([self.dir / "volumes" / v["name"] for v in self.pod[
                "spec"].get("volumes") or [] if "emptyDir" in v], int(fs_group))

    async def _run_container(self, c: ContainerState, init: bool = False) -> None:
        """The container's life; an unexpected error is reported, not a silent hang."""
        while not self.stopping:
            try:
                await self._container_loop(c, init)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("pod %s/%s container %s", self.ns, self.name, c.name)
                c.state = Waiting(RUN_CONTAINER_ERROR, repr(exc))
                self.touch()
                await self.event("Failed", f"Error: {exc!r}", "Warning")
                await asyncio.sleep(BACKOFF_START)

    async def _container_loop(self, c: ContainerState, init: bool = False) -> None:
        """One container's life in the kubelet's phases (kuberuntime's startContainer, then
        the pod worker's restart decision); each phase sets the state the API shows.
        A phase that fails shows why, waits as the kubelet would, and returns None: the
        loop starts over."""
        life = _Restarts(self._restart_policy(init))
        while not self.stopping:
            launch = await self._config_phase(c)
            if launch is None:
                continue
            handler = await self._pull_phase(c, launch.image, life)
            if handler is None or not await self._security_phase(c, launch, handler):
                continue
            spec = await self._create_phase(c, launch, handler, life)
            if spec is None:
                if c.done:
                    return
                continue
            run = await self._start_phase(c, launch, handler, spec, init, life)
            if run is None:
                continue
            term = await self._run_phase(c, run)
            if not await self._exit_phase(c, run, term, life):
                return

    def _restart_policy(self, init: bool) -> str:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        return "OnFailure" if init and policy == "Always" else policy  # init: to success

    async def _config_phase(self, c: ContainerState) -> ContainerLaunch | None:
        """Env, volumes and mounts: CreateContainerConfigError, retried every 2 s, while
        something they name (a ConfigMap, Secret, key) is missing."""
        try:
            return await asyncio.to_thread(self._launch, c)
        except ConfigError as exc:
            await self._config_error(c, exc)
            return None

    async def _config_error(self, c: ContainerState, exc: Exception) -> None:
        c.state = Waiting(CONFIG_ERROR, str(exc))
        self.touch()
        await self.event("Failed", f"Error: {exc}", "Warning")
        await asyncio.sleep(2)

    async def _pull_phase(self, c: ContainerState, image: str,
                          life: _Restarts) -> ImageHandler | None:
        """The pull (images.resolve): ErrImagePull, then ImagePullBackOff for a wait that
        doubles up to BACKOFF_MAX; `Pulled` says what runs for the tag."""
        try:
            handler = resolve(image, self.node)
        except ImagePullError as exc:
            first = not (isinstance(c.state, Waiting) and c.state.reason == IMAGE_PULL_BACKOFF)
            c.state = Waiting(ERR_IMAGE_PULL, str(exc))
            self.touch()
            await self.event("Pulling", f'Pulling image "{image}"')
            await self.event("Failed", f'Failed to pull image "{image}": {exc}', "Warning")
            await self.event("Failed", "Error: ErrImagePull", "Warning")
            await asyncio.sleep(1 if first else 0)
            c.state = Waiting(IMAGE_PULL_BACKOFF,
                              f'Back-off pulling image "{image}": ErrImagePull: {exc}')
            self.touch()
            await self.event("BackOff", f'Back-off pulling image "{image}"', "Normal")
            await asyncio.sleep(life.pull_backoff)
            life.pull_backoff = min(life.pull_backoff * 2, BACKOFF_MAX)
            return None
        life.pull_backoff = BACKOFF_START
        runs = handler.runs()  # what runs for the tag, said where a learner looks
        await self.event("Pulled", f'Container image "{image}" already present on machine'
                         + (f"; labcluster runs {runs}" if runs else ""))
        return handler

    async def _security_phase(self, c: ContainerState, launch: ContainerLaunch,
                              handler: ImageHandler) -> bool:
        """The image's user is known once pulled: runAsNonRoot is checked now."""
        try:
            await asyncio.to_thread(self._secure, launch, c, handler)
        except (security.RunAsRootRefused, OSError) as exc:
            await self._config_error(c, exc)
            return False
        return True

    async def _create_phase(self, c: ContainerState, launch: ContainerLaunch,
                            handler: ImageHandler, life: _Restarts) -> ProcessSpec | None:
        """The process the image runs for this container: a command it lacks terminates
        the container with StartError (128), restarted with back-off as the policy says
        (or done: `c.done`)."""
        try:
            spec = await asyncio.to_thread(handler.prepare, launch)
            spec.stdin = bool(c.spec.get("stdin"))
        except (CommandNotFound, OSError, ValueError) as exc:
            c.state = Terminated.start_error(str(exc))
            await self.event("Failed", f"Error: {exc}", "Warning")
            self.touch()
            if not life.restarts_after(START_ERROR_EXIT_CODE):
                c.done = True
                return None
            c.restarts += 1
            life.backoff = await self._backoff(c, life.backoff)
            return None
        return spec

    async def _start_phase(self, c: ContainerState, launch: ContainerLaunch,
                           handler: ImageHandler, spec: ProcessSpec, init: bool,
                           life: _Restarts) -> _Run | None:
        """Created, Started, then the postStart hook: running, or waiting
        PostStartHookError (the hook's failure kills the process)."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[Termination] = loop.create_future()

        def on_exit(t: Termination) -> None:
            loop.call_soon_threadsafe(lambda: ended.done() or ended.set_result(t))

        proc = ContainerProcess(spec, launch.run_dir / "logs",
                                memory_limit=launch.memory_limit,
                                cpu_limit=launch.cpu_limit, on_exit=on_exit,
                                record_dir=self.dir.parent.parent / leftovers.RECORDS)
        await self.event("Created", f"Created container {c.name}")
        try:
            await asyncio.to_thread(self._start_process, proc)
        except OSError as exc:
            c.state = Terminated.start_error(str(exc), stamped=False)
            self.touch()
            life.backoff = await self._backoff(c, life.backoff)
            return None
        c.proc, c.launch, c.handler, c.image_id = proc, launch, handler, spec.image_id
        run = _Run(proc, launch, ended, time.monotonic())
        await self.event("Started", f"Started container {c.name}")
        if not init and not await self._post_start(c, proc):
            c.state = Waiting(POST_START_HOOK_ERROR)
        else:
            c.state = Running(_iso(proc.started_at))
        return run

    async def _run_phase(self, c: ContainerState, run: _Run) -> Termination:
        """Until the process ends, with its startup, liveness and readiness probes (no
        readiness or startup probe: ready at once)."""
        running = isinstance(c.state, Running)
        c.started = "startupProbe" not in c.spec and running
        c.ready = False
        c.readiness_sync.clear()
        self.touch()
        loop = asyncio.get_running_loop()
        probe_tasks = [loop.create_task(self._probe(c, run.proc, kind, run.ended,
                                                    run.started_at))
                       for kind in ("startupProbe", "livenessProbe", "readinessProbe")
                       if kind in c.spec and running]
        if "readinessProbe" not in c.spec and "startupProbe" not in c.spec and running:
            c.ready = True
        try:
            return await run.ended
        finally:
            for t in probe_tasks:
                t.cancel()

    async def _exit_phase(self, c: ContainerState, run: _Run, term: Termination,
                          life: _Restarts) -> bool:
        """Terminated as the process ended (OOMKilled with its event); then a restart
        after back-off if the policy wants one. False: done, or the pod is stopping."""
        c.ready, c.started = False, False
        terminated = Terminated(term.exit_code, term.reason, term.message or None,
                                _iso(term.started_at), _iso(term.finished_at),
                                f"labcluster://{run.proc.marker}", term.signal or None)
        if term.reason == "OOMKilled":
            await self.event("OOMKilling", f"Memory cgroup out of memory: Killed process "
                             f"{run.proc.pid} of container {c.name} (limit "
                             f"{run.launch.memory_limit} bytes)", "Warning")
        c.state = terminated  # until the restart (or back-off) shows
        if self.stopping:
            self.touch()
            return False
        if not life.restarts_after(term.exit_code):
            c.done = True
            self.touch()
            return False
        c.last = terminated
        c.restarts += 1
        self.touch()
        life.backoff = await self._backoff(c, life.backoff, time.monotonic() - run.started_at)
        return True

    async def _backoff(self, c: ContainerState, backoff: float,
                       ran_seconds: float = 0.0) -> float:
        """Wait before a restart as ``restart_backoff`` says; return the next back-off."""
        wait, following = restart_backoff(backoff, ran_seconds)
        if wait > 0:
            c.state = Waiting(CRASH_LOOP_BACKOFF, (
                f"back-off {int(wait)}s restarting failed container={c.name} "
                f"pod={self.name}_{self.ns}({self.uid})"))
            self.touch()
            await self.event("BackOff", "Back-off restarting failed container "
                             f"{c.name} in pod {self.name}_{self.ns}({self.uid})", "Warning")
            await asyncio.sleep(wait)
        return following

    # ------------------------------------------------------------------ probes
    async def _probe_once(self, c: ContainerState, probe: dict[str, Any]) -> probes.ProbeResult:
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            h = probe["httpGet"]
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            return await probes.http_get(h.get("host") or self.ip, self._port(c, h["port"]),
                                         h.get("path", "/"), scheme=h.get("scheme", "HTTP"),
                                         headers=headers, timeout=timeout)
        if "tcpSocket" in probe:
            t = probe["tcpSocket"]
            return await probes.tcp_socket(t.get("host") or self.ip, self._port(c, t["port"]),
                                           timeout=timeout)
        if "exec" in probe and c.handler is not None and c.launch is not None:
            runner = Exec(c.handler, c.launch, c.proc.marker if c.proc else "")
            return await probes.exec_probe(runner, list(probe["exec"]["command"]), timeout)
        return probes.ProbeResult(False, "unsupported probe handler")

    @staticmethod
    def _port(c: ContainerState, port: Any) -> int:
        """The probe's port as the container really listens (privileged ones shifted)."""
        if isinstance(port, int) or str(port).isdigit():
            return node_ports().host_port(int(port))
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return node_ports().host_port(int(p["containerPort"]))
        return 0

    def _next_tick(self, period: float, after: float) -> float:
        """The first tick of a probe worker's ticker (started at admission) after `after`."""
        ticks = (after - self.admitted) // period + 1
        return self.admitted + max(ticks, 1) * period

    async def _probe(self, c: ContainerState, proc: ContainerProcess, kind: str,
                     ended: asyncio.Future[Termination], started_at: float) -> None:
        """One probe of one container instance, on the kubelet's schedule (worker.go doProbe):

        - an attempt at each tick of the pod's ticker (see `admitted`); readiness also at
          the pod syncs the kubelet makes after the start (PLEG relist) and after the
          startup probe succeeds, as the prober manager triggers it then;
        - none before `initialDelaySeconds` counted from the container's start;
        - liveness and readiness wait until the startup probe has succeeded;
        - liveness and startup stop once the pod is being deleted (readiness goes on);
        - every failed attempt is an `Unhealthy` Warning event; `failureThreshold`
          consecutive failures kill (liveness, startup) or unready (readiness) it.
        """
        probe = c.spec[kind]
        label = {"startupProbe": "Startup", "livenessProbe": "Liveness",
                 "readinessProbe": "Readiness"}[kind]
        period = max(1.0, float(probe.get("periodSeconds", 10)))
        delay = int(probe.get("initialDelaySeconds", 0))
        ok_needed = int(probe.get("successThreshold", 1))
        fail_needed = int(probe.get("failureThreshold", 3))
        readiness = kind == "readinessProbe"
        tick = self._next_tick(period, started_at)
        relist: float | None = started_at + PLEG_RELIST_SECONDS if readiness else None
        oks = fails = 0
        while not ended.done():
            due = tick if relist is None else min(tick, relist)
            wait = max(0.0, due - time.monotonic())
            if readiness:
                with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancel
                    async with asyncio.timeout(wait):
                        await c.readiness_sync.wait()
                c.readiness_sync.clear()
            else:
                await asyncio.sleep(wait)
            now_ = time.monotonic()
            if relist is not None and now_ >= relist:
                relist = None
            if now_ >= tick:
                tick = self._next_tick(period, now_)
            if ended.done() or (self.stopping and not readiness):
                return
            if int(now_ - started_at) < delay:  # the kubelet truncates to whole seconds
                continue
            if kind == "startupProbe":
                if c.started:
                    return
            elif not c.started:
                continue
            result = await self._probe_once(c, probe)
            if ended.done() or (self.stopping and not readiness):
                return
            if result.success:
                oks, fails = oks + 1, 0
            else:
                oks, fails = 0, fails + 1
                await self.event("Unhealthy", f"{label} probe failed: {result.output.strip()}",
                                 "Warning")
            if kind == "startupProbe":
                if result.success:
                    c.started = True
                    if "readinessProbe" not in c.spec:
                        c.ready = True
                    c.readiness_sync.set()  # the pod sync that follows runs readiness now
                    self.touch()
                    return
                if fails >= fail_needed:
                    await self._kill_for(c, proc, "startup")
                    return
            elif kind == "livenessProbe":
                if fails >= fail_needed:
                    await self._kill_for(c, proc, "liveness")
                    return
            else:
                ready = c.ready
                if oks >= ok_needed:
                    ready = True
                elif fails >= fail_needed or not result.success and not c.ready:
                    ready = False
                if ready != c.ready:
                    c.ready = ready
                    self.touch()

    async def _kill_for(self, c: ContainerState, proc: ContainerProcess, probe: str) -> None:
        grace = float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        await self._kill_container(c, proc, grace, f"Container {c.name} failed {probe} "
                                   "probe, will be restarted")

    # ------------------------------------------------------------------ lifecycle hooks
    async def _kill_container(self, c: ContainerState, proc: ContainerProcess, grace: float,
                              message: str = "") -> None:
        """The kubelet's killContainer: a `Killing` event, the preStop hook (when the
        grace period is above 0), then the stop signal with what is left of the grace
        period — at least MIN_GRACE_AFTER_PRESTOP, as upstream's minimumGracePeriod —
        and SIGKILL when that runs out. The hook's time counts against the grace period,
        so a hook longer than it is cut short: the stop signal goes out anyway."""
        await self.event("Killing", message or f"Stopping container {c.name}")
        hook = (c.spec.get("lifecycle") or {}).get("preStop")
        if hook and grace > 0 and proc.running():
            started = time.monotonic()
            await self._pre_stop(c, proc, hook, grace)
            # upstream counts whole seconds (int64 of the elapsed duration)
            grace = max(grace - int(time.monotonic() - started), MIN_GRACE_AFTER_PRESTOP)
        await asyncio.to_thread(proc.stop, grace)

    async def _pre_stop(self, c: ContainerState, proc: ContainerProcess,
                        hook: dict[str, Any], grace: float) -> None:
        """Run the preStop hook for at most `grace` seconds (or until the container ends
        by itself). A failed hook is a Warning `FailedPreStopHook` event with upstream's
        fixed message (the details only in the log, as they may hold secrets); a hook
        still running at the end of the grace period is left behind, and the stop
        signal ends it with the container (exec'd processes carry its marker)."""
        # bounded: a worker thread waits at most the grace period for the process
        ended = asyncio.ensure_future(asyncio.to_thread(proc.wait, grace))
        run = asyncio.ensure_future(self._run_hook(c, hook, timeout=grace))
        try:
            await asyncio.wait({run, ended}, timeout=grace,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if not run.done():
            why = "the container ended during it" if proc.termination is not None else \
                f"not completed in the grace period ({grace:g}s)"
            log.info("pod %s/%s: preStop hook of %s: %s", self.ns, self.name, c.name, why)
            run.cancel()
            return
        failure = run.result()
        if failure:
            log.warning("pod %s/%s: preStop hook failed: %s", self.ns, self.name, failure)
            await self.event("FailedPreStopHook", "PreStopHook failed", "Warning")

    async def _post_start(self, c: ContainerState, proc: ContainerProcess) -> bool:
        """The postStart hook, right after the start; the container counts as running and
        its probes begin only once it returns (upstream's pod worker is blocked on it, so
        the pod shows ContainerCreating meanwhile). A failure is a Warning
        `FailedPostStartHook` event, the container killed (`Killing` "FailedPostStartHook",
        preStop included) and restarted as its restartPolicy says. True when it passed."""
        hook = (c.spec.get("lifecycle") or {}).get("postStart")
        if not hook:
            return True
        failure = await self._run_hook(c, hook, timeout=None)
        if not failure:
            return True
        log.warning("pod %s/%s: postStart hook failed: %s", self.ns, self.name, failure)
        await self.event("FailedPostStartHook", "PostStartHook failed", "Warning")
        grace = float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))
        await self._kill_container(c, proc, grace, "FailedPostStartHook")
        return False

    async def _run_hook(self, c: ContainerState, hook: dict[str, Any],
                        timeout: float | None) -> str:
        """Run one lifecycle handler (exec, httpGet or sleep) in container `c`; "" when it
        succeeded, else the kubelet's message (handlers.go's wording)."""
        pod = f"{self.name}_{self.ns}({self.uid})"
        if "exec" in hook and c.handler is not None and c.launch is not None:
            argv = [str(a) for a in (hook["exec"] or {}).get("command") or []]
            runner = Exec(c.handler, c.launch, c.proc.marker if c.proc else "")
            result = await runner.run_async(argv, timeout=timeout)
            if result.exit_code == 0:
                return ""
            stderr = result.stderr.decode("utf-8", "replace")
            output = (result.stdout + result.stderr).decode("utf-8", "replace")
            return (f'Exec lifecycle hook ([{" ".join(argv)}]) for Container "{c.name}" in '
                    f'Pod "{pod}" failed - error: command \'{" ".join(argv)}\' exited with '
                    f"{result.exit_code}: {stderr}, message: {json.dumps(output)}")
        if "httpGet" in hook:
            h = hook["httpGet"] or {}
            headers = {x["name"]: x["value"] for x in h.get("httpHeaders") or []}
            port = h.get("port", "")
            result = await probes.http_get(
                h.get("host") or self.ip, 80 if port == "" else self._port(c, port),
                h.get("path", "/"), scheme=h.get("scheme", "HTTP"), headers=headers,
                timeout=timeout if timeout is not None else HOOK_HTTP_TIMEOUT,
                user_agent=HOOK_USER_AGENT, any_status=True)
            if result.success:
                return ""
            return (f'HTTP lifecycle hook ({h.get("path", "")}) for Container "{c.name}" in '
                    f'Pod "{pod}" failed - error: {result.output}')
        if "sleep" in hook:
            await asyncio.sleep(float((hook["sleep"] or {}).get("seconds", 0)))
            return ""
        return f"Cannot run handler: invalid handler: {json.dumps(hook)}"

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        statuses = [c.status() for c in self.containers]
        all_ready = all(c.ready for c in self.containers)
        running = any(isinstance(c.state, Running) for c in self.containers)
        waiting_restart = any(c.restarts and not c.done for c in self.containers)
        initialized = all(self._init_ok(c) for c in self.inits)
        init_failed = any(c.done and not self._init_ok(c) for c in self.inits)
        if init_failed or self.evicted:
            phase = "Failed"
        elif not initialized:
            phase = "Pending"
        elif all(c.done for c in self.containers):
            codes = [c.state.exit_code if isinstance(c.state, Terminated) else 1
                     for c in self.containers]
            phase = "Succeeded" if all(x == 0 for x in codes) else "Failed"
        elif running or waiting_restart:
            phase = "Running"
        else:
            phase = "Pending"
        old = {c["type"]: c for c in (self.pod.get("status") or {}).get("conditions") or []}

        def cond(t: str, ok: bool, reason: str = "") -> dict[str, Any]:
            s = "True" if ok else "False"
            prev = old.get(t)
            stamp = prev["lastTransitionTime"] if prev and prev.get("status") == s else now()
            out: dict[str, Any] = {"type": t, "status": s, "lastProbeTime": None,
                                   "lastTransitionTime": stamp}
            if not ok and reason == "ContainersNotInitialized":
                out["reason"] = reason
                left = [c.name for c in self.inits if not self._init_ok(c)]
                out["message"] = f"containers with incomplete status: [{' '.join(left)}]"
            elif not ok and reason:
                out["reason"] = reason
                not_ready = [c.name for c in self.containers if not c.ready]
                out["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
            return out

        conditions = [cond("PodReadyToStartContainers", True),
                      cond("Initialized", initialized, "ContainersNotInitialized"),
                      cond("Ready", all_ready, "ContainersNotReady"),
                      cond("ContainersReady", all_ready, "ContainersNotReady"),
                      cond("PodScheduled", True)]
        evicted: dict[str, Any] = {}
        if self.evicted:
            evicted = {"reason": "Evicted", "message": self.evicted}
            prev = old.get("DisruptionTarget")
            conditions.insert(0, {
                "type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                "lastTransitionTime": prev["lastTransitionTime"] if prev else now(),
                "reason": "TerminationByKubelet", "message": self.evicted})
        return {
            "phase": phase, **evicted,
            "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": self.ip, "podIPs": [{"ip": self.ip}], "startTime": self.start_time,
            "qosClass": _qos(self.pod),
            "conditions": conditions,
            "containerStatuses": statuses,
            **({"initContainerStatuses": [c.status() for c in self.inits]} if self.inits else {}),
        }

    async def _publisher(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            status = self.status()
            if status == self._published:
                continue
            try:
                current = await self.api.get("pods", self.ns, self.name)
            except ApiError:
                return
            if current["metadata"]["uid"] != self.uid:
                return
            current["status"] = status
            current["metadata"].pop("resourceVersion", None)
            try:
                self.pod = await self.api.update_status(current, field_manager=KUBELET)
                self._published = status
            except ApiError as exc:
                if exc.code == 404:
                    return
                log.warning("pod %s/%s status: %s", self.ns, self.name, exc)
                self._dirty.set()
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.02)


def _read_only_views(mounts: list[Mount], sealed: frozenset[str], volumes: dict[str, Path],
                     root: Path) -> list[Mount]:
    """A `readOnly` mount of a shared directory (PVC, emptyDir, hostPath) becomes a sealed
    snapshot taken now (readonly.py); configMap/secret volumes are sealed already."""
    sealed_dirs = {volumes[name] for name in sealed if name in volumes}
    out = []
    for i, m in enumerate(mounts):
        if m.read_only and not any(m.host_path == d or d in m.host_path.parents
                                   for d in sealed_dirs):
            try:
                view = readonly.snapshot(m.host_path, root / str(i))
            except (readonly.SnapshotTooLarge, OSError) as exc:
                raise ConfigError(str(exc)) from exc
            m = Mount(view, m.container_path, True)
        out.append(m)
    return out


def _x(text: str, env: dict[str, str]) -> str:
    from labcluster.node.podspec import expand
    return expand(str(text), env)


def _qos(pod: dict[str, Any]) -> str:
    reqs = lims = 0
    guaranteed = True
    for c in pod["spec"]["containers"]:
        r = (c.get("resources") or {})
        req, lim = r.get("requests") or {}, r.get("limits") or {}
        reqs += len(req)
        lims += len(lim)
        if not (lim.get("cpu") and lim.get("memory") and req.get("cpu") == lim.get("cpu")
                and req.get("memory") == lim.get("memory")):
            guaranteed = False
    if guaranteed:
        return "Guaranteed"
    return "Burstable" if reqs or lims else "BestEffort"
