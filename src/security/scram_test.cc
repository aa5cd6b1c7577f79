// SCRAM-SHA-256: RFC 7677's example exchange byte for byte from both sides, a full exchange with
// a credential PasswordHash made, then every way an exchange must fail: wrong password, unknown
// user (which must look like a known one), each malformed message, tampering, a lying server.
#include "security/scram.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "security/base64.h"

namespace moat::security {
namespace {

// RFC 7677 section 3. The credential line was made with Python's hashlib from the example's
// password and salt (password_hash_test.cc, kPythonScram).
constexpr std::string_view kRfcCredential =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr std::string_view kSecret = "a broker secret of 32 bytes.....";

PasswordHash parsedHash(std::string_view encoded) {
  auto h = PasswordHash::parse(encoded);
  EXPECT_TRUE(h) << h.error().message;
  return std::move(*h);
}

// A lookup over a fixed set of users.
ScramServer::Lookup usersLookup(std::map<std::string, PasswordHash, std::less<>> users) {
  return [users = std::move(users)](std::string_view name) -> std::optional<PasswordHash> {
    auto it = users.find(name);
    if (it == users.end()) return std::nullopt;
    return it->second;
  };
}

ScramServer rfcServer() {
  return ScramServer::withNonceForTesting(usersLookup({{"user", parsedHash(kRfcCredential)}}),
                                          kSecret, std::string(kRfcServerNonce));
}

// The server-first-message of `server` for a client-first-message of `user` (any nonce).
std::string serverFirstFor(ScramServer& server, std::string_view user) {
  auto r = server.start(fmt::format("n,,n={},r=fyko+d2lbbFgONRv9qkxdawL", user));
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : std::string();
}

// Runs a whole exchange and returns what finish() did. The client side must not fail.
ScramResult<std::string> runExchange(ScramServer& server, ScramClient& client) {
  auto clientFirst = client.first();
  EXPECT_TRUE(clientFirst);
  auto serverFirst = server.start(clientFirst.value_or(""));
  EXPECT_TRUE(serverFirst);
  auto clientFinal = client.respond(serverFirst.value_or(""));
  EXPECT_TRUE(clientFinal);
  return server.finish(clientFinal.value_or(""));
}

std::string saltOf(std::string_view serverFirst) {
  size_t s = serverFirst.find(",s=");
  size_t i = serverFirst.find(",i=");
  return std::string(serverFirst.substr(s + 3, i - s - 3));
}

TEST(ScramClient, ReproducesTheExampleOfRfc7677) {
  auto client = ScramClient::withNonceForTesting("user", SecretString("pencil"),
                                                 std::string(kRfcClientNonce));
  auto first = client.first();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, kRfcClientFirst);
  auto final = client.respond(kRfcServerFirst);
  ASSERT_TRUE(final) << final.error().message;
  EXPECT_EQ(*final, kRfcClientFinal);
  auto verified = client.verifyServer(kRfcServerFinal);
  EXPECT_TRUE(verified) << verified.error().message;
}

TEST(ScramServer, ReproducesTheExampleOfRfc7677) {
  ScramServer server = rfcServer();
  auto first = server.start(kRfcClientFirst);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, kRfcServerFirst);
  EXPECT_EQ(server.username(), "user");
  EXPECT_FALSE(server.authenticated());
  auto final = server.finish(kRfcClientFinal);
  ASSERT_TRUE(final) << final.error().message;
  EXPECT_EQ(*final, kRfcServerFinal);
  EXPECT_TRUE(server.authenticated());
}

