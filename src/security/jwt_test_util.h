// Helpers of the JwtVerifier tests (jwt_test.cc, jwt_claims_test.cc, jwt_load_test.cc): keys made
// once per run of the test binary (RSA 2048, EC P-256 and P-384, Ed25519) and fixed HMAC
// secrets, tokens signed here with OpenSSL, JWKs, and a temporary directory for key files.
// Tests only.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/free_with.h"
#include "security/jwt.h"

namespace moat::security::jwt_testing {

namespace json = boost::json;
using std::chrono::seconds;
using std::chrono::system_clock;

using PkeyPtr = std::unique_ptr<EVP_PKEY, FreeWith<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, FreeWith<BIO_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, FreeWith<BN_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, FreeWith<EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, FreeWith<X509_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, FreeWith<ECDSA_SIG_free>>;
using EncoderCtxPtr = std::unique_ptr<OSSL_ENCODER_CTX, FreeWith<OSSL_ENCODER_CTX_free>>;

// 2026-11-22T09:00:00Z; tokens expire an hour later unless a test says otherwise.
constexpr int64_t kNowSeconds = 1'795'338'000;
constexpr system_clock::time_point kNow{seconds(kNowSeconds)};
constexpr int64_t kExpSeconds = kNowSeconds + 3600;  // 2026-11-22T10:00:00Z

constexpr std::string_view kSecretText =
    "a 64-byte HMAC secret: as long as HS512's hash (RFC 7518 3.2) !!";
static_assert(kSecretText.size() == 64);
inline const std::string kSecret(kSecretText);

// ---- keys made once per run -------------------------------------------------------------------

struct TestKeys {
  PkeyPtr rsa = PkeyPtr(EVP_RSA_gen(2048));
  PkeyPtr rsa1024 = PkeyPtr(EVP_RSA_gen(1024));
  PkeyPtr p256 = PkeyPtr(EVP_EC_gen("P-256"));
  PkeyPtr p256b = PkeyPtr(EVP_EC_gen("P-256"));
  PkeyPtr p384 = PkeyPtr(EVP_EC_gen("P-384"));
  PkeyPtr p521 = PkeyPtr(EVP_EC_gen("P-521"));
  PkeyPtr ed25519 = PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  PkeyPtr ed448 = PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED448"));
};

inline const TestKeys& keys() {
  static const TestKeys k;
  return k;
}

inline const EVP_MD* digestFor(JwtAlgorithm alg) {
  const std::string_view name = algorithmName(alg);
  if (alg == JwtAlgorithm::EdDSA) return nullptr;
  if (name.ends_with("384")) return EVP_sha384();
  if (name.ends_with("512")) return EVP_sha512();
  return EVP_sha256();
}

// Who signs a test token: an algorithm with a private key or an HMAC secret. `pssSalt` lets a
// test sign PS256 with a salt other than the 32 bytes RFC 7518 asks for.
struct Signer {
  JwtAlgorithm alg;
  EVP_PKEY* key = nullptr;
  std::string secret = {};
  int pssSalt = 32;
};

inline Signer signerFor(JwtAlgorithm alg) {
  switch (alg) {
    case JwtAlgorithm::HS256:
    case JwtAlgorithm::HS384:
    case JwtAlgorithm::HS512:
      return {alg, nullptr, kSecret};
    case JwtAlgorithm::ES256:
      return {alg, keys().p256.get()};
    case JwtAlgorithm::ES384:
      return {alg, keys().p384.get()};
    case JwtAlgorithm::EdDSA:
      return {alg, keys().ed25519.get()};
    default:
      return {alg, keys().rsa.get()};
  }
}

inline std::string sign(const Signer& s, std::string_view input) {
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (s.key == nullptr) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(digestFor(s.alg), s.secret.data(), static_cast<int>(s.secret.size()), data, input.size(),
         mac, &length);
    return std::string(reinterpret_cast<char*>(mac), length);
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, digestFor(s.alg), nullptr, s.key), 1);
  if (s.alg == JwtAlgorithm::PS256) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256());
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, s.pssSalt);
  }
  size_t length = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()), 1);
  std::string sig(length, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &length, data,
                           input.size()),
            1);
  sig.resize(length);
  if (s.alg != JwtAlgorithm::ES256 && s.alg != JwtAlgorithm::ES384) return sig;
  // DER ECDSA-Sig-Value -> the JWS's fixed-size R || S.
  const size_t half = s.alg == JwtAlgorithm::ES256 ? 32 : 48;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  EcdsaSigPtr ecdsa(d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size())));
  std::string raw(2 * half, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa.get()), reinterpret_cast<unsigned char*>(raw.data()),
               static_cast<int>(half));
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa.get()), reinterpret_cast<unsigned char*>(raw.data()) + half,
               static_cast<int>(half));
  return raw;
}

