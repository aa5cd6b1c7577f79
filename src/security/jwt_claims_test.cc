// JwtVerifier: the claims (dates with leeway, issuer, audience, username, roles, tenant) and what
// a refusal may say. Time is a parameter of verify(), so no test reads the clock.
#include <gtest/gtest.h>

#include "security/jwt.h"
#include "security/jwt_test_util.h"

namespace moat::security {
namespace {

using namespace jwt_testing;

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

}  // namespace
}  // namespace moat::security
