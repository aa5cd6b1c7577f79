#include "broker/login_guard.h"

#include <algorithm>

namespace moat::broker {

bool LoginGuard::banned(const std::string& address, Clock::time_point now,
                        Clock::time_point* until) {
  std::lock_guard lock(mutex_);
  auto it = addresses_.find(address);
  if (it == addresses_.end() || it->second.bannedUntil <= now) return false;
  if (until) *until = it->second.bannedUntil;
  return true;
}

uint32_t LoginGuard::bump(std::unordered_map<std::string, Count>& map, const std::string& key,
                          Clock::time_point now) {
  if (map.size() >= settings_.maxTracked && !map.contains(key)) trim(map, now);
  Count& c = map[key];
  if (c.failures == 0 || now - c.windowStart > settings_.window) {
    c.failures = 0;
    c.windowStart = now;
  }
  return ++c.failures;
}

void LoginGuard::trim(std::unordered_map<std::string, Count>& map, Clock::time_point now) {
  // Forget what is over first; if that is not enough, the oldest windows.
  std::erase_if(map, [&](const auto& e) {
    return e.second.bannedUntil <= now && now - e.second.windowStart > settings_.window;
  });
  while (map.size() >= settings_.maxTracked) {
    auto oldest = std::min_element(map.begin(), map.end(), [](const auto& a, const auto& b) {
      return a.second.windowStart < b.second.windowStart;
    });
    map.erase(oldest);
  }
}

LoginGuard::Verdict LoginGuard::failed(const std::string& address, const std::string& username,
                                       Clock::time_point now) {
  std::lock_guard lock(mutex_);
  uint32_t byAddress = bump(addresses_, address, now);
  uint32_t byUser = username.empty() ? 0 : bump(users_, username, now);
  uint32_t n = std::max(byAddress, byUser);
  Verdict v;
  auto delay = settings_.firstDelay * (1LL << std::min<uint32_t>(n - 1, 20));
  v.delay = std::min<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(delay), settings_.maxDelay);
  if (byAddress >= settings_.maxFailures) {
    Count& c = addresses_[address];
    if (c.bannedUntil <= now) v.bannedNow = true;
    c.bannedUntil = now + settings_.banTime;
    c.failures = 0;
    c.windowStart = now;
  }
  return v;
}

}  // namespace moat::broker
