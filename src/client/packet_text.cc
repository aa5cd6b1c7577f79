#include "client/packet_text.h"

#include <string>
#include <type_traits>
#include <variant>

namespace moat::client {

namespace {

std::string rc(mqtt::ReasonCode code) { return std::to_string(mqtt::code(code)); }

void appendUserProperties(const mqtt::Properties& props, std::string& out) {
  for (const auto& [k, v] : props.userProperties) out += ", " + k + "=" + v;
}

}  // namespace

std::string describePacket(const mqtt::Packet& packet) {
  return std::visit(
      [](const auto& p) -> std::string {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, mqtt::Connect>) {
          std::string s = "CONNECT (v" + std::string(mqtt::versionName(p.version)) + ", c" +
                          std::to_string(p.cleanStart ? 1 : 0) + ", k" +
                          std::to_string(p.keepAlive) + ", id '" + p.clientId + "'";
          if (p.username) s += ", u '" + *p.username + "'";
          if (p.will) s += ", will '" + p.will->topic + "'";
          return s + ")";
        } else if constexpr (std::is_same_v<T, mqtt::Connack>) {
          return "CONNACK (" + rc(p.reasonCode) + (p.sessionPresent ? ", session present" : "") +
                 ")";
        } else if constexpr (std::is_same_v<T, mqtt::Publish>) {
          std::string s = "PUBLISH (d" + std::to_string(p.dup) + ", q" + std::to_string(p.qos) +
                          ", r" + std::to_string(p.retain) + ", m" + std::to_string(p.packetId) +
                          ", '" + p.topic + "'";
          if (p.properties.topicAlias) s += ", alias " + std::to_string(*p.properties.topicAlias);
          appendUserProperties(p.properties, s);
          return s + ", ... (" + std::to_string(p.payload.size()) + " bytes))";
        } else if constexpr (std::is_same_v<T, mqtt::PubAck>) {
          return std::string(mqtt::packetTypeName(p.type)) + " (m" + std::to_string(p.packetId) +
                 ", rc" + rc(p.reasonCode) + ")";
        } else if constexpr (std::is_same_v<T, mqtt::Subscribe>) {
          std::string s = "SUBSCRIBE (m" + std::to_string(p.packetId);
          for (const auto& t : p.topics) {
            s += ", '" + t.filter + "' q" + std::to_string(t.options.qos);
            if (t.options.noLocal) s += " nl";
            if (t.options.retainAsPublished) s += " rap";
            if (t.options.retainHandling) s += " rh" + std::to_string(t.options.retainHandling);
          }
          return s + ")";
        } else if constexpr (std::is_same_v<T, mqtt::Suback>) {
          std::string s = "SUBACK (m" + std::to_string(p.packetId);
          for (auto c : p.reasonCodes) s += ", " + rc(c);
          return s + ")";
        } else if constexpr (std::is_same_v<T, mqtt::Unsubscribe>) {
          std::string s = "UNSUBSCRIBE (m" + std::to_string(p.packetId);
          for (const auto& t : p.topics) s += ", '" + t + "'";
          return s + ")";
        } else if constexpr (std::is_same_v<T, mqtt::Unsuback>) {
          std::string s = "UNSUBACK (m" + std::to_string(p.packetId);
          for (auto c : p.reasonCodes) s += ", " + rc(c);
          return s + ")";
        } else if constexpr (std::is_same_v<T, mqtt::Pingreq>) {
          return "PINGREQ";
        } else if constexpr (std::is_same_v<T, mqtt::Pingresp>) {
          return "PINGRESP";
        } else if constexpr (std::is_same_v<T, mqtt::Disconnect>) {
          return "DISCONNECT (" + rc(p.reasonCode) + ")";
        } else {
          return "AUTH (" + rc(p.reasonCode) + ")";
        }
      },
      packet);
}

}  // namespace moat::client
