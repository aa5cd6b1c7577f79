// PasswordChecker: the broker's password authentication. Holds the password file
// ([auth.password] file) and checks CONNECT passwords on a small pool of its own threads, so a
// storm of logins with slow hashes (PBKDF2, argon2id) does not stall the workers that move
// messages; the answer is posted back to the connection's worker.
//
// Thread-safe: check() may be called from any worker.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "security/password_file.h"
#include "security/secret_string.h"

namespace moat::broker {

class PasswordChecker {
 public:
  // Loads the file; fails with the file's error (file:line and what is wrong).
  [[nodiscard]] static Result<std::unique_ptr<PasswordChecker>> create(
      const config::PasswordAuthSection& settings);
  ~PasswordChecker();

  // Checks `password` for `username` on the pool and posts `done(result)` to `executor`.
  void check(std::string username, security::SecretString password,
             boost::asio::any_io_executor executor,
             std::function<void(security::VerifyResult)> done);
  size_t users() const { return file_.load()->size(); }
  // Reads the file again and, if it is whole, swaps it in (checks under way finish with the
  // old one). Returns the users that were removed or whose password changed: their live
  // sessions must go. On error the old file stays; the error says why.
  [[nodiscard]] Result<std::vector<std::string>> reload();
  // Size and modification time, to notice a change (compared by the broker's file watch).
  std::string signature() const;
  const std::string& path() const { return path_; }
  // Waits for checks under way, drops the rest.
  void stop();

 private:
  PasswordChecker(std::string path, security::PasswordFile file);

  std::string path_;
  std::atomic<std::shared_ptr<const security::PasswordFile>> file_;
  boost::asio::thread_pool pool_;
};

}  // namespace moat::broker
