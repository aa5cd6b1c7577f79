#include "security/jwt.h"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <ctime>
#include <exception>
#include <utility>

#include "base/atomic_file.h"
#include "security/username.h"

namespace moat::security {

namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::system_clock;

// MQTT 5 CONNACK: 0x86 "Bad User Name or Password" (the token is the password), and 0x80
// "Unspecified error" for a failure of the broker's own.
constexpr uint8_t kBadCredentials = 0x86;
constexpr uint8_t kUnspecified = 0x80;

// Claims are flat in practice; a token nested deeper than this is not worth parsing.
constexpr size_t kMaxJsonDepth = 16;
// 9999-12-31T23:59:59Z, the last date the ISO 8601 form of messages can write. A bound, so that
// an absurd "exp" is refused rather than overflowing the arithmetic below.
constexpr int64_t kMaxNumericDate = 253'402'300'799;
constexpr std::chrono::seconds kMaxLeeway{3600};
constexpr size_t kMinTokenBytes = 64;
constexpr size_t kMaxTokenBytes = 65535;  // an MQTT password's limit (spec 1.5.6)

tl::unexpected<JwtFailure> refuse(JwtError reason, std::string message) {
  const uint8_t code = reason == JwtError::Internal ? kUnspecified : kBadCredentials;
  return tl::unexpected<JwtFailure>(JwtFailure{{code, std::move(message)}, reason});
}

bool equalIgnoringCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

// RFC 7519 2 "NumericDate": seconds since 1970 (UTC, no leap seconds), possibly fractional, in
// milliseconds, rounded towards the safe side of the caller's check; nullopt when `v` is not a
// number, negative or absurdly far away.
std::optional<int64_t> numericDateMillis(const json::value& v, bool roundUp) {
  if (v.is_int64()) {
    const int64_t s = v.get_int64();
    if (s < 0 || s > kMaxNumericDate) return std::nullopt;
    return s * 1000;
  }
  if (v.is_uint64()) {
    const uint64_t s = v.get_uint64();
    if (s > static_cast<uint64_t>(kMaxNumericDate)) return std::nullopt;
    return static_cast<int64_t>(s) * 1000;
  }
  if (v.is_double()) {
    const double s = v.get_double();
    if (!(s >= 0 && s <= static_cast<double>(kMaxNumericDate))) return std::nullopt;
    const double ms = s * 1000;
    return static_cast<int64_t>(roundUp ? std::ceil(ms) : std::floor(ms));
  }
  return std::nullopt;
}

// "2026-11-22T10:00:00Z" for messages.
std::string formatUtc(int64_t millis) {
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  char text[32] = "?";
  if (gmtime_r(&seconds, &tm) != nullptr)
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

system_clock::time_point toTimePoint(int64_t millis) {
  // system_clock counts nanoseconds with libstdc++: past 2262 the date does not fit.
  constexpr int64_t kLast =
      std::chrono::duration_cast<milliseconds>(system_clock::duration::max()).count();
  if (millis >= kLast) return system_clock::time_point::max();
  return system_clock::time_point(
      std::chrono::duration_cast<system_clock::duration>(milliseconds(millis)));
}

// RFC 7515 4.1.9 / RFC 9068 2.1: "JWT" and "at+jwt", with or without "application/".
bool acceptedType(std::string_view typ) {
  if (typ.size() > 12 && equalIgnoringCase(typ.substr(0, 12), "application/"))
    typ.remove_prefix(12);
  return equalIgnoringCase(typ, "JWT") || equalIgnoringCase(typ, "at+jwt");
}

// The roles and tenant go where a username goes (topic patterns), so they obey its rules.
bool acceptableName(std::string_view name) { return checkUsername(name).has_value(); }

}  // namespace

std::string_view jwtErrorName(JwtError error) {
  switch (error) {
    case JwtError::Malformed:
      return "malformed";
    case JwtError::Algorithm:
      return "algorithm";
    case JwtError::UnknownKey:
      return "unknown key";
    case JwtError::BadSignature:
      return "bad signature";
    case JwtError::Expired:
      return "expired";
    case JwtError::NotYetValid:
      return "not yet valid";
    case JwtError::WrongIssuer:
      return "wrong issuer";
    case JwtError::WrongAudience:
      return "wrong audience";
    case JwtError::BadUsername:
      return "bad username";
    case JwtError::BadClaim:
      return "bad claim";
    case JwtError::Internal:
      return "internal";
  }
  return "?";
}

Result<JwtVerifier> JwtVerifier::load(const JwtSettings& settings) {
  const int sources =
      !settings.jwksFile.empty() + !settings.publicKey.empty() + !settings.secretFile.empty();
  if (sources != 1) {
    return fail(kUnspecified, fmt::format("exactly one JWT key source (a JWKS file, a public key "
                                          "or a secret file) must be given, not {}",
                                          sources));
  }
  const std::filesystem::path& path = !settings.jwksFile.empty()    ? settings.jwksFile
                                      : !settings.publicKey.empty() ? settings.publicKey
                                                                    : settings.secretFile;
  auto text = readWholeFile(path);
  if (!text) return tl::unexpected(text.error());
  Result<JwtVerifier> verifier = fail(kUnspecified, "");
  if (!settings.jwksFile.empty()) {
    verifier = fromJwks(*text, settings, path.string());
  } else if (!settings.publicKey.empty()) {
    verifier = fromPem(*text, settings, path.string());
  } else {
    // Editors and `echo` end files with a newline that nobody means as part of the secret.
    std::string_view secret = *text;
    if (secret.ends_with("\r\n")) {
      secret.remove_suffix(2);
    } else if (secret.ends_with('\n')) {
      secret.remove_suffix(1);
    }
    verifier = fromSecret(secret, settings, path.string());
  }
  // The JWKS or the secret file may hold HMAC secrets.
  OPENSSL_cleanse(text->data(), text->size());
  return verifier;
}

Result<JwtVerifier> JwtVerifier::fromJwks(std::string_view json, const JwtSettings& settings,
                                          std::string_view source) {
  auto set = parseJwks(json, source);
  if (!set) return tl::unexpected(set.error());
  return make(std::move(*set), settings, source);
}

Result<JwtVerifier> JwtVerifier::fromPem(std::string_view pem, const JwtSettings& settings,
                                         std::string_view source) {
  auto key = JwtKey::fromPem(pem);
  if (!key) return fail(kUnspecified, fmt::format("{}: {}", source, key.error().message));
  JwkSet set;
  set.keys.push_back(std::move(*key));
  return make(std::move(set), settings, source);
}

Result<JwtVerifier> JwtVerifier::fromSecret(std::string_view secret, const JwtSettings& settings,
                                            std::string_view source) {
  auto key = JwtKey::fromSecret(secret);
  if (!key) return fail(kUnspecified, fmt::format("{}: {}", source, key.error().message));
  JwkSet set;
  set.keys.push_back(std::move(*key));
  return make(std::move(set), settings, source);
}

Result<JwtVerifier> JwtVerifier::make(JwkSet set, const JwtSettings& settings,
                                      std::string_view source) {
  JwtVerifier verifier;
  for (const std::string& name : settings.algorithms) {
    if (equalIgnoringCase(name, "none")) {
      return fail(kUnspecified, "JWT algorithm \"none\" (unsigned tokens) cannot be allowed");
    }
    auto alg = parseAlgorithm(name);
    if (!alg) {
      return fail(kUnspecified,
                  fmt::format("JWT algorithm {} is not supported (HS256, HS384, HS512, RS256, "
                              "RS384, RS512, PS256, ES256, ES384, EdDSA)",
                              quoteForMessage(name)));
    }
    verifier.allowed_.push_back(*alg);
  }
  if (settings.leeway < std::chrono::seconds(0) || settings.leeway > kMaxLeeway) {
    return fail(kUnspecified, fmt::format("JWT leeway of {} s is outside 0..{}",
                                          settings.leeway.count(), kMaxLeeway.count()));
  }
  if (settings.maxTokenBytes < kMinTokenBytes || settings.maxTokenBytes > kMaxTokenBytes) {
    return fail(kUnspecified, fmt::format("JWT maximum token size {} is outside {}..{}",
                                          settings.maxTokenBytes, kMinTokenBytes, kMaxTokenBytes));
  }
  if (settings.usernameClaim.empty()) {
    return fail(kUnspecified, "the JWT username claim must be named");
  }
  // A key no allowed algorithm fits would refuse every token: a configuration mistake.
  const bool anyFits = std::any_of(set.keys.begin(), set.keys.end(), [&](const JwtKey& key) {
    if (verifier.allowed_.empty()) return true;
    return std::any_of(verifier.allowed_.begin(), verifier.allowed_.end(),
                       [&](JwtAlgorithm alg) { return key.fits(alg); });
  });
  if (!anyFits) {
    return fail(kUnspecified,
                fmt::format("{}: no key fits any of the allowed JWT algorithms", source));
  }
  verifier.settings_ = settings;
  verifier.keys_ = std::move(set.keys);
  verifier.ignored_ = std::move(set.ignored);
  return verifier;
}

JwtResult<JwtClaims> JwtVerifier::verify(std::string_view token,
                                         system_clock::time_point now) const {
  try {
    return check(token, now);
  } catch (const std::exception&) {
    // bad_alloc is the only exception the code below can raise.
    return refuse(JwtError::Internal, "out of memory checking a token");
  }
}

JwtResult<JwtClaims> JwtVerifier::check(std::string_view token,
                                        system_clock::time_point now) const {
  // Before anything is decoded: the size of all the work below is bounded by this.
  if (token.size() > settings_.maxTokenBytes) {
    return refuse(JwtError::Malformed, fmt::format("token is {} bytes, longer than {}",
                                                   token.size(), settings_.maxTokenBytes));
  }
  // RFC 7515 7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return refuse(JwtError::Malformed,
                  "not a JWT (three base64url parts separated by '.' expected)");
  }
  const std::string_view headerText = token.substr(0, dot1);
  const std::string_view payloadText = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signatureText = token.substr(dot2 + 1);
  const std::string_view signingInput = token.substr(0, dot2);
  if (signatureText.empty()) {
    return refuse(JwtError::Malformed, "token has no signature (unsigned tokens are refused)");
  }

  auto headerJson = decodeBase64Url(headerText);
  if (!headerJson) return refuse(JwtError::Malformed, "header is not base64url");
  auto header = parseJsonObject(*headerJson, kMaxJsonDepth);
  if (!header) return refuse(JwtError::Malformed, "header: " + header.error().message);

  const json::value* algValue = header->if_contains("alg");
  if (algValue == nullptr) return refuse(JwtError::Malformed, "header has no \"alg\"");
  if (!algValue->is_string()) return refuse(JwtError::Malformed, "header \"alg\" is not a string");
  const std::string_view algName = algValue->get_string();
  // RFC 8725 3.1: a verifier must not accept unsigned tokens; "None" and "NONE" have fooled
  // libraries that compared case-sensitively, so every spelling gets this message.
  if (equalIgnoringCase(algName, "none")) {
    return refuse(JwtError::Algorithm, "algorithm \"none\" (an unsigned token) is refused");
  }
  const std::optional<JwtAlgorithm> alg = parseAlgorithm(algName);
  if (!alg) {
    return refuse(JwtError::Algorithm,
                  fmt::format("algorithm {} is not supported", quoteForMessage(algName)));
  }
  if (!allowed_.empty() && std::find(allowed_.begin(), allowed_.end(), *alg) == allowed_.end()) {
    return refuse(JwtError::Algorithm,
                  fmt::format("algorithm {} is not allowed", algorithmName(*alg)));
  }
  if (header->contains("crit")) {
    return refuse(JwtError::Malformed,
                  "header has \"crit\": no JWS extension is supported (RFC 7515 4.1.11)");
  }
  if (const json::value* typ = header->if_contains("typ")) {
    if (!typ->is_string() || !acceptedType(typ->get_string())) {
      return refuse(JwtError::Malformed, "header \"typ\" is not \"JWT\" or \"at+jwt\"");
    }
  }
  std::optional<std::string_view> kid;
  if (const json::value* k = header->if_contains("kid")) {
    if (!k->is_string()) return refuse(JwtError::Malformed, "header \"kid\" is not a string");
    kid = std::string_view(k->get_string());
  }
  auto signature = decodeBase64Url(signatureText);
  if (!signature) return refuse(JwtError::Malformed, "signature is not base64url");

  // The keys that may check this token: those with its kid (all without one) that fit its alg.
  // A key that has no kid (a PEM key, a secret, a JWKS entry without one) cannot be told apart
  // by one, so it is tried whatever kid the token names: identity providers put a kid in every
  // token, also where the broker was given the bare key.
  std::vector<const JwtKey*> candidates;
  const JwtKey* named = nullptr;
  for (const JwtKey& key : keys_) {
    if (kid && !key.keyId().empty() && key.keyId() != *kid) continue;
    if (named == nullptr) named = &key;
    if (key.fits(*alg)) candidates.push_back(&key);
  }
  if (kid && named == nullptr) {
    for (const auto& ignored : ignored_) {
      if (ignored.keyId == *kid) {
        return refuse(JwtError::UnknownKey, fmt::format("key id {} is not a signature key ({})",
                                                        quoteForMessage(*kid), ignored.why));
      }
    }
    return refuse(JwtError::UnknownKey, fmt::format("unknown key id {}", quoteForMessage(*kid)));
  }
  if (candidates.empty()) {
    if (kid) {
      return refuse(
          JwtError::Algorithm,
          fmt::format("key {} cannot check {} signatures (it is an {} key{})",
                      quoteForMessage(*kid), algorithmName(*alg), keyTypeName(named->type()),
                      named->algorithm()
                          ? fmt::format(" for {}", algorithmName(*named->algorithm()))
                          : ""));
    }
    if (keys_.size() == 1) {
      return refuse(JwtError::Algorithm,
                    fmt::format("the {} key cannot check {} signatures",
                                keyTypeName(keys_[0].type()), algorithmName(*alg)));
    }
    return refuse(JwtError::Algorithm,
                  fmt::format("no key can check {} signatures", algorithmName(*alg)));
  }
  std::string why;
  const JwtKey* signer = nullptr;
  for (const JwtKey* key : candidates) {
    auto ok = key->verify(*alg, signingInput, *signature);
    if (ok) {
      signer = key;
      break;
    }
    why = std::move(ok.error().message);
  }
  if (signer == nullptr) {
    if (candidates.size() > 1) {
      why = fmt::format("signature does not verify with any of the {} keys for {}",
                        candidates.size(), algorithmName(*alg));
    }
    return refuse(JwtError::BadSignature, std::move(why));
  }

  // Signed by a key we trust: now the claims are worth reading.
  auto payloadJson = decodeBase64Url(payloadText);
  if (!payloadJson) return refuse(JwtError::Malformed, "payload is not base64url");
  auto payload = parseJsonObject(*payloadJson, kMaxJsonDepth);
  if (!payload) return refuse(JwtError::Malformed, "payload: " + payload.error().message);
  JwtClaims claims;
  claims.algorithm = std::string(algorithmName(*alg));
  if (kid) claims.keyId = std::string(*kid);
  return checkClaims(*payload, now, std::move(claims));
}

