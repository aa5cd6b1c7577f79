// JwtVerifier end to end: tokens signed here with OpenSSL, with keys made once per run of the
// binary (RSA 2048, EC P-256 and P-384, Ed25519) and fixed HMAC secrets; the RFC 7515 appendix
// A.1 (HS256) and A.3 (ES256) tokens verbatim; then every refusal, with its JwtError and message.
// Time is a parameter of verify(), so no test reads the clock.
#include "security/jwt.h"

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

namespace moat::security {
namespace {

namespace json = boost::json;
using std::chrono::seconds;
using std::chrono::system_clock;

template <auto Free>
struct OpensslFree {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpensslFree<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OpensslFree<BIO_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslFree<BN_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpensslFree<EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OpensslFree<X509_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpensslFree<ECDSA_SIG_free>>;
using EncoderCtxPtr = std::unique_ptr<OSSL_ENCODER_CTX, OpensslFree<OSSL_ENCODER_CTX_free>>;

// 2026-11-22T09:00:00Z; tokens expire an hour later unless a test says otherwise.
constexpr int64_t kNowSeconds = 1'795'338'000;
constexpr system_clock::time_point kNow{seconds(kNowSeconds)};
constexpr int64_t kExpSeconds = kNowSeconds + 3600;  // 2026-11-22T10:00:00Z

constexpr std::string_view kSecretText =
    "a 64-byte HMAC secret: as long as HS512's hash (RFC 7518 3.2) !!";
static_assert(kSecretText.size() == 64);
const std::string kSecret(kSecretText);

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

const TestKeys& keys() {
  static const TestKeys k;
  return k;
}

const EVP_MD* digestFor(JwtAlgorithm alg) {
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

Signer signerFor(JwtAlgorithm alg) {
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

std::string sign(const Signer& s, std::string_view input) {
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
std::string rawToken(const Signer& s, std::string_view headerJson, std::string_view payloadJson) {
  const std::string input = encodeBase64Url(headerJson) + "." + encodeBase64Url(payloadJson);
  return input + "." + encodeBase64Url(sign(s, input));
}

json::object defaultClaims() {
  return {{"sub", "alice"}, {"iat", kNowSeconds}, {"exp", kExpSeconds}};
}

// A token with header {"alg": ..., "typ": "JWT"} plus `extraHeader`, and `claims`.
std::string token(const Signer& s, const json::object& claims = defaultClaims(),
                  json::object extraHeader = {}) {
  json::object header{{"alg", algorithmName(s.alg)}, {"typ", "JWT"}};
  for (const auto& member : extraHeader) header[member.key()] = member.value();
  return rawToken(s, json::serialize(header), json::serialize(claims));
}

std::string publicPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string bytesOf(const BIGNUM* bn, int size = 0) {
  std::string out(static_cast<size_t>(size > 0 ? size : BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

std::string bnParam(EVP_PKEY* key, const char* name, int size = 0) {
  BIGNUM* raw = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &raw), 1);
  BignumPtr bn(raw);
  return bytesOf(bn.get(), size);
}

// The public JWK of `key` (RFC 7517 / 7518 6, RFC 8037 2), with `extra` members added.
json::object jwkOf(EVP_PKEY* key, json::object extra = {}) {
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

std::string jwks(std::vector<json::object> jwks) {
  json::array list;
  for (auto& jwk : jwks) list.emplace_back(std::move(jwk));
  return json::serialize(json::object{{"keys", std::move(list)}});
}

// A verifier holding the one key `alg` is signed with by signerFor().
JwtVerifier verifierFor(JwtAlgorithm alg, const JwtSettings& settings = {}) {
  const Signer s = signerFor(alg);
  auto v = s.key == nullptr ? JwtVerifier::fromSecret(kSecret, settings, "secret")
                            : JwtVerifier::fromPem(publicPem(s.key), settings, "key.pem");
  EXPECT_TRUE(v) << v.error().message;
  return std::move(*v);
}

// Expects `result` to be a refusal for `reason` with exactly `message`.
template <class T>
void expectRefused(const JwtResult<T>& result, JwtError reason, std::string_view message) {
  ASSERT_FALSE(result) << "accepted, expected: " << message;
  EXPECT_EQ(jwtErrorName(result.error().reason), jwtErrorName(reason)) << result.error().message;
  EXPECT_EQ(result.error().message, message);
  EXPECT_EQ(result.error().code, reason == JwtError::Internal ? 0x80 : 0x86);
}

// The claims `claims` yield when signed with HS256 and checked with `settings` at kNow.
JwtResult<JwtClaims> verifyClaims(const json::object& claims, const JwtSettings& settings = {},
                                  system_clock::time_point now = kNow) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256, settings);
  return v.verify(token(signerFor(JwtAlgorithm::HS256), claims), now);
}

json::object claimsWith(std::string_view name, json::value value) {
  json::object claims = defaultClaims();
  claims[name] = std::move(value);
  return claims;
}

json::object claimsWithout(std::string_view name) {
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

// ---- RFC 7515 appendix A --------------------------------------------------------------------

// A.1: HS256. The header and payload hold CR LF line breaks; "exp" is 2011-03-22T18:43:00Z.
constexpr std::string_view kA1Jwk =
    R"({"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4h)"
    R"(cgUuTwjAzZr1Z9CAow"})";
constexpr std::string_view kA1Token =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
// A.3: ES256, the same payload; the JWK without its private "d".
constexpr std::string_view kA3Jwk =
    R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
constexpr std::string_view kA3Token =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQog"
    "Imh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
constexpr system_clock::time_point kBeforeA1Exp{seconds(1'300'819'000)};

// The appendix payload has "iss":"joe" and no "sub".
JwtSettings rfcSettings() {
  JwtSettings s;
  s.usernameClaim = "iss";
  s.issuer = "joe";
  return s;
}

TEST(JwtRfc7515, AppendixA1Hs256TokenVerifiesWithItsJwk) {
  auto v = JwtVerifier::fromJwks(fmt::format(R"({{"keys":[{}]}})", kA1Jwk), rfcSettings(), "a1");
  ASSERT_TRUE(v) << v.error().message;
  auto claims = v->verify(kA1Token, kBeforeA1Exp);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->username, "joe");
  EXPECT_EQ(claims->issuer, "joe");
  EXPECT_EQ(claims->algorithm, "HS256");
  EXPECT_EQ(claims->expiresAt, system_clock::time_point(seconds(1'300'819'380)));
}

TEST(JwtRfc7515, AppendixA1TokenExpiresAtItsExpPlusLeeway) {
  auto v = JwtVerifier::fromJwks(fmt::format(R"({{"keys":[{}]}})", kA1Jwk), rfcSettings(), "a1");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->verify(kA1Token, system_clock::time_point(seconds(1'300'819'380 + 29))));
  expectRefused(v->verify(kA1Token, system_clock::time_point(seconds(1'300'819'380 + 30))),
                JwtError::Expired, "token expired at 2011-03-22T18:43:00Z");
}

TEST(JwtRfc7515, AppendixA3Es256TokenVerifiesWithThePublicPartOfItsJwk) {
  auto v = JwtVerifier::fromJwks(fmt::format(R"({{"keys":[{}]}})", kA3Jwk), rfcSettings(), "a3");
  ASSERT_TRUE(v) << v.error().message;
  auto claims = v->verify(kA3Token, kBeforeA1Exp);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->username, "joe");
  EXPECT_EQ(claims->algorithm, "ES256");
}

TEST(JwtRfc7515, AppendixTokensWithOneSignatureBitChangedAreRefused) {
  auto a1 = JwtVerifier::fromJwks(fmt::format(R"({{"keys":[{}]}})", kA1Jwk), rfcSettings(), "a1");
  auto a3 = JwtVerifier::fromJwks(fmt::format(R"({{"keys":[{}]}})", kA3Jwk), rfcSettings(), "a3");
  ASSERT_TRUE(a1 && a3);
  std::string t1(kA1Token), t3(kA3Token);
  t1[t1.size() - 3] ^= 0x01;  // 'X' <-> 'Y': still base64url, one bit of the MAC changed
  t3[t3.size() - 3] ^= 0x01;
  expectRefused(a1->verify(t1, kBeforeA1Exp), JwtError::BadSignature, "signature does not verify");
  expectRefused(a3->verify(t3, kBeforeA1Exp), JwtError::BadSignature, "signature does not verify");
  // And the A.1 token is not accepted by the A.3 key, nor the other way round.
  EXPECT_FALSE(a3->verify(kA1Token, kBeforeA1Exp));
  EXPECT_FALSE(a1->verify(kA3Token, kBeforeA1Exp));
}

// ---- every algorithm ------------------------------------------------------------------------

class JwtEachAlgorithm : public ::testing::TestWithParam<JwtAlgorithm> {};

TEST_P(JwtEachAlgorithm, TokenSignedWithTheConfiguredKeyIsAccepted) {
  const JwtVerifier v = verifierFor(GetParam());
  auto claims = v.verify(token(signerFor(GetParam())), kNow);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->username, "alice");
  EXPECT_EQ(claims->algorithm, algorithmName(GetParam()));
}

TEST_P(JwtEachAlgorithm, TokenWhosePayloadWasChangedIsRefused) {
  const JwtVerifier v = verifierFor(GetParam());
  const std::string good = token(signerFor(GetParam()));
  const std::string other = token(signerFor(GetParam()), claimsWith("sub", "mallory"));
  // alice's header and signature around mallory's payload.
  const std::string forged = good.substr(0, good.find('.')) +
                             other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                             good.substr(good.rfind('.'));
  expectRefused(v.verify(forged, kNow), JwtError::BadSignature, "signature does not verify");
}

TEST_P(JwtEachAlgorithm, JwksKeyChosenByKidChecksTheToken) {
  const Signer s = signerFor(GetParam());
  // The right key among keys of every type, each with a kid; the token names its key.
  std::vector<json::object> set;
  for (EVP_PKEY* key : {keys().rsa.get(), keys().p256b.get(), keys().p256.get(), keys().p384.get(),
                        keys().ed25519.get(), static_cast<EVP_PKEY*>(nullptr)}) {
    set.push_back(jwkOf(key, {{"kid", key == s.key ? "signer" : fmt::format("k{}", set.size())}}));
  }
  auto v = JwtVerifier::fromJwks(jwks(set), {}, "jwks.json");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->keyCount(), 6u);
  auto claims = v->verify(token(s, defaultClaims(), {{"kid", "signer"}}), kNow);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->keyId, "signer");
  // Without a kid, every key that fits is tried.
  EXPECT_TRUE(v->verify(token(s), kNow));
}

TEST_P(JwtEachAlgorithm, SignatureOfTheWrongLengthIsRefused) {
  const JwtVerifier v = verifierFor(GetParam());
  const std::string good = token(signerFor(GetParam()));
  const std::string sig = *decodeBase64Url(good.substr(good.rfind('.') + 1));
  const std::string cut = good.substr(0, good.rfind('.') + 1) + encodeBase64Url(sig.substr(1));
  auto r = v.verify(cut, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, JwtError::BadSignature);
  EXPECT_TRUE(r.error().message.starts_with(fmt::format("signature is {} bytes", sig.size() - 1)))
      << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(Jwt, JwtEachAlgorithm, ::testing::ValuesIn(kJwtAlgorithms),
                         [](const auto& info) { return std::string(algorithmName(info.param)); });

// ---- algorithms refused ---------------------------------------------------------------------

TEST(JwtAlgorithm, NoneIsRefusedInEverySpelling) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const std::string payload = encodeBase64Url(json::serialize(defaultClaims()));
  for (std::string_view none : {"none", "None", "NONE", "nOnE"}) {
    const std::string header = encodeBase64Url(fmt::format(R"({{"alg":"{}"}})", none));
    // The usual form, without a signature, is not even a JWS here.
    expectRefused(v.verify(header + "." + payload + ".", kNow), JwtError::Malformed,
                  "token has no signature (unsigned tokens are refused)");
    expectRefused(v.verify(header + "." + payload + ".AAAA", kNow), JwtError::Algorithm,
                  "algorithm \"none\" (an unsigned token) is refused");
  }
}

TEST(JwtAlgorithm, NoneCannotBeAllowedInTheSettings) {
  JwtSettings s;
  s.algorithms = {"HS256", "None"};
  auto v = JwtVerifier::fromSecret(kSecret, s, "secret");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, "JWT algorithm \"none\" (unsigned tokens) cannot be allowed");
}

TEST(JwtAlgorithm, AlgorithmMoatDoesNotVerifyIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  for (std::string_view alg : {"PS384", "ES512", "HS1", "hs256", "RSA-OAEP", ""}) {
    Signer s = signerFor(JwtAlgorithm::HS256);
    const std::string t =
        rawToken(s, fmt::format(R"({{"alg":"{}"}})", alg), json::serialize(defaultClaims()));
    expectRefused(v.verify(t, kNow), JwtError::Algorithm,
                  fmt::format("algorithm \"{}\" is not supported", alg));
  }
}

TEST(JwtAlgorithm, AlgorithmOutsideTheAllowedListIsRefused) {
  JwtSettings s;
  s.algorithms = {"RS384"};
  const JwtVerifier v = verifierFor(JwtAlgorithm::RS256, s);
  expectRefused(v.verify(token(signerFor(JwtAlgorithm::RS256)), kNow), JwtError::Algorithm,
                "algorithm RS256 is not allowed");
  EXPECT_TRUE(v.verify(token(signerFor(JwtAlgorithm::RS384)), kNow));
}

TEST(JwtAlgorithm, Hs256TokenMacedWithTheServersRsaPublicKeyIsRefused) {
  // The classic confusion: the attacker knows the public key and uses its PEM text (or its JWK)
  // as an HMAC secret, hoping the verifier feeds "the key" to whatever "alg" says.
  const std::string pem = publicPem(keys().rsa.get());
  const JwtVerifier fromPem = verifierFor(JwtAlgorithm::RS256);
  for (const std::string& secret : {pem, pem.substr(0, pem.size() - 1)}) {
    const Signer attacker{JwtAlgorithm::HS256, nullptr, secret};
    expectRefused(fromPem.verify(token(attacker), kNow), JwtError::Algorithm,
                  "the RSA key cannot check HS256 signatures");
  }
  const json::object jwk = jwkOf(keys().rsa.get(), {{"kid", "rsa"}});
  auto fromJwks = JwtVerifier::fromJwks(jwks({jwk}), {}, "jwks.json");
  ASSERT_TRUE(fromJwks);
  const Signer attacker{JwtAlgorithm::HS256, nullptr, json::serialize(jwk)};
  expectRefused(fromJwks->verify(token(attacker, defaultClaims(), {{"kid", "rsa"}}), kNow),
                JwtError::Algorithm,
                "key \"rsa\" cannot check HS256 signatures (it is an RSA key)");
  expectRefused(fromJwks->verify(token(attacker), kNow), JwtError::Algorithm,
                "the RSA key cannot check HS256 signatures");
}

TEST(JwtAlgorithm, EcTokenIsRefusedByAKeyOnTheOtherCurve) {
  const JwtVerifier p256 = verifierFor(JwtAlgorithm::ES256);
  const JwtVerifier p384 = verifierFor(JwtAlgorithm::ES384);
  expectRefused(p256.verify(token(signerFor(JwtAlgorithm::ES384)), kNow), JwtError::Algorithm,
                "the EC P-256 key cannot check ES384 signatures");
  expectRefused(p384.verify(token(signerFor(JwtAlgorithm::ES256)), kNow), JwtError::Algorithm,
                "the EC P-384 key cannot check ES256 signatures");
  // Signed with the P-384 key but labelled ES256: the label decides, and it does not fit.
  const Signer mislabelled{JwtAlgorithm::ES256, keys().p384.get()};
  EXPECT_EQ(p384.verify(token(mislabelled), kNow).error().reason, JwtError::Algorithm);
}

TEST(JwtAlgorithm, RsaAndEdDsaTokensAreRefusedByAnHmacSecret) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  expectRefused(v.verify(token(signerFor(JwtAlgorithm::RS256)), kNow), JwtError::Algorithm,
                "the HMAC secret key cannot check RS256 signatures");
  expectRefused(v.verify(token(signerFor(JwtAlgorithm::EdDSA)), kNow), JwtError::Algorithm,
                "the HMAC secret key cannot check EdDSA signatures");
}

TEST(JwtAlgorithm, HmacSecretMustBeAsLongAsTheHash) {
  const std::string secret32(32, 'z');
  auto v = JwtVerifier::fromSecret(secret32, {}, "secret");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->verify(token({JwtAlgorithm::HS256, nullptr, secret32}), kNow));
  expectRefused(v->verify(token({JwtAlgorithm::HS384, nullptr, secret32}), kNow),
                JwtError::Algorithm, "the HMAC secret key cannot check HS384 signatures");
  expectRefused(v->verify(token({JwtAlgorithm::HS512, nullptr, secret32}), kNow),
                JwtError::Algorithm, "the HMAC secret key cannot check HS512 signatures");
}

TEST(JwtAlgorithm, JwkAlgMustEqualTheTokensAlg) {
  auto v = JwtVerifier::fromJwks(jwks({jwkOf(keys().rsa.get(), {{"kid", "r"}, {"alg", "RS256"}})}),
                                 {}, "jwks.json");
  ASSERT_TRUE(v);
  const json::object kid{{"kid", "r"}};
  EXPECT_TRUE(v->verify(token(signerFor(JwtAlgorithm::RS256), defaultClaims(), kid), kNow));
  expectRefused(v->verify(token(signerFor(JwtAlgorithm::PS256), defaultClaims(), kid), kNow),
                JwtError::Algorithm,
                "key \"r\" cannot check PS256 signatures (it is an RSA key for RS256)");
  EXPECT_EQ(v->verify(token(signerFor(JwtAlgorithm::RS512)), kNow).error().reason,
            JwtError::Algorithm);
}

TEST(JwtAlgorithm, Ps256SignatureWithAnotherSaltLengthIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::PS256);
  Signer s = signerFor(JwtAlgorithm::PS256);
  s.pssSalt = 20;
  expectRefused(v.verify(token(s), kNow), JwtError::BadSignature, "signature does not verify");
}

TEST(JwtAlgorithm, Rs256SignatureIsNotAPs256One) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::RS256);
  const std::string rs = token(signerFor(JwtAlgorithm::RS256));
  // The same signature under a header that says PS256.
  const std::string header = encodeBase64Url(R"({"alg":"PS256","typ":"JWT"})");
  const std::string relabelled = header + rs.substr(rs.find('.'));
  expectRefused(v.verify(relabelled, kNow), JwtError::BadSignature, "signature does not verify");
}

// ---- choosing the key -------------------------------------------------------------------------

JwtVerifier twoEcKeys() {
  auto v = JwtVerifier::fromJwks(
      jwks({jwkOf(keys().p256.get(), {{"kid", "k1"}}), jwkOf(keys().p256b.get(), {{"kid", "k2"}}),
            jwkOf(keys().p384.get(), {{"kid", "e1"}, {"use", "enc"}})}),
      {}, "jwks.json");
  EXPECT_TRUE(v) << v.error().message;
  return std::move(*v);
}

TEST(JwtKeySelection, KidSelectsTheKeyWithThatKid) {
  const JwtVerifier v = twoEcKeys();
  EXPECT_EQ(v.keyCount(), 2u);
  const Signer second{JwtAlgorithm::ES256, keys().p256b.get()};
  auto claims = v.verify(token(second, defaultClaims(), {{"kid", "k2"}}), kNow);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->keyId, "k2");
  // Signed by k2 but naming k1: only k1 is tried.
  expectRefused(v.verify(token(second, defaultClaims(), {{"kid", "k1"}}), kNow),
                JwtError::BadSignature, "signature does not verify");
}

TEST(JwtKeySelection, AKeyWithoutKidChecksTokensWhateverKidTheyName) {
  for (JwtAlgorithm alg : {JwtAlgorithm::HS256, JwtAlgorithm::ES256}) {
    const JwtVerifier v = verifierFor(alg);  // a secret, a PEM key: no kid
    auto claims = v.verify(token(signerFor(alg), defaultClaims(), {{"kid", "idp-2026"}}), kNow);
    ASSERT_TRUE(claims) << claims.error().message;
    EXPECT_EQ(claims->keyId, "idp-2026");
  }
}

TEST(JwtKeySelection, HasKeyForAnswersWhatVerifyWouldTry) {
  const JwtVerifier v = twoEcKeys();
  EXPECT_TRUE(v.hasKeyFor("k2", "ES256"));
  EXPECT_TRUE(v.hasKeyFor("", "ES256"));
  EXPECT_FALSE(v.hasKeyFor("k3", "ES256"));  // no such kid
  EXPECT_FALSE(v.hasKeyFor("k1", "RS256"));  // k1 cannot check RS256
  EXPECT_FALSE(v.hasKeyFor("e1", "ES384"));  // not a signature key
  EXPECT_FALSE(v.hasKeyFor("k1", "none"));
  const JwtVerifier bare = verifierFor(JwtAlgorithm::HS256);
  EXPECT_TRUE(bare.hasKeyFor("anything", "HS256"));
}

TEST(JwtKeySelection, UnknownKidIsRefusedWithItsName) {
  const JwtVerifier v = twoEcKeys();
  expectRefused(
      v.verify(token(signerFor(JwtAlgorithm::ES256), defaultClaims(), {{"kid", "x"}}), kNow),
      JwtError::UnknownKey, "unknown key id \"x\"");
}

TEST(JwtKeySelection, KidOfAKeyNotForSignaturesIsRefusedSayingSo) {
  const JwtVerifier v = twoEcKeys();
  expectRefused(
      v.verify(token(signerFor(JwtAlgorithm::ES384), defaultClaims(), {{"kid", "e1"}}), kNow),
      JwtError::UnknownKey, "key id \"e1\" is not a signature key (use \"enc\")");
}

TEST(JwtKeySelection, WithoutKidEveryKeyThatFitsIsTried) {
  const JwtVerifier v = twoEcKeys();
  EXPECT_TRUE(v.verify(token(signerFor(JwtAlgorithm::ES256)), kNow));
  EXPECT_TRUE(v.verify(token({JwtAlgorithm::ES256, keys().p256b.get()}), kNow));
  auto stranger = PkeyPtr(EVP_EC_gen("P-256"));
  expectRefused(v.verify(token({JwtAlgorithm::ES256, stranger.get()}), kNow),
                JwtError::BadSignature,
                "signature does not verify with any of the 2 keys for ES256");
  expectRefused(v.verify(token(signerFor(JwtAlgorithm::ES384)), kNow), JwtError::Algorithm,
                "no key can check ES384 signatures");
}

TEST(JwtKeySelection, KidThatIsNotAStringIsRefused) {
  const JwtVerifier v = twoEcKeys();
  expectRefused(
      v.verify(token(signerFor(JwtAlgorithm::ES256), defaultClaims(), {{"kid", 1}}), kNow),
      JwtError::Malformed, "header \"kid\" is not a string");
}

TEST(JwtKeySelection, KidIsEscapedAndCutShortInMessages) {
  const JwtVerifier v = twoEcKeys();
  const std::string kid = "evil\n2026-01-01 [info] admin logged in" + std::string(100, 'k');
  auto r = v.verify(token(signerFor(JwtAlgorithm::ES256), defaultClaims(), {{"kid", kid}}), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "unknown key id \"evil\\x0a2026-01-01 [info] admin logged in"
            "kkkkkkkkkkkkkkkkkkkkkkkkkk\"...");
}

// ---- the token's form -------------------------------------------------------------------------

TEST(JwtToken, TokenLongerThanTheLimitIsRefusedBeforeAnythingIsParsed) {
  JwtSettings s;
  s.maxTokenBytes = 100;
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256, s);
  expectRefused(v.verify(std::string(101, '.'), kNow), JwtError::Malformed,
                "token is 101 bytes, longer than 100");
  const std::string t = token(signerFor(JwtAlgorithm::HS256));
  ASSERT_GT(t.size(), 100u);
  expectRefused(v.verify(t, kNow), JwtError::Malformed,
                fmt::format("token is {} bytes, longer than 100", t.size()));
}

TEST(JwtToken, TokenWithoutExactlyThreePartsIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const std::string t = token(signerFor(JwtAlgorithm::HS256));
  const std::string parts = "not a JWT (three base64url parts separated by '.' expected)";
  expectRefused(v.verify("", kNow), JwtError::Malformed, parts);
  expectRefused(v.verify(t.substr(0, t.rfind('.')), kNow), JwtError::Malformed, parts);
  expectRefused(v.verify(t + ".AAAA", kNow), JwtError::Malformed, parts);
  // JWE (five parts) and JWS JSON serialization are not JWS compact either.
  expectRefused(v.verify(t + ".AAAA.AAAA", kNow), JwtError::Malformed, parts);
  expectRefused(v.verify(R"({"payload":"e30","signatures":[]})", kNow), JwtError::Malformed, parts);
}

TEST(JwtToken, PartsThatAreNotStrictBase64UrlAreRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const std::string t = token(signerFor(JwtAlgorithm::HS256));
  const size_t sigAt = t.rfind('.') + 1;
  // 32 bytes are 43 characters whose last carries 2 unused bits; set one of them.
  std::string loose = t;
  loose.back() = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
      [(std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            .find(t.back())) |
       1];
  expectRefused(v.verify(loose, kNow), JwtError::Malformed, "signature is not base64url");
  expectRefused(v.verify(t + "=", kNow), JwtError::Malformed, "signature is not base64url");
  std::string plus = t;
  plus[sigAt] = '+';
  expectRefused(v.verify(plus, kNow), JwtError::Malformed, "signature is not base64url");
  expectRefused(v.verify(" " + t, kNow), JwtError::Malformed, "header is not base64url");
  expectRefused(v.verify(t + "\n", kNow), JwtError::Malformed, "signature is not base64url");
  const std::string padded = encodeBase64Url(R"({"alg":"HS256"})") + "=" + t.substr(t.find('.'));
  expectRefused(v.verify(padded, kNow), JwtError::Malformed, "header is not base64url");
}

TEST(JwtToken, HeaderThatIsNotAJsonObjectIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const Signer s = signerFor(JwtAlgorithm::HS256);
  const std::string claims = json::serialize(defaultClaims());
  expectRefused(v.verify(rawToken(s, R"(["HS256"])", claims), kNow), JwtError::Malformed,
                "header: not a JSON object");
  expectRefused(v.verify(rawToken(s, R"({"alg":"HS256")", claims), kNow), JwtError::Malformed,
                "header: not valid JSON");
  expectRefused(v.verify(rawToken(s, R"({"alg":"HS256"} {})", claims), kNow), JwtError::Malformed,
                "header: not valid JSON");
  expectRefused(v.verify(rawToken(s, "", claims), kNow), JwtError::Malformed,
                "header: not valid JSON");
}

TEST(JwtToken, HeaderWithoutAStringAlgIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const Signer s = signerFor(JwtAlgorithm::HS256);
  const std::string claims = json::serialize(defaultClaims());
  expectRefused(v.verify(rawToken(s, R"({"typ":"JWT"})", claims), kNow), JwtError::Malformed,
                "header has no \"alg\"");
  expectRefused(v.verify(rawToken(s, R"({"alg":["HS256"]})", claims), kNow), JwtError::Malformed,
                "header \"alg\" is not a string");
}

TEST(JwtToken, PayloadThatIsNotAJsonObjectIsRefusedOnceSigned) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const Signer s = signerFor(JwtAlgorithm::HS256);
  expectRefused(v.verify(rawToken(s, R"({"alg":"HS256"})", R"("alice")"), kNow),
                JwtError::Malformed, "payload: not a JSON object");
  expectRefused(v.verify(rawToken(s, R"({"alg":"HS256"})", "Example of Ed25519 signing"), kNow),
                JwtError::Malformed, "payload: not valid JSON");
  // Not signed: the payload is never looked at.
  const std::string t = rawToken(s, R"({"alg":"HS256"})", "not json");
  const std::string other = token(s);
  const std::string unsigned_ = t.substr(0, t.rfind('.')) + other.substr(other.rfind('.'));
  expectRefused(v.verify(unsigned_, kNow), JwtError::BadSignature, "signature does not verify");
}

TEST(JwtToken, RepeatedHeaderMemberIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const Signer s = signerFor(JwtAlgorithm::HS256);
  expectRefused(
      v.verify(rawToken(s, R"({"alg":"HS256","alg":"none"})", json::serialize(defaultClaims())),
               kNow),
      JwtError::Malformed, "header: member \"alg\" appears twice in one object");
}

TEST(JwtToken, RepeatedClaimIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const Signer s = signerFor(JwtAlgorithm::HS256);
  const std::string payload =
      fmt::format(R"({{"sub":"alice","exp":{},"sub":"admin"}})", kExpSeconds);
  expectRefused(v.verify(rawToken(s, R"({"alg":"HS256"})", payload), kNow), JwtError::Malformed,
                "payload: member \"sub\" appears twice in one object");
  const std::string nested =
      fmt::format(R"({{"sub":"alice","exp":{},"x":{{"a":1,"a":2}}}})", kExpSeconds);
  expectRefused(v.verify(rawToken(s, R"({"alg":"HS256"})", nested), kNow), JwtError::Malformed,
                "payload: member \"a\" appears twice in one object");
}

TEST(JwtToken, DeeplyNestedJsonIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const Signer s = signerFor(JwtAlgorithm::HS256);
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  const std::string payload =
      fmt::format(R"({{"sub":"alice","exp":{},"x":{}}})", kExpSeconds, deep);
  expectRefused(v.verify(rawToken(s, R"({"alg":"HS256"})", payload), kNow), JwtError::Malformed,
                "payload: JSON nested deeper than 16 levels");
}

TEST(JwtToken, CritHeaderIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  const std::string t = token(signerFor(JwtAlgorithm::HS256), defaultClaims(),
                              {{"crit", json::array{"exp"}}, {"exp", kExpSeconds}});
  expectRefused(v.verify(t, kNow), JwtError::Malformed,
                "header has \"crit\": no JWS extension is supported (RFC 7515 4.1.11)");
}

TEST(JwtToken, TypOtherThanJwtIsRefused) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  for (json::value typ : {json::value("dpop+jwt"), json::value("JOSE"), json::value("logout+jwt"),
                          json::value(1), json::value("")}) {
    const std::string t = token(signerFor(JwtAlgorithm::HS256), defaultClaims(), {{"typ", typ}});
    expectRefused(v.verify(t, kNow), JwtError::Malformed,
                  "header \"typ\" is not \"JWT\" or \"at+jwt\"");
  }
}

