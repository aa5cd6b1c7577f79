#include "client/client.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <random>
#include <string_view>
#include <utility>

#include "client/client_io.h"
#include "mqtt/codec.h"
#include "mqtt/topic.h"

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
using detail::kReadChunk;
using detail::kUseAwaitable;

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

std::string withReasonString(std::string text, const mqtt::Properties& props) {
  if (props.reasonString && !props.reasonString->empty()) text += " (" + *props.reasonString + ")";
  return text;
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
// Requests

awaitable<void> Client::waitFor(PendingOp& op) {
  while (!op.outcome) co_await op.wakeup.wait();
}

awaitable<std::optional<uint16_t>> Client::acquireId(PendingOp& op) {
  while (isOpen() && ids_.size() >= 65535) co_await idFreed_.wait();
  if (!isOpen()) co_return std::nullopt;
  uint16_t id = *ids_.allocate();
  pending_[id] = &op;
  co_return id;
}

void Client::releaseId(uint16_t id) {
  pending_.erase(id);
  ids_.release(id);
  idFreed_.notifyOne();
}

awaitable<Result<PublishResult>> Client::publish(mqtt::Publish message) {
  auto self = shared_from_this();
  if (!isOpen()) co_return tl::unexpected(notOpenError());
  if (message.qos > 2) co_return fail(code(ReasonCode::MalformedPacket), "QoS must be 0, 1 or 2");
  if (message.qos > limits_.maximumQos) {
    co_return fail(code(ReasonCode::QosNotSupported),
                   "the server accepts QoS " + std::to_string(limits_.maximumQos) + " at most");
  }
  if (message.retain && !limits_.retainAvailable) {
    co_return fail(code(ReasonCode::RetainNotSupported), "the server does not support retain");
  }
  bool aliasOnly = options_.version == Version::V5 && message.topic.empty() &&
                   message.properties.topicAlias.has_value();
  if (!aliasOnly) {
    if (auto r = mqtt::validateTopicName(message.topic); !r) {
      co_return fail(r.error().code, "invalid topic '" + message.topic + "': " + r.error().message);
    }
  }
  if (options_.version != Version::V5) message.properties = {};
  message.dup = false;
  message.packetId = 0;

  // Back-pressure: never let the write queue grow without bound.
  while (isOpen() && queuedBytes() > options_.writeHighWaterBytes) {
    co_await writeDrained_.wait();
  }
  if (!isOpen()) co_return tl::unexpected(notOpenError());

  if (limits_.maximumPacketSize != 0) {
    std::string probe;
    mqtt::encode(message, options_.version, probe);
    if (probe.size() + (message.qos > 0 ? 2 : 0) > limits_.maximumPacketSize) {
      co_return fail(code(ReasonCode::PacketTooLarge),
                     "message exceeds the server's Maximum Packet Size of " +
                         std::to_string(limits_.maximumPacketSize) + " bytes");
    }
  }

  if (message.qos == 0) {
    send(message);
    co_return PublishResult{};
  }

  // Flow control (spec 4.9): wait for a slot of the server's Receive Maximum, then an id.
  PendingOp op{PacketType::Puback, {}, {}, {}};
  std::optional<uint16_t> id;
  for (;;) {
    while (isOpen() && !inflight_.hasQuota()) co_await quotaFreed_.wait();
    id = co_await acquireId(op);
    if (!id) co_return tl::unexpected(notOpenError());
    if (inflight_.hasQuota()) break;
    releaseId(*id);  // the slot went to another publisher while we waited for an id
  }
  message.packetId = *id;
  op.awaited = message.qos == 1 ? PacketType::Puback : PacketType::Pubcomp;
  inflight_.add(*id, message.qos);
  send(message);
  co_await waitFor(op);
  releaseId(*id);
  inflight_.remove(*id);  // already gone unless the connection closed first
  quotaFreed_.notifyOne();
  if (!op.outcome->has_value()) co_return tl::unexpected(op.outcome->error());

  // The PUBACK, or for QoS 2 the PUBREC that carries the outcome (its PUBCOMP only closes the
  // exchange), or a PUBREC with an error code that ended it early.
  auto& last = std::get<mqtt::PubAck>(**op.outcome);
  const mqtt::PubAck& verdict =
      op.pubrec && last.type == PacketType::Pubcomp && code(last.reasonCode) < 0x80 ? *op.pubrec
                                                                                    : last;
  if (code(verdict.reasonCode) >= 0x80) {
    co_return fail(
        code(verdict.reasonCode),
        withReasonString("publish refused: " + std::string(mqtt::reasonName(verdict.reasonCode)),
                         verdict.properties));
  }
  co_return PublishResult{*id, verdict.reasonCode, verdict.properties};
}

awaitable<Result<mqtt::Suback>> Client::subscribe(std::vector<mqtt::TopicSubscription> topics,
                                                  mqtt::Properties properties) {
  auto self = shared_from_this();
  if (!isOpen()) co_return tl::unexpected(notOpenError());
  if (topics.empty()) co_return fail(code(ReasonCode::ProtocolError), "no topic to subscribe to");
  for (const auto& t : topics) {
    if (auto r = mqtt::validateTopicFilter(t.filter); !r) {
      co_return fail(r.error().code, "invalid topic filter '" + t.filter + "'");
    }
    if (t.options.qos > 2) co_return fail(code(ReasonCode::MalformedPacket), "QoS must be 0..2");
  }
  PendingOp op{PacketType::Suback, {}, {}, {}};
  auto id = co_await acquireId(op);
  if (!id) co_return tl::unexpected(notOpenError());
  mqtt::Subscribe sub;
  sub.packetId = *id;
  sub.topics = std::move(topics);
  if (options_.version == Version::V5) sub.properties = std::move(properties);
  size_t count = sub.topics.size();
  send(sub);
  co_await waitFor(op);
  releaseId(*id);
  if (!op.outcome->has_value()) co_return tl::unexpected(op.outcome->error());
  auto& suback = std::get<mqtt::Suback>(**op.outcome);
  if (suback.reasonCodes.size() != count) {
    Error e{code(ReasonCode::ProtocolError), "SUBACK does not answer every topic"};
    protocolViolation(e);
    co_return tl::unexpected(e);
  }
  co_return std::move(suback);
}

awaitable<Result<mqtt::Unsuback>> Client::unsubscribe(std::vector<std::string> filters,
                                                      mqtt::Properties properties) {
  auto self = shared_from_this();
  if (!isOpen()) co_return tl::unexpected(notOpenError());
  if (filters.empty()) co_return fail(code(ReasonCode::ProtocolError), "no topic to unsubscribe");
  PendingOp op{PacketType::Unsuback, {}, {}, {}};
  auto id = co_await acquireId(op);
  if (!id) co_return tl::unexpected(notOpenError());
  mqtt::Unsubscribe unsub;
  unsub.packetId = *id;
  unsub.topics = std::move(filters);
  if (options_.version == Version::V5) unsub.properties = std::move(properties);
  send(unsub);
  co_await waitFor(op);
  releaseId(*id);
  if (!op.outcome->has_value()) co_return tl::unexpected(op.outcome->error());
  co_return std::get<mqtt::Unsuback>(std::move(**op.outcome));
}

awaitable<Result<std::optional<mqtt::Publish>>> Client::receive(Clock::time_point deadline) {
  auto self = shared_from_this();
  for (;;) {
    if (!messages_.empty()) {
      mqtt::Publish m = std::move(messages_.front());
      messages_.pop_front();
      messageTaken_.notifyOne();
      co_return std::optional<mqtt::Publish>(std::move(m));
    }
    if (state_ == State::Closed || state_ == State::Idle) co_return tl::unexpected(notOpenError());
    if (Clock::now() >= deadline) co_return std::optional<mqtt::Publish>();
    co_await messageArrived_.wait(deadline);
  }
}

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
// Writing

void Client::send(const Packet& p) {
  if (state_ == State::Closed || state_ == State::Idle) return;
  // [MQTT-3.14.4-1] nothing may follow our DISCONNECT.
  if (state_ == State::Disconnecting && !std::holds_alternative<mqtt::Disconnect>(p)) return;
  if (observer_) observer_(Direction::Sent, p);
  mqtt::encode(p, options_.version, outBuf_);
  lastSend_ = Clock::now();
  startWriter();
}

void Client::startWriter() {
  if (writing_) return;
  writing_ = true;
  asio::co_spawn(executor_, writeLoop(shared_from_this()), asio::detached);
}

bool Client::sealOutput() {
  if (outBuf_.empty()) return true;
  if (ws_) {
    std::string framed;
    ws_->send(outBuf_, framed);
    outBuf_.clear();
    return queueWsWire(framed);
  }
  auto r = tls_->send(outBuf_, tlsOut_);
  outBuf_.clear();
  if (!r) {
    tlsOut_.clear();
    closeWith(Error{code(ReasonCode::UnspecifiedError), "TLS error: " + r.error().message});
    return false;
  }
  return true;
}

awaitable<void> Client::writeLoop(std::shared_ptr<Client> self) {
  while (socket_.is_open()) {
    writeBuf_.clear();
    if (tls_ || ws_) {
      // Records the engine produced while reading come first: they were made first.
      if (!sealOutput()) break;
      writeBuf_.swap(tlsOut_);
    } else {
      writeBuf_.swap(outBuf_);
    }
    if (writeBuf_.empty()) break;
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(writeBuf_), kUseAwaitable);
    if (ec) {
      outBuf_.clear();
      tlsOut_.clear();
      closeWith(ioError("write failed", ec));
      break;
    }
    writeDrained_.notifyAll();
  }
  writing_ = false;
  writeDrained_.notifyAll();
  if (closeAfterWrite_) closeSocket();
}

