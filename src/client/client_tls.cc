// Client over TLS: the handshake after TCP connect and the handling of TLS errors. Records are
// encrypted and decrypted in client.cc's read and write loops through the same TlsEngine.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "client/client.h"
#include "client/client_io.h"

namespace moat::client {

namespace asio = boost::asio;
using asio::awaitable;
using mqtt::ReasonCode;

using detail::ioError;
using detail::kReadChunk;
using detail::kUseAwaitable;

awaitable<bool> Client::handshakeTls(std::string& early) {
  if (!options_.tls->context || !options_.tls->context->isClient()) {
    closeWith(Error{code(ReasonCode::UnspecifiedError),
                    "TLS options need a client context (net::TlsContext::createClient)"});
    co_return false;
  }
  const std::string& name =
      options_.tls->serverName.empty() ? options_.host : options_.tls->serverName;
  tls_ = std::make_unique<net::TlsEngine>(options_.tls->context, name);
  std::string wire;
  tls_->start(wire);
  std::string in(kReadChunk, '\0');
  // The connect timer bounds the whole exchange: when it fires, closeWith() closes the socket
  // and the operation below completes with an error (and state_ is no longer Connecting).
  for (;;) {
    if (!wire.empty()) {
      auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(wire), kUseAwaitable);
      if (state_ != State::Connecting) co_return false;
      if (ec) {
        closeWith(ioError("TLS handshake failed: cannot write", ec));
        co_return false;
      }
      wire.clear();
    }
    if (tls_->handshakeDone()) co_return true;
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(in), kUseAwaitable);
    if (state_ != State::Connecting) co_return false;
    if (ec) {
      bool closed = ec == asio::error::eof || ec == asio::error::connection_reset;
      closeWith(closed ? Error{code(ReasonCode::UnspecifiedError),
                               "TLS handshake failed: the server closed the connection (is " +
                                   options_.host + ":" + std::to_string(options_.port) +
                                   " a TLS port?)"}
                       : ioError("TLS handshake failed", ec));
      co_return false;
    }
    auto r = tls_->receive(std::string_view(in.data(), n), early, wire);
    if (!r) {
      // Tell the server why (the engine's alert), then give up.
      if (!wire.empty()) co_await asio::async_write(socket_, asio::buffer(wire), kUseAwaitable);
      if (state_ == State::Connecting) {
        closeWith(Error{code(ReasonCode::UnspecifiedError),
                        "TLS handshake failed: " + r.error().message});
      }
      co_return false;
    }
  }
}

void Client::closeOnTlsError(const Error& error) {
  if (error.code == code(ReasonCode::Success)) {  // close_notify: the stream ended cleanly
    closeOnReadError(asio::error::eof);
  } else if (state_ == State::Disconnecting) {
    closeWith(Error{code(ReasonCode::Success), "disconnected"});
  } else if (state_ == State::Connecting) {
    // TLS 1.3: the server judges our certificate after our last handshake flight, so its
    // refusal arrives here, as an alert, instead of during handshakeTls().
    closeWith(Error{code(ReasonCode::UnspecifiedError), "TLS handshake failed: " + error.message});
  } else {
    closeWith(Error{code(ReasonCode::UnspecifiedError), "TLS error: " + error.message});
  }
}

}  // namespace moat::client
