#include "mqtt/reason_code.h"

#include <gtest/gtest.h>

#include "mqtt/packet.h"
#include "mqtt/version.h"

namespace moat::mqtt {
namespace {

TEST(ReasonCodeName, NamesFollowTheSpec) {
  EXPECT_EQ(reasonName(ReasonCode::Success), "Success");
  EXPECT_EQ(reasonName(ReasonCode::MalformedPacket), "Malformed Packet");
  EXPECT_EQ(reasonName(ReasonCode::ProtocolError), "Protocol Error");
  EXPECT_EQ(reasonName(uint8_t{0x95}), "Packet too large");
  EXPECT_EQ(reasonName(uint8_t{0xA2}), "Wildcard Subscriptions not supported");
  EXPECT_EQ(reasonName(uint8_t{0x03}), "Unknown");
  EXPECT_EQ(reasonName(uint8_t{0xFF}), "Unknown");
}

TEST(Connack311, ReturnCodesFollowTheHeaderTable) {
  EXPECT_EQ(connackReturnCode311(ReasonCode::Success), 0);
  EXPECT_EQ(connackReturnCode311(ReasonCode::UnsupportedProtocolVersion), 1);
  EXPECT_EQ(connackReturnCode311(ReasonCode::ClientIdentifierNotValid), 2);
  EXPECT_EQ(connackReturnCode311(ReasonCode::ServerUnavailable), 3);
  EXPECT_EQ(connackReturnCode311(ReasonCode::ServerBusy), 3);
  EXPECT_EQ(connackReturnCode311(ReasonCode::ServerShuttingDown), 3);
  EXPECT_EQ(connackReturnCode311(ReasonCode::UnspecifiedError), 3);
  EXPECT_EQ(connackReturnCode311(ReasonCode::BadUserNameOrPassword), 4);
  EXPECT_EQ(connackReturnCode311(ReasonCode::NotAuthorized), 5);
  EXPECT_EQ(connackReturnCode311(ReasonCode::Banned), 5);
}

TEST(Connack311, ReasonsFromReturnCodesInvertTheMapping) {
  EXPECT_EQ(reasonFromConnack311(0), ReasonCode::Success);
  EXPECT_EQ(reasonFromConnack311(1), ReasonCode::UnsupportedProtocolVersion);
  EXPECT_EQ(reasonFromConnack311(2), ReasonCode::ClientIdentifierNotValid);
  EXPECT_EQ(reasonFromConnack311(3), ReasonCode::ServerUnavailable);
  EXPECT_EQ(reasonFromConnack311(4), ReasonCode::BadUserNameOrPassword);
  EXPECT_EQ(reasonFromConnack311(5), ReasonCode::NotAuthorized);
  EXPECT_EQ(reasonFromConnack311(6), ReasonCode::UnspecifiedError);
  for (uint8_t rc = 0; rc <= 5; ++rc) {
    EXPECT_EQ(connackReturnCode311(reasonFromConnack311(rc)), rc);
  }
}

TEST(VersionName, NamesEveryVersionAndPacketType) {
  EXPECT_EQ(versionName(Version::V31), "3.1");
  EXPECT_EQ(versionName(Version::V311), "3.1.1");
  EXPECT_EQ(versionName(Version::V5), "5.0");
  EXPECT_EQ(packetTypeName(PacketType::Connect), "CONNECT");
  EXPECT_EQ(packetTypeName(PacketType::Pubrel), "PUBREL");
  EXPECT_EQ(packetTypeName(PacketType::Auth), "AUTH");
  EXPECT_EQ(packetTypeName(static_cast<PacketType>(0)), "RESERVED");
}

}  // namespace
}  // namespace moat::mqtt