TEST(JwtToken, TypJwtAndAtJwtAreAcceptedInAnyCase) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  for (std::string_view typ : {"JWT", "jwt", "at+jwt", "AT+JWT", "application/jwt",
                               "application/at+jwt", "Application/JWT"}) {
    const std::string t = token(signerFor(JwtAlgorithm::HS256), defaultClaims(), {{"typ", typ}});
    EXPECT_TRUE(v.verify(t, kNow)) << typ;
  }
  const std::string noTyp = rawToken(signerFor(JwtAlgorithm::HS256), R"({"alg":"HS256"})",
                                     json::serialize(defaultClaims()));
  EXPECT_TRUE(v.verify(noTyp, kNow));
}

TEST(JwtToken, KeysOfferedByTheTokenAreIgnored) {
  // A "jwk" header with the attacker's own key must not be what checks the signature.
  const JwtVerifier v = verifierFor(JwtAlgorithm::ES256);
  auto attacker = PkeyPtr(EVP_EC_gen("P-256"));
  const std::string t = token({JwtAlgorithm::ES256, attacker.get()}, defaultClaims(),
                              {{"jwk", jwkOf(attacker.get())}, {"jku", "https://evil.example/"}});
  expectRefused(v.verify(t, kNow), JwtError::BadSignature, "signature does not verify");
}

