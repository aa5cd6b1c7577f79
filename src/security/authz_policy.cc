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
#include "security/authz_policy_file.h"
#include "security/authz_substitution.h"
#include "security/authz_trie.h"

namespace moat::security::authz {

namespace {

using namespace detail;  // authz_substitution.h

}  // namespace

// What the policy.toml says about one user, with its roles resolved to tries.
struct UserInfo {
  std::vector<uint32_t> roleRoots;  // its roles' and its groups' roles'
  Fields attributes;
  std::string tenant;
};

// A deny rule whose filter needs a variable: it denies everything to a client whose value for
// the variable is unsafe ('+' or '#'), as it cannot be substituted.
struct DenyNeed {
  uint32_t root;
  uint32_t rule;
  uint16_t var;
  Placeholders syntax;
};

struct Policy::Compiled {
  std::vector<CompiledRule> rules;
  std::vector<Node> nodes;
  std::vector<TemplateLevel> templates;
  std::vector<Condition> conditions;
  std::vector<std::string> attributeNames;  // variable kVarAttr0 + i
  boost::unordered_flat_map<EdgeKey, uint32_t, EdgeHash, EdgeEq> literals;
  boost::unordered_flat_map<std::string, uint32_t, StringHash, std::equal_to<>> userRoots;
  boost::unordered_flat_map<std::string, uint32_t, StringHash, std::equal_to<>> roleRoots;
  boost::unordered_flat_map<std::string, UserInfo, StringHash, std::equal_to<>> users;
  std::vector<uint32_t> anonymousRoleRoots;
  std::vector<uint32_t> authenticatedRoleRoots;
  Directory directory;
  uint32_t anonymousRoot = kNone;
  uint32_t patternRoot = kNone;
  std::vector<DenyNeed> denyNeeds;
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

  uint16_t attributeVar(std::string_view name) {
    auto it = std::find(attributeNames.begin(), attributeNames.end(), name);
    if (it == attributeNames.end()) it = attributeNames.insert(it, std::string(name));
    return static_cast<uint16_t>(kVarAttr0 + (it - attributeNames.begin()));
  }

  Result<uint32_t> templateChild(uint32_t parent, std::string_view level, Placeholders syntax) {
    for (uint32_t t = nodes[parent].firstTemplate; t != kNone; t = nodes[t].nextTemplate) {
      const TemplateLevel& tl = templates[nodes[t].templateIndex];
      if (tl.text == level && tl.syntax == syntax) return t;
    }
    auto pieces =
        parsePieces(level, syntax, [&](std::string_view name) { return attributeVar(name); });
    if (!pieces) return tl::unexpected(std::move(pieces).error());
    TemplateLevel tl{std::string(level), syntax, std::move(*pieces), {}};
    for (const Piece& p : tl.pieces) {
      if (p.var != kText && std::find(tl.vars.begin(), tl.vars.end(), p.var) == tl.vars.end()) {
        tl.vars.push_back(p.var);
      }
    }
    templates.push_back(std::move(tl));
    const uint32_t child = newNode(EdgeKind::Template);
    nodes[child].templateIndex = static_cast<uint32_t>(templates.size() - 1);
    nodes[child].nextTemplate = nodes[parent].firstTemplate;
    nodes[parent].firstTemplate = child;
    return child;
  }

  uint32_t roleRoot(const std::string& role) {
    if (auto it = roleRoots.find(std::string_view(role)); it != roleRoots.end()) return it->second;
    const uint32_t root = newNode(EdgeKind::Root);
    roleRoots.emplace(role, root);
    return root;
  }

  Result<void> add(Rule rule) {
    auto error = [&](std::string_view what) {
      return fail(kUnspecified, fmt::format("{}: {}", rule.where, what));
    };
    if (auto valid = mqtt::validateTopicFilter(rule.filter); !valid) {
      return error(fmt::format("invalid topic filter: {}", valid.error().message));
    }
    if (rule.placeholders == Placeholders::Mosquitto && rule.scope != Rule::Scope::Everyone) {
      return error("a pattern applies to every client, not to one user or to anonymous ones");
    }
    if (rule.actions == 0 || (rule.actions & ~kAllActions) != 0) {
      return error("a rule must name one or more of publish, subscribe, receive and retain");
    }
    if (rule.maxQos > 2) return error("max_qos must be 0, 1 or 2");
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
      case Rule::Scope::Role:
        if (rule.role.empty()) return error("a role rule needs a role");
        root = roleRoot(rule.role);
        break;
    }

