// MQTT control packets as plain value types (spec 3.1.1 chapter 3, 5.0 chapter 3). One struct
// per packet; PUBACK, PUBREC, PUBREL and PUBCOMP share `PubAck`. Fields that exist only in 5.0
// (properties, reason codes of acks) are ignored when encoding for 3.1/3.1.1 and left at their
// defaults when decoding those versions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "mqtt/properties.h"
#include "mqtt/reason_code.h"
#include "mqtt/version.h"

namespace moat::mqtt {

struct Will {
  std::string topic;
  std::string payload;  // binary
  uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // 5.0 will properties
  bool operator==(const Will&) const = default;
};

struct Connect {
  Version version = Version::V311;
  bool cleanStart = true;  // "clean session" in 3.1/3.1.1
  uint16_t keepAlive = 0;  // seconds
  std::string clientId;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary
  Properties properties;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool sessionPresent = false;
  // 5.0 reason code. For 3.1/3.1.1 it is mapped to a return code by the encoder
  // (connackReturnCode311) and back by the decoder (reasonFromConnack311).
  ReasonCode reasonCode = ReasonCode::Success;
  Properties properties;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  bool dup = false;
  uint8_t qos = 0;
  bool retain = false;
  std::string topic;      // may be empty in 5.0 when a Topic Alias property is present
  uint16_t packetId = 0;  // 0 for QoS 0
  Properties properties;
  std::string payload;  // binary
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL or PUBCOMP.
struct PubAck {
  PacketType type = PacketType::Puback;
  uint16_t packetId = 0;
  ReasonCode reasonCode = ReasonCode::Success;  // 5.0
  Properties properties;                        // 5.0
  bool operator==(const PubAck&) const = default;
};

struct SubscriptionOptions {
  uint8_t qos = 0;
  bool noLocal = false;            // 5.0
  bool retainAsPublished = false;  // 5.0
  uint8_t retainHandling = 0;      // 5.0: 0 send, 1 send if new subscription, 2 do not send
  bool operator==(const SubscriptionOptions&) const = default;
};

struct TopicSubscription {
  std::string filter;  // UTF-8 checked by the decoder; wildcard syntax checked by the broker
  SubscriptionOptions options;
  bool operator==(const TopicSubscription&) const = default;
};

struct Subscribe {
  uint16_t packetId = 0;
  Properties properties;
  std::vector<TopicSubscription> topics;  // at least one
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  uint16_t packetId = 0;
  Properties properties;
  // 5.0 reason codes. In 3.1.1 only 0x00, 0x01, 0x02 and 0x80 exist: the encoder writes any
  // code >= 0x80 as 0x80.
  std::vector<ReasonCode> reasonCodes;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  uint16_t packetId = 0;
  Properties properties;
  std::vector<std::string> topics;  // at least one
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  uint16_t packetId = 0;
  Properties properties;
  std::vector<ReasonCode> reasonCodes;  // 5.0 only; not encoded for 3.1.1
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  ReasonCode reasonCode = ReasonCode::Success;  // 5.0
  Properties properties;                        // 5.0
  bool operator==(const Disconnect&) const = default;
};

// 5.0 only.
struct Auth {
  ReasonCode reasonCode = ReasonCode::Success;
  Properties properties;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, PubAck, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType packetType(const Packet& p);

}  // namespace moat::mqtt
