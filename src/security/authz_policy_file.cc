#include "security/authz_policy_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "base/atomic_file.h"
#include "config/toml_reader.h"
#include "mqtt/topic.h"
#include "security/authz_acl_file.h"
#include "security/username.h"

namespace moat::security::authz {

namespace {

using config::detail::at;
using config::detail::TableReader;

// Actions by name, with the acl_file's read and write for convenience.
bool parseAction(std::string_view name, ActionSet& out) {
  if (name == "publish") {
    out |= actionBit(Action::Publish);
  } else if (name == "subscribe") {
    out |= actionBit(Action::Subscribe);
  } else if (name == "receive") {
    out |= actionBit(Action::Receive);
  } else if (name == "retain") {
    out |= actionBit(Action::Retain);
  } else if (name == "read") {
    out |= actionBit(Action::Subscribe) | actionBit(Action::Receive);
  } else if (name == "write") {
    out |= actionBit(Action::Publish) | actionBit(Action::Retain);
  } else if (name == "all") {
    out |= kAllActions;
  } else {
    return false;
  }
  return true;
}

// A name used as a role, group or tenant: one topic level's worth, printable.
bool validName(std::string_view name) { return validTenantName(name); }

class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  Result<PolicyFile> read(const toml::table& root) {
    TableReader top(source_, root, "policy");
    for (const auto& [key, node] : root) {
      const std::string_view k = key.str();
      if (k == "roles") {
        top.accept(k);
        MOAT_TRY(roles(node));
      } else if (k == "users") {
        top.accept(k);
        MOAT_TRY(users(node));
      } else if (k == "groups") {
        top.accept(k);
        MOAT_TRY(groups(node));
      } else if (k == "tenants") {
        top.accept(k);
        MOAT_TRY(tenants(node));
      } else if (k == "authenticated" || k == "anonymous") {
        top.accept(k);
        const toml::table* t = node.as_table();
        if (!t) return tl::unexpected(at(source_, node, fmt::format("[{}] must be a table", k)));
        TableReader r(source_, *t, k);
        auto& roles =
            k == "anonymous" ? out_.directory.anonymousRoles : out_.directory.authenticatedRoles;
        MOAT_TRY(r.strings("roles", roles));
        MOAT_TRY(r.finish());
        for (const auto& role : roles) references_.push_back({role, "role", &node});
      } else if (k == "certificates") {
        top.accept(k);
        MOAT_TRY(certificates(node));
      }
    }
    MOAT_TRY(top.finish());
    for (const auto& ref : references_) {
      const bool known = ref.kind == "role"    ? definedRoles_.count(ref.name) > 0
                         : ref.kind == "group" ? out_.directory.groups.count(ref.name) > 0
                                               : true;
      if (!known) {
        return tl::unexpected(at(source_, *ref.node,
                                 fmt::format("{} \"{}\" is not defined (a [{}s.{}] table)",
                                             ref.kind, ref.name, ref.kind, ref.name)));
      }
    }
    out_.roles.assign(definedRoles_.begin(), definedRoles_.end());
    return std::move(out_);
  }

 private:
  struct Reference {
    std::string name;
    std::string_view kind;
    const toml::node* node;
  };

  Result<const toml::table*> tableOf(const toml::node& node, std::string_view what) {
    const toml::table* t = node.as_table();
    if (!t) return tl::unexpected(at(source_, node, fmt::format("{} must be a table", what)));
    return t;
  }

  Result<void> checkName(const toml::node& node, std::string_view kind, std::string_view name) {
    if (!validName(name)) {
      return tl::unexpected(at(source_, node,
                               fmt::format("{} name \"{}\" must be 1..64 characters without '/', "
                                           "'+', '#' or control characters, not starting with '$'",
                                           kind, name)));
    }
    return {};
  }

  Result<void> roles(const toml::node& node) {
    auto allOr = tableOf(node, "[roles]");
    if (!allOr) return tl::unexpected(std::move(allOr).error());
    const toml::table* all = *allOr;
    for (const auto& [key, roleNode] : *all) {
      const std::string role(key.str());
      MOAT_TRY(checkName(roleNode, "role", role));
      definedRoles_.insert(role);
      auto tOr = tableOf(roleNode, fmt::format("[roles.{}]", role));
      if (!tOr) return tl::unexpected(std::move(tOr).error());
      const toml::table* t = *tOr;
      TableReader r(source_, *t, "roles." + role);
      r.accept("rules");
      MOAT_TRY(r.finish());
      const toml::node* rules = t->get("rules");
      if (!rules) continue;
      const toml::array* list = rules->as_array();
      if (!list) {
        return tl::unexpected(at(source_, *rules,
                                 fmt::format("roles.{}.rules must be a list of tables "
                                             "([[roles.{}.rules]])",
                                             role, role)));
      }
      for (const auto& item : *list) MOAT_TRY(rule(role, item));
    }
    return {};
  }