// ---------------------------------------------------------------------------------------------
// Reading

awaitable<void> Client::readLoop(std::shared_ptr<Client> self, std::string early) {
  std::string buf = std::move(early);
  size_t begin = 0;
  size_t end = buf.size();
  buf.resize(std::max(buf.size(), kReadChunk));
  // TLS/WebSocket: bytes as read, before decryption and unframing.
  std::string raw(tls_ || ws_ ? kReadChunk : 0, '\0');
  // An engine's failure, acted on once the packets that came before it are handled.
  std::optional<TransportEnd> tlsEnd;
  uint32_t maxPacket =
      options_.version == Version::V5 ? options_.properties.maximumPacketSize.value_or(0) : 0;
  for (;;) {
    // Decode every complete packet buffered.
    for (;;) {
      std::string_view data(buf.data() + begin, end - begin);
      auto header = mqtt::peekFixedHeader(data, maxPacket);
      if (!header) {
        protocolViolation(header.error());
        co_return;
      }
      if (!*header) break;
      const mqtt::FixedHeader& fh = **header;
      if (fh.totalLength() > data.size()) {
        if (fh.totalLength() > buf.size() - begin) {  // make room for the whole packet
          buf.erase(0, begin);
          end -= begin;
          begin = 0;
          buf.resize(std::max<size_t>(fh.totalLength(), buf.size()));
        }
        break;
      }
      auto packet = mqtt::decode(fh.first, data.substr(fh.headerLength, fh.remainingLength),
                                 options_.version);
      begin += fh.totalLength();
      if (!packet) {
        protocolViolation(packet.error());
        co_return;
      }
      co_await handle(std::move(*packet));
      if (state_ == State::Closed) co_return;
    }
    if (tlsEnd) {
      if (tlsEnd->webSocket) {
        closeOnWsError(tlsEnd->error);
      } else {
        closeOnTlsError(tlsEnd->error);
      }
      co_return;
    }
    if (begin == end) {
      begin = end = 0;
    } else if (begin > 0 && buf.size() - end < kReadChunk / 4) {
      buf.erase(0, begin);
      end -= begin;
      begin = 0;
      buf.resize(std::max(buf.size(), kReadChunk));
    }
    if (buf.size() - end < kReadChunk / 4) buf.resize(end + kReadChunk);

    if (!tls_ && !ws_) {
      auto [ec, n] = co_await socket_.async_read_some(
          asio::buffer(buf.data() + end, buf.size() - end), kUseAwaitable);
      if (state_ == State::Closed) co_return;
      if (ec) {
        closeOnReadError(ec);
        co_return;
      }
      end += n;
      continue;
    }
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(raw), kUseAwaitable);
    if (state_ == State::Closed) co_return;
    if (ec) {
      closeOnReadError(ec);
      co_return;
    }
    // Decrypted bytes are appended behind the undecoded ones; the buffer keeps its capacity.
    buf.resize(end);
    tlsEnd = receiveTransport(std::string_view(raw.data(), n), buf);
    end = buf.size();
    if (!tlsOut_.empty()) startWriter();  // e.g. an answer to a key update, a pong
  }
}

