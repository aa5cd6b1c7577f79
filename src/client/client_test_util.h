// Helpers of the Client tests (client_test.cc, client_auth_test.cc, client_tls_test.cc): a
// scripted server on a loopback port (port 0) that reads and writes packets with the codec, so
// each test states exactly what the server sends and expects, through TLS (net::TlsEngine) when
// given a context; certificates made at run time; a runner for the client and server
// coroutines. Tests only.
#pragma once

#include <gtest/gtest.h>
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
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "client/client.h"
#include "mqtt/codec.h"
#include "net/test_pki.h"
#include "net/tls_context.h"
#include "net/tls_engine.h"

namespace moat::client::client_testing {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using mqtt::Version;
inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The test CA (what a client trusts), the server certificate it issued for localhost and a
// self-signed certificate nobody issued: made once per run, in a directory removed at exit.
inline net::testing::TestPki& testPki() {
  static struct Made {
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("moat-client-test-" + std::to_string(::getpid()));
    net::testing::TestPki pki{dir};
    ~Made() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } made;
  return made.pki;
}
inline std::string trustedCaFile() { return testPki().ca().cert.string(); }
inline std::string strangerCaFile() {
  static const auto& stranger = testPki().selfSigned("stranger", "localhost");
  return stranger.cert.string();
}

inline std::shared_ptr<const net::TlsContext> serverTls() {
  static const auto& server = testPki().server("localhost", "localhost", {"localhost"});
  net::TlsSettings s;
  s.cert = server.cert.string();
  s.key = server.key.string();
  auto ctx = net::TlsContext::create(s, "test");
  EXPECT_TRUE(ctx) << ctx.error().message;
  return ctx ? *ctx : nullptr;
}

inline std::shared_ptr<const net::TlsContext> clientTls(net::TlsClientSettings s) {
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
inline void runBoth(asio::io_context& io, std::function<awaitable<void>()> client,
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

inline ConnectOptions optionsFor(uint16_t port, Version v) {
  ConnectOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.version = v;
  o.clientId = "test-client";
  return o;
}

}  // namespace moat::client::client_testing
