// CONNECT and CONNACK in 3.1, 3.1.1 and 5.0: golden bytes both ways, and each malformed input.
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
constexpr uint8_t kUnsupportedVersion = 0x84;

// ---- CONNECT, 3.1 and 3.1.1 ----

TEST(ConnectCodec, Mqtt311MinimalConnectRoundTrips) {
  Connect c;
  c.version = Version::V311;
  c.cleanStart = true;
  c.keepAlive = 60;
  c.clientId = "abc";
  EXPECT_ROUND_TRIP(bytes("10 0f 00 04 'MQTT' 04 02 00 3c 00 03 'abc'"), Version::V311, c);
}

TEST(ConnectCodec, Mqtt311ConnectWithWillUserNameAndPasswordRoundTrips) {
  Connect c;
  c.version = Version::V311;
  c.cleanStart = true;
  c.keepAlive = 10;
  c.clientId = "id";
  c.will = Will{"w/t", "bye", 1, true, {}};
  c.username = "user";
  c.password = std::string("\x01\x02\x03", 3);
  // flags 0xEE: user name, password, will retain, will QoS 1, will, clean session
  EXPECT_ROUND_TRIP(bytes("10 23 00 04 'MQTT' 04 ee 00 0a 00 02 'id' 00 03 'w/t' 00 03 'bye'"
                          "00 04 'user' 00 03 01 02 03"),
                    Version::V311, c);
}

TEST(ConnectCodec, Mqtt311WillQos2WithoutRetainRoundTrips) {
  Connect c;
  c.version = Version::V311;
  c.cleanStart = false;
  c.clientId = "c";
  c.will = Will{"t", "", 2, false, {}};
  // flags 0x14: will QoS 2, will
  EXPECT_ROUND_TRIP(bytes("10 12 00 04 'MQTT' 04 14 00 00 00 01 'c' 00 01 't' 00 00"),
                    Version::V311, c);
}

TEST(ConnectCodec, Mqtt31ConnectUsesProtocolNameMqisdpAndLevel3) {
  Connect c;
  c.version = Version::V31;
  c.cleanStart = true;
  c.keepAlive = 60;
  c.clientId = "abc";
  c.username = "u";
  c.password = "p";
  EXPECT_ROUND_TRIP(bytes("10 17 00 06 'MQIsdp' 03 c2 00 3c 00 03 'abc' 00 01 'u' 00 01 'p'"),
                    Version::V31, c);
}

TEST(ConnectCodec, ConnectDecodesByItsOwnProtocolLevelWhateverTheConnectionVersion) {
  const auto decoded =
      decodeWire(bytes("10 10 00 04 'MQTT' 05 02 00 3c 00 00 03 'abc'"), Version::V311);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Connect>(*decoded).version, Version::V5);
}

TEST(ConnectCodec, EmptyClientIdIsAcceptedForTheBrokerToDecide) {
  const auto decoded = decodeWire(bytes("10 0c 00 04 'MQTT' 04 02 00 3c 00 00"), Version::V311);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Connect>(*decoded).clientId, "");
}

TEST(ConnectCodec, Mqtt311ConnectEncodingIgnoresPropertiesAndWillProperties) {
  Connect c;
  c.version = Version::V311;
  c.clientId = "abc";
  c.keepAlive = 60;
  c.properties.sessionExpiryInterval = 10;
  c.will = Will{"t", "m", 0, false, {}};
  c.will->properties.willDelayInterval = 5;
  EXPECT_EQ(toHex(encoded(c, Version::V311)),
            toHex(bytes("10 15 00 04 'MQTT' 04 06 00 3c 00 03 'abc' 00 01 't' 00 01 'm'")));
}

// ---- CONNECT, 5.0 ----

TEST(ConnectCodec, Mqtt5MinimalConnectHasAnEmptyPropertySection) {
  Connect c;
  c.version = Version::V5;
  c.keepAlive = 60;
  c.clientId = "abc";
  EXPECT_ROUND_TRIP(bytes("10 10 00 04 'MQTT' 05 02 00 3c 00 00 03 'abc'"), Version::V5, c);
}

