// Connection, writing: packets are appended to a pending batch; while one write is in flight
// further packets accumulate and leave together in the next gather write (large payloads are
// referenced, not copied); TLS and WebSocket framing happen here too.
#include <algorithm>
#include <boost/asio/write.hpp>

#include "base/log.h"
#include "broker/connection.h"
#include "mqtt/codec.h"

namespace moat::broker {

namespace asio = boost::asio;

using mqtt::ReasonCode;

namespace {

// A large payload is referenced by the write instead of copied into the batch.
constexpr size_t kCopyPayloadBelow = 1024;

// The byte strings of written chunks (packet headers, small packets), kept per worker for the
// next ones, bounded: the steady state allocates no header string per packet.
thread_local std::vector<std::string> spareChunks;
constexpr size_t kSpareChunks = 256;
constexpr size_t kSpareChunkBytes = 4096;

std::string takeChunkBytes() {
  if (spareChunks.empty()) return {};
  std::string bytes = std::move(spareChunks.back());
  spareChunks.pop_back();
  return bytes;
}

// Write states of connections between writes, kept per worker for the next writes, bounded;
// one that a burst made large is not kept.
constexpr size_t kSpareWrites = 64;
constexpr size_t kSpareWritesChunks = 64;

}  // namespace

std::vector<std::unique_ptr<Connection::Writes>>& Connection::spareWrites() {
  thread_local std::vector<std::unique_ptr<Writes>> spares;
  return spares;
}

Connection::Writes& Connection::writes() {
  if (!writes_) {
    auto& spares = spareWrites();
    if (spares.empty()) {
      writes_ = std::make_unique<Writes>();
    } else {
      writes_ = std::move(spares.back());
      spares.pop_back();
    }
  }
  return *writes_;
}

void Connection::giveBackWrites() {
  if (!writes_) return;
  auto& spares = spareWrites();
  Writes& w = *writes_;
  if (spares.size() < kSpareWrites && w.pending.capacity() <= kSpareWritesChunks &&
      w.writing.capacity() <= kSpareWritesChunks &&
      w.buffers.capacity() <= 2 * kSpareWritesChunks) {
    w.pending.clear();
    w.writing.clear();
    w.buffers.clear();
    spares.push_back(std::move(writes_));
  }
  writes_.reset();
}

std::string& Connection::bytesChunk() {
  auto& pending = writes().pending;
  if (pending.empty() || pending.back().payloadOf) pending.push_back(Chunk{takeChunkBytes(), {}});
  return pending.back().bytes;
}

void Connection::send(const mqtt::Packet& packet) {
  if (state_ == State::Closed) return;
  auto& bytes = bytesChunk();
  size_t before = bytes.size();
  mqtt::encode(packet, version_, bytes);
  pendingBytes_ += bytes.size() - before;
  flush();
}

bool Connection::sendPublish(const MessagePtr& msg, uint8_t qos, uint16_t packetId, bool dup,
                             bool retain, std::span<const uint32_t> subIds) {
  if (state_ == State::Closed) return true;
  const auto& publish = msg->publish;
  mqtt::PublishExtras extras;
  // A tenant's client sees its topics without the mount point (Session::mayReceive checked
  // that they begin with it).
  extras.topicSkip = mount_.size();
  if (!mount_.empty() && publish.properties.responseTopic) {
    // A response topic under the tenant's mount point is shown without it; one outside it (an
    // operator's) is not the tenant's to answer on: not shown.
    if (publish.properties.responseTopic->starts_with(mount_)) {
      extras.responseTopicSkip = mount_.size();
    } else {
      extras.omitResponseTopic = true;
    }
  }
  extras.qos = qos;
  extras.dup = dup;
  extras.retain = retain;
  extras.packetId = packetId;
  extras.subscriptionIds = subIds;
  bool newAlias = false;
  if (version_ == mqtt::Version::V5) {
    if (msg->expiresAt) extras.messageExpiry = msg->remainingExpiry(Clock::now());
    // Broker-to-client topic aliases: give a topic an alias while there are free ones, then
    // send only the alias [MQTT-3.3.2-12]. A new alias is recorded only once its PUBLISH is
    // actually written.
    if (clientTopicAliasMax_ > 0) {
      if (!aliases_) aliases_ = std::make_unique<TopicAliases>();
      const auto& outbound = aliases_->outbound;
      auto it = outbound.find(publish.topic);
      if (it != outbound.end()) {
        extras.topicAlias = it->second;
        extras.omitTopic = true;
      } else if (outbound.size() < clientTopicAliasMax_) {
        extras.topicAlias = static_cast<uint16_t>(outbound.size() + 1);
        newAlias = true;
      }
    }
  }
  auto& bytes = bytesChunk();
  size_t before = bytes.size();
  uint32_t total =
      mqtt::encodePublishHeader(publish, extras, publish.payload.size(), version_, bytes);
  if (clientMaxPacketSize_ != 0 && total > clientMaxPacketSize_) {
    bytes.resize(before);
    if (bytes.empty()) writes_->pending.pop_back();  // nothing queued by this call
    log::debug(
        "client \"{}\" {}: message on \"{}\" ({} bytes) exceeds the client's maximum "
        "packet size {}; not sent",
        clientId(), peer_, publish.topic, total, clientMaxPacketSize_);
    return false;
  }
  if (newAlias) aliases_->outbound.emplace(publish.topic, *extras.topicAlias);
  if (publish.payload.size() < kCopyPayloadBelow) {
    bytes.append(publish.payload);
  } else {
    writes_->pending.back().payloadOf = msg;
  }
  pendingBytes_ += total;
  flush();
  return true;
}

void Connection::sendAck(mqtt::PacketType type, uint16_t packetId, ReasonCode reasonCode) {
  if (state_ == State::Closed) return;
  auto& bytes = bytesChunk();
  size_t before = bytes.size();
  mqtt::encodeAck(type, packetId, reasonCode, version_, bytes);
  pendingBytes_ += bytes.size() - before;
  flush();
}

void Connection::recycleWritten() {
  auto& writing = writes_->writing;
  for (Chunk& chunk : writing) {
    if (spareChunks.size() >= kSpareChunks) break;
    const size_t capacity = chunk.bytes.capacity();
    if (capacity <= std::string().capacity() || capacity > kSpareChunkBytes)
      continue;  // SSO or big
    chunk.bytes.clear();
    spareChunks.push_back(std::move(chunk.bytes));
  }
  writing.clear();
}

void Connection::flush() {
  // Not gated on state_: a closing connection whose reader is gone still writes what it has
  // queued (a CONNACK refusal, a DISCONNECT) before its socket closes.
  if (writeInFlight_ || holdWrites_ || !socket_.is_open()) return;
  const bool closeNotify = tls_ && closeAfterWrite_ && !closeNotifySent_ && tls_->handshakeDone();
  const bool wsClose = ws_ && closeAfterWrite_ && ws_->handshakeDone() && !ws_->closeSent();
  if (!hasQueuedPackets() && rawPendingBytes() == 0 && !closeNotify && !wsClose) return;
  Writes& w = writes();
  auto& writing = w.writing;
  writing.swap(w.pending);
  writingBytes_ = pendingBytes_;
  pendingBytes_ = 0;
  auto& buffers = w.buffers;
  buffers.clear();
  if (tls_ || ws_) {
    // Transport bytes first (handshake, upgrade response, pongs), then the packets: on a
    // WebSocket as one binary frame, on TLS encrypted in order, then (when closing) the
    // WebSocket close frame and close_notify. Framing and encryption copy anyway, so the batch
    // becomes one contiguous write.
    std::string& wire = framing_->writingWire;
    wire.clear();
    wire.swap(framing_->rawPending);
    bool ok = true;
    auto emit = [&](std::string_view bytes) {
      if (bytes.empty()) return;
      if (tls_) {
        ok = ok && tls_->send(bytes, wire).has_value();
      } else {
        wire.append(bytes);
      }
    };
    // Nothing may follow a close frame already sent (after a protocol error): the packets
    // are dropped.
    if (ws_ && ws_->closeSent()) writing.clear();
    if (ws_ && !writing.empty()) {
      uint64_t total = 0;
      for (const auto& chunk : writing) {
        total += chunk.bytes.size() + (chunk.payloadOf ? chunk.payloadOf->payload().size() : 0);
      }
      std::string header;
      ws_->frameHeader(total, header);
      emit(header);
    }
    for (const auto& chunk : writing) {
      emit(chunk.bytes);
      if (chunk.payloadOf) emit(chunk.payloadOf->payload());
    }
    if (wsClose) {
      std::string frame;
      ws_->close(ws_->peerClosed() ? ws_->peerCloseCode() : 1000, frame);
      emit(frame);
    }
    if (!ok) {
      log::warn("client \"{}\" {}: TLS encryption failed; closing", clientId(), peer_);
      boost::system::error_code ignored;
      socket_.close(ignored);
      if (closing_) endCloseGrace();  // the close grace is over: release the connection
      return;
    }
    if (closeNotify) {
      tls_->close(wire);
      closeNotifySent_ = true;
    }
    writingBytes_ = std::max(writingBytes_, wire.size());
    buffers.emplace_back(asio::buffer(wire));
  } else {
    for (const auto& chunk : writing) {
      if (!chunk.bytes.empty()) buffers.emplace_back(asio::buffer(chunk.bytes));
      if (chunk.payloadOf) buffers.emplace_back(asio::buffer(chunk.payloadOf->payload()));
    }
  }
  writeInFlight_ = true;
  asio::async_write(socket_, buffers,
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      self->writeInFlight_ = false;
                      self->recycleWritten();
                      self->writingBytes_ = 0;
                      if (self->framing_) std::string().swap(self->framing_->writingWire);
                      self->wakeReadLoop();
                      boost::system::error_code ignored;
                      if (ec) {
                        self->socket_.close(ignored);
                        if (self->closing_) self->endCloseGrace();  // its grace is over
                        return;
                      }
                      // A close frame or close_notify may still be due after the packets.
                      bool more = self->hasQueuedPackets() || self->rawPendingBytes() > 0 ||
                                  (self->closeAfterWrite_ && self->transportCloseDue());
                      if (self->closeAfterWrite_ && !more) {
                        self->socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                        self->socket_.close(ignored);
                        // The close grace timer holds the connection (and its TLS state): it
                        // goes now, not when the grace would have run out.
                        self->endCloseGrace();
                        return;
                      }
                      if (!more) self->giveBackWrites();  // between writes: none held
                      self->flush();
                    });
}

bool Connection::transportCloseDue() const {
  return (tls_ && tls_->handshakeDone() && !closeNotifySent_) ||
         (ws_ && ws_->handshakeDone() && !ws_->closeSent());
}

}  // namespace moat::broker
