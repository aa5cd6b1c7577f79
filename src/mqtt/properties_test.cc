// The 5.0 property codec: which property goes where (spec table 2-4), duplicates, value ranges,
// encodings, and the order the encoder writes them in.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "mqtt/codec_test_util.h"
#include "mqtt/properties_codec.h"

namespace moat::mqtt {
namespace {

using testing::bytes;
using testing::toHex;

constexpr uint8_t kMalformed = 0x81;
constexpr uint8_t kProtocolError = 0x82;

using S = PropertyScope;

// Reads one property section (length included) for `scope`.
Result<Properties> read(std::string_view section, PropertyScope scope) {
  wire::Reader r(section);
  Properties p;
  if (auto ok = readProperties(r, scope, p); !ok) return tl::unexpected(ok.error());
  if (!r.empty()) return fail(0, "bytes left after the property section");
  return p;
}

std::string write(const Properties& p, PropertyScope scope) {
  std::string out;
  wire::StringSink sink(out);
  writeProperties(p, scope, sink);
  return out;
}

void expectReadError(std::string_view section, PropertyScope scope, uint8_t code) {
  const auto p = read(section, scope);
  ASSERT_FALSE(p) << "accepted " << toHex(section);
  EXPECT_EQ(p.error().code, code) << p.error().message;
  if (std::getenv("MOAT_SHOW_DECODE_ERRORS") != nullptr) {
    std::printf("    refused (0x%02X): %s\n", p.error().code, p.error().message.c_str());
  }
}

TEST(PropertyTable, EveryPropertyIsAllowedExactlyWhereSpecTable2_4SaysSo) {
  // Transcribed from the spec, independently of the codec's own table.
  const std::vector<std::pair<uint8_t, std::set<S>>> table = {
      {0x01, {S::Publish, S::Will}},
      {0x02, {S::Publish, S::Will}},
      {0x03, {S::Publish, S::Will}},
      {0x08, {S::Publish, S::Will}},
      {0x09, {S::Publish, S::Will}},
      {0x0B, {S::Publish, S::Subscribe}},
      {0x11, {S::Connect, S::Connack, S::Disconnect}},
      {0x12, {S::Connack}},
      {0x13, {S::Connack}},
      {0x15, {S::Connect, S::Connack, S::Auth}},
      {0x16, {S::Connect, S::Connack, S::Auth}},
      {0x17, {S::Connect}},
      {0x18, {S::Will}},
      {0x19, {S::Connect}},
      {0x1A, {S::Connack}},
      {0x1C, {S::Connack, S::Disconnect}},
      {0x1F, {S::Connack, S::PubAck, S::Suback, S::Unsuback, S::Disconnect, S::Auth}},
      {0x21, {S::Connect, S::Connack}},
      {0x22, {S::Connect, S::Connack}},
      {0x23, {S::Publish}},
      {0x24, {S::Connack}},
      {0x25, {S::Connack}},
      {0x26,
       {S::Connect, S::Will, S::Connack, S::Publish, S::PubAck, S::Subscribe, S::Suback,
        S::Unsubscribe, S::Unsuback, S::Disconnect, S::Auth}},
      {0x27, {S::Connect, S::Connack}},
      {0x28, {S::Connack}},
      {0x29, {S::Connack}},
      {0x2A, {S::Connack}},
  };
  const S scopes[] = {S::Connect,  S::Will,       S::Connack, S::Publish,
                      S::PubAck,   S::Subscribe,  S::Suback,  S::Unsubscribe,
                      S::Unsuback, S::Disconnect, S::Auth};
  for (int id = 0; id < 256; ++id) {
    std::set<S> expected;
    for (const auto& [rowId, rowScopes] : table) {
      if (rowId == id) expected = rowScopes;
    }
    for (S scope : scopes) {
      EXPECT_EQ(propertyAllowed(scope, static_cast<uint8_t>(id)), expected.count(scope) == 1)
          << "property 0x" << std::hex << id << " scope " << static_cast<int>(scope);
    }
  }
}

TEST(PropertyCodec, EmptySectionIsOneZeroByte) {
  const auto p = read(bytes("00"), S::Publish);
  ASSERT_TRUE(p);
  EXPECT_TRUE(*p == Properties{});
  EXPECT_EQ(toHex(write(Properties{}, S::Publish)), "00");
}

TEST(PropertyCodec, EncoderWritesAscendingIdentifiersWhateverTheInputOrder) {
  const auto p = read(bytes("0e 26 00 01 'k' 00 01 'v' 23 00 02 0b 05 01 01"), S::Publish);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->topicAlias, 2);
  EXPECT_EQ(p->subscriptionIdentifiers, std::vector<uint32_t>{5});
  EXPECT_EQ(toHex(write(*p, S::Publish)),
            toHex(bytes("0e 01 01 0b 05 23 00 02 26 00 01 'k' 00 01 'v'")));
}

TEST(PropertyCodec, UserPropertiesKeepTheirOrderAndDuplicates) {
  const std::string section =
      bytes("13 26 00 01 'b' 00 00 26 00 01 'a' 00 00 26 00 01 'b' 00 01 'x'");
  const auto p = read(section, S::Unsubscribe);
  ASSERT_TRUE(p) << p.error().message;
  const std::vector<UserProperty> expected = {{"b", ""}, {"a", ""}, {"b", "x"}};
  EXPECT_EQ(p->userProperties, expected);
  EXPECT_EQ(toHex(write(*p, S::Unsubscribe)), toHex(section));
}

TEST(PropertyCodec, PublishMayCarrySeveralSubscriptionIdentifiersInOrder) {
  const std::string section = bytes("09 0b 07 0b ff ff ff 7f 0b 01");
  const auto p = read(section, S::Publish);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->subscriptionIdentifiers, (std::vector<uint32_t>{7, 268435455, 1}));
  EXPECT_EQ(toHex(write(*p, S::Publish)), toHex(section));
}

