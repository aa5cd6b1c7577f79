// The compiled policy: topic tries and the walks that check a topic name or a filter against them.
//
// Design. Rules are compiled into tries of topic levels, one per class of subject: one for the
// rules of anonymous clients, one per user name, and one for the rules of every client
// (patterns). All tries live in one node array; a literal level is an edge in one hash map keyed
// by (parent node, level), '+' is a field of its parent, and a level holding a placeholder ("%u",
// "dev-%c") is a template child, matched per client piece by piece (only the subscribe overlap
// walk builds the substituted string). A rule hangs off the node where its filter ends ("a/b")
// or, for a filter ending in '#', off the node before the '#' ("a/#" hangs off "a" as a "rest"
// rule: it matches "a" and all below). Rules at one node are a linked list through the rules.
//
// A check walks the trie of the client's class and the pattern trie along the topic, with an
// explicit stack (a topic may have thousands of levels), collecting the first matching deny and
// the first matching allow (first = lowest index = earliest line). Each step follows at most one
// literal edge, the '+' child and the template children, so the cost follows the topic's depth
// and the number of rules that match it, not the size of the policy.
//
// A subscription filter is walked twice: once for an allow rule that covers the filter (the
// filter's '+' can only be covered by '+', its '#' only by '#'), once for a deny rule that
// overlaps it (the filter's '+' and '#' fan out, but only into subtrees that hold a deny rule:
// every node knows whether one is at or below it, and lists those children).
#include "security/authz_policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/container/small_vector.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <functional>
#include <limits>
#include <utility>

#include "base/atomic_file.h"
#include "mqtt/topic.h"
#include "security/authz_acl_file.h"

namespace moat::security::authz {

namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
constexpr size_t kDone = std::string_view::npos;  // a position past the topic's last level
constexpr uint8_t kUnspecified = 0x80;

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

// A level of a pattern that holds %u or %c, as written.
struct TemplateLevel {
  std::string text;
  bool needsUser = false;
  bool needsClient = false;
  bool startsWithPlaceholder = false;
};

struct CompiledRule {
  std::string text;
  std::string where;
  ActionSet actions = 0;
  bool deny = false;
  uint32_t next = kNone;  // the next rule at the same node
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

// Mosquitto's substitution scan: "%u" and "%c" are placeholders, any other '%' is itself. Calls
// onText(piece) and onPlaceholder(char) in order.
template <class OnText, class OnPlaceholder>
void scanTemplate(std::string_view text, OnText&& onText, OnPlaceholder&& onPlaceholder) {
  size_t start = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '%' && (text[i + 1] == 'u' || text[i + 1] == 'c')) {
      if (i > start) onText(text.substr(start, i - start));
      onPlaceholder(text[i + 1]);
      start = i + 2;
      ++i;
    }
  }
  if (start < text.size()) onText(text.substr(start));
}

bool hasPlaceholder(std::string_view text) {
  bool found = false;
  scanTemplate(
      text, [](std::string_view) {}, [&](char) { found = true; });
  return found;
}

bool hasWildcard(std::string_view value) {
  return value.find_first_of("+#") != std::string_view::npos;
}

// What a check needs to know about the subject, worked out once per check. A value with '/'
// spans levels: substituted into an allow pattern it could land in another client's part of the
// tree ("home/%u/#" for user "a/b" is inside user "a"'s "home/a/#"), so it is substituted into
// deny patterns only, which it can only narrow. A value with '+' or '#' (or an empty client id)
// is never substituted.
struct Who {
  std::string_view user;  // empty: anonymous
  std::string_view client;
  bool userForDeny = false;   // %u may be substituted into a deny pattern
  bool userForAllow = false;  // ... and into an allow pattern
  bool clientForDeny = false;
  bool clientForAllow = false;
  bool userUnsafe = false;       // a user name with '+' or '#': deny patterns with %u deny all
  bool clientUnsafe = false;     // the same for the client id (or an empty one) and %c
  bool patternsMayAllow = true;  // Mosquitto: not for a user name or client id with '+' or '#'

