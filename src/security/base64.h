// Base64 with the standard alphabet (RFC 4648 section 4) as the password-hash formats use it:
// Mosquitto's $6$ and $7$ pad with '=', argon2's encoded form leaves the padding out.
//
// Decoding is strict: only alphabet characters, padding exactly where the mode asks for it, and
// the unused low bits of the last character zero. Every writer of these formats produces that
// canonical form, so a hash that decodes and is re-encoded reads exactly as it did.
// Plain functions: any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace moat::security {

enum class Base64Padding { Required, Omitted };

std::string encodeBase64(std::string_view bytes, Base64Padding padding);

// The bytes `text` encodes, or nullopt when it is not canonical base64 in that padding mode.
std::optional<std::string> decodeBase64(std::string_view text, Base64Padding padding);

}  // namespace moat::security
