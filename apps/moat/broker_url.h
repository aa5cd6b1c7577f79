// BrokerUrl: mosquitto's -L argument, `mqtt(s)://[user[:password]@]host[:port]/topic`, taken
// apart; also `ws(s)://...` for MQTT over WebSocket (the WebSocket path is not in the URL, whose
// path is the topic as in mosquitto's form: it is --ws-path, default /mqtt). A plain value: no I/O,
// no validation of the topic (the commands check it as they check -t).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace moat::app {

struct BrokerUrl {
  bool tls = false;              // mqtts:// or wss://
  bool websocket = false;        // ws:// or wss://
  std::string host;              // without the brackets of an IPv6 literal
  std::optional<uint16_t> port;  // nullopt: the scheme's default (1883, 8883, 80, 443)
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::string topic;  // everything after the first '/' of the path, as written
};

// Fails with a message naming what is wrong (scheme, missing host or topic, bad port).
[[nodiscard]] Result<BrokerUrl> parseBrokerUrl(std::string_view url);

}  // namespace moat::app
