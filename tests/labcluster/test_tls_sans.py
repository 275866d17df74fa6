"""The serving certificate names what a pod dials (tls.py): the `kubernetes` Service's
ClusterIP and DNS names; one issued without them (an older labcluster's) is re-issued by
the same CA, so kubeconfigs and kube-root-ca.crt stay valid."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from labcluster import tls


def _sans(path: Path) -> tuple[set[str], set[str]]:
    san = x509.load_pem_x509_certificate(path.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return (set(san.get_values_for_type(x509.DNSName)),
            {str(ip) for ip in san.get_values_for_type(x509.IPAddress)})


def test_a_short_certificate_is_reissued_by_the_same_ca(tmp_path: Path) -> None:
    ca, crt, _ = tls.ensure_certs(tmp_path)
    ca_pem, first = ca.read_bytes(), crt.read_bytes()
    dns, ips = _sans(crt)
    assert "kubernetes.default.svc.cluster.local" in dns and ips == {"127.0.0.1"}
    tls.ensure_certs(tmp_path)
    assert crt.read_bytes() == first  # nothing missing: kept
    tls.ensure_certs(tmp_path, ("127.1.0.1",))
    assert crt.read_bytes() != first
    assert _sans(crt)[1] == {"127.0.0.1", "127.1.0.1"}
    assert ca.read_bytes() == ca_pem
    issuer = x509.load_pem_x509_certificate(ca_pem)
    x509.load_pem_x509_certificate(crt.read_bytes()).verify_directly_issued_by(issuer)
    assert oct((tmp_path / "ca.key").stat().st_mode & 0o777) == oct(0o600)
