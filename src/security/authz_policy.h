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
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

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

// Who asks. The broker builds one per connection, once the client is authenticated.
struct Subject {
  std::string username;  // empty: anonymous
  std::string clientId;  // the one in use: the broker's assigned id when the client sent none
  std::string certCn;    // not used by acl_file rules (later placeholders)
  std::vector<std::string> roles;
  std::string tenant;
  std::string listener;
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

  // "allowed by acl:7 (topic read sensors/#)", "denied by acl:18 (topic deny #)",
  // "denied: no rule allows subscribe to \"x\" (default deny)"; the note, if any, follows.
  std::string explain() const;
};

// One rule, whatever file it came from (authz_acl_file.h makes them from an acl_file).
struct Rule {
  enum class Scope : uint8_t {
    Anonymous,  // clients without a user name
    User,       // the client whose user name is `user`
    Everyone,   // every client
  };
  Scope scope = Scope::Everyone;
  std::string user;   // for Scope::User
  bool deny = false;  // a deny rule denies `actions`; an allow rule allows them
  ActionSet actions = 0;
  std::string filter;    // a topic filter (spec 4.7); see `pattern`
  bool pattern = false;  // %u and %c in `filter` are placeholders (Scope::Everyone only)
  std::string text;      // as written, for Decision::rule ("topic read sensors/#")
  std::string where;     // "acl:12"
};

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

  // Compiles rules from any source. Fails, naming the rule's `where`, on a filter that is not a
  // valid topic filter, a pattern outside Scope::Everyone, or a User rule without a user name.
  [[nodiscard]] static Result<Policy> fromRules(std::vector<Rule> rules);

  // Publish, Retain or Receive on a topic NAME (no wildcards; an invalid name is denied).
  // Subscribe here is checkSubscribe(who, topic).
  [[nodiscard]] Decision check(const Subject& who, Action action, std::string_view topic) const;
  // check(...).allowed without building the Decision's strings: for the broker's per-message
  // path, which asks check() only to explain a refusal.
  [[nodiscard]] bool allows(const Subject& who, Action action, std::string_view topic) const;

  // Subscribe to a topic FILTER. Granted only if every topic the filter can match is granted for
  // Subscribe by one allow rule: "sensors/#" grants "sensors/1/t", "sensors/#" and "sensors/+/t",
  // never "#" or "+/t". A deny rule for Subscribe whose filter overlaps the filter at all (some
  // topic matches both) denies it. A shared subscription "$share/group/F" is checked as F.
  [[nodiscard]] Decision checkSubscribe(const Subject& who, std::string_view filter) const;

  size_t ruleCount() const;

 private:
  struct Compiled;
  explicit Policy(std::unique_ptr<const Compiled> compiled);
  std::unique_ptr<const Compiled> compiled_;
};

}  // namespace moat::security::authz
