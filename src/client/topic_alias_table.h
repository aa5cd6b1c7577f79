// TopicAliasTable: the topic aliases a server has set up for the PUBLISH packets it sends to
// this client (MQTT 5.0, spec 3.3.2.3.4). Aliases live for one network connection and are never
// shared with the aliases the client uses towards the server.
//
// The client announces how many aliases it accepts (Topic Alias Maximum in CONNECT, 0 = none);
// the table rejects anything outside 1..maximum with 0x94 Topic Alias Invalid
// [MQTT-3.3.2-9], [MQTT-3.3.2-10], and an empty topic whose alias was never set with
// 0x82 Protocol Error.
//
// Sans-I/O and not thread-safe: owned by one Client, touched only on its executor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace moat::client {

class TopicAliasTable {
 public:
  explicit TopicAliasTable(uint16_t maximum = 0) : maximum_(maximum) {}

  uint16_t maximum() const { return maximum_; }
  // Forgets every alias and sets a new maximum (a new connection).
  void reset(uint16_t maximum);

  // Resolves the topic of an incoming PUBLISH in place. With an alias and a non-empty topic,
  // (re)binds the alias to the topic; with an alias and an empty topic, replaces the topic by
  // the bound one; without an alias, requires a non-empty topic.
  [[nodiscard]] Result<void> resolve(std::string& topic, std::optional<uint16_t> alias);

  // The topic bound to `alias`, or nullptr.
  const std::string* find(uint16_t alias) const;

 private:
  uint16_t maximum_;
  // Index alias-1; grown on demand up to maximum_, so a server that uses few aliases costs
  // little. An empty string means "not bound" (a bound topic is never empty).
  std::vector<std::string> topics_;
};

}  // namespace moat::client
