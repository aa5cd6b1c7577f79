// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT and AUTH.
#include <gtest/gtest.h>

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

TopicSubscription sub(std::string filter, uint8_t qos) {
  TopicSubscription t;
  t.filter = std::move(filter);
  t.options.qos = qos;
  return t;
}

// ---- SUBSCRIBE ----

TEST(SubscribeCodec, Mqtt311SubscribeWithTwoFiltersRoundTrips) {
  Subscribe s;
  s.packetId = 10;
  s.topics = {sub("a/+", 1), sub("b/#", 2)};
  EXPECT_ROUND_TRIP(bytes("82 0e 00 0a 00 03 'a/+' 01 00 03 'b/#' 02"), Version::V311, s);
  EXPECT_ROUND_TRIP(bytes("82 0e 00 0a 00 03 'a/+' 01 00 03 'b/#' 02"), Version::V31, s);
}

TEST(SubscribeCodec, Mqtt5SubscribeWithOptionsAndSubscriptionIdRoundTrips) {
  Subscribe s;
  s.packetId = 1;
  s.properties.subscriptionIdentifiers = {16384};
  s.properties.userProperties = {{"k", "v"}};
  TopicSubscription t = sub("$share/g/x", 2);
  t.options.noLocal = false;
  t.options.retainAsPublished = true;
  t.options.retainHandling = 2;
  TopicSubscription u = sub("y", 0);
  u.options.noLocal = true;
  u.options.retainHandling = 1;
  s.topics = {t, u};
  EXPECT_ROUND_TRIP(bytes("82 1f 00 01 0b 0b 80 80 01 26 00 01 'k' 00 01 'v'"
                          "00 0a '$share/g/x' 2a"  // QoS 2, retain as published, handling 2
                          "00 01 'y' 14"),         // QoS 0, no local, handling 1
                    Version::V5, s);
}

TEST(SubscribeCodec, Mqtt311EncodingWritesOnlyTheQosOfTheOptions) {
  Subscribe s;
  s.packetId = 2;
  TopicSubscription t = sub("t", 1);
  t.options.noLocal = true;
  t.options.retainHandling = 2;
  s.properties.subscriptionIdentifiers = {5};
  s.topics = {t};
  EXPECT_EQ(toHex(encoded(s, Version::V311)), toHex(bytes("82 06 00 02 00 01 't' 01")));
}

TEST(SubscribeCodec, WildcardSyntaxIsLeftToTheBroker) {
  const auto decoded = decodeWire(bytes("82 0a 00 01 00 05 'a/#/b' 00"), Version::V311);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Subscribe>(*decoded).topics.at(0).filter, "a/#/b");
}

TEST(SubscribeCodec, EmptyFilterIsLeftToTheBroker) {
  const auto decoded = decodeWire(bytes("82 05 00 01 00 00 00"), Version::V311);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Subscribe>(*decoded).topics.at(0).filter, "");
}

TEST(SubscribeCodec, PacketIdZeroIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("82 06 00 00 00 01 't' 00"), Version::V311, kProtocolError);
}

TEST(SubscribeCodec, NoTopicFilterIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("82 02 00 01"), Version::V311, kProtocolError);
  EXPECT_DECODE_ERROR(bytes("82 03 00 01 00"), Version::V5, kProtocolError);
}

TEST(SubscribeCodec, FixedHeaderFlagsOtherThanTwoAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("80 06 00 01 00 01 't' 00"), Version::V311, kMalformed);
}

TEST(SubscribeCodec, Mqtt5ReservedOptionBitsAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("82 07 00 01 00 00 01 't' 40"), Version::V5, kMalformed);
  EXPECT_DECODE_ERROR(bytes("82 07 00 01 00 00 01 't' 80"), Version::V5, kMalformed);
}

TEST(SubscribeCodec, Mqtt5Qos3IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("82 07 00 01 00 00 01 't' 03"), Version::V5, kMalformed);
}