  explicit Who(const Subject& s) : user(s.username), client(s.clientId) {
    userForDeny = !user.empty() && !hasWildcard(user);
    userForAllow = userForDeny && user.find('/') == std::string_view::npos;
    clientForDeny = !client.empty() && !hasWildcard(client);
    clientForAllow = clientForDeny && client.find('/') == std::string_view::npos;
    userUnsafe = !user.empty() && !userForDeny;
    clientUnsafe = !clientForDeny;
    patternsMayAllow = !hasWildcard(user) && !hasWildcard(client);
  }
};

enum class Use : uint8_t { None, DenyOnly, Any };

// Whether a template level may be substituted for `who`, and for which rules.
Use templateUse(const TemplateLevel& t, const Who& who) {
  if ((t.needsUser && !who.userForDeny) || (t.needsClient && !who.clientForDeny)) {
    return Use::None;
  }
  if ((t.needsUser && !who.userForAllow) || (t.needsClient && !who.clientForAllow)) {
    return Use::DenyOnly;
  }
  return Use::Any;
}

std::string_view valueOf(char placeholder, const Who& who) {
  return placeholder == 'u' ? who.user : who.client;
}

// The first character of `t` substituted for `who` (templateUse not None).
char firstSubstitutedChar(const TemplateLevel& t, const Who& who) {
  if (!t.startsWithPlaceholder) return t.text.front();
  return valueOf(t.text[1], who).front();
}

std::string substitute(const TemplateLevel& t, const Who& who) {
  std::string out;
  scanTemplate(
      t.text, [&](std::string_view piece) { out += piece; },
      [&](char p) { out += valueOf(p, who); });
  return out;
}

constexpr size_t kNoMatch = std::string_view::npos - 1;

// Whether `t` substituted for `who` (templateUse not None) matches `topic` from `pos` (the start
// of a level) to the end of a level; then where the next level starts (kDone: none left), else
// kNoMatch. A value with '/' makes the substitution span levels.
size_t matchTemplateAt(const TemplateLevel& t, std::string_view topic, size_t pos, const Who& who) {
  bool equal = true;
  auto consume = [&](std::string_view piece) {
    if (equal && topic.substr(pos, piece.size()) == piece) {
      pos += piece.size();
    } else {
      equal = false;
    }
  };
  scanTemplate(t.text, consume, [&](char p) { consume(valueOf(p, who)); });
  if (!equal) return kNoMatch;
  if (pos == topic.size()) return kDone;
  return topic[pos] == '/' ? pos + 1 : kNoMatch;
}

// The level of `topic` that starts at `pos` (not kDone), and where the next one starts.
std::pair<std::string_view, size_t> levelAt(std::string_view topic, size_t pos) {
  const size_t slash = topic.find('/', pos);
  if (slash == std::string_view::npos) return {topic.substr(pos), kDone};
  return {topic.substr(pos, slash - pos), slash + 1};
}

// How a substituted template `value` (no wildcards; it spans levels when it holds '/') overlaps
// `filter` from `pos`, the start of a level: not at all, in everything below (the filter's '#'),
// or level by level up to where the filter's next level starts.
struct FilterOverlap {
  enum Kind : uint8_t { None, Everything, Continue } kind = None;
  size_t next = kDone;
};
FilterOverlap overlapAt(std::string_view value, std::string_view filter, size_t pos) {
  for (size_t v = 0; v != kDone;) {
    if (pos == kDone) return {};  // the filter ends where the value goes on
    const auto [valueLevel, valueNext] = levelAt(value, v);
    const auto [filterLevel, filterNext] = levelAt(filter, pos);
    if (filterLevel == "#") return {FilterOverlap::Everything};
    if (filterLevel != "+" && filterLevel != valueLevel) return {};
    v = valueNext;
    pos = filterNext;
  }
  return {FilterOverlap::Continue, pos};
}

std::string_view preposition(Action action) {
  switch (action) {
    case Action::Publish:
    case Action::Subscribe:
      return "to";
    case Action::Receive:
      return "from";
    case Action::Retain:
      return "on";
  }
  return "on";
}

}  // namespace

std::string_view actionName(Action action) {
  switch (action) {
    case Action::Publish:
      return "publish";
    case Action::Subscribe:
      return "subscribe";
    case Action::Receive:
      return "receive";
    case Action::Retain:
      return "retain";
  }
  return "unknown";
}

