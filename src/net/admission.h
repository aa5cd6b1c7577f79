// Admission: the cheap decisions taken for a new connection before any TLS or MQTT work —
// CIDR allow/deny lists and a per-source-address connection rate limit — so a flood costs a
// table lookup per attempt, not a handshake.
//
// Not thread-safe: one AdmissionControl per listener, used by its acceptor only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace moat::net {

// An IP address as 16 bytes; IPv4 (and IPv4-mapped IPv6) as ::ffff:a.b.c.d.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  static IpAddress v4(const std::array<uint8_t, 4>& b);
  static IpAddress v6(const std::array<uint8_t, 16>& b);
  // "192.0.2.7", "2001:db8::1"; nullopt for anything else.
  static std::optional<IpAddress> parse(std::string_view text);
  bool operator==(const IpAddress&) const = default;
};

// "10.0.0.0/8", "192.168.1.7" (= /32), "2001:db8::/32", "::1".
class Cidr {
 public:
  [[nodiscard]] static Result<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& a) const;
  const std::string& text() const { return text_; }

 private:
  IpAddress base_;
  int prefix_ = 0;  // over the 128-bit form
  std::string text_;
};

struct AdmissionSettings {
  std::vector<Cidr> allow;   // empty: every address may connect (unless denied)
  std::vector<Cidr> deny;    // a match is refused, whatever `allow` says
  double ratePerSecond = 0;  // new connections per source address; 0 = no limit
  double burst = 0;          // bucket size; 0 = twice the rate (at least 1)
  size_t maxTrackedSources = 65536;
};

class AdmissionControl {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Verdict { Admit, Denied, RateLimited };

  explicit AdmissionControl(AdmissionSettings settings);

  Verdict check(const IpAddress& source, Clock::time_point now);
  // Whether a refusal of `source` should be logged now: the first one, then at most once a
  // minute per address (the rest are counted).
  bool shouldLog(const IpAddress& source, Clock::time_point now);
  uint64_t refused() const { return refused_; }
  size_t trackedSources() const { return buckets_.size(); }

 private:
  struct Hash {
    size_t operator()(const IpAddress& a) const;
  };
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  void trim(Clock::time_point now);

  AdmissionSettings settings_;
  std::unordered_map<IpAddress, Bucket, Hash> buckets_;
  std::unordered_map<IpAddress, Clock::time_point, Hash> lastLogged_;
  uint64_t refused_ = 0;
};

}  // namespace moat::net