TEST(ConnectCodec, Mqtt5ConnectWithEveryConnectAndWillPropertyRoundTrips) {
  Connect c;
  c.version = Version::V5;
  c.cleanStart = false;
  c.keepAlive = 30;
  c.clientId = "dev-1";
  c.properties.sessionExpiryInterval = 3600;
  c.properties.authenticationMethod = "SCRAM-SHA-1";
  c.properties.authenticationData = std::string("\x01\x02", 2);
  c.properties.requestProblemInformation = 0;
  c.properties.requestResponseInformation = 1;
  c.properties.receiveMaximum = 20;
  c.properties.topicAliasMaximum = 10;
  c.properties.userProperties = {{"k", "v"}};
  c.properties.maximumPacketSize = 1048576;
  Will w;
  w.topic = "dev/1/status";
  w.payload = "offline";
  w.qos = 1;
  w.retain = true;
  w.properties.payloadFormatIndicator = 1;
  w.properties.messageExpiryInterval = 60;
  w.properties.contentType = "text/plain";
  w.properties.responseTopic = "r/t";
  w.properties.correlationData = std::string("\xca\xfe", 2);
  w.properties.willDelayInterval = 5;
  w.properties.userProperties = {{"a", "b"}};
  c.will = w;
  c.username = "alice";
  c.password = "secret";
  // Properties appear in ascending identifier order.
  EXPECT_ROUND_TRIP(bytes("10 92 01 00 04 'MQTT' 05 ec 00 1e"
                          "2e"                      // property length 46
                          "11 00 00 0e 10"          // session expiry 3600
                          "15 00 0b 'SCRAM-SHA-1'"  // authentication method
                          "16 00 02 01 02"          // authentication data
                          "17 00"                   // request problem information
                          "19 01"                   // request response information
                          "21 00 14"                // receive maximum 20
                          "22 00 0a"                // topic alias maximum 10
                          "26 00 01 'k' 00 01 'v'"  // user property
                          "27 00 10 00 00"          // maximum packet size
                          "00 05 'dev-1'"           // client id
                          "2b"                      // will property length 43
                          "01 01"                   // payload format indicator
                          "02 00 00 00 3c"          // message expiry 60
                          "03 00 0a 'text/plain'"   // content type
                          "08 00 03 'r/t'"          // response topic
                          "09 00 02 ca fe"          // correlation data
                          "18 00 00 00 05"          // will delay 5
                          "26 00 01 'a' 00 01 'b'"  // user property
                          "00 0c 'dev/1/status' 00 07 'offline'"
                          "00 05 'alice' 00 06 'secret'"),
                    Version::V5, c);
}

TEST(ConnectCodec, Mqtt5AllowsAPasswordWithoutAUserName) {
  Connect c;
  c.version = Version::V5;
  c.clientId = "a";
  c.password = "pw";
  EXPECT_ROUND_TRIP(bytes("10 12 00 04 'MQTT' 05 42 00 00 00 00 01 'a' 00 02 'pw'"), Version::V5,
                    c);
}

TEST(ConnectCodec, EncodeWritesTheVersionAskedForNotTheConnectsVersionField) {
  Connect c;  // version left at its default, V311
  c.clientId = "a";
  EXPECT_EQ(toHex(encoded(c, Version::V5)),
            toHex(bytes("10 0e 00 04 'MQTT' 05 02 00 00 00 00 01 'a'")));
}

// ---- CONNECT, malformed ----

TEST(ConnectCodec, UnknownProtocolNameIsMalformedAndGivesNoVersionHint) {
  const std::string wire = bytes("10 0f 00 04 'MQTX' 04 02 00 3c 00 03 'abc'");
  EXPECT_DECODE_ERROR(wire, Version::V311, kMalformed);
  EXPECT_EQ(connectVersionHint(std::string_view(wire).substr(2)), std::nullopt);
}

TEST(ConnectCodec, KnownProtocolNameWithUnknownLevelIsUnsupportedProtocolVersion) {
  const std::string wire = bytes("10 0f 00 04 'MQTT' 06 02 00 3c 00 03 'abc'");
  EXPECT_DECODE_ERROR(wire, Version::V311, kUnsupportedVersion);
  EXPECT_EQ(connectVersionHint(std::string_view(wire).substr(2)), std::nullopt);
}