TEST(PropertyCodec, EncoderLeavesOutPropertiesTheScopeCannotCarry) {
  Properties p;
  p.reasonString = "r";
  p.topicAlias = 1;
  p.sessionExpiryInterval = 2;
  EXPECT_EQ(toHex(write(p, S::PubAck)), toHex(bytes("04 1f 00 01 'r'")));
  EXPECT_EQ(toHex(write(p, S::Unsubscribe)), "00");
}

TEST(PropertyCodec, FourByteIntegersAreBigEndian) {
  const auto p = read(bytes("05 02 01 02 03 04"), S::Publish);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->messageExpiryInterval, 0x01020304u);
}

TEST(PropertyCodec, BinaryPropertiesAreNotUtf8Checked) {
  const auto p = read(bytes("09 09 00 02 ff 00 16 00 01 c0"), S::Will);
  ASSERT_FALSE(p);  // Authentication Data is not a will property...
  EXPECT_EQ(p.error().code, kMalformed);
  const auto q = read(bytes("05 09 00 02 ff 00"), S::Will);
  ASSERT_TRUE(q) << q.error().message;  // ...but Correlation Data is, and any bytes go.
  EXPECT_EQ(q->correlationData, std::string("\xff\x00", 2));
  const auto a = read(bytes("09 15 00 01 'm' 16 00 02 00 c0"), S::Auth);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->authenticationData, std::string("\x00\xc0", 2));
}

TEST(PropertyCodec, TopicAliasZeroIsAcceptedForTheBrokerToRefuse) {
  const auto p = read(bytes("03 23 00 00"), S::Publish);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->topicAlias, 0);
}

// ---- malformed ----

TEST(PropertyCodec, NonMinimalPropertyLengthIsMalformed) {
  expectReadError(bytes("80 00"), S::Publish, kMalformed);
  expectReadError(bytes("82 00 01 01"), S::Publish, kMalformed);
}

TEST(PropertyCodec, PropertyLengthLongerThanThePacketIsMalformed) {
  expectReadError(bytes("05 01 01"), S::Publish, kMalformed);
}

