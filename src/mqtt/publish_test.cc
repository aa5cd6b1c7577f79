// PUBLISH and its acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP), and the split encoding of
// PUBLISH (encodePublishHeader) that the broker's fan-out uses.
#include <gtest/gtest.h>

#include <vector>

#include "mqtt/codec.h"
#include "mqtt/codec_test_util.h"

namespace moat::mqtt {
namespace {

using testing::bytes;
using testing::decodeWire;
using testing::encoded;
using testing::toHex;

constexpr uint8_t kMalformed = 0x81;
constexpr uint8_t kProtocolError = 0x82;
constexpr uint8_t kTopicNameInvalid = 0x90;

Publish publish(std::string topic, std::string payload, uint8_t qos = 0, uint16_t packetId = 0) {
  Publish p;
  p.topic = std::move(topic);
  p.payload = std::move(payload);
  p.qos = qos;
  p.packetId = packetId;
  return p;
}

// ---- PUBLISH, 3.1.1 ----

TEST(PublishCodec, Mqtt311Qos0PublishRoundTrips) {
  EXPECT_ROUND_TRIP(bytes("30 0a 00 03 'a/b' 'hello'"), Version::V311, publish("a/b", "hello"));
}

TEST(PublishCodec, Mqtt311RetainedQos0PublishRoundTrips) {
  Publish p = publish("a/b", "");
  p.retain = true;
  EXPECT_ROUND_TRIP(bytes("31 05 00 03 'a/b'"), Version::V311, p);
}

TEST(PublishCodec, Mqtt311Qos1DuplicatePublishRoundTrips) {
  Publish p = publish("a/b", "hello", 1, 7);
  p.dup = true;
  EXPECT_ROUND_TRIP(bytes("3a 0c 00 03 'a/b' 00 07 'hello'"), Version::V311, p);
}

TEST(PublishCodec, Mqtt311Qos2RetainedPublishRoundTrips) {
  Publish p = publish("x", std::string("\x00\xff", 2), 2, 0xBEEF);
  p.retain = true;
  EXPECT_ROUND_TRIP(bytes("35 07 00 01 'x' be ef 00 ff"), Version::V311, p);
}

TEST(PublishCodec, Mqtt31PublishIsTheSameAs311) {
  EXPECT_ROUND_TRIP(bytes("32 0c 00 03 'a/b' 00 01 'hello'"), Version::V31,
                    publish("a/b", "hello", 1, 1));
}

TEST(PublishCodec, PayloadOfTwoHundredBytesUsesATwoByteRemainingLength) {
  const std::string payload(200, 'p');
  EXPECT_ROUND_TRIP(bytes("30 cd 01 00 03 'a/b'") + payload, Version::V311,
                    publish("a/b", payload));
}

TEST(PublishCodec, Mqtt311EncodingIgnoresProperties) {
  Publish p = publish("a/b", "hello");
  p.properties.messageExpiryInterval = 5;
  p.properties.userProperties = {{"k", "v"}};
  EXPECT_EQ(toHex(encoded(p, Version::V311)), toHex(bytes("30 0a 00 03 'a/b' 'hello'")));
}

// ---- PUBLISH, 5.0 ----

TEST(PublishCodec, Mqtt5Qos0PublishWithoutPropertiesRoundTrips) {
  EXPECT_ROUND_TRIP(bytes("30 0b 00 03 'a/b' 00 'hello'"), Version::V5, publish("a/b", "hello"));
}

TEST(PublishCodec, Mqtt5PublishWithEveryPublishPropertyRoundTrips) {
  Publish p = publish("a/b", "hi", 1, 2);
  Properties& pr = p.properties;
  pr.payloadFormatIndicator = 1;
  pr.messageExpiryInterval = 300;
  pr.contentType = "json";
  pr.responseTopic = "reply";
  pr.correlationData = std::string("\x00\x01", 2);
  pr.subscriptionIdentifiers = {300, 1};
  pr.topicAlias = 4;
  pr.userProperties = {{"b", "2"}, {"a", "1"}};
  EXPECT_ROUND_TRIP(bytes("32 3b 00 03 'a/b' 00 02"
                          "31"                      // property length 49
                          "01 01"                   // payload format indicator
                          "02 00 00 01 2c"          // message expiry 300
                          "03 00 04 'json'"         // content type
                          "08 00 05 'reply'"        // response topic
                          "09 00 02 00 01"          // correlation data
                          "0b ac 02"                // subscription identifier 300
                          "0b 01"                   // subscription identifier 1
                          "23 00 04"                // topic alias 4
                          "26 00 01 'b' 00 01 '2'"  // user properties, in their order
                          "26 00 01 'a' 00 01 '1'"
                          "'hi'"),
                    Version::V5, p);
}

TEST(PublishCodec, Mqtt5EmptyTopicWithTopicAliasRoundTrips) {
  Publish p = publish("", "hi");
  p.properties.topicAlias = 3;
  EXPECT_ROUND_TRIP(bytes("30 08 00 00 03 23 00 03 'hi'"), Version::V5, p);
}

TEST(PublishCodec, Mqtt5TopicAliasZeroIsLeftForTheBrokerToRefuse) {
  const auto decoded = decodeWire(bytes("30 09 00 01 't' 03 23 00 00 'hi'"), Version::V5);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Publish>(*decoded).properties.topicAlias, 0);
}

TEST(PublishCodec, EncoderLeavesOutPropertiesThatPublishCannotCarry) {
  Publish p = publish("a/b", "hello");
  p.properties.reasonString = "not in PUBLISH";
  p.properties.sessionExpiryInterval = 1;
  EXPECT_EQ(toHex(encoded(p, Version::V5)), toHex(bytes("30 0b 00 03 'a/b' 00 'hello'")));
}

TEST(PublishCodec, NonMinimalRemainingLengthIsAccepted) {
  // 0x8a 0x00 is 10 in two bytes; the remaining length is read leniently.
  const auto decoded = decodeWire(bytes("30 8a 00 00 03 'a/b' 'hello'"), Version::V311);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(std::get<Publish>(*decoded) == publish("a/b", "hello"));
}

// ---- PUBLISH, malformed ----

TEST(PublishCodec, Qos3IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("36 0c 00 03 'a/b' 00 01 'hello'"), Version::V311, kMalformed);
}

