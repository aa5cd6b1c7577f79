// PasswordFile: a Mosquitto-compatible password file in memory. What the broker will check
// CONNECT passwords against (issue 4) and what `moat passwd` edits.
//
// The format, as Mosquitto reads it: one `username:hash` per line (hash as in password_hash.h),
// blanks around either part ignored, blank lines and lines starting with '#' skipped, LF or CRLF
// line ends. Where Mosquitto skips a line it cannot use with a warning, Moat refuses the whole
// file: a load is all or nothing, and its error names `FILE:LINE` and what is wrong, without
// repeating the hash. A file Mosquitto wrote loads unchanged.
//
// Editing keeps every other line exactly as it was (comments, blank lines, order), so a file
// kept under version control changes by the lines that changed; a new user goes at the end.
//
// Thread-safety: the const methods (verify, contains, ...) may run on any number of threads at
// once; the editing methods need the only reference.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "security/password_hash.h"

namespace moat::security {

enum class VerifyResult { Ok, WrongPassword, UnknownUser };

// checkUsername (username.h), and no ':' nor a blank at either end: what the file format cannot
// hold (':' separates the hash; blanks around a name are dropped when it is read).
[[nodiscard]] Result<void> checkPasswordFileUsername(std::string_view name);

class PasswordFile {
 public:
  // An empty file (what `moat passwd -c` starts from).
  PasswordFile();

  // Reads and parses `path`. Fails if it cannot be read or any line is broken.
  [[nodiscard]] static Result<PasswordFile> load(const std::filesystem::path& path);
  // Parses `text`; `source` names it in errors ("passwd:3: ...").
  [[nodiscard]] static Result<PasswordFile> parse(std::string_view text, std::string_view source);

  // For `moat passwd -U`: `text` is a file of `username:password` lines in plain text. Each
  // password is hashed with `options` (everything after the first ':' is the password, blanks
  // included); a line that already holds a hash Moat reads is kept as it is, so running it twice
  // does no harm (mosquitto_passwd -U would hash the hash). Comments and blank lines are kept.
  struct Conversion;
  [[nodiscard]] static Result<Conversion> hashPlainText(std::string_view text,
                                                        std::string_view source,
                                                        const HashOptions& options);

  // Whether `password` is `username`'s. For a user not in the file the password is checked
  // against a decoy hash of the file's most common kind, so the time taken does not tell which
  // users exist. A password over 65535 bytes is never hashed and never matches.
  [[nodiscard]] VerifyResult verify(std::string_view username, std::string_view password) const;

  bool contains(std::string_view username) const { return index_.contains(username); }
  size_t size() const { return index_.size(); }
  // The users in file order.
  std::vector<std::string> usernames() const;
  // `username`'s hash, or nullptr.
  const PasswordHash* find(std::string_view username) const;

  // Adds `username` at the end, or replaces its hash where it stands. Fails when
  // checkPasswordFileUsername does.
  [[nodiscard]] Result<void> set(std::string_view username, PasswordHash hash);
  // Removes `username`'s line; false when it was not there.
  bool remove(std::string_view username);

  // The file's text: every line followed by '\n'.
  std::string render() const;
  // Writes render() to `path` atomically (base/atomic_file.h), mode 0600.
  [[nodiscard]] Result<void> save(const std::filesystem::path& path) const;

 private:
  struct Line {
    std::string text;                  // as read, without its line end; "user:hash" once set
    std::string username;              // empty for a comment or blank line
    std::optional<PasswordHash> hash;  // set exactly when username is
  };

  void reindex();
  void chooseDecoy();

  std::vector<Line> lines_;
  std::map<std::string, size_t, std::less<>> index_;  // username -> index in lines_
  std::optional<PasswordHash> decoy_;
};

struct PasswordFile::Conversion {
  PasswordFile file;
  size_t hashed = 0;  // plain passwords replaced by hashes
  size_t kept = 0;    // lines that held a hash already
};

}  // namespace moat::security
