// The client's SCRAM-SHA-256 authenticator against the broker's side of the exchange
// (security::ScramServer), as the Client drives it: CONNECT data, one challenge, the CONNACK's.
#include "apps/moat/scram_authenticator.h"

#include <gtest/gtest.h>

#include <string>

#include "security/password_hash.h"

namespace moat::app {
namespace {

using security::PasswordHash;
using security::ScramServer;
using security::SecretString;

ScramServer serverKnowing(const std::string& user, const std::string& password) {
  auto hash = PasswordHash::create(password, {.scheme = security::HashScheme::ScramSha256});
  EXPECT_TRUE(hash) << hash.error().message;
  return ScramServer(
      [user, hash = *hash](std::string_view name) -> std::optional<PasswordHash> {
        if (name == user) return hash;
        return std::nullopt;
      },
      "secret of the test broker");
}

TEST(ScramAuthenticator, CompletesAnExchangeWithTheBrokersSide) {
  ScramServer server = serverKnowing("pump-3", "hunter2");
  ScramAuthenticator auth("pump-3", SecretString("hunter2"));
  EXPECT_EQ(auth.method(), "SCRAM-SHA-256");
  auto first = auth.initialData();
  ASSERT_TRUE(first && *first);
  auto challenge = server.start(**first);
  ASSERT_TRUE(challenge) << challenge.error().message;
  auto answer = auth.challenge(*challenge);
  ASSERT_TRUE(answer && *answer);
  auto proof = server.finish(**answer);
  ASSERT_TRUE(proof) << proof.error().message;
  EXPECT_TRUE(auth.finished(*proof));
}

TEST(ScramAuthenticator, DoesNotTrustAServerThatSendsNoProof) {
  ScramServer server = serverKnowing("pump-3", "hunter2");
  ScramAuthenticator auth("pump-3", SecretString("hunter2"));
  auto challenge = server.start(**auth.initialData());
  ASSERT_TRUE(challenge);
  ASSERT_TRUE(auth.challenge(*challenge));
  auto r = auth.finished(std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no server-final-message"), std::string::npos);
}

TEST(ScramAuthenticator, AWrongPasswordFailsAtTheServer) {
  ScramServer server = serverKnowing("pump-3", "hunter2");
  ScramAuthenticator auth("pump-3", SecretString("hunter3"));
  auto challenge = server.start(**auth.initialData());
  ASSERT_TRUE(challenge);
  auto answer = auth.challenge(*challenge);
  ASSERT_TRUE(answer && *answer);
  auto r = server.finish(**answer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, security::ScramFailure::WrongProof);
}

TEST(ScramAuthenticator, MakeAuthenticatorKnowsScramOnly) {
  auto scram = makeAuthenticator("Scram-Sha-256", "u", SecretString("p"));
  ASSERT_TRUE(scram);
  EXPECT_EQ((*scram)->method(), "SCRAM-SHA-256");
  auto other = makeAuthenticator("SCRAM-SHA-256-PLUS", "u", SecretString("p"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().message,
            "unknown authentication method 'SCRAM-SHA-256-PLUS' (supported: SCRAM-SHA-256)");
}

}  // namespace
}  // namespace moat::app
