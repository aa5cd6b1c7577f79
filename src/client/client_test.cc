// Client against a scripted server on a loopback port (port 0): the server side reads and writes
// packets with the codec, so each test states exactly what the server sends and expects. The
// server can speak TLS through net::TlsEngine, with certificates made at run time.
#include "client/client.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "mqtt/codec.h"
#include "net/tls_context.h"
#include "net/tls_engine.h"

namespace moat::client {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// A self-signed certificate and its key, written as PEM files into a directory removed at exit.
struct TestCertificate {
  std::string cert;
  std::string key;
};

TestCertificate makeCertificate(const std::string& name, const std::string& subjectAltNames) {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("moat-client-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    static struct Cleanup {
      std::filesystem::path path;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
      }
    } cleanup{d};
    return d;
  }();
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* subject = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, subject);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, subjectAltNames.c_str());
  X509_add_ext(x, san, -1);
  X509_EXTENSION_free(san);
  X509_sign(x, key, EVP_sha256());
  TestCertificate out{(dir / (name + ".crt")).string(), (dir / (name + ".key")).string()};
  FILE* f = std::fopen(out.cert.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(out.key.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

// The server's certificate (for localhost and 127.0.0.1) and one from nobody the client trusts.
const TestCertificate& serverCertificate() {
  static const TestCertificate c = makeCertificate("localhost", "DNS:localhost,IP:127.0.0.1");
  return c;
}
const TestCertificate& strangerCertificate() {
  static const TestCertificate c = makeCertificate("stranger", "DNS:localhost,IP:127.0.0.1");
  return c;
}

std::shared_ptr<const net::TlsContext> serverTls() {
  net::TlsSettings s;
  s.cert = serverCertificate().cert;
  s.key = serverCertificate().key;
  auto ctx = net::TlsContext::create(s, "test");
  EXPECT_TRUE(ctx) << ctx.error().message;
  return ctx ? *ctx : nullptr;
}

std::shared_ptr<const net::TlsContext> clientTls(net::TlsClientSettings s) {
  auto ctx = net::TlsContext::createClient(s);
  EXPECT_TRUE(ctx) << ctx.error().message;
  return ctx ? *ctx : nullptr;
}

// One accepted connection, read and written packet by packet; through TLS when given a context.
class ScriptedServer {
 public:
  explicit ScriptedServer(asio::io_context& io,
                          std::shared_ptr<const net::TlsContext> tls = nullptr)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        socket_(io),
        tlsContext_(std::move(tls)) {}

  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  awaitable<void> accept() {
    auto [ec] = co_await acceptor_.async_accept(socket_, kTuple);
    EXPECT_FALSE(ec) << ec.message();
    if (tlsContext_) tls_ = std::make_unique<net::TlsEngine>(tlsContext_);
  }

  // TLS: why the engine failed, or "close_notify" when the client ended the stream cleanly.
  const std::string& tlsEnd() const { return tlsEnd_; }

  // The next packet from the client; nullopt when it closed.
  awaitable<std::optional<mqtt::Packet>> next() {
    for (;;) {
      auto header = mqtt::peekFixedHeader(buf_, 0);
      if (!header) co_return std::nullopt;
      if (*header && (*header)->totalLength() <= buf_.size()) {
        const auto& fh = **header;
        auto p = mqtt::decode(
            fh.first, std::string_view(buf_).substr(fh.headerLength, fh.remainingLength), version_);
        buf_.erase(0, fh.totalLength());
        if (!p) co_return std::nullopt;
        if (auto* c = std::get_if<mqtt::Connect>(&*p)) version_ = c->version;
        co_return std::move(*p);
      }
      char chunk[4096];
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(chunk), kTuple);
      if (ec) co_return std::nullopt;
      if (!tls_) {
        buf_.append(chunk, n);
        continue;
      }
      std::string wire;
      auto r = tls_->receive(std::string_view(chunk, n), buf_, wire);
      if (!wire.empty()) co_await asio::async_write(socket_, asio::buffer(wire), kTuple);
      if (!r) {
        tlsEnd_ = r.error().code == 0 ? "close_notify" : r.error().message;
        if (!buf_.empty()) continue;  // what came before the end is still read
        co_return std::nullopt;
      }
    }
  }

  template <class T>
  awaitable<T> expect() {
    auto p = co_await next();
    EXPECT_TRUE(p && std::holds_alternative<T>(*p))
        << "got " << (p ? std::string(mqtt::packetTypeName(mqtt::packetType(*p))) : "close");
    if (p && std::holds_alternative<T>(*p)) co_return std::get<T>(std::move(*p));
    co_return T{};
  }

  awaitable<void> send(const mqtt::Packet& p) {
    std::string out;
    mqtt::encode(p, version_, out);
    co_await sendBytes(out);
  }

  // Writes `plain` as it is, encrypted with TLS; with `closeNotify`, a TLS close_notify follows
  // in the same write.
  awaitable<void> sendBytes(std::string_view plain, bool closeNotify = false) {
    if (!tls_) {
      co_await asio::async_write(socket_, asio::buffer(plain), kTuple);
      co_return;
    }
    std::string wire;
    EXPECT_TRUE(tls_->send(plain, wire));
    if (closeNotify) tls_->close(wire);
    co_await asio::async_write(socket_, asio::buffer(wire), kTuple);
  }

  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  tcp::acceptor acceptor_;
  tcp::socket socket_;
  std::shared_ptr<const net::TlsContext> tlsContext_;
  std::unique_ptr<net::TlsEngine> tls_;
  std::string tlsEnd_;
  std::string buf_;
  Version version_ = Version::V311;
};

// Runs client and server coroutines to completion, failing the test after 10 s.
void runBoth(asio::io_context& io, std::function<awaitable<void>()> client,
             std::function<awaitable<void>()> server) {
  asio::steady_timer watchdog(io, std::chrono::seconds(10));
  int done = 0;
  auto finish = [&](std::exception_ptr e) {
    if (e) ADD_FAILURE() << "coroutine threw";
    if (++done == 2) watchdog.cancel();
  };
  watchdog.async_wait([&](boost::system::error_code ec) {
    if (!ec) {
      ADD_FAILURE() << "test timed out";
      io.stop();
    }
  });
  asio::co_spawn(io, server(), finish);
  asio::co_spawn(io, client(), finish);
  io.run();
}

ConnectOptions optionsFor(uint16_t port, Version v) {
  ConnectOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.version = v;
  o.clientId = "test-client";
  return o;
}

TEST(Client, RespectsTheServersReceiveMaximum) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  int completed = 0;
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto r = co_await c->connect(optionsFor(server.port(), Version::V5));
        EXPECT_TRUE(r) << r.error().message;
        EXPECT_EQ(r->limits.receiveMaximum, 1);
        auto one = [&](int i) -> awaitable<void> {
          mqtt::Publish p;
          p.topic = "t";
          p.qos = 1;
          p.payload = std::to_string(i);
          auto res = co_await c->publish(std::move(p));
          EXPECT_TRUE(res) << res.error().message;
          ++completed;
        };
        for (int i = 0; i < 3; ++i) asio::co_spawn(io, one(i), asio::detached);
        while (completed < 3) {
          asio::steady_timer t(io, std::chrono::milliseconds(5));
          co_await t.async_wait(kTuple);
        }
        EXPECT_TRUE(co_await c->disconnect());
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        mqtt::Connack ack;
        ack.properties.receiveMaximum = 1;
        co_await server.send(ack);
        for (int i = 0; i < 3; ++i) {
          auto p = co_await server.expect<mqtt::Publish>();
          EXPECT_EQ(p.payload, std::to_string(i));
          // Give the client every chance to break the quota before acknowledging: a second
          // PUBLISH would already be buffered when the next expect() reads.
          asio::steady_timer t(io, std::chrono::milliseconds(20));
          co_await t.async_wait(kTuple);
          co_await server.send(mqtt::PubAck{PacketType::Puback, p.packetId, {}, {}});
        }
        co_await server.expect<mqtt::Disconnect>();
        server.close();
      });
  EXPECT_EQ(completed, 3);
}

