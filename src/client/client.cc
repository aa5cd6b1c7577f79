// The client's life: connecting (TCP, TLS, WebSocket, CONNECT/CONNACK and any authentication
// exchange), keep alive, disconnecting and closing. Requests are in client_requests.cc, the
// read and write loops in client_wire.cc.
#include "client/client.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>
#include <string_view>
#include <utility>

#include "client/client_io.h"
#include "mqtt/codec.h"

namespace moat::client {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using mqtt::Packet;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;

namespace {

using detail::ioError;
using detail::kUseAwaitable;
using detail::withReasonString;

constexpr auto kDisconnectSettleTime = std::chrono::seconds(2);
constexpr auto kDisconnectDrainTime = std::chrono::seconds(5);
constexpr auto kDisconnectCloseWait = std::chrono::seconds(2);

}  // namespace

std::string randomClientId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "moat-";
  uint64_t v = gen();
  for (int i = 0; i < 16; ++i, v >>= 4) id += kHex[v & 15];
  return id;
}

namespace {

// The words mosquitto users know for 3.1/3.1.1 CONNACK return codes; 5.0 uses the spec's names.
std::string refusalText(Version v, ReasonCode rc) {
  if (v != Version::V5) {
    switch (rc) {
      case ReasonCode::UnsupportedProtocolVersion:
        return "unacceptable protocol version";
      case ReasonCode::ClientIdentifierNotValid:
        return "identifier rejected";
      case ReasonCode::ServerUnavailable:
        return "broker unavailable";
      case ReasonCode::BadUserNameOrPassword:
        return "bad user name or password";
      case ReasonCode::NotAuthorized:
        return "not authorised";
      default:
        break;
    }
  }
  return std::string(mqtt::reasonName(rc));
}

}  // namespace

std::shared_ptr<Client> Client::create(asio::any_io_executor executor) {
  return std::shared_ptr<Client>(new Client(std::move(executor)));
}

Client::Client(asio::any_io_executor executor)
    : executor_(executor),
      socket_(executor),
      resolver_(executor),
      connectTimer_(executor),
      keepAliveTimer_(executor) {}

Client::~Client() {
  boost::system::error_code ec;
  socket_.close(ec);
}

Error Client::notOpenError() const {
  if (closeError_) return *closeError_;
  return Error{code(ReasonCode::UnspecifiedError), "not connected"};
}

// ---------------------------------------------------------------------------------------------
// Connecting

