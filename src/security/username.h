// What a username may be, wherever Moat stores or compares one: a password file line now, the
// CONNECT username of the authentication chain later (issue 4). Plain function: any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/result.h"

namespace moat::security {

// MQTT strings are at most 65535 bytes (spec 1.5.4).
inline constexpr size_t kMaxUsernameBytes = 65535;

// Fails, with a message that does not repeat the name, unless `name` is 1..65535 bytes of
// well-formed UTF-8 [MQTT-1.5.4-1] without control characters (U+0000..U+001F, U+007F..U+009F;
// [MQTT-1.5.4-2] forbids U+0000, the others are refused as the spec advises) and without the
// wildcards '+' and '#': a username is substituted into ACL topic patterns, where a wildcard
// would widen the rule to other users' topics.
[[nodiscard]] Result<void> checkUsername(std::string_view name);

}  // namespace moat::security
