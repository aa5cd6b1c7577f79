// JwtKey: one key that can check JWS signatures (RFC 7515), loaded from a JWK (RFC 7517), a PEM
// public key or certificate, or an HMAC secret; and the JWS algorithms (RFC 7518) Moat knows.
// The token side (parsing, claims, choosing a key) is in jwt.h; this file holds what touches
// OpenSSL.
//
// A key is checked once when it is loaded, so verify() has nothing left to refuse except the
// signature: RSA moduli of 2048 to 16384 bits with an odd exponent of at least 3, EC points on
// P-256 or P-384 (other curves refused), Ed25519, HMAC secrets of at least 32 bytes. Private key
// material is refused wherever it shows up: the broker only checks signatures, and a private key
// in its configuration is one more copy to leak.
//
// A loaded JwtKey is immutable: verify() may run on any number of threads at once (OpenSSL 3
// allows concurrent use of one EVP_PKEY). Move-only; HMAC secrets are wiped when freed. Error
// messages never contain key material.
#pragma once

#include <openssl/types.h>

#include <boost/json/fwd.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "security/secret_string.h"

namespace moat::security {

// The JWS "alg" values Moat verifies. Everything else (none, PS384, ES512, ...) is refused.
enum class JwtAlgorithm : uint8_t {
  HS256,
  HS384,
  HS512,
  RS256,
  RS384,
  RS512,
  PS256,
  ES256,
  ES384,
  EdDSA
};

inline constexpr JwtAlgorithm kJwtAlgorithms[] = {
    JwtAlgorithm::HS256, JwtAlgorithm::HS384, JwtAlgorithm::HS512, JwtAlgorithm::RS256,
    JwtAlgorithm::RS384, JwtAlgorithm::RS512, JwtAlgorithm::PS256, JwtAlgorithm::ES256,
    JwtAlgorithm::ES384, JwtAlgorithm::EdDSA};

// "HS256", ..., "EdDSA": the JOSE name.
std::string_view algorithmName(JwtAlgorithm alg);
// The algorithm `name` denotes, compared case-sensitively as RFC 7515 4.1.1 asks; nullopt for
// a name Moat does not verify.
std::optional<JwtAlgorithm> parseAlgorithm(std::string_view name);

enum class JwtKeyType : uint8_t { Rsa, EcP256, EcP384, Ed25519, Hmac };

// "RSA", "EC P-256", "EC P-384", "Ed25519", "HMAC secret": for messages.
std::string_view keyTypeName(JwtKeyType type);

// Bounds checked when a key is loaded.
inline constexpr int kMinRsaBits = 2048;           // RFC 7518 3.3
inline constexpr int kMaxRsaBits = 16384;          // OpenSSL's own limit for RSA
inline constexpr size_t kMinHmacSecretBytes = 32;  // RFC 7518 3.2: at least the HS256 output
inline constexpr size_t kMaxHmacSecretBytes = 4096;

class JwtKey {
 public:
  // A PEM public key (SubjectPublicKeyInfo "PUBLIC KEY", or PKCS#1 "RSA PUBLIC KEY") or a PEM
  // certificate, whose public key is used; the certificate's dates, issuer and extensions are not
  // looked at (it is only a container for the key). Exactly one PEM block. A "PRIVATE KEY" block
  // of any kind is refused. Errors do not name a source: the caller prefixes it.
  [[nodiscard]] static Result<JwtKey> fromPem(std::string_view pem);

  // An HMAC secret: these exact bytes, 32 to 4096 of them. Text that looks like a PEM block is
  // refused: it is almost certainly a public key given where a secret was meant, and an HMAC key
  // anybody can read is the classic algorithm-confusion hole.
  [[nodiscard]] static Result<JwtKey> fromSecret(std::string_view secret);

  // One member of a JWK Set's "keys": kty RSA (n, e), EC (crv P-256 / P-384, x, y), OKP (crv
  // Ed25519, x) or oct (k); optional "kid", and "alg", which must be an algorithm Moat verifies
  // and fit the key. Refused: unknown kty or curve, private members ("d", "p", ...), members of
  // the wrong type, coordinates of the wrong length, weak keys, and a key that is not for
  // signatures ("use" other than "sig", "key_ops" without "verify"; parseJwks skips those).
  [[nodiscard]] static Result<JwtKey> fromJwk(const boost::json::object& jwk);

