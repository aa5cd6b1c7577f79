// JWK and PEM key loading, key-level signature checks, and the base64url and JSON underneath.
// Fixed keys come from the RFCs: the P-256 key of RFC 7515 appendix A.3 and the Ed25519 key and
// signature of RFC 8037 appendix A.4. Keys made per run and whole tokens are in jwt_test.cc.
#include "security/jwt_keys.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace moat::security {
namespace {

namespace json = boost::json;

// RFC 7515 A.3.1, without its private member "d".
constexpr std::string_view kRfc7515P256 =
    R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
// RFC 8037 A.2, the public key of A.1.
constexpr std::string_view kRfc8037Ed25519 =
    R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})";

json::object object(std::string_view text) { return json::parse(text).as_object(); }

// A JWK with `member` set to `value` (JSON text), over the RFC 7515 P-256 key.
json::object p256With(std::string_view member, std::string_view value) {
  json::object jwk = object(kRfc7515P256);
  jwk[member] = json::parse(value);
  return jwk;
}

std::string jwks(std::initializer_list<std::string_view> keys) {
  std::string out = R"({"keys":[)";
  for (std::string_view key : keys) {
    if (out.back() != '[') out += ',';
    out += key;
  }
  return out + "]}";
}

// An odd modulus of `bits` bits, base64url: loading does not factor it, so it stands in for a
// real one (no signature is checked with it).
std::string syntheticModulus(int bits) {
  std::string n(static_cast<size_t>(bits / 8), '\0');
  n.front() = '\xC5';
  n.back() = '\x01';
  return encodeBase64Url(n);
}

std::string rsaJwk(int bits, std::string_view e = "AQAB") {
  return R"({"kty":"RSA","n":")" + syntheticModulus(bits) + R"(","e":")" + std::string(e) + "\"}";
}

TEST(JwtKey, Rfc8037Ed25519SignatureVerifies) {
  auto key = JwtKey::fromJwk(object(kRfc8037Ed25519));
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->type(), JwtKeyType::Ed25519);
  // RFC 8037 A.4: the JWS of "Example of Ed25519 signing".
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  auto signature = decodeBase64Url(
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
  ASSERT_TRUE(signature);
  EXPECT_TRUE(key->verify(JwtAlgorithm::EdDSA, input, *signature));
  EXPECT_FALSE(key->verify(JwtAlgorithm::EdDSA, input + "x", *signature));
  EXPECT_FALSE(key->verify(JwtAlgorithm::EdDSA, input, signature->substr(1)));
}

TEST(JwtKey, EachKeyTypeFitsOnlyItsAlgorithms) {
  auto ec = JwtKey::fromJwk(object(kRfc7515P256));
  auto ed = JwtKey::fromJwk(object(kRfc8037Ed25519));
  auto rsa = JwtKey::fromJwk(object(rsaJwk(2048)));
  auto hmac32 = JwtKey::fromSecret(std::string(32, 's'));
  auto hmac64 = JwtKey::fromSecret(std::string(64, 's'));
  ASSERT_TRUE(ec && ed && rsa && hmac32 && hmac64);
  for (JwtAlgorithm alg : kJwtAlgorithms) {
    const std::string_view name = algorithmName(alg);
    EXPECT_EQ(ec->fits(alg), alg == JwtAlgorithm::ES256) << name;
    EXPECT_EQ(ed->fits(alg), alg == JwtAlgorithm::EdDSA) << name;
    EXPECT_EQ(rsa->fits(alg), name.starts_with("RS") || name.starts_with("PS")) << name;
    // RFC 7518 3.2: the secret is at least as long as the hash.
    EXPECT_EQ(hmac32->fits(alg), alg == JwtAlgorithm::HS256) << name;
    EXPECT_EQ(hmac64->fits(alg), name.starts_with("HS")) << name;
  }
}