awaitable<Result<ConnectResult>> Client::connect(ConnectOptions options) {
  auto self = shared_from_this();
  if (state_ != State::Idle) {
    co_return fail(code(ReasonCode::UnspecifiedError), "connect() may be called only once");
  }
  if (options.authenticator && options.version != Version::V5) {
    co_return fail(code(ReasonCode::UnspecifiedError),
                   "enhanced authentication (an authentication method) needs MQTT 5.0");
  }
  // Made before any connection: a mechanism that cannot even start needs no server.
  std::optional<std::string> authData;
  if (options.authenticator) {
    auto data = options.authenticator->initialData();
    if (!data) {
      co_return fail(data.error().code, "authentication failed: " + data.error().message);
    }
    authData = std::move(*data);
  }
  if (options.clientId.empty()) {
    if (options.version == Version::V31) {
      options.clientId = randomClientId();
    } else if (!options.cleanStart) {
      co_return fail(code(ReasonCode::ClientIdentifierNotValid),
                     "a client id is needed to resume a session (clean start off)");
    }
  }
  options_ = std::move(options);
  clientId_ = options_.clientId;
  state_ = State::Connecting;

  connectTimer_.expires_after(options_.connectTimeout);
  connectTimer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto c = weak.lock();
    if (ec || !c || c->state_ != State::Connecting) return;
    bool inHandshake = c->tls_ && !c->tls_->handshakeDone();
    bool inUpgrade = c->ws_ && !c->ws_->handshakeDone();
    c->closeWith(
        Error{code(ReasonCode::UnspecifiedError), "timed out connecting to " + c->options_.host +
                                                      ":" + std::to_string(c->options_.port) +
                                                      (inHandshake ? " (in the TLS handshake)"
                                                       : inUpgrade ? " (in the WebSocket upgrade)"
                                                                   : "")});
  });

  auto [rec, endpoints] =
      co_await resolver_.async_resolve(options_.host, std::to_string(options_.port), kUseAwaitable);
  if (state_ != State::Connecting) co_return tl::unexpected(notOpenError());
  if (rec) {
    closeWith(ioError("cannot resolve " + options_.host, rec));
    co_return tl::unexpected(notOpenError());
  }
  auto [cec, endpoint] = co_await asio::async_connect(socket_, endpoints, kUseAwaitable);
  if (state_ != State::Connecting) co_return tl::unexpected(notOpenError());
  if (cec) {
    closeWith(
        ioError("cannot connect to " + options_.host + ":" + std::to_string(options_.port), cec));
    co_return tl::unexpected(notOpenError());
  }
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  std::string early;
  if (options_.tls && !co_await handshakeTls(early)) co_return tl::unexpected(notOpenError());
  if (options_.websocketPath && !co_await upgradeWebSocket(early)) {
    co_return tl::unexpected(notOpenError());
  }

  const mqtt::Properties& props = options_.properties;
  bool v5 = options_.version == Version::V5;
  incoming_.reset(v5 ? props.receiveMaximum.value_or(65535) : 65535,
                  v5 ? props.topicAliasMaximum.value_or(0) : 0);

  keepAlive_ = options_.keepAlive;
  PendingOp op{PacketType::Connack, {}, {}, {}};
  connackOp_ = &op;
  asio::co_spawn(executor_, readLoop(self, std::move(early)), asio::detached);

  mqtt::Connect connect;
  connect.version = options_.version;
  connect.cleanStart = options_.cleanStart;
  connect.keepAlive = options_.keepAlive;
  connect.clientId = options_.clientId;
  connect.will = options_.will;
  connect.username = options_.username;
  connect.password = options_.password;
  if (v5) connect.properties = options_.properties;
  if (options_.authenticator) {
    connect.properties.authenticationMethod = options_.authenticator->method();
    connect.properties.authenticationData = std::move(authData);
  }
  send(connect);

  co_await waitFor(op);
  connackOp_ = nullptr;
  connectTimer_.cancel();
  if (!op.outcome->has_value()) co_return tl::unexpected(op.outcome->error());

  auto& connack = std::get<mqtt::Connack>(**op.outcome);
  if (code(connack.reasonCode) >= 0x80) {
    Error refused{
        code(connack.reasonCode),
        withReasonString("Connection refused: " + refusalText(options_.version, connack.reasonCode),
                         connack.properties)};
    closeWith(refused);
    co_return tl::unexpected(refused);
  }
  // The reader moved to Connected when the CONNACK arrived; packets right behind it may have
  // closed the connection since.
  if (state_ != State::Connected) co_return tl::unexpected(notOpenError());

  ConnectResult result;
  result.sessionPresent = connack.sessionPresent;
  result.clientId = clientId_;
  result.keepAlive = keepAlive_;
  result.limits = limits_;
  result.connack = std::move(connack);
  if (tls_) result.tls = tls_->facts();
  co_return result;
}

// ---------------------------------------------------------------------------------------------
// Closing

