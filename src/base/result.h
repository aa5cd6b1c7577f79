// Result<T>: the error-or-value type of everything that can fail on bytes from the network,
// on configuration, or at start-up. No exceptions cross module boundaries.
//
// An Error carries a numeric code and a human message. Code in the mqtt/ layer and above uses the
// MQTT 5.0 reason code to send back (0x80 "unspecified error" when there is none more specific),
// so a decoder failure can be turned into a CONNACK/DISCONNECT without a second mapping table.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace moat {

struct Error {
  uint8_t code = 0x80;
  std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

// Shorthand for `return fail(code, "why")` in functions returning Result<T>.
[[nodiscard]] inline tl::unexpected<Error> fail(uint8_t code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace moat

// Propagates the error of a Result-returning expression: MOAT_TRY(readThing(x));
#define MOAT_TRY(expr)                                                      \
  do {                                                                      \
    if (auto moat_try_result_ = (expr); !moat_try_result_)                  \
      return tl::unexpected(std::move(moat_try_result_).error());           \
  } while (0)