TEST(Scram, ClientAndServerAgreeOnACredentialPasswordHashMade) {
  // A name with both characters that need escaping, and a non-ASCII password.
  const std::string user = "plant=3,line,7";
  const std::string password = "pässwörd ✓";
  auto hash = PasswordHash::create(password, {.scheme = HashScheme::ScramSha256});
  ASSERT_TRUE(hash) << hash.error().message;
  ScramServer server(usersLookup({{user, *hash}}), kSecret);
  ScramClient client(user, SecretString(password));

  auto clientFirst = client.first();
  ASSERT_TRUE(clientFirst);
  EXPECT_TRUE(clientFirst->starts_with("n,,n=plant=3D3=2Cline=2C7,r=")) << *clientFirst;
  auto serverFirst = server.start(*clientFirst);
  ASSERT_TRUE(serverFirst) << serverFirst.error().message;
  EXPECT_EQ(server.username(), user);
  auto clientFinal = client.respond(*serverFirst);
  ASSERT_TRUE(clientFinal) << clientFinal.error().message;
  auto serverFinal = server.finish(*clientFinal);
  ASSERT_TRUE(serverFinal) << serverFinal.error().message;
  EXPECT_TRUE(server.authenticated());
  EXPECT_TRUE(client.verifyServer(*serverFinal));

  // Random nonces: 32 base64 characters from each side, the client's first.
  std::string clientNonce = clientFirst->substr(clientFirst->find(",r=") + 3);
  EXPECT_EQ(clientNonce.size(), 32u);
  EXPECT_TRUE(serverFirst->starts_with("r=" + clientNonce));
  EXPECT_EQ(serverFirst->find(",s="), 2 + 64u);
}

TEST(ScramServer, AWrongPasswordIsAWrongProof) {
  auto hash = PasswordHash::create("right", {.scheme = HashScheme::ScramSha256});
  ASSERT_TRUE(hash);
  ScramServer server(usersLookup({{"meter", *hash}}), kSecret);
  ScramClient client("meter", SecretString("wrong"));
  auto result = runExchange(server, client);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ScramFailure::WrongProof);
  EXPECT_EQ(result.error().message, "the client proof is wrong");
  EXPECT_FALSE(server.authenticated());
  EXPECT_EQ(scramFailureReasonCode(result.error().kind), 0x86);
}

TEST(ScramServer, AnUnknownUserGetsAServerFirstMessageLikeARealOne) {
  auto lookup = usersLookup({{"user", parsedHash(kRfcCredential)}});
  ScramServer real(lookup, kSecret);
  ScramServer ghost(lookup, kSecret);
  std::string realFirst = serverFirstFor(real, "user");
  std::string ghostFirst = serverFirstFor(ghost, "ghost");
  // The same shape: nonce, 16 bytes of salt, the usual count.
  EXPECT_EQ(ghostFirst.size(), realFirst.size());
  EXPECT_EQ(saltOf(ghostFirst).size(), saltOf(realFirst).size());
  EXPECT_EQ(decodeBase64(saltOf(ghostFirst), Base64Padding::Required)->size(), 16u);
  EXPECT_TRUE(ghostFirst.ends_with(",i=4096")) << ghostFirst;

  // Asked again, the same salt (as a real user's would be); another name, another salt;
  // another broker secret, another salt.
  ScramServer again(lookup, kSecret);
  EXPECT_EQ(saltOf(serverFirstFor(again, "ghost")), saltOf(ghostFirst));
  ScramServer other(lookup, kSecret);
  EXPECT_NE(saltOf(serverFirstFor(other, "phantom")), saltOf(ghostFirst));
  ScramServer elsewhere(lookup, "another secret");
  EXPECT_NE(saltOf(serverFirstFor(elsewhere, "ghost")), saltOf(ghostFirst));

  // The exchange runs to the end and fails there.
  ScramServer server(lookup, kSecret);
  ScramClient client("ghost", SecretString("pencil"));
  auto result = runExchange(server, client);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ScramFailure::UnknownUser);
  EXPECT_EQ(scramFailureName(result.error().kind), "unknown user");
  EXPECT_EQ(scramFailureReasonCode(result.error().kind), 0x86);
}

TEST(ScramServer, FakeIterationsFollowWhatTheBrokerSays) {
  ScramServer server(usersLookup({}), kSecret, 20000);
  EXPECT_TRUE(serverFirstFor(server, "ghost").ends_with(",i=20000"));
}

TEST(ScramServer, AUserWithoutAScramCredentialFailsLikeAnUnknownOne) {
  auto pbkdf2 =
      PasswordHash::create("pencil", {.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 1});
  ASSERT_TRUE(pbkdf2);
  ScramServer server(usersLookup({{"old", *pbkdf2}}), kSecret);
  ScramClient client("old", SecretString("pencil"));
  auto result = runExchange(server, client);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ScramFailure::NoScramCredential);
  EXPECT_EQ(scramFailureReasonCode(result.error().kind), 0x86);
}