TEST(PublishCodec, DupWithQos0IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("38 0a 00 03 'a/b' 'hello'"), Version::V311, kMalformed);
}

TEST(PublishCodec, TopicWithPlusIsTopicNameInvalid) {
  EXPECT_DECODE_ERROR(bytes("30 0a 00 03 'a/+' 'hello'"), Version::V311, kTopicNameInvalid);
}

TEST(PublishCodec, TopicWithHashIsTopicNameInvalid) {
  EXPECT_DECODE_ERROR(bytes("30 0b 00 03 'a/#' 00 'hello'"), Version::V5, kTopicNameInvalid);
}

TEST(PublishCodec, TopicThatIsNotUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("30 0a 00 03 'a' c0 80 'hello'"), Version::V311, kMalformed);
}

TEST(PublishCodec, TopicWithNullCharacterIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("30 0a 00 03 'a' 00 'b' 'hello'"), Version::V311, kMalformed);
}

TEST(PublishCodec, Mqtt311EmptyTopicIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("30 07 00 00 'hello'"), Version::V311, kProtocolError);
}

TEST(PublishCodec, Mqtt5EmptyTopicWithoutTopicAliasIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("30 08 00 00 00 'hello'"), Version::V5, kProtocolError);
}

TEST(PublishCodec, PacketIdZeroWithQos1IsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("32 0c 00 03 'a/b' 00 00 'hello'"), Version::V311, kProtocolError);
}

TEST(PublishCodec, TopicLongerThanTheBodyIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("30 05 00 09 'a/b'"), Version::V311, kMalformed);
}

TEST(PublishCodec, MissingPacketIdIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("32 06 00 03 'a/b' 00"), Version::V311, kMalformed);
}

TEST(PublishCodec, Mqtt5PropertyNotAllowedInPublishIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("30 0b 00 03 'a/b' 05 11 00 00 00 01"), Version::V5, kMalformed);
}

TEST(PublishCodec, Mqtt5MissingPropertyLengthIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("30 05 00 03 'a/b'"), Version::V5, kMalformed);
}

// ---- PUBLISH, split encoding ----

// The extras that make encodePublishHeader write what encode() writes for `p`.
PublishExtras extrasOf(const Publish& p) {
  PublishExtras extras;
  extras.qos = p.qos;
  extras.dup = p.dup;
  extras.retain = p.retain;
  extras.packetId = p.packetId;
  extras.topicAlias = p.properties.topicAlias;
  extras.subscriptionIds = p.properties.subscriptionIdentifiers;
  return extras;
}

