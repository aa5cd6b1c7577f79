// SessionRegistry: which worker owns the session of each client id. Consulted once per CONNECT
// and when a session ends; never on the message path.
//
// Invariant: a worker only ever records itself as owner, and only removes an entry that names
// itself, so a session's state is only ever on the worker the registry names.
// Threads: any; one mutex.
//
// Memory: one entry per client, so an entry is one allocation (the owner, the id's length and
// its bytes) and the table holds only its pointer (docs/benchmarks.md, "Where the memory goes").
#pragma once

#include <boost/unordered/unordered_flat_set.hpp>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>

namespace moat::broker {

class SessionRegistry {
 public:
  // The owner of `clientId`, or, if none, records `self` as owner and returns it.
  unsigned claim(std::string_view clientId, unsigned self) {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(clientId);
    if (it != owners_.end()) return it->owner();
    owners_.insert(Entry(clientId, self));
    return self;
  }
  // Forgets the entry if `self` owns it.
  void release(std::string_view clientId, unsigned self) {
    std::lock_guard lock(mutex_);
    auto it = owners_.find(clientId);
    if (it != owners_.end() && it->owner() == self) owners_.erase(it);
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return owners_.size();
  }

 private:
  // [owner: 4 bytes][length: 4 bytes][the id's bytes], in one block.
  class Entry {
   public:
    Entry(std::string_view id, unsigned owner) : block_(new char[kHeader + id.size()]) {
      const auto length = static_cast<uint32_t>(id.size());
      std::memcpy(block_.get(), &owner, sizeof owner);
      std::memcpy(block_.get() + sizeof owner, &length, sizeof length);
      if (!id.empty()) std::memcpy(block_.get() + kHeader, id.data(), id.size());
    }
    unsigned owner() const {
      unsigned owner;
      std::memcpy(&owner, block_.get(), sizeof owner);
      return owner;
    }
    std::string_view id() const {
      uint32_t length;
      std::memcpy(&length, block_.get() + sizeof(unsigned), sizeof length);
      return {block_.get() + kHeader, length};
    }

   private:
    static constexpr size_t kHeader = sizeof(unsigned) + sizeof(uint32_t);
    std::unique_ptr<char[]> block_;
  };
  struct ById {
    using is_transparent = void;
    static std::string_view of(std::string_view id) { return id; }
    static std::string_view of(const Entry& e) { return e.id(); }
    size_t operator()(const auto& k) const { return std::hash<std::string_view>{}(of(k)); }
    bool operator()(const auto& a, const auto& b) const { return of(a) == of(b); }
  };

  mutable std::mutex mutex_;
  boost::unordered_flat_set<Entry, ById, ById> owners_;
};

}  // namespace moat::broker
