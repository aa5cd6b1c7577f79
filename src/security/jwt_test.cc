// JwtVerifier end to end: tokens signed here with OpenSSL, with keys made once per run of the
// binary (RSA 2048, EC P-256 and P-384, Ed25519) and fixed HMAC secrets; the RFC 7515 appendix
// A.1 (HS256) and A.3 (ES256) tokens verbatim; then every refusal of an algorithm, a key or the
// token's form, with its JwtError and message (claims: jwt_claims_test.cc; loading keys:
// jwt_load_test.cc; helpers: jwt_test_util.h).
// Time is a parameter of verify(), so no test reads the clock.
#include "security/jwt.h"

#include <gtest/gtest.h>

#include "security/jwt_test_util.h"

namespace moat::security {
namespace {

using namespace jwt_testing;

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

}  // namespace
}  // namespace moat::security
