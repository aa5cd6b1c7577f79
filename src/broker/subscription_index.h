// SubscriptionIndex: every subscription of every session, organised as a trie of topic levels so
// that matching a topic costs O(topic depth x wildcard branches), independent of how many
// subscriptions do not match.
//
// Design: each node is one topic level of some filter. A node has exact children (a hash map
// keyed by level), a '+' child, and the subscriptions whose filter ends there; subscriptions of
// filters ending in '#' are stored on a node's `multi` list so "a/#" is found both for "a" and
// for anything below it. Shared subscriptions ($share/group/filter) live on the node of their
// filter in named groups; a match yields one member per group, chosen round-robin, preferring
// members whose session is online.
//
// Threads: read on every publish by all workers (shared lock), written on (un)subscribe
// (exclusive lock). match() allocates nothing when `out` has capacity.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.h"

namespace moat::broker {

class Session;

// One subscription that matched a topic.
struct MatchedSubscription {
  std::shared_ptr<Session> session;
  mqtt::SubscriptionOptions options;
  uint32_t subscriptionId = 0;  // 0 = none
  bool shared = false;          // chosen from a $share group: delivered on its own (spec 4.8.2)
};

class SubscriptionIndex {
 public:
  SubscriptionIndex();
  ~SubscriptionIndex();
  SubscriptionIndex(const SubscriptionIndex&) = delete;
  SubscriptionIndex& operator=(const SubscriptionIndex&) = delete;

  // Adds or replaces the subscription of `session` to `filter` (shareGroup empty = not shared).
  // REQUIRES: filter is valid and not itself a "$share/..." string.
  // Returns true if the session had no subscription to this filter (and group) before.
  bool subscribe(std::string_view filter, std::string_view shareGroup,
                 const std::shared_ptr<Session>& session, const mqtt::SubscriptionOptions& options,
                 uint32_t subscriptionId);

  // Removes it; returns true if it existed.
  bool unsubscribe(std::string_view filter, std::string_view shareGroup, const Session* session);

  // Appends every subscription matching `topic` (a valid topic name). A session may appear more
  // than once (overlapping filters); the caller merges.
  void match(std::string_view topic, std::vector<MatchedSubscription>& out) const;

  size_t size() const;

 private:
  struct Node;
  void matchLevel(const Node& node, const std::vector<std::string_view>& levels, size_t i,
                  std::vector<MatchedSubscription>& out) const;

  mutable std::shared_mutex mutex_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;
};

}  // namespace moat::broker