void Client::closeOnReadError(const boost::system::error_code& ec) {
  if (state_ == State::Disconnecting) {
    closeWith(Error{code(ReasonCode::Success), "disconnected"});
  } else if (ec == asio::error::eof) {
    closeWith(Error{code(ReasonCode::UnspecifiedError),
                    state_ == State::Connecting ? "connection closed by the server before CONNACK"
                                                : "connection closed by the server"});
  } else {
    closeWith(ioError("connection lost", ec));
  }
}

awaitable<void> Client::handle(Packet packet) {
  if (observer_) observer_(Direction::Received, packet);
  PacketType type = mqtt::packetType(packet);
  bool challenge = type == PacketType::Auth && options_.authenticator;
  if (state_ == State::Connecting && type != PacketType::Connack && !challenge) {
    protocolViolation(Error{code(ReasonCode::ProtocolError),
                            "expected CONNACK, got " + std::string(mqtt::packetTypeName(type))});
    co_return;
  }
  switch (type) {
    case PacketType::Connack:
      handleConnack(std::get<mqtt::Connack>(std::move(packet)));
      break;
    case PacketType::Publish:
      // Back-pressure: stop reading while the application has enough to read.
      while (!handler_ && messages_.size() >= options_.maxQueuedMessages &&
             state_ != State::Closed) {
        co_await messageTaken_.wait();
      }
      if (state_ == State::Closed) co_return;
      handlePublish(std::get<mqtt::Publish>(std::move(packet)));
      break;
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      handleAck(std::get<mqtt::PubAck>(std::move(packet)));
      break;
    case PacketType::Suback: {
      uint16_t id = std::get<mqtt::Suback>(packet).packetId;
      completeOp(id, type, std::move(packet));
      break;
    }
    case PacketType::Unsuback: {
      uint16_t id = std::get<mqtt::Unsuback>(packet).packetId;
      completeOp(id, type, std::move(packet));
      break;
    }
    case PacketType::Pingresp:
      pingOutstanding_ = false;
      break;
    case PacketType::Auth:
      handleAuth(std::get<mqtt::Auth>(std::move(packet)));
      break;
    case PacketType::Disconnect: {
      const auto& d = std::get<mqtt::Disconnect>(packet);
      closeWith(Error{code(d.reasonCode),
                      withReasonString("disconnected by the server: " +
                                           std::string(mqtt::reasonName(d.reasonCode)),
                                       d.properties)});
      break;
    }
    default:
      protocolViolation(
          Error{code(ReasonCode::ProtocolError),
                "unexpected " + std::string(mqtt::packetTypeName(type)) + " from the server"});
      break;
  }
}

