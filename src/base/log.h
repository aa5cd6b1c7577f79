// The log facade. Everything in Moat logs through these functions so the sink, format and level
// are chosen in one place (apps/moat sets them up). Thread-safe: spdlog's default logger is
// synchronised. Never pass a secret (password, key, token, payload) to a log call.
#pragma once

#include <spdlog/spdlog.h>

#include <atomic>
#include <string_view>
#include <utility>

namespace moat::log {

// Values match spdlog::level::level_enum.
enum class Level { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Off = 6 };

// Sets the minimum level that is written. Not thread-safe with concurrent logging setup.
void setLevel(Level level);

namespace detail {
// setLevel's level, read on hot paths (every packet asks enabled(Trace)) without spdlog's
// registry lookup.
inline std::atomic<int> minimumLevel{static_cast<int>(Level::Info)};
}  // namespace detail
// Parses "trace|debug|info|warn|error|off"; returns false on an unknown name.
bool parseLevel(std::string_view name, Level& out);

template <class... Args>
void trace(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::trace(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::debug(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::warn(fmt, std::forward<Args>(args)...);
}
template <class... Args>
void error(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::error(fmt, std::forward<Args>(args)...);
}

inline bool enabled(Level level) {
  return static_cast<int>(level) >= detail::minimumLevel.load(std::memory_order_relaxed);
}

}  // namespace moat::log
