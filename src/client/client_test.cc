// Client against a scripted server (client_test_util.h): flow control, QoS 2, topic aliases,
// the server's DISCONNECT, refusals, local checks and keep alive.
#include "client/client.h"

#include <gtest/gtest.h>

#include "client/client_test_util.h"

namespace moat::client {
namespace {

using namespace client_testing;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;

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
