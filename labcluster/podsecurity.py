"""Pod Security admission: the namespace's `pod-security.kubernetes.io/*` labels, checked as
the API server's PodSecurity plugin checks them (staging/src/k8s.io/pod-security-admission).

Why here: labcluster runs pods as processes on the learner's machine, so a pod that asks
for `privileged`, the host's namespaces or a hostPath is refused before anything runs,
with upstream's message, e.g.::

    pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces
    (hostNetwork=true), privileged (container "c" must not set securityContext.privileged=true)

Levels `privileged` (nothing checked), `baseline` and `restricted`, each with upstream's
checks and wording; the results are joined in upstream's order (baseline checks by check
ID, then restricted ones; at `restricted` the baseline checks that a restricted one
replaces are dropped). One difference: a namespace without an `enforce` label is held to
`baseline` (upstream's built-in default is `privileged`; a cluster admin usually sets
baseline in the AdmissionConfiguration, which labcluster does not read). `warn` labels give
`would violate PodSecurity ...` warnings (kubectl prints them) for pods and for the pod
templates of workloads; `audit` is accepted but there is no audit log. The `-version`
labels are echoed in messages (`baseline:v1.30`); every version is checked with the newest
rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

PREFIX = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
DEFAULT_LEVEL = "baseline"
#: workload resource → the path to its pod template (warn only, as upstream)
TEMPLATES: dict[str, tuple[str, ...]] = {
    "deployments": ("spec", "template"), "replicasets": ("spec", "template"),
    "statefulsets": ("spec", "template"), "daemonsets": ("spec", "template"),
    "jobs": ("spec", "template"), "replicationcontrollers": ("spec", "template"),
    "cronjobs": ("spec", "jobTemplate", "spec", "template"), "podtemplates": ("template",),
}
BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"})
RESTRICTED_VOLUME_TYPES_ALLOWED = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret"})

Result = tuple[str, str] | None  # (forbidden reason, detail) or None when allowed
Spec = dict[str, Any]
Meta = dict[str, Any]


def _q(names: list[str] | set[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _plural(one: str, many: str, n: int) -> str:
    return one if n == 1 else many


def _containers(spec: Spec) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _sc(c: dict[str, Any]) -> dict[str, Any]:
    return c.get("securityContext") or {}


def _pod_sc(spec: Spec) -> dict[str, Any]:
    return spec.get("securityContext") or {}


# --------------------------------------------------------------------------- baseline
def _app_armor(meta: Meta, spec: Spec) -> Result:
    bad = set()
    for key, value in (meta.get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                value == "runtime/default" or value.startswith("localhost/")):
            bad.add(f"{key}={value!r}".replace("'", '"'))
    for owner in [_pod_sc(spec), *(_sc(c) for c in _containers(spec))]:
        kind = (owner.get("appArmorProfile") or {}).get("type")
        if kind == "Unconfined":
            bad.add('type "Unconfined"')
    if bad:
        return ("forbidden AppArmor profile" + ("s" if len(bad) > 1 else ""),
                ", ".join(sorted(bad)))
    return None


def _capabilities_baseline(meta: Meta, spec: Spec) -> Result:
    bad, caps = [], set()
    for c in _containers(spec):
        added = [a for a in ((_sc(c).get("capabilities") or {}).get("add") or [])
                 if a not in BASELINE_CAPABILITIES]
        if added:
            bad.append(c["name"])
            caps.update(added)
    if bad:
        return ("non-default capabilities",
                f"{_plural('container', 'containers', len(bad))} {_q(bad)} must not include "
                f"{_q(sorted(caps))} in securityContext.capabilities.add")
    return None


def _host_namespaces(meta: Meta, spec: Spec) -> Result:
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return ("host namespaces", ", ".join(used)) if used else None


def _host_path_volumes(meta: Meta, spec: Spec) -> Result:
    names = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    if names:
        return "hostPath volumes", f"{_plural('volume', 'volumes', len(names))} {_q(names)}"
    return None


def _host_ports(meta: Meta, spec: Spec) -> Result:
    bad, ports = [], set()
    for c in _containers(spec):
        used = [p["hostPort"] for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(c["name"])
            ports.update(str(p) for p in used)
    if bad:
        return ("hostPort", f"{_plural('container', 'containers', len(bad))} {_q(bad)} "
                            f"{_plural('uses', 'use', len(bad))} "
                            f"{_plural('hostPort', 'hostPorts', len(ports))} "
                            f"{', '.join(sorted(ports))}")
    return None


def _privileged(meta: Meta, spec: Spec) -> Result:
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("privileged") is True]
    if bad:
        return ("privileged", f"{_plural('container', 'containers', len(bad))} {_q(bad)} "
                              "must not set securityContext.privileged=true")
    return None


def _proc_mount(meta: Meta, spec: Spec) -> Result:
    bad, kinds = [], set()
    for c in _containers(spec):
        kind = _sc(c).get("procMount")
        if kind is not None and kind != "Default":
            bad.append(c["name"])
            kinds.add(kind)
    if bad:
        return ("procMount", f"{_plural('container', 'containers', len(bad))} {_q(bad)} must "
                             f"not set securityContext.procMount to {_q(sorted(kinds))}")
    return None


def _se_linux(meta: Meta, spec: Spec) -> Result:
    bad_types, bad_fields = set(), []
    allowed = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
    owners = [("pod", _pod_sc(spec))] + [(f'container "{c["name"]}"', _sc(c))
                                         for c in _containers(spec)]
    for _, sc in owners:
        opts = sc.get("seLinuxOptions") or {}
        if opts.get("type", "") not in allowed:
            bad_types.add(opts["type"])
        for field in ("user", "role"):
            if opts.get(field):
                bad_fields.append(field)
    details = []
    if bad_types:
        details.append(f"{_plural('type', 'types', len(bad_types))} {_q(sorted(bad_types))}")
    if bad_fields:
        fields = sorted(set(bad_fields))
        details.append(f"{_plural('field', 'fields', len(fields))} {', '.join(fields)} set")
    if details:
        return "seLinuxOptions", "; ".join(details)
    return None


def _seccomp_bad(spec: Spec) -> tuple[list[str], set[str], bool, list[str]]:
    """(explicit bad setters, bad values, pod set a valid profile, containers with none)."""
    setters, values, pod_ok = [], set(), False
    profile = _pod_sc(spec).get("seccompProfile")
    if profile is not None:
        if profile.get("type") in ("RuntimeDefault", "Localhost"):
            pod_ok = True
        else:
            setters.append("pod")
            values.add(profile.get("type", ""))
    explicit, implicit = [], []
    for c in _containers(spec):
        p = _sc(c).get("seccompProfile")
        if p is not None:
            if p.get("type") not in ("RuntimeDefault", "Localhost"):
                explicit.append(c["name"])
                values.add(p.get("type", ""))
        elif not pod_ok:
            implicit.append(c["name"])
    if explicit:
        setters.append(f"{_plural('container', 'containers', len(explicit))} {_q(explicit)}")
    return setters, values, pod_ok, implicit


def _seccomp_baseline(meta: Meta, spec: Spec) -> Result:
    setters, values, _, _ = _seccomp_bad(spec)
    if setters:
        return ("seccompProfile", f"{' and '.join(setters)} must not set "
                                  f"securityContext.seccompProfile.type to {_q(sorted(values))}")
    return None


def _sysctls(meta: Meta, spec: Spec) -> Result:
    bad = [s.get("name", "") for s in _pod_sc(spec).get("sysctls") or []
           if s.get("name") not in SAFE_SYSCTLS]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def _windows_host_process(meta: Meta, spec: Spec) -> Result:
    owners = [_pod_sc(spec), *(_sc(c) for c in _containers(spec))]
    if any((sc.get("windowsOptions") or {}).get("hostProcess") for sc in owners):
        return "hostProcess", "pod or containers must not set securityContext.windowsOptions.hostProcess=true"
    return None


# --------------------------------------------------------------------------- restricted
def _allow_privilege_escalation(meta: Meta, spec: Spec) -> Result:
    bad = [c["name"] for c in _containers(spec)
           if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return ("allowPrivilegeEscalation != false",
                f"{_plural('container', 'containers', len(bad))} {_q(bad)} must set "
                "securityContext.allowPrivilegeEscalation=false")
    return None


def _capabilities_restricted(meta: Meta, spec: Spec) -> Result:
    missing, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if capabilities is None:
            missing.append(c["name"])
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing.append(c["name"])
        added = [a for a in capabilities.get("add") or [] if a != "NET_BIND_SERVICE"]
        if added:
            adding.append(c["name"])
            caps.update(added)
    details = []
    if missing:
        details.append(f"{_plural('container', 'containers', len(missing))} {_q(missing)} must "
                       'set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_plural('container', 'containers', len(adding))} {_q(adding)} must "
                       f"not include {_q(sorted(caps))} in securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


def _restricted_volumes(meta: Meta, spec: Spec) -> Result:
    bad = sorted(v["name"] for v in spec.get("volumes") or []
                 if not any(k in RESTRICTED_VOLUME_TYPES_ALLOWED for k in v if k != "name"))
    if bad:
        return "restricted volume types", f"volumes {_go_list(bad)} have restricted types"
    return None


def _go_list(names: list[str]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(f'"{n}"' for n in names) + "]"


def _run_as_non_root(meta: Meta, spec: Spec) -> Result:
    setters: list[str] = []
    pod_value = _pod_sc(spec).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    explicit, implicit = [], []
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is False:
            explicit.append(c["name"])
        elif value is None and pod_value is not True:
            implicit.append(c["name"])
    if explicit:
        setters.append(f"{_plural('container', 'containers', len(explicit))} {_q(explicit)}")
    if setters:
        return ("runAsNonRoot != true",
                f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return ("runAsNonRoot != true",
                f"pod or {_plural('container', 'containers', len(implicit))} {_q(implicit)} "
                "must set securityContext.runAsNonRoot=true")
    return None


def _run_as_user(meta: Meta, spec: Spec) -> Result:
    setters = ["pod"] if _pod_sc(spec).get("runAsUser") == 0 else []
    bad = [c["name"] for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if bad:
        setters.append(f"{_plural('container', 'containers', len(bad))} {_q(bad)}")
    if setters:
        return "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"
    return None


def _seccomp_restricted(meta: Meta, spec: Spec) -> Result:
    setters, values, _, implicit = _seccomp_bad(spec)
    if setters:
        return ("seccompProfile", f"{' and '.join(setters)} must not set "
                                  f"securityContext.seccompProfile.type to {_q(sorted(values))}")
    if implicit:
        return ("seccompProfile",
                f"pod or {_plural('container', 'containers', len(implicit))} {_q(implicit)} "
                'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return None


Check = Callable[[Meta, Spec], Result]
# (check, level, replaced at restricted by) — in upstream's order (its files, by check ID)
CHECKS: list[tuple[Check, str, bool]] = [
    (_allow_privilege_escalation, "restricted", False),
    (_app_armor, "baseline", False),
    (_capabilities_baseline, "baseline", True),
    (_capabilities_restricted, "restricted", False),
    (_host_namespaces, "baseline", False),
    (_host_path_volumes, "baseline", True),
    (_host_ports, "baseline", False),
    (_privileged, "baseline", False),
    (_proc_mount, "baseline", False),
    (_restricted_volumes, "restricted", False),
    (_run_as_non_root, "restricted", False),
    (_run_as_user, "restricted", False),
    (_se_linux, "baseline", False),
    (_seccomp_baseline, "baseline", True),
    (_seccomp_restricted, "restricted", False),
    (_sysctls, "baseline", False),
    (_windows_host_process, "baseline", False),
]


def evaluate(level: str, meta: Meta, spec: Spec) -> list[tuple[str, str]]:
    """The failed checks of `level` for a pod: [(reason, detail)], upstream's order
    (baseline checks first, then restricted ones)."""
    if level == "privileged":
        return []
    found_baseline, found_restricted = [], []
    for check, check_level, overlapped in CHECKS:
        if check_level == "restricted" and level != "restricted":
            continue
        if overlapped and level == "restricted":
            continue
        result = check(meta, spec)
        if result is not None:
            (found_restricted if check_level == "restricted" else found_baseline).append(result)
    return found_baseline + found_restricted


def detail(failures: list[tuple[str, str]]) -> str:
    return ", ".join(f"{reason} ({text})" if text else reason for reason, text in failures)


def policy(labels: dict[str, str] | None, mode: str) -> tuple[str, str] | None:
    """(level, "level:version") of a mode (enforce, warn, audit) from namespace labels.

    enforce defaults to baseline; warn and audit to nothing. An unknown level is held to
    `restricted` (upstream evaluates an invalid label as restricted:latest)."""
    labels = labels or {}
    level = labels.get(PREFIX + mode)
    if level is None:
        if mode != "enforce":
            return None
        level = DEFAULT_LEVEL
    version = labels.get(f"{PREFIX}{mode}-version") or "latest"
    if level not in LEVELS:
        level, version = "restricted", "latest"
    return level, f"{level}:{version}"


def admit_pod(pod: dict[str, Any], ns_labels: dict[str, str] | None,
              forbid: Callable[[str], Exception], warn: Callable[[str], None]) -> None:
    """Enforce (raise `forbid(message)`) and warn for a pod being created."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    enforce = policy(ns_labels, "enforce")
    assert enforce is not None
    failures = evaluate(enforce[0], meta, spec)
    if failures:
        raise forbid(f'violates PodSecurity "{enforce[1]}": {detail(failures)}')
    _warn(ns_labels, meta, spec, enforce, warn)


def warn_template(plural: str, obj: dict[str, Any], ns_labels: dict[str, str] | None,
                  warn: Callable[[str], None]) -> None:
    """A workload's pod template gets the `warn` level's warnings (never enforced: its pods
    are, when its controller creates them)."""
    path = TEMPLATES.get(plural)
    if path is None:
        return
    template: Any = obj
    for key in path:
        template = (template or {}).get(key) if isinstance(template, dict) else None
    if not isinstance(template, dict):
        return
    _warn(ns_labels, template.get("metadata") or {}, template.get("spec") or {}, None, warn)


def _warn(ns_labels: dict[str, str] | None, meta: Meta, spec: Spec,
          enforce: tuple[str, str] | None, warn: Callable[[str], None]) -> None:
    level = policy(ns_labels, "warn")
    if level is None or level == enforce:
        return
    failures = evaluate(level[0], meta, spec)
    if failures:
        warn(f'would violate PodSecurity "{level[1]}": {detail(failures)}')