TEST(Client, ReceivesQos2ExactlyOnceAndResolvesTopicAliases) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto o = optionsFor(server.port(), Version::V5);
        o.properties.topicAliasMaximum = 5;
        EXPECT_TRUE(co_await c->connect(o));
        for (const char* payload : {"first", "second"}) {
          auto m = co_await c->receive();
          EXPECT_TRUE(m && *m) << (m ? "timeout" : m.error().message);
          if (m && *m) {
            EXPECT_EQ((*m)->topic, "long/topic");
            EXPECT_EQ((*m)->payload, payload);
          }
        }
        EXPECT_TRUE(co_await c->disconnect());
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        auto connect = co_await server.expect<mqtt::Connect>();
        EXPECT_EQ(connect.properties.topicAliasMaximum, 5);
        co_await server.send(mqtt::Connack{});
        mqtt::Publish p;
        p.topic = "long/topic";
        p.qos = 2;
        p.packetId = 7;
        p.payload = "first";
        p.properties.topicAlias = 3;
        co_await server.send(p);
        EXPECT_EQ((co_await server.expect<mqtt::PubAck>()).type, PacketType::Pubrec);
        p.dup = true;  // a retransmission before PUBREL: must not be delivered twice
        co_await server.send(p);
        EXPECT_EQ((co_await server.expect<mqtt::PubAck>()).type, PacketType::Pubrec);
        co_await server.send(mqtt::PubAck{PacketType::Pubrel, 7, {}, {}});
        auto comp = co_await server.expect<mqtt::PubAck>();
        EXPECT_EQ(comp.type, PacketType::Pubcomp);
        EXPECT_EQ(comp.packetId, 7);
        mqtt::Publish aliased;
        aliased.properties.topicAlias = 3;
        aliased.payload = "second";
        co_await server.send(aliased);
        co_await server.expect<mqtt::Disconnect>();
        server.close();
      });
}

