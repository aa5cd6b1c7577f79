// runHandshake(): a client and a server TlsEngine talking through memory until both have
// finished the handshake or one fails, for the net tests. Header-only, tests only.
#pragma once

#include <optional>
#include <string>

#include "net/tls_engine.h"

namespace moat::net::testing {

// Shuttles bytes between the engines; returns the server's error, or the client's prefixed
// with "client: ", or nullopt when both are done.
inline std::optional<std::string> runHandshake(TlsEngine& client, TlsEngine& server) {
  std::string toServer, toClient, app;
  client.start(toServer);
  for (int round = 0; round < 10 && !(client.handshakeDone() && server.handshakeDone()); ++round) {
    std::string out;
    auto s = server.receive(toServer, app, out);
    toServer.clear();
    if (!s) return s.error().message;
    toClient += out;
    std::string back;
    auto c = client.receive(toClient, app, back);
    toClient.clear();
    if (!c) return "client: " + c.error().message;
    toServer += back;
  }
  if (!toServer.empty()) {  // e.g. the client's Finished with TLS 1.2
    std::string out;
    auto s = server.receive(toServer, app, out);
    if (!s) return s.error().message;
  }
  return std::nullopt;
}

}  // namespace moat::net::testing
