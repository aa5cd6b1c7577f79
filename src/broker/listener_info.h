// ListenerInfo: what a connection needs to know about the listener that accepted it.
#pragma once

#include <string>

namespace moat::broker {

struct ListenerInfo {
  std::string name;
  bool allowAnonymous = false;
};

}  // namespace moat::broker
