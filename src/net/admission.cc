#include "net/admission.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace moat::net {

IpAddress IpAddress::v4(const std::array<uint8_t, 4>& b) {
  IpAddress a;
  a.bytes[10] = a.bytes[11] = 0xff;
  std::copy(b.begin(), b.end(), a.bytes.begin() + 12);
  return a;
}

IpAddress IpAddress::v6(const std::array<uint8_t, 16>& b) {
  IpAddress a;
  a.bytes = b;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string addr(text);
  if (addr.find(':') == std::string::npos) {
    std::array<uint8_t, 4> b{};
    if (inet_pton(AF_INET, addr.c_str(), b.data()) != 1) return std::nullopt;
    return v4(b);
  }
  std::array<uint8_t, 16> b{};
  if (inet_pton(AF_INET6, addr.c_str(), b.data()) != 1) return std::nullopt;
  return v6(b);
}

Result<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  c.text_ = std::string(text);
  std::string_view addr = text.substr(0, text.find('/'));
  bool isV4 = addr.find(':') == std::string_view::npos;
  int maxPrefix = isV4 ? 32 : 128;
  auto base = IpAddress::parse(addr);
  if (!base) return fail(0x80, fmt::format("\"{}\" is not an IP address or CIDR range", text));
  c.base_ = *base;
  int prefix = maxPrefix;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    std::string p(text.substr(slash + 1));
    if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(p) > maxPrefix) {
      return fail(0x80, fmt::format("\"{}\": the prefix length must be 0-{}", text, maxPrefix));
    }
    prefix = std::stoi(p);
  }
  c.prefix_ = isV4 ? prefix + 96 : prefix;
  return c;
}

bool Cidr::contains(const IpAddress& a) const {
  int full = prefix_ / 8, rest = prefix_ % 8;
  if (std::memcmp(a.bytes.data(), base_.bytes.data(), static_cast<size_t>(full)) != 0) {
    return false;
  }
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (base_.bytes[full] & mask);
}

size_t AdmissionControl::Hash::operator()(const IpAddress& a) const {
  uint64_t h1, h2;
  std::memcpy(&h1, a.bytes.data(), 8);
  std::memcpy(&h2, a.bytes.data() + 8, 8);
  return std::hash<uint64_t>{}(h1 * 0x9E3779B97F4A7C15ULL ^ h2);
}

AdmissionControl::AdmissionControl(AdmissionSettings settings) : settings_(std::move(settings)) {
  if (settings_.burst <= 0) settings_.burst = std::max(1.0, settings_.ratePerSecond * 2);
}

AdmissionControl::Verdict AdmissionControl::check(const IpAddress& source, Clock::time_point now) {
  for (const auto& c : settings_.deny) {
    if (c.contains(source)) {
      ++refused_;
      return Verdict::Denied;
    }
  }
  if (!settings_.allow.empty() && std::none_of(settings_.allow.begin(), settings_.allow.end(),
                                               [&](const Cidr& c) { return c.contains(source); })) {
    ++refused_;
    return Verdict::Denied;
  }
  if (settings_.ratePerSecond <= 0) return Verdict::Admit;
  if (buckets_.size() >= settings_.maxTrackedSources) trim(now);
  auto [it, fresh] = buckets_.try_emplace(source, Bucket{settings_.burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(settings_.burst, b.tokens + elapsed * settings_.ratePerSecond);
    b.last = now;
  }
  if (b.tokens < 1.0) {
    ++refused_;
    return Verdict::RateLimited;
  }
  b.tokens -= 1.0;
  return Verdict::Admit;
}

void AdmissionControl::trim(Clock::time_point now) {
  // Forget sources whose bucket has refilled: they are indistinguishable from new ones.
  auto full = std::chrono::duration<double>(settings_.burst / settings_.ratePerSecond);
  std::erase_if(buckets_, [&](const auto& e) { return now - e.second.last > full; });
  if (buckets_.size() >= settings_.maxTrackedSources) buckets_.clear();  // bounded memory
  std::erase_if(lastLogged_,
                [&](const auto& e) { return now - e.second > std::chrono::minutes(1); });
}

bool AdmissionControl::shouldLog(const IpAddress& source, Clock::time_point now) {
  if (lastLogged_.size() >= settings_.maxTrackedSources) lastLogged_.clear();
  auto [it, fresh] = lastLogged_.try_emplace(source, now);
  if (fresh) return true;
  if (now - it->second < std::chrono::minutes(1)) return false;
  it->second = now;
  return true;
}

}  // namespace moat::net
