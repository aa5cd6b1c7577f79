#include "mqtt/version.h"

namespace moat::mqtt {

std::string_view versionName(Version v) {
  switch (v) {
    case Version::V31:
      return "3.1";
    case Version::V311:
      return "3.1.1";
    case Version::V5:
      return "5.0";
  }
  return "unknown";
}

std::string_view packetTypeName(PacketType t) {
  switch (t) {
    case PacketType::Connect:
      return "CONNECT";
    case PacketType::Connack:
      return "CONNACK";
    case PacketType::Publish:
      return "PUBLISH";
    case PacketType::Puback:
      return "PUBACK";
    case PacketType::Pubrec:
      return "PUBREC";
    case PacketType::Pubrel:
      return "PUBREL";
    case PacketType::Pubcomp:
      return "PUBCOMP";
    case PacketType::Subscribe:
      return "SUBSCRIBE";
    case PacketType::Suback:
      return "SUBACK";
    case PacketType::Unsubscribe:
      return "UNSUBSCRIBE";
    case PacketType::Unsuback:
      return "UNSUBACK";
    case PacketType::Pingreq:
      return "PINGREQ";
    case PacketType::Pingresp:
      return "PINGRESP";
    case PacketType::Disconnect:
      return "DISCONNECT";
    case PacketType::Auth:
      return "AUTH";
  }
  return "RESERVED";
}

}  // namespace moat::mqtt