std::string Decision::explain() const {
  std::string text;
  if (!where.empty()) {
    text = fmt::format("{} by {} ({})", allowed ? "allowed" : "denied", where, rule);
  } else if (allowed) {
    text = "allowed";  // not made by Policy
  } else {
    text = fmt::format("denied: no rule allows {} {} \"{}\" (default deny)", actionName(action),
                       preposition(action), topic);
  }
  if (!note.empty()) text += "; " + note;
  return text;
}

struct Policy::Compiled {
  std::vector<CompiledRule> rules;
  std::vector<Node> nodes;
  std::vector<TemplateLevel> templates;
  boost::unordered_flat_map<EdgeKey, uint32_t, EdgeHash, EdgeEq> literals;
  boost::unordered_flat_map<std::string, uint32_t, StringHash, std::equal_to<>> userRoots;
  uint32_t anonymousRoot = kNone;
  uint32_t patternRoot = kNone;
  // By action: the first deny pattern needing %u (%c), which denies a client whose user name
  // (client id) cannot be substituted.
  std::array<uint32_t, 4> firstDenyNeedingUser{kNone, kNone, kNone, kNone};
  std::array<uint32_t, 4> firstDenyNeedingClient{kNone, kNone, kNone, kNone};
  bool allowPatterns = false;
  bool allowPatternsNeedingUser = false;
  bool allowPatternsNeedingClient = false;

  // ---- building

  uint32_t newNode(EdgeKind kind) {
    nodes.push_back(Node{});
    nodes.back().kind = kind;
    return static_cast<uint32_t>(nodes.size() - 1);
  }

  uint32_t literalChild(uint32_t parent, std::string_view level) {
    if (auto it = literals.find(EdgeView{parent, level}); it != literals.end()) return it->second;
    const uint32_t child = newNode(EdgeKind::Literal);
    nodes[child].dollar = nodes[parent].kind == EdgeKind::Root && level.starts_with('$');
    literals.emplace(EdgeKey{parent, std::string(level)}, child);
    return child;
  }

  uint32_t plusChild(uint32_t parent) {
    if (nodes[parent].plus == kNone) {
      const uint32_t child = newNode(EdgeKind::Plus);
      nodes[parent].plus = child;
    }
    return nodes[parent].plus;
  }

  uint32_t templateChild(uint32_t parent, std::string_view level) {
    for (uint32_t t = nodes[parent].firstTemplate; t != kNone; t = nodes[t].nextTemplate) {
      if (templates[nodes[t].templateIndex].text == level) return t;
    }
    TemplateLevel tl{std::string(level), false, false, false};
    scanTemplate(
        level, [](std::string_view) {},
        [&](char p) { (p == 'u' ? tl.needsUser : tl.needsClient) = true; });
    tl.startsWithPlaceholder =
        level.size() >= 2 && level[0] == '%' && (level[1] == 'u' || level[1] == 'c');
    templates.push_back(std::move(tl));
    const uint32_t child = newNode(EdgeKind::Template);
    nodes[child].templateIndex = static_cast<uint32_t>(templates.size() - 1);
    nodes[child].nextTemplate = nodes[parent].firstTemplate;
    nodes[parent].firstTemplate = child;
    return child;
  }

