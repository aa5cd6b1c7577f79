#include "mqtt/packet.h"

#include <type_traits>

namespace moat::mqtt {

PacketType packetType(const Packet& p) {
  return std::visit(
      [](const auto& pkt) -> PacketType {
        using T = std::decay_t<decltype(pkt)>;
        if constexpr (std::is_same_v<T, Connect>) return PacketType::Connect;
        if constexpr (std::is_same_v<T, Connack>) return PacketType::Connack;
        if constexpr (std::is_same_v<T, Publish>) return PacketType::Publish;
        if constexpr (std::is_same_v<T, PubAck>) return pkt.type;
        if constexpr (std::is_same_v<T, Subscribe>) return PacketType::Subscribe;
        if constexpr (std::is_same_v<T, Suback>) return PacketType::Suback;
        if constexpr (std::is_same_v<T, Unsubscribe>) return PacketType::Unsubscribe;
        if constexpr (std::is_same_v<T, Unsuback>) return PacketType::Unsuback;
        if constexpr (std::is_same_v<T, Pingreq>) return PacketType::Pingreq;
        if constexpr (std::is_same_v<T, Pingresp>) return PacketType::Pingresp;
        if constexpr (std::is_same_v<T, Disconnect>) return PacketType::Disconnect;
        if constexpr (std::is_same_v<T, Auth>) return PacketType::Auth;
      },
      p);
}

}  // namespace moat::mqtt
