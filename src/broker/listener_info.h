// ListenerInfo: what a connection needs to know about the listener that accepted it.
#pragma once

#include <memory>
#include <string>

#include "net/tls_context.h"

namespace moat::broker {

struct ListenerInfo {
  std::string name;
  bool allowAnonymous = false;
  std::shared_ptr<const net::TlsContext> tls;  // null for plain TCP
};

}  // namespace moat::broker