  Result<void> add(Rule rule) {
    auto error = [&](std::string_view what) {
      return fail(kUnspecified, fmt::format("{}: {}", rule.where, what));
    };
    if (auto valid = mqtt::validateTopicFilter(rule.filter); !valid) {
      return error(fmt::format("invalid topic filter: {}", valid.error().message));
    }
    if (rule.pattern && rule.scope != Rule::Scope::Everyone) {
      return error("a pattern applies to every client, not to one user or to anonymous ones");
    }
    if (rule.actions == 0 || (rule.actions & ~kAllActions) != 0) {
      return error("a rule must name one or more of publish, subscribe, receive and retain");
    }
    if (rules.size() >= kNone - 1 || nodes.size() >= kNone - 1 - 65536) {
      return error("too many rules");
    }

    uint32_t root = kNone;
    switch (rule.scope) {
      case Rule::Scope::Anonymous:
        root = anonymousRoot;
        break;
      case Rule::Scope::User:
        if (rule.user.empty()) return error("a user rule needs a user name");
        if (auto it = userRoots.find(std::string_view(rule.user)); it != userRoots.end()) {
          root = it->second;
        } else {
          root = newNode(EdgeKind::Root);
          userRoots.emplace(rule.user, root);
        }
        break;
      case Rule::Scope::Everyone:
        root = patternRoot;
        break;
    }

    // Down the levels, remembering the path to mark it for a deny rule.
    std::vector<uint32_t> path{root};
    uint32_t node = root;
    bool endsWithHash = false;
    bool needsUser = false;
    bool needsClient = false;
    for (size_t pos = 0; pos != kDone;) {
      auto [level, next] = levelAt(rule.filter, pos);
      pos = next;
      if (level == "#") {
        endsWithHash = true;
        break;
      }
      if (level == "+") {
        node = plusChild(node);
      } else if (rule.pattern && hasPlaceholder(level)) {
        node = templateChild(node, level);
        const TemplateLevel& t = templates[nodes[node].templateIndex];
        needsUser = needsUser || t.needsUser;
        needsClient = needsClient || t.needsClient;
      } else {
        node = literalChild(node, level);
      }
      path.push_back(node);
    }

    const auto index = static_cast<uint32_t>(rules.size());
    uint32_t& head = endsWithHash ? nodes[node].rest : nodes[node].exact;
    rules.push_back(
        CompiledRule{std::move(rule.text), std::move(rule.where), rule.actions, rule.deny, head});
    head = index;

    if (rule.deny) {
      for (size_t i = path.size(); i-- > 0;) {
        if (nodes[path[i]].denyAtOrBelow) break;  // and so is everything above it
        nodes[path[i]].denyAtOrBelow = true;
        if (i > 0) {
          nodes[path[i]].nextDeny = nodes[path[i - 1]].firstDenyChild;
          nodes[path[i - 1]].firstDenyChild = path[i];
        }
      }
      for (size_t a = 0; a < 4; ++a) {
        if ((rule.actions & (1u << a)) == 0) continue;
        if (needsUser) firstDenyNeedingUser[a] = std::min(firstDenyNeedingUser[a], index);
        if (needsClient) firstDenyNeedingClient[a] = std::min(firstDenyNeedingClient[a], index);
      }
    } else if (rule.scope == Rule::Scope::Everyone) {
      allowPatterns = true;
      allowPatternsNeedingUser = allowPatternsNeedingUser || needsUser;
      allowPatternsNeedingClient = allowPatternsNeedingClient || needsClient;
    }
    return {};
  }

  // ---- checking

  // The first deny and the first allow found for one action.
  struct Found {
    ActionSet bit;
    uint32_t deny = kNone;
    uint32_t allow = kNone;
  };

  void take(uint32_t head, Found& found, bool allowsCount, bool denies = true) const {
    for (uint32_t r = head; r != kNone; r = rules[r].next) {
      const CompiledRule& rule = rules[r];
      if ((rule.actions & found.bit) == 0) continue;
      if (rule.deny) {
        if (denies) found.deny = std::min(found.deny, r);
      } else if (allowsCount) {
        found.allow = std::min(found.allow, r);
      }
    }
  }

  uint32_t literal(uint32_t parent, std::string_view level) const {
    auto it = literals.find(EdgeView{parent, level});
    return it == literals.end() ? kNone : it->second;
  }

