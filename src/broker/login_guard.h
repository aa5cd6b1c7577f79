// LoginGuard: slows and then stops password guessing. Failed logins are counted per source
// address and per user name in a sliding window; each failure delays the refusal
// exponentially (per the higher of the two counts), and an address that reaches the limit is
// banned for a while (5.0 CONNACK 0x8A Banned). User names are only slowed, never banned, so a
// guesser cannot lock a real user out.
//
// Memory is bounded: at most `maxTracked` addresses and names; past that the oldest are forgotten.
// Thread-safe (one mutex; touched only by failed logins and at CONNECT).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "net/admission.h"

namespace moat::broker {

struct LoginGuardSettings {
  uint32_t maxFailures = 10;  // per address within `window`; then a ban
  std::chrono::seconds window{60};
  std::chrono::seconds banTime{300};
  std::chrono::milliseconds firstDelay{100};  // doubled per further failure
  std::chrono::milliseconds maxDelay{2000};
  size_t maxTracked = 65536;
};

class LoginGuard {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LoginGuard(LoginGuardSettings settings) : settings_(settings) {}

  // Whether `address` is banned now; `until` is when the ban ends.
  bool banned(const std::string& address, Clock::time_point now,
              Clock::time_point* until = nullptr);
  struct Verdict {
    std::chrono::milliseconds delay;  // wait this long before refusing
    bool bannedNow = false;           // this failure started a ban of the address
  };
  // Records a failed login.
  Verdict failed(const std::string& address, const std::string& username, Clock::time_point now);
  const LoginGuardSettings& settings() const { return settings_; }

 private:
  struct Count {
    uint32_t failures = 0;
    Clock::time_point windowStart;
    Clock::time_point bannedUntil;
  };
  uint32_t bump(std::unordered_map<std::string, Count>& map, const std::string& key,
                Clock::time_point now);
  void trim(std::unordered_map<std::string, Count>& map, Clock::time_point now);

  LoginGuardSettings settings_;
  std::mutex mutex_;
  std::unordered_map<std::string, Count> addresses_;
  std::unordered_map<std::string, Count> users_;
};

}  // namespace moat::broker
