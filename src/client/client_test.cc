// Client against a scripted server on a loopback port (port 0): the server side reads and writes
// packets with the codec, so each test states exactly what the server sends and expects.
#include "client/client.h"

#include <gtest/gtest.h>

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
#include <functional>
#include <string>

#include "mqtt/codec.h"

namespace moat::client {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// One accepted connection, read and written packet by packet.
class ScriptedServer {
 public:
  explicit ScriptedServer(asio::io_context& io)
      : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), socket_(io) {}

  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  awaitable<void> accept() {
    auto [ec] = co_await acceptor_.async_accept(socket_, kTuple);
    EXPECT_FALSE(ec) << ec.message();
  }

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
      buf_.append(chunk, n);
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
    co_await asio::async_write(socket_, asio::buffer(out), kTuple);
  }

  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

 private:
  tcp::acceptor acceptor_;
  tcp::socket socket_;
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

}  // namespace
}  // namespace moat::client
