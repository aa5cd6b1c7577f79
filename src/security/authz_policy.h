// Policy: Moat's authorization engine. It answers "may this client do this on this topic?" from
// rules compiled into topic tries, and says which rule decided. No I/O beyond reading a rule file.
//
// One precedence, whatever the rule source (docs/authorization.md):
//   1. a deny rule that matches wins;
//   2. otherwise an allow rule that matches and grants the action allows;
//   3. nothing matched means deny.
// Rules are tried by topic, not one by one: a check walks a trie along the topic's levels, so it
// costs about the topic's depth, not the number of rules.
//
// Whom a rule applies to: anonymous clients only, one user name, or every client. Rules for every
// client may be patterns, with %u (the user name) and %c (the client id) substituted per client,
// as in Mosquitto's acl_file. A value is substituted only where it cannot widen the rule:
//   - one holding '/' spans levels: it is substituted into deny patterns, which it can only
//     narrow, but not into allow patterns, where "home/%u/#" for user "a/b" would land inside
//     user "a"'s "home/a/#" (Mosquitto substitutes it into both);
//   - one holding '+' or '#', or an empty client id, is never substituted: an allow pattern
//     needing it grants nothing, a deny pattern needing it denies that client everything;
//   - as in Mosquitto, a client whose user name or client id holds '+' or '#' gets nothing from
//     any allow pattern, and a pattern with %u never applies to an anonymous client;
//   - a substitution never makes an allow rule name a '$' topic (user "$SYS", "%u/#").
//
// '$' topics ([MQTT-4.7.2-1]): a rule whose first level is a wildcard never matches a topic that
// starts with '$'; only rules that name "$SYS/..." (or another '$' level) grant or deny them.
//
// Thread-safety: a Policy is immutable once built; check() and checkSubscribe() may run on any
// number of threads at once. The broker holds a std::shared_ptr<const Policy> and swaps in a new
// one on reload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "net/admission.h"
#include "security/authz_condition.h"

namespace moat::security::authz {

// What a client asks to do. Retain is storing a retained message: asked in addition to Publish
// when a PUBLISH has the retain flag set. Receive is asked at every delivery, retained messages
// included.
enum class Action : uint8_t { Publish, Subscribe, Receive, Retain };

// "publish", "subscribe", "receive", "retain".
std::string_view actionName(Action action);

// Actions as a bit set, for rules.
using ActionSet = uint8_t;
constexpr ActionSet actionBit(Action action) {
  return ActionSet(1u << static_cast<uint8_t>(action));
}
inline constexpr ActionSet kAllActions = 0x0F;

// What the token (JWT) that admitted a client says about it, for the policy.
struct TokenClaims {
  std::vector<std::string> roles;  // the roles claim
  std::string tenant;              // the tenant claim
  Fields claims;                   // its other claims (authz_condition.h)
};

// Who asks. The broker builds one per connection, once the client is authenticated.
struct Subject {
  std::string username;  // empty: anonymous
  std::string clientId;  // the one in use: the broker's assigned id when the client sent none
  Fields cert;           // the client certificate's subject: "cn", "o", "ou"; empty without one
  // The token's claims; null for a client admitted otherwise (most: they do not carry its
  // empty fields). Shared with the connection that holds the token.
  std::shared_ptr<const TokenClaims> token;
  std::string listener;
  std::optional<net::IpAddress> address;  // the client's (forwarded, behind a trusted proxy)

  const TokenClaims& tokenClaims() const {
    static const TokenClaims kNone;
    return token ? *token : kNone;
  }
  const std::vector<std::string>& roles() const { return tokenClaims().roles; }
  const std::string& tenant() const { return tokenClaims().tenant; }
  const Fields& claims() const { return tokenClaims().claims; }
};

// An answer, with what made it.
struct Decision {
  bool allowed = false;
  std::string rule;   // the rule that decided, as written ("topic read sensors/#"); empty when
                      // none matched
  std::string where;  // "acl:12" (source:line); empty when none matched
  // What was asked, for explain().
  Action action = Action::Publish;
  std::string topic;
  // Why a rule that might be expected to apply did not, or did in an unusual way ("patterns with
  // %u grant nothing to a user name containing '/', '+' or '#'"); usually empty.
  std::string note;
  // The highest QoS the allow rules that matched permit (max_qos); 2 without a limit. For
  // Subscribe, the QoS to grant at most.
  uint8_t maxQos = 2;

