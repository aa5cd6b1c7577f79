// Client over WebSocket: the upgrade after TCP (and TLS), and the path of bytes through the
// engines. Frames are made in client.cc's writer (sealOutput) through the same WsEngine.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "client/client.h"
#include "client/client_io.h"

namespace moat::client {

namespace asio = boost::asio;
using asio::awaitable;
using mqtt::ReasonCode;

using detail::failure;
using detail::kReadChunk;
using detail::kUseAwaitable;

bool Client::queueWsWire(std::string_view wsWire) {
  if (wsWire.empty()) return true;
  if (!tls_) {
    tlsOut_.append(wsWire);
    return true;
  }
  if (auto r = tls_->send(wsWire, tlsOut_); !r) {
    closeWith(failure("TLS error: " + r.error().message));
    return false;
  }
  return true;
}

std::optional<Client::TransportEnd> Client::receiveTransport(std::string_view raw,
                                                             std::string& buf) {
  std::optional<TransportEnd> end;
  std::string plain;
  if (tls_) {
    auto r = tls_->receive(raw, ws_ ? plain : buf, tlsOut_);
    if (!r) end = TransportEnd{r.error(), false};
    if (!ws_) return end;
    raw = plain;
  }
  if (raw.empty()) return end;
  std::string wire;
  auto r = ws_->receive(raw, buf, wire);
  queueWsWire(wire);
  if (!r && !end) end = TransportEnd{r.error(), true};
  return end;
}

awaitable<bool> Client::upgradeWebSocket(std::string& early) {
  std::string host = options_.host.find(':') != std::string::npos
                         ? "[" + options_.host + "]:" + std::to_string(options_.port)
                         : options_.host + ":" + std::to_string(options_.port);
  ws_ = std::make_unique<net::WsEngine>(host, *options_.websocketPath);
  std::string request;
  ws_->start(request);
  if (!queueWsWire(request)) co_return false;
  // Bytes that came behind the TLS handshake belong to the WebSocket stream.
  std::string pending = std::move(early);
  early.clear();
  std::string in(kReadChunk, '\0');
  // The connect timer bounds the whole exchange, as for the TLS handshake.
  for (;;) {
    if (!tlsOut_.empty()) {
      std::string wire = std::move(tlsOut_);
      tlsOut_.clear();
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(wire), kUseAwaitable);
      if (state_ != State::Connecting) co_return false;
      if (ec) {
        closeWith(failure("WebSocket upgrade failed: cannot write: " + ec.message()));
        co_return false;
      }
    }
    if (!pending.empty()) {
      std::string wire;
      const bool wasOpen = ws_->handshakeDone();
      auto r = ws_->receive(pending, early, wire);
      pending.clear();
      if (!queueWsWire(wire)) co_return false;  // e.g. a pong for a ping right behind the 101
      if (!r) {
        closeWith(failure(
            (wasOpen || ws_->handshakeDone() ? "WebSocket error: " : "WebSocket upgrade failed: ") +
            r.error().message));
        co_return false;
      }
    }
    if (ws_->handshakeDone()) co_return true;
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in), kUseAwaitable);
    if (state_ != State::Connecting) co_return false;
    if (ec) {
      closeWith(failure(ec == asio::error::eof
                            ? "WebSocket upgrade failed: the server closed the connection (is " +
                                  options_.host + ":" + std::to_string(options_.port) +
                                  " a WebSocket listener?)"
                            : "WebSocket upgrade failed: " + ec.message()));
      co_return false;
    }
    if (!tls_) {
      pending.assign(in.data(), n);
      continue;
    }
    auto r = tls_->receive(std::string_view(in.data(), n), pending, tlsOut_);
    if (!r) {
      closeOnTlsError(r.error());
      co_return false;
    }
  }
}

void Client::closeOnWsError(const Error& error) {
  if (error.code == code(ReasonCode::Success)) {  // the server's close frame
    closeOnReadError(asio::error::eof);
  } else if (state_ == State::Disconnecting) {
    closeWith(Error{code(ReasonCode::Success), "disconnected"});
  } else {
    closeWith(failure("WebSocket error: " + error.message));
  }
}

}  // namespace moat::client