TEST(SubscribeCodec, Mqtt5RetainHandling3IsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("82 07 00 01 00 00 01 't' 30"), Version::V5, kProtocolError);
}

TEST(SubscribeCodec, Mqtt311OptionBitsAboveQosAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("82 06 00 01 00 01 't' 04"), Version::V311, kMalformed);
}

TEST(SubscribeCodec, Mqtt311Qos3IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("82 06 00 01 00 01 't' 03"), Version::V311, kMalformed);
}

TEST(SubscribeCodec, FilterThatIsNotUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("82 06 00 01 00 01 80 00"), Version::V311, kMalformed);
}

TEST(SubscribeCodec, MissingOptionsByteIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("82 05 00 01 00 01 't'"), Version::V311, kMalformed);
}

TEST(SubscribeCodec, Mqtt5TwoSubscriptionIdentifiersAreAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("82 0b 00 01 04 0b 01 0b 02 00 01 't' 00"), Version::V5,
                      kProtocolError);
}

TEST(SubscribeCodec, Mqtt5SubscriptionIdentifierZeroIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("82 09 00 01 02 0b 00 00 01 't' 00"), Version::V5, kProtocolError);
}

TEST(SubscribeCodec, Mqtt5PropertyNotAllowedInSubscribeIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("82 0b 00 01 04 1f 00 01 'r' 00 01 't' 00"), Version::V5, kMalformed);
}

// ---- SUBACK ----

TEST(SubackCodec, Mqtt311SubackRoundTrips) {
  Suback s;
  s.packetId = 10;
  s.reasonCodes = {ReasonCode::GrantedQos1, ReasonCode::UnspecifiedError, ReasonCode::Success,
                   ReasonCode::GrantedQos2};
  EXPECT_ROUND_TRIP(bytes("90 06 00 0a 01 80 00 02"), Version::V311, s);
}

TEST(SubackCodec, Mqtt311EncodingWritesEveryFailureAs0x80) {
  Suback s;
  s.packetId = 1;
  s.reasonCodes = {ReasonCode::TopicFilterInvalid, ReasonCode::NotAuthorized,
                   ReasonCode::GrantedQos1};
  s.properties.reasonString = "ignored";
  EXPECT_EQ(toHex(encoded(s, Version::V311)), toHex(bytes("90 05 00 01 80 80 01")));
}

TEST(SubackCodec, Mqtt5SubackWithReasonStringRoundTrips) {
  Suback s;
  s.packetId = 10;
  s.properties.reasonString = "no";
  s.reasonCodes = {ReasonCode::Success, ReasonCode::TopicFilterInvalid,
                   ReasonCode::SharedSubscriptionsNotSupported};
  EXPECT_ROUND_TRIP(bytes("90 0b 00 0a 05 1f 00 02 'no' 00 8f 9e"), Version::V5, s);
}

TEST(SubackCodec, Mqtt311ReservedReturnCodeIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("90 03 00 01 03"), Version::V311, kMalformed);
  EXPECT_DECODE_ERROR(bytes("90 03 00 01 8f"), Version::V311, kMalformed);
}

TEST(SubackCodec, SubackWithoutReasonCodesIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("90 02 00 01"), Version::V311, kProtocolError);
  EXPECT_DECODE_ERROR(bytes("90 03 00 01 00"), Version::V5, kProtocolError);
}

TEST(SubackCodec, PacketIdZeroIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("90 03 00 00 00"), Version::V311, kProtocolError);
}

// ---- UNSUBSCRIBE ----

TEST(UnsubscribeCodec, Mqtt311UnsubscribeRoundTrips) {
  Unsubscribe u;
  u.packetId = 11;
  u.topics = {"a/+", "b/#"};
  EXPECT_ROUND_TRIP(bytes("a2 0c 00 0b 00 03 'a/+' 00 03 'b/#'"), Version::V311, u);
}