TEST(JwtKey, VerifyRefusesAnAlgorithmTheKeyDoesNotFit) {
  auto ec = JwtKey::fromJwk(object(kRfc7515P256));
  ASSERT_TRUE(ec);
  auto r = ec->verify(JwtAlgorithm::HS256, "a.b", std::string(32, 'x'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "HS256 does not fit the EC P-256 key");
}

TEST(JwtKey, AlgorithmNamesAreCaseSensitive) {
  EXPECT_EQ(parseAlgorithm("ES256"), JwtAlgorithm::ES256);
  EXPECT_EQ(parseAlgorithm("EdDSA"), JwtAlgorithm::EdDSA);
  EXPECT_FALSE(parseAlgorithm("es256"));
  EXPECT_FALSE(parseAlgorithm("none"));
  EXPECT_FALSE(parseAlgorithm("PS384"));
  for (JwtAlgorithm alg : kJwtAlgorithms) EXPECT_EQ(parseAlgorithm(algorithmName(alg)), alg);
}

TEST(JwtJwks, Rfc7515P256KeyLoadsWithItsKidAndAlg) {
  auto set =
      parseJwks(jwks({R"({"kty":"EC","crv":"P-256","kid":"a3","alg":"ES256","use":"sig",)"
                      R"("key_ops":["verify"],"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                      R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})"}),
                "jwks.json");
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_EQ(set->keys.size(), 1u);
  EXPECT_EQ(set->keys[0].keyId(), "a3");
  EXPECT_EQ(set->keys[0].algorithm(), JwtAlgorithm::ES256);
  EXPECT_EQ(set->keys[0].type(), JwtKeyType::EcP256);
}

TEST(JwtJwks, EmptyKeySetIsRefused) {
  auto set = parseJwks(R"({"keys":[]})", "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message, "jwks.json: the key set is empty");
}

TEST(JwtJwks, DocumentWithoutAKeysArrayIsRefused) {
  for (std::string_view text : {R"({})", R"({"keys":{}})", R"([])", "", R"({"keys":[)"}) {
    auto set = parseJwks(text, "jwks.json");
    ASSERT_FALSE(set) << text;
    EXPECT_TRUE(set.error().message.starts_with("jwks.json: not a JWK Set")) << set.error().message;
  }
}

TEST(JwtJwks, UnknownKeyTypeIsRefusedNamingTheKey) {
  auto set = parseJwks(jwks({kRfc7515P256, R"({"kty":"XYZ","kid":"k9"})"}), "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message, R"(jwks.json: key 2 (kid "k9"): unknown key type (kty) "XYZ")");
}

TEST(JwtJwks, PrivateKeyIsRefusedSayingItMustNotBeGivenToTheBroker) {
  // RFC 7515 A.3.1 verbatim: the key with its private part "d".
  auto set = parseJwks(
      jwks({R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
            R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",)"
            R"("d":"jpsQnnGQmL-YBIffH1136cLyQL6Lg1nKGBMnVAjVcEI"})"}),
      "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message,
            "jwks.json: key 1: holds the private member \"d\"; a private key must not be given to "
            "the broker (publish the public key only)");
  EXPECT_EQ(set.error().message.find("jpsQ"), std::string::npos);

  json::object rsa = object(rsaJwk(2048));
  rsa["p"] = "AQAB";
  auto withP = JwtKey::fromJwk(rsa);
  ASSERT_FALSE(withP);
  EXPECT_NE(withP.error().message.find("private key must not be given"), std::string::npos);
}

TEST(JwtJwks, OneBadKeyFailsTheWholeSetNamingItsNumberAndKid) {
  auto set = parseJwks(jwks({kRfc7515P256, R"({"kty":"RSA","kid":"k1","n":")" +
                                               syntheticModulus(1024) + R"(","e":"AQAB"})"}),
                       "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message,
            R"(jwks.json: key 2 (kid "k1"): RSA key of 1024 bits is too weak (at least 2048))");
}

TEST(JwtJwks, RsaModulusOf2048BitsLoads) {
  auto set = parseJwks(jwks({rsaJwk(2048), rsaJwk(4096)}), "jwks.json");
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_EQ(set->keys.size(), 2u);
  EXPECT_EQ(set->keys[0].bits(), 2048);
  EXPECT_EQ(set->keys[1].bits(), 4096);
}

TEST(JwtJwks, RsaExponentMustBeOddAndAtLeastThree) {
  for (std::string_view e : {"AQ", "Ag", "AAE", "AQABAQABAQABAQAB"}) {  // 1, 2, 1 again, 2^64+
    auto key = JwtKey::fromJwk(object(rsaJwk(2048, e)));
    EXPECT_FALSE(key) << e;
  }
  EXPECT_TRUE(JwtKey::fromJwk(object(rsaJwk(2048, "Aw"))));  // 3
}

TEST(JwtJwks, KeysNotForSignaturesAreLeftOut) {
  json::object enc = object(kRfc7515P256);
  enc["use"] = "enc";
  enc["kid"] = "e1";
  json::object wrap = object(kRfc8037Ed25519);
  wrap["key_ops"] = json::array{"encrypt", "wrapKey"};
  auto set =
      parseJwks(jwks({json::serialize(enc), json::serialize(wrap), kRfc8037Ed25519}), "jwks.json");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->keys.size(), 1u);
  ASSERT_EQ(set->ignored.size(), 2u);
  EXPECT_EQ(set->ignored[0].keyId, "e1");
  EXPECT_EQ(set->ignored[0].why, "use \"enc\"");
  EXPECT_EQ(set->ignored[1].why, "key_ops without \"verify\"");
  // Given on its own, such a key is refused rather than used.
  EXPECT_FALSE(JwtKey::fromJwk(enc));
}

TEST(JwtJwks, SetWithoutASignatureKeyIsRefused) {
  json::object enc = object(kRfc7515P256);
  enc["use"] = "enc";
  auto set = parseJwks(jwks({json::serialize(enc)}), "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message, "jwks.json: none of its 1 keys is for signatures");
}

TEST(JwtJwks, EcPointOffTheCurveIsRefused) {
  // The RFC key with the last bit of y flipped.
  auto key = JwtKey::fromJwk(p256With("y", R"("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4")"));
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().message, "the point (x, y) is not on curve P-256");
}

TEST(JwtJwks, EcCoordinatesOfTheWrongLengthAreRefused) {
  // 31 bytes: RFC 7518 6.2.1.2 wants leading zeros kept.
  auto key =
      JwtKey::fromJwk(p256With("x", fmt::format("\"{}\"", encodeBase64Url(std::string(31, 'x')))));
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().message, "\"x\" and \"y\" of a P-256 key must be 32 bytes each");
}

