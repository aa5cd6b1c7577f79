// Client enhanced authentication (5.0 AUTH) against a scripted server: each challenge
// answered, the server's proof checked, and the exchange's protocol errors.
#include <gtest/gtest.h>

#include "client/client.h"
#include "client/client_test_util.h"

namespace moat::client {
namespace {

using namespace client_testing;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;

// A mechanism that says "hello", answers each challenge with "answer:" and the challenge, and
// trusts a server whose last word is "proof". Remembers what it was given.
class ScriptedAuthenticator : public Authenticator {
 public:
  std::string method() const override { return "TEST-METHOD"; }
  Result<std::optional<std::string>> initialData() override {
    return std::optional<std::string>("hello");
  }
  Result<std::optional<std::string>> challenge(std::string_view data) override {
    challenges.emplace_back(data);
    if (data == "bad") return fail(0x80, "cannot answer that");
    return std::optional<std::string>("answer:" + std::string(data));
  }
  Result<void> finished(std::optional<std::string_view> data) override {
    finishedWith = data ? std::string(*data) : "(none)";
    if (data != "proof") return fail(0x80, "the server did not prove itself");
    return {};
  }
  std::vector<std::string> challenges;
  std::optional<std::string> finishedWith;
};

mqtt::Auth challengeOf(std::string data, std::string method = "TEST-METHOD",
                       ReasonCode reason = ReasonCode::ContinueAuthentication) {
  mqtt::Auth a;
  a.reasonCode = reason;
  a.properties.authenticationMethod = std::move(method);
  a.properties.authenticationData = std::move(data);
  return a;
}

mqtt::Connack connackWith(std::optional<std::string> data,
                          std::optional<std::string> method = "TEST-METHOD") {
  mqtt::Connack ack;
  ack.properties.authenticationMethod = std::move(method);
  ack.properties.authenticationData = std::move(data);
  return ack;
}

// Connects with a ScriptedAuthenticator to a server that reads the CONNECT and then runs
// `script`; returns what connect() returned.
Result<ConnectResult> connectWithAuthenticator(
    std::shared_ptr<ScriptedAuthenticator> auth,
    std::function<awaitable<void>(ScriptedServer&)> script) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  Result<ConnectResult> result = fail(0x80, "never ran");
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto o = optionsFor(server.port(), Version::V5);
        o.authenticator = auth;
        result = co_await c->connect(o);
        if (result) {
          EXPECT_TRUE(co_await c->disconnect());
        } else {
          EXPECT_FALSE(c->connected());
        }
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        auto connect = co_await server.expect<mqtt::Connect>();
        EXPECT_EQ(connect.properties.authenticationMethod, "TEST-METHOD");
        EXPECT_EQ(connect.properties.authenticationData, "hello");
        co_await script(server);
        server.close();
      });
  return result;
}

