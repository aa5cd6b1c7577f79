// SessionRegistry: which worker owns the session of each client id. Consulted once per CONNECT
// and when a session ends; never on the message path.
//
// Invariant: a worker only ever records itself as owner, and only removes an entry that names
// itself, so a session's state is only ever on the worker the registry names.
// Threads: any; one mutex.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <mutex>
#include <optional>
#include <string>

namespace moat::broker {

class SessionRegistry {
 public:
  // The owner of `clientId`, or, if none, records `self` as owner and returns it.
  unsigned claim(const std::string& clientId, unsigned self) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = owners_.try_emplace(clientId, self);
    return it->second;
  }
  // Forgets the entry if `self` owns it.
  void release(const std::string& clientId, unsigned self) {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(clientId);
    if (it != owners_.end() && it->second == self) owners_.erase(it);
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return owners_.size();
  }

 private:
  mutable std::mutex mutex_;
  boost::unordered_flat_map<std::string, unsigned> owners_;
};

}  // namespace moat::broker