TEST(ConnectCodec, MqttNameWithLevel3IsUnsupportedProtocolVersion) {
  EXPECT_DECODE_ERROR(bytes("10 0f 00 04 'MQTT' 03 02 00 3c 00 03 'abc'"), Version::V311,
                      kUnsupportedVersion);
}

TEST(ConnectCodec, MqisdpNameWithLevel4IsUnsupportedProtocolVersion) {
  EXPECT_DECODE_ERROR(bytes("10 11 00 06 'MQIsdp' 04 02 00 3c 00 03 'abc'"), Version::V311,
                      kUnsupportedVersion);
}

TEST(ConnectCodec, VersionHintReadsTheLevelOfAConnectThatFailsLater) {
  // A 5.0 CONNECT whose property section is cut short: the CONNACK can still be written in 5.0.
  EXPECT_EQ(connectVersionHint(bytes("00 04 'MQTT' 05 02 00 3c 05")), Version::V5);
  EXPECT_EQ(connectVersionHint(bytes("00 04 'MQTT' 04")), Version::V311);
  EXPECT_EQ(connectVersionHint(bytes("00 06 'MQIsdp' 03")), Version::V31);
  EXPECT_EQ(connectVersionHint(bytes("00 04 'MQTT'")), std::nullopt);
  EXPECT_EQ(connectVersionHint(bytes("00 04 'MQ'")), std::nullopt);
}

TEST(ConnectCodec, ReservedConnectFlagIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 0f 00 04 'MQTT' 04 03 00 3c 00 03 'abc'"), Version::V311,
                      kMalformed);
}

TEST(ConnectCodec, WillQosWithoutWillFlagIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 0f 00 04 'MQTT' 04 0a 00 3c 00 03 'abc'"), Version::V311,
                      kMalformed);
}

TEST(ConnectCodec, WillRetainWithoutWillFlagIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 10 00 04 'MQTT' 05 22 00 3c 00 00 03 'abc'"), Version::V5,
                      kMalformed);
}

TEST(ConnectCodec, WillQos3IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 15 00 04 'MQTT' 04 1e 00 3c 00 03 'abc' 00 01 't' 00 01 'm'"),
                      Version::V311, kMalformed);
}

TEST(ConnectCodec, Mqtt311PasswordWithoutUserNameIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 13 00 04 'MQTT' 04 42 00 3c 00 03 'abc' 00 02 'pw'"), Version::V311,
                      kMalformed);
}

TEST(ConnectCodec, Mqtt31PasswordWithoutUserNameIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 15 00 06 'MQIsdp' 03 42 00 3c 00 03 'abc' 00 02 'pw'"),
                      Version::V31, kMalformed);
}

TEST(ConnectCodec, ClientIdThatIsNotUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 0f 00 04 'MQTT' 04 02 00 3c 00 03 'a' ff 'c'"), Version::V311,
                      kMalformed);
}

TEST(ConnectCodec, UserNameThatIsNotUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 14 00 04 'MQTT' 04 82 00 3c 00 03 'abc' 00 03 'a' 00 'b'"),
                      Version::V311, kMalformed);
}

TEST(ConnectCodec, WillTopicThatIsNotUtf8IsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 16 00 04 'MQTT' 04 06 00 3c 00 03 'abc' 00 02 ed a0 00 01 'm'"),
                      Version::V311, kMalformed);
}

TEST(ConnectCodec, PasswordIsBinaryAndNotUtf8Checked) {
  const auto decoded = decodeWire(
      bytes("10 17 00 04 'MQTT' 04 c2 00 3c 00 03 'abc' 00 01 'u' 00 03 00 ff c0"), Version::V311);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Connect>(*decoded).password, std::string("\x00\xff\xc0", 3));
}

TEST(ConnectCodec, MissingUserNameAnnouncedByItsFlagIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 0f 00 04 'MQTT' 04 82 00 3c 00 03 'abc'"), Version::V311,
                      kMalformed);
}

