"""A self-signed serving certificate for the Kubernetes API.

kubectl (client-go) never sends a bearer token over plain ``http://`` (kubernetes/kubectl#744),
so a token-protected API server must speak TLS for kubectl to authenticate. The certificate is
its own CA; kubeconfigs embed it as ``certificate-authority-data``.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class ServingCert:
    cert_file: Path
    key_file: Path

    @property
    def ca_data(self) -> str:
        """The certificate, base64-encoded, for a kubeconfig's ``certificate-authority-data``."""
        return base64.b64encode(self.cert_file.read_bytes()).decode()


def ensure_serving_cert(
    directory: str | Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> ServingCert:
    """Create (once) ``kube-apiserver.crt``/``.key`` in ``directory`` and return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "kube-apiserver.crt", directory / "kube-apiserver.key"
    if cert_file.exists() and key_file.exists():
        return ServingCert(cert_file, key_file)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oktalab-sandbox-kube-apiserver")])
    alt: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ServingCert(cert_file, key_file)


def kubeconfig(
    server: str, token: str, ca_data: str | None = None, namespace: str = "default"
) -> str:
    """A one-context kubeconfig (YAML) for ``server`` with a bearer ``token``."""
    import yaml

    cluster: dict[str, object] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": cluster}],
        "users": [{"name": "sandbox", "user": {"token": token}}],
        "contexts": [
            {
                "name": "sandbox",
                "context": {"cluster": "sandbox", "user": "sandbox", "namespace": namespace},
            }
        ],
        "current-context": "sandbox",
    }
    return yaml.safe_dump(doc, sort_keys=False)