void Client::handleConnack(mqtt::Connack&& connack) {
  if (state_ != State::Connecting || !connackOp_) {
    protocolViolation(Error{code(ReasonCode::ProtocolError), "second CONNACK"});
    return;
  }
  connectTimer_.cancel();
  if (code(connack.reasonCode) < 0x80 && !serverProvedItself(connack)) return;
  if (code(connack.reasonCode) < 0x80) {
    // Enter Connected here, in the reader, not when connect() resumes: the server may send
    // packets right behind its CONNACK, and they are read before connect() runs again.
    const mqtt::Properties& cp = connack.properties;
    if (options_.version == Version::V5) {
      limits_.receiveMaximum = cp.receiveMaximum.value_or(65535);
      limits_.maximumQos = cp.maximumQos.value_or(2);
      limits_.retainAvailable = cp.retainAvailable.value_or(1) != 0;
      limits_.maximumPacketSize = cp.maximumPacketSize.value_or(0);
      limits_.topicAliasMaximum = cp.topicAliasMaximum.value_or(0);
      limits_.wildcardSubscriptionAvailable = cp.wildcardSubscriptionAvailable.value_or(1) != 0;
      limits_.subscriptionIdentifierAvailable = cp.subscriptionIdentifierAvailable.value_or(1) != 0;
      limits_.sharedSubscriptionAvailable = cp.sharedSubscriptionAvailable.value_or(1) != 0;
      if (cp.assignedClientIdentifier) clientId_ = *cp.assignedClientIdentifier;
      if (cp.serverKeepAlive) keepAlive_ = *cp.serverKeepAlive;
    }
    inflight_.setQuota(limits_.receiveMaximum);
    state_ = State::Connected;
    if (keepAlive_ > 0) {
      asio::co_spawn(executor_, keepAliveLoop(shared_from_this()), asio::detached);
    }
  }
  connackOp_->complete(Packet(std::move(connack)));
}