// ---- claims -----------------------------------------------------------------------------------

TEST(JwtClaims, ExpiredTokenIsRefusedWithItsExpiryTime) {
  expectRefused(verifyClaims(defaultClaims(), {}, kNow + seconds(7200)), JwtError::Expired,
                "token expired at 2026-11-22T10:00:00Z");
}

TEST(JwtClaims, TokenIsAcceptedUntilExpPlusLeeway) {
  const system_clock::time_point exp{seconds(kExpSeconds)};
  EXPECT_TRUE(verifyClaims(defaultClaims(), {}, exp + seconds(29)));
  EXPECT_TRUE(verifyClaims(defaultClaims(), {}, exp + seconds(30) - std::chrono::milliseconds(1)));
  EXPECT_EQ(verifyClaims(defaultClaims(), {}, exp + seconds(30)).error().reason, JwtError::Expired);
  JwtSettings noLeeway;
  noLeeway.leeway = seconds(0);
  EXPECT_TRUE(verifyClaims(defaultClaims(), noLeeway, exp - std::chrono::nanoseconds(1)));
  EXPECT_EQ(verifyClaims(defaultClaims(), noLeeway, exp).error().reason, JwtError::Expired);
}

TEST(JwtClaims, TokenIsRefusedBeforeNbfMinusLeeway) {
  const int64_t nbf = kNowSeconds + 600;
  const json::object claims = claimsWith("nbf", nbf);
  const system_clock::time_point at{seconds(nbf)};
  expectRefused(verifyClaims(claims, {}, at - seconds(31)), JwtError::NotYetValid,
                "token is not valid before 2026-11-22T09:10:00Z");
  EXPECT_TRUE(verifyClaims(claims, {}, at - seconds(30)));
  EXPECT_TRUE(verifyClaims(claims, {}, at));
}

