// Framing: peekFixedHeader on bytes split anywhere, Variable Byte Integers, fixed-header rules
// shared by every packet type.
#include "mqtt/codec.h"

#include <gtest/gtest.h>

#include "mqtt/codec_test_util.h"

namespace moat::mqtt {
namespace {

using testing::bytes;
using testing::decodeWire;
using testing::encoded;
using testing::toHex;

constexpr uint8_t kMalformed = 0x81;

std::string varint(uint32_t v) {
  std::string out;
  appendVarint(v, out);
  return out;
}

TEST(Varint, EncodesTheSpecBoundariesInOneToFourBytes) {
  // Spec 1.5.5, table 1-1.
  EXPECT_EQ(toHex(varint(0)), "00");
  EXPECT_EQ(toHex(varint(127)), "7f");
  EXPECT_EQ(toHex(varint(128)), "80 01");
  EXPECT_EQ(toHex(varint(16383)), "ff 7f");
  EXPECT_EQ(toHex(varint(16384)), "80 80 01");
  EXPECT_EQ(toHex(varint(2097151)), "ff ff 7f");
  EXPECT_EQ(toHex(varint(2097152)), "80 80 80 01");
  EXPECT_EQ(toHex(varint(kMaxRemainingLength)), "ff ff ff 7f");
}

TEST(Varint, SizeMatchesTheEncoding) {
  for (uint32_t v : {0u, 1u, 127u, 128u, 16383u, 16384u, 2097151u, 2097152u, kMaxRemainingLength}) {
    EXPECT_EQ(varintSize(v), varint(v).size()) << v;
  }
}

TEST(FixedHeader, EmptyInputNeedsMoreBytes) {
  const auto h = peekFixedHeader("", 0);
  ASSERT_TRUE(h);
  EXPECT_FALSE(*h);
}

TEST(FixedHeader, ReadsTypeFlagsAndLengths) {
  const auto h = peekFixedHeader(bytes("3b 0c 00 03 'a/b' 00 07 'hello'"), 0);
  ASSERT_TRUE(h);
  ASSERT_TRUE(*h);
  EXPECT_EQ((*h)->type(), PacketType::Publish);
  EXPECT_EQ((*h)->first, 0x3b);
  EXPECT_EQ((*h)->headerLength, 2u);
  EXPECT_EQ((*h)->remainingLength, 12u);
  EXPECT_EQ((*h)->totalLength(), 14u);
}

TEST(FixedHeader, BytesSplitAnywhereGiveTheHeaderOnceTheLengthIsComplete) {
  // A 200-byte payload makes the remaining length two bytes long.
  const std::string wire = bytes("30 cd 01 00 03 'a/b'") + std::string(200, 'x');
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    const auto h = peekFixedHeader(std::string_view(wire).substr(0, cut), 0);
    ASSERT_TRUE(h) << cut;
    if (cut < 3) {
      EXPECT_FALSE(*h) << cut;
    } else {
      ASSERT_TRUE(*h) << cut;
      EXPECT_EQ((*h)->headerLength, 3u);
      EXPECT_EQ((*h)->remainingLength, 205u);
      EXPECT_EQ((*h)->totalLength(), wire.size());
    }
  }
}

TEST(FixedHeader, StreamOfPacketsSplitAnywhereDecodesToTheSamePackets) {
  // What a connection does: buffer bytes as they come, peel off each whole packet.
  const std::string stream = bytes("30 0b 00 03 'a/b' 00 'hello' c0 00 40 02 00 07 e0 01 04") +
                             bytes("30 ce 01 00 03 'a/b' 00") + std::string(200, 'x');
  std::vector<Packet> expected;
  {
    std::string_view rest = stream;
    while (!rest.empty()) {
      const auto h = peekFixedHeader(rest, 0);
      ASSERT_TRUE(h && *h);
      const auto p =
          decode((*h)->first, rest.substr((*h)->headerLength, (*h)->remainingLength), Version::V5);
      ASSERT_TRUE(p) << p.error().message;
      expected.push_back(*p);
      rest.remove_prefix((*h)->totalLength());
    }
  }
  ASSERT_EQ(expected.size(), 5u);
  for (size_t chunk = 1; chunk <= 7; ++chunk) {
    std::string buffer;
    std::vector<Packet> got;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      buffer.append(stream.substr(i, chunk));
      while (true) {
        const auto h = peekFixedHeader(buffer, 0);
        ASSERT_TRUE(h);
        if (!*h || (*h)->totalLength() > buffer.size()) break;
        const auto p = decode(
            (*h)->first, std::string_view(buffer).substr((*h)->headerLength, (*h)->remainingLength),
            Version::V5);
        ASSERT_TRUE(p) << p.error().message;
        got.push_back(*p);
        buffer.erase(0, (*h)->totalLength());
      }
    }
    EXPECT_TRUE(buffer.empty());
    EXPECT_TRUE(got == expected) << "chunk size " << chunk;
  }
}

TEST(FixedHeader, FourByteRemainingLengthIsTheLongestAccepted) {
  const auto h = peekFixedHeader(bytes("30 ff ff ff 7f"), 0);
  ASSERT_TRUE(h);
  ASSERT_TRUE(*h);
  EXPECT_EQ((*h)->headerLength, 5u);
  EXPECT_EQ((*h)->remainingLength, kMaxRemainingLength);
}

