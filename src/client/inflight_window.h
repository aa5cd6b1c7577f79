// InflightWindow: the client's outgoing QoS 1 and QoS 2 PUBLISH packets that are not yet fully
// acknowledged, and the send quota of MQTT 5.0 flow control (spec 4.9).
//
// The quota is the server's Receive Maximum from CONNACK (65535 when absent, and for 3.1/3.1.1,
// which have no flow control). A QoS 1/2 PUBLISH may be sent only while hasQuota(); the slot is
// returned on PUBACK, on PUBCOMP, or on a PUBREC whose reason code is an error (>= 0x80), which
// ends the QoS 2 exchange early [MQTT-4.9.0-2].
//
// Each entry follows the exchange of its QoS:
//   QoS 1: AwaitPuback  --PUBACK-->  done
//   QoS 2: AwaitPubrec  --PUBREC-->  AwaitPubcomp (the client sends PUBREL)  --PUBCOMP-->  done
// An ack that does not fit (unknown id, or an ack of the wrong kind for the state) is reported
// as Unexpected and changes nothing.
//
// Sans-I/O and not thread-safe: owned by one Client, touched only on its executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "mqtt/packet.h"

namespace moat::client {

class InflightWindow {
 public:
  enum class State : uint8_t { AwaitPuback, AwaitPubrec, AwaitPubcomp };

  enum class AckOutcome : uint8_t {
    Completed,   // the exchange is over; the id and the quota slot are free again
    SendPubrel,  // PUBREC accepted: the caller sends PUBREL and waits for PUBCOMP
    Unexpected,  // no entry matched; nothing changed
  };

  explicit InflightWindow(uint16_t receiveMaximum = 65535) : quota_(receiveMaximum) {}

  // Sets the quota from the server's Receive Maximum. A quota below size() only delays new
  // sends until enough entries complete.
  void setQuota(uint16_t receiveMaximum) { quota_ = receiveMaximum; }
  uint16_t quota() const { return quota_; }
  bool hasQuota() const { return entries_.size() < quota_; }

  // Records a PUBLISH just sent. REQUIRES: qos is 1 or 2, hasQuota(), and id is not tracked.
  void add(uint16_t id, uint8_t qos);
  // Applies a PUBACK, PUBREC or PUBCOMP received from the server.
  AckOutcome onAck(mqtt::PacketType type, uint16_t id, mqtt::ReasonCode reasonCode);
  // Forgets an entry (e.g. the publish was abandoned because the connection closed).
  void remove(uint16_t id) { entries_.erase(id); }
  bool contains(uint16_t id) const { return entries_.count(id) != 0; }
  State state(uint16_t id) const { return entries_.at(id); }
  size_t size() const { return entries_.size(); }
  void clear() { entries_.clear(); }

 private:
  uint16_t quota_;
  std::unordered_map<uint16_t, State> entries_;
};

}  // namespace moat::client