  Result<void> rule(const std::string& role, const toml::node& node) {
    const std::string path = fmt::format("roles.{}.rules", role);
    auto tOr = tableOf(node, "a rule in " + path);
    if (!tOr) return tl::unexpected(std::move(tOr).error());
    const toml::table* t = *tOr;
    TableReader r(source_, *t, path);
    std::vector<std::string> allow, deny, topics;
    MOAT_TRY(r.strings("allow", allow));
    MOAT_TRY(r.strings("deny", deny));
    MOAT_TRY(r.strings("topic", topics));
    MOAT_TRY(r.strings("topics", topics));
    int64_t maxQos = -1;
    MOAT_TRY(r.integer("max_qos", maxQos, 0, 2));
    r.accept("when");
    MOAT_TRY(r.finish());
    auto error = [&](std::string_view what) { return tl::unexpected(at(source_, node, what)); };
    if (allow.empty() == deny.empty()) {
      return error(fmt::format("a rule in {} needs either allow = [...] or deny = [...]", path));
    }
    if (topics.empty()) return error(fmt::format("a rule in {} needs topic or topics", path));
    if (!deny.empty() && maxQos >= 0) return error("max_qos belongs to allow rules");
    ActionSet actions = 0;
    for (const auto& a : allow.empty() ? deny : allow) {
      if (!parseAction(a, actions)) {
        return error(
            fmt::format("unknown action \"{}\" (publish, subscribe, receive, retain, "
                        "read, write or all)",
                        a));
      }
    }
    std::optional<Condition> when;
    if (const toml::node* w = t->get("when")) {
      auto c = condition(*w, path);
      if (!c) return tl::unexpected(std::move(c).error());
      when = std::move(*c);
    }
    const std::string where = fmt::format("{}:{}", source_, node.source().begin.line);
    for (const auto& topic : topics) {
      Rule rule;
      rule.scope = Rule::Scope::Role;
      rule.role = role;
      rule.deny = !deny.empty();
      rule.actions = actions;
      rule.filter = topic;
      rule.placeholders = Placeholders::Moat;
      if (maxQos >= 0) rule.maxQos = static_cast<uint8_t>(maxQos);
      rule.when = when;
      rule.text = fmt::format("role {}: {} {} {}{}{}", role, rule.deny ? "deny" : "allow",
                              fmt::join(allow.empty() ? deny : allow, ","), topic,
                              maxQos >= 0 ? fmt::format(" max_qos {}", maxQos) : "",
                              when ? " when " + when->text : "");
      rule.where = where;
      if (auto valid = mqtt::validateTopicFilter(topic); !valid) {
        return error(fmt::format("topic \"{}\": {}", topic, valid.error().message));
      }
      out_.rules.push_back(std::move(rule));
    }
    return {};
  }

