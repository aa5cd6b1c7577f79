// MQTT 5.0 properties (spec 2.2.2): one value type holding every property, each optional.
// Properties are value types, freely copied; the broker shares a message's properties between
// subscribers through the message, never by copying them per delivery.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace moat::mqtt {

enum class PropertyId : uint8_t {
  PayloadFormatIndicator = 0x01,
  MessageExpiryInterval = 0x02,
  ContentType = 0x03,
  ResponseTopic = 0x08,
  CorrelationData = 0x09,
  SubscriptionIdentifier = 0x0B,
  SessionExpiryInterval = 0x11,
  AssignedClientIdentifier = 0x12,
  ServerKeepAlive = 0x13,
  AuthenticationMethod = 0x15,
  AuthenticationData = 0x16,
  RequestProblemInformation = 0x17,
  WillDelayInterval = 0x18,
  RequestResponseInformation = 0x19,
  ResponseInformation = 0x1A,
  ServerReference = 0x1C,
  ReasonString = 0x1F,
  ReceiveMaximum = 0x21,
  TopicAliasMaximum = 0x22,
  TopicAlias = 0x23,
  MaximumQos = 0x24,
  RetainAvailable = 0x25,
  UserProperty = 0x26,
  MaximumPacketSize = 0x27,
  WildcardSubscriptionAvailable = 0x28,
  SubscriptionIdentifierAvailable = 0x29,
  SharedSubscriptionAvailable = 0x2A,
};

using UserProperty = std::pair<std::string, std::string>;

struct Properties {
  std::optional<uint8_t> payloadFormatIndicator;
  std::optional<uint32_t> messageExpiryInterval;
  std::optional<std::string> contentType;
  std::optional<std::string> responseTopic;
  std::optional<std::string> correlationData;  // binary
  // Several are allowed in PUBLISH (server to client); at most one in SUBSCRIBE.
  std::vector<uint32_t> subscriptionIdentifiers;
  std::optional<uint32_t> sessionExpiryInterval;
  std::optional<std::string> assignedClientIdentifier;
  std::optional<uint16_t> serverKeepAlive;
  std::optional<std::string> authenticationMethod;
  std::optional<std::string> authenticationData;  // binary
  std::optional<uint8_t> requestProblemInformation;
  std::optional<uint32_t> willDelayInterval;
  std::optional<uint8_t> requestResponseInformation;
  std::optional<std::string> responseInformation;
  std::optional<std::string> serverReference;
  std::optional<std::string> reasonString;
  std::optional<uint16_t> receiveMaximum;
  std::optional<uint16_t> topicAliasMaximum;
  std::optional<uint16_t> topicAlias;
  std::optional<uint8_t> maximumQos;
  std::optional<uint8_t> retainAvailable;
  std::vector<UserProperty> userProperties;  // order preserved, duplicates allowed
  std::optional<uint32_t> maximumPacketSize;
  std::optional<uint8_t> wildcardSubscriptionAvailable;
  std::optional<uint8_t> subscriptionIdentifierAvailable;
  std::optional<uint8_t> sharedSubscriptionAvailable;

  bool operator==(const Properties&) const = default;
};

}  // namespace moat::mqtt
