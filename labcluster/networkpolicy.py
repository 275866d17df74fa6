"""networking.k8s.io/v1 NetworkPolicy in the API: the resource, its defaulting, the API
server's validation (pkg/apis/networking/validation, 1.32 wording) and its `kubectl get`
columns. Kept in one module so the kind plugs into the registry, defaults, validation and
tables with one line each.

What a policy *does* is the node's part (labcluster/node/netpol.py compiles the policies
into the table the pods' network shims enforce).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .errors import FieldError
from .namerules import LABEL_VALUE, MSG_LABEL_VALUE, check_labels
from .registry import NETWORK_POLICIES

RESOURCE = NETWORK_POLICIES
PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
MSG_PORT = "must be between 1 and 65535, inclusive"


# ---------------------------------------------------------------- defaulting

def apply_defaults(obj: dict[str, Any]) -> None:
    """SetDefaults_NetworkPolicy / _NetworkPolicyPort: `policyTypes` is [Ingress], plus
    Egress when egress rules are present; each port's protocol is TCP."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in (rule or {}).get("ports") or []:
                if isinstance(port, dict) and port.get("protocol") is None:
                    port["protocol"] = "TCP"


# ---------------------------------------------------------------- validation

def _port_name_errors(name: str) -> list[str]:
    """validation.IsValidPortName, every message it can give."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch("[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def _check_port(port: dict[str, Any], path: str, errs: list[FieldError]) -> None:
    """ValidateNetworkPolicyPort."""
    proto = port.get("protocol")
    if proto is not None and proto not in PROTOCOLS:
        errs.append(FieldError("Unsupported value", f"{path}.protocol", proto,
                               'supported values: "TCP", "UDP", "SCTP"'))
    number, end = port.get("port"), port.get("endPort")
    if number is not None:
        if isinstance(number, int):
            if not 1 <= number <= 65535:
                errs.append(FieldError("Invalid value", f"{path}.port", number, MSG_PORT))
            if end is not None:
                if end < number:
                    errs.append(FieldError("Invalid value", f"{path}.endPort", end,
                                           "must be greater than or equal to `port`"))
                if not 1 <= end <= 65535:
                    errs.append(FieldError("Invalid value", f"{path}.endPort", end, MSG_PORT))
        else:
            if end is not None:
                errs.append(FieldError("Invalid value", f"{path}.endPort", end,
                                       "may not be specified when `port` is non-numeric"))
            for msg in _port_name_errors(str(number)):
                errs.append(FieldError("Invalid value", f"{path}.port", str(number), msg))
    elif end is not None:
        errs.append(FieldError("Invalid value", f"{path}.endPort", end,
                               "may not be specified when `port` is not specified"))


def _check_selector(sel: Any, path: str, errs: list[FieldError]) -> None:
    """metav1 ValidateLabelSelector (matchLabels as labels, each expression's operator,
    values and key)."""
    if not isinstance(sel, dict):
        return
    check_labels(sel.get("matchLabels"), f"{path}.matchLabels", errs)
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        epath = f"{path}.matchExpressions[{i}]"
        op, values = expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(FieldError("Required value", f"{epath}.values",
                                       detail="must be specified when `operator` is 'In' or "
                                       "'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(FieldError("Forbidden", f"{epath}.values",
                                       detail="may not be specified when `operator` is "
                                       "'Exists' or 'DoesNotExist'"))
        else:
            errs.append(FieldError("Invalid value", f"{epath}.operator", op,
                                   "not a valid selector operator"))
        key = expr.get("key", "")
        key_errs: list[FieldError] = []
        check_labels({key: ""}, f"{epath}.key", key_errs)
        errs.extend(e for e in key_errs if e.value == key)
        for j, value in enumerate(values):
            if not isinstance(value, str) or len(value) > 63 or not re.fullmatch(LABEL_VALUE,
                                                                                  value):
                detail = ("must be no more than 63 characters" if isinstance(value, str)
                          and len(value) > 63 else MSG_LABEL_VALUE)
                errs.append(FieldError("Invalid value", f"{epath}.values[{j}]", value, detail))


def _network(text: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """netutils.ParseCIDRSloppy: host bits may be set (10.0.0.1/8 is 10.0.0.0/8)."""
    if not isinstance(text, str) or "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _check_ip_block(block: dict[str, Any], path: str, errs: list[FieldError]) -> None:
    """ValidateIPBlock (1.32): a valid cidr; each `except` a valid CIDR strictly inside."""
    cidr = block.get("cidr") or ""
    if not cidr:
        errs.append(FieldError("Required value", f"{path}.cidr"))
        return
    net = _network(cidr)
    if net is None:
        errs.append(FieldError("Invalid value", f"{path}.cidr", cidr, "not a valid CIDR"))
        return
    for i, text in enumerate(block.get("except") or []):
        sub = _network(text)
        if sub is None:
            errs.append(FieldError("Invalid value", f"{path}.except[{i}]", text,
                                   "not a valid CIDR"))
            return
        if (sub.version != net.version or sub.network_address not in net
                or net.prefixlen >= sub.prefixlen):
            errs.append(FieldError("Invalid value", f"{path}.except[{i}]", text,
                                   "must be a strict subset of `cidr`"))


def _check_peer(peer: dict[str, Any], path: str, errs: list[FieldError]) -> None:
    """ValidateNetworkPolicyPeer: one peer type, or podSelector with namespaceSelector."""
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            _check_selector(peer[key], f"{path}.{key}", errs)
    if peer.get("ipBlock") is not None:
        count += 1
        _check_ip_block(peer["ipBlock"], f"{path}.ipBlock", errs)
    if count == 0:
        errs.append(FieldError("Required value", path, detail="must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.append(FieldError("Forbidden", path,
                               detail="may not specify both ipBlock and another peer"))


def check(obj: dict[str, Any], errs: list[FieldError]) -> None:
    """ValidateNetworkPolicySpec; metadata is checked by the caller (DNS-1123 subdomain)."""
    spec = obj.get("spec") or {}
    _check_selector(spec.get("podSelector"), "spec.podSelector", errs)
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            rpath = f"spec.{direction}[{i}]"
            for j, port in enumerate((rule or {}).get("ports") or []):
                _check_port(port or {}, f"{rpath}.ports[{j}]", errs)
            for j, peer in enumerate((rule or {}).get(peers_key) or []):
                _check_peer(peer or {}, f"{rpath}.{peers_key}[{j}]", errs)
    types = spec.get("policyTypes") or []
    if len(types) > len(POLICY_TYPES):
        from .errors import GoType
        shown = "&[]networking.PolicyType{" + ", ".join(f'"{t}"' for t in types) + "}"
        errs.append(FieldError("Invalid value", "spec.policyTypes", GoType(shown),
                               "may not specify more than two policyTypes"))
        return
    for i, kind in enumerate(types):
        if kind not in POLICY_TYPES:
            errs.append(FieldError("Unsupported value", f"spec.policyTypes[{i}]", kind,
                                   'supported values: "Ingress", "Egress"'))