  // `when = { ... }`: every key a condition.
  Result<Condition> condition(const toml::node& node, const std::string& path) {
    auto tOr = tableOf(node, path + ".when");
    if (!tOr) return tl::unexpected(std::move(tOr).error());
    const toml::table* t = *tOr;
    Condition c;
    std::vector<std::string> parts;
    TableReader r(source_, *t, path + ".when");
    std::vector<std::string> addresses, time, days;
    MOAT_TRY(r.strings("address", addresses));
    MOAT_TRY(r.strings("listener", c.listeners));
    MOAT_TRY(r.strings("time", time));
    MOAT_TRY(r.strings("days", days));
    for (const auto& a : addresses) {
      auto cidr = net::Cidr::parse(a);
      if (!cidr) {
        return tl::unexpected(
            at(source_, node, fmt::format("when.address \"{}\": {}", a, cidr.error().message)));
      }
      c.addresses.push_back(std::move(*cidr));
    }
    if (!addresses.empty()) parts.push_back(fmt::format("address {}", fmt::join(addresses, "|")));
    if (!c.listeners.empty())
      parts.push_back(fmt::format("listener {}", fmt::join(c.listeners, "|")));
    for (const char* group : {"cert", "claim", "attr"}) {
      r.accept(group);
      const toml::node* g = t->get(group);
      if (!g) continue;
      auto fieldsOr = tableOf(*g, fmt::format("when.{}", group));
      if (!fieldsOr) return tl::unexpected(std::move(fieldsOr).error());
      const toml::table* fields = *fieldsOr;
      Fields& out = group == std::string_view("cert")    ? c.cert
                    : group == std::string_view("claim") ? c.claims
                                                         : c.attributes;
      TableReader fr(source_, *fields, fmt::format("{}.when.{}", path, group));
      for (const auto& [key, value] : *fields) {
        const std::string name(key.str());
        if (group == std::string_view("cert") && name != "cn" && name != "o" && name != "ou") {
          return tl::unexpected(
              at(source_, value,
                 fmt::format("when.cert.{}: a certificate field is cn, o or ou", name)));
        }
        std::vector<std::string> values;
        MOAT_TRY(fr.strings(name, values));
        if (values.empty()) {
          return tl::unexpected(
              at(source_, value, fmt::format("when.{}.{} lists no value", group, name)));
        }
        parts.push_back(fmt::format("{}.{} {}", group, name, fmt::join(values, "|")));
        out.emplace_back(name, std::move(values));
      }
    }
    if (time.size() > 1) return tl::unexpected(at(source_, node, "when.time is one window"));
    if (!time.empty()) {
      auto w = parseTimeWindow(time.front(), days);
      if (!w) return tl::unexpected(at(source_, node, "when." + w.error().message));
      c.time = *w;
      parts.push_back(days.empty()
                          ? fmt::format("time {} UTC", time.front())
                          : fmt::format("time {} UTC on {}", time.front(), fmt::join(days, ",")));
    } else if (!days.empty()) {
      return tl::unexpected(at(source_, node, "when.days needs when.time"));
    }
    MOAT_TRY(r.finish());
    if (parts.empty()) return tl::unexpected(at(source_, node, "when = {} requires nothing"));
    c.text = fmt::format("{}", fmt::join(parts, ", "));
    return c;
  }

  Result<void> users(const toml::node& node) {
    auto allOr = tableOf(node, "[users]");
    if (!allOr) return tl::unexpected(std::move(allOr).error());
    const toml::table* all = *allOr;
    for (const auto& [key, userNode] : *all) {
      const std::string name(key.str());
      if (auto ok = checkUsername(name); !ok) {
        return tl::unexpected(
            at(source_, userNode, fmt::format("user \"{}\": {}", name, ok.error().message)));
      }
      auto tOr = tableOf(userNode, fmt::format("[users.{}]", name));
      if (!tOr) return tl::unexpected(std::move(tOr).error());
      const toml::table* t = *tOr;
      TableReader r(source_, *t, "users." + name);
      PolicyUser user;
      MOAT_TRY(r.strings("roles", user.roles));
      MOAT_TRY(r.strings("groups", user.groups));
      MOAT_TRY(r.string("tenant", user.tenant));
      r.accept("attributes");
      MOAT_TRY(r.finish());
      if (!user.tenant.empty()) MOAT_TRY(checkName(userNode, "tenant", user.tenant));
      for (const auto& role : user.roles) references_.push_back({role, "role", &userNode});
      for (const auto& g : user.groups) references_.push_back({g, "group", &userNode});
      if (const toml::node* a = t->get("attributes")) {
        auto attrsOr = tableOf(*a, "users." + name + ".attributes");
        if (!attrsOr) return tl::unexpected(std::move(attrsOr).error());
        const toml::table* attrs = *attrsOr;
        TableReader ar(source_, *attrs, "users." + name + ".attributes");
        for (const auto& [attrKey, value] : *attrs) {
          std::vector<std::string> values;
          MOAT_TRY(ar.strings(attrKey.str(), values));
          user.attributes.emplace_back(std::string(attrKey.str()), std::move(values));
        }
        std::sort(user.attributes.begin(), user.attributes.end());
      }
      out_.directory.users.emplace(name, std::move(user));
    }
    return {};
  }

  Result<void> groups(const toml::node& node) {
    auto allOr = tableOf(node, "[groups]");
    if (!allOr) return tl::unexpected(std::move(allOr).error());
    const toml::table* all = *allOr;
    for (const auto& [key, groupNode] : *all) {
      const std::string name(key.str());
      MOAT_TRY(checkName(groupNode, "group", name));
      auto tOr = tableOf(groupNode, fmt::format("[groups.{}]", name));
      if (!tOr) return tl::unexpected(std::move(tOr).error());
      const toml::table* t = *tOr;
      TableReader r(source_, *t, "groups." + name);
      std::vector<std::string> roles;
      MOAT_TRY(r.strings("roles", roles));
      MOAT_TRY(r.finish());
      for (const auto& role : roles) references_.push_back({role, "role", &groupNode});
      out_.directory.groups.emplace(name, std::move(roles));
    }
    return {};
  }

