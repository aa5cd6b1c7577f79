// lintRules: what `moat acl lint` reports about a set of authorization rules — mistakes that
// load fine and then silently do something else than the author meant:
//   - an allow rule that a deny rule of the same client takes away completely (the seeds'
//     example: `topic deny #` after `user dashboard` shadows the dashboard's reads);
//   - an allow rule another allow rule of the same client already grants (redundant);
//   - a grant of `#` (every topic but the $ ones);
//   - a `pattern` without %u or %c (it applies to every client alike: a `topic` rule that
//     reaches anonymous and named clients, which is rarely meant);
//   - a `user` section for a name the password file does not know (when one is given).
// Patterns with placeholders are not compared with other rules: what they match depends on the
// client. A plain function of its input: any thread.
#pragma once

#include <string>
#include <vector>

#include "security/authz_policy.h"

namespace moat::security::authz {

struct LintFinding {
  std::string where;    // "acl:12", the rule the finding is about
  std::string message;  // "topic read sensors/# grants nothing: acl:13 (topic deny #) denies ..."
};

// `knownUsers`: the users of the password file, or nullptr to skip that check.
std::vector<LintFinding> lintRules(const std::vector<Rule>& rules,
                                   const std::vector<std::string>* knownUsers);

// Whether every topic `inner` can match is matched by `outer` (spec 4.7 matching; a wildcard
// at the first level of `outer` does not reach a `$` topic of `inner`).
bool filterCovers(std::string_view outer, std::string_view inner);

}  // namespace moat::security::authz
