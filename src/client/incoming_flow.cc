#include "client/incoming_flow.h"

#include <string>

#include "mqtt/topic.h"

namespace moat::client {

using mqtt::PacketType;
using mqtt::ReasonCode;

IncomingFlow::IncomingFlow(uint16_t receiveMaximum, uint16_t topicAliasMaximum)
    : receiveMaximum_(receiveMaximum), aliases_(topicAliasMaximum) {}

void IncomingFlow::reset(uint16_t receiveMaximum, uint16_t topicAliasMaximum) {
  receiveMaximum_ = receiveMaximum;
  aliases_.reset(topicAliasMaximum);
  awaitingPubrel_.clear();
}

Result<IncomingFlow::Decision> IncomingFlow::onPublish(mqtt::Publish& p) {
  if (auto r = aliases_.resolve(p.topic, p.properties.topicAlias); !r) {
    return tl::unexpected(r.error());
  }
  // A server must not send a topic name with wildcards [MQTT-3.3.2-2].
  if (auto r = mqtt::validateTopicName(p.topic); !r) return tl::unexpected(r.error());

  Decision d;
  switch (p.qos) {
    case 0:
      d.deliver = true;
      break;
    case 1:
      d.deliver = true;
      d.reply = mqtt::PubAck{PacketType::Puback, p.packetId, ReasonCode::Success, {}};
      break;
    case 2:
      if (awaitingPubrel_.count(p.packetId) == 0) {
        if (awaitingPubrel_.size() >= receiveMaximum_) {
          return fail(code(ReasonCode::ReceiveMaximumExceeded),
                      "server exceeded our Receive Maximum of " + std::to_string(receiveMaximum_));
        }
        awaitingPubrel_.insert(p.packetId);
        d.deliver = true;
      }
      d.reply = mqtt::PubAck{PacketType::Pubrec, p.packetId, ReasonCode::Success, {}};
      break;
    default:
      return fail(code(ReasonCode::MalformedPacket), "PUBLISH with QoS 3");
  }
  return d;
}

mqtt::PubAck IncomingFlow::onPubrel(const mqtt::PubAck& pubrel) {
  bool known = awaitingPubrel_.erase(pubrel.packetId) != 0;
  return mqtt::PubAck{PacketType::Pubcomp,
                      pubrel.packetId,
                      known ? ReasonCode::Success : ReasonCode::PacketIdentifierNotFound,
                      {}};
}

}  // namespace moat::client
