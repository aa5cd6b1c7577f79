// PasswordChecker: the broker's password authentication. Holds the password file
// ([auth.password] file) and checks CONNECT passwords on a small pool of its own threads, so a
// storm of logins with slow hashes (PBKDF2, argon2id) does not stall the workers that move
// messages; the answer is posted back to the connection's worker.
//
// Successful checks are remembered for `cache_seconds` under an HMAC-SHA256 of user name and
// password with a key made at start (never the password itself), so a reconnect storm of a
// fleet costs a hash lookup per client instead of a slow hash. Failures are never remembered;
// a reload forgets everything.
//
// Thread-safe: check() may be called from any worker.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "config/config.h"
#include "security/password_file.h"
#include "security/scram.h"
#include "security/secret_string.h"

namespace moat::broker {

class PasswordChecker {
 public:
  // Loads the file; fails with the file's error (file:line and what is wrong). `scramSecret`
  // makes the fake SCRAM salts of unknown users; it should outlive restarts (the broker keeps
  // it in its data directory), or an unknown user's salt would change at a restart while a
  // real one's does not. Empty: a random one.
  [[nodiscard]] static Result<std::unique_ptr<PasswordChecker>> create(
      const config::PasswordAuthSection& settings, std::string_view scramSecret = {});
  // A SCRAM-SHA-256 exchange against the current file (users whose stored hash is a SCRAM
  // credential, `moat passwd -H scram-sha-256`). Cheap: the server side is a few HMACs, so it
  // runs on the connection's own thread. Any thread.
  std::unique_ptr<security::ScramServer> scramServer() const;
  // Checks answered from the cache so far.
  uint64_t cacheHits() const { return cacheHits_.load(std::memory_order_relaxed); }
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
  PasswordChecker(const config::PasswordAuthSection& settings, security::PasswordFile file);
  using Clock = std::chrono::steady_clock;
  std::string cacheKey(std::string_view username, std::string_view password) const;
  bool cached(const std::string& key, Clock::time_point now);
  void remember(std::string key, Clock::time_point now);

  std::string path_;
  std::chrono::seconds cacheTime_;
  unsigned char hmacKey_[32];
  std::mutex cacheMutex_;
  std::unordered_map<std::string, Clock::time_point> cache_;  // key -> expiry
  std::atomic<uint64_t> cacheHits_{0};
  std::atomic<std::shared_ptr<const security::PasswordFile>> file_;
  security::SecretString scramSecret_;  // fake salts of unknown SCRAM users
  // The iteration count most SCRAM users of the file have: what unknown users are shown.
  std::atomic<uint32_t> scramIterations_{security::kDefaultScramIterations};
  boost::asio::thread_pool pool_;
};

}  // namespace moat::broker