TEST(ScramServer, AnAuthzidNamingTheUserItselfIsAccepted) {
  ScramServer server = rfcServer();
  ASSERT_TRUE(server.start("n,a=user,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  // c= must repeat that header, authzid included.
  std::string final = fmt::format(
      "c={},r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="
      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      encodeBase64("n,a=user,", Base64Padding::Required));
  auto result = server.finish(final);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ScramFailure::WrongProof);  // got past every format check
}

TEST(ScramServer, AcceptsYAndLowerCaseEscapes) {
  ScramServer server = ScramServer::withNonceForTesting(
      usersLookup({{"a,b", parsedHash(kRfcCredential)}}), kSecret, "srv");
  ASSERT_TRUE(server.start("y,,n=a=2cb,r=abc"));
  EXPECT_EQ(server.username(), "a,b");
  auto result = server.finish(
      "c=eSws,r=abcsrv,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");  // eSws = "y,,"
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, ScramFailure::WrongProof);
}

struct Malformed {
  std::string message;
  std::string why;
};

TEST(ScramServer, RefusesEachMalformedClientFirstMessage) {
  const Malformed cases[] = {
      {"", "not a client-first-message"},
      {"n,,n=user", "not a client-first-message"},
      {"p=tls-unique,,n=user,r=abc", "channel binding (p=) requested"},
      {"x,,n=user,r=abc", "the GS2 header does not start with n or y"},
      {"N,,n=user,r=abc", "the GS2 header does not start with n or y"},
      {"n,b=user,n=user,r=abc", "the GS2 header's second field is not a="},
      {"n,a=,n=user,r=abc", "the authzid is not a saslname"},
      {"n,a=admin,n=user,r=abc", "names another user"},
      {"n,,m=ext,n=user,r=abc", "mandatory extension"},
      {"n,,r=abc,n=user", "no user name (n=)"},
      {"n,,N=user,r=abc", "no user name (n=)"},
      {"n,,n=,r=abc", "the user name is empty or has an '='"},
      {"n,,n=us=er,r=abc", "the user name is empty or has an '='"},
      {"n,,n=us=2,r=abc", "the user name is empty or has an '='"},
      {"n,,n=user=,r=abc", "the user name is empty or has an '='"},
      {"n,,n=us=41er,r=abc", "the user name is empty or has an '='"},
      {std::string("n,,n=us\0er,r=abc", 16), "the user name is empty or has an '='"},
      {"n,,n=us\xff"
       "er,r=abc",
       "user name: "},
      {"n,,n=a+b,r=abc", "user name: "},
      {"n,,n=user\x01,r=abc", "user name: "},
      {"n,,n=user,s=abc", "no nonce (r=)"},
      {"n,,n=user,r=", "the client nonce is empty or not printable ASCII"},
      {"n,,n=user,r=a b", "the client nonce is empty or not printable ASCII"},
      {"n,,n=user,r=ab\x7f", "the client nonce is empty or not printable ASCII"},
      {"n,,n=user,r=abc,x=ext", "extensions after the nonce"},
      {"n,,n=user,r=abc,", "extensions after the nonce"},
      {"n,,n=user,r=" + std::string(1020, 'a'), "longer than 1024 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    ScramServer server = rfcServer();
    auto r = server.start(c.message);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ScramFailure::Malformed);
    EXPECT_NE(r.error().message.find(c.why), std::string::npos) << r.error().message;
    EXPECT_EQ(scramFailureReasonCode(r.error().kind), 0x82);
    // A failed exchange stays failed.
    EXPECT_FALSE(server.start(kRfcClientFirst));
    EXPECT_FALSE(server.finish(kRfcClientFinal));
  }
}

