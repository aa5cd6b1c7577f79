// JwtVerifier: checks JSON Web Tokens (RFC 7519) that a client presents as its MQTT password,
// against keys the operator configured, and turns a good one into the identity it carries.
//
// What is accepted, and nothing else:
//   - the JWS Compact Serialization (RFC 7515 7.1): three parts of strict base64url (jwt_keys.h)
//     joined by '.', at most maxTokenBytes long (checked before anything is decoded); header and
//     payload JSON objects, nested at most 16 deep, no member name twice in one object;
//   - "alg" HS256/384/512, RS256/384/512, PS256, ES256, ES384 or EdDSA (Ed25519), one of
//     settings.algorithms when that is given, and fitting the key (JwtKey::fits): an HMAC
//     algorithm needs an HMAC secret, so a token cannot make a public key its own MAC key
//     (RFC 8725 2.1 and 3.1). "none" is refused in any spelling;
//   - no "crit" header (Moat understands no extension, so RFC 7515 4.1.11 says refuse);
//   - "typ", when present, "JWT" or "at+jwt" (RFC 9068), "application/" prefix allowed, any
//     case: a token issued for something else (a DPoP proof, a logout token) and signed with
//     the same key is not a login (RFC 8725 3.11);
//   - header members that point at keys ("jku", "jwk", "x5u", "x5c") are ignored: keys come
//     from the configuration only, never from the token.
// The signature is checked before the payload is decoded, so claims are read only from tokens
// the issuer signed. Then the claims: "exp" (required unless requireExpiry is off), "nbf", "iss"
// and "aud" as in RFC 7519 4.1 with `leeway` for clock skew; "aud" in a token is refused when no
// audience is configured, since RFC 7519 4.1.3 asks a service not named by "aud" to refuse; "iat"
// and "jti" are not looked at. The username claim must be a string that checkUsername accepts
// (username.h); roles and tenant, which may end up in topic patterns like a username, must pass
// it too.
//
// Keys: a JWKS file (jwt_keys.h: parseJwks), one PEM public key or certificate, or an HMAC
// secret. A token's "kid" picks the keys with that "kid"; without one, every key that fits the
// algorithm is tried (a JWKS holds at most 100, in practice a few).
//
// Errors: what verify() returns on failure says why, naming at most the token's "kid" and the
// configured issuer or audience; never the token, its signature or a key. The reason is also an
// enum, for a reason code, a counter or an event.
//
// Thread-safety: a JwtVerifier is immutable once made; verify() may run on any number of threads
// at once. The broker holds a std::shared_ptr<const JwtVerifier> and swaps in a new one on reload.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <vector>

#include "base/result.h"
#include "security/authz_condition.h"
#include "security/jwt_keys.h"

namespace moat::security {

struct JwtSettings {
  // Exactly one key source.
  std::filesystem::path jwksFile;    // a JWKS document {"keys": [...]}
  std::filesystem::path publicKey;   // a PEM public key (RSA, EC P-256/P-384, Ed25519) or cert
  std::filesystem::path secretFile;  // an HMAC secret: the file's bytes, one trailing "\n" or
                                     // "\r\n" dropped; at least 32 bytes

