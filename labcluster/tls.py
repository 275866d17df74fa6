"""A private CA and a server certificate for 127.0.0.1, made once per state dir.

kubectl (client-go's clientcmd) only sends a bearer token over TLS, so the server speaks
https; the kubeconfig carries the CA so both kubectl and the Python client verify it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


#: DNS names a pod uses for the API server (the `kubernetes` Service's), plus ours
SERVER_DNS_NAMES = ("localhost", "labcluster", "kubernetes", "kubernetes.default",
                    "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")


def _wanted_sans(extra_ips: tuple[str, ...]) -> tuple[set[str], set[str]]:
    return set(SERVER_DNS_NAMES), {"127.0.0.1", *extra_ips}


def _has_sans(crt_path: Path, extra_ips: tuple[str, ...]) -> bool:
    """Whether the serving certificate names everything a client may dial: one issued by
    an older labcluster (127.0.0.1 and localhost only) must be re-issued."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound, OSError):
        return False
    dns, ips = _wanted_sans(extra_ips)
    return dns <= set(san.get_values_for_type(x509.DNSName)) and ips <= {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def ensure_certs(home: Path, extra_ips: tuple[str, ...] = ()) -> tuple[Path, Path, Path]:
    """(ca.crt, server.crt, server.key) in `home`: the CA made once (kubeconfigs and
    kube-root-ca.crt carry it), the serving certificate (re)issued by it whenever its SANs
    lack 127.0.0.1, the `kubernetes` Service's names or one of `extra_ips` (its ClusterIP)."""
    ca_path, crt_path, key_path = home / "ca.crt", home / "server.crt", home / "server.key"
    ca_key_path = home / "ca.key"
    if (ca_path.exists() and crt_path.exists() and key_path.exists()
            and _has_sans(crt_path, extra_ips)
            and (ca_key_path.exists() or not extra_ips)):
        return ca_path, crt_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=3650)
    pem = serialization.Encoding.PEM
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labcluster-ca")])
    if ca_path.exists() and ca_key_path.exists():
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        ca_key = loaded
    else:  # a new CA (also for a home made before the CA key was kept: its one re-issue)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now).not_valid_after(until)
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                           False, False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        _write_private(ca_key_path, ca_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        _write_private(ca_path, ca.public_bytes(pem))
    dns, ips = _wanted_sans(extra_ips)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labcluster")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted(ips)]
                + [x509.DNSName(name) for name in SERVER_DNS_NAMES]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_private(key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    _write_private(crt_path, cert.public_bytes(pem))
    return ca_path, crt_path, key_path


def server_context(home: Path, extra_ips: tuple[str, ...] = ()) -> ssl.SSLContext:
    _, crt, key = ensure_certs(home, extra_ips)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    return ctx