  // Every rule of the trie at `root` that matches the topic name `name`.
  void matchName(uint32_t root, std::string_view name, const Who& who, bool allowsCount,
                 Found& found) const {
    struct Step {
      uint32_t node;
      size_t pos;     // where the name's next level starts; kDone: the name is used up
      bool denyOnly;  // reached through a substitution allow rules may not use
    };
    boost::container::small_vector<Step, 16> stack{{root, 0, false}};
    const bool dollarName = name.starts_with('$');
    while (!stack.empty()) {
      const Step step = stack.back();
      stack.pop_back();
      const Node& n = nodes[step.node];
      const bool atRoot = step.node == root;
      const bool allows = allowsCount && !step.denyOnly;
      // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a '$' topic.
      if (!(atRoot && dollarName)) take(n.rest, found, allows);
      if (step.pos == kDone) {
        take(n.exact, found, allows);
        continue;
      }
      const auto [level, next] = levelAt(name, step.pos);
      if (const uint32_t child = literal(step.node, level); child != kNone) {
        stack.push_back({child, next, step.denyOnly});
      }
      if (n.plus != kNone && !(atRoot && dollarName)) {
        stack.push_back({n.plus, next, step.denyOnly});
      }
      for (uint32_t t = n.firstTemplate; t != kNone; t = nodes[t].nextTemplate) {
        const TemplateLevel& tl = templates[nodes[t].templateIndex];
        const Use use = templateUse(tl, who);
        if (use == Use::None) continue;
        const size_t after = matchTemplateAt(tl, name, step.pos, who);
        if (after == kNoMatch) continue;
        // A user named "$SYS" must not get "$SYS/#" from "pattern read %u/#".
        stack.push_back(
            {t, after, step.denyOnly || use == Use::DenyOnly || (atRoot && dollarName)});
      }
    }
  }

  // The allow rules of the trie at `root` whose filter covers all of `filter`.
  void coverFilter(uint32_t root, std::string_view filter, const Who& who, bool allowsCount,
                   Found& found) const {
    if (!allowsCount) return;
    struct Step {
      uint32_t node;
      size_t pos;
    };
    boost::container::small_vector<Step, 16> stack{{root, 0}};
    const bool dollarFilter = filter.starts_with('$');
    while (!stack.empty()) {
      const Step step = stack.back();
      stack.pop_back();
      const Node& n = nodes[step.node];
      const bool atRoot = step.node == root;
      if (!(atRoot && dollarFilter)) take(n.rest, found, true, false);
      if (step.pos == kDone) {
        take(n.exact, found, true, false);
        continue;
      }
      const auto [level, next] = levelAt(filter, step.pos);
      if (level == "#") continue;  // only a rule's '#' covers it: the rest rules above
      if (level == "+") {
        if (n.plus != kNone) stack.push_back({n.plus, next});
        continue;
      }
      if (const uint32_t child = literal(step.node, level); child != kNone) {
        stack.push_back({child, next});
      }
      if (atRoot && dollarFilter) continue;  // neither '+' nor a substitution covers a '$' level
      if (n.plus != kNone) stack.push_back({n.plus, next});
      for (uint32_t t = n.firstTemplate; t != kNone; t = nodes[t].nextTemplate) {
        const TemplateLevel& tl = templates[nodes[t].templateIndex];
        if (templateUse(tl, who) != Use::Any) continue;
        // Values for allow rules hold no '/', so this compares one level.
        const size_t after = matchTemplateAt(tl, filter, step.pos, who);
        if (after != kNoMatch) stack.push_back({t, after});
      }
    }
  }

