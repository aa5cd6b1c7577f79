// PUBLISH and the acknowledgements of both directions (spec 3.3-3.7, 4.3).
#include <fmt/format.h>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/session.h"
#include "broker/worker.h"
#include "mqtt/topic.h"

namespace moat::broker {

using mqtt::PacketType;
using mqtt::ReasonCode;

bool Connection::handlePublish(mqtt::Publish& p) {
  const bool v5 = version_ == mqtt::Version::V5;
  if (v5) {
    if (auto alias = p.properties.topicAlias) {
      // [MQTT-3.3.2-9]/[MQTT-3.3.2-10] alias 0 or above our maximum is an error.
      if (*alias == 0 || *alias > topicAliasMaximum_) {
        protocolError(ReasonCode::TopicAliasInvalid, fmt::format("topic alias {}", *alias));
        return false;
      }
      if (!aliases_) aliases_ = std::make_unique<TopicAliases>();
      auto& inbound = aliases_->inbound;
      if (inbound.empty()) inbound.resize(topicAliasMaximum_);
      auto& known = inbound[*alias - 1];
      if (p.topic.empty()) {
        if (known.empty()) {
          protocolError(ReasonCode::ProtocolError,
                        fmt::format("topic alias {} used before it was set", *alias));
          return false;
        }
        p.topic = known;
      } else {
        known = p.topic;
      }
      p.properties.topicAlias.reset();
    } else if (p.topic.empty()) {
      protocolError(ReasonCode::ProtocolError, "empty topic name without a topic alias");
      return false;
    }
    // [MQTT-3.3.2-14] a response topic is a topic name: no wildcards.
    if (p.properties.responseTopic) {
      if (auto ok = mqtt::validateTopicName(*p.properties.responseTopic); !ok) {
        protocolError(ReasonCode::ProtocolError,
                      fmt::format("response topic: {}", ok.error().message));
        return false;
      }
    }
    // [MQTT-3.3.4-6] a client must not send subscription identifiers.
    if (!p.properties.subscriptionIdentifiers.empty()) {
      protocolError(ReasonCode::ProtocolError, "PUBLISH from a client with a subscription id");
      return false;
    }
  }

  if (p.qos == 2 && session_->awaitsRelease(p.packetId)) {
    // A resent QoS 2 PUBLISH we already routed: acknowledge again, route nothing [MQTT-4.3.3-9].
    sendAck(PacketType::Pubrec, p.packetId, ReasonCode::Success);
    return true;
  }
  if (p.qos == 2 && session_->awaitingRelease() >= receiveMaximum_) {
    // [MQTT-3.3.4-9] more unacknowledged QoS 2 publishes than our Receive Maximum.
    protocolError(ReasonCode::ReceiveMaximumExceeded,
                  fmt::format("more than {} QoS 2 publishes awaiting PUBREL", receiveMaximum_));
    return false;
  }

  // A refused PUBLISH: 5.0 says so in the ack; 3.1.1 has no way to, so the message is
  // acknowledged and dropped (as Mosquitto does). Nothing is routed.
  auto refuse = [&](ReasonCode code) {
    if (p.qos == 1) {
      sendAck(PacketType::Puback, p.packetId, v5 ? code : ReasonCode::Success);
    } else if (p.qos == 2) {
      if (!v5) session_->noteAwaitingRelease(p.packetId);  // its PUBREL gets a PUBCOMP
      sendAck(PacketType::Pubrec, p.packetId, v5 ? code : ReasonCode::Success);
    }
    return true;
  };
  if (!mount_.empty()) {
    if (auto why = outsideMount(p.topic, p.properties.responseTopic)) {
      log::info("client \"{}\" {}: publish to \"{}\" refused: {}", clientId(), peer_, p.topic,
                *why);
      return refuse(ReasonCode::TopicNameInvalid);
    }
  }
  if (AccessControl* access = worker_.broker().access();
      access && (!permitted(security::authz::Action::Publish, p.topic, "publish", p.qos) ||
                 (p.retain && !permitted(security::authz::Action::Retain, p.topic, "retain")))) {
    if (access->disconnectOnViolation()) {
      close(ReasonCode::NotAuthorized, "publish not authorized");
      return false;
    }
    return refuse(ReasonCode::NotAuthorized);
  }

  const uint8_t qos = p.qos;
  const uint16_t packetId = p.packetId;
  auto msg = std::make_shared<Message>(std::move(p));
  msg->qos = qos;
  msg->retain = msg->publish.retain;
  msg->originSession = session_->uid();
  if (auto e = msg->publish.properties.messageExpiryInterval) {
    msg->expiresAt = Clock::now() + std::chrono::seconds(*e);
  }
  if (!mount_.empty()) {
    msg->publish.topic.insert(0, mount_);
    if (auto& rt = msg->publish.properties.responseTopic) rt->insert(0, mount_);
  }
  stampPublisher(msg->publish.properties);
  size_t routed = worker_.publish(msg, &blockers_);
  // A client is never paused for its own session: only this connection reads its PUBACKs.
  std::erase_if(blockers_, [&](const Blocker& b) { return b.session == session_; });

  // 5.0 tells the publisher when nobody was subscribed (0x10); it is still a success.
  ReasonCode rc = v5 && routed == 0 ? ReasonCode::NoMatchingSubscribers : ReasonCode::Success;
  if (qos == 1) {
    sendAck(PacketType::Puback, packetId, rc);
  } else if (qos == 2) {
    session_->noteAwaitingRelease(packetId);
    sendAck(PacketType::Pubrec, packetId, rc);
  }
  return true;
}

bool Connection::handleAck(PacketType type, uint16_t packetId, ReasonCode reasonCode) {
  const bool v5 = version_ == mqtt::Version::V5;
  switch (type) {
    case PacketType::Puback:
      session_->onPuback(packetId);
      return true;
    case PacketType::Pubrec:
      if (!session_->onPubrec(packetId, static_cast<uint8_t>(reasonCode) >= 0x80) &&
          static_cast<uint8_t>(reasonCode) < 0x80) {
        sendAck(PacketType::Pubrel, packetId,
                v5 ? ReasonCode::PacketIdentifierNotFound : ReasonCode::Success);
      }
      return true;
    case PacketType::Pubrel: {
      bool known = session_->release(packetId);
      // [MQTT-4.3.3-11] always answer PUBREL; 5.0 says when the id was unknown.
      sendAck(PacketType::Pubcomp, packetId,
              known || !v5 ? ReasonCode::Success : ReasonCode::PacketIdentifierNotFound);
      return true;
    }
    case PacketType::Pubcomp:
      session_->onPubcomp(packetId);
      return true;
    default:
      return true;
  }
}

}  // namespace moat::broker