// A compact JWS of `headerJson` and `payloadJson` exactly as given.
inline std::string rawToken(const Signer& s, std::string_view headerJson,
                            std::string_view payloadJson) {
  const std::string input = encodeBase64Url(headerJson) + "." + encodeBase64Url(payloadJson);
  return input + "." + encodeBase64Url(sign(s, input));
}

inline json::object defaultClaims() {
  return {{"sub", "alice"}, {"iat", kNowSeconds}, {"exp", kExpSeconds}};
}

// A token with header {"alg": ..., "typ": "JWT"} plus `extraHeader`, and `claims`.
inline std::string token(const Signer& s, const json::object& claims = defaultClaims(),
                         json::object extraHeader = {}) {
  json::object header{{"alg", algorithmName(s.alg)}, {"typ", "JWT"}};
  for (const auto& member : extraHeader) header[member.key()] = member.value();
  return rawToken(s, json::serialize(header), json::serialize(claims));
}

inline std::string publicPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

inline std::string bytesOf(const BIGNUM* bn, int size = 0) {
  std::string out(static_cast<size_t>(size > 0 ? size : BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

inline std::string bnParam(EVP_PKEY* key, const char* name, int size = 0) {
  BIGNUM* raw = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &raw), 1);
  BignumPtr bn(raw);
  return bytesOf(bn.get(), size);
}

// The public JWK of `key` (RFC 7517 / 7518 6, RFC 8037 2), with `extra` members added.
inline json::object jwkOf(EVP_PKEY* key, json::object extra = {}) {
  json::object jwk;
  if (key == nullptr) {
    jwk = {{"kty", "oct"}, {"k", encodeBase64Url(kSecret)}};
  } else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA) {
    jwk = {{"kty", "RSA"},
           {"n", encodeBase64Url(bnParam(key, OSSL_PKEY_PARAM_RSA_N))},
           {"e", encodeBase64Url(bnParam(key, OSSL_PKEY_PARAM_RSA_E))}};
  } else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    const int bits = EVP_PKEY_get_bits(key);
    const int size = (bits + 7) / 8;
    jwk = {{"kty", "EC"},
           {"crv", bits == 256   ? "P-256"
                   : bits == 384 ? "P-384"
                                 : "P-521"},
           {"x", encodeBase64Url(bnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, size))},
           {"y", encodeBase64Url(bnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, size))}};
  } else {
    std::string raw(32, '\0');
    size_t length = raw.size();
    EXPECT_EQ(
        EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &length), 1);
    jwk = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", encodeBase64Url(raw)}};
  }
  for (const auto& member : extra) jwk[member.key()] = member.value();
  return jwk;
}

inline std::string jwks(std::vector<json::object> jwks) {
  json::array list;
  for (auto& jwk : jwks) list.emplace_back(std::move(jwk));
  return json::serialize(json::object{{"keys", std::move(list)}});
}

// A verifier holding the one key `alg` is signed with by signerFor().
inline JwtVerifier verifierFor(JwtAlgorithm alg, const JwtSettings& settings = {}) {
  const Signer s = signerFor(alg);
  auto v = s.key == nullptr ? JwtVerifier::fromSecret(kSecret, settings, "secret")
                            : JwtVerifier::fromPem(publicPem(s.key), settings, "key.pem");
  EXPECT_TRUE(v) << v.error().message;
  return std::move(*v);
}

// Expects `result` to be a refusal for `reason` with exactly `message`.
template <class T>
inline void expectRefused(const JwtResult<T>& result, JwtError reason, std::string_view message) {
  ASSERT_FALSE(result) << "accepted, expected: " << message;
  EXPECT_EQ(jwtErrorName(result.error().reason), jwtErrorName(reason)) << result.error().message;
  EXPECT_EQ(result.error().message, message);
  EXPECT_EQ(result.error().code, reason == JwtError::Internal ? 0x80 : 0x86);
}

// The claims `claims` yield when signed with HS256 and checked with `settings` at kNow.
inline JwtResult<JwtClaims> verifyClaims(const json::object& claims,
                                         const JwtSettings& settings = {},
                                         system_clock::time_point now = kNow) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256, settings);
  return v.verify(token(signerFor(JwtAlgorithm::HS256), claims), now);
}

inline json::object claimsWith(std::string_view name, json::value value) {
  json::object claims = defaultClaims();
  claims[name] = std::move(value);
  return claims;
}

inline json::object claimsWithout(std::string_view name) {
  json::object claims = defaultClaims();
  claims.erase(name);
  return claims;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("moat-jwt-test-{}-{}", ::getpid(), counter_++);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

}  // namespace moat::security::jwt_testing
