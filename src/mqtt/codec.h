// The MQTT codec: bytes <-> packets, without I/O. Shared by the broker, the client, the bench
// and the fuzzers. Every function here is pure and thread-safe.
//
// Reading is two steps, so bytes may arrive split anywhere:
//   1. peekFixedHeader(buffered bytes) says whether a whole packet is buffered yet, how long it
//      is, and rejects a bad remaining length or a packet over the size limit early;
//   2. decode(first byte, body) turns exactly one packet's body into a Packet.
// Writing appends the encoding to a std::string; a PUBLISH can be written as header and payload
// apart (encodePublishHeader) so a payload shared by many subscribers is never copied.
//
// Every failure is an Error whose code is the MQTT 5.0 reason code the spec names for the
// violation (0x81 Malformed Packet, 0x82 Protocol Error, 0x84 Unsupported Protocol Version,
// 0x95 Packet Too Large, ...), ready to be sent in a CONNACK or DISCONNECT.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "mqtt/packet.h"

namespace moat::mqtt {

// Largest remaining length a 4-byte Variable Byte Integer can encode.
inline constexpr uint32_t kMaxRemainingLength = 268'435'455;

struct FixedHeader {
  uint8_t first = 0;             // packet type (high nibble) and flags (low nibble)
  uint32_t headerLength = 0;     // 1 + length of the remaining-length varint (2..5)
  uint32_t remainingLength = 0;  // length of the body that follows
  uint32_t totalLength() const { return headerLength + remainingLength; }
  PacketType type() const { return static_cast<PacketType>(first >> 4); }
};

// Looks at the start of `data`. Returns nullopt when more bytes are needed to know the length;
// otherwise the fixed header (the packet itself may still be incomplete: compare totalLength()
// with data.size()). Fails with 0x81 on a varint longer than 4 bytes or a packet type of 0, and
// with 0x95 when totalLength() would exceed maxPacketSize (0 = no limit beyond the protocol's).
[[nodiscard]] Result<std::optional<FixedHeader>> peekFixedHeader(std::string_view data,
                                                                 uint32_t maxPacketSize);

// Decodes one packet from its first byte and its body (exactly remainingLength bytes).
// `version` is the version negotiated on the connection; it is ignored for CONNECT, whose own
// protocol level decides. Checks every byte-level "MUST" of the spec: reserved flags, UTF-8
// strings, property identifiers allowed for the packet and not duplicated, packet ids, QoS,
// trailing bytes.
[[nodiscard]] Result<Packet> decode(uint8_t first, std::string_view body, Version version);

// For CONNECT bodies that fail to decode: the protocol level they claim, if it can be read and
// is one this codec knows, so the CONNACK can be written in that version.
std::optional<Version> connectVersionHint(std::string_view body);

// Appends the complete encoding of `p` for `version`.
void encode(const Packet& p, Version version, std::string& out);

// A well-formed PUBACK, PUBREC, PUBREL or PUBCOMP of the short form (the packet id alone,
// meaning Success), read without building a Packet: nullopt for anything else, which decode()
// then takes as usual (other forms, and errors with their reasons).
struct ShortAck {
  PacketType type;
  uint16_t packetId;
};
std::optional<ShortAck> decodeShortAck(uint8_t first, std::string_view body);

// A PUBACK, PUBREC, PUBREL or PUBCOMP without properties: the same bytes as encode() of the
// PubAck, without building a Packet (one of these answers nearly every QoS 1/2 message).
void encodeAck(PacketType type, uint16_t packetId, ReasonCode reasonCode, Version version,
               std::string& out);

// Per-delivery parts of a PUBLISH whose topic, payload and base properties are shared by all
// subscribers. The fixed-header flags and the packet id written are ALWAYS these, never p's.
struct PublishExtras {
  uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  uint16_t packetId = 0;                       // written when qos > 0
  std::optional<uint16_t> topicAlias;          // replaces any topicAlias in the base properties
  std::span<const uint32_t> subscriptionIds;   // replaces base subscriptionIdentifiers
  std::optional<uint32_t> messageExpiry;       // replaces base messageExpiryInterval
  bool omitTopic = false;                      // write a zero-length topic (alias already known)
  size_t topicSkip = 0;  // leading bytes of p.topic not written (a tenant's mount point)
  size_t responseTopicSkip = 0;    // the same for the Response Topic property
  bool omitResponseTopic = false;  // a Response Topic the receiver could not reach: not written
};

// Appends a PUBLISH's fixed header, topic, packet id and properties -- everything but the
// payload, whose size is `payloadSize` -- and returns the total packet size in bytes (what the
// receiver's Maximum Packet Size is compared with). p.payload, p.dup, p.qos, p.retain and
// p.packetId are not read (they come from extras).
uint32_t encodePublishHeader(const Publish& p, const PublishExtras& extras, size_t payloadSize,
                             Version version, std::string& out);

// Variable Byte Integer helpers (spec 1.5.5).
void appendVarint(uint32_t value, std::string& out);
inline constexpr uint32_t varintSize(uint32_t v) {
  return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

}  // namespace moat::mqtt