JwtResult<JwtClaims> JwtVerifier::checkClaims(const json::object& payload,
                                              system_clock::time_point now,
                                              JwtClaims claims) const {
  const int64_t nowMs = std::chrono::floor<milliseconds>(now.time_since_epoch()).count();
  const int64_t leewayMs = std::chrono::duration_cast<milliseconds>(settings_.leeway).count();

  // RFC 7519 4.1.4: refused on or after exp (the leeway added for clocks that disagree).
  if (const json::value* exp = payload.if_contains("exp")) {
    const auto expMs = numericDateMillis(*exp, /*roundUp=*/false);
    if (!expMs) return refuse(JwtError::BadClaim, "\"exp\" is not a NumericDate");
    if (nowMs >= *expMs + leewayMs) {
      return refuse(JwtError::Expired, "token expired at " + formatUtc(*expMs));
    }
    claims.expiresAt = toTimePoint(*expMs);
  } else if (settings_.requireExpiry) {
    return refuse(JwtError::BadClaim, "token has no expiry (\"exp\")");
  }
  // RFC 7519 4.1.5: refused before nbf.
  if (const json::value* nbf = payload.if_contains("nbf")) {
    const auto nbfMs = numericDateMillis(*nbf, /*roundUp=*/true);
    if (!nbfMs) return refuse(JwtError::BadClaim, "\"nbf\" is not a NumericDate");
    if (nowMs < *nbfMs - leewayMs) {
      return refuse(JwtError::NotYetValid, "token is not valid before " + formatUtc(*nbfMs));
    }
  }

  if (const json::value* iss = payload.if_contains("iss")) {
    if (!iss->is_string()) return refuse(JwtError::BadClaim, "\"iss\" is not a string");
    claims.issuer = std::string(iss->get_string());
  }
  if (!settings_.issuer.empty() && claims.issuer != settings_.issuer) {
    return refuse(JwtError::WrongIssuer,
                  payload.contains("iss")
                      ? fmt::format("issuer is not {}", quoteForMessage(settings_.issuer))
                      : fmt::format("token has no issuer (\"iss\"); {} expected",
                                    quoteForMessage(settings_.issuer)));
  }

  // RFC 7519 4.1.3: one string or an array of strings, and a token whose "aud" does not name
  // this service must be refused, also when this service has no name configured.
  if (const json::value* aud = payload.if_contains("aud")) {
    if (settings_.audience.empty()) {
      return refuse(JwtError::WrongAudience,
                    "token names an audience (\"aud\") and none is configured for the broker");
    }
    bool found = false;
    if (aud->is_string()) {
      found = aud->get_string() == settings_.audience;
    } else if (aud->is_array()) {
      for (const json::value& one : aud->get_array()) {
        if (!one.is_string()) {
          return refuse(JwtError::BadClaim, "\"aud\" is not a string or an array of strings");
        }
        found = found || one.get_string() == settings_.audience;
      }
    } else {
      return refuse(JwtError::BadClaim, "\"aud\" is not a string or an array of strings");
    }
    if (!found) {
      return refuse(JwtError::WrongAudience, fmt::format("token is not for audience {}",
                                                         quoteForMessage(settings_.audience)));
    }
  } else if (!settings_.audience.empty()) {
    return refuse(JwtError::WrongAudience,
                  fmt::format("token has no audience (\"aud\"); {} expected",
                              quoteForMessage(settings_.audience)));
  }

  const std::string claimName = quoteForMessage(settings_.usernameClaim);
  const json::value* username = payload.if_contains(settings_.usernameClaim);
  if (username == nullptr) {
    return refuse(JwtError::BadUsername,
                  fmt::format("token has no {} claim (the username)", claimName));
  }
  if (!username->is_string()) {
    return refuse(JwtError::BadUsername,
                  fmt::format("claim {} (the username) is not a string", claimName));
  }
  if (auto ok = checkUsername(username->get_string()); !ok) {
    return refuse(JwtError::BadUsername,
                  fmt::format("claim {} (the username): {}", claimName, ok.error().message));
  }
  claims.username = std::string(username->get_string());
  if (const json::value* sub = payload.if_contains("sub")) {
    if (!sub->is_string()) return refuse(JwtError::BadClaim, "\"sub\" is not a string");
    claims.subject = std::string(sub->get_string());
  }

  if (!settings_.rolesClaim.empty()) {
    if (const json::value* roles = payload.if_contains(settings_.rolesClaim)) {
      const std::string badRoles = fmt::format(
          "claim {} (the roles) is not a string or an array of strings that are valid names "
          "(no control characters, '+' or '#')",
          quoteForMessage(settings_.rolesClaim));
      if (roles->is_string()) {
        if (!acceptableName(roles->get_string())) return refuse(JwtError::BadClaim, badRoles);
        claims.roles.emplace_back(roles->get_string());
      } else if (roles->is_array()) {
        for (const json::value& role : roles->get_array()) {
          if (!role.is_string() || !acceptableName(role.get_string())) {
            return refuse(JwtError::BadClaim, badRoles);
          }
          claims.roles.emplace_back(role.get_string());
        }
      } else {
        return refuse(JwtError::BadClaim, badRoles);
      }
    }
  }
  if (!settings_.tenantClaim.empty()) {
    if (const json::value* tenant = payload.if_contains(settings_.tenantClaim)) {
      if (!tenant->is_string() || !acceptableName(tenant->get_string())) {
        return refuse(JwtError::BadClaim,
                      fmt::format("claim {} (the tenant) is not a string that is a valid name "
                                  "(no control characters, '+' or '#')",
                                  quoteForMessage(settings_.tenantClaim)));
      }
      claims.tenant = std::string(tenant->get_string());
    }
  }
  // The other claims, for policy conditions (when = { claim.NAME = ... }): strings, numbers,
  // booleans and arrays of strings; anything else is not offered. All of them (the token's size
  // bounds them): a condition on a claim left out would make a deny rule silently not apply.
  for (const auto& [key, value] : payload) {
    std::vector<std::string> values;
    if (value.is_string()) {
      values.emplace_back(value.get_string());
    } else if (value.is_int64() || value.is_uint64() || value.is_bool()) {
      values.push_back(json::serialize(value));
    } else if (value.is_array()) {
      for (const json::value& item : value.get_array()) {
        if (item.is_string()) values.emplace_back(item.get_string());
      }
    }
    if (!values.empty()) claims.fields.emplace_back(std::string(key), std::move(values));
  }
  return claims;
}

bool JwtVerifier::hasKeyFor(std::string_view kid, std::string_view algorithm) const {
  auto alg = parseAlgorithm(algorithm);
  if (!alg) return false;
  if (!allowed_.empty() && std::find(allowed_.begin(), allowed_.end(), *alg) == allowed_.end()) {
    return false;
  }
  return std::any_of(keys_.begin(), keys_.end(), [&](const JwtKey& key) {
    return (kid.empty() || key.keyId().empty() || key.keyId() == kid) && key.fits(*alg);
  });
}

}  // namespace moat::security