TEST(ScramServer, RefusesEachMalformedClientFinalMessage) {
  const std::string nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  const std::string proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const Malformed cases[] = {
      {"", "not a client-final-message"},
      {"c=biws,r=" + nonce, "not a client-final-message"},
      {"r=" + nonce + ",c=biws," + proof, "no channel binding (c=) first"},
      // Tampered channel binding: "y,," and "n,a=user," are not what the client sent.
      {"c=eSws,r=" + nonce + "," + proof, "does not repeat the GS2 header"},
      {"c=bixhPXVzZXIs,r=" + nonce + "," + proof, "does not repeat the GS2 header"},
      {"c=biw,r=" + nonce + "," + proof, "does not repeat the GS2 header"},
      {"c=cD10bHMtdW5pcXVlLCw=,r=" + nonce + "," + proof, "does not repeat the GS2 header"},
      {"c=biws,x=" + nonce + "," + proof, "no nonce (r=) after c="},
      // Tampered nonces: another server part, the client's part alone, one more character.
      {"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1," + proof,
       "the nonce (r=) is not the one of this exchange"},
      {"c=biws,r=rOprNGfwEbeRWgbNEkqO," + proof, "the nonce (r=) is not the one of this exchange"},
      {"c=biws,r=" + nonce + "x," + proof, "the nonce (r=) is not the one of this exchange"},
      {"c=biws,r=" + nonce + ",x=1," + proof, "extensions before the proof"},
      {"c=biws,r=" + nonce + ",m=1," + proof, "extensions before the proof"},
      {"c=biws,r=" + nonce + "," + proof + ",", "extensions before the proof"},
      {"c=biws,r=" + nonce + ",q=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "no proof (p=)"},
      {"c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
       "the proof (p=) is not 32 bytes"},
      {"c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And==",
       "the proof (p=) is not 32 bytes"},
      {"c=biws,r=" + nonce + ",p=", "the proof (p=) is not 32 bytes"},
      {"c=biws,r=" + nonce + "," + proof + std::string(4096, 'A'), "longer than 4096 bytes"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    ScramServer server = rfcServer();
    ASSERT_TRUE(server.start(kRfcClientFirst));
    auto r = server.finish(c.message);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ScramFailure::Malformed);
    EXPECT_NE(r.error().message.find(c.why), std::string::npos) << r.error().message;
    // Never the nonce or the proof in the message.
    EXPECT_EQ(r.error().message.find("rOprNG"), std::string::npos);
    EXPECT_EQ(r.error().message.find("dHzbZ"), std::string::npos);
    // No second try in the same exchange, not even with the right message.
    EXPECT_FALSE(server.finish(kRfcClientFinal));
  }
}

TEST(ScramServer, MessagesOutOfTurnAreMalformed) {
  ScramServer early = rfcServer();
  auto r = early.finish(kRfcClientFinal);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ScramFailure::Malformed);

  ScramServer twice = rfcServer();
  ASSERT_TRUE(twice.start(kRfcClientFirst));
  EXPECT_FALSE(twice.start(kRfcClientFirst));

  ScramServer done = rfcServer();
  ASSERT_TRUE(done.start(kRfcClientFirst));
  ASSERT_TRUE(done.finish(kRfcClientFinal));
  auto replay = done.finish(kRfcClientFinal);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().kind, ScramFailure::Malformed);
  EXPECT_TRUE(done.authenticated());
}

TEST(ScramServer, AReplayedClientFinalFailsAgainstAFreshNonce) {
  // The RFC's client-final-message sent to a server that chose a random nonce.
  ScramServer server(usersLookup({{"user", parsedHash(kRfcCredential)}}), kSecret);
  ASSERT_TRUE(server.start(kRfcClientFirst));
  auto r = server.finish(kRfcClientFinal);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ScramFailure::Malformed);
}

ScramClient rfcClient() {
  auto c = ScramClient::withNonceForTesting("user", SecretString("pencil"),
                                            std::string(kRfcClientNonce));
  EXPECT_TRUE(c.first());
  return c;
}