TEST(Client, ServerDisconnectFailsPendingRequestsWithItsReason) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        EXPECT_TRUE(co_await c->connect(optionsFor(server.port(), Version::V5)));
        mqtt::Publish p;
        p.topic = "t";
        p.qos = 2;
        auto r = co_await c->publish(p);
        EXPECT_FALSE(r);
        EXPECT_EQ(r ? 0 : r.error().code, mqtt::code(ReasonCode::ServerShuttingDown));
        EXPECT_FALSE(c->connected());
        auto m = co_await c->receive();
        EXPECT_FALSE(m);
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        co_await server.send(mqtt::Connack{});
        co_await server.expect<mqtt::Publish>();
        co_await server.send(mqtt::Disconnect{ReasonCode::ServerShuttingDown, {}});
      });
}

TEST(Client, RefusedConnectionIsAnErrorInTheWordsOfTheVersion) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto r = co_await c->connect(optionsFor(server.port(), Version::V311));
        EXPECT_FALSE(r);
        if (!r) {
          EXPECT_EQ(r.error().code, mqtt::code(ReasonCode::NotAuthorized));
          EXPECT_EQ(r.error().message, "Connection refused: not authorised");
        }
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        mqtt::Connack refused;
        refused.reasonCode = ReasonCode::NotAuthorized;
        co_await server.send(refused);
        server.close();
      });
}

TEST(Client, LocalChecksRefuseWhatTheServerSaidItCannotTake) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        EXPECT_TRUE(co_await c->connect(optionsFor(server.port(), Version::V5)));
        mqtt::Publish p;
        p.topic = "t";
        p.qos = 2;
        auto qos = co_await c->publish(p);
        EXPECT_EQ(qos ? 0 : qos.error().code, mqtt::code(ReasonCode::QosNotSupported));
        p.qos = 0;
        p.retain = true;
        auto retain = co_await c->publish(p);
        EXPECT_EQ(retain ? 0 : retain.error().code, mqtt::code(ReasonCode::RetainNotSupported));
        p.retain = false;
        p.payload.assign(200, 'x');
        auto big = co_await c->publish(p);
        EXPECT_EQ(big ? 0 : big.error().code, mqtt::code(ReasonCode::PacketTooLarge));
        p.topic = "a/+";
        EXPECT_FALSE(co_await c->publish(p));
        EXPECT_TRUE(co_await c->disconnect());
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        mqtt::Connack ack;
        ack.properties.maximumQos = 1;
        ack.properties.retainAvailable = 0;
        ack.properties.maximumPacketSize = 100;
        co_await server.send(ack);
        co_await server.expect<mqtt::Disconnect>();
        server.close();
      });
}