TEST(JwtJwks, UnsupportedCurvesAreRefused) {
  auto p521 = JwtKey::fromJwk(p256With("crv", R"("P-521")"));
  ASSERT_FALSE(p521);
  EXPECT_EQ(p521.error().message, "EC curve \"P-521\" is not supported (P-256 or P-384)");
  json::object ed448 = object(kRfc8037Ed25519);
  ed448["crv"] = "Ed448";
  EXPECT_FALSE(JwtKey::fromJwk(ed448));
  ed448["crv"] = "X25519";
  EXPECT_FALSE(JwtKey::fromJwk(ed448));
}

TEST(JwtJwks, JwkAlgMustBeSupportedAndFitTheKey) {
  auto other = JwtKey::fromJwk(p256With("alg", R"("ES384")"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().message, "algorithm ES384 does not fit this EC P-256 key of 256 bits");
  auto unknown = JwtKey::fromJwk(p256With("alg", R"("ES512")"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "algorithm \"ES512\" is not one Moat verifies");
  auto hs512 = JwtKey::fromJwk(object(R"({"kty":"oct","alg":"HS512","k":")" +
                                      encodeBase64Url(std::string(32, 'k')) + "\"}"));
  ASSERT_FALSE(hs512);
  EXPECT_EQ(hs512.error().message, "algorithm HS512 does not fit this HMAC secret key of 256 bits");
}

TEST(JwtJwks, MembersOfTheWrongTypeAreRefused) {
  EXPECT_EQ(JwtKey::fromJwk(p256With("kid", "5")).error().message, "\"kid\" is not a string");
  EXPECT_EQ(JwtKey::fromJwk(p256With("x", "5")).error().message, "\"x\" is not a string");
  EXPECT_EQ(JwtKey::fromJwk(p256With("x", R"("f83O+3D2")")).error().message,
            "\"x\" is not base64url");
  EXPECT_EQ(JwtKey::fromJwk(p256With("use", "1")).error().message, "\"use\" is not a string");
  EXPECT_EQ(JwtKey::fromJwk(p256With("key_ops", R"("verify")")).error().message,
            "\"key_ops\" is not an array");
  EXPECT_EQ(JwtKey::fromJwk(p256With("kty", "null")).error().message, "\"kty\" is not a string");
  EXPECT_EQ(JwtKey::fromJwk(object(R"({"crv":"P-256"})")).error().message, "\"kty\" is missing");
  auto set = parseJwks(R"({"keys":[5]})", "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message, "jwks.json: key 1: not a JSON object");
}

TEST(JwtJwks, OctKeyShorterThan32BytesIsRefused) {
  auto key = JwtKey::fromJwk(
      object(R"({"kty":"oct","k":")" + encodeBase64Url(std::string(31, 'k')) + "\"}"));
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().message, "HMAC secret of 31 bytes is too short (at least 32)");
}

TEST(JwtJwks, MoreThanAHundredKeysAreRefused) {
  std::string text = R"({"keys":[)";
  for (int i = 0; i <= 100; ++i)
    text += std::string(i == 0 ? "" : ",") + std::string(kRfc8037Ed25519);
  auto set = parseJwks(text + "]}", "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message, "jwks.json: 101 keys, more than 100");
}

TEST(JwtJwks, RepeatedMemberInAKeyIsRefused) {
  auto set = parseJwks(R"({"keys":[{"kty":"oct","kty":"RSA"}]})", "jwks.json");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().message,
            "jwks.json: not a JWK Set: member \"kty\" appears twice in one object");
}

