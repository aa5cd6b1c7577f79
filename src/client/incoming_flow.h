// IncomingFlow: the receiving half of a client's protocol state -- what to do with each PUBLISH
// and PUBREL the server sends. Sans-I/O: it says whether to hand a message to the application
// and which ack to send back; the Client does the sending.
//
//   QoS 0: deliver, no ack.
//   QoS 1: deliver, answer PUBACK (at least once: a DUP is delivered again).
//   QoS 2: deliver on first sight and remember the id until PUBREL; a PUBLISH with an id still
//          remembered is a retransmission and is not delivered again (exactly once, spec 4.3.3
//          method B). PUBREL forgets the id and is answered by PUBCOMP (0x92 Packet Identifier
//          Not Found when it was unknown, 5.0 only).
//
// It also resolves topic aliases (TopicAliasTable) and enforces the Receive Maximum the client
// announced: more than that many QoS 2 exchanges open at once is 0x93 Receive Maximum Exceeded
// [MQTT-3.3.4-9]. QoS 1 messages never count, as they are acknowledged as soon as they arrive.
// An Error from onPublish is a protocol violation: the caller closes the connection, sending
// DISCONNECT with the error's reason code in 5.0.
//
// Not thread-safe: owned by one Client, touched only on its executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_set>

#include "base/result.h"
#include "client/topic_alias_table.h"
#include "mqtt/packet.h"

namespace moat::client {

class IncomingFlow {
 public:
  struct Decision {
    bool deliver = false;               // hand the message to the application
    std::optional<mqtt::PubAck> reply;  // PUBACK or PUBREC to send back
  };

  explicit IncomingFlow(uint16_t receiveMaximum = 65535, uint16_t topicAliasMaximum = 0);

  // Starts afresh for a new connection with the limits announced in its CONNECT.
  void reset(uint16_t receiveMaximum, uint16_t topicAliasMaximum);

  // Handles one decoded PUBLISH; resolves p.topic from its alias in place.
  [[nodiscard]] Result<Decision> onPublish(mqtt::Publish& p);
  // Handles a PUBREL and returns the PUBCOMP to send.
  mqtt::PubAck onPubrel(const mqtt::PubAck& pubrel);

  size_t openQos2() const { return awaitingPubrel_.size(); }
  const TopicAliasTable& aliases() const { return aliases_; }

 private:
  uint16_t receiveMaximum_;
  TopicAliasTable aliases_;
  std::unordered_set<uint16_t> awaitingPubrel_;
};

}  // namespace moat::client
