// Encoding packets. Each packet has one body writer, run twice: over a SizeSink for the remaining
// length, then over a StringSink into the reserved output. PUBLISH, the hot path, is written by
// encodePublishHeader with its size computed directly.
#include <cassert>
#include <type_traits>

#include "mqtt/codec.h"
#include "mqtt/properties_codec.h"
#include "mqtt/wire.h"

namespace moat::mqtt {
namespace {

bool isV5(Version v) { return v == Version::V5; }

template <class Sink>
void writeBody(const Connect& c, Version v, Sink& s) {
  // Spec 3.1.2.1, 3.1.2.2 (3.1: "MQIsdp" level 3).
  if (v == Version::V31) {
    s.lengthPrefixed("MQIsdp");
    s.u8(3);
  } else {
    s.lengthPrefixed("MQTT");
    s.u8(static_cast<uint8_t>(v));
  }
  uint8_t flags = 0;
  if (c.cleanStart) flags |= 0x02;
  if (c.will) {
    flags |= 0x04;
    flags |= static_cast<uint8_t>((c.will->qos & 0x03) << 3);
    if (c.will->retain) flags |= 0x20;
  }
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;
  s.u8(flags);
  s.u16(c.keepAlive);
  if (isV5(v)) writeProperties(c.properties, PropertyScope::Connect, s);
  s.lengthPrefixed(c.clientId);
  if (c.will) {
    if (isV5(v)) writeProperties(c.will->properties, PropertyScope::Will, s);
    s.lengthPrefixed(c.will->topic);
    s.lengthPrefixed(c.will->payload);
  }
  if (c.username) s.lengthPrefixed(*c.username);
  if (c.password) s.lengthPrefixed(*c.password);
}

template <class Sink>
void writeBody(const Connack& c, Version v, Sink& s) {
  // 3.1 has no session present flag: the byte is reserved there.
  s.u8(v != Version::V31 && c.sessionPresent ? 0x01 : 0x00);
  if (isV5(v)) {
    s.u8(code(c.reasonCode));
    writeProperties(c.properties, PropertyScope::Connack, s);
  } else {
    s.u8(connackReturnCode311(c.reasonCode));
  }
}

// The 5.0 tail shared by the acks, DISCONNECT and AUTH: the reason code and the properties, each
// left out when it carries nothing (spec 3.4.2.1, 3.14.2.1, 3.15.2.1).
template <class Sink>
void writeReasonAndProperties(ReasonCode rc, const Properties& p, PropertyScope scope, Sink& s) {
  const size_t propertiesSize = propertyListSize(p, scope);
  if (propertiesSize == 0) {
    if (rc != ReasonCode::Success) s.u8(code(rc));
    return;
  }
  s.u8(code(rc));
  s.varint(static_cast<uint32_t>(propertiesSize));
  writePropertyList(p, scope, nullptr, s);
}

template <class Sink>
void writeBody(const PubAck& a, Version v, Sink& s) {
  s.u16(a.packetId);
  if (isV5(v)) writeReasonAndProperties(a.reasonCode, a.properties, PropertyScope::PubAck, s);
}

template <class Sink>
void writeBody(const Subscribe& sub, Version v, Sink& s) {
  s.u16(sub.packetId);
  if (isV5(v)) writeProperties(sub.properties, PropertyScope::Subscribe, s);
  for (const TopicSubscription& t : sub.topics) {
    s.lengthPrefixed(t.filter);
    const SubscriptionOptions& o = t.options;
    uint8_t options = o.qos & 0x03;
    if (isV5(v)) {
      if (o.noLocal) options |= 0x04;
      if (o.retainAsPublished) options |= 0x08;
      options |= static_cast<uint8_t>((o.retainHandling & 0x03) << 4);
    }
    s.u8(options);
  }
}

template <class Sink>
void writeBody(const Suback& a, Version v, Sink& s) {
  s.u16(a.packetId);
  if (isV5(v)) writeProperties(a.properties, PropertyScope::Suback, s);
  for (ReasonCode rc : a.reasonCodes) {
    // 3.1.1 knows one failure code, 0x80 (spec 3.1.1, 3.9.3).
    const uint8_t c = code(rc);
    s.u8(!isV5(v) && c >= 0x80 ? 0x80 : c);
  }
}

template <class Sink>
void writeBody(const Unsubscribe& u, Version v, Sink& s) {
  s.u16(u.packetId);
  if (isV5(v)) writeProperties(u.properties, PropertyScope::Unsubscribe, s);
  for (const std::string& t : u.topics) s.lengthPrefixed(t);
}

template <class Sink>
void writeBody(const Unsuback& a, Version v, Sink& s) {
  s.u16(a.packetId);
  if (!isV5(v)) return;  // 3.1.1 UNSUBACK is the packet identifier alone
  writeProperties(a.properties, PropertyScope::Unsuback, s);
  for (ReasonCode rc : a.reasonCodes) s.u8(code(rc));
}

template <class Sink>
void writeBody(const Pingreq&, Version, Sink&) {}

template <class Sink>
void writeBody(const Pingresp&, Version, Sink&) {}

template <class Sink>
void writeBody(const Disconnect& d, Version v, Sink& s) {
  if (isV5(v)) writeReasonAndProperties(d.reasonCode, d.properties, PropertyScope::Disconnect, s);
}

template <class Sink>
void writeBody(const Auth& a, Version v, Sink& s) {
  writeReasonAndProperties(a.reasonCode, a.properties, PropertyScope::Auth, s);
}

// Spec table 2-2: the fixed header's first byte of each packet.
uint8_t firstByte(const Connect&) { return 0x10; }
uint8_t firstByte(const Connack&) { return 0x20; }
uint8_t ackFirstByte(PacketType t) {
  assert(t >= PacketType::Puback && t <= PacketType::Pubcomp);
  const uint8_t type = static_cast<uint8_t>(t) << 4;
  return t == PacketType::Pubrel ? (type | 0x02) : type;
}
uint8_t firstByte(const PubAck& a) { return ackFirstByte(a.type); }
uint8_t firstByte(const Subscribe&) { return 0x82; }
uint8_t firstByte(const Suback&) { return 0x90; }
uint8_t firstByte(const Unsubscribe&) { return 0xA2; }
uint8_t firstByte(const Unsuback&) { return 0xB0; }
uint8_t firstByte(const Pingreq&) { return 0xC0; }
uint8_t firstByte(const Pingresp&) { return 0xD0; }
uint8_t firstByte(const Disconnect&) { return 0xE0; }
uint8_t firstByte(const Auth&) { return 0xF0; }

template <class T>
void encodePacket(const T& packet, Version v, std::string& out) {
  wire::SizeSink size;
  writeBody(packet, v, size);
  assert(size.size() <= kMaxRemainingLength);
  const auto remaining = static_cast<uint32_t>(size.size());
  out.reserve(out.size() + 1 + varintSize(remaining) + remaining);
  out.push_back(static_cast<char>(firstByte(packet)));
  appendVarint(remaining, out);
  wire::StringSink sink(out);
  writeBody(packet, v, sink);
}

uint8_t publishFirstByte(const PublishExtras& extras) {
  uint8_t first = 0x30 | static_cast<uint8_t>((extras.qos & 0x03) << 1);
  if (extras.dup) first |= 0x08;
  if (extras.retain) first |= 0x01;
  return first;
}

// encodePublishHeader, reserving `reserveAfter` more bytes for what the caller appends next.
uint32_t writePublishHeader(const Publish& p, const PublishExtras& extras, size_t payloadSize,
                            Version version, size_t reserveAfter, std::string& out) {
  const std::string_view topic =
      extras.omitTopic ? std::string_view() : std::string_view(p.topic).substr(extras.topicSkip);
  const PublishOverrides overrides{extras.topicAlias, extras.subscriptionIds, extras.messageExpiry,
                                   extras.responseTopicSkip, extras.omitResponseTopic};
  const bool v5 = isV5(version);
  const size_t propertiesSize =
      v5 ? propertyListSize(p.properties, PropertyScope::Publish, &overrides) : 0;
  const size_t headerBody = 2 + topic.size() + (extras.qos > 0 ? 2 : 0) +
                            (v5 ? varintSize(static_cast<uint32_t>(propertiesSize)) : 0) +
                            propertiesSize;
  const size_t remaining = headerBody + payloadSize;
  // REQUIRES: the packet fits a Variable Byte Integer; the caller limits payloads on the way in.
  assert(remaining <= kMaxRemainingLength);
  const auto remaining32 = static_cast<uint32_t>(remaining);
  const uint32_t fixedHeader = 1 + varintSize(remaining32);

  out.reserve(out.size() + fixedHeader + headerBody + reserveAfter);
  out.push_back(static_cast<char>(publishFirstByte(extras)));
  appendVarint(remaining32, out);
  wire::StringSink s(out);
  s.lengthPrefixed(topic);
  // [MQTT-2.2.1-2] a packet identifier only when QoS > 0.
  if (extras.qos > 0) s.u16(extras.packetId);
  if (v5) {
    s.varint(static_cast<uint32_t>(propertiesSize));
    writePropertyList(p.properties, PropertyScope::Publish, &overrides, s);
  }
  return fixedHeader + remaining32;
}

}  // namespace

void encodeAck(PacketType type, uint16_t packetId, ReasonCode reasonCode, Version version,
               std::string& out) {
  // 5.0 leaves out a Success reason code when there are no properties [MQTT-3.4.2.1].
  const bool withCode = isV5(version) && reasonCode != ReasonCode::Success;
  out.push_back(static_cast<char>(ackFirstByte(type)));
  out.push_back(withCode ? 3 : 2);
  out.push_back(static_cast<char>(packetId >> 8));
  out.push_back(static_cast<char>(packetId & 0xFF));
  if (withCode) out.push_back(static_cast<char>(code(reasonCode)));
}

uint32_t encodePublishHeader(const Publish& p, const PublishExtras& extras, size_t payloadSize,
                             Version version, std::string& out) {
  return writePublishHeader(p, extras, payloadSize, version, 0, out);
}

void encode(const Packet& packet, Version version, std::string& out) {
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Publish>) {
          // The split encoding with the packet's own values is the whole encoding.
          PublishExtras extras;
          extras.qos = p.qos;
          extras.dup = p.dup;
          extras.retain = p.retain;
          extras.packetId = p.packetId;
          extras.topicAlias = p.properties.topicAlias;
          extras.subscriptionIds = p.properties.subscriptionIdentifiers;
          writePublishHeader(p, extras, p.payload.size(), version, p.payload.size(), out);
          out.append(p.payload);
        } else if constexpr (std::is_same_v<T, Auth>) {
          // AUTH does not exist before 5.0; there is nothing a 3.1.1 peer could read.
          assert(isV5(version));
          if (isV5(version)) encodePacket(p, version, out);
        } else {
          encodePacket(p, version, out);
        }
      },
      packet);
}

}  // namespace moat::mqtt