TEST(UnsubscribeCodec, Mqtt5UnsubscribeWithUserPropertyRoundTrips) {
  Unsubscribe u;
  u.packetId = 11;
  u.properties.userProperties = {{"k", "v"}};
  u.topics = {"a"};
  EXPECT_ROUND_TRIP(bytes("a2 0d 00 0b 07 26 00 01 'k' 00 01 'v' 00 01 'a'"), Version::V5, u);
}

TEST(UnsubscribeCodec, PacketIdZeroIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("a2 05 00 00 00 01 'a'"), Version::V311, kProtocolError);
}

TEST(UnsubscribeCodec, NoTopicFilterIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("a2 02 00 01"), Version::V311, kProtocolError);
  EXPECT_DECODE_ERROR(bytes("a2 03 00 01 00"), Version::V5, kProtocolError);
}

TEST(UnsubscribeCodec, FixedHeaderFlagsOtherThanTwoAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("a0 05 00 01 00 01 'a'"), Version::V311, kMalformed);
}

TEST(UnsubscribeCodec, FilterThatIsNotUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("a2 06 00 01 00 02 ed bf"), Version::V311, kMalformed);
}

TEST(UnsubscribeCodec, TruncatedFilterIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("a2 05 00 01 00 05 'a'"), Version::V311, kMalformed);
}

// ---- UNSUBACK ----

TEST(UnsubackCodec, Mqtt311UnsubackIsThePacketIdAlone) {
  Unsuback u;
  u.packetId = 11;
  EXPECT_ROUND_TRIP(bytes("b0 02 00 0b"), Version::V311, u);
  u.reasonCodes = {ReasonCode::NoSubscriptionExisted};
  u.properties.reasonString = "x";
  EXPECT_EQ(toHex(encoded(u, Version::V311)), toHex(bytes("b0 02 00 0b")));
}

TEST(UnsubackCodec, Mqtt5UnsubackRoundTrips) {
  Unsuback u;
  u.packetId = 11;
  u.reasonCodes = {ReasonCode::Success, ReasonCode::NoSubscriptionExisted};
  EXPECT_ROUND_TRIP(bytes("b0 05 00 0b 00 00 11"), Version::V5, u);
  u.properties.reasonString = "r";
  EXPECT_ROUND_TRIP(bytes("b0 09 00 0b 04 1f 00 01 'r' 00 11"), Version::V5, u);
}

TEST(UnsubackCodec, Mqtt311ExtraBytesAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("b0 03 00 0b 00"), Version::V311, kMalformed);
}

TEST(UnsubackCodec, Mqtt5UnsubackWithoutReasonCodesIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("b0 03 00 0b 00"), Version::V5, kProtocolError);
}

// ---- PINGREQ, PINGRESP ----

TEST(PingCodec, PingreqAndPingrespAreTwoBytesInEveryVersion) {
  for (Version v : {Version::V31, Version::V311, Version::V5}) {
    EXPECT_ROUND_TRIP(bytes("c0 00"), v, Pingreq{});
    EXPECT_ROUND_TRIP(bytes("d0 00"), v, Pingresp{});
  }
}

TEST(PingCodec, PingWithABodyIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("c0 01 00"), Version::V311, kMalformed);
  EXPECT_DECODE_ERROR(bytes("d0 01 00"), Version::V5, kMalformed);
}

TEST(PingCodec, PingWithFlagsIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("c1 00"), Version::V311, kMalformed);
  EXPECT_DECODE_ERROR(bytes("d8 00"), Version::V5, kMalformed);
}

// ---- DISCONNECT ----

TEST(DisconnectCodec, Mqtt311DisconnectIsTwoBytes) {
  EXPECT_ROUND_TRIP(bytes("e0 00"), Version::V311, Disconnect{});
  Disconnect d;
  d.reasonCode = ReasonCode::DisconnectWithWill;
  EXPECT_EQ(toHex(encoded(d, Version::V311)), toHex(bytes("e0 00")));
}