TEST(FixedHeader, FiveByteRemainingLengthIsMalformed) {
  const auto h = peekFixedHeader(bytes("30 ff ff ff ff 7f"), 0);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, kMalformed);
  // Known to be too long as soon as the fourth length byte has its continuation bit set.
  const auto early = peekFixedHeader(bytes("30 80 80 80 80"), 0);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, kMalformed);
}

TEST(FixedHeader, NonMinimalRemainingLengthIsAccepted) {
  const auto h = peekFixedHeader(bytes("c0 80 80 00"), 0);
  ASSERT_TRUE(h);
  ASSERT_TRUE(*h);
  EXPECT_EQ((*h)->headerLength, 4u);
  EXPECT_EQ((*h)->remainingLength, 0u);
}

TEST(FixedHeader, PacketTypeZeroIsMalformed) {
  const auto h = peekFixedHeader(bytes("00"), 0);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, kMalformed);
  EXPECT_DECODE_ERROR(bytes("00 00"), Version::V5, kMalformed);
}

TEST(FixedHeader, PacketOverTheMaximumSizeIsTooLarge) {
  const std::string wire = bytes("30 0a 00 03 'a/b' 'hello'");  // 12 bytes in all
  const auto over = peekFixedHeader(wire, 11);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, 0x95);
  // Refused from the length alone, before the body has arrived.
  const auto early = peekFixedHeader(std::string_view(wire).substr(0, 2), 11);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, 0x95);
  const auto exact = peekFixedHeader(wire, 12);
  ASSERT_TRUE(exact);
  EXPECT_TRUE(*exact);
  EXPECT_TRUE(*peekFixedHeader(bytes("30 ff ff ff 7f"), 0));
}

TEST(PacketTypeOf, NamesEveryPacket) {
  PubAck rel;
  rel.type = PacketType::Pubrel;
  EXPECT_EQ(packetType(Packet(rel)), PacketType::Pubrel);
  EXPECT_EQ(packetType(Packet(Connect{})), PacketType::Connect);
  EXPECT_EQ(packetType(Packet(Connack{})), PacketType::Connack);
  EXPECT_EQ(packetType(Packet(Publish{})), PacketType::Publish);
  EXPECT_EQ(packetType(Packet(Subscribe{})), PacketType::Subscribe);
  EXPECT_EQ(packetType(Packet(Suback{})), PacketType::Suback);
  EXPECT_EQ(packetType(Packet(Unsubscribe{})), PacketType::Unsubscribe);
  EXPECT_EQ(packetType(Packet(Unsuback{})), PacketType::Unsuback);
  EXPECT_EQ(packetType(Packet(Pingreq{})), PacketType::Pingreq);
  EXPECT_EQ(packetType(Packet(Pingresp{})), PacketType::Pingresp);
  EXPECT_EQ(packetType(Packet(Disconnect{})), PacketType::Disconnect);
  EXPECT_EQ(packetType(Packet(Auth{})), PacketType::Auth);
}

TEST(PacketTypeOf, EncodedFirstByteMatchesThePacketType) {
  PubAck rec;
  rec.type = PacketType::Pubrec;
  rec.packetId = 1;
  Publish pub;
  pub.topic = "t";
  const Packet packets[] = {Connect{}, Connack{},  pub,          rec,
                            Pingreq{}, Pingresp{}, Disconnect{}, Auth{}};
  for (const Packet& p : packets) {
    const std::string wire = encoded(p, Version::V5);
    ASSERT_FALSE(wire.empty());
    EXPECT_EQ(static_cast<uint8_t>(wire[0]) >> 4, static_cast<uint8_t>(packetType(p)));
  }
}

TEST(Decode, EveryPacketDecodesFromWhatEncodeWrote) {
  // Encoding defaults (plus the fields a valid packet needs) and decoding gives them back.
  Publish pub;
  pub.topic = "t";
  PubAck ack;
  ack.packetId = 1;
  Subscribe sub;
  sub.packetId = 1;
  sub.topics = {TopicSubscription{"f", {}}};
  Suback suback;
  suback.packetId = 1;
  suback.reasonCodes = {ReasonCode::Success};
  Unsubscribe unsub;
  unsub.packetId = 1;
  unsub.topics = {"f"};
  Unsuback unsuback;
  unsuback.packetId = 1;
  unsuback.reasonCodes = {ReasonCode::Success};
  for (Version v : {Version::V31, Version::V311, Version::V5}) {
    Connect connect;
    connect.version = v;
    Unsuback u = unsuback;
    if (v != Version::V5) u.reasonCodes.clear();
    std::vector<Packet> packets = {connect, Connack{}, pub,       ack,        sub,         suback,
                                   unsub,   u,         Pingreq{}, Pingresp{}, Disconnect{}};
    if (v == Version::V5) packets.push_back(Auth{});
    for (const Packet& p : packets) {
      const auto decoded = decodeWire(encoded(p, v), v);
      ASSERT_TRUE(decoded) << decoded.error().message;
      EXPECT_TRUE(*decoded == p) << packetTypeName(packetType(p)) << " in " << versionName(v);
    }
  }
}

}  // namespace
}  // namespace moat::mqtt
