// The 5.0 property codec: see properties_codec.h.
#include <fmt/format.h>

#include <array>
#include <string>

#include "mqtt/properties_codec.h"
#include "mqtt/reason_code.h"
#include "mqtt/topic.h"

namespace moat::mqtt {
namespace {

constexpr uint8_t kMalformed = code(ReasonCode::MalformedPacket);
constexpr uint8_t kProtocolError = code(ReasonCode::ProtocolError);

using Id = PropertyId;

constexpr uint64_t bits(std::initializer_list<Id> ids) {
  uint64_t mask = 0;
  for (Id id : ids) mask |= uint64_t{1} << static_cast<uint8_t>(id);
  return mask;
}

// Spec table 2-4 (section 2.2.2.2), one row per PropertyScope, in the enum's order.
constexpr std::array<uint64_t, 11> kAllowed = {
    // Connect
    bits({Id::SessionExpiryInterval, Id::AuthenticationMethod, Id::AuthenticationData,
          Id::RequestProblemInformation, Id::RequestResponseInformation, Id::ReceiveMaximum,
          Id::TopicAliasMaximum, Id::UserProperty, Id::MaximumPacketSize}),
    // Will
    bits({Id::PayloadFormatIndicator, Id::MessageExpiryInterval, Id::ContentType, Id::ResponseTopic,
          Id::CorrelationData, Id::WillDelayInterval, Id::UserProperty}),
    // Connack
    bits({Id::SessionExpiryInterval, Id::AssignedClientIdentifier, Id::ServerKeepAlive,
          Id::AuthenticationMethod, Id::AuthenticationData, Id::ResponseInformation,
          Id::ServerReference, Id::ReasonString, Id::ReceiveMaximum, Id::TopicAliasMaximum,
          Id::MaximumQos, Id::RetainAvailable, Id::UserProperty, Id::MaximumPacketSize,
          Id::WildcardSubscriptionAvailable, Id::SubscriptionIdentifierAvailable,
          Id::SharedSubscriptionAvailable}),
    // Publish
    bits({Id::PayloadFormatIndicator, Id::MessageExpiryInterval, Id::ContentType, Id::ResponseTopic,
          Id::CorrelationData, Id::SubscriptionIdentifier, Id::TopicAlias, Id::UserProperty}),
    // PubAck (PUBACK, PUBREC, PUBREL, PUBCOMP)
    bits({Id::ReasonString, Id::UserProperty}),
    // Subscribe
    bits({Id::SubscriptionIdentifier, Id::UserProperty}),
    // Suback
    bits({Id::ReasonString, Id::UserProperty}),
    // Unsubscribe
    bits({Id::UserProperty}),
    // Unsuback
    bits({Id::ReasonString, Id::UserProperty}),
    // Disconnect
    bits({Id::SessionExpiryInterval, Id::ServerReference, Id::ReasonString, Id::UserProperty}),
    // Auth
    bits({Id::AuthenticationMethod, Id::AuthenticationData, Id::ReasonString, Id::UserProperty}),
};

std::string_view scopeName(PropertyScope scope) {
  switch (scope) {
    case PropertyScope::Connect:
      return "CONNECT";
    case PropertyScope::Will:
      return "will properties";
    case PropertyScope::Connack:
      return "CONNACK";
    case PropertyScope::Publish:
      return "PUBLISH";
    case PropertyScope::PubAck:
      return "PUBACK/PUBREC/PUBREL/PUBCOMP";
    case PropertyScope::Subscribe:
      return "SUBSCRIBE";
    case PropertyScope::Suback:
      return "SUBACK";
    case PropertyScope::Unsubscribe:
      return "UNSUBSCRIBE";
    case PropertyScope::Unsuback:
      return "UNSUBACK";
    case PropertyScope::Disconnect:
      return "DISCONNECT";
    case PropertyScope::Auth:
      return "AUTH";
  }
  return "?";
}

std::string_view propertyName(uint8_t id) {
  switch (static_cast<Id>(id)) {
    case Id::PayloadFormatIndicator:
      return "Payload Format Indicator";
    case Id::MessageExpiryInterval:
      return "Message Expiry Interval";
    case Id::ContentType:
      return "Content Type";
    case Id::ResponseTopic:
      return "Response Topic";
    case Id::CorrelationData:
      return "Correlation Data";
    case Id::SubscriptionIdentifier:
      return "Subscription Identifier";
    case Id::SessionExpiryInterval:
      return "Session Expiry Interval";
    case Id::AssignedClientIdentifier:
      return "Assigned Client Identifier";
    case Id::ServerKeepAlive:
      return "Server Keep Alive";
    case Id::AuthenticationMethod:
      return "Authentication Method";
    case Id::AuthenticationData:
      return "Authentication Data";
    case Id::RequestProblemInformation:
      return "Request Problem Information";
    case Id::WillDelayInterval:
      return "Will Delay Interval";
    case Id::RequestResponseInformation:
      return "Request Response Information";
    case Id::ResponseInformation:
      return "Response Information";
    case Id::ServerReference:
      return "Server Reference";
    case Id::ReasonString:
      return "Reason String";
    case Id::ReceiveMaximum:
      return "Receive Maximum";
    case Id::TopicAliasMaximum:
      return "Topic Alias Maximum";
    case Id::TopicAlias:
      return "Topic Alias";
    case Id::MaximumQos:
      return "Maximum QoS";
    case Id::RetainAvailable:
      return "Retain Available";
    case Id::UserProperty:
      return "User Property";
    case Id::MaximumPacketSize:
      return "Maximum Packet Size";
    case Id::WildcardSubscriptionAvailable:
      return "Wildcard Subscription Available";
    case Id::SubscriptionIdentifierAvailable:
      return "Subscription Identifier Available";
    case Id::SharedSubscriptionAvailable:
      return "Shared Subscription Available";
  }
  return "unknown property";
}

tl::unexpected<Error> truncated(uint8_t id) {
  return fail(kMalformed, fmt::format("{} is truncated", propertyName(id)));
}

template <class T>
Result<void> store(std::optional<T> value, uint8_t id, std::optional<T>& field) {
  if (!value) return truncated(id);
  field = *value;
  return {};
}

// A byte that the spec allows to be 0 or 1 only; any other value is a Protocol Error (spec
// 3.1.2.11.6, 3.1.2.11.7, 3.2.2.3.4, 3.2.2.3.5, 3.2.2.3.11..13; 3.3.2.3.2 for the Payload
// Format Indicator).
Result<void> readFlag(wire::Reader& in, uint8_t id, std::optional<uint8_t>& field) {
  const auto v = in.u8();
  if (!v) return truncated(id);
  if (*v > 1) {
    return fail(kProtocolError,
                fmt::format("{} has the value {}; only 0 and 1 are allowed", propertyName(id), *v));
  }
  field = *v;
  return {};
}

// A two- or four-byte integer for which 0 is a Protocol Error (Receive Maximum 3.1.2.11.3 and
// 3.2.2.3.3, Maximum Packet Size 3.1.2.11.4 and 3.2.2.3.6).
template <class T>
Result<void> storeNonZero(std::optional<T> value, uint8_t id, std::optional<T>& field) {
  if (!value) return truncated(id);
  if (*value == 0) return fail(kProtocolError, fmt::format("{} is 0", propertyName(id)));
  field = *value;
  return {};
}

// [MQTT-1.5.4-1] [MQTT-1.5.4-2] every string property is a UTF-8 Encoded String.
Result<void> readString(wire::Reader& in, uint8_t id, std::string& out) {
  const auto v = in.lengthPrefixed();
  if (!v) return truncated(id);
  if (!isValidUtf8(*v)) {
    return fail(kMalformed, fmt::format("{} is not valid UTF-8", propertyName(id)));
  }
  out.assign(*v);
  return {};
}

Result<void> readString(wire::Reader& in, uint8_t id, std::optional<std::string>& field) {
  return readString(in, id, field.emplace());
}

Result<void> readBinary(wire::Reader& in, uint8_t id, std::optional<std::string>& field) {
  const auto v = in.lengthPrefixed();
  if (!v) return truncated(id);
  field.emplace(*v);
  return {};
}

Result<void> readValue(wire::Reader& in, uint8_t id, Properties& p) {
  switch (static_cast<Id>(id)) {
    case Id::PayloadFormatIndicator:
      return readFlag(in, id, p.payloadFormatIndicator);
    case Id::MessageExpiryInterval:
      return store(in.u32(), id, p.messageExpiryInterval);
    case Id::ContentType:
      return readString(in, id, p.contentType);
    case Id::ResponseTopic:
      return readString(in, id, p.responseTopic);
    case Id::CorrelationData:
      return readBinary(in, id, p.correlationData);
    case Id::SubscriptionIdentifier: {
      // A Variable Byte Integer, so at most 268,435,455 [MQTT-1.5.5-1].
      const auto v = in.varint();
      if (!v) {
        return fail(kMalformed, "Subscription Identifier is not a valid Variable Byte Integer");
      }
      // Spec 3.8.2.1.2: a value of 0 is a Protocol Error.
      if (*v == 0) return fail(kProtocolError, "Subscription Identifier is 0");
      p.subscriptionIdentifiers.push_back(*v);
      return {};
    }
    case Id::SessionExpiryInterval:
      return store(in.u32(), id, p.sessionExpiryInterval);
    case Id::AssignedClientIdentifier:
      return readString(in, id, p.assignedClientIdentifier);
    case Id::ServerKeepAlive:
      return store(in.u16(), id, p.serverKeepAlive);
    case Id::AuthenticationMethod:
      return readString(in, id, p.authenticationMethod);
    case Id::AuthenticationData:
      return readBinary(in, id, p.authenticationData);
    case Id::RequestProblemInformation:
      return readFlag(in, id, p.requestProblemInformation);
    case Id::WillDelayInterval:
      return store(in.u32(), id, p.willDelayInterval);
    case Id::RequestResponseInformation:
      return readFlag(in, id, p.requestResponseInformation);
    case Id::ResponseInformation:
      return readString(in, id, p.responseInformation);
    case Id::ServerReference:
      return readString(in, id, p.serverReference);
    case Id::ReasonString:
      return readString(in, id, p.reasonString);
    case Id::ReceiveMaximum:
      return storeNonZero(in.u16(), id, p.receiveMaximum);
    case Id::TopicAliasMaximum:
      return store(in.u16(), id, p.topicAliasMaximum);
    case Id::TopicAlias:
      // Any value is accepted here; 0 or one above the maximum is the broker's 0x94.
      return store(in.u16(), id, p.topicAlias);
    case Id::MaximumQos:
      return readFlag(in, id, p.maximumQos);
    case Id::RetainAvailable:
      return readFlag(in, id, p.retainAvailable);
    case Id::UserProperty: {
      // [MQTT-1.5.7-1] both strings of the pair are UTF-8 Encoded Strings.
      UserProperty& pair = p.userProperties.emplace_back();
      MOAT_TRY(readString(in, id, pair.first));
      return readString(in, id, pair.second);
    }
    case Id::MaximumPacketSize:
      return storeNonZero(in.u32(), id, p.maximumPacketSize);
    case Id::WildcardSubscriptionAvailable:
      return readFlag(in, id, p.wildcardSubscriptionAvailable);
    case Id::SubscriptionIdentifierAvailable:
      return readFlag(in, id, p.subscriptionIdentifierAvailable);
    case Id::SharedSubscriptionAvailable:
      return readFlag(in, id, p.sharedSubscriptionAvailable);
  }
  // propertyAllowed() let through only identifiers handled above.
  return fail(kMalformed, fmt::format("unknown property 0x{:02X}", id));
}

// User Properties may repeat anywhere (spec 3.1.2.11.8 and the like); Subscription Identifiers
// repeat in a PUBLISH from the server, one per matching subscription (spec 3.3.2.3.8).
bool mayRepeat(PropertyScope scope, uint8_t id) {
  return id == static_cast<uint8_t>(Id::UserProperty) ||
         (id == static_cast<uint8_t>(Id::SubscriptionIdentifier) &&
          scope == PropertyScope::Publish);
}

bool anyScopeAllows(uint8_t id) {
  uint64_t any = 0;
  for (uint64_t mask : kAllowed) any |= mask;
  return id < 64 && ((any >> id) & 1) != 0;
}

}  // namespace

bool propertyAllowed(PropertyScope scope, uint8_t id) {
  return id < 64 && ((kAllowed[static_cast<size_t>(scope)] >> id) & 1) != 0;
}

Result<void> readProperties(wire::Reader& r, PropertyScope scope, Properties& out) {
  // [MQTT-1.5.5-1] the property length is a minimally encoded Variable Byte Integer.
  const auto length = r.varint();
  if (!length)
    return fail(kMalformed, "property length is truncated or not a valid Variable Byte Integer");
  const auto section = r.bytes(*length);
  if (!section) return fail(kMalformed, "property length exceeds the rest of the packet");
  wire::Reader in(*section);
  uint64_t seen = 0;
  while (!in.empty()) {
    // The identifier is a Variable Byte Integer, but every defined one is below 0x80: a first
    // byte with the continuation bit can only start an unknown identifier.
    const uint8_t id = *in.u8();
    if (!propertyAllowed(scope, id)) {
      if (!anyScopeAllows(id)) {
        return fail(kMalformed, fmt::format("unknown property identifier 0x{:02X} in {}", id,
                                            scopeName(scope)));
      }
      return fail(kMalformed, fmt::format("property 0x{:02X} ({}) is not allowed in {}", id,
                                          propertyName(id), scopeName(scope)));
    }
    const uint64_t bit = uint64_t{1} << id;
    if ((seen & bit) != 0 && !mayRepeat(scope, id)) {
      // Spec 2.2.2.2: "It is a Protocol Error to include [a property] more than once".
      return fail(kProtocolError, fmt::format("{} appears more than once in {}", propertyName(id),
                                              scopeName(scope)));
    }
    seen |= bit;
    MOAT_TRY(readValue(in, id, out));
  }
  // Spec 3.1.2.11.10: Authentication Data without an Authentication Method is a Protocol Error.
  if (scope == PropertyScope::Connect && out.authenticationData && !out.authenticationMethod) {
    return fail(kProtocolError, "Authentication Data without an Authentication Method");
  }
  return {};
}

template <class Sink>
void writePropertyList(const Properties& p, PropertyScope scope, const PublishOverrides* overrides,
                       Sink& s) {
  const uint64_t allowed = kAllowed[static_cast<size_t>(scope)];
  auto ok = [&](Id id) { return ((allowed >> static_cast<uint8_t>(id)) & 1) != 0; };
  auto header = [&](Id id) { s.u8(static_cast<uint8_t>(id)); };
  auto u8 = [&](Id id, const std::optional<uint8_t>& v) {
    if (v && ok(id)) {
      header(id);
      s.u8(*v);
    }
  };
  auto u16 = [&](Id id, const std::optional<uint16_t>& v) {
    if (v && ok(id)) {
      header(id);
      s.u16(*v);
    }
  };
  auto u32 = [&](Id id, const std::optional<uint32_t>& v) {
    if (v && ok(id)) {
      header(id);
      s.u32(*v);
    }
  };
  auto str = [&](Id id, const std::optional<std::string>& v) {
    if (v && ok(id)) {
      header(id);
      s.lengthPrefixed(*v);
    }
  };

  const std::optional<uint32_t>& expiry =
      overrides && overrides->messageExpiry ? overrides->messageExpiry : p.messageExpiryInterval;
  const std::span<const uint32_t> subscriptionIds =
      overrides ? overrides->subscriptionIds : std::span<const uint32_t>(p.subscriptionIdentifiers);
  const std::optional<uint16_t>& alias =
      overrides && overrides->topicAlias ? overrides->topicAlias : p.topicAlias;

  u8(Id::PayloadFormatIndicator, p.payloadFormatIndicator);
  u32(Id::MessageExpiryInterval, expiry);
  str(Id::ContentType, p.contentType);
  if (p.responseTopic && ok(Id::ResponseTopic) && !(overrides && overrides->omitResponseTopic)) {
    header(Id::ResponseTopic);
    s.lengthPrefixed(
        std::string_view(*p.responseTopic)
            .substr(overrides ? std::min(overrides->responseTopicSkip, p.responseTopic->size())
                              : 0));
  }
  str(Id::CorrelationData, p.correlationData);
  if (ok(Id::SubscriptionIdentifier)) {
    for (uint32_t id : subscriptionIds) {
      header(Id::SubscriptionIdentifier);
      s.varint(id);
    }
  }
  // A PUBLISH (every delivery) allows only the properties written outside these blocks.
  const bool publish = scope == PropertyScope::Publish;
  if (!publish) {
    u32(Id::SessionExpiryInterval, p.sessionExpiryInterval);
    str(Id::AssignedClientIdentifier, p.assignedClientIdentifier);
    u16(Id::ServerKeepAlive, p.serverKeepAlive);
    str(Id::AuthenticationMethod, p.authenticationMethod);
    str(Id::AuthenticationData, p.authenticationData);
    u8(Id::RequestProblemInformation, p.requestProblemInformation);
    u32(Id::WillDelayInterval, p.willDelayInterval);
    u8(Id::RequestResponseInformation, p.requestResponseInformation);
    str(Id::ResponseInformation, p.responseInformation);
    str(Id::ServerReference, p.serverReference);
    str(Id::ReasonString, p.reasonString);
    u16(Id::ReceiveMaximum, p.receiveMaximum);
    u16(Id::TopicAliasMaximum, p.topicAliasMaximum);
  }
  u16(Id::TopicAlias, alias);
  if (!publish) {
    u8(Id::MaximumQos, p.maximumQos);
    u8(Id::RetainAvailable, p.retainAvailable);
  }
  if (ok(Id::UserProperty)) {
    for (const auto& [key, value] : p.userProperties) {
      header(Id::UserProperty);
      s.lengthPrefixed(key);
      s.lengthPrefixed(value);
    }
  }
  if (publish) return;
  u32(Id::MaximumPacketSize, p.maximumPacketSize);
  u8(Id::WildcardSubscriptionAvailable, p.wildcardSubscriptionAvailable);
  u8(Id::SubscriptionIdentifierAvailable, p.subscriptionIdentifierAvailable);
  u8(Id::SharedSubscriptionAvailable, p.sharedSubscriptionAvailable);
}

template void writePropertyList<wire::SizeSink>(const Properties&, PropertyScope,
                                                const PublishOverrides*, wire::SizeSink&);
template void writePropertyList<wire::StringSink>(const Properties&, PropertyScope,
                                                  const PublishOverrides*, wire::StringSink&);

size_t propertyListSize(const Properties& p, PropertyScope scope,
                        const PublishOverrides* overrides) {
  wire::SizeSink sink;
  writePropertyList(p, scope, overrides, sink);
  return sink.size();
}

}  // namespace moat::mqtt