TEST(PublishHeader, EqualsEncodeWhenExtrasRepeatThePacketsOwnValues) {
  Publish p = publish("a/b", std::string(300, 'x'), 1, 9);
  p.dup = true;
  p.retain = true;
  p.properties.topicAlias = 2;
  p.properties.subscriptionIdentifiers = {5, 70000};
  p.properties.messageExpiryInterval = 10;
  p.properties.userProperties = {{"k", "v"}};
  for (Version v : {Version::V31, Version::V311, Version::V5}) {
    std::string split;
    const uint32_t total = encodePublishHeader(p, extrasOf(p), p.payload.size(), v, split);
    split += p.payload;
    EXPECT_EQ(total, split.size());
    EXPECT_EQ(toHex(split), toHex(encoded(p, v)));
  }
}

TEST(PublishHeader, WritesEverythingButThePayloadAndReturnsTheWholeSize) {
  const Publish p = publish("a/b", "ignored", 1, 7);
  std::string out = "prefix";
  const uint32_t total = encodePublishHeader(p, extrasOf(p), 5, Version::V311, out);
  EXPECT_EQ(toHex(out), toHex("prefix" + bytes("32 0c 00 03 'a/b' 00 07")));
  EXPECT_EQ(total, 14u);
}

TEST(PublishHeader, FlagsAndPacketIdComeFromExtrasNeverFromThePacket) {
  Publish p = publish("a/b", "", 2, 99);
  p.dup = true;
  p.retain = true;
  PublishExtras extras;  // QoS 0, no DUP, no RETAIN, no packet id
  std::string out;
  EXPECT_EQ(encodePublishHeader(p, extras, 1, Version::V311, out), 8u);
  EXPECT_EQ(toHex(out), toHex(bytes("30 06 00 03 'a/b'")));
  out.clear();
  extras.qos = 1;
  extras.dup = true;
  extras.packetId = 0x1234;
  EXPECT_EQ(encodePublishHeader(p, extras, 1, Version::V311, out), 10u);
  EXPECT_EQ(toHex(out), toHex(bytes("3a 08 00 03 'a/b' 12 34")));
  out.clear();
  extras = PublishExtras{};
  extras.qos = 2;
  extras.retain = true;
  extras.packetId = 1;
  encodePublishHeader(p, extras, 0, Version::V5, out);
  EXPECT_EQ(toHex(out), toHex(bytes("35 08 00 03 'a/b' 00 01 00")));
}

TEST(PublishHeader, ExtrasReplaceTopicAliasSubscriptionIdsAndMessageExpiry) {
  Publish p = publish("a/b", "");
  p.properties.topicAlias = 1;
  p.properties.subscriptionIdentifiers = {1, 2, 3};
  p.properties.messageExpiryInterval = 100;
  p.properties.contentType = "c";
  const std::vector<uint32_t> ids = {9};
  PublishExtras extras;
  extras.topicAlias = 7;
  extras.subscriptionIds = ids;
  extras.messageExpiry = 40;
  std::string out;
  const uint32_t total = encodePublishHeader(p, extras, 2, Version::V5, out);
  EXPECT_EQ(toHex(out), toHex(bytes("30 16 00 03 'a/b' 0e"
                                    "02 00 00 00 28"  // message expiry from extras
                                    "03 00 01 'c'"    // content type from the base
                                    "0b 09"           // only the extras' subscription id
                                    "23 00 07")));    // topic alias from extras
  EXPECT_EQ(total, out.size() + 2);
}

TEST(PublishHeader, EmptyExtrasKeepBaseAliasAndExpiryButDropBaseSubscriptionIds) {
  Publish p = publish("t", "");
  p.properties.topicAlias = 1;
  p.properties.subscriptionIdentifiers = {1};
  p.properties.messageExpiryInterval = 100;
  std::string out;
  encodePublishHeader(p, {}, 0, Version::V5, out);
  EXPECT_EQ(toHex(out), toHex(bytes("30 0c 00 01 't' 08 02 00 00 00 64 23 00 01")));
}

TEST(PublishHeader, OmitTopicWritesAZeroLengthTopic) {
  const Publish p = publish("long/topic/name", "");
  PublishExtras extras;
  extras.qos = 2;
  extras.packetId = 3;
  extras.topicAlias = 5;
  extras.omitTopic = true;
  std::string out;
  EXPECT_EQ(encodePublishHeader(p, extras, 4, Version::V5, out), 14u);
  EXPECT_EQ(toHex(out), toHex(bytes("34 0c 00 00 00 03 03 23 00 05")));
  // With the payload appended it decodes as an aliased PUBLISH.
  const auto decoded = decodeWire(out + "data", Version::V5);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Publish>(*decoded).topic, "");
  EXPECT_EQ(std::get<Publish>(*decoded).properties.topicAlias, 5);
}