    // Down the levels, remembering the path to mark it for a deny rule.
    std::vector<uint32_t> path{root};
    uint32_t node = root;
    bool endsWithHash = false;
    std::vector<uint16_t> needs;
    for (size_t pos = 0; pos != kDone;) {
      auto [level, next] = levelAt(rule.filter, pos);
      pos = next;
      if (level == "#") {
        endsWithHash = true;
        break;
      }
      if (level == "+") {
        node = plusChild(node);
      } else if (hasPlaceholder(level, rule.placeholders)) {
        auto child = templateChild(node, level, rule.placeholders);
        if (!child) return error(child.error().message);
        node = *child;
        for (uint16_t v : templates[nodes[node].templateIndex].vars) {
          if (std::find(needs.begin(), needs.end(), v) == needs.end()) needs.push_back(v);
        }
      } else {
        node = literalChild(node, level);
      }
      path.push_back(node);
    }

    const auto index = static_cast<uint32_t>(rules.size());
    uint32_t condition = kNone;
    if (rule.when) {
      conditions.push_back(std::move(*rule.when));
      condition = static_cast<uint32_t>(conditions.size() - 1);
    }
    uint32_t& head = endsWithHash ? nodes[node].rest : nodes[node].exact;
    rules.push_back(CompiledRule{std::move(rule.text), std::move(rule.where), rule.actions,
                                 rule.deny, rule.maxQos, condition, head});
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
      for (uint16_t v : needs) denyNeeds.push_back(DenyNeed{root, index, v, rule.placeholders});
    } else if (rule.scope == Rule::Scope::Everyone) {
      allowPatterns = true;
      for (uint16_t v : needs) {
        allowPatternsNeedingUser = allowPatternsNeedingUser || v == kVarUser;
        allowPatternsNeedingClient = allowPatternsNeedingClient || v == kVarClient;
      }
    }
    return {};
  }

  // Resolves the directory's roles to tries (a role without rules has none).
  void setDirectory(Directory d) {
    auto rootsOf = [&](const std::vector<std::string>& roles, std::vector<uint32_t>& out) {
      for (const auto& role : roles) {
        auto it = roleRoots.find(std::string_view(role));
        if (it != roleRoots.end() && std::find(out.begin(), out.end(), it->second) == out.end()) {
          out.push_back(it->second);
        }
      }
    };
    for (const auto& [name, user] : d.users) {
      UserInfo info;
      rootsOf(user.roles, info.roleRoots);
      for (const auto& group : user.groups) {
        if (auto it = d.groups.find(group); it != d.groups.end())
          rootsOf(it->second, info.roleRoots);
      }
      info.attributes = user.attributes;
      info.tenant = user.tenant;
      users.emplace(name, std::move(info));
    }
    rootsOf(d.anonymousRoles, anonymousRoleRoots);
    rootsOf(d.authenticatedRoles, authenticatedRoleRoots);
    directory = std::move(d);
  }

  // ---- checking

  // The first deny and the first allow found for one action.
  struct Found {
    ActionSet bit;
    const Who& who;   // for conditions
    uint8_t qos = 0;  // Publish: an allow rule with a lower max_qos does not count
    uint32_t deny = kNone;
    uint32_t allow = kNone;
    uint8_t maxQos = 0;  // the highest max_qos of the allow rules that counted
  };

  void take(uint32_t head, Found& found, bool allowsCount, bool denies = true) const {
    for (uint32_t r = head; r != kNone; r = rules[r].next) {
      const CompiledRule& rule = rules[r];
      if ((rule.actions & found.bit) == 0) continue;
      if (rule.deny ? !denies : (!allowsCount || rule.maxQos < found.qos)) continue;
      if (rule.condition != kNone && !found.who.holds(conditions[rule.condition])) continue;
      if (rule.deny) {
        found.deny = std::min(found.deny, r);
      } else {
        found.allow = std::min(found.allow, r);
        found.maxQos = std::max(found.maxQos, rule.maxQos);
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

  // The tenant named by the policy.toml, the token or the certificate: the first there is (they
  // agree, or tenantOf refuses the client).
  std::string_view tenantName(const Subject& s, const UserInfo* user) const {
    if (user && !user->tenant.empty()) return user->tenant;
    if (!s.tenant().empty()) return s.tenant();
    if (!directory.tenantFromCert.empty()) {
      const auto& values = valuesOf(s.cert, directory.tenantFromCert);
      if (values.size() == 1) return values.front();
    }
    return {};
  }

  // Everything a check needs to know about `s`.
  Who who(const Subject& s) const {
    Who w(s);
    const UserInfo* user = nullptr;
    if (!s.username.empty() && !users.empty()) {
      if (auto it = users.find(std::string_view(s.username)); it != users.end()) {
        user = &it->second;
        w.attributes = &user->attributes;
      }
    }
    w.vars.resize(kVarAttr0 + attributeNames.size());
    w.vars[kVarUser] = Var::of(s.username);
    w.vars[kVarClient] = Var::of(s.clientId);
    w.vars[kVarClient].unsafe = !w.vars[kVarClient].forDeny;  // always there: empty is unsafe
    const auto& cn = valuesOf(s.cert, "cn");
    if (cn.size() == 1) w.vars[kVarCertCn] = Var::of(cn.front());
    w.vars[kVarTenant] = Var::of(tenantName(s, user));
    for (size_t i = 0; i < attributeNames.size(); ++i) {
      const auto& values = valuesOf(*w.attributes, attributeNames[i]);
      if (values.size() == 1) w.vars[kVarAttr0 + i] = Var::of(values.front());
    }
    w.patternsMayAllow = !hasWildcard(s.username) && !hasWildcard(s.clientId);

    if (s.username.empty()) {
      w.addRoot(anonymousRoot);
      for (uint32_t r : anonymousRoleRoots) w.addRoot(r);
    } else {
      if (auto it = userRoots.find(std::string_view(s.username)); it != userRoots.end()) {
        w.addRoot(it->second);
      }
      if (user) {
        for (uint32_t r : user->roleRoots) w.addRoot(r);
      }
      for (uint32_t r : authenticatedRoleRoots) w.addRoot(r);
    }
    if (!roleRoots.empty()) {
      auto addRole = [&](std::string_view role) {
        if (auto it = roleRoots.find(role); it != roleRoots.end()) w.addRoot(it->second);
      };
      for (const auto& role : s.roles()) addRole(role);
      if (directory.rolesFromCertOu) {
        for (const auto& ou : valuesOf(s.cert, "ou")) addRole(ou);
      }
      if (directory.rolesFromCertO) {
        for (const auto& o : valuesOf(s.cert, "o")) addRole(o);
      }
    }
    return w;
  }

  // Deny rules that cannot be applied to `who` deny it everything.
  void denyUnsubstitutable(const Who& who, Found& found) const {
    for (const DenyNeed& d : denyNeeds) {
      if (d.rule >= found.deny || (rules[d.rule].actions & found.bit) == 0) continue;
      if (!who.var(d.var).unsafe || (d.root != patternRoot && !who.hasRoot(d.root))) continue;
      const CompiledRule& rule = rules[d.rule];
      if (rule.condition != kNone && !who.holds(conditions[rule.condition])) continue;
      found.deny = d.rule;
    }
  }

  // The rules that match `action` on the topic name `topic` for `w`; false (nothing looked up)
  // when `topic` is not a topic name: a filter here would be matched as if its wildcards were
  // words.
  bool matchTopicName(const Who& w, std::string_view topic, Found& found) const {
    if (topic.empty() || topic.find_first_of("+#") != std::string_view::npos) return false;
    for (uint32_t root : w.roots) matchName(root, topic, w, true, found);
    matchName(patternRoot, topic, w, w.patternsMayAllow, found);
    denyUnsubstitutable(w, found);
    return true;
  }

  static std::string_view variableName(uint16_t var, Placeholders syntax) {
    switch (var) {
      case kVarUser:
        return syntax == Placeholders::Mosquitto ? "%u" : "${username}";
      case kVarClient:
        return syntax == Placeholders::Mosquitto ? "%c" : "${client_id}";
      case kVarCertCn:
        return "${cert.cn}";
      case kVarTenant:
        return "${tenant}";
    }
    return "${attr...}";
  }

  Decision decide(const Found& found, const Who& who, Action action, std::string_view topic) const {
    Decision d;
    d.action = action;
    d.topic = std::string(topic);
    if (found.deny != kNone) {
      const CompiledRule& rule = rules[found.deny];
      d.rule = rule.text;
      d.where = rule.where;
      for (const DenyNeed& need : denyNeeds) {
        if (need.rule != found.deny || !who.var(need.var).unsafe) continue;
        std::string value =
            need.var == kVarUser     ? "the user name"
            : need.var == kVarClient ? "the client id"
            : need.var >= kVarAttr0
                ? fmt::format("attribute \"{}\"", attributeNames[need.var - kVarAttr0])
                : fmt::format("the value of {}", variableName(need.var, need.syntax));
        d.note = fmt::format(
            "{} {}contains '+' or '#', so this {}'s {} cannot be substituted and it denies "
            "everything",
            value, need.var == kVarClient ? "is empty or " : "",
            need.syntax == Placeholders::Mosquitto ? "pattern" : "rule",
            need.var >= kVarAttr0
                ? fmt::format("${{attr.{}}}", attributeNames[need.var - kVarAttr0])
                : std::string(variableName(need.var, need.syntax)));
        break;
      }
    } else if (found.allow != kNone) {
      const CompiledRule& rule = rules[found.allow];
      d.allowed = true;
      d.rule = rule.text;
      d.where = rule.where;
      d.maxQos = found.maxQos;
    } else if (allowPatterns && !who.patternsMayAllow) {
      d.note =
          "no pattern allows anything to a client whose user name or client id contains "
          "'+' or '#'";
    } else if (allowPatternsNeedingUser && !who.subject.username.empty() &&
               !who.var(kVarUser).forAllow) {
      d.note = "patterns with %u allow nothing to a user name containing '/'";
    } else if (allowPatternsNeedingClient && !who.var(kVarClient).forAllow) {
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

Result<Policy> Policy::fromRules(std::vector<Rule> rules, Directory directory) {
  auto compiled = std::make_unique<Compiled>();
  compiled->anonymousRoot = compiled->newNode(EdgeKind::Root);
  compiled->patternRoot = compiled->newNode(EdgeKind::Root);
  compiled->rules.reserve(rules.size());
  for (Rule& rule : rules) MOAT_TRY(compiled->add(std::move(rule)));
  compiled->setDirectory(std::move(directory));
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

Result<Policy> Policy::loadFiles(const std::filesystem::path& aclFile,
                                 const std::filesystem::path& policyFile) {
  auto sources = readPolicySources(aclFile, policyFile);
  if (!sources) return tl::unexpected(std::move(sources).error());
  return fromRules(std::move(sources->rules), std::move(sources->directory));
}

Decision Policy::check(const Subject& who, Action action, std::string_view topic,
                       uint8_t qos) const {
  if (action == Action::Subscribe) return checkSubscribe(who, topic);
  const Compiled& c = *compiled_;
  const Who w = c.who(who);
  Compiled::Found found{actionBit(action), w, action == Action::Publish ? qos : uint8_t(0)};
  const bool name = c.matchTopicName(w, topic, found);
  Decision d = c.decide(found, w, action, topic);
  if (!name) d.note = "not a topic name";
  if (!d.allowed && name && found.deny == kNone && action == Action::Publish && qos > 0) {
    // Would a lower QoS have been allowed? Then max_qos is why.
    Compiled::Found any{actionBit(action), w, 0};
    c.matchTopicName(w, topic, any);
    if (any.deny == kNone && any.allow != kNone) {
      d.note = fmt::format("allowed only up to QoS {} (max_qos of {})", any.maxQos,
                           c.rules[any.allow].where);
    }
  }
  return d;
}

bool Policy::allows(const Subject& who, Action action, std::string_view topic, uint8_t qos,
                    bool* cacheable) const {
  if (action == Action::Subscribe) {
    if (cacheable) *cacheable = false;
    return checkSubscribe(who, topic).allowed;
  }
  const Compiled& c = *compiled_;
  const Who w = c.who(who);
  Compiled::Found found{actionBit(action), w, action == Action::Publish ? qos : uint8_t(0)};
  const bool allowed =
      c.matchTopicName(w, topic, found) && found.deny == kNone && found.allow != kNone;
  if (cacheable) *cacheable = !w.timeDependent;
  return allowed;
}

Decision Policy::checkSubscribe(const Subject& who, std::string_view filter) const {
  const Compiled& c = *compiled_;
  const Who w = c.who(who);
  Compiled::Found found{actionBit(Action::Subscribe), w};
  if (auto valid = mqtt::validateTopicFilter(filter); !valid) {
    Decision d = c.decide(found, w, Action::Subscribe, filter);
    d.note = "not a valid topic filter: " + valid.error().message;
    return d;
  }
  std::string_view f = filter;
  if (auto shared = mqtt::parseSharedFilter(filter)) f = shared->filter;
  for (uint32_t root : w.roots) {
    c.overlapFilter(root, f, w, found);
    c.coverFilter(root, f, w, true, found);
  }
  c.overlapFilter(c.patternRoot, f, w, found);
  c.coverFilter(c.patternRoot, f, w, w.patternsMayAllow, found);
  c.denyUnsubstitutable(w, found);
  return c.decide(found, w, Action::Subscribe, filter);
}

Result<std::optional<Tenant>> Policy::tenantOf(const Subject& who) const {
  const Compiled& c = *compiled_;
  std::vector<std::pair<std::string_view, std::string>> named;  // source, tenant
  if (!who.username.empty()) {
    if (auto it = c.users.find(std::string_view(who.username));
        it != c.users.end() && !it->second.tenant.empty()) {
      named.emplace_back("the policy file", it->second.tenant);
    }
  }
  if (!who.tenant().empty()) named.emplace_back("the token", who.tenant());
  if (!c.directory.tenantFromCert.empty()) {
    const auto& values = valuesOf(who.cert, c.directory.tenantFromCert);
    if (values.size() > 1) {
      return fail(0x87, fmt::format("the certificate has {} {} fields: which one is the tenant?",
                                    values.size(), c.directory.tenantFromCert));
    }
    if (values.size() == 1) named.emplace_back("the certificate", values.front());
  }
  if (named.empty()) return std::optional<Tenant>{};
  for (const auto& [source, name] : named) {
    if (name != named.front().second) {
      return fail(0x87, fmt::format("{} names tenant \"{}\" but {} names \"{}\"",
                                    named.front().first, named.front().second, source, name));
    }
  }
  const std::string& name = named.front().second;
  if (!validTenantName(name)) {
    return fail(0x87, fmt::format("tenant \"{}\" from {} is not a valid tenant name", name,
                                  named.front().first));
  }
  Tenant t{name, {}};
  if (auto it = c.directory.mounts.find(name); it != c.directory.mounts.end()) {
    t.mount = it->second;
  } else {
    t.mount = "tenants/" + name + "/";
  }
  return std::optional<Tenant>(std::move(t));
}

std::vector<std::string> Policy::rolesOf(const Subject& who) const {
  const Directory& d = compiled_->directory;
  std::vector<std::string> roles;
  auto add = [&](const std::vector<std::string>& names) {
    for (const auto& n : names) {
      if (std::find(roles.begin(), roles.end(), n) == roles.end()) roles.push_back(n);
    }
  };
  if (who.username.empty()) {
    add(d.anonymousRoles);
  } else {
    if (auto it = d.users.find(who.username); it != d.users.end()) {
      add(it->second.roles);
      for (const auto& g : it->second.groups) {
        if (auto git = d.groups.find(g); git != d.groups.end()) add(git->second);
      }
    }
    add(d.authenticatedRoles);
  }
  add(who.roles());
  if (d.rolesFromCertOu) add(valuesOf(who.cert, "ou"));
  if (d.rolesFromCertO) add(valuesOf(who.cert, "o"));
  return roles;
}

size_t Policy::ruleCount() const { return compiled_->rules.size(); }

bool validTenantName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && !name.starts_with('$') &&
         name.find_first_of("/+#") == std::string_view::npos &&
         std::none_of(name.begin(), name.end(),
                      [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
}

}  // namespace moat::security::authz
