#include "base/log.h"

namespace moat::log {

void setLevel(Level level) {
  spdlog::set_level(static_cast<spdlog::level::level_enum>(level));
  detail::minimumLevel.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool parseLevel(std::string_view name, Level& out) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"trace", Level::Trace}, {"debug", Level::Debug}, {"info", Level::Info},
      {"warn", Level::Warn},   {"error", Level::Error}, {"off", Level::Off}};
  for (const auto& [n, l] : kNames) {
    if (n == name) {
      out = l;
      return true;
    }
  }
  return false;
}

}  // namespace moat::log