TEST(PublishHeader, Mqtt311IgnoresPropertyExtras) {
  const Publish p = publish("t", "");
  const std::vector<uint32_t> ids = {1};
  PublishExtras extras;
  extras.topicAlias = 5;
  extras.subscriptionIds = ids;
  extras.messageExpiry = 9;
  std::string out;
  encodePublishHeader(p, extras, 0, Version::V311, out);
  EXPECT_EQ(toHex(out), toHex(bytes("30 03 00 01 't'")));
}

TEST(PublishHeader, SizeCountsAFourByteRemainingLength) {
  const Publish p = publish("t", "");
  std::string out;
  // 3 bytes of topic + 2097150 of payload: a remaining length of 2097153 takes 4 bytes.
  EXPECT_EQ(encodePublishHeader(p, {}, 2097150, Version::V311, out), 1u + 4u + 2097153u);
  EXPECT_EQ(toHex(out), toHex(bytes("30 81 80 80 01 00 01 't'")));
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP ----

PubAck ack(PacketType type, uint16_t id, ReasonCode rc = ReasonCode::Success) {
  PubAck a;
  a.type = type;
  a.packetId = id;
  a.reasonCode = rc;
  return a;
}

TEST(PubAckCodec, Mqtt311AcksAreThePacketIdAlone) {
  EXPECT_ROUND_TRIP(bytes("40 02 00 07"), Version::V311, ack(PacketType::Puback, 7));
  EXPECT_ROUND_TRIP(bytes("50 02 00 07"), Version::V311, ack(PacketType::Pubrec, 7));
  EXPECT_ROUND_TRIP(bytes("62 02 00 07"), Version::V311, ack(PacketType::Pubrel, 7));
  EXPECT_ROUND_TRIP(bytes("70 02 ff ff"), Version::V311, ack(PacketType::Pubcomp, 0xFFFF));
  EXPECT_ROUND_TRIP(bytes("62 02 01 00"), Version::V31, ack(PacketType::Pubrel, 256));
}

TEST(PubAckCodec, Mqtt311EncodingIgnoresReasonCodeAndProperties) {
  PubAck a = ack(PacketType::Puback, 7, ReasonCode::NotAuthorized);
  a.properties.reasonString = "no";
  EXPECT_EQ(toHex(encoded(a, Version::V311)), toHex(bytes("40 02 00 07")));
}

TEST(PubAckCodec, Mqtt5SuccessWithoutPropertiesIsTwoBytes) {
  EXPECT_ROUND_TRIP(bytes("40 02 00 07"), Version::V5, ack(PacketType::Puback, 7));
  EXPECT_ROUND_TRIP(bytes("62 02 00 07"), Version::V5, ack(PacketType::Pubrel, 7));
}

TEST(PubAckCodec, Mqtt5ReasonCodeWithoutPropertiesIsThreeBytes) {
  EXPECT_ROUND_TRIP(bytes("40 03 00 07 10"), Version::V5,
                    ack(PacketType::Puback, 7, ReasonCode::NoMatchingSubscribers));
  EXPECT_ROUND_TRIP(bytes("50 03 00 07 97"), Version::V5,
                    ack(PacketType::Pubrec, 7, ReasonCode::QuotaExceeded));
  EXPECT_ROUND_TRIP(bytes("62 03 00 07 92"), Version::V5,
                    ack(PacketType::Pubrel, 7, ReasonCode::PacketIdentifierNotFound));
  EXPECT_ROUND_TRIP(bytes("70 03 00 07 92"), Version::V5,
                    ack(PacketType::Pubcomp, 7, ReasonCode::PacketIdentifierNotFound));
}

TEST(PubAckCodec, Mqtt5AckWithPropertiesRoundTrips) {
  PubAck a = ack(PacketType::Puback, 7, ReasonCode::NotAuthorized);
  a.properties.reasonString = "acl";
  a.properties.userProperties = {{"k", "v"}};
  EXPECT_ROUND_TRIP(bytes("40 11 00 07 87 0d 1f 00 03 'acl' 26 00 01 'k' 00 01 'v'"), Version::V5,
                    a);
}

TEST(PubAckCodec, Mqtt5SuccessWithPropertiesWritesTheReasonCode) {
  PubAck a = ack(PacketType::Pubcomp, 1);
  a.properties.reasonString = "r";
  EXPECT_ROUND_TRIP(bytes("70 08 00 01 00 04 1f 00 01 'r'"), Version::V5, a);
}

TEST(PubAckCodec, Mqtt5ExplicitSuccessReasonCodeDecodesAndIsWrittenShort) {
  const auto decoded = decodeWire(bytes("40 03 00 07 00"), Version::V5);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(*decoded == Packet(ack(PacketType::Puback, 7)));
  EXPECT_EQ(toHex(encoded(*decoded, Version::V5)), toHex(bytes("40 02 00 07")));
}

TEST(PubAckCodec, Mqtt5EmptyPropertySectionDecodes) {
  const auto decoded = decodeWire(bytes("50 04 00 07 80 00"), Version::V5);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(*decoded == Packet(ack(PacketType::Pubrec, 7, ReasonCode::UnspecifiedError)));
  EXPECT_EQ(toHex(encoded(*decoded, Version::V5)), toHex(bytes("50 03 00 07 80")));
}

TEST(PubAckCodec, PacketIdZeroIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("40 02 00 00"), Version::V311, kProtocolError);
  EXPECT_DECODE_ERROR(bytes("62 02 00 00"), Version::V5, kProtocolError);
}

