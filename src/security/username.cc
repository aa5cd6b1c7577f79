#include "security/username.h"

#include <cstdint>

#include "mqtt/topic.h"

namespace moat::security {

Result<void> checkUsername(std::string_view name) {
  if (name.empty()) return fail(0x80, "username is empty");
  if (name.size() > kMaxUsernameBytes) return fail(0x80, "username is longer than 65535 bytes");
  if (!mqtt::isValidUtf8(name)) return fail(0x80, "username is not valid UTF-8");
  for (size_t i = 0; i < name.size(); ++i) {
    const auto b = static_cast<uint8_t>(name[i]);
    // C1 controls U+0080..U+009F are the two bytes C2 80..C2 9F (the UTF-8 is valid already).
    const bool c1 = b == 0xC2 && i + 1 < name.size() && static_cast<uint8_t>(name[i + 1]) <= 0x9F;
    if (b < 0x20 || b == 0x7F || c1) return fail(0x80, "username contains a control character");
    if (b == '+') return fail(0x80, "username contains '+' (an MQTT wildcard)");
    if (b == '#') return fail(0x80, "username contains '#' (an MQTT wildcard)");
  }
  return {};
}

}  // namespace moat::security