TEST(Client, SendsPingreqWhenIdleForTheKeepAlive) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto o = optionsFor(server.port(), Version::V311);
        o.keepAlive = 1;
        EXPECT_TRUE(co_await c->connect(o));
        auto r = co_await c->receive();  // ends when the server closes
        EXPECT_FALSE(r);
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        co_await server.send(mqtt::Connack{});
        auto start = std::chrono::steady_clock::now();
        co_await server.expect<mqtt::Pingreq>();
        EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
        co_await server.send(mqtt::Pingresp{});
        co_await server.expect<mqtt::Pingreq>();  // and again after the next idle second
        server.close();
      });
}

// ---------------------------------------------------------------------------------------------
// Enhanced authentication

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

// ---------------------------------------------------------------------------------------------
// TLS

net::TlsClientSettings trusting(const std::string& caFile, bool insecure = false) {
  net::TlsClientSettings s;
  s.caFile = caFile;
  s.insecure = insecure;
  return s;
}

ConnectOptions tlsOptionsFor(uint16_t port, net::TlsClientSettings settings,
                             std::string host = "localhost") {
  ConnectOptions o = optionsFor(port, Version::V5);
  o.host = std::move(host);
  o.tls = TlsOptions{clientTls(std::move(settings)), ""};
  return o;
}

TEST(ClientTls, CarriesPacketsLargerThanATlsRecordBothWaysAndEndsWithCloseNotify) {
  asio::io_context io;
  ScriptedServer server(io, serverTls());
  auto c = Client::create(io.get_executor());
  const std::string big(100'000, 'b');  // several 16 KiB records
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto r =
            co_await c->connect(tlsOptionsFor(server.port(), trusting(serverCertificate().cert)));
        EXPECT_TRUE(r) << r.error().message;
        if (!r) co_return;
        EXPECT_TRUE(r->tls);
        if (r->tls) {
          EXPECT_EQ(r->tls->version, "TLSv1.3");
          EXPECT_EQ(r->tls->alpn, "mqtt");
        }
        mqtt::Publish p;
        p.topic = "up";
        p.qos = 1;
        p.payload = big;
        auto pub = co_await c->publish(p);
        EXPECT_TRUE(pub) << pub.error().message;
        auto m = co_await c->receive();
        EXPECT_TRUE(m && *m);
        if (m && *m) {
          EXPECT_EQ((*m)->payload, big);
        }
        EXPECT_TRUE(co_await c->disconnect());
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        co_await server.send(mqtt::Connack{});
        auto p = co_await server.expect<mqtt::Publish>();
        EXPECT_EQ(p.payload, big);
        co_await server.send(mqtt::PubAck{PacketType::Puback, p.packetId, {}, {}});
        mqtt::Publish down;
        down.topic = "down";
        down.payload = big;
        co_await server.send(down);
        co_await server.expect<mqtt::Disconnect>();
        EXPECT_FALSE(co_await server.next());
        EXPECT_EQ(server.tlsEnd(), "close_notify");
        server.close();
      });
}

TEST(ClientTls, ServerFromAnUntrustedIssuerFailsTheHandshakeWithTheReason) {
  asio::io_context io;
  ScriptedServer server(io, serverTls());
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto r =
            co_await c->connect(tlsOptionsFor(server.port(), trusting(strangerCertificate().cert)));
        EXPECT_FALSE(r);
        if (!r) {
          EXPECT_EQ(
              r.error().message.rfind("TLS handshake failed: server certificate rejected: ", 0), 0u)
              << r.error().message;
        }
        EXPECT_FALSE(c->connected());
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        EXPECT_FALSE(co_await server.next());
        // The client said why before it closed.
        EXPECT_NE(server.tlsEnd().find("unknown CA"), std::string::npos) << server.tlsEnd();
      });
}

