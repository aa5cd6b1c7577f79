// BanList: who may not connect at all, whatever credentials they bring — an address or CIDR
// range, a user name, or a client id — each until an optional expiry. It is filled from
// [[auth.ban]] at start and replaced as a whole on reload; the admin API (a later issue) adds
// and removes single entries through the same methods. The automatic bans of password guessers
// are LoginGuard's, not this list's.
//
// A banned client is refused at CONNECT with 5.0 0x8A Banned (3.1.1: 5 Not authorized) before
// any credential is checked. Expired entries are skipped when matching and dropped by entries().
//
// Thread-safe: lookups take a shared lock; changes an exclusive one. A lookup walks the list
// (bans are few, and only CONNECT asks).
#pragma once

#include <chrono>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "net/admission.h"

namespace moat::broker {

class BanList {
 public:
  using Clock = std::chrono::system_clock;
  enum class Kind { Address, Username, ClientId };

  struct Entry {
    Kind kind = Kind::Address;
    std::string value;                       // "203.0.113.0/24", "mallory", "stolen-7"
    std::optional<Clock::time_point> until;  // none: until removed
    std::string reason;                      // for logs and the admin API
  };

  // Adds `entry`, replacing one of the same kind and value. Fails for an address that is not
  // an IP address or CIDR range, or an empty value.
  [[nodiscard]] Result<void> add(Entry entry);
  // Removes the entry of that kind and value; false when there was none.
  bool remove(Kind kind, std::string_view value);
  // Replaces every entry (a reload); all or nothing.
  [[nodiscard]] Result<void> replace(std::vector<Entry> entries);
  // The entries still in force at `now`, in the order added.
  std::vector<Entry> entries(Clock::time_point now) const;

  // The first entry in force at `now` that bans a client from `address` (an IP address as
  // text) with this user name (empty: none) and client id.
  std::optional<Entry> match(std::string_view address, std::string_view username,
                             std::string_view clientId, Clock::time_point now) const;

  // "address 203.0.113.0/24", "user name \"mallory\"", "client id \"stolen-7\"".
  static std::string describe(const Entry& entry);

 private:
  struct Stored {
    Entry entry;
    std::optional<net::Cidr> range;  // for Kind::Address
  };
  static Result<Stored> prepare(Entry entry);

  mutable std::shared_mutex mutex_;
  std::vector<Stored> stored_;
};

}  // namespace moat::broker
