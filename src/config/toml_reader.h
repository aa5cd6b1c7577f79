// Internal to the config module: reading TOML tables strictly, with errors that name
// "file:line", and paths relative to the configuration file. Shared by config.cc and
// config_auth.cc.
#pragma once

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace moat::config::detail {

// Errors carry "file:line: message"; the code is unused for configuration (0x80).
inline Error at(std::string_view source, const toml::node& node, std::string_view message) {
  return Error{0x80, fmt::format("{}:{}: {}", source, node.source().begin.line, message)};
}

// Reads one table strictly: every key must be consumed by a reader, the rest are reported.
class TableReader {
 public:
  TableReader(std::string_view source, const toml::table& table, std::string_view path)
      : source_(source), table_(table), path_(path) {}

  template <class T>
  Result<void> integer(std::string_view key, T& out, int64_t min, int64_t max) {
    const toml::node* node = take(key);
    if (!node) return {};
    auto v = node->value<int64_t>();
    if (!node->is_integer() || !v) {
      return tl::unexpected(
          at(source_, *node, fmt::format("{}.{} must be an integer", path_, key)));
    }
    if (*v < min || *v > max) {
      return tl::unexpected(
          at(source_, *node, fmt::format("{}.{} must be between {} and {}", path_, key, min, max)));
    }
    out = static_cast<T>(*v);
    return {};
  }

  Result<void> string(std::string_view key, std::string& out) {
    const toml::node* node = take(key);
    if (!node) return {};
    if (!node->is_string()) {
      return tl::unexpected(at(source_, *node, fmt::format("{}.{} must be a string", path_, key)));
    }
    out = *node->value<std::string>();
    return {};
  }

  // An integer or a floating-point number.
  Result<void> number(std::string_view key, double& out, double min, double max) {
    const toml::node* node = take(key);
    if (!node) return {};
    auto v = node->value<double>();
    if (!(node->is_integer() || node->is_floating_point()) || !v) {
      return tl::unexpected(at(source_, *node, fmt::format("{}.{} must be a number", path_, key)));
    }
    if (*v < min || *v > max) {
      return tl::unexpected(
          at(source_, *node, fmt::format("{}.{} must be between {} and {}", path_, key, min, max)));
    }
    out = *v;
    return {};
  }

  // A string or an array of strings.
  Result<void> strings(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = take(key);
    if (!node) return {};
    if (node->is_string()) {
      out.push_back(*node->value<std::string>());
      return {};
    }
    const toml::array* arr = node->as_array();
    if (arr) {
      for (const auto& item : *arr) {
        if (!item.is_string()) break;
        out.push_back(*item.value<std::string>());
      }
      if (out.size() == arr->size()) return {};
    }
    return tl::unexpected(
        at(source_, *node, fmt::format("{}.{} must be a string or a list of strings", path_, key)));
  }

  Result<void> boolean(std::string_view key, bool& out) {
    const toml::node* node = take(key);
    if (!node) return {};
    if (!node->is_boolean()) {
      return tl::unexpected(
          at(source_, *node, fmt::format("{}.{} must be true or false", path_, key)));
    }
    out = *node->value<bool>();
    return {};
  }

  bool has(std::string_view key) const { return table_.contains(key); }
  // Marks a key as read by a caller that handles it itself (a sub-table).
  void accept(std::string_view key) { taken_.emplace_back(key); }

  // Fails on the first key no reader asked for.
  Result<void> finish() const {
    for (const auto& [key, node] : table_) {
      bool known = false;
      for (const auto& k : taken_) known = known || k == key.str();
      if (!known) {
        return tl::unexpected(Error{0x80, fmt::format("{}:{}: unknown key '{}' in [{}]", source_,
                                                      key.source().begin.line, key.str(), path_)});
      }
    }
    return {};
  }

 private:
  const toml::node* take(std::string_view key) {
    taken_.emplace_back(key);
    return table_.get(key);
  }

  std::string_view source_;
  const toml::table& table_;
  std::string path_;
  std::vector<std::string> taken_;
};

// Relative file names in [listener.tls] are relative to the configuration file's directory.
inline std::string resolvePath(std::string_view source, const std::string& file) {
  if (file.empty() || file.front() == '/') return file;
  std::filesystem::path base = std::filesystem::path(source).parent_path();
  return base.empty() ? file : (base / file).string();
}

}  // namespace moat::config::detail
