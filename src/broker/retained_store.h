// RetainedStore: the last retained message of every topic (spec 3.3.1.3), kept in a trie of topic
// levels so a subscription's filter is matched against stored topics by walking only the branches
// the filter can reach.
//
// Threads: any worker may set or query; one mutex guards the trie (retained traffic is a small
// fraction of publishes, and a query copies out shared pointers, never payloads).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "broker/message.h"

namespace moat::broker {

class RetainedStore {
 public:
  // `maxTopics` bounds how many topics may hold a retained message.
  explicit RetainedStore(uint64_t maxTopics = UINT64_MAX);
  ~RetainedStore();

  // Stores `msg` as the retained message of its topic; an empty payload removes it
  // [MQTT-3.3.1-10]. Returns false (storing nothing) when it would be a new topic beyond the
  // limit; replacing or removing always works.
  bool set(const MessagePtr& msg);

  // Appends every retained message whose topic matches `filter` (valid, not shared), skipping
  // expired ones. '$' topics are not matched by a leading wildcard [MQTT-4.7.2-1].
  void match(std::string_view filter, std::vector<MessagePtr>& out) const;

  size_t size() const;

 private:
  struct Node;
  mutable std::mutex mutex_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
  const uint64_t maxTopics_;
};

}  // namespace moat::broker
