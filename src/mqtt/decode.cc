// Decoding packet bodies. Each decoder reads one packet's fields in spec order and checks every
// byte-level rule as it goes; the first violation ends decoding with the reason code the spec
// names for it. Nothing is allocated beyond the packet's own strings and vectors.
#include <fmt/format.h>

#include "mqtt/codec.h"
#include "mqtt/properties_codec.h"
#include "mqtt/topic.h"
#include "mqtt/wire.h"

namespace moat::mqtt {
namespace {

constexpr uint8_t kMalformed = code(ReasonCode::MalformedPacket);
constexpr uint8_t kProtocolError = code(ReasonCode::ProtocolError);

using wire::Reader;

tl::unexpected<Error> truncated(const char* what) {
  return fail(kMalformed, fmt::format("{} is truncated", what));
}

// [MQTT-1.5.4-1] [MQTT-1.5.4-2] a UTF-8 Encoded String.
Result<std::string_view> readUtf8(Reader& r, const char* what) {
  const auto s = r.lengthPrefixed();
  if (!s) return truncated(what);
  if (!isValidUtf8(*s)) return fail(kMalformed, fmt::format("{} is not valid UTF-8", what));
  return *s;
}

// [MQTT-2.2.1-3] [MQTT-2.2.1-4] (3.1.1: [MQTT-2.3.1-1]) packet identifiers are non-zero.
Result<uint16_t> readPacketId(Reader& r) {
  const auto id = r.u16();
  if (!id) return truncated("packet identifier");
  if (*id == 0) return fail(kProtocolError, "packet identifier is 0");
  return *id;
}

Result<void> expectEnd(const Reader& r, PacketType type) {
  if (r.empty()) return {};
  return fail(kMalformed, fmt::format("{} has {} byte(s) after its last field",
                                      packetTypeName(type), r.remaining()));
}

// The version selected by a CONNECT's protocol name and level (spec 3.1.2.1, 3.1.2.2).
Result<Version> protocolVersion(std::string_view name, uint8_t level) {
  if (name == "MQTT") {
    if (level == 4) return Version::V311;
    if (level == 5) return Version::V5;
  } else if (name == "MQIsdp") {
    if (level == 3) return Version::V31;
  } else {
    // [MQTT-3.1.2-1] a name that is not MQTT's: not an MQTT client at all.
    return fail(kMalformed, "unknown protocol name");
  }
  // [MQTT-3.1.2-2] a known protocol at a level this server does not speak.
  return fail(code(ReasonCode::UnsupportedProtocolVersion),
              fmt::format("unsupported protocol level {} for protocol name {}", level, name));
}

Result<void> decodeConnect(std::string_view body, Connect& c) {
  Reader r(body);
  const auto name = r.lengthPrefixed();
  if (!name) return truncated("protocol name");
  const auto level = r.u8();
  if (!level) return truncated("protocol level");
  const auto version = protocolVersion(*name, *level);
  if (!version) return tl::unexpected(version.error());
  c.version = *version;
  const bool v5 = c.version == Version::V5;

  const auto flags = r.u8();
  if (!flags) return truncated("connect flags");
  // [MQTT-3.1.2-3] the reserved flag is 0.
  if ((*flags & 0x01) != 0) return fail(kMalformed, "reserved connect flag is set");
  c.cleanStart = (*flags & 0x02) != 0;
  const bool willFlag = (*flags & 0x04) != 0;
  const uint8_t willQos = (*flags >> 3) & 0x03;
  const bool willRetain = (*flags & 0x20) != 0;
  const bool passwordFlag = (*flags & 0x40) != 0;
  const bool usernameFlag = (*flags & 0x80) != 0;
  // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] no will QoS or retain without a will.
  if (!willFlag && (willQos != 0 || willRetain)) {
    return fail(kMalformed, "will QoS or will retain set without the will flag");
  }
  // [MQTT-3.1.2-14] will QoS is 0, 1 or 2.
  if (willQos == 3) return fail(kMalformed, "will QoS is 3");
  // 3.1.1 [MQTT-3.1.2-22]: no password without a user name (5.0 allows it, spec 3.1.2.9).
  if (!v5 && passwordFlag && !usernameFlag) {
    return fail(kMalformed, "password flag set without the user name flag");
  }
  const auto keepAlive = r.u16();
  if (!keepAlive) return truncated("keep alive");
  c.keepAlive = *keepAlive;
  if (v5) {
    MOAT_TRY(readProperties(r, PropertyScope::Connect, c.properties));
  }

  // [MQTT-3.1.3-3] [MQTT-3.1.3-4] the client id comes first and is a UTF-8 string. It may be
  // empty: whether to assign one is the broker's decision [MQTT-3.1.3-6].
  const auto clientId = readUtf8(r, "client identifier");
  if (!clientId) return tl::unexpected(clientId.error());
  c.clientId.assign(*clientId);

  if (willFlag) {
    Will& will = c.will.emplace();
    will.qos = willQos;
    will.retain = willRetain;
    if (v5) {
      MOAT_TRY(readProperties(r, PropertyScope::Will, will.properties));
    }
    // [MQTT-3.1.3-9] the will topic is a UTF-8 string; its wildcards are the broker's check.
    const auto topic = readUtf8(r, "will topic");
    if (!topic) return tl::unexpected(topic.error());
    will.topic.assign(*topic);
    const auto payload = r.lengthPrefixed();
    if (!payload) return truncated("will payload");
    will.payload.assign(*payload);
  }
  // [MQTT-3.1.3-10] the user name is a UTF-8 string; [MQTT-3.1.2-18..21] user name and password
  // are present exactly when their flags say so.
  if (usernameFlag) {
    const auto username = readUtf8(r, "user name");
    if (!username) return tl::unexpected(username.error());
    c.username.emplace(*username);
  }
  if (passwordFlag) {
    const auto password = r.lengthPrefixed();
    if (!password) return truncated("password");
    c.password.emplace(*password);
  }
  return expectEnd(r, PacketType::Connect);
}

Result<void> decodeConnack(std::string_view body, Version v, Connack& c) {
  Reader r(body);
  const auto ackFlags = r.u8();
  if (!ackFlags) return truncated("connect acknowledge flags");
  const auto rc = r.u8();
  if (!rc) return truncated("connect reason code");
  if (v == Version::V31) {
    // In 3.1 the first byte is reserved and unused; there is no session present flag.
    c.sessionPresent = false;
  } else {
    // [MQTT-3.2.2-1] bits 7-1 of the acknowledge flags are reserved.
    if ((*ackFlags & 0xFE) != 0) return fail(kMalformed, "reserved CONNACK flag is set");
    c.sessionPresent = (*ackFlags & 0x01) != 0;
  }
  if (v != Version::V5) {
    // 3.1.1 table 3.1: return codes 6-255 are reserved.
    if (*rc > 5) return fail(kMalformed, fmt::format("reserved CONNACK return code {}", *rc));
    c.reasonCode = reasonFromConnack311(*rc);
    return expectEnd(r, PacketType::Connack);
  }
  c.reasonCode = static_cast<ReasonCode>(*rc);
  MOAT_TRY(readProperties(r, PropertyScope::Connack, c.properties));
  return expectEnd(r, PacketType::Connack);
}

Result<void> decodePublish(uint8_t flags, std::string_view body, Version v, Publish& p) {
  p.retain = (flags & 0x01) != 0;
  p.qos = (flags >> 1) & 0x03;
  p.dup = (flags & 0x08) != 0;
  // [MQTT-3.3.1-4] both QoS bits set is malformed.
  if (p.qos == 3) return fail(kMalformed, "PUBLISH QoS is 3");
  // [MQTT-3.3.1-2] DUP is 0 for QoS 0.
  if (p.dup && p.qos == 0) return fail(kMalformed, "PUBLISH has DUP set with QoS 0");

  Reader r(body);
  // [MQTT-3.3.2-1] the topic name is a UTF-8 string.
  const auto topic = readUtf8(r, "topic name");
  if (!topic) return tl::unexpected(topic.error());
  // [MQTT-3.3.2-2] no wildcards in a topic name.
  if (hasWildcard(*topic)) {
    return fail(code(ReasonCode::TopicNameInvalid), "topic name contains a wildcard");
  }
  // [MQTT-4.7.3-1] a topic name has at least one character; 5.0 allows an empty one that a
  // Topic Alias stands in for (checked below, once the properties are read).
  if (topic->empty() && v != Version::V5) return fail(kProtocolError, "topic name is empty");
  if (p.qos > 0) {
    // [MQTT-2.2.1-2] a packet identifier only when QoS > 0.
    const auto id = readPacketId(r);
    if (!id) return tl::unexpected(id.error());
    p.packetId = *id;
  }
  if (v == Version::V5) {
    MOAT_TRY(readProperties(r, PropertyScope::Publish, p.properties));
    // Spec 3.3.2.3.4: a zero-length topic name without a Topic Alias is a Protocol Error.
    if (topic->empty() && !p.properties.topicAlias) {
      return fail(kProtocolError, "topic name is empty and there is no topic alias");
    }
  }
  p.topic.assign(*topic);
  p.payload.assign(r.takeRest());
  return {};
}

Result<void> decodePubAck(PacketType type, std::string_view body, Version v, PubAck& a) {
  a.type = type;
  Reader r(body);
  const auto id = readPacketId(r);
  if (!id) return tl::unexpected(id.error());
  a.packetId = *id;
  if (v == Version::V5) {
    // Spec 3.4.2.1: the reason code is omitted for Success without properties (remaining length
    // 2), and the property length is omitted when there are none (remaining length 3).
    if (r.empty()) return {};
    a.reasonCode = static_cast<ReasonCode>(*r.u8());
    if (r.empty()) return {};
    MOAT_TRY(readProperties(r, PropertyScope::PubAck, a.properties));
  }
  return expectEnd(r, type);
}

Result<void> decodeSubscribe(std::string_view body, Version v, Subscribe& s) {
  Reader r(body);
  const auto id = readPacketId(r);
  if (!id) return tl::unexpected(id.error());
  s.packetId = *id;
  if (v == Version::V5) {
    // At most one Subscription Identifier (the duplicate check), never 0 (spec 3.8.2.1.2).
    MOAT_TRY(readProperties(r, PropertyScope::Subscribe, s.properties));
  }
  while (!r.empty()) {
    // [MQTT-3.8.3-1] filters are UTF-8 strings. Wildcard placement is not a decoding matter:
    // the broker answers a bad filter with 0x8F in its SUBACK entry.
    const auto filter = readUtf8(r, "topic filter");
    if (!filter) return tl::unexpected(filter.error());
    const auto options = r.u8();
    if (!options) return truncated("subscription options");
    TopicSubscription& sub = s.topics.emplace_back();
    sub.filter.assign(*filter);
    sub.options.qos = *options & 0x03;
    if (v == Version::V5) {
      // [MQTT-3.8.3-5] bits 6 and 7 are reserved.
      if ((*options & 0xC0) != 0) return fail(kMalformed, "reserved subscription option bit set");
      if (sub.options.qos == 3) return fail(kMalformed, "subscription QoS is 3");
      sub.options.noLocal = (*options & 0x04) != 0;
      sub.options.retainAsPublished = (*options & 0x08) != 0;
      sub.options.retainHandling = (*options >> 4) & 0x03;
      // Spec 3.8.3.1: Retain Handling 3 is a Protocol Error.
      if (sub.options.retainHandling == 3) return fail(kProtocolError, "retain handling is 3");
    } else {
      // 3.1.1 [MQTT-3-8.3-4]: the upper 6 bits are reserved and QoS is 0, 1 or 2.
      if ((*options & 0xFC) != 0) return fail(kMalformed, "reserved requested QoS bits set");
      if (sub.options.qos == 3) return fail(kMalformed, "requested QoS is 3");
    }
  }
  // [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3]) at least one filter.
  if (s.topics.empty()) return fail(kProtocolError, "SUBSCRIBE has no topic filter");
  return {};
}

Result<void> decodeSuback(std::string_view body, Version v, Suback& s) {
  Reader r(body);
  const auto id = readPacketId(r);
  if (!id) return tl::unexpected(id.error());
  s.packetId = *id;
  if (v == Version::V5) {
    MOAT_TRY(readProperties(r, PropertyScope::Suback, s.properties));
  }
  const std::string_view codes = r.takeRest();
  // One code per filter of the SUBSCRIBE, which had at least one.
  if (codes.empty()) return fail(kProtocolError, "SUBACK has no reason code");
  s.reasonCodes.reserve(codes.size());
  for (char c : codes) {
    const auto rc = static_cast<uint8_t>(c);
    // 3.1.1 [MQTT-3.9.3-2]: return codes other than 0x00, 0x01, 0x02 and 0x80 are reserved.
    if (v != Version::V5 && rc > 2 && rc != 0x80) {
      return fail(kMalformed, fmt::format("reserved SUBACK return code 0x{:02X}", rc));
    }
    s.reasonCodes.push_back(static_cast<ReasonCode>(rc));
  }
  return {};
}

Result<void> decodeUnsubscribe(std::string_view body, Version v, Unsubscribe& u) {
  Reader r(body);
  const auto id = readPacketId(r);
  if (!id) return tl::unexpected(id.error());
  u.packetId = *id;
  if (v == Version::V5) {
    MOAT_TRY(readProperties(r, PropertyScope::Unsubscribe, u.properties));
  }
  while (!r.empty()) {
    // [MQTT-3.10.3-1] filters are UTF-8 strings.
    const auto filter = readUtf8(r, "topic filter");
    if (!filter) return tl::unexpected(filter.error());
    u.topics.emplace_back(*filter);
  }
  // [MQTT-3.10.3-2] at least one filter.
  if (u.topics.empty()) return fail(kProtocolError, "UNSUBSCRIBE has no topic filter");
  return {};
}

Result<void> decodeUnsuback(std::string_view body, Version v, Unsuback& u) {
  Reader r(body);
  const auto id = readPacketId(r);
  if (!id) return tl::unexpected(id.error());
  u.packetId = *id;
  if (v != Version::V5) return expectEnd(r, PacketType::Unsuback);
  MOAT_TRY(readProperties(r, PropertyScope::Unsuback, u.properties));
  const std::string_view codes = r.takeRest();
  if (codes.empty()) return fail(kProtocolError, "UNSUBACK has no reason code");
  u.reasonCodes.reserve(codes.size());
  for (char c : codes) u.reasonCodes.push_back(static_cast<ReasonCode>(static_cast<uint8_t>(c)));
  return {};
}

// DISCONNECT and AUTH share a shape in 5.0: the reason code may be omitted when it is 0x00 and
// there are no properties (remaining length 0), the property length when there are none
// (remaining length 1). Spec 3.14.2.1, 3.15.2.1.
template <class T>
Result<void> decodeReasonAndProperties(std::string_view body, PacketType type, PropertyScope scope,
                                       T& out) {
  Reader r(body);
  if (r.empty()) return {};
  out.reasonCode = static_cast<ReasonCode>(*r.u8());
  if (r.empty()) return {};
  MOAT_TRY(readProperties(r, scope, out.properties));
  return expectEnd(r, type);
}

// Spec table 2-2 (5.0 [MQTT-2.1.3-1], 3.1.1 [MQTT-2.2.2-1]): the flags of every type but
// PUBLISH are fixed: 0b0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0 for the rest.
Result<void> checkFixedFlags(PacketType type, uint8_t flags) {
  const uint8_t expected =
      type == PacketType::Pubrel || type == PacketType::Subscribe || type == PacketType::Unsubscribe
          ? 0x02
          : 0x00;
  if (flags == expected) return {};
  return fail(kMalformed, fmt::format("{} has fixed header flags 0x{:X}; they must be 0x{:X}",
                                      packetTypeName(type), flags, expected));
}

// Decodes into a Packet holding a T in place, so the packet is never moved on the way out.
template <class T, class Fn>
Result<Packet> decodeAs(Fn&& fn) {
  Result<Packet> result(tl::in_place, std::in_place_type<T>);
  if (Result<void> ok = fn(std::get<T>(*result)); !ok)
    result = tl::unexpected(std::move(ok.error()));
  return result;
}

}  // namespace

std::optional<ShortAck> decodeShortAck(uint8_t first, std::string_view body) {
  const auto type = static_cast<PacketType>(first >> 4);
  if (type < PacketType::Puback || type > PacketType::Pubcomp || body.size() != 2) {
    return std::nullopt;
  }
  if ((first & 0x0F) != (type == PacketType::Pubrel ? 0x02 : 0x00)) return std::nullopt;
  const auto id =
      static_cast<uint16_t>((static_cast<uint8_t>(body[0]) << 8) | static_cast<uint8_t>(body[1]));
  if (id == 0) return std::nullopt;  // a protocol error: decode() says so
  return ShortAck{type, id};
}

Result<Packet> decode(uint8_t first, std::string_view body, Version version) {
  const uint8_t typeBits = first >> 4;
  const uint8_t flags = first & 0x0F;
  if (typeBits == 0) return fail(kMalformed, "packet type 0 is reserved");
  const auto type = static_cast<PacketType>(typeBits);
  if (type == PacketType::Publish) {
    return decodeAs<Publish>([&](Publish& p) { return decodePublish(flags, body, version, p); });
  }
  // Spec 2.1.2: AUTH exists only in 5.0; in 3.1.1 type 15 is reserved.
  if (type == PacketType::Auth && version != Version::V5) {
    return fail(kMalformed, "AUTH is reserved before MQTT 5.0");
  }
  MOAT_TRY(checkFixedFlags(type, flags));

  switch (type) {
    case PacketType::Connect:
      return decodeAs<Connect>([&](Connect& c) { return decodeConnect(body, c); });
    case PacketType::Connack:
      return decodeAs<Connack>([&](Connack& c) { return decodeConnack(body, version, c); });
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp:
      return decodeAs<PubAck>([&](PubAck& a) { return decodePubAck(type, body, version, a); });
    case PacketType::Subscribe:
      return decodeAs<Subscribe>([&](Subscribe& s) { return decodeSubscribe(body, version, s); });
    case PacketType::Suback:
      return decodeAs<Suback>([&](Suback& s) { return decodeSuback(body, version, s); });
    case PacketType::Unsubscribe:
      return decodeAs<Unsubscribe>(
          [&](Unsubscribe& u) { return decodeUnsubscribe(body, version, u); });
    case PacketType::Unsuback:
      return decodeAs<Unsuback>([&](Unsuback& u) { return decodeUnsuback(body, version, u); });
    case PacketType::Pingreq:
    case PacketType::Pingresp:
      // Spec 3.12, 3.13: no variable header, no payload.
      if (!body.empty()) {
        return fail(kMalformed, fmt::format("{} has a remaining length of {}; it must be 0",
                                            packetTypeName(type), body.size()));
      }
      if (type == PacketType::Pingreq) return Packet(Pingreq{});
      return Packet(Pingresp{});
    case PacketType::Disconnect:
      if (version != Version::V5) {
        // 3.1.1 spec 3.14: DISCONNECT is the fixed header alone.
        if (!body.empty()) return fail(kMalformed, "DISCONNECT has a remaining length above 0");
        return Packet(Disconnect{});
      }
      return decodeAs<Disconnect>([&](Disconnect& d) {
        return decodeReasonAndProperties(body, type, PropertyScope::Disconnect, d);
      });
    case PacketType::Auth:
      return decodeAs<Auth>(
          [&](Auth& a) { return decodeReasonAndProperties(body, type, PropertyScope::Auth, a); });
    case PacketType::Publish:
      break;  // handled above
  }
  return fail(kMalformed, "unknown packet type");
}

std::optional<Version> connectVersionHint(std::string_view body) {
  Reader r(body);
  const auto name = r.lengthPrefixed();
  if (!name) return std::nullopt;
  const auto level = r.u8();
  if (!level) return std::nullopt;
  const auto version = protocolVersion(*name, *level);
  if (!version) return std::nullopt;
  return *version;
}

}  // namespace moat::mqtt