  Result<void> tenants(const toml::node& node) {
    auto allOr = tableOf(node, "[tenants]");
    if (!allOr) return tl::unexpected(std::move(allOr).error());
    const toml::table* all = *allOr;
    std::vector<std::pair<std::string, const toml::node*>> mounts;
    for (const auto& [key, tenantNode] : *all) {
      const std::string name(key.str());
      MOAT_TRY(checkName(tenantNode, "tenant", name));
      auto tOr = tableOf(tenantNode, fmt::format("[tenants.{}]", name));
      if (!tOr) return tl::unexpected(std::move(tOr).error());
      const toml::table* t = *tOr;
      TableReader r(source_, *t, "tenants." + name);
      std::string mount = "tenants/" + name + "/";
      MOAT_TRY(r.string("mount", mount));
      MOAT_TRY(r.finish());
      if (mount.empty() || mount.back() != '/' || mount.starts_with('$') ||
          !mqtt::validateTopicName(mount.substr(0, mount.size() - 1))) {
        return tl::unexpected(at(source_, tenantNode,
                                 fmt::format("tenants.{}.mount \"{}\" must be a topic name ending "
                                             "in '/', without wildcards, not starting with '$'",
                                             name, mount)));
      }
      // Tenants without a [tenants.X] table live under "tenants/X/": a mount chosen under
      // "tenants/" could hold (or be) another tenant's.
      if (mount.starts_with("tenants/") && mount != "tenants/" + name + "/") {
        return tl::unexpected(at(source_, tenantNode,
                                 fmt::format("tenants.{}.mount \"{}\" lies under \"tenants/\", "
                                             "where the tenants without a mount of their own "
                                             "live; use \"tenants/{}/\" or a mount elsewhere",
                                             name, mount, name)));
      }
      mounts.emplace_back(mount, &tenantNode);
      out_.directory.mounts.emplace(name, std::move(mount));
    }
    // One tenant's mount inside another's would let it reach the other's topics.
    for (const auto& [a, nodeA] : mounts) {
      for (const auto& [b, nodeB] : mounts) {
        if (&a != &b && b.starts_with(a)) {
          return tl::unexpected(at(source_, *nodeB,
                                   fmt::format("mount \"{}\" lies inside mount \"{}\": tenants "
                                               "would see each other",
                                               b, a)));
        }
      }
    }
    return {};
  }

  Result<void> certificates(const toml::node& node) {
    auto tOr = tableOf(node, "[certificates]");
    if (!tOr) return tl::unexpected(std::move(tOr).error());
    const toml::table* t = *tOr;
    TableReader r(source_, *t, "certificates");
    std::vector<std::string> from;
    MOAT_TRY(r.strings("roles_from", from));
    MOAT_TRY(r.string("tenant_from", out_.directory.tenantFromCert));
    MOAT_TRY(r.finish());
    for (const auto& f : from) {
      if (f == "ou") {
        out_.directory.rolesFromCertOu = true;
      } else if (f == "o") {
        out_.directory.rolesFromCertO = true;
      } else {
        return tl::unexpected(at(source_, node,
                                 fmt::format("certificates.roles_from: \"{}\" is "
                                             "not ou or o",
                                             f)));
      }
    }
    const auto& tf = out_.directory.tenantFromCert;
    if (!tf.empty() && tf != "o" && tf != "ou") {
      return tl::unexpected(
          at(source_, node, fmt::format("certificates.tenant_from: \"{}\" is not ou or o", tf)));
    }
    return {};
  }

  std::string_view source_;
  PolicyFile out_;
  std::set<std::string> definedRoles_;
  std::vector<Reference> references_;
};

}  // namespace

Result<PolicySources> readPolicySources(const std::filesystem::path& aclFile,
                                        const std::filesystem::path& policyFile) {
  PolicySources out;
  if (!aclFile.empty()) {
    auto text = readWholeFile(aclFile);
    if (!text) return tl::unexpected(std::move(text).error());
    auto acl = parseAclRules(*text, aclFile.string());
    if (!acl) return tl::unexpected(std::move(acl).error());
    out.rules = std::move(*acl);
    out.files = aclFile.string();
  }
  if (!policyFile.empty()) {
    auto text = readWholeFile(policyFile);
    if (!text) return tl::unexpected(std::move(text).error());
    auto file = parsePolicyFile(*text, policyFile.string());
    if (!file) return tl::unexpected(std::move(file).error());
    for (Rule& r : file->rules) out.rules.push_back(std::move(r));
    out.directory = std::move(file->directory);
    out.files += (out.files.empty() ? "" : " and ") + policyFile.string();
  }
  return out;
}

Result<PolicyFile> parsePolicyFile(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return fail(0x80, fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
  return Reader(source).read(root);
}

}  // namespace moat::security::authz
