#include "broker/retained_store.h"

#include <map>
#include <string>

namespace moat::broker {

struct RetainedStore::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
  MessagePtr message;
};

namespace {

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace

RetainedStore::RetainedStore(uint64_t maxTopics)
    : root_(std::make_unique<Node>()), maxTopics_(maxTopics) {}
RetainedStore::~RetainedStore() = default;

bool RetainedStore::set(const MessagePtr& msg) {
  auto levels = split(msg->topic());
  std::lock_guard lock(mutex_);
  if (msg->payload().empty()) {
    std::vector<std::pair<Node*, std::string_view>> path;
    Node* node = root_.get();
    for (auto level : levels) {
      auto it = node->children.find(level);
      if (it == node->children.end()) return true;
      path.emplace_back(node, level);
      node = it->second.get();
    }
    if (!node->message) return true;
    node->message.reset();
    --count_;
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      if (node->message || !node->children.empty()) break;
      it->first->children.erase(it->first->children.find(it->second));
      node = it->first;
    }
    return true;
  }
  // Refuse a new topic beyond the limit before creating any node for it.
  if (count_ >= maxTopics_) {
    const Node* probe = root_.get();
    for (auto level : levels) {
      auto it = probe->children.find(level);
      if (it == probe->children.end()) return false;
      probe = it->second.get();
    }
    if (!probe->message) return false;
  }
  Node* node = root_.get();
  for (auto level : levels) {
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
    }
    node = it->second.get();
  }
  if (!node->message) ++count_;
  node->message = msg;
  return true;
}

namespace {

void collectAll(const auto& node, std::vector<MessagePtr>& out, Clock::time_point now) {
  if (node.message && !node.message->expired(now)) out.push_back(node.message);
  for (const auto& [_, child] : node.children) collectAll(*child, out, now);
}

void walk(const auto& node, const std::vector<std::string_view>& levels, size_t i,
          std::vector<MessagePtr>& out, Clock::time_point now) {
  if (i == levels.size()) {
    if (node.message && !node.message->expired(now)) out.push_back(node.message);
    return;
  }
  std::string_view level = levels[i];
  if (level == "#") {
    // "a/#" matches "a" itself and everything below; at the root '$' topics are excluded.
    if (node.message && !node.message->expired(now) && i > 0) out.push_back(node.message);
    for (const auto& [name, child] : node.children) {
      if (i == 0 && !name.empty() && name[0] == '$') continue;
      collectAll(*child, out, now);
    }
    return;
  }
  if (level == "+") {
    for (const auto& [name, child] : node.children) {
      if (i == 0 && !name.empty() && name[0] == '$') continue;
      walk(*child, levels, i + 1, out, now);
    }
    return;
  }
  if (auto it = node.children.find(level); it != node.children.end()) {
    walk(*it->second, levels, i + 1, out, now);
  }
}

}  // namespace

void RetainedStore::match(std::string_view filter, std::vector<MessagePtr>& out) const {
  auto levels = split(filter);
  auto now = Clock::now();
  std::lock_guard lock(mutex_);
  walk(*root_, levels, 0, out, now);
}

size_t RetainedStore::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace moat::broker