TEST(ClientTls, NameNotInTheCertificateFailsUnlessInsecure) {
  for (bool insecure : {false, true}) {
    asio::io_context io;
    ScriptedServer server(io, serverTls());
    auto c = Client::create(io.get_executor());
    runBoth(
        io,
        [&]() -> awaitable<void> {
          auto o = tlsOptionsFor(server.port(), trusting(serverCertificate().cert, insecure),
                                 "127.0.0.1");
          o.tls->serverName = "broker.example";  // connect to 127.0.0.1, expect another name
          auto r = co_await c->connect(o);
          EXPECT_EQ(bool(r), insecure) << (r ? "connected" : r.error().message);
          if (!r) {
            EXPECT_NE(r.error().message.find("hostname mismatch"), std::string::npos)
                << r.error().message;
            EXPECT_NE(r.error().message.find("broker.example"), std::string::npos);
          } else {
            EXPECT_TRUE(co_await c->disconnect());
          }
        },
        [&]() -> awaitable<void> {
          co_await server.accept();
          if (insecure) {
            co_await server.expect<mqtt::Connect>();
            co_await server.send(mqtt::Connack{});
            co_await server.expect<mqtt::Disconnect>();
          } else {
            EXPECT_FALSE(co_await server.next());
          }
          server.close();
        });
  }
}

TEST(ClientTls, ConnectTimeoutCoversAServerThatNeverAnswersTheHandshake) {
  asio::io_context io;
  ScriptedServer server(io);  // plain: takes the ClientHello and says nothing
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto o = tlsOptionsFor(server.port(), trusting(serverCertificate().cert));
        o.connectTimeout = std::chrono::milliseconds(300);
        auto start = std::chrono::steady_clock::now();
        auto r = co_await c->connect(o);
        EXPECT_FALSE(r);
        if (!r) {
          EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
          EXPECT_NE(r.error().message.find("TLS handshake"), std::string::npos);
        }
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
        server.close();
      },
      [&]() -> awaitable<void> { co_await server.accept(); });
}

TEST(ClientTls, PlainServerThatClosesIsNamedAsPossiblyNotTls) {
  asio::io_context io;
  ScriptedServer server(io);
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        auto r =
            co_await c->connect(tlsOptionsFor(server.port(), trusting(serverCertificate().cert)));
        EXPECT_FALSE(r);
        if (!r) {
          EXPECT_NE(r.error().message.find("TLS handshake failed: the server closed the "
                                           "connection"),
                    std::string::npos)
              << r.error().message;
        }
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        EXPECT_FALSE(co_await server.next());  // a ClientHello is no MQTT packet
        server.close();
      });
}

TEST(ClientTls, DisconnectArrivingWithCloseNotifyIsReportedAsTheServersReason) {
  asio::io_context io;
  ScriptedServer server(io, serverTls());
  auto c = Client::create(io.get_executor());
  runBoth(
      io,
      [&]() -> awaitable<void> {
        EXPECT_TRUE(
            co_await c->connect(tlsOptionsFor(server.port(), trusting(serverCertificate().cert))));
        std::vector<mqtt::TopicSubscription> topics{{"t", mqtt::SubscriptionOptions{}}};
        auto sub = co_await c->subscribe(std::move(topics));
        EXPECT_FALSE(sub);
        EXPECT_TRUE(c->closeReason());
        if (c->closeReason()) {
          EXPECT_EQ(c->closeReason()->code, mqtt::code(ReasonCode::ServerShuttingDown))
              << c->closeReason()->message;
        }
      },
      [&]() -> awaitable<void> {
        co_await server.accept();
        co_await server.expect<mqtt::Connect>();
        co_await server.send(mqtt::Connack{});
        co_await server.expect<mqtt::Subscribe>();
        // DISCONNECT and close_notify in one segment: the packet must not be lost behind the
        // end of the TLS stream.
        std::string bytes;
        mqtt::encode(mqtt::Disconnect{ReasonCode::ServerShuttingDown, {}}, Version::V5, bytes);
        co_await server.sendBytes(bytes, /*closeNotify=*/true);
        server.close();
      });
}

}  // namespace
}  // namespace moat::client
