// Internal to the authorization engine (authz_policy.cc): the data of the compiled tries. All
// tries live in one node array; a literal level is an edge in one hash map keyed by (parent node,
// level); a rule hangs off the node where its filter ends, linked with the others there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>

#include "security/authz_policy.h"

namespace moat::security::authz::detail {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

enum class EdgeKind : uint8_t { Root, Literal, Plus, Template };

struct Node {
  uint32_t plus = kNone;           // the '+' child
  uint32_t firstTemplate = kNone;  // template children, linked by nextTemplate
  uint32_t nextTemplate = kNone;
  uint32_t firstDenyChild = kNone;  // children with a deny rule at or below them, by nextDeny
  uint32_t nextDeny = kNone;
  uint32_t exact = kNone;          // rules whose filter ends here
  uint32_t rest = kNone;           // rules whose filter is this node's path and "/#"
  uint32_t templateIndex = kNone;  // EdgeKind::Template: its level in Compiled::templates
  EdgeKind kind = EdgeKind::Root;
  bool dollar = false;  // a literal first level that starts with '$'
  bool denyAtOrBelow = false;
};

struct CompiledRule {
  std::string text;
  std::string where;
  ActionSet actions = 0;
  bool deny = false;
  uint8_t maxQos = 2;
  uint32_t condition = kNone;  // index in Compiled::conditions
  uint32_t next = kNone;       // the next rule at the same node
};

// (parent node, level): the key of a literal edge. Stored with an owned level, looked up with a
// view of the topic.
struct EdgeKey {
  uint32_t parent;
  std::string level;
};
struct EdgeView {
  uint32_t parent;
  std::string_view level;
};
struct EdgeHash {
  using is_transparent = void;
  size_t hash(uint32_t parent, std::string_view level) const {
    return std::hash<std::string_view>{}(level) ^ (size_t{parent} * 0x9E3779B97F4A7C15ULL);
  }
  size_t operator()(const EdgeKey& k) const { return hash(k.parent, k.level); }
  size_t operator()(const EdgeView& k) const { return hash(k.parent, k.level); }
};
struct EdgeEq {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return a.parent == b.parent && std::string_view(a.level) == std::string_view(b.level);
  }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace moat::security::authz::detail