  std::vector<std::string> algorithms;  // allowed "alg" values; empty: all the keys fit
  std::string issuer;                   // when set, "iss" must equal it
  std::string audience;                 // when set, "aud" (string or array) must contain it;
                                        // when empty, a token with "aud" is refused
  std::chrono::seconds leeway{30};      // clock skew allowed for exp / nbf; 0..3600
  bool requireExpiry = true;            // refuse tokens without "exp"
  std::string usernameClaim = "sub";    // the claim that becomes the MQTT username
  std::string rolesClaim = "roles";     // string or array of strings; absent: no roles;
                                        // an empty name: not read
  std::string tenantClaim = "tenant";   // string; absent: none; an empty name: not read
  size_t maxTokenBytes = 8192;          // 64..65535 (an MQTT password is at most 65535)
};

// What a verified token says.
struct JwtClaims {
  std::string username;  // the username claim, checked by checkUsername
  std::string subject;   // "sub", empty when absent
  std::string keyId;     // the header's "kid", empty when absent
  std::string issuer;    // "iss", empty when absent
  std::string tenant;    // the tenant claim, empty when absent
  std::vector<std::string> roles;
  authz::Fields fields;  // string, number, boolean and string-array claims, for conditions
  // "exp"; time_point::max() for a date past what system_clock holds (year 2262 with
  // libstdc++), nullopt when the token has none.
  std::optional<std::chrono::system_clock::time_point> expiresAt;
  std::string algorithm;  // "RS256", ...
};

// Why a token was refused.
enum class JwtError : uint8_t {
  Malformed,      // not a compact JWS, bad base64url or JSON, duplicate members, "crit",
                  // wrong "typ", too long, header members of the wrong type
  Algorithm,      // "none", an algorithm Moat does not verify, one not in `algorithms`, or
                  // one no configured key fits
  UnknownKey,     // no key with the token's "kid"
  BadSignature,   // the signature does not verify (or has the wrong length)
  Expired,        // now >= exp + leeway
  NotYetValid,    // now < nbf - leeway
  WrongIssuer,    // "iss" missing or not the configured issuer
  WrongAudience,  // "aud" missing, not naming the configured audience, or present when
                  // no audience is configured
  BadUsername,    // the username claim is missing, not a string, or refused by checkUsername
  BadClaim,       // another claim is missing or of the wrong type: "exp" when required,
                  // exp/nbf not a NumericDate, roles, tenant, sub, iss, aud
  Internal,       // OpenSSL or memory failure: not the client's fault
};

// "malformed", "algorithm", "unknown key", "bad signature", "expired", "not yet valid", "wrong
// issuer", "wrong audience", "bad username", "bad claim", "internal": for logs and events.
std::string_view jwtErrorName(JwtError error);

// A refused token: an Error whose code is the MQTT 5 CONNACK reason code to send (0x86 "bad
// user name or password" for every refusal of the token, 0x80 for Internal), and the JwtError.
// It converts to Error, so MOAT_TRY and Result<T> work with it.
struct JwtFailure : Error {
  JwtError reason = JwtError::Malformed;
};

template <class T>
using JwtResult = tl::expected<T, JwtFailure>;

class JwtVerifier {
 public:
  // Reads the one key source `settings` names and checks the settings: all or nothing. Errors
  // name the file and what is wrong ("jwks.json: key 2 (kid \"k1\"): RSA key of 1024 bits is
  // too weak (at least 2048)").
  [[nodiscard]] static Result<JwtVerifier> load(const JwtSettings& settings);

  // The same from text in memory, the file fields of `settings` ignored; `source` names the
  // text in errors.
  [[nodiscard]] static Result<JwtVerifier> fromJwks(std::string_view json,
                                                    const JwtSettings& settings,
                                                    std::string_view source);
  [[nodiscard]] static Result<JwtVerifier> fromPem(std::string_view pem,
                                                   const JwtSettings& settings,
                                                   std::string_view source);
  // `secret` is the key itself (no newline dropped).
  [[nodiscard]] static Result<JwtVerifier> fromSecret(std::string_view secret,
                                                      const JwtSettings& settings,
                                                      std::string_view source);

  JwtVerifier(JwtVerifier&&) noexcept = default;
  JwtVerifier& operator=(JwtVerifier&&) noexcept = default;

  // Checks `token` as described at the top of this file, at time `now`. Never throws.
  [[nodiscard]] JwtResult<JwtClaims> verify(std::string_view token,
                                            std::chrono::system_clock::time_point now) const;

  // Whether a token with key id `kid` (empty: none) and algorithm `algorithm` ("ES256") would
  // find a key here to be checked with, by the rules of verify(). After a reload, the broker
  // closes the connections whose token no key of the new set could have admitted.
  bool hasKeyFor(std::string_view kid, std::string_view algorithm) const;

  // The keys that can check signatures (JWKS keys not meant for signatures left out).
  size_t keyCount() const { return keys_.size(); }
  const JwtSettings& settings() const { return settings_; }

 private:
  JwtVerifier() = default;
  static Result<JwtVerifier> make(JwkSet keys, const JwtSettings& settings,
                                  std::string_view source);
  JwtResult<JwtClaims> check(std::string_view token,
                             std::chrono::system_clock::time_point now) const;
  JwtResult<JwtClaims> checkClaims(const boost::json::object& payload,
                                   std::chrono::system_clock::time_point now,
                                   JwtClaims claims) const;

  JwtSettings settings_;
  std::vector<JwtAlgorithm> allowed_;  // settings_.algorithms parsed; empty: any
  std::vector<JwtKey> keys_;
  std::vector<JwkSet::Ignored> ignored_;  // for a clearer "unknown key id" message
};

}  // namespace moat::security