TEST(PropertyCodec, PropertyLengthOfFiveBytesIsMalformed) {
  expectReadError(bytes("80 80 80 80 01"), S::Publish, kMalformed);
}

TEST(PropertyCodec, UnknownIdentifierIsMalformed) {
  expectReadError(bytes("02 7f 00"), S::Publish, kMalformed);
  expectReadError(bytes("02 00 00"), S::Publish, kMalformed);
  expectReadError(bytes("02 04 00"), S::Publish, kMalformed);
  // A multi-byte identifier can only be an unknown one.
  expectReadError(bytes("03 81 00 00"), S::Publish, kMalformed);
}

TEST(PropertyCodec, PropertyOutsideItsScopeIsMalformed) {
  expectReadError(bytes("03 21 00 01"), S::Publish, kMalformed);        // Receive Maximum
  expectReadError(bytes("02 01 01"), S::Connect, kMalformed);           // Payload Format Indicator
  expectReadError(bytes("05 18 00 00 00 01"), S::Connect, kMalformed);  // Will Delay Interval
  expectReadError(bytes("02 0b 01"), S::Unsubscribe, kMalformed);       // Subscription Identifier
}

TEST(PropertyCodec, TruncatedValueIsMalformed) {
  expectReadError(bytes("03 02 00 00"), S::Publish, kMalformed);         // 4-byte integer
  expectReadError(bytes("02 23 00"), S::Publish, kMalformed);            // 2-byte integer
  expectReadError(bytes("01 01"), S::Publish, kMalformed);               // byte
  expectReadError(bytes("04 03 00 05 'a'"), S::Publish, kMalformed);     // string
  expectReadError(bytes("05 26 00 01 'k' 00"), S::Publish, kMalformed);  // second of a pair
  expectReadError(bytes("02 0b 80"), S::Publish, kMalformed);            // varint
}

TEST(PropertyCodec, DuplicatePropertyIsAProtocolError) {
  expectReadError(bytes("04 01 00 01 01"), S::Publish, kProtocolError);
  expectReadError(bytes("08 03 00 01 'a' 03 00 01 'b'"), S::Publish, kProtocolError);
  expectReadError(bytes("06 23 00 01 23 00 02"), S::Publish, kProtocolError);
  expectReadError(bytes("0a 11 00 00 00 01 11 00 00 00 01"), S::Connect, kProtocolError);
  expectReadError(bytes("08 1f 00 01 'a' 1f 00 01 'b'"), S::PubAck, kProtocolError);
}

TEST(PropertyCodec, SecondSubscriptionIdentifierInSubscribeIsAProtocolError) {
  expectReadError(bytes("04 0b 01 0b 01"), S::Subscribe, kProtocolError);
}

TEST(PropertyCodec, SubscriptionIdentifierZeroIsAProtocolError) {
  expectReadError(bytes("02 0b 00"), S::Subscribe, kProtocolError);
  expectReadError(bytes("02 0b 00"), S::Publish, kProtocolError);
}

TEST(PropertyCodec, NonMinimalSubscriptionIdentifierIsMalformed) {
  expectReadError(bytes("03 0b 81 00"), S::Subscribe, kMalformed);
}

TEST(PropertyCodec, ByteFlagsOtherThanZeroOrOneAreAProtocolError) {
  expectReadError(bytes("02 01 02"), S::Publish, kProtocolError);  // Payload Format Indicator
  expectReadError(bytes("02 17 02"), S::Connect, kProtocolError);  // Request Problem Info
  expectReadError(bytes("02 19 ff"), S::Connect, kProtocolError);  // Request Response Info
  expectReadError(bytes("02 24 02"), S::Connack, kProtocolError);  // Maximum QoS
  expectReadError(bytes("02 25 02"), S::Connack, kProtocolError);  // Retain Available
  expectReadError(bytes("02 28 02"), S::Connack, kProtocolError);  // Wildcard Sub Available
  expectReadError(bytes("02 29 02"), S::Connack, kProtocolError);  // Sub Id Available
  expectReadError(bytes("02 2a 02"), S::Connack, kProtocolError);  // Shared Sub Available
  const auto ok = read(bytes("0c 24 00 25 01 28 00 29 01 2a 00 01 01"), S::Connack);
  ASSERT_FALSE(ok);  // 0x01 is not a CONNACK property; the flags before it were fine
  EXPECT_EQ(ok.error().code, kMalformed);
}

