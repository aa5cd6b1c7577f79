// ListenerInfo: what a connection needs to know about the listener that accepted it.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "net/tls_context.h"
#include "net/ws_engine.h"

namespace moat::broker {

struct ListenerInfo {
  std::string name;
  // Authentication methods in order: certificate, psk, password, anonymous (config::Listener).
  std::vector<std::string> auth;
  // Null for plain TCP. Replaced as a whole by a TLS reload (any thread may load it; new
  // connections take the current one, live ones keep theirs).
  mutable std::atomic<std::shared_ptr<const net::TlsContext>> tls;
  // TLS handshakes in progress on this listener, and the cap (0 = none).
  mutable std::atomic<uint32_t> handshakes{0};
  uint32_t maxHandshakes = 0;
  // Identity from the TLS handshake (see config::TlsSection): field and use, SPKI pins.
  std::string identity = "none";
  std::string identityAs = "username";
  std::vector<std::string> pinSpki;
  // "username" or "cn": the client id must equal that part of the identity; "" = no rule.
  std::string clientIdMustEqual;
  // Null unless the transport is ws or wss.
  std::shared_ptr<const net::WsSettings> ws;
};

}  // namespace moat::broker
