"""A throwaway public-key infrastructure for TLS tests, made with the `openssl` command line in a
temporary directory at test time (no key or certificate is ever kept in the repository).

    root CA ──┬── intermediate CA ──┬── server certificates (localhost, 127.0.0.1)
              │                     ├── server certificates for other names (SNI)
              │                     └── the OCSP responder's certificate
              └── client certificates (CN = device id), valid or expired
    rogue root CA ── client certificates nobody trusts
    self-signed client certificates
    CRLs from the root or the intermediate, revoking the certificates a test names

Server certificates are issued by the intermediate, so a server that does not send its chain
cannot be verified by a client that trusts only the root. A server certificate file holds the
chain, leaf first then the intermediate, as the broker's tls.cert expects.

Keys are ECDSA P-256 unless a method says otherwise. Certificates with validity in the past are
made with `openssl ca -startdate/-enddate`: OpenSSL 3.0's `x509` and `req` can only start
validity now.

A CRL is made the way an operator makes one, `openssl ca -revoke` for each certificate and then
`openssl ca -gencrl`, over a CA database made afresh for that CRL: each CRL lists exactly the
certificates its call names, and CRL numbers grow through the run.

An OCSP response (DER, what a broker staples) is made the same way: a fresh CA database that
lists the certificate as valid (`openssl ca -valid`) or revoked (`openssl ca -revoke`), then
`openssl ocsp` answering for it as the intermediate's delegated responder. `openssl ocsp`
starts a response's validity now, so the one response already past its nextUpdate is made
with the `cryptography` package instead.

Everything is made on first use and cached, so a session-wide Pki costs only what a run asks
for. Not thread-safe: one test thread uses it.
"""

from __future__ import annotations

import functools
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

OPENSSL = "openssl"
OPENSSL_TIMEOUT = 60.0
VALID_DAYS = 30
# A validity window that ended long ago, for expired certificates.
PAST_START = "20200101000000Z"
PAST_END = "20200201000000Z"

_CONFIG = """\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = replaced by -subj

[v3_root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[v3_intermediate]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_ocsp_responder]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,OCSPSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_self_signed_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash

# `openssl ca`, used only for certificates whose validity lies in the past.
[past_ca]
database = {dir}/ca-db/index.txt
new_certs_dir = {dir}/ca-db/new
serial = {dir}/ca-db/serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none

[any_name]
commonName = supplied
"""

# `openssl ca` for one CRL: {db} is a database directory made for that CRL alone.
_CRL_CONFIG = """\
[crl_ca]
database = {db}/index.txt
crlnumber = {db}/crlnumber
default_md = sha256
crl_extensions = crl_extensions

[crl_extensions]
authorityKeyIdentifier = keyid:always
"""

