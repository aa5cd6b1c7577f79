// Protocol versions and packet types, shared by every part of the codec.
#pragma once

#include <cstdint>
#include <string_view>

namespace moat::mqtt {

// The protocol level byte of CONNECT.
enum class Version : uint8_t {
  V31 = 3,   // MQTT 3.1, protocol name "MQIsdp"
  V311 = 4,  // MQTT 3.1.1, protocol name "MQTT"
  V5 = 5,    // MQTT 5.0, protocol name "MQTT"
};

std::string_view versionName(Version v);

enum class PacketType : uint8_t {
  Connect = 1,
  Connack = 2,
  Publish = 3,
  Puback = 4,
  Pubrec = 5,
  Pubrel = 6,
  Pubcomp = 7,
  Subscribe = 8,
  Suback = 9,
  Unsubscribe = 10,
  Unsuback = 11,
  Pingreq = 12,
  Pingresp = 13,
  Disconnect = 14,
  Auth = 15,  // 5.0 only
};

std::string_view packetTypeName(PacketType t);

}  // namespace moat::mqtt
