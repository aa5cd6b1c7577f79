"""JSON Web Tokens for tests, made here with Python's hmac and the `cryptography` package
(python3-cryptography): keys generated per test run, tokens signed with them, and the JWKS and
PEM files the broker reads. Nothing here is a secret worth keeping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Optional

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(value: int, length: Optional[int] = None) -> bytes:
    length = length or (value.bit_length() + 7) // 8
    return value.to_bytes(length, "big")


@dataclass
class SigningKey:
    """A key that signs tokens: `alg` is its JWS algorithm, `kid` its key id."""
    alg: str
    kid: str
    private: object = None  # RSA / EC / Ed25519 private key
    secret: bytes = b""     # HMAC

    @staticmethod
    def hmac(alg: str = "HS256", kid: str = "hs-1", size: int = 32) -> "SigningKey":
        return SigningKey(alg, kid, secret=secrets.token_hex(size).encode())  # text: no stray "\n"

    @staticmethod
    def rsa(alg: str = "RS256", kid: str = "rsa-1") -> "SigningKey":
        return SigningKey(alg, kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @staticmethod
    def ec(alg: str = "ES256", kid: str = "ec-1") -> "SigningKey":
        curve = ec.SECP256R1() if alg == "ES256" else ec.SECP384R1()
        return SigningKey(alg, kid, ec.generate_private_key(curve))

    @staticmethod
    def ed25519(kid: str = "ed-1") -> "SigningKey":
        return SigningKey("EdDSA", kid, ed25519.Ed25519PrivateKey.generate())

    def sign(self, data: bytes) -> bytes:
        if self.alg.startswith("HS"):
            digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384,
                      "HS512": hashlib.sha512}[self.alg]
            return hmac.new(self.secret, data, digest).digest()
        if self.alg.startswith("RS"):
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if self.alg == "PS256":
            return self.private.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                       salt_length=32), hashes.SHA256())
        if self.alg.startswith("ES"):
            hash_alg, size = (hashes.SHA256(), 32) if self.alg == "ES256" else (hashes.SHA384(), 48)
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hash_alg)))
            return _int_bytes(r, size) + _int_bytes(s, size)
        return self.private.sign(data)  # EdDSA

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self) -> dict:
        """The public JWK (for a JWKS file)."""
        if self.alg.startswith("HS"):
            return {"kty": "oct", "kid": self.kid, "alg": self.alg, "k": b64url(self.secret)}
        public = self.private.public_key()
        if self.alg.startswith(("RS", "PS")):
            numbers = public.public_numbers()
            return {"kty": "RSA", "kid": self.kid, "alg": self.alg, "use": "sig",
                    "n": b64url(_int_bytes(numbers.n)), "e": b64url(_int_bytes(numbers.e))}
        if self.alg.startswith("ES"):
            numbers = public.public_numbers()
            size = 32 if self.alg == "ES256" else 48
            return {"kty": "EC", "kid": self.kid, "alg": self.alg,
                    "crv": "P-256" if size == 32 else "P-384",
                    "x": b64url(_int_bytes(numbers.x, size)),
                    "y": b64url(_int_bytes(numbers.y, size))}
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "kid": self.kid, "crv": "Ed25519", "x": b64url(raw)}

    def token(self, sub: Optional[str] = "sensor_001", expires_in: Optional[float] = 300,
              header: Optional[dict] = None, kid: Optional[bool] = True, **claims) -> str:
        """A signed token for `sub`, expiring `expires_in` seconds from now (None: no exp)."""
        head = {"alg": self.alg, "typ": "JWT"}
        if kid:
            head["kid"] = self.kid
        head.update(header or {})
        body = dict(claims)
        if sub is not None:
            body["sub"] = sub
        if expires_in is not None:
            body["exp"] = int(time.time() + expires_in)
        signing_input = (b64url(json.dumps(head).encode()) + "." +
                         b64url(json.dumps(body).encode()))
        return signing_input + "." + b64url(self.sign(signing_input.encode()))


def jwks(*keys: SigningKey) -> str:
    return json.dumps({"keys": [k.jwk() for k in keys]})


def unsigned_token(sub: str = "sensor_001", expires_in: float = 300) -> str:
    """`alg: none` with an empty signature: what no broker may accept."""
    head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub, "exp": int(time.time() + expires_in)}).encode())
    return f"{head}.{body}."
