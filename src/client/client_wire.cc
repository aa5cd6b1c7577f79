// The client's wire: encoding into the output buffer and the write loop; the read loop, and
// each packet the server sends. (Connecting and closing: client.cc; requests:
// client_requests.cc.)
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "client/client.h"
#include "client/client_io.h"
#include "mqtt/codec.h"

namespace moat::client {

namespace asio = boost::asio;
using asio::awaitable;
using mqtt::Packet;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;

using detail::ioError;
using detail::kReadChunk;
using detail::kUseAwaitable;
using detail::withReasonString;

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

}  // namespace moat::client