TEST(DisconnectCodec, Mqtt311DisconnectWithABodyIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("e0 01 00"), Version::V311, kMalformed);
}

TEST(DisconnectCodec, Mqtt5NormalDisconnectWithoutPropertiesIsTwoBytes) {
  EXPECT_ROUND_TRIP(bytes("e0 00"), Version::V5, Disconnect{});
}

TEST(DisconnectCodec, Mqtt5ReasonCodeWithoutPropertiesIsOneByte) {
  Disconnect d;
  d.reasonCode = ReasonCode::DisconnectWithWill;
  EXPECT_ROUND_TRIP(bytes("e0 01 04"), Version::V5, d);
}

TEST(DisconnectCodec, Mqtt5DisconnectWithPropertiesRoundTrips) {
  Disconnect d;
  d.reasonCode = ReasonCode::ServerMoved;
  d.properties.sessionExpiryInterval = 0;
  d.properties.serverReference = "b:1883";
  d.properties.reasonString = "move";
  d.properties.userProperties = {{"k", "v"}};
  EXPECT_ROUND_TRIP(bytes("e0 1e 9d 1c 11 00 00 00 00 1c 00 06 'b:1883' 1f 00 04 'move'"
                          "26 00 01 'k' 00 01 'v'"),
                    Version::V5, d);
}

TEST(DisconnectCodec, Mqtt5ExplicitNormalDisconnectDecodesAndIsWrittenShort) {
  const auto decoded = decodeWire(bytes("e0 02 00 00"), Version::V5);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(*decoded == Packet(Disconnect{}));
  EXPECT_EQ(toHex(encoded(*decoded, Version::V5)), toHex(bytes("e0 00")));
}

TEST(DisconnectCodec, Mqtt5PropertyNotAllowedInDisconnectIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("e0 05 00 03 21 00 01"), Version::V5, kMalformed);
}

TEST(DisconnectCodec, Mqtt5BytesAfterThePropertiesAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("e0 03 00 00 00"), Version::V5, kMalformed);
}

TEST(DisconnectCodec, FlagsAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("e2 00"), Version::V5, kMalformed);
}

// ---- AUTH ----

TEST(AuthCodec, Mqtt5SuccessWithoutPropertiesIsTwoBytes) {
  EXPECT_ROUND_TRIP(bytes("f0 00"), Version::V5, Auth{});
}

TEST(AuthCodec, Mqtt5ReasonCodeWithoutPropertiesIsOneByte) {
  Auth a;
  a.reasonCode = ReasonCode::ReAuthenticate;
  EXPECT_ROUND_TRIP(bytes("f0 01 19"), Version::V5, a);
}

TEST(AuthCodec, Mqtt5ContinueAuthenticationWithMethodAndDataRoundTrips) {
  Auth a;
  a.reasonCode = ReasonCode::ContinueAuthentication;
  a.properties.authenticationMethod = "SCRAM-SHA-256";
  a.properties.authenticationData = std::string("\x00\x01\x02", 3);
  a.properties.reasonString = "r";
  EXPECT_ROUND_TRIP(bytes("f0 1c 18 1a 15 00 0d 'SCRAM-SHA-256' 16 00 03 00 01 02 1f 00 01 'r'"),
                    Version::V5, a);
}

TEST(AuthCodec, AuthBeforeMqtt5IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("f0 00"), Version::V311, kMalformed);
  EXPECT_DECODE_ERROR(bytes("f0 00"), Version::V31, kMalformed);
}

TEST(AuthCodec, AuthWithFlagsIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("f1 00"), Version::V5, kMalformed);
}

TEST(AuthCodec, Mqtt5PropertyNotAllowedInAuthIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("f0 07 18 05 11 00 00 00 01"), Version::V5, kMalformed);
}

}  // namespace
}  // namespace moat::mqtt
