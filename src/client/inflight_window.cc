#include "client/inflight_window.h"

#include <cassert>

namespace moat::client {

void InflightWindow::add(uint16_t id, uint8_t qos) {
  assert(qos == 1 || qos == 2);
  assert(hasQuota());
  entries_.emplace(id, qos == 1 ? State::AwaitPuback : State::AwaitPubrec);
}

InflightWindow::AckOutcome InflightWindow::onAck(mqtt::PacketType type, uint16_t id,
                                                 mqtt::ReasonCode reasonCode) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return AckOutcome::Unexpected;
  switch (type) {
    case mqtt::PacketType::Puback:
      if (it->second != State::AwaitPuback) return AckOutcome::Unexpected;
      entries_.erase(it);
      return AckOutcome::Completed;
    case mqtt::PacketType::Pubrec:
      if (it->second != State::AwaitPubrec) return AckOutcome::Unexpected;
      // [MQTT-4.9.0-2] a PUBREC with an error code ends the exchange and returns the quota.
      if (mqtt::code(reasonCode) >= 0x80) {
        entries_.erase(it);
        return AckOutcome::Completed;
      }
      it->second = State::AwaitPubcomp;
      return AckOutcome::SendPubrel;
    case mqtt::PacketType::Pubcomp:
      if (it->second != State::AwaitPubcomp) return AckOutcome::Unexpected;
      entries_.erase(it);
      return AckOutcome::Completed;
    default:
      return AckOutcome::Unexpected;
  }
}

}  // namespace moat::client
