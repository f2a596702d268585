"""Makes the self-test's TLS chain in resources/selftest/ (run by hand; the files are committed).

A root, an intermediate and a server certificate for ``selftest.threadline.invalid`` (EC P-256,
valid 2026–2076), and the server's key. ``threadline --self-test`` does a TLS handshake with them
in memory: they prove that certificate and host-name verification work in this build, never
that a public server is trusted (that is the trust store's part of the check).

    python -m tests.selftest_tls_chain
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OUT = Path(__file__).resolve().parent.parent / "resources" / "selftest"
HOST = "selftest.threadline.invalid"
START, END = datetime(2026, 1, 1, tzinfo=UTC), datetime(2076, 1, 1, tzinfo=UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Threadline self-test (not trusted)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(END)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def main() -> None:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = _cert("Self-test root", keys[0], "Self-test root", keys[0], ca=True, path_length=1)
    inter = _cert("Self-test intermediate", keys[1], "Self-test root", keys[0], ca=True)
    leaf = _cert(HOST, keys[2], "Self-test intermediate", keys[1], ca=False)
    pem = serialization.Encoding.PEM
    (OUT / "tls-root.pem").write_bytes(root.public_bytes(pem))
    (OUT / "tls-chain.pem").write_bytes(leaf.public_bytes(pem) + inter.public_bytes(pem))
    (OUT / "tls-key.pem").write_bytes(
        keys[2].private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


if __name__ == "__main__":
    main()