# A server certificate for the names an SNI test needs ({names}: "DNS:a,DNS:b").
_NAMED_SERVER_EXTENSIONS = """\
[v3_named_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {names}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# `openssl ca` for the database one OCSP response is made from.
_OCSP_DB_CONFIG = """\
[ocsp_ca]
database = {db}/index.txt
default_md = sha256
"""


class PkiError(RuntimeError):
    pass


@dataclass(frozen=True)
class Credential:
    """A certificate file (leaf first, then any intermediates) and its private key."""
    cert: Path
    key: Path
    subject: str


class Pki:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._config = self.dir / "openssl.cnf"
        self._config.write_text(_CONFIG.format(dir=self.dir))
        self._clients: Dict[str, Credential] = {}
        self._named_servers: Dict[str, Credential] = {}
        self._crls_made = 0
        self._ocsp_made = 0

    # -- running openssl ----------------------------------------------------------------------

    def _openssl(self, *args: str) -> None:
        argv = [OPENSSL, *args]
        result = subprocess.run(argv, cwd=self.dir, capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=OPENSSL_TIMEOUT)
        if result.returncode != 0:
            raise PkiError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")

    def _new_key(self, name: str, algorithm: str = "ec") -> Path:
        path = self.dir / f"{name}.key"
        if algorithm == "ec":
            self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-out", str(path))
        elif algorithm == "rsa":
            self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                          "-out", str(path))
        else:
            raise ValueError(f"unknown key algorithm {algorithm!r}")
        path.chmod(0o600)
        return path

    def _self_signed(self, name: str, subject: str, extensions: str) -> Credential:
        key = self._new_key(name)
        cert = self.dir / f"{name}.crt"
        self._openssl("req", "-config", str(self._config), "-new", "-x509", "-key", str(key),
                      "-subj", subject, "-days", str(VALID_DAYS), "-sha256",
                      "-set_serial", _random_serial(), "-extensions", extensions,
                      "-out", str(cert))
        return Credential(cert, key, subject)

    def _request(self, name: str, subject: str, algorithm: str) -> Tuple[Path, Path]:
        key = self._new_key(name, algorithm)
        csr = self.dir / f"{name}.csr"
        self._openssl("req", "-config", str(self._config), "-new", "-key", str(key),
                      "-subj", subject, "-out", str(csr))
        return key, csr

    def _issue(self, name: str, subject: str, issuer: Credential, extensions: str,
               algorithm: str = "ec", chain: Optional[List[Credential]] = None,
               extfile: Optional[Path] = None) -> Credential:
        """A certificate valid from now for VALID_DAYS, signed by `issuer`; the file holds the
        leaf followed by the certificates in `chain`. The `extensions` section is read from
        `extfile`, or from the PKI's own configuration."""
        key, csr = self._request(name, subject, algorithm)
        leaf = self.dir / f"{name}.leaf.crt"
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(issuer.cert),
                      "-CAkey", str(issuer.key), "-set_serial", _random_serial(),
                      "-days", str(VALID_DAYS), "-sha256",
                      "-extfile", str(extfile or self._config),
                      "-extensions", extensions, "-out", str(leaf))
        return Credential(self._bundle(name, leaf, chain or []), key, subject)

    def _issue_in_the_past(self, name: str, subject: str, issuer: Credential, extensions: str,
                           chain: Optional[List[Credential]] = None) -> Credential:
        """Like _issue, but valid only from PAST_START to PAST_END: expired."""
        key, csr = self._request(name, subject, "ec")
        db = self.dir / "ca-db"
        if not db.exists():
            (db / "new").mkdir(parents=True)
            (db / "index.txt").write_text("")
            (db / "serial").write_text(_random_serial()[2:] + "\n")
        leaf = self.dir / f"{name}.leaf.crt"
        self._openssl("ca", "-batch", "-config", str(self._config), "-name", "past_ca",
                      "-cert", str(issuer.cert), "-keyfile", str(issuer.key),
                      "-in", str(csr), "-out", str(leaf), "-notext",
                      "-startdate", PAST_START, "-enddate", PAST_END,
                      "-extensions", extensions)
        return Credential(self._bundle(name, leaf, chain or []), key, subject)

    def _bundle(self, name: str, leaf: Path, chain: List[Credential]) -> Path:
        bundle = self.dir / f"{name}.crt"
        bundle.write_text(leaf.read_text() + "".join(c.cert.read_text() for c in chain))
        return bundle

    # -- authorities ---------------------------------------------------------------------------

    @functools.cached_property
    def root(self) -> Credential:
        """The root CA: what clients trust for the server, and the broker for clients."""
        return self._self_signed("root-ca", "/O=Moat Tests/CN=Moat Test Root CA", "v3_root")

    @functools.cached_property
    def intermediate(self) -> Credential:
        return self._issue("intermediate-ca", "/O=Moat Tests/CN=Moat Test Intermediate CA",
                           self.root, "v3_intermediate")

    @functools.cached_property
    def rogue_root(self) -> Credential:
        """A root CA the broker does not trust."""
        return self._self_signed("rogue-ca", "/O=Somebody Else/CN=Rogue Root CA", "v3_root")

    # -- servers -------------------------------------------------------------------------------

    @functools.cached_property
    def server(self) -> Credential:
        """ECDSA P-256 server certificate for localhost and 127.0.0.1, chain included."""
        return self._issue("server", "/O=Moat Tests/CN=localhost", self.intermediate,
                           "v3_server", chain=[self.intermediate])

    @functools.cached_property
    def renewed_server(self) -> Credential:
        """What renewing `server` brings: the same subject and names from the same
        intermediate, with a new key and a new serial number."""
        return self._issue("server-renewed", "/O=Moat Tests/CN=localhost", self.intermediate,
                           "v3_server", chain=[self.intermediate])

    @functools.cached_property
    def server_rsa(self) -> Credential:
        """The same names with an RSA 2048 key."""
        return self._issue("server-rsa", "/O=Moat Tests/CN=localhost (RSA)", self.intermediate,
                           "v3_server", algorithm="rsa", chain=[self.intermediate])

    @functools.cached_property
    def expired_server(self) -> Credential:
        return self._issue_in_the_past("server-expired", "/O=Moat Tests/CN=localhost (expired)",
                                       self.intermediate, "v3_server",
                                       chain=[self.intermediate])

    def named_server(self, label: str, names: Sequence[str]) -> Credential:
        """A server certificate from the intermediate (chain included) whose subject is
        "/O=Moat Tests/CN=<first name>" and whose subjectAltName holds every DNS name in
        `names` (wildcards as written). `label` tells apart certificates for the same names
        (a renewal); cached by label."""
        if label not in self._named_servers:
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label)
            extfile = self.dir / f"named-server-{safe}.ext"
            extfile.write_text(_NAMED_SERVER_EXTENSIONS.format(
                names=",".join(f"DNS:{name}" for name in names)))
            self._named_servers[label] = self._issue(
                f"named-server-{safe}", f"/O=Moat Tests/CN={names[0]}", self.intermediate,
                "v3_named_server", chain=[self.intermediate], extfile=extfile)
        return self._named_servers[label]

    # -- OCSP ------------------------------------------------------------------------------------

    @functools.cached_property
    def ocsp_responder(self) -> Credential:
        """The intermediate's delegated OCSP responder (extendedKeyUsage OCSPSigning)."""
        return self._issue("ocsp-responder", "/O=Moat Tests/CN=Moat Test OCSP Responder",
                           self.intermediate, "v3_ocsp_responder")

    def ocsp_response(self, server: Credential, status: str = "good", days: int = 7,
                      minutes: Optional[int] = None) -> Path:
        """A new DER OCSP response about `server` (a certificate the intermediate issued):
        `status` "good" or "revoked", valid from now for `days` days, or for `minutes` minutes
        when given, signed by ocsp_responder. Not cached: every call makes a new file."""
        if status not in ("good", "revoked"):
            raise ValueError(f"unknown OCSP status {status!r}")
        self._ocsp_made += 1
        number = self._ocsp_made
        db = self.dir / f"ocsp-db-{number}"
        db.mkdir()
        (db / "index.txt").write_text("")
        config = db / "openssl.cnf"
        config.write_text(_OCSP_DB_CONFIG.format(db=db))
        ca = ["ca", "-batch", "-config", str(config), "-name", "ocsp_ca",
              "-cert", str(self.intermediate.cert), "-keyfile", str(self.intermediate.key)]
        if status == "good":
            self._openssl(*ca, "-valid", str(server.cert))
        else:
            self._openssl(*ca, "-revoke", str(server.cert), "-crl_reason", "keyCompromise")
        response = self.dir / f"ocsp-{number}-{status}.der"
        validity = ["-nmin", str(minutes)] if minutes is not None else ["-ndays", str(days)]
        self._openssl("ocsp", "-index", str(db / "index.txt"),
                      "-rsigner", str(self.ocsp_responder.cert),
                      "-rkey", str(self.ocsp_responder.key),
                      "-CA", str(self.intermediate.cert), "-issuer", str(self.intermediate.cert),
                      "-cert", str(server.cert), "-no_nonce", *validity,
                      "-respout", str(response))
        return response

    def expired_ocsp_response(self, server: Credential) -> Path:
        """A "good" response about `server` whose validity ran from two days ago until
        yesterday. Needs the `cryptography` package (ImportError without it)."""
        from datetime import datetime, timedelta, timezone

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509 import ocsp

        def certificate(path: Path) -> "x509.Certificate":
            return x509.load_pem_x509_certificate(path.read_bytes())  # the file's first

        now = datetime.now(timezone.utc).replace(tzinfo=None)
        responder = certificate(self.ocsp_responder.cert)
        builder = (ocsp.OCSPResponseBuilder()
                   .add_response(cert=certificate(server.cert),
                                 issuer=certificate(self.intermediate.cert),
                                 algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
                                 this_update=now - timedelta(days=2),
                                 next_update=now - timedelta(days=1),
                                 revocation_time=None, revocation_reason=None)
                   .responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
                   .certificates([responder]))
        key = serialization.load_pem_private_key(self.ocsp_responder.key.read_bytes(),
                                                 password=None)
        self._ocsp_made += 1
        response = self.dir / f"ocsp-{self._ocsp_made}-expired.der"
        response.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER))
        return response

    # -- clients -------------------------------------------------------------------------------

    def client(self, device_id: str) -> Credential:
        """A valid client certificate from the root CA with CN = `device_id`."""
        return self._client("valid", device_id,
                            lambda name, subject: self._issue(name, subject, self.root,
                                                              "v3_client"))

    def expired_client(self, device_id: str) -> Credential:
        """From the trusted root CA, but its validity ended in 2020."""
        return self._client("expired", device_id,
                            lambda name, subject: self._issue_in_the_past(
                                name, subject, self.root, "v3_client"))

    def rogue_client(self, device_id: str) -> Credential:
        """Well formed and current, but issued by a CA the broker does not trust."""
        return self._client("rogue", device_id,
                            lambda name, subject: self._issue(name, subject, self.rogue_root,
                                                              "v3_client"))

    def self_signed_client(self, device_id: str) -> Credential:
        return self._client("self-signed", device_id,
                            lambda name, subject: self._self_signed(
                                name, subject, "v3_self_signed_client"))

    # -- revocation ----------------------------------------------------------------------------

    def crl(self, issuer: Credential, revoked: Sequence[Credential] = ()) -> Path:
        """A new PEM CRL file signed by `issuer` (the root or the intermediate) that revokes
        exactly the certificates in `revoked` (certificates `issuer` signed; a file's first
        certificate is the one revoked), valid from now for VALID_DAYS. Not cached: every call
        makes a new file, with a CRL number above every earlier one."""
        self._crls_made += 1
        number = self._crls_made
        db = self.dir / f"crl-db-{number}"
        db.mkdir()
        (db / "index.txt").write_text("")
        (db / "crlnumber").write_text(f"{number:04X}\n")
        config = db / "openssl.cnf"
        config.write_text(_CRL_CONFIG.format(db=db))
        ca = ["ca", "-batch", "-config", str(config), "-name", "crl_ca",
              "-cert", str(issuer.cert), "-keyfile", str(issuer.key)]
        for credential in revoked:
            self._openssl(*ca, "-revoke", str(credential.cert))
        crl = self.dir / f"crl-{number}.crl"
        self._openssl(*ca, "-gencrl", "-crldays", str(VALID_DAYS), "-out", str(crl))
        return crl

    def _client(self, kind: str, device_id: str, make) -> Credential:
        cache_key = f"{kind}:{device_id}"
        if cache_key not in self._clients:
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in device_id)
            self._clients[cache_key] = make(f"{kind}-client-{safe}", f"/CN={device_id}")
        return self._clients[cache_key]


def _random_serial() -> str:
    # Positive, 63 bits: unique enough that no two test certificates from one CA collide.
    return "0x" + format(secrets.randbits(63) | (1 << 62), "x")