TEST(JwtClaims, FractionalDatesAreHonoured) {
  JwtSettings noLeeway;
  noLeeway.leeway = seconds(0);
  const json::object claims = claimsWith("exp", static_cast<double>(kExpSeconds) + 0.5);
  const system_clock::time_point exp{seconds(kExpSeconds)};
  EXPECT_TRUE(verifyClaims(claims, noLeeway, exp + std::chrono::milliseconds(499)));
  EXPECT_EQ(verifyClaims(claims, noLeeway, exp + std::chrono::milliseconds(500)).error().reason,
            JwtError::Expired);
  const json::object early = claimsWith("nbf", static_cast<double>(kNowSeconds) + 0.25);
  EXPECT_EQ(verifyClaims(early, noLeeway, kNow).error().reason, JwtError::NotYetValid);
  EXPECT_TRUE(verifyClaims(early, noLeeway, kNow + std::chrono::milliseconds(250)));
}

TEST(JwtClaims, DatesThatAreNotNumericDatesAreRefused) {
  for (json::value bad : {json::value("1795341600"), json::value(true), json::value(nullptr),
                          json::value(json::array{kExpSeconds}), json::value(-1), json::value(-0.5),
                          json::value(1e300), json::value(int64_t{253'402'300'800}),
                          json::value(uint64_t{18'446'744'073'709'551'615u})}) {
    expectRefused(verifyClaims(claimsWith("exp", bad)), JwtError::BadClaim,
                  "\"exp\" is not a NumericDate");
    expectRefused(verifyClaims(claimsWith("nbf", bad)), JwtError::BadClaim,
                  "\"nbf\" is not a NumericDate");
  }
}

TEST(JwtClaims, ExpiryBeyondWhatTheClockHoldsSaturates) {
  auto claims = verifyClaims(claimsWith("exp", int64_t{253'402'300'799}));
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->expiresAt, system_clock::time_point::max());
}

TEST(JwtClaims, TokenWithoutExpIsRefusedWhenExpiryIsRequired) {
  expectRefused(verifyClaims(claimsWithout("exp")), JwtError::BadClaim,
                "token has no expiry (\"exp\")");
  JwtSettings optional;
  optional.requireExpiry = false;
  auto claims = verifyClaims(claimsWithout("exp"), optional);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_FALSE(claims->expiresAt);
}

TEST(JwtClaims, IssuerMustBeTheConfiguredOne) {
  JwtSettings s;
  s.issuer = "https://idp.example";
  EXPECT_TRUE(verifyClaims(claimsWith("iss", "https://idp.example"), s));
  expectRefused(verifyClaims(claimsWith("iss", "https://idp.example/"), s), JwtError::WrongIssuer,
                "issuer is not \"https://idp.example\"");
  expectRefused(verifyClaims(defaultClaims(), s), JwtError::WrongIssuer,
                "token has no issuer (\"iss\"); \"https://idp.example\" expected");
  expectRefused(verifyClaims(claimsWith("iss", json::array{"https://idp.example"}), s),
                JwtError::BadClaim, "\"iss\" is not a string");
}

TEST(JwtClaims, AudienceStringOrArrayMustNameTheConfiguredOne) {
  JwtSettings s;
  s.audience = "mqtt";
  EXPECT_TRUE(verifyClaims(claimsWith("aud", "mqtt"), s));
  EXPECT_TRUE(verifyClaims(claimsWith("aud", json::array{"web", "mqtt"}), s));
  expectRefused(verifyClaims(claimsWith("aud", "MQTT"), s), JwtError::WrongAudience,
                "token is not for audience \"mqtt\"");
  expectRefused(verifyClaims(claimsWith("aud", json::array{"web"}), s), JwtError::WrongAudience,
                "token is not for audience \"mqtt\"");
  expectRefused(verifyClaims(claimsWith("aud", json::array{}), s), JwtError::WrongAudience,
                "token is not for audience \"mqtt\"");
  expectRefused(verifyClaims(defaultClaims(), s), JwtError::WrongAudience,
                "token has no audience (\"aud\"); \"mqtt\" expected");
  expectRefused(verifyClaims(claimsWith("aud", json::array{"mqtt", 1}), s), JwtError::BadClaim,
                "\"aud\" is not a string or an array of strings");
  expectRefused(verifyClaims(claimsWith("aud", json::object{{"mqtt", true}}), s),
                JwtError::BadClaim, "\"aud\" is not a string or an array of strings");
}

TEST(JwtClaims, TokenForAnAudienceIsRefusedWhenNoneIsConfigured) {
  // RFC 7519 4.1.3: a service that is not named by "aud" must refuse the token.
  expectRefused(verifyClaims(claimsWith("aud", "billing")), JwtError::WrongAudience,
                "token names an audience (\"aud\") and none is configured for the broker");
}

TEST(JwtClaims, UsernameClaimMustBeAStringThatIsAValidUsername) {
  expectRefused(verifyClaims(claimsWithout("sub")), JwtError::BadUsername,
                "token has no \"sub\" claim (the username)");
  expectRefused(verifyClaims(claimsWith("sub", 42)), JwtError::BadUsername,
                "claim \"sub\" (the username) is not a string");
  expectRefused(verifyClaims(claimsWith("sub", "")), JwtError::BadUsername,
                "claim \"sub\" (the username): username is empty");
  expectRefused(verifyClaims(claimsWith("sub", "sensors/#")), JwtError::BadUsername,
                "claim \"sub\" (the username): username contains '#' (an MQTT wildcard)");
  expectRefused(verifyClaims(claimsWith("sub", "a\x01b")), JwtError::BadUsername,
                "claim \"sub\" (the username): username contains a control character");
  expectRefused(verifyClaims(claimsWith("sub", json::string_view("a\0b", 3))),
                JwtError::BadUsername, "claim \"sub\" (the username): username is not valid UTF-8");
}

TEST(JwtClaims, AnotherClaimCanBeTheUsername) {
  JwtSettings s;
  s.usernameClaim = "preferred_username";
  json::object claims = claimsWith("preferred_username", "alice@example.com");
  claims["sub"] = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6";
  auto result = verifyClaims(claims, s);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->username, "alice@example.com");
  EXPECT_EQ(result->subject, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  expectRefused(verifyClaims(defaultClaims(), s), JwtError::BadUsername,
                "token has no \"preferred_username\" claim (the username)");
  claims["sub"] = 7;
  expectRefused(verifyClaims(claims, s), JwtError::BadClaim, "\"sub\" is not a string");
}

TEST(JwtClaims, RolesAreAStringOrAnArrayOfStrings) {
  auto one = verifyClaims(claimsWith("roles", "admin"));
  ASSERT_TRUE(one) << one.error().message;
  EXPECT_EQ(one->roles, std::vector<std::string>{"admin"});
  auto many = verifyClaims(claimsWith("roles", json::array{"reader", "writer"}));
  ASSERT_TRUE(many) << many.error().message;
  EXPECT_EQ(many->roles, (std::vector<std::string>{"reader", "writer"}));
  auto none = verifyClaims(defaultClaims());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->roles.empty());
  JwtSettings other;
  other.rolesClaim = "groups";
  auto groups = verifyClaims(claimsWith("groups", json::array{"ops"}), other);
  ASSERT_TRUE(groups);
  EXPECT_EQ(groups->roles, std::vector<std::string>{"ops"});
}

TEST(JwtClaims, RolesOfAnyOtherShapeAreRefused) {
  const std::string why =
      "claim \"roles\" (the roles) is not a string or an array of strings that are valid names "
      "(no control characters, '+' or '#')";
  for (json::value bad :
       {json::value(1), json::value(nullptr), json::value(json::object{}),
        json::value(json::array{"reader", 2}), json::value(json::array{json::array{"x"}}),
        json::value("a/#"), json::value(json::array{""})}) {
    expectRefused(verifyClaims(claimsWith("roles", bad)), JwtError::BadClaim, why);
  }
}

TEST(JwtClaims, TenantIsAStringWhenPresent) {
  auto claims = verifyClaims(claimsWith("tenant", "acme"));
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->tenant, "acme");
  const std::string why =
      "claim \"tenant\" (the tenant) is not a string that is a valid name (no control "
      "characters, '+' or '#')";
  expectRefused(verifyClaims(claimsWith("tenant", json::array{"acme"})), JwtError::BadClaim, why);
  expectRefused(verifyClaims(claimsWith("tenant", "ac+me")), JwtError::BadClaim, why);
}

TEST(JwtClaims, VerifiedClaimsCarryKidAlgorithmIssuerSubjectAndExpiry) {
  JwtSettings s;
  s.issuer = "idp";
  s.audience = "mqtt";
  auto v = JwtVerifier::fromJwks(jwks({jwkOf(keys().ed25519.get(), {{"kid", "ed-1"}})}), s, "j");
  ASSERT_TRUE(v);
  json::object claims = defaultClaims();
  claims["iss"] = "idp";
  claims["aud"] = "mqtt";
  claims["roles"] = json::array{"r"};
  claims["tenant"] = "t";
  claims["custom"] = json::object{{"nested", json::array{1, 2.5, "x", nullptr}}};
  auto result = v->verify(token(signerFor(JwtAlgorithm::EdDSA), claims, {{"kid", "ed-1"}}), kNow);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->username, "alice");
  EXPECT_EQ(result->subject, "alice");
  EXPECT_EQ(result->keyId, "ed-1");
  EXPECT_EQ(result->issuer, "idp");
  EXPECT_EQ(result->tenant, "t");
  EXPECT_EQ(result->roles, std::vector<std::string>{"r"});
  EXPECT_EQ(result->algorithm, "EdDSA");
  EXPECT_EQ(result->expiresAt, system_clock::time_point(seconds(kExpSeconds)));
}

// ---- messages ---------------------------------------------------------------------------------

TEST(JwtErrors, RefusalsNeverQuoteTheTokenItsSignatureOrTheSecret) {
  JwtSettings s;
  s.issuer = "idp";
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256, s);
  const Signer hs = signerFor(JwtAlgorithm::HS256);
  const Signer wrong{JwtAlgorithm::HS256, nullptr, std::string(64, 'w')};
  std::vector<std::string> tokens = {
      token(hs),                                          // no issuer
      token(wrong, claimsWith("iss", "idp")),             // bad signature
      token(hs, claimsWith("iss", "other")),              // wrong issuer
      token(hs, claimsWith("iss", "idp"), {{"kid", 5}}),  // malformed header
      token(signerFor(JwtAlgorithm::RS256)),              // algorithm
      token(hs, claimsWith("iss", "idp"), {{"crit", json::array{}}}),
  };
  std::vector<std::string> reasons;
  for (const std::string& t : tokens) {
    auto r = v.verify(t, kNow + seconds(1));
    ASSERT_FALSE(r);
    const std::string& m = r.error().message;
    EXPECT_EQ(m.find(t.substr(t.rfind('.') + 1)), std::string::npos) << m;
    EXPECT_EQ(m.find(t.substr(0, t.find('.'))), std::string::npos) << m;
    EXPECT_EQ(m.find(kSecret.substr(0, 16)), std::string::npos) << m;
    EXPECT_EQ(r.error().code, 0x86);
    reasons.emplace_back(jwtErrorName(r.error().reason));
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{"wrong issuer", "bad signature", "wrong issuer",
                                               "malformed", "algorithm", "malformed"}));
}

