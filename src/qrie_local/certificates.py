"""Self-signed X.509 certificates for the local AWS: IAM server certificates to seed and test
(an expired one is what CIS's "expired certificates removed" control looks for)."""

from __future__ import annotations

from datetime import datetime, timedelta


def pem_certificate(not_after: datetime, name: str = "qrie.test") -> str:
    """A self-signed PEM certificate (EC P-256) valid for a year until ``not_after``."""
    from cryptography import x509  # noqa: PLC0415 - moto's dependency, the local AWS only
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=365))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
