#include "broker/subscription_index.h"

#include <mutex>
#include <unordered_map>

#include "broker/session.h"

namespace moat::broker {
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Splits a topic or filter into its levels; "a//b" has an empty middle level.
void splitLevels(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

struct SharedGroup {
  std::string name;
  std::vector<MatchedSubscription> members;
  mutable std::atomic<uint32_t> next{0};
};

}  // namespace

// The subscriptions that end at one point of the trie.
struct Slot {
  std::vector<MatchedSubscription> subs;
  std::vector<std::unique_ptr<SharedGroup>> groups;
  bool empty() const { return subs.empty() && groups.empty(); }
};

struct SubscriptionIndex::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
  std::unique_ptr<Node> plus;
  Slot exact;  // filters ending at this level
  Slot multi;  // filters ending in '#' below this level ("a/#" lives on node "a")
  bool empty() const {
    return children.empty() && !plus && exact.empty() && multi.empty();
  }
};

namespace {

// Adds or replaces `session`'s entry in `slot`; returns true if it was not there.
bool upsert(Slot& slot, std::string_view group, const std::shared_ptr<Session>& session,
            const mqtt::SubscriptionOptions& options, uint32_t subId) {
  std::vector<MatchedSubscription>* list = &slot.subs;
  if (!group.empty()) {
    SharedGroup* g = nullptr;
    for (auto& candidate : slot.groups) {
      if (candidate->name == group) g = candidate.get();
    }
    if (!g) {
      slot.groups.push_back(std::make_unique<SharedGroup>());
      g = slot.groups.back().get();
      g->name = std::string(group);
    }
    list = &g->members;
  }
  for (auto& e : *list) {
    if (e.session == session) {
      e.options = options;
      e.subscriptionId = subId;
      return false;
    }
  }
  list->push_back(MatchedSubscription{session, options, subId, !group.empty()});
  return true;
}

bool erase(Slot& slot, std::string_view group, const Session* session) {
  auto eraseFrom = [session](std::vector<MatchedSubscription>& list) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (it->session.get() == session) {
        list.erase(it);
        return true;
      }
    }
    return false;
  };
  if (group.empty()) return eraseFrom(slot.subs);
  for (auto it = slot.groups.begin(); it != slot.groups.end(); ++it) {
    if ((*it)->name == group) {
      bool removed = eraseFrom((*it)->members);
      if ((*it)->members.empty()) slot.groups.erase(it);
      return removed;
    }
  }
  return false;
}

}  // namespace

SubscriptionIndex::SubscriptionIndex() : root_(std::make_unique<Node>()) {}
SubscriptionIndex::~SubscriptionIndex() = default;

bool SubscriptionIndex::subscribe(std::string_view filter, std::string_view shareGroup,
                                  const std::shared_ptr<Session>& session,
                                  const mqtt::SubscriptionOptions& options,
                                  uint32_t subscriptionId) {
  std::vector<std::string_view> levels;
  splitLevels(filter, levels);
  bool multi = levels.back() == "#";
  if (multi) levels.pop_back();

  std::unique_lock lock(mutex_);
  Node* node = root_.get();
  for (auto level : levels) {
    if (level == "+") {
      if (!node->plus) node->plus = std::make_unique<Node>();
      node = node->plus.get();
      continue;
    }
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
    }
    node = it->second.get();
  }
  bool added = upsert(multi ? node->multi : node->exact, shareGroup, session, options,
                      subscriptionId);
  if (added) ++count_;
  return added;
}

bool SubscriptionIndex::unsubscribe(std::string_view filter, std::string_view shareGroup,
                                    const Session* session) {
  std::vector<std::string_view> levels;
  splitLevels(filter, levels);
  bool multi = levels.back() == "#";
  if (multi) levels.pop_back();

  std::unique_lock lock(mutex_);
  // Walk down remembering the path, so empty nodes can be pruned on the way back.
  std::vector<std::pair<Node*, std::string_view>> path;
  Node* node = root_.get();
  for (auto level : levels) {
    Node* next = nullptr;
    if (level == "+") {
      next = node->plus.get();
    } else if (auto it = node->children.find(level); it != node->children.end()) {
      next = it->second.get();
    }
    if (!next) return false;
    path.emplace_back(node, level);
    node = next;
  }
  bool removed = erase(multi ? node->multi : node->exact, shareGroup, session);
  if (!removed) return false;
  --count_;
  for (auto it = path.rbegin(); it != path.rend() && node->empty(); ++it) {
    Node* parent = it->first;
    if (it->second == "+") {
      parent->plus.reset();
    } else {
      parent->children.erase(parent->children.find(it->second));
    }
    node = parent;
  }
  return true;
}

namespace {

void collectSlot(const Slot& slot, std::vector<MatchedSubscription>& out) {
  for (const auto& e : slot.subs) out.push_back(e);
  for (const auto& g : slot.groups) {
    const auto& members = g->members;
    if (members.empty()) continue;
    // Round-robin, preferring a member whose session is online right now and keeping up (not
    // congested or stalled: a slow member must not hold the group's publishers back); when every
    // online member lags behind, the one with the fewest messages waiting, likely the first to
    // drain.
    uint32_t start = g->next.fetch_add(1, std::memory_order_relaxed);
    const MatchedSubscription* chosen = &members[start % members.size()];
    const MatchedSubscription* leastBehind = nullptr;
    for (size_t i = 0; i < members.size(); ++i) {
      const auto& m = members[(start + i) % members.size()];
      if (!m.session->isOnline()) continue;
      if (!m.session->laggingBehind()) {
        leastBehind = nullptr;
        chosen = &m;
        break;
      }
      if (!leastBehind || m.session->behind() < leastBehind->session->behind()) leastBehind = &m;
    }
    if (leastBehind) chosen = leastBehind;
    out.push_back(*chosen);
  }
}

}  // namespace

void SubscriptionIndex::matchLevel(const Node& node, const std::vector<std::string_view>& levels,
                                   size_t i, std::vector<MatchedSubscription>& out) const {
  if (i == levels.size()) {
    collectSlot(node.exact, out);
    collectSlot(node.multi, out);  // "a/#" matches "a" [MQTT-4.7.1-2]
    return;
  }
  // [MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with '$'.
  bool dollarAtRoot = i == 0 && !levels[0].empty() && levels[0][0] == '$';
  if (!dollarAtRoot) collectSlot(node.multi, out);
  if (auto it = node.children.find(levels[i]); it != node.children.end()) {
    matchLevel(*it->second, levels, i + 1, out);
  }
  if (node.plus && !dollarAtRoot) matchLevel(*node.plus, levels, i + 1, out);
}

void SubscriptionIndex::match(std::string_view topic,
                              std::vector<MatchedSubscription>& out) const {
  thread_local std::vector<std::string_view> levels;
  splitLevels(topic, levels);
  std::shared_lock lock(mutex_);
  matchLevel(*root_, levels, 0, out);
}

size_t SubscriptionIndex::size() const {
  std::shared_lock lock(mutex_);
  return count_;
}

}  // namespace moat::broker