void Client::handlePublish(mqtt::Publish&& publish) {
  auto decision = incoming_.onPublish(publish);
  if (!decision) {
    protocolViolation(decision.error());
    return;
  }
  if (decision->reply) send(*decision->reply);
  if (!decision->deliver) return;
  if (handler_) {
    handler_(std::move(publish));
  } else {
    messages_.push_back(std::move(publish));
    messageArrived_.notifyOne();
  }
}

void Client::handleAck(mqtt::PubAck&& ack) {
  if (ack.type == PacketType::Pubrel) {
    send(incoming_.onPubrel(ack));
    pubrelReceived_.notifyAll();
    return;
  }
  switch (inflight_.onAck(ack.type, ack.packetId, ack.reasonCode)) {
    case InflightWindow::AckOutcome::Completed:
      completeOp(ack.packetId, ack.type, Packet(std::move(ack)));
      break;
    case InflightWindow::AckOutcome::SendPubrel: {
      if (auto it = pending_.find(ack.packetId); it != pending_.end()) it->second->pubrec = ack;
      send(mqtt::PubAck{PacketType::Pubrel, ack.packetId, ReasonCode::Success, {}});
      break;
    }
    case InflightWindow::AckOutcome::Unexpected:
      // A PUBREC for an id we do not know still gets its PUBREL, so the server can finish.
      if (ack.type == PacketType::Pubrec) {
        send(mqtt::PubAck{
            PacketType::Pubrel, ack.packetId, ReasonCode::PacketIdentifierNotFound, {}});
      }
      break;
  }
}

void Client::completeOp(uint16_t id, PacketType type, Packet&& packet) {
  auto it = pending_.find(id);
  if (it == pending_.end() || (it->second->awaited != type && type != PacketType::Pubrec)) {
    return;  // a late or unsolicited ack: nothing waits for it
  }
  it->second->complete(std::move(packet));
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