TEST(ScramClient, RefusesAServerWhoseSignatureIsWrong) {
  ScramClient client = rfcClient();
  ASSERT_TRUE(client.respond(kRfcServerFirst));
  auto r = client.verifyServer("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("signature is wrong"), std::string::npos) << r.error().message;
}

TEST(ScramClient, RefusesEachMalformedServerFinalMessage) {
  for (std::string_view final : {"", "v=", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4",
                                 "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,x=1",
                                 "x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="}) {
    SCOPED_TRACE(final);
    ScramClient client = rfcClient();
    ASSERT_TRUE(client.respond(kRfcServerFirst));
    EXPECT_FALSE(client.verifyServer(final));
  }
}

TEST(ScramClient, ReportsTheServersErrorInPrintableWords) {
  ScramClient client = rfcClient();
  ASSERT_TRUE(client.respond(kRfcServerFirst));
  auto r = client.verifyServer("e=invalid-proof\x01");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "SCRAM: the server refused: invalid-proof?");
}

TEST(ScramClient, RefusesIterationCountsADeviceShouldNotSpendOrThatAreTooWeak) {
  const std::string prefix = "r=rOprNGfwEbeRWgbNEkqOsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=";
  for (std::string_view count : {"4095", "1", "0", "10000001", "4294967295", "99999999999"}) {
    SCOPED_TRACE(count);
    ScramClient client = rfcClient();
    EXPECT_FALSE(client.respond(prefix + std::string(count)));
  }
  // A device may lower the ceiling.
  auto modest = ScramClient::withNonceForTesting("user", SecretString("pencil"),
                                                 std::string(kRfcClientNonce), 5000);
  ASSERT_TRUE(modest.first());
  auto r = modest.respond(prefix + "5001");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "SCRAM: the server asks for 5001 iterations (accepted: 4096..5000)");
}

TEST(ScramClient, RefusesEachMalformedServerFirstMessage) {
  const std::string ours = "rOprNGfwEbeRWgbNEkqO";
  for (const std::string& first : std::vector<std::string>{
           "",
           "m=ext,r=" + ours + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "r=" + ours + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==",
           "r=" + ours + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=1",
           "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" + ours + "srv,i=4096",
           // Nonces that do not extend ours: another, ours alone, ours after something.
           "r=fyko+d2lbbFgONRv9qkxdawLsrv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "r=" + ours + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "r=x" + ours + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "r=" + ours + "s v,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "r=" + ours + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096",
           "r=" + ours + "srv,s=,i=4096",
           "r=" + ours + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
           "r=" + ours + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096",
           "r=" + ours + "srv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
           "r=" + ours + "srv,s=" + std::string(4096, 'A') + ",i=4096",
       }) {
    SCOPED_TRACE(first.substr(0, 80));
    ScramClient client = rfcClient();
    EXPECT_FALSE(client.respond(first));
    // Nothing more after a failure.
    EXPECT_FALSE(client.verifyServer(kRfcServerFinal));
  }
}

TEST(ScramClient, CallsOutOfTurnFail) {
  ScramClient fresh("user", SecretString("pencil"));
  EXPECT_FALSE(fresh.respond(kRfcServerFirst));
  ScramClient early("user", SecretString("pencil"));
  ASSERT_TRUE(early.first());
  EXPECT_FALSE(early.verifyServer(kRfcServerFinal));
  ScramClient twice("user", SecretString("pencil"));
  ASSERT_TRUE(twice.first());
  EXPECT_FALSE(twice.first());
  ScramClient done = rfcClient();
  ASSERT_TRUE(done.respond(kRfcServerFirst));
  ASSERT_TRUE(done.verifyServer(kRfcServerFinal));
  EXPECT_FALSE(done.verifyServer(kRfcServerFinal));
}

TEST(ScramClient, RefusesUserNamesSaslCannotCarry) {
  EXPECT_FALSE(ScramClient("", SecretString("pw")).first());
  EXPECT_FALSE(ScramClient(std::string("a\0b", 3), SecretString("pw")).first());
}

TEST(ScramKeys, AreThoseOfRfc5802Section3) {
  auto keys = deriveScramKeys(
      "pencil", *decodeBase64("W22ZaJ0SNY7soEsUEjb6gQ==", Base64Padding::Required), 4096);
  ASSERT_TRUE(keys);
  auto text = [](const auto& key) {
    return encodeBase64(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
                        Base64Padding::Required);
  };
  EXPECT_EQ(text(keys->storedKey), "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=");
  EXPECT_EQ(text(keys->serverKey), "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
}

}  // namespace
}  // namespace moat::security