TEST(PubAckCodec, TruncatedPacketIdIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("40 01 00"), Version::V311, kMalformed);
}

TEST(PubAckCodec, Mqtt311ExtraBytesAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("40 03 00 07 00"), Version::V311, kMalformed);
}

TEST(PubAckCodec, Mqtt5BytesAfterThePropertiesAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("40 05 00 07 00 00 00"), Version::V5, kMalformed);
}

TEST(PubAckCodec, Mqtt5PropertyNotAllowedInAnAckIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("40 07 00 07 00 03 23 00 01"), Version::V5, kMalformed);
}

TEST(PubAckCodec, EncodeAckWritesWhatEncodeWritesForAnAckWithoutProperties) {
  for (Version v : {Version::V31, Version::V311, Version::V5}) {
    for (PacketType t :
         {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
      for (ReasonCode rc : {ReasonCode::Success, ReasonCode::NoMatchingSubscribers,
                            ReasonCode::NotAuthorized, ReasonCode::PacketIdentifierNotFound}) {
        std::string viaPacket, direct;
        encode(ack(t, 0x1234, rc), v, viaPacket);
        encodeAck(t, 0x1234, rc, v, direct);
        EXPECT_EQ(direct, viaPacket)
            << static_cast<int>(v) << " " << packetTypeName(t) << " " << static_cast<int>(rc);
      }
    }
  }
}

TEST(PubAckCodec, ShortAckIsReadAsDecodeReadsIt) {
  for (PacketType t :
       {PacketType::Puback, PacketType::Pubrec, PacketType::Pubrel, PacketType::Pubcomp}) {
    std::string wire;
    encode(ack(t, 0x1234), Version::V5, wire);
    ASSERT_EQ(wire.size(), 4u);
    auto fast = decodeShortAck(static_cast<uint8_t>(wire[0]), std::string_view(wire).substr(2));
    ASSERT_TRUE(fast) << packetTypeName(t);
    EXPECT_EQ(fast->type, t);
    EXPECT_EQ(fast->packetId, 0x1234);
    auto full =
        decode(static_cast<uint8_t>(wire[0]), std::string_view(wire).substr(2), Version::V311);
    ASSERT_TRUE(full);
    EXPECT_EQ(std::get<PubAck>(*full), ack(t, 0x1234));
  }
}

TEST(PubAckCodec, AnythingButAWellFormedShortAckIsLeftToDecode) {
  auto shortAck = [](std::string_view hex) {
    std::string b = bytes(hex);
    return decodeShortAck(static_cast<uint8_t>(b[0]), std::string_view(b).substr(2));
  };
  EXPECT_FALSE(shortAck("40 02 00 00"));        // packet id 0: decode names the error
  EXPECT_FALSE(shortAck("60 02 00 07"));        // PUBREL with flags 0: malformed
  EXPECT_FALSE(shortAck("42 02 00 07"));        // PUBACK with flags 2: malformed
  EXPECT_FALSE(shortAck("40 03 00 07 10"));     // with a reason code
  EXPECT_FALSE(shortAck("40 04 00 07 00 00"));  // with (empty) properties
  EXPECT_FALSE(shortAck("B0 02 00 07"));        // UNSUBACK, the same size
  EXPECT_FALSE(shortAck("30 02 00 00"));        // a PUBLISH
  EXPECT_TRUE(shortAck("62 02 00 07"));         // PUBREL with its flags
}

TEST(PubAckCodec, PubrelWithFlagsZeroIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("60 02 00 07"), Version::V311, kMalformed);
}

TEST(PubAckCodec, PubackWithFlagsTwoIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("42 02 00 07"), Version::V5, kMalformed);
}

}  // namespace
}  // namespace moat::mqtt
