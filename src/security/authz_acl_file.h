// Mosquitto's acl_file, read as Mosquitto 2.0 reads it, into Rules for Policy (authz_policy.h).
// Checked against Debian's mosquitto 2.0.11; what it did is in docs/authorization.md.
//
// The format, one statement per line (LF or CRLF):
//   user NAME                       the topic rules below apply to the client with this user name
//                                   (the rest of the line, blanks around it dropped)
//   topic [ACCESS] FILTER           a rule for the current user; before any `user` line, for
//                                   anonymous clients only
//   pattern [ACCESS] FILTER         a rule for every client, with %u (user name) and %c (client
//                                   id) substituted; a pattern with %u never applies to an
//                                   anonymous client
//   # ...                           a comment; blank lines are skipped
// ACCESS is read (subscribe, receive), write (publish, retain), readwrite (all four; the default)
// or deny (all four denied). FILTER is the rest of the line, blanks around it dropped, so it may
// hold spaces; it must be a valid topic filter. Sections of the same user add up. Words are
// separated by spaces or tabs.
//
// Where Moat parts from Mosquitto, it refuses rather than guesses (a file with an error loads
// nothing; the error names `source:line`):
//   - `topic read` with nothing after it: Mosquitto takes "read" as the topic, with readwrite
//     access, and `topic deny` would grant readwrite on "deny". Refused.
//   - a `user` name Moat could never authenticate (checkUsername: e.g. one holding '#', as in
//     "user alice # admins"): Mosquitto silently files the rules under that name. Refused.
// and it reads two things Mosquitto refuses to start with: a comment indented by blanks, and tabs
// between words.
//
// A plain function of its input: any thread.
#pragma once

#include <string_view>
#include <vector>

#include "base/result.h"
#include "security/authz_policy.h"

namespace moat::security::authz {

// The rules of acl_file `text`, in file order, each with `where` = "source:line" and `text` = the
// line without the blanks around it. Fails at the first broken line: "acl:3: unknown keyword
// \"topik\" (topic, pattern or user)".
[[nodiscard]] Result<std::vector<Rule>> parseAclRules(std::string_view text,
                                                      std::string_view source);

}  // namespace moat::security::authz
