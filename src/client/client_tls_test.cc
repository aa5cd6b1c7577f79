// Client over TLS against a scripted TLS server: records larger than one TLS record,
// untrusted issuers, host names, handshake timeouts, plain servers and close_notify.
#include <gtest/gtest.h>

#include "client/client.h"
#include "client/client_test_util.h"

namespace moat::client {
namespace {

using namespace client_testing;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;

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
        auto r = co_await c->connect(tlsOptionsFor(server.port(), trusting(trustedCaFile())));
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
        auto r = co_await c->connect(tlsOptionsFor(server.port(), trusting(strangerCaFile())));
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
          auto o = tlsOptionsFor(server.port(), trusting(trustedCaFile(), insecure), "127.0.0.1");
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
        auto o = tlsOptionsFor(server.port(), trusting(trustedCaFile()));
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
        auto r = co_await c->connect(tlsOptionsFor(server.port(), trusting(trustedCaFile())));
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
        EXPECT_TRUE(co_await c->connect(tlsOptionsFor(server.port(), trusting(trustedCaFile()))));
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
