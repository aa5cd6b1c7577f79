// JwtVerifier::load: secrets, public keys, certificates and JWKS files, and the settings'
// checks; then verify() from many threads at once.
#include <gtest/gtest.h>

#include "security/jwt.h"
#include "security/jwt_test_util.h"

namespace moat::security {
namespace {

using namespace jwt_testing;

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
