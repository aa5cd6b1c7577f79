// Message: one application message as the broker routes it. Decoded once from the publisher's
// PUBLISH, then immutable and shared (std::shared_ptr<const Message>) by every subscriber's
// queue, inflight window and write buffer: the payload is never copied per subscriber.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mqtt/packet.h"

namespace moat::broker {

using Clock = std::chrono::steady_clock;

struct Message {
  // Topic, payload and the publisher's 5.0 properties minus Topic Alias and Subscription
  // Identifiers (those are per delivery). Its flags and packet id are not used: each delivery
  // has its own. Message Expiry Interval is kept; the remaining time comes from expiresAt.
  Message() = default;
  explicit Message(mqtt::Publish&& p) : publish(std::move(p)) {}

  mqtt::Publish publish;
  uint8_t qos = 0;
  bool retain = false;
  uint64_t originSession = 0;  // Session::uid() of the publisher, for no-local; 0 = broker
  std::optional<Clock::time_point> expiresAt;

  // Seconds left before expiry (rounded up), nullopt if it never expires, 0 if expired.
  std::optional<uint32_t> remainingExpiry(Clock::time_point now) const {
    if (!expiresAt) return std::nullopt;
    if (now >= *expiresAt) return 0;
    auto left = std::chrono::ceil<std::chrono::seconds>(*expiresAt - now).count();
    return static_cast<uint32_t>(left);
  }
  bool expired(Clock::time_point now) const { return expiresAt && now >= *expiresAt; }
  // The same, reading the clock only for a message that can expire.
  bool expiredNow() const { return expiresAt && Clock::now() >= *expiresAt; }
  // Approximate memory held, for queue byte limits.
  size_t footprint() const {
    return sizeof(Message) + publish.topic.size() + publish.payload.size();
  }
  const std::string& topic() const { return publish.topic; }
  const std::string& payload() const { return publish.payload; }
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace moat::broker
