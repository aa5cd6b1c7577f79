// libFuzzer target for JwtVerifier::verify: the bytes a client may put in its CONNECT password.
// Two verifiers, built once: a lenient one (no issuer or audience, expiry optional) and a strict
// one (issuer "idp", audience "mqtt", HS256 and ES256 only), both holding an HS256 secret (kid
// "hs") and the P-256 key of RFC 7515 appendix A.3 (kid "es"). The first input byte chooses:
//   bit 0 clear: the rest is the token as it is;
//   bit 0 set:   the rest is header JSON, '\n', payload JSON; the target encodes both and signs
//                them with the HS256 secret, so that the claim checks, which only signed tokens
//                reach, are fuzzed too;
//   bit 1:       the strict verifier instead of the lenient one.
//
// Besides "no crash, no sanitizer report": a refusal carries code 0x86 and a message of bounded
// size that never contains a part of the token longer than the 64 bytes a quoted "kid" may
// show; an acceptance names a username checkUsername accepts and an algorithm the keys fit (HS256
// for what the target signed), and an expiry not already past; and verify gives the same answer
// twice.
//
// The seeds in corpus/jwt were written by hand (JSON) and signed with Python's hmac module:
// tokens valid for the secret below, the RFC 7515 A.3 token, and near misses of each check.
#include <openssl/hmac.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "security/jwt.h"
#include "security/username.h"

namespace {

namespace security = moat::security;
using std::chrono::system_clock;

constexpr std::string_view kSecret = "moat fuzz_jwt HS256 secret, 32+ bytes long";
// 2026-11-22T09:00:00Z.
constexpr system_clock::time_point kNow{std::chrono::seconds(1'795'338'000)};

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_jwt: %s %.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void require(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) die(what, detail);
}

const security::JwtVerifier& verifier(bool strict) {
  static const auto make = [](bool strictSettings) {
    security::JwtSettings settings;
    if (strictSettings) {
      settings.issuer = "idp";
      settings.audience = "mqtt";
      settings.algorithms = {"HS256", "ES256"};
    } else {
      settings.requireExpiry = false;
    }
    const std::string jwks = R"({"keys":[{"kty":"oct","kid":"hs","k":")" +
                             security::encodeBase64Url(kSecret) +
                             R"("},{"kty":"EC","crv":"P-256","kid":"es",)"
                             R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                             R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";
    auto v = security::JwtVerifier::fromJwks(jwks, settings, "fuzz");
    if (!v) die("cannot build the verifier:", v.error().message);
    return std::move(*v);
  };
  static const security::JwtVerifier lenient = make(false);
  static const security::JwtVerifier strictOne = make(true);
  return strict ? strictOne : lenient;
}

// "header.payload.signature" from raw JSON texts, signed with the HS256 secret.
std::string signHs256(std::string_view headerJson, std::string_view payloadJson) {
  std::string input =
      security::encodeBase64Url(headerJson) + "." + security::encodeBase64Url(payloadJson);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
  return input + "." +
         security::encodeBase64Url(std::string_view(reinterpret_cast<char*>(mac), length));
}

void checkRefusal(const security::JwtFailure& failure, std::string_view token) {
  const std::string& message = failure.message;
  require(failure.code == (failure.reason == security::JwtError::Internal ? 0x80 : 0x86),
          "refusal with an unexpected code:", message);
  require(!message.empty() && message.size() <= 512,
          "refusal message empty or unbounded:", message);
  // Each '.'-separated part longer than what a quoted kid may show must not be echoed.
  size_t start = 0;
  while (start <= token.size()) {
    size_t end = token.find('.', start);
    if (end == std::string_view::npos) end = token.size();
    const std::string_view part = token.substr(start, end - start);
    if (part.size() > 64) {
      require(message.find(part) == std::string::npos, "message echoes the token:", message);
    }
    start = end + 1;
  }
}

void checkAcceptance(const security::JwtClaims& claims, bool weSigned) {
  require(security::checkUsername(claims.username).has_value(), "accepted a bad username");
  require(claims.algorithm == "HS256" || claims.algorithm == "ES256",
          "accepted an algorithm no key fits:", claims.algorithm);
  if (weSigned) require(claims.algorithm == "HS256", "our token verified as something else");
  // Leeway 30 s; subtracted from kNow because expiresAt may be time_point::max().
  if (claims.expiresAt) {
    require(kNow - std::chrono::seconds(30) < *claims.expiresAt, "accepted an expired token");
  }
  for (const std::string& role : claims.roles) {
    require(security::checkUsername(role).has_value(), "accepted a bad role");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool sign = (data[0] & 1) != 0;
  const bool strict = (data[0] & 2) != 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::string token;
  if (sign) {
    const size_t nl = rest.find('\n');
    token = nl == std::string_view::npos ? signHs256(rest, "{}")
                                         : signHs256(rest.substr(0, nl), rest.substr(nl + 1));
  } else {
    token = std::string(rest);
  }

  const security::JwtVerifier& v = verifier(strict);
  const auto first = v.verify(token, kNow);
  const auto second = v.verify(token, kNow);
  require(first.has_value() == second.has_value(), "verify is not deterministic");
  if (first) {
    checkAcceptance(*first, sign);
    require(first->username == second->username, "verify is not deterministic (username)");
  } else {
    checkRefusal(first.error(), token);
    require(first.error().message == second.error().message,
            "verify is not deterministic (message)");
  }
  return 0;
}
