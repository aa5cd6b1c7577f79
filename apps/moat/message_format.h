// How `moat sub` prints a received message: the payload alone, "topic payload" with -v, or a
// -F format string in mosquitto_sub's syntax:
//   %% %  %t topic  %p payload  %x/%X payload in hex  %l payload length  %q QoS  %r retain
//   %m packet id  %c/%i our client id  %I ISO-8601 local time  %U Unix time with nanoseconds
//   %j JSON object (tst, topic, qos, retain, payloadlen, payload)
//   5.0 properties: %A topic alias  %C content type  %D correlation data  %E message expiry
//   %F payload format indicator  %P user properties (key:value ...)  %R response topic
//   %S subscription identifiers
//   @X strftime's %X of the local time (@@ is @)   \n \t \r \a \e \0 \\ escapes
// A newline follows each message unless -N. Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/result.h"
#include "mqtt/packet.h"

namespace moat::app {

// Checks a -F format string; fails with "Invalid format specifier 'c'." like mosquitto_sub.
[[nodiscard]] Result<void> validateFormat(std::string_view format);

// Formats `m` per `format` (already validated); `now` stamps %I, %U, %j and @ codes.
std::string formatMessage(std::string_view format, const mqtt::Publish& m,
                          std::string_view clientId, std::chrono::system_clock::time_point now);

// Without -F: the payload, or "topic payload" when verbose ("topic (null)" for an empty one).
std::string plainMessage(const mqtt::Publish& m, bool verbose);

}  // namespace moat::app