  // The deny rules of the trie at `root` that match some topic `filter` matches too.
  void overlapFilter(uint32_t root, std::string_view filter, const Who& who, Found& found) const {
    struct Step {
      uint32_t node;
      size_t pos;  // where the filter's next level starts; kDone: the filter ended
      bool below;  // the filter's '#' took the rest: all at and below `node` overlaps
    };
    boost::container::small_vector<Step, 16> stack{{root, 0, false}};
    const bool dollarFilter = filter.starts_with('$');
    // Whether a wildcard level of the filter reaches child `c` of `parent`.
    auto wildcardReaches = [&](uint32_t c, bool atRoot) {
      const Node& child = nodes[c];
      if (child.kind == EdgeKind::Template) {
        const TemplateLevel& tl = templates[child.templateIndex];
        if (templateUse(tl, who) == Use::None) return false;
        return !atRoot || firstSubstitutedChar(tl, who) != '$';
      }
      return !(atRoot && child.dollar);
    };
    while (!stack.empty()) {
      const Step step = stack.back();
      stack.pop_back();
      const Node& n = nodes[step.node];
      if (!n.denyAtOrBelow) continue;
      const bool atRoot = step.node == root;
      if (step.below) {
        take(n.exact, found, false);
        take(n.rest, found, false);
        for (uint32_t c = n.firstDenyChild; c != kNone; c = nodes[c].nextDeny) {
          if (wildcardReaches(c, false)) stack.push_back({c, kDone, true});
        }
        continue;
      }
      if (!(atRoot && dollarFilter)) take(n.rest, found, false);
      if (step.pos == kDone) {
        take(n.exact, found, false);
        continue;
      }
      const auto [level, next] = levelAt(filter, step.pos);
      if (level == "#") {
        // "a/#" matches "a" itself, and everything below it.
        take(n.exact, found, false);
        for (uint32_t c = n.firstDenyChild; c != kNone; c = nodes[c].nextDeny) {
          if (wildcardReaches(c, atRoot)) stack.push_back({c, kDone, true});
        }
        continue;
      }
      if (level == "+") {
        for (uint32_t c = n.firstDenyChild; c != kNone; c = nodes[c].nextDeny) {
          if (nodes[c].kind != EdgeKind::Template && wildcardReaches(c, atRoot)) {
            stack.push_back({c, next, false});
          }
        }
      } else {
        if (const uint32_t child = literal(step.node, level); child != kNone) {
          stack.push_back({child, next, false});
        }
        if (n.plus != kNone && !(atRoot && dollarFilter)) stack.push_back({n.plus, next, false});
      }
      for (uint32_t t = n.firstTemplate; t != kNone; t = nodes[t].nextTemplate) {
        if (!nodes[t].denyAtOrBelow) continue;
        const TemplateLevel& tl = templates[nodes[t].templateIndex];
        if (templateUse(tl, who) == Use::None) continue;
        const std::string value = substitute(tl, who);
        if (atRoot && value.starts_with('$') && level == "+") continue;
        const FilterOverlap o = overlapAt(value, filter, step.pos);
        if (o.kind == FilterOverlap::Everything) {
          stack.push_back({t, kDone, true});
        } else if (o.kind == FilterOverlap::Continue) {
          stack.push_back({t, o.next, false});
        }
      }
    }
  }

  // The root of the topic rules that apply to `who`; kNone when none do.
  uint32_t topicRoot(const Who& who) const {
    if (who.user.empty()) return anonymousRoot;
    auto it = userRoots.find(who.user);
    return it == userRoots.end() ? kNone : it->second;
  }

  // Deny patterns that cannot be applied to `who` deny it everything.
  void denyUnsubstitutable(const Who& who, Action action, Found& found) const {
    const auto a = static_cast<size_t>(action);
    if (who.userUnsafe) found.deny = std::min(found.deny, firstDenyNeedingUser[a]);
    if (who.clientUnsafe) found.deny = std::min(found.deny, firstDenyNeedingClient[a]);
  }

  // The rules that match `action` on the topic name `topic` for `w`; false (nothing looked up)
  // when `topic` is not a topic name: a filter here would be matched as if its wildcards were
  // words.
  bool matchTopicName(const Who& w, Action action, std::string_view topic, Found& found) const {
    if (topic.empty() || topic.find_first_of("+#") != std::string_view::npos) return false;
    if (const uint32_t root = topicRoot(w); root != kNone) matchName(root, topic, w, true, found);
    matchName(patternRoot, topic, w, w.patternsMayAllow, found);
    denyUnsubstitutable(w, action, found);
    return true;
  }

  Decision decide(const Found& found, const Who& who, Action action, std::string_view topic) const {
    Decision d;
    d.action = action;
    d.topic = std::string(topic);
    if (found.deny != kNone) {
      const CompiledRule& rule = rules[found.deny];
      d.rule = rule.text;
      d.where = rule.where;
      const auto a = static_cast<size_t>(action);
      if (who.userUnsafe && found.deny == firstDenyNeedingUser[a]) {
        d.note =
            "the user name contains '+' or '#', so this pattern's %u cannot be substituted "
            "and it denies everything";
      } else if (who.clientUnsafe && found.deny == firstDenyNeedingClient[a]) {
        d.note =
            "the client id is empty or contains '+' or '#', so this pattern's %c cannot be "
            "substituted and it denies everything";
      }
    } else if (found.allow != kNone) {
      const CompiledRule& rule = rules[found.allow];
      d.allowed = true;
      d.rule = rule.text;
      d.where = rule.where;
    } else if (allowPatterns && !who.patternsMayAllow) {
      d.note =
          "no pattern allows anything to a client whose user name or client id contains "
          "'+' or '#'";
    } else if (allowPatternsNeedingUser && !who.user.empty() && !who.userForAllow) {
      d.note = "patterns with %u allow nothing to a user name containing '/'";
    } else if (allowPatternsNeedingClient && !who.clientForAllow) {
      d.note = "patterns with %c allow nothing to a client id that is empty or contains '/'";
    }
    return d;
  }
};