  JwtKey(JwtKey&&) noexcept;
  JwtKey& operator=(JwtKey&&) noexcept;
  ~JwtKey();

  JwtKeyType type() const { return type_; }
  // The JWK's "kid"; empty for a key without one (and for PEM and secret keys).
  const std::string& keyId() const { return keyId_; }
  // The JWK's "alg", when it had one: then the key verifies that algorithm only.
  std::optional<JwtAlgorithm> algorithm() const { return algorithm_; }
  // The RSA modulus or the HMAC secret, in bits; the curve's size for EC and Ed25519.
  int bits() const { return bits_; }

  // Whether this key may check a signature made with `alg`: HS* need an HMAC secret at least as
  // long as the hash (RFC 7518 3.2), RS* and PS256 an RSA key, ES256 P-256, ES384 P-384, EdDSA
  // Ed25519; and the JWK's "alg", if any, must be `alg`. This is what stops an attacker from
  // choosing the algorithm: a token's "alg" never turns a public key into an HMAC secret.
  bool fits(JwtAlgorithm alg) const;

  // Checks `signature` (the raw bytes, base64url already decoded) over `signingInput` (the ASCII
  // "header.payload" of the token). REQUIRES: fits(alg). Fails with a reason (wrong length, or
  // "signature does not verify"); the reason never contains the signature or key.
  [[nodiscard]] Result<void> verify(JwtAlgorithm alg, std::string_view signingInput,
                                    std::string_view signature) const;

 private:
  struct PkeyFree {
    void operator()(EVP_PKEY* key) const;
  };
  using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

  JwtKey() = default;
  static Result<JwtKey> fromPkey(PkeyPtr pkey);
  Result<void> verifyHmac(JwtAlgorithm alg, std::string_view input, std::string_view sig) const;
  Result<void> verifyPkey(JwtAlgorithm alg, std::string_view input, std::string_view sig) const;

  JwtKeyType type_ = JwtKeyType::Hmac;
  std::string keyId_;
  std::optional<JwtAlgorithm> algorithm_;
  int bits_ = 0;
  PkeyPtr pkey_;         // every type but Hmac
  SecretString secret_;  // Hmac
};

// The usable keys of a JWK Set, and why the others were left out.
struct JwkSet {
  struct Ignored {
    std::string keyId;  // may be empty
    std::string why;    // "use \"enc\"", "key_ops without \"verify\""
  };
  std::vector<JwtKey> keys;
  std::vector<Ignored> ignored;
};

// Bounds on a JWKS document: a broker trusts a handful of signing keys, not thousands.
inline constexpr size_t kMaxJwksBytes = 1 << 20;
inline constexpr size_t kMaxJwksKeys = 100;

// Parses a JWKS document {"keys": [...]}. All or nothing: the first bad key fails the whole set,
// as "SOURCE: key N (kid \"K\"): reason" with N counted from 1. A set without a single usable
// signature key is an error too. The document's text may hold HMAC secrets: the parser's memory
// is wiped when freed, but `json` is the caller's to wipe.
[[nodiscard]] Result<JwkSet> parseJwks(std::string_view json, std::string_view source);

// A string from a token or a key file as it may appear in an error message: in double quotes,
// at most 64 bytes of it, printable ASCII kept and every other byte written \xNN, so that a
// crafted "kid" cannot forge log lines or smuggle terminal escapes.
std::string quoteForMessage(std::string_view text);

// Strict base64url without padding (RFC 7515 section 2 and appendix C): only A-Z a-z 0-9 - _,
// no '=', no whitespace, and the unused bits of the last character zero, so that every byte
// string has exactly one encoding. nullopt otherwise.
std::optional<std::string> decodeBase64Url(std::string_view text);
std::string encodeBase64Url(std::string_view bytes);

// Parses `text` as one JSON object, refusing anything else: another JSON type, nesting deeper
// than `maxDepth`, invalid UTF-8, and an object (at any depth) with two members of the same name,
// which RFC 7515 section 5.2 lets parsers read either way: a token whose meaning depends on the
// parser is refused rather than read one way here and another way elsewhere. With `wiping`, the
// parser's memory is wiped when freed (for documents holding secrets). Never throws. The error
// says what is wrong without quoting the text.
[[nodiscard]] Result<boost::json::object> parseJsonObject(std::string_view text, size_t maxDepth,
                                                          bool wiping = false);

}  // namespace moat::security
