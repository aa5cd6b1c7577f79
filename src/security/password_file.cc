#include "security/password_file.h"

#include <fmt/format.h>

#include <cstddef>
#include <unordered_map>
#include <utility>

#include "base/atomic_file.h"
#include "security/username.h"

namespace moat::security {

namespace {

constexpr mode_t kPasswordFileMode = 0600;

bool isBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

// A line of the file, cut into its parts. For a comment or blank line `entry` is false.
struct SplitLine {
  std::string_view text;  // without the line end
  bool entry = false;
  std::string_view username;  // blanks around it removed
  std::string_view value;     // everything after the first ':'
};

// Calls `onLine(lineNumber, split, error)` for every line of `text`, where `error(what)` makes
// the "source:line: what" failure for that line; stops at the first failure, which is the
// first line without a ':' or with a username checkUsername refuses, or one onLine refuses.
template <class OnLine>
Result<void> forEachLine(std::string_view text, std::string_view source, OnLine&& onLine) {
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);

    SplitLine split{line, false, {}, {}};
    std::string_view trimmed = trimBlanks(line);
    auto error = [&](std::string_view what) {
      return fail(0x80, fmt::format("{}:{}: {}", source, number, what));
    };
    if (!trimmed.empty() && trimmed.front() != '#') {
      size_t colon = trimmed.find(':');
      // Nothing of the line is repeated: without a ':' it may be a password on its own.
      if (colon == std::string_view::npos) {
        return error("no ':' between the username and the password hash");
      }
      split.entry = true;
      split.username = trimBlanks(trimmed.substr(0, colon));
      split.value = line.substr(line.find(':') + 1);
      if (auto ok = checkUsername(split.username); !ok) return error(ok.error().message);
    }
    MOAT_TRY(onLine(number, split, error));
  }
  return {};
}

}  // namespace

Result<void> checkPasswordFileUsername(std::string_view name) {
  MOAT_TRY(checkUsername(name));
  if (name.find(':') != std::string_view::npos) {
    return fail(0x80, "username contains ':' (the separator of the password file)");
  }
  if (isBlank(name.front()) || isBlank(name.back())) {
    return fail(0x80, "username starts or ends with a blank (the password file drops those)");
  }
  return {};
}

PasswordFile::PasswordFile() { chooseDecoy(); }

Result<PasswordFile> PasswordFile::load(const std::filesystem::path& path) {
  auto text = readWholeFile(path);
  if (!text) return tl::unexpected(text.error());
  return parse(*text, path.string());
}

Result<PasswordFile> PasswordFile::parse(std::string_view text, std::string_view source) {
  PasswordFile file;
  auto onLine = [&](size_t number, const SplitLine& split, auto& error) -> Result<void> {
    Line line{std::string(split.text), {}, std::nullopt};
    if (split.entry) {
      std::string_view value = trimBlanks(split.value);
      if (value.empty()) {
        return error(fmt::format("user \"{}\": no password hash after ':'", split.username));
      }
      auto hash = PasswordHash::parse(value);
      if (!hash) return error(fmt::format("user \"{}\": {}", split.username, hash.error().message));
      if (auto seen = file.index_.find(split.username); seen != file.index_.end()) {
        return error(
            fmt::format("user \"{}\" is already on line {}", split.username, seen->second + 1));
      }
      line.username = std::string(split.username);
      line.hash = std::move(*hash);
      file.index_.emplace(line.username, file.lines_.size());
    }
    file.lines_.push_back(std::move(line));
    return {};
  };
  MOAT_TRY(forEachLine(text, source, onLine));
  file.chooseDecoy();
  return file;
}