TEST(JwtErrors, FailureConvertsToAnErrorSoMoatTryPassesItOn) {
  const JwtVerifier v = verifierFor(JwtAlgorithm::HS256);
  auto admit = [&](std::string_view t) -> Result<std::string> {
    MOAT_TRY(v.verify(t, kNow));
    return std::string("admitted");
  };
  EXPECT_EQ(admit(token(signerFor(JwtAlgorithm::HS256))).value(), "admitted");
  auto refused = admit("e30.e30.AAAA");  // {}.{}.
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, 0x86);
  EXPECT_EQ(refused.error().message, "header has no \"alg\"");
}

// ---- loading ----------------------------------------------------------------------------------

TEST(JwtLoad, SecretFileLosesOneTrailingNewline) {
  TempDir dir;
  const std::string secret = "0123456789abcdef0123456789abcdef";
  for (std::string_view ending : {"", "\n", "\r\n"}) {
    JwtSettings s;
    s.secretFile = dir.write("secret", secret + std::string(ending));
    auto v = JwtVerifier::load(s);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_TRUE(v->verify(token({JwtAlgorithm::HS256, nullptr, secret}), kNow)) << ending.size();
  }
  // Only one: a second newline is part of the secret.
  JwtSettings s;
  s.secretFile = dir.write("secret", secret + "\n\n");
  auto v = JwtVerifier::load(s);
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->verify(token({JwtAlgorithm::HS256, nullptr, secret}), kNow));
  EXPECT_TRUE(v->verify(token({JwtAlgorithm::HS256, nullptr, secret + "\n"}), kNow));
}