TEST(ConnectCodec, MissingWillAnnouncedByItsFlagIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 0f 00 04 'MQTT' 04 06 00 3c 00 03 'abc'"), Version::V311,
                      kMalformed);
}

TEST(ConnectCodec, BytesAfterTheLastFieldAreMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 10 00 04 'MQTT' 04 02 00 3c 00 03 'abc' 00"), Version::V311,
                      kMalformed);
}

TEST(ConnectCodec, TruncatedKeepAliveIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("10 09 00 04 'MQTT' 04 02 00"), Version::V311, kMalformed);
}

TEST(ConnectCodec, Mqtt311ConnectHasNoWillProperties) {
  // In 3.1.1 the byte after the client id starts the will topic, not a property length.
  const auto decoded = decodeWire(
      bytes("10 15 00 04 'MQTT' 04 06 00 3c 00 03 'abc' 00 01 't' 00 01 'm'"), Version::V311);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(std::get<Connect>(*decoded).will->topic, "t");
}

TEST(ConnectCodec, Mqtt5WillPropertyNotAllowedInAWillIsMalformed) {
  // Session Expiry Interval (0x11) belongs to CONNECT, not to the will.
  EXPECT_DECODE_ERROR(bytes("10 1c 00 04 'MQTT' 05 06 00 3c 00 00 03 'abc' 05 11 00 00 00 01"
                            "00 01 't' 00 01 'm'"),
                      Version::V5, kMalformed);
}

TEST(ConnectCodec, Mqtt5ConnectPropertyNotAllowedInConnectIsMalformed) {
  // Will Delay Interval (0x18) belongs to the will, not to CONNECT.
  EXPECT_DECODE_ERROR(bytes("10 15 00 04 'MQTT' 05 02 00 3c 05 18 00 00 00 01 00 03 'abc'"),
                      Version::V5, kMalformed);
}

TEST(ConnectCodec, Mqtt5AuthenticationDataWithoutMethodIsAProtocolError) {
  EXPECT_DECODE_ERROR(bytes("10 14 00 04 'MQTT' 05 02 00 3c 04 16 00 01 'x' 00 03 'abc'"),
                      Version::V5, kProtocolError);
}

// ---- CONNACK ----

TEST(ConnackCodec, Mqtt311AcceptedWithSessionPresentRoundTrips) {
  Connack c;
  c.sessionPresent = true;
  EXPECT_ROUND_TRIP(bytes("20 02 01 00"), Version::V311, c);
}

TEST(ConnackCodec, Mqtt311ReturnCodesMapToReasonCodes) {
  const std::pair<uint8_t, ReasonCode> cases[] = {
      {1, ReasonCode::UnsupportedProtocolVersion},
      {2, ReasonCode::ClientIdentifierNotValid},
      {3, ReasonCode::ServerUnavailable},
      {4, ReasonCode::BadUserNameOrPassword},
      {5, ReasonCode::NotAuthorized},
  };
  for (const auto& [returnCode, reason] : cases) {
    Connack c;
    c.reasonCode = reason;
    std::string wire = bytes("20 02 00");
    wire.push_back(static_cast<char>(returnCode));
    EXPECT_ROUND_TRIP(wire, Version::V311, c);
  }
}

TEST(ConnackCodec, Mqtt311EncodingMapsEveryRefusalOntoAReturnCode) {
  const std::pair<ReasonCode, uint8_t> cases[] = {
      {ReasonCode::Banned, 5},
      {ReasonCode::ServerBusy, 3},
      {ReasonCode::ServerShuttingDown, 3},
      {ReasonCode::BadAuthenticationMethod, 3},
      {ReasonCode::QuotaExceeded, 3},
      {ReasonCode::MalformedPacket, 3},
  };
  for (const auto& [reason, returnCode] : cases) {
    Connack c;
    c.reasonCode = reason;
    std::string expected = bytes("20 02 00");
    expected.push_back(static_cast<char>(returnCode));
    EXPECT_EQ(toHex(encoded(c, Version::V311)), toHex(expected)) << code(reason);
  }
}