TEST(ClientAuth, AnswersEachChallengeAndChecksTheServersProof) {
  auto auth = std::make_shared<ScriptedAuthenticator>();
  auto r = connectWithAuthenticator(auth, [](ScriptedServer& server) -> awaitable<void> {
    for (std::string c : {"first", "second"}) {
      co_await server.send(challengeOf(c));
      auto answer = co_await server.expect<mqtt::Auth>();
      EXPECT_EQ(answer.reasonCode, ReasonCode::ContinueAuthentication);
      EXPECT_EQ(answer.properties.authenticationMethod, "TEST-METHOD");
      EXPECT_EQ(answer.properties.authenticationData, "answer:" + c);
    }
    co_await server.send(connackWith("proof"));
    co_await server.expect<mqtt::Disconnect>();
  });
  EXPECT_TRUE(r) << r.error().message;
  EXPECT_EQ(auth->challenges, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(auth->finishedWith, "proof");
}

TEST(ClientAuth, AServerThatCannotProveItselfIsNotTrusted) {
  auto auth = std::make_shared<ScriptedAuthenticator>();
  auto r = connectWithAuthenticator(auth, [](ScriptedServer& server) -> awaitable<void> {
    co_await server.send(connackWith("forged"));
    EXPECT_FALSE(co_await server.next());  // the client closes without another word
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "server authentication failed: the server did not prove itself");
  EXPECT_EQ(auth->finishedWith, "forged");

  // A success without any data proves nothing either.
  auto bare = std::make_shared<ScriptedAuthenticator>();
  r = connectWithAuthenticator(bare, [](ScriptedServer& server) -> awaitable<void> {
    co_await server.send(connackWith(std::nullopt));
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(bare->finishedWith, "(none)");
}

TEST(ClientAuth, ASuccessfulConnackWithoutTheMethodIsAProtocolError) {
  auto auth = std::make_shared<ScriptedAuthenticator>();
  auto r = connectWithAuthenticator(auth, [](ScriptedServer& server) -> awaitable<void> {
    co_await server.send(connackWith("proof", std::nullopt));
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::ProtocolError));
  EXPECT_NE(r.error().message.find("CONNACK without the authentication method TEST-METHOD"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(auth->finishedWith);
}

TEST(ClientAuth, AnAuthForAnotherMethodOrWithAnotherReasonIsAProtocolError) {
  const std::pair<mqtt::Auth, std::string> cases[] = {
      {challengeOf("x", "SCRAM-SHA-1"), "AUTH for another authentication method"},
      {challengeOf("x", "TEST-METHOD", ReasonCode::Success), "AUTH with reason Success"},
      {challengeOf("x", "TEST-METHOD", ReasonCode::ReAuthenticate), "AUTH with reason"},
  };
  for (const auto& [auth, why] : cases) {
    SCOPED_TRACE(why);
    auto authenticator = std::make_shared<ScriptedAuthenticator>();
    auto r =
        connectWithAuthenticator(authenticator, [&](ScriptedServer& server) -> awaitable<void> {
          co_await server.send(auth);
          EXPECT_FALSE(co_await server.next());
        });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::ProtocolError));
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    EXPECT_TRUE(authenticator->challenges.empty());
  }
}

TEST(ClientAuth, AChallengeTheAuthenticatorRefusesEndsTheAttempt) {
  auto auth = std::make_shared<ScriptedAuthenticator>();
  auto r = connectWithAuthenticator(auth, [](ScriptedServer& server) -> awaitable<void> {
    co_await server.send(challengeOf("bad"));
    EXPECT_FALSE(co_await server.next());
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "authentication failed: cannot answer that");
}

TEST(ClientAuth, ARefusedConnackDoesNotAskTheAuthenticator) {
  auto auth = std::make_shared<ScriptedAuthenticator>();
  auto r = connectWithAuthenticator(auth, [](ScriptedServer& server) -> awaitable<void> {
    mqtt::Connack refused;
    refused.reasonCode = ReasonCode::BadUserNameOrPassword;
    co_await server.send(refused);
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::BadUserNameOrPassword));
  EXPECT_EQ(r.error().message, "Connection refused: Bad User Name or Password");
  EXPECT_FALSE(auth->finishedWith);
}

TEST(ClientAuth, AnAuthAfterTheConnackIsAProtocolError) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto o = optionsFor(server.port(), Version::V5);
        o.authenticator = std::make_shared<ScriptedAuthenticator>();
        EXPECT_TRUE(co_await c->connect(o));
        mqtt::Publish p;
        p.topic = "t";
        EXPECT_TRUE(co_await c->publish(p));  // tells the server we are in
        auto m = co_await c->receive();       // fails when the client closes
        EXPECT_FALSE(m);
        EXPECT_EQ(c->closeReason() ? c->closeReason()->code : 0,
                  mqtt::code(ReasonCode::ProtocolError));
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        co_await server.send(connackWith("proof"));
        co_await server.expect<mqtt::Publish>();
        co_await server.send(challengeOf("again"));
        auto d = co_await server.expect<mqtt::Disconnect>();
        EXPECT_EQ(d.reasonCode, ReasonCode::ProtocolError);
        server.close();
      });
}

TEST(ClientAuth, NeedsMqtt5) {
  asio::io_context io;
  auto c = Client::create(io.get_executor());
  bool ran = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        auto o = optionsFor(1, Version::V311);
        o.authenticator = std::make_shared<ScriptedAuthenticator>();
        auto r = co_await c->connect(o);
        EXPECT_FALSE(r);
        if (!r) {
          EXPECT_EQ(r.error().message,
                    "enhanced authentication (an authentication method) needs MQTT 5.0");
        }
        ran = true;
      },
      asio::detached);
  io.run();
  EXPECT_TRUE(ran);
}
}  // namespace
}  // namespace moat::client