awaitable<Result<void>> Client::disconnect(ReasonCode reason, mqtt::Properties properties) {
  auto self = shared_from_this();
  if (!isOpen()) co_return tl::unexpected(notOpenError());
  // Let the server finish the QoS 2 exchanges it started (its PUBRELs), so a message already
  // delivered here is not left half-acknowledged in the server's session.
  auto settleBy = Clock::now() + kDisconnectSettleTime;
  while (isOpen() && incoming_.openQos2() > 0 && Clock::now() < settleBy) {
    co_await pubrelReceived_.wait(settleBy);
  }
  if (!isOpen()) co_return tl::unexpected(notOpenError());
  state_ = State::Disconnecting;
  mqtt::Disconnect d;
  d.reasonCode = reason;
  if (options_.version == Version::V5) d.properties = std::move(properties);
  send(d);
  if ((tls_ || ws_) && sealOutput()) {
    // A WebSocket close frame and close_notify right behind the DISCONNECT: the server sees
    // the stream end cleanly.
    std::string closeFrame;
    if (ws_) ws_->close(1000, closeFrame);
    if (queueWsWire(closeFrame) && tls_) tls_->close(tlsOut_);
    startWriter();
  }
  auto drainBy = Clock::now() + kDisconnectDrainTime;
  while (state_ == State::Disconnecting && writesPending() && Clock::now() < drainBy) {
    co_await writeDrained_.wait(drainBy);
  }
  if (state_ == State::Disconnecting) {
    // Half-close and let the server close first, so unread bytes on our side cannot turn the
    // close into a reset that might lose the DISCONNECT before the server reads it.
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    auto closeBy = Clock::now() + kDisconnectCloseWait;
    while (state_ == State::Disconnecting && Clock::now() < closeBy) {
      co_await closed_.wait(closeBy);
    }
  }
  closeWith(Error{code(ReasonCode::Success), "disconnected"});
  if (closeError_ && closeError_->code != code(ReasonCode::Success)) {
    co_return tl::unexpected(*closeError_);
  }
  co_return Result<void>{};
}

void Client::close() {
  closeWith(Error{code(ReasonCode::UnspecifiedError), "connection closed by the client"});
}

// ---------------------------------------------------------------------------------------------
// Keep alive and closing

awaitable<void> Client::keepAliveLoop(std::shared_ptr<Client> self) {
  const auto interval = std::chrono::seconds(keepAlive_);
  while (state_ == State::Connected || state_ == State::Disconnecting) {
    auto now = Clock::now();
    if (pingOutstanding_ && now - pingSentAt_ >= interval) {
      closeWith(Error{code(ReasonCode::KeepAliveTimeout), "no PINGRESP from the server"});
      co_return;
    }
    auto due = lastSend_ + interval;
    if (!pingOutstanding_ && now >= due && state_ == State::Connected) {
      send(mqtt::Pingreq{});
      pingOutstanding_ = true;
      pingSentAt_ = now;
      due = now + interval;
    }
    if (pingOutstanding_) due = std::min(due, pingSentAt_ + interval);
    keepAliveTimer_.expires_at(due);
    co_await keepAliveTimer_.async_wait(kUseAwaitable);
  }
}

void Client::protocolViolation(const Error& error) {
  closeWith(Error{error.code, "protocol error from the server: " + error.message},
            static_cast<ReasonCode>(error.code));
}

void Client::closeWith(Error error, std::optional<ReasonCode> disconnectReason) {
  if (state_ == State::Closed) return;
  bool established = state_ == State::Connected || state_ == State::Disconnecting;
  state_ = State::Closed;
  closeError_ = std::move(error);
  connectTimer_.cancel();
  keepAliveTimer_.cancel();
  resolver_.cancel();
  if (disconnectReason && established && options_.version == Version::V5 && socket_.is_open()) {
    mqtt::Disconnect d;
    d.reasonCode = *disconnectReason;
    if (observer_) observer_(Direction::Sent, d);
    mqtt::encode(d, options_.version, outBuf_);
    closeAfterWrite_ = true;
    if (!writing_) startWriter();
  } else {
    closeSocket();
  }
  if (connackOp_) connackOp_->complete(tl::unexpected(*closeError_));
  for (auto& [id, op] : pending_) op->complete(tl::unexpected(*closeError_));
  messageArrived_.notifyAll();
  messageTaken_.notifyAll();
  quotaFreed_.notifyAll();
  idFreed_.notifyAll();
  writeDrained_.notifyAll();
  closed_.notifyAll();
  pubrelReceived_.notifyAll();
}

void Client::closeSocket() {
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace moat::client