TEST(JwtLoad, SecretShorterThan32BytesIsRefusedNamingTheFile) {
  TempDir dir;
  JwtSettings s;
  s.secretFile = dir.write("short", "too short\n");
  auto v = JwtVerifier::load(s);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message,
            s.secretFile.string() + ": HMAC secret of 9 bytes is too short (at least 32)");
}

TEST(JwtLoad, PublicKeyFileMayHoldAPublicKeyOrACertificate) {
  TempDir dir;
  // A self-signed certificate over the P-256 key; its dates do not matter.
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -86400 * 365);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), -86400);  // expired: not looked at
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("issuer"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_set_pubkey(cert.get(), keys().p256.get());
  ASSERT_GT(X509_sign(cert.get(), keys().p256.get(), EVP_sha256()), 0);
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);

  // PKCS#1 "RSA PUBLIC KEY", as `openssl rsa -RSAPublicKey_out` writes it.
  BioPtr pkcs1(BIO_new(BIO_s_mem()));
  EncoderCtxPtr encoder(OSSL_ENCODER_CTX_new_for_pkey(keys().rsa.get(), EVP_PKEY_PUBLIC_KEY, "PEM",
                                                      "type-specific", nullptr));
  ASSERT_EQ(OSSL_ENCODER_to_bio(encoder.get(), pkcs1.get()), 1);
  char* pkcs1Data = nullptr;
  const long pkcs1Size = BIO_get_mem_data(pkcs1.get(), &pkcs1Data);
  ASSERT_NE(std::string_view(pkcs1Data, pkcs1Size).find("BEGIN RSA PUBLIC KEY"), std::string::npos);

  const std::pair<std::string, JwtAlgorithm> cases[] = {
      {std::string(data, static_cast<size_t>(size)), JwtAlgorithm::ES256},
      {std::string(pkcs1Data, static_cast<size_t>(pkcs1Size)), JwtAlgorithm::RS256},
      {publicPem(keys().p384.get()), JwtAlgorithm::ES384},
      {publicPem(keys().ed25519.get()), JwtAlgorithm::EdDSA},
  };
  for (const auto& [pem, alg] : cases) {
    JwtSettings s;
    s.publicKey = dir.write("key.pem", pem);
    auto v = JwtVerifier::load(s);
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->keyCount(), 1u);
    EXPECT_TRUE(v->verify(token(signerFor(alg)), kNow)) << algorithmName(alg);
  }
}

