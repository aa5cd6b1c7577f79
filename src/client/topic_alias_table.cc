#include "client/topic_alias_table.h"

#include <string>

#include "mqtt/reason_code.h"

namespace moat::client {

using mqtt::ReasonCode;

void TopicAliasTable::reset(uint16_t maximum) {
  maximum_ = maximum;
  topics_.clear();
}

Result<void> TopicAliasTable::resolve(std::string& topic, std::optional<uint16_t> alias) {
  if (!alias) {
    if (topic.empty()) {
      return fail(code(ReasonCode::ProtocolError), "PUBLISH without topic name or topic alias");
    }
    return {};
  }
  // [MQTT-3.3.2-9] [MQTT-3.3.2-10] 0 and values above our Topic Alias Maximum are invalid.
  if (*alias == 0 || *alias > maximum_) {
    return fail(code(ReasonCode::TopicAliasInvalid), "topic alias " + std::to_string(*alias) +
                                                         " outside 1.." + std::to_string(maximum_));
  }
  size_t index = *alias - 1;
  if (!topic.empty()) {
    if (topics_.size() <= index) topics_.resize(index + 1);
    topics_[index] = topic;
    return {};
  }
  if (index >= topics_.size() || topics_[index].empty()) {
    return fail(code(ReasonCode::ProtocolError),
                "topic alias " + std::to_string(*alias) + " used before it was set");
  }
  topic = topics_[index];
  return {};
}

const std::string* TopicAliasTable::find(uint16_t alias) const {
  if (alias == 0 || alias > topics_.size() || topics_[alias - 1].empty()) return nullptr;
  return &topics_[alias - 1];
}

}  // namespace moat::client
