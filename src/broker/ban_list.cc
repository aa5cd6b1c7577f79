#include "broker/ban_list.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

namespace moat::broker {

Result<BanList::Stored> BanList::prepare(Entry entry) {
  if (entry.value.empty()) return fail(0x80, "a ban needs an address, user name or client id");
  Stored s{std::move(entry), std::nullopt};
  if (s.entry.kind == Kind::Address) {
    auto range = net::Cidr::parse(s.entry.value);
    if (!range) return tl::unexpected(range.error());
    s.range = std::move(*range);
  }
  return s;
}

Result<void> BanList::add(Entry entry) {
  auto s = prepare(std::move(entry));
  if (!s) return tl::unexpected(s.error());
  std::unique_lock lock(mutex_);
  for (auto& old : stored_) {
    if (old.entry.kind == s->entry.kind && old.entry.value == s->entry.value) {
      old = std::move(*s);
      return {};
    }
  }
  stored_.push_back(std::move(*s));
  return {};
}

bool BanList::remove(Kind kind, std::string_view value) {
  std::unique_lock lock(mutex_);
  auto it = std::find_if(stored_.begin(), stored_.end(), [&](const Stored& s) {
    return s.entry.kind == kind && s.entry.value == value;
  });
  if (it == stored_.end()) return false;
  stored_.erase(it);
  return true;
}

Result<void> BanList::replace(std::vector<Entry> entries) {
  std::vector<Stored> fresh;
  for (auto& e : entries) {
    auto s = prepare(std::move(e));
    if (!s) return tl::unexpected(s.error());
    fresh.push_back(std::move(*s));
  }
  std::unique_lock lock(mutex_);
  stored_ = std::move(fresh);
  return {};
}

std::vector<BanList::Entry> BanList::entries(Clock::time_point now) const {
  std::vector<Entry> out;
  std::shared_lock lock(mutex_);
  for (const auto& s : stored_) {
    if (!s.entry.until || *s.entry.until > now) out.push_back(s.entry);
  }
  return out;
}

std::optional<BanList::Entry> BanList::match(std::string_view address, std::string_view username,
                                             std::string_view clientId,
                                             Clock::time_point now) const {
  const auto ip = net::IpAddress::parse(address);
  std::shared_lock lock(mutex_);
  for (const auto& s : stored_) {
    if (s.entry.until && *s.entry.until <= now) continue;
    bool hit = false;
    switch (s.entry.kind) {
      case Kind::Address:
        hit = ip && s.range->contains(*ip);
        break;
      case Kind::Username:
        hit = !username.empty() && s.entry.value == username;
        break;
      case Kind::ClientId:
        hit = s.entry.value == clientId;
        break;
    }
    if (hit) return s.entry;
  }
  return std::nullopt;
}

std::string BanList::describe(const Entry& entry) {
  switch (entry.kind) {
    case Kind::Address:
      return fmt::format("address {}", entry.value);
    case Kind::Username:
      return fmt::format("user name \"{}\"", entry.value);
    case Kind::ClientId:
      return fmt::format("client id \"{}\"", entry.value);
  }
  return {};
}

}  // namespace moat::broker
