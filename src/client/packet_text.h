// One-line human descriptions of packets, in the style of mosquitto_pub/sub -d, e.g.
// "PUBLISH (d0, q1, r0, m3, 'a/b', ... (5 bytes))". For debug output and test failure messages;
// payloads are never shown, only their size. Pure functions, thread-safe.
#pragma once

#include <string>

#include "mqtt/packet.h"

namespace moat::client {

std::string describePacket(const mqtt::Packet& packet);

}  // namespace moat::client