TEST(PropertyCodec, ReceiveMaximumZeroIsAProtocolError) {
  expectReadError(bytes("03 21 00 00"), S::Connect, kProtocolError);
  expectReadError(bytes("03 21 00 00"), S::Connack, kProtocolError);
}

TEST(PropertyCodec, MaximumPacketSizeZeroIsAProtocolError) {
  expectReadError(bytes("05 27 00 00 00 00"), S::Connect, kProtocolError);
  expectReadError(bytes("05 27 00 00 00 00"), S::Connack, kProtocolError);
}

TEST(PropertyCodec, StringPropertyThatIsNotUtf8IsMalformed) {
  expectReadError(bytes("05 03 00 02 c3 28"), S::Publish, kMalformed);         // content type
  expectReadError(bytes("05 08 00 02 'a' 00"), S::Publish, kMalformed);        // response topic
  expectReadError(bytes("05 1f 00 02 ed a0"), S::PubAck, kMalformed);          // reason string
  expectReadError(bytes("07 26 00 01 ff 00 01 'v'"), S::Publish, kMalformed);  // user key
  expectReadError(bytes("07 26 00 01 'k' 00 01 80"), S::Publish, kMalformed);  // user value
  expectReadError(bytes("04 12 00 01 fe"), S::Connack, kMalformed);            // assigned client id
}

TEST(PropertyCodec, AuthenticationDataWithoutMethodInConnectIsAProtocolError) {
  expectReadError(bytes("04 16 00 01 'x'"), S::Connect, kProtocolError);
  const auto ok = read(bytes("08 16 00 01 'x' 15 00 01 'm'"), S::Connect);  // any order
  EXPECT_TRUE(ok) << ok.error().message;
}

// ---- every property, both ways ----

TEST(PropertyCodec, EveryPropertyRoundTripsInEveryScopeThatAllowsIt) {
  Properties all;
  all.payloadFormatIndicator = 1;
  all.messageExpiryInterval = 0xFFFFFFFF;
  all.contentType = "ct";
  all.responseTopic = "rt";
  all.correlationData = std::string("\x00", 1);
  all.subscriptionIdentifiers = {268435455};
  all.sessionExpiryInterval = 1;
  all.assignedClientIdentifier = "aci";
  all.serverKeepAlive = 0;
  all.authenticationMethod = "am";
  all.authenticationData = "ad";
  all.requestProblemInformation = 0;
  all.willDelayInterval = 2;
  all.requestResponseInformation = 1;
  all.responseInformation = "ri";
  all.serverReference = "sr";
  all.reasonString = "rs";
  all.receiveMaximum = 65535;
  all.topicAliasMaximum = 0;
  all.topicAlias = 65535;
  all.maximumQos = 0;
  all.retainAvailable = 1;
  all.userProperties = {{"", ""}};
  all.maximumPacketSize = 1;
  all.wildcardSubscriptionAvailable = 0;
  all.subscriptionIdentifierAvailable = 1;
  all.sharedSubscriptionAvailable = 0;
  for (S scope : {S::Connect, S::Will, S::Connack, S::Publish, S::PubAck, S::Subscribe, S::Suback,
                  S::Unsubscribe, S::Unsuback, S::Disconnect, S::Auth}) {
    const std::string section = write(all, scope);
    const auto back = read(section, scope);
    ASSERT_TRUE(back) << back.error().message;
    // Written again, the decoded properties give the same bytes.
    EXPECT_EQ(toHex(write(*back, scope)), toHex(section));
    EXPECT_EQ(propertyListSize(all, scope) + 1, section.size());  // one-byte length here
  }
}

}  // namespace
}  // namespace moat::mqtt
