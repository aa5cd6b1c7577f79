// Client requests: PUBLISH, SUBSCRIBE, UNSUBSCRIBE and receiving, each awaiting its
// acknowledgement through a PendingOp. (Connecting and closing: client.cc; the wire:
// client_wire.cc.)
#include <utility>

#include "client/client.h"
#include "client/client_io.h"
#include "mqtt/codec.h"
#include "mqtt/topic.h"

namespace moat::client {

namespace asio = boost::asio;
using asio::awaitable;
using mqtt::Packet;
using mqtt::PacketType;
using mqtt::ReasonCode;
using mqtt::Version;

using detail::withReasonString;

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

}  // namespace moat::client