TEST(JwtLoad, PrivateKeyFileIsRefused) {
  TempDir dir;
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), keys().p256.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  JwtSettings s;
  s.publicKey = dir.write("private.pem", std::string_view(data, static_cast<size_t>(size)));
  auto v = JwtVerifier::load(s);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message, s.publicKey.string() +
                                   ": holds a private key; a private key must not be given to "
                                   "the broker (give it the public key or the certificate)");
}

TEST(JwtLoad, PemWithTwoBlocksIsRefused) {
  auto v = JwtVerifier::fromPem(publicPem(keys().p256.get()) + publicPem(keys().rsa.get()), {},
                                "key.pem");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message,
            "key.pem: holds 2 PEM blocks; give exactly one public key or one certificate");
}

TEST(JwtLoad, WeakOrUnsupportedPublicKeysAreRefused) {
  auto weak = JwtVerifier::fromPem(publicPem(keys().rsa1024.get()), {}, "key.pem");
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().message, "key.pem: RSA key of 1024 bits is too weak (at least 2048)");
  auto weakJwks = JwtVerifier::fromJwks(
      jwks({jwkOf(keys().p256.get()), jwkOf(keys().rsa1024.get(), {{"kid", "k1"}})}), {},
      "jwks.json");
  ASSERT_FALSE(weakJwks);
  EXPECT_EQ(weakJwks.error().message,
            "jwks.json: key 2 (kid \"k1\"): RSA key of 1024 bits is too weak (at least 2048)");
  auto p521 = JwtVerifier::fromPem(publicPem(keys().p521.get()), {}, "key.pem");
  ASSERT_FALSE(p521);
  EXPECT_EQ(p521.error().message,
            "key.pem: EC curve \"secp521r1\" is not supported (P-256 or P-384)");
  auto ed448 = JwtVerifier::fromPem(publicPem(keys().ed448.get()), {}, "key.pem");
  ASSERT_FALSE(ed448);
  EXPECT_EQ(ed448.error().message,
            "key.pem: ED448 keys are not supported (RSA, EC P-256 / P-384 or Ed25519)");
}