Policy::Policy() : Policy(nullptr) {}

Policy::Policy(std::unique_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {
  if (!compiled_) {
    auto empty = std::make_unique<Compiled>();
    empty->anonymousRoot = empty->newNode(EdgeKind::Root);
    empty->patternRoot = empty->newNode(EdgeKind::Root);
    compiled_ = std::move(empty);
  }
}

Policy::~Policy() = default;
Policy::Policy(Policy&&) noexcept = default;
Policy& Policy::operator=(Policy&&) noexcept = default;

Result<Policy> Policy::fromRules(std::vector<Rule> rules) {
  auto compiled = std::make_unique<Compiled>();
  compiled->anonymousRoot = compiled->newNode(EdgeKind::Root);
  compiled->patternRoot = compiled->newNode(EdgeKind::Root);
  compiled->rules.reserve(rules.size());
  for (Rule& rule : rules) MOAT_TRY(compiled->add(std::move(rule)));
  return Policy(std::move(compiled));
}

Result<Policy> Policy::parseAclFile(std::string_view text, std::string_view source) {
  auto rules = parseAclRules(text, source);
  if (!rules) return tl::unexpected(std::move(rules).error());
  return fromRules(std::move(*rules));
}

Result<Policy> Policy::loadAclFile(const std::filesystem::path& path) {
  auto text = readWholeFile(path);
  if (!text) return tl::unexpected(std::move(text).error());
  return parseAclFile(*text, path.string());
}

Decision Policy::check(const Subject& who, Action action, std::string_view topic) const {
  if (action == Action::Subscribe) return checkSubscribe(who, topic);
  const Compiled& c = *compiled_;
  const Who w(who);
  Compiled::Found found{actionBit(action)};
  const bool name = c.matchTopicName(w, action, topic, found);
  Decision d = c.decide(found, w, action, topic);
  if (!name) d.note = "not a topic name";
  return d;
}

bool Policy::allows(const Subject& who, Action action, std::string_view topic) const {
  if (action == Action::Subscribe) return checkSubscribe(who, topic).allowed;
  const Compiled& c = *compiled_;
  const Who w(who);
  Compiled::Found found{actionBit(action)};
  return c.matchTopicName(w, action, topic, found) && found.deny == kNone && found.allow != kNone;
}

Decision Policy::checkSubscribe(const Subject& who, std::string_view filter) const {
  const Compiled& c = *compiled_;
  const Who w(who);
  Compiled::Found found{actionBit(Action::Subscribe)};
  if (auto valid = mqtt::validateTopicFilter(filter); !valid) {
    Decision d = c.decide(found, w, Action::Subscribe, filter);
    d.note = "not a valid topic filter: " + valid.error().message;
    return d;
  }
  std::string_view f = filter;
  if (auto shared = mqtt::parseSharedFilter(filter)) f = shared->filter;
  if (const uint32_t root = c.topicRoot(w); root != kNone) {
    c.overlapFilter(root, f, w, found);
    c.coverFilter(root, f, w, true, found);
  }
  c.overlapFilter(c.patternRoot, f, w, found);
  c.coverFilter(c.patternRoot, f, w, w.patternsMayAllow, found);
  c.denyUnsubstitutable(w, Action::Subscribe, found);
  return c.decide(found, w, Action::Subscribe, filter);
}

size_t Policy::ruleCount() const { return compiled_->rules.size(); }

}  // namespace moat::security::authz