Result<PasswordFile::Conversion> PasswordFile::hashPlainText(std::string_view text,
                                                             std::string_view source,
                                                             const HashOptions& options) {
  Conversion out;
  PasswordFile& file = out.file;
  auto onLine = [&](size_t number, const SplitLine& split, auto& error) -> Result<void> {
    if (!split.entry) {
      file.lines_.push_back(Line{std::string(split.text), {}, std::nullopt});
      return {};
    }
    if (file.index_.contains(split.username)) {
      return error(fmt::format("user \"{}\" is already on line {}", split.username,
                               file.index_.find(split.username)->second + 1));
    }
    std::string_view password = split.value;
    std::optional<PasswordHash> hash;
    std::string lineText;
    std::string_view trimmed = trimBlanks(password);
    if (trimmed.starts_with("$6$") || trimmed.starts_with("$7$") ||
        trimmed.starts_with("$argon2") || trimmed.starts_with("SCRAM-SHA-256$")) {
      // A hash already, or a broken one: hashing it as a password would lock the user out.
      auto parsed = PasswordHash::parse(trimmed);
      if (!parsed) {
        return error(fmt::format("user \"{}\": {}", split.username, parsed.error().message));
      }
      hash = std::move(*parsed);
      lineText = std::string(split.text);
      ++out.kept;
    } else {
      if (password.empty()) {
        return error(fmt::format("user \"{}\": empty password", split.username));
      }
      auto made = PasswordHash::create(password, options);
      if (!made) return error(fmt::format("user \"{}\": {}", split.username, made.error().message));
      hash = std::move(*made);
      lineText = fmt::format("{}:{}", split.username, hash->encoded());
      ++out.hashed;
    }
    file.index_.emplace(std::string(split.username), file.lines_.size());
    file.lines_.push_back(Line{std::move(lineText), std::string(split.username), std::move(hash)});
    return {};
  };
  MOAT_TRY(forEachLine(text, source, onLine));
  file.chooseDecoy();
  return out;
}

VerifyResult PasswordFile::verify(std::string_view username, std::string_view password) const {
  auto it = index_.find(username);
  if (it == index_.end()) {
    // The same work as a real check, result ignored: see the header.
    (void)decoy_->matches(password);
    return VerifyResult::UnknownUser;
  }
  return lines_[it->second].hash->matches(password) ? VerifyResult::Ok
                                                    : VerifyResult::WrongPassword;
}

std::vector<std::string> PasswordFile::usernames() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& line : lines_) {
    if (line.hash) out.push_back(line.username);
  }
  return out;
}

const PasswordHash* PasswordFile::find(std::string_view username) const {
  auto it = index_.find(username);
  return it == index_.end() ? nullptr : &*lines_[it->second].hash;
}

Result<void> PasswordFile::set(std::string_view username, PasswordHash hash) {
  MOAT_TRY(checkPasswordFileUsername(username));
  Line line{fmt::format("{}:{}", username, hash.encoded()), std::string(username), std::move(hash)};
  if (auto it = index_.find(username); it != index_.end()) {
    lines_[it->second] = std::move(line);
  } else {
    index_.emplace(line.username, lines_.size());
    lines_.push_back(std::move(line));
  }
  chooseDecoy();
  return {};
}

bool PasswordFile::remove(std::string_view username) {
  auto it = index_.find(username);
  if (it == index_.end()) return false;
  lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(it->second));
  reindex();
  chooseDecoy();
  return true;
}

std::string PasswordFile::render() const {
  std::string out;
  for (const auto& line : lines_) {
    out += line.text;
    out += '\n';
  }
  return out;
}

Result<void> PasswordFile::save(const std::filesystem::path& path) const {
  return writeFileAtomically(path, render(), kPasswordFileMode);
}

void PasswordFile::reindex() {
  index_.clear();
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (lines_[i].hash) index_.emplace(lines_[i].username, i);
  }
}

// The decoy has the cost most users' hashes have, so an unknown name takes as long as most known
// ones; an empty file gets one of the default kind.
void PasswordFile::chooseDecoy() {
  std::unordered_map<std::string, std::pair<size_t, const PasswordHash*>> byCost;
  const PasswordHash* common = nullptr;
  size_t best = 0;
  for (const auto& line : lines_) {
    if (!line.hash) continue;
    auto& [count, example] = byCost[line.hash->costKey()];
    example = &*line.hash;
    if (++count > best) {
      best = count;
      common = example;
    }
  }
  decoy_ = common ? common->decoy() : PasswordHash::decoyFor(HashOptions{});
}

}  // namespace moat::security
