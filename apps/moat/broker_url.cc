#include "apps/moat/broker_url.h"

#include <charconv>

namespace moat::app {

namespace {

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

tl::unexpected<Error> bad(std::string_view url, std::string_view why) {
  return fail(0x80, "invalid URL '" + std::string(url) + "' for -L: " + std::string(why));
}

}  // namespace

Result<BrokerUrl> parseBrokerUrl(std::string_view url) {
  BrokerUrl out;
  std::string_view rest;
  if (startsWithNoCase(url, "mqtt://")) {
    rest = url.substr(7);
  } else if (startsWithNoCase(url, "mqtts://")) {
    rest = url.substr(8);
    out.tls = true;
  } else if (startsWithNoCase(url, "ws://")) {
    rest = url.substr(5);
    out.websocket = true;
  } else if (startsWithNoCase(url, "wss://")) {
    rest = url.substr(6);
    out.websocket = true;
    out.tls = true;
  } else {
    return bad(url, "the scheme must be mqtt://, mqtts://, ws:// or wss://");
  }

  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return bad(url, "no topic (mqtt://host[:port]/topic)");
  }
  out.topic = std::string(rest.substr(slash + 1));
  std::string_view authority = rest.substr(0, slash);

  // The last '@' ends the credentials: a password may itself hold '@'.
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = credentials.find(':');
    out.username = std::string(credentials.substr(0, colon));
    if (colon != std::string_view::npos) out.password = std::string(credentials.substr(colon + 1));
    if (out.username->empty()) return bad(url, "empty user name before '@'");
  }

  std::string_view portText;
  bool hasPort = false;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad(url, "unterminated '[' in the host");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad(url, "unexpected text after ']'");
      portText = after.substr(1);
      hasPort = true;
    }
  } else {
    size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      portText = authority.substr(colon + 1);
      hasPort = true;
    }
  }
  if (out.host.empty()) return bad(url, "no host");
  if (hasPort) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
    if (ec != std::errc() || p != portText.data() + portText.size() || port == 0 || port > 65535) {
      return bad(url, "the port must be 1..65535");
    }
    out.port = static_cast<uint16_t>(port);
  }
  return out;
}

}  // namespace moat::app
