#include "security/authz_condition.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace moat::security::authz {

namespace {

const std::vector<std::string> kNoValues;

// "HH:MM" as minutes after midnight.
std::optional<uint16_t> parseClock(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  unsigned hours = 0, minutes = 0;
  auto h = std::from_chars(text.data(), text.data() + 2, hours);
  auto m = std::from_chars(text.data() + 3, text.data() + 5, minutes);
  if (h.ec != std::errc() || h.ptr != text.data() + 2 || m.ec != std::errc() ||
      m.ptr != text.data() + 5) {
    return std::nullopt;
  }
  if (hours == 24 && minutes == 0) return uint16_t(24 * 60);
  if (hours > 23 || minutes > 59) return std::nullopt;
  return static_cast<uint16_t>(hours * 60 + minutes);
}

bool anyOf(const std::vector<std::string>& have, const std::vector<std::string>& wanted) {
  for (const auto& w : wanted) {
    if (std::find(have.begin(), have.end(), w) != have.end()) return true;
  }
  return false;
}

bool fieldsHold(const Fields& required, const Fields& have) {
  for (const auto& [name, values] : required) {
    if (!anyOf(valuesOf(have, name), values)) return false;
  }
  return true;
}

}  // namespace

const std::vector<std::string>& valuesOf(const Fields& fields, std::string_view name) {
  for (const auto& [n, values] : fields) {
    if (n == name) return values;
  }
  return kNoValues;
}

Result<TimeWindow> parseTimeWindow(std::string_view text, const std::vector<std::string>& days) {
  TimeWindow w;
  const size_t dash = text.find('-');
  auto start = parseClock(text.substr(0, dash));
  auto end = dash == std::string_view::npos ? std::nullopt : parseClock(text.substr(dash + 1));
  if (!start || !end || *start == 24 * 60) {
    return fail(0x80, fmt::format("time \"{}\" is not a window like \"08:00-18:00\" (UTC)", text));
  }
  if (*start == *end) {
    return fail(0x80, fmt::format("time \"{}\" is an empty window", text));
  }
  w.startMinute = *start;
  w.endMinute = *end;
  if (!days.empty()) {
    static constexpr std::array<std::string_view, 7> kDays{"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};
    w.days = 0;
    for (const auto& d : days) {
      auto it = std::find(kDays.begin(), kDays.end(), d);
      if (it == kDays.end()) {
        return fail(0x80,
                    fmt::format("day \"{}\" is not one of mon, tue, wed, thu, fri, sat, sun", d));
      }
      w.days |= uint8_t(1u << (it - kDays.begin()));
    }
  }
  return w;
}

bool holds(const Condition& c, const ConditionFacts& f) {
  if (!c.addresses.empty()) {
    if (!f.address) return false;
    if (std::none_of(c.addresses.begin(), c.addresses.end(),
                     [&](const net::Cidr& r) { return r.contains(*f.address); })) {
      return false;
    }
  }
  if (!c.listeners.empty() &&
      std::find(c.listeners.begin(), c.listeners.end(), f.listener) == c.listeners.end()) {
    return false;
  }
  if (!fieldsHold(c.cert, f.cert) || !fieldsHold(c.claims, f.claims) ||
      !fieldsHold(c.attributes, f.attributes)) {
    return false;
  }
  if (c.time) {
    using namespace std::chrono;
    const auto day = floor<days>(f.now);
    const auto minute = static_cast<uint16_t>(duration_cast<minutes>(f.now - day).count());
    unsigned weekday = year_month_weekday(day).weekday().c_encoding();
    const TimeWindow& w = *c.time;
    bool inside;
    if (w.startMinute < w.endMinute) {
      inside = minute >= w.startMinute && minute < w.endMinute;
    } else {  // spans midnight: after the start today, or before the end (a window of yesterday)
      inside = minute >= w.startMinute;
      if (!inside && minute < w.endMinute) {
        inside = true;
        weekday = (weekday + 6) % 7;
      }
    }
    if (!inside || (w.days & (1u << weekday)) == 0) return false;
  }
  return true;
}

}  // namespace moat::security::authz