  // "allowed by acl:7 (topic read sensors/#)", "denied by acl:18 (topic deny #)",
  // "denied: no rule allows subscribe to \"x\" (default deny)"; the note, if any, follows.
  std::string explain() const;
};

// How placeholders are written in a rule's filter.
enum class Placeholders : uint8_t {
  None,       // the filter is literal
  Mosquitto,  // acl_file patterns: %u (user name) and %c (client id)
  Moat,       // policy.toml: ${username}, ${client_id}, ${cert.cn}, ${tenant}, ${attr.NAME}
};

// One rule, whatever file it came from (authz_acl_file.h makes them from an acl_file,
// authz_policy_file.h from a policy.toml).
struct Rule {
  enum class Scope : uint8_t {
    Anonymous,  // clients without a user name
    User,       // the client whose user name is `user`
    Everyone,   // every client
    Role,       // clients that have the role `role` (Directory)
  };
  Scope scope = Scope::Everyone;
  std::string user;   // for Scope::User
  std::string role;   // for Scope::Role
  bool deny = false;  // a deny rule denies `actions`; an allow rule allows them
  ActionSet actions = 0;
  std::string filter;  // a topic filter (spec 4.7), with placeholders as `placeholders` says
  Placeholders placeholders = Placeholders::None;
  uint8_t maxQos = 2;             // an allow rule: Publish up to this QoS, Subscribe granted
                                  // at most this QoS
  std::optional<Condition> when;  // the rule applies only while this holds
  std::string text;               // as written, for Decision::rule ("topic read sensors/#")
  std::string where;              // "acl:12"
};

// Who has which roles, attributes and tenant: the non-rule half of a policy.toml
// (authz_policy_file.h).
struct PolicyUser {
  std::vector<std::string> roles;
  std::vector<std::string> groups;
  std::string tenant;
  Fields attributes;  // sorted by name
};
struct Directory {
  std::map<std::string, PolicyUser, std::less<>> users;
  std::map<std::string, std::vector<std::string>, std::less<>> groups;  // group -> roles
  std::vector<std::string> anonymousRoles;      // every client without a user name
  std::vector<std::string> authenticatedRoles;  // every client with one
  bool rolesFromCertOu = false;                 // each OU of the client certificate names a role
  bool rolesFromCertO = false;                  // and its O
  std::string tenantFromCert;  // "", "o" or "ou": the certificate field naming the tenant
  std::map<std::string, std::string, std::less<>> mounts;  // tenant -> mount point
};

// Where a client with a tenant lives: its topics are below `mount` ("tenants/acme/"), which it
// never sees: everything it sends is prefixed with it, everything it receives has it removed.
struct Tenant {
  std::string name;
  std::string mount;
};

// A tenant name: 1..64 characters, no '/', '+', '#' or control characters, not starting with
// '$' (it becomes a topic level).
bool validTenantName(std::string_view name);

class Policy {
 public:
  // A policy without rules: everything is denied.
  Policy();
  ~Policy();
  Policy(Policy&&) noexcept;
  Policy& operator=(Policy&&) noexcept;

  // Reads and compiles a Mosquitto acl_file (authz_acl_file.h): all or nothing. Errors name the
  // file and line: "/etc/moat/acl:3: unknown keyword \"topik\" (topic, pattern or user)".
  [[nodiscard]] static Result<Policy> loadAclFile(const std::filesystem::path& path);
  // The same from text in memory; `source` names it in errors and in Decision::where ("acl").
  [[nodiscard]] static Result<Policy> parseAclFile(std::string_view text, std::string_view source);

  // Reads the acl_file and the policy.toml (either path may be empty: not used) into one
  // policy: all or nothing.
  [[nodiscard]] static Result<Policy> loadFiles(const std::filesystem::path& aclFile,
                                                const std::filesystem::path& policyFile);

  // Compiles rules from any source. Fails, naming the rule's `where`, on a filter that is not a
  // valid topic filter, an unknown placeholder, a User rule without a user name, or a Role rule
  // without a role.
  [[nodiscard]] static Result<Policy> fromRules(std::vector<Rule> rules, Directory directory = {});

  // Publish, Retain or Receive on a topic NAME (no wildcards; an invalid name is denied). For
  // Publish, `qos` is the message's: an allow rule with a lower max_qos does not allow it.
  // Subscribe here is checkSubscribe(who, topic).
  [[nodiscard]] Decision check(const Subject& who, Action action, std::string_view topic,
                               uint8_t qos = 0) const;
  // check(...).allowed without building the Decision's strings: for the broker's per-message
  // path, which asks check() only to explain a refusal.
  // `cacheable`, when given, is set to whether the answer stays the same for this subject
  // until the policy changes (false when a rule with a time window was looked at).
  [[nodiscard]] bool allows(const Subject& who, Action action, std::string_view topic,
                            uint8_t qos = 0, bool* cacheable = nullptr) const;

  // Subscribe to a topic FILTER. Granted only if every topic the filter can match is granted for
  // Subscribe by one allow rule: "sensors/#" grants "sensors/1/t", "sensors/#" and "sensors/+/t",
  // never "#" or "+/t". A deny rule for Subscribe whose filter overlaps the filter at all (some
  // topic matches both) denies it. A shared subscription "$share/group/F" is checked as F.
  [[nodiscard]] Decision checkSubscribe(const Subject& who, std::string_view filter) const;

  // The tenant of `who`: named by its policy.toml user entry, its token's tenant claim or (with
  // [certificates] tenant_from) its certificate; nullopt for none. Fails when two of them name
  // different tenants (the client is refused, not guessed about).
  [[nodiscard]] Result<std::optional<Tenant>> tenantOf(const Subject& who) const;

  // The roles `who` has, for explanations: policy.toml user and groups, [authenticated] or
  // [anonymous], the token, the certificate.
  std::vector<std::string> rolesOf(const Subject& who) const;

  size_t ruleCount() const;

 private:
  struct Compiled;
  explicit Policy(std::unique_ptr<const Compiled> compiled);
  std::unique_ptr<const Compiled> compiled_;
};

}  // namespace moat::security::authz