TEST(JwtLoad, ExactlyOneKeySourceMustBeGiven) {
  TempDir dir;
  JwtSettings none;
  auto v0 = JwtVerifier::load(none);
  ASSERT_FALSE(v0);
  EXPECT_EQ(v0.error().message,
            "exactly one JWT key source (a JWKS file, a public key or a secret file) must be "
            "given, not 0");
  JwtSettings two;
  two.secretFile = dir.write("secret", kSecret);
  two.publicKey = dir.write("key.pem", publicPem(keys().p256.get()));
  auto v2 = JwtVerifier::load(two);
  ASSERT_FALSE(v2);
  EXPECT_TRUE(v2.error().message.ends_with("not 2"));
}

TEST(JwtLoad, MissingFileIsNamedInTheError) {
  JwtSettings s;
  s.jwksFile = "/nonexistent/jwks.json";
  auto v = JwtVerifier::load(s);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("/nonexistent/jwks.json"), std::string::npos)
      << v.error().message;
}

TEST(JwtLoad, JwksFileIsRead) {
  TempDir dir;
  JwtSettings s;
  s.jwksFile = dir.write("jwks.json", jwks({jwkOf(keys().p384.get(), {{"kid", "p"}})}));
  auto v = JwtVerifier::load(s);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->settings().jwksFile, s.jwksFile);
  EXPECT_TRUE(
      v->verify(token(signerFor(JwtAlgorithm::ES384), defaultClaims(), {{"kid", "p"}}), kNow));
}

TEST(JwtLoad, AllowedAlgorithmsMustBeKnownAndFitAKey) {
  JwtSettings unknown;
  unknown.algorithms = {"HS256", "HS1"};
  auto v1 = JwtVerifier::fromSecret(kSecret, unknown, "secret");
  ASSERT_FALSE(v1);
  EXPECT_EQ(v1.error().message,
            "JWT algorithm \"HS1\" is not supported (HS256, HS384, HS512, RS256, RS384, RS512, "
            "PS256, ES256, ES384, EdDSA)");
  JwtSettings rsaOnly;
  rsaOnly.algorithms = {"RS256"};
  auto v2 = JwtVerifier::fromSecret(kSecret, rsaOnly, "secret");
  ASSERT_FALSE(v2);
  EXPECT_EQ(v2.error().message, "secret: no key fits any of the allowed JWT algorithms");
}

TEST(JwtLoad, LeewayTokenSizeAndUsernameClaimMustBeSane) {
  JwtSettings s;
  s.leeway = seconds(-1);
  EXPECT_FALSE(JwtVerifier::fromSecret(kSecret, s, "secret"));
  s.leeway = seconds(3601);
  EXPECT_FALSE(JwtVerifier::fromSecret(kSecret, s, "secret"));
  s = {};
  s.maxTokenBytes = 65536;
  EXPECT_FALSE(JwtVerifier::fromSecret(kSecret, s, "secret"));
  s = {};
  s.usernameClaim = "";
  EXPECT_FALSE(JwtVerifier::fromSecret(kSecret, s, "secret"));
}

// ---- threads ----------------------------------------------------------------------------------

TEST(JwtConcurrency, VerifyRunsOnManyThreadsAtOnce) {
  auto v = JwtVerifier::fromJwks(
      jwks({jwkOf(keys().rsa.get(), {{"kid", "r"}}), jwkOf(keys().p256.get(), {{"kid", "e"}}),
            jwkOf(nullptr, {{"kid", "h"}})}),
      {}, "jwks.json");
  ASSERT_TRUE(v);
  const std::vector<std::string> good = {
      token(signerFor(JwtAlgorithm::RS256), defaultClaims(), {{"kid", "r"}}),
      token(signerFor(JwtAlgorithm::ES256), defaultClaims(), {{"kid", "e"}}),
      token(signerFor(JwtAlgorithm::HS512), defaultClaims(), {{"kid", "h"}}),
      token(signerFor(JwtAlgorithm::PS256)),
  };
  const std::string bad = token({JwtAlgorithm::HS256, nullptr, std::string(32, 'x')});
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        if (!v->verify(good[(t + i) % good.size()], kNow)) ++failures;
        if (v->verify(bad, kNow)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace moat::security