TEST(JwtPem, TextWithoutAPemBlockIsRefused) {
  auto key = JwtKey::fromPem("just text");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().message, "no PEM block (\"-----BEGIN PUBLIC KEY-----\" or a certificate)");
}

TEST(JwtPem, PrivateKeyBlockIsRefusedBeforeItIsParsed) {
  for (std::string_view label :
       {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"}) {
    const std::string pem = "-----BEGIN " + std::string(label) + "-----\nAAAA\n-----END " +
                            std::string(label) + "-----\n";
    auto key = JwtKey::fromPem(pem);
    ASSERT_FALSE(key) << label;
    EXPECT_NE(key.error().message.find("a private key must not be given to the broker"),
              std::string::npos);
  }
}

TEST(JwtPem, OtherPemBlocksAreRefused) {
  auto key = JwtKey::fromPem("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().message,
            "holds a \"X509 CRL\" PEM block, not a public key or a certificate");
  auto broken = JwtKey::fromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message, "the public key cannot be read");
}

TEST(JwtSecret, SecretThatIsAPemBlockIsRefused) {
  auto key = JwtKey::fromSecret(
      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC "
      "KEY-----\n");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("a public key is not a secret"), std::string::npos);
}

TEST(JwtBase64Url, DecodesTheUrlAlphabet) {
  EXPECT_EQ(decodeBase64Url("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(decodeBase64Url(""), std::string());
  EXPECT_EQ(encodeBase64Url("\xfb\xff"), "-_8");
  for (size_t n = 0; n < 70; ++n) {
    std::string bytes;
    for (size_t i = 0; i < n; ++i) bytes += static_cast<char>(i * 37 + n);
    EXPECT_EQ(decodeBase64Url(encodeBase64Url(bytes)), bytes);
  }
}

TEST(JwtBase64Url, RefusesPaddingOtherAlphabetsAndNonCanonicalEndings) {
  EXPECT_FALSE(decodeBase64Url("-_8="));   // padding
  EXPECT_FALSE(decodeBase64Url("+/8"));    // the standard alphabet's two characters
  EXPECT_FALSE(decodeBase64Url("-_9"));    // the unused low bits of '9' are not zero
  EXPECT_FALSE(decodeBase64Url("QQ "));    // whitespace
  EXPECT_FALSE(decodeBase64Url("QUJDR"));  // a lone trailing character
  EXPECT_FALSE(decodeBase64Url(std::string_view("QQ\0", 3)));
}

TEST(JwtJson, OnlyAnObjectWithoutRepeatedNamesWithinTheDepthLimitIsAccepted) {
  EXPECT_TRUE(parseJsonObject(R"( {"a":{"b":[1,{"c":2}]},"b":1} )", 8));
  // The same name in different objects is fine; twice in one object is not.
  EXPECT_TRUE(parseJsonObject(R"({"a":{"a":1}})", 8));
  EXPECT_EQ(parseJsonObject(R"({"a":{"b":1,"b":2}})", 8).error().message,
            "member \"b\" appears twice in one object");
  EXPECT_EQ(parseJsonObject("[]", 8).error().message, "not a JSON object");
  EXPECT_EQ(parseJsonObject(R"({"a":1} x)", 8).error().message, "not valid JSON");
  EXPECT_EQ(parseJsonObject(R"({"a":1}{})", 8).error().message, "not valid JSON");
  EXPECT_EQ(parseJsonObject("{\"a\":\"\xff\"}", 8).error().message, "not valid JSON");
  EXPECT_EQ(parseJsonObject(R"({"a":[[[[[[[[1]]]]]]]]})", 8).error().message,
            "JSON nested deeper than 8 levels");
  auto wiped = parseJsonObject(R"({"k":"a secret worth wiping"})", 8, /*wiping=*/true);
  ASSERT_TRUE(wiped);
  EXPECT_EQ(wiped->at("k").as_string(), "a secret worth wiping");
}

TEST(JwtJson, QuotedTextForMessagesIsEscapedAndShort) {
  EXPECT_EQ(quoteForMessage("k1"), "\"k1\"");
  EXPECT_EQ(quoteForMessage("a\"b\\c\n\x1b[31m\xc3\xa9"), R"("a\"b\\c\x0a\x1b[31m\xc3\xa9")");
  EXPECT_EQ(quoteForMessage(std::string(100, 'x')), "\"" + std::string(64, 'x') + "\"...");
}

}  // namespace
}  // namespace moat::security