TEST(ConnackCodec, Mqtt31HasNoSessionPresentFlag) {
  Connack c;
  c.sessionPresent = true;
  c.reasonCode = ReasonCode::ClientIdentifierNotValid;
  EXPECT_EQ(toHex(encoded(c, Version::V31)), toHex(bytes("20 02 00 02")));
  // The first byte is reserved and unused in 3.1: whatever it holds is ignored.
  const auto decoded = decodeWire(bytes("20 02 01 00"), Version::V31);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_FALSE(std::get<Connack>(*decoded).sessionPresent);
}

TEST(ConnackCodec, Mqtt311ReservedReturnCodeIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("20 02 00 06"), Version::V311, kMalformed);
}

TEST(ConnackCodec, ReservedAcknowledgeFlagIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("20 02 02 00"), Version::V311, kMalformed);
  EXPECT_DECODE_ERROR(bytes("20 03 80 00 00"), Version::V5, kMalformed);
}

TEST(ConnackCodec, Mqtt311ConnackWithExtraBytesIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("20 03 00 00 00"), Version::V311, kMalformed);
}

TEST(ConnackCodec, Mqtt5MinimalConnackRoundTrips) {
  EXPECT_ROUND_TRIP(bytes("20 03 00 00 00"), Version::V5, Connack{});
}

TEST(ConnackCodec, Mqtt5ConnackWithoutPropertyLengthIsMalformed) {
  EXPECT_DECODE_ERROR(bytes("20 02 00 00"), Version::V5, kMalformed);
}

TEST(ConnackCodec, Mqtt5ConnackWithEveryConnackPropertyRoundTrips) {
  Connack c;
  c.sessionPresent = true;
  Properties& p = c.properties;
  p.sessionExpiryInterval = 120;
  p.assignedClientIdentifier = "auto-1";
  p.serverKeepAlive = 30;
  p.authenticationMethod = "m";
  p.authenticationData = "d";
  p.responseInformation = "ri";
  p.serverReference = "other";
  p.reasonString = "ok";
  p.receiveMaximum = 100;
  p.topicAliasMaximum = 16;
  p.maximumQos = 1;
  p.retainAvailable = 0;
  p.userProperties = {{"x", "1"}, {"x", "2"}};
  p.maximumPacketSize = 65536;
  p.wildcardSubscriptionAvailable = 1;
  p.subscriptionIdentifierAvailable = 0;
  p.sharedSubscriptionAvailable = 1;
  EXPECT_ROUND_TRIP(bytes("20 51 01 00 4e"
                          "11 00 00 00 78"          // session expiry 120
                          "12 00 06 'auto-1'"       // assigned client identifier
                          "13 00 1e"                // server keep alive 30
                          "15 00 01 'm'"            // authentication method
                          "16 00 01 'd'"            // authentication data
                          "1a 00 02 'ri'"           // response information
                          "1c 00 05 'other'"        // server reference
                          "1f 00 02 'ok'"           // reason string
                          "21 00 64"                // receive maximum 100
                          "22 00 10"                // topic alias maximum 16
                          "24 01"                   // maximum QoS 1
                          "25 00"                   // retain available 0
                          "26 00 01 'x' 00 01 '1'"  // user property
                          "26 00 01 'x' 00 01 '2'"  // user property, same key
                          "27 00 01 00 00"          // maximum packet size 65536
                          "28 01 29 00 2a 01"),     // wildcard, sub ids, shared
                    Version::V5, c);
}

TEST(ConnackCodec, Mqtt5RefusalKeepsItsReasonCode) {
  Connack c;
  c.reasonCode = ReasonCode::BadAuthenticationMethod;
  c.properties.reasonString = "no";
  EXPECT_ROUND_TRIP(bytes("20 08 00 8c 05 1f 00 02 'no'"), Version::V5, c);
}

TEST(ConnackCodec, Mqtt5ConnackPropertyNotAllowedInConnackIsMalformed) {
  // Topic Alias (0x23) is a PUBLISH property.
  EXPECT_DECODE_ERROR(bytes("20 06 00 00 03 23 00 01"), Version::V5, kMalformed);
}

}  // namespace
}  // namespace moat::mqtt
