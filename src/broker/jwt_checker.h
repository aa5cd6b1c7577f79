// JwtChecker: the broker's JSON Web Token authentication ([auth.jwt]). Holds the verifier made
// from the configured key source (security::JwtVerifier) and swaps in a new one when the key
// file changes (SIGHUP or the file watch): all or nothing, a broken file keeps the old keys.
//
// A token is checked on the connection's own thread: a signature check costs tens of
// microseconds (RSA-2048 verify, ECDSA, Ed25519) where a password hash costs a hundred
// milliseconds, so it needs no pool.
//
// Thread-safe: verify() from any worker; reload() and signature() from the broker's watch.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "config/config.h"
#include "security/jwt.h"

namespace moat::broker {

class JwtChecker {
 public:
  // Loads the key source; fails with its error (file and what is wrong).
  [[nodiscard]] static Result<std::unique_ptr<JwtChecker>> create(
      const config::JwtAuthSection& settings);

  [[nodiscard]] security::JwtResult<security::JwtClaims> verify(
      std::string_view token, std::chrono::system_clock::time_point now) const {
    return verifier_.load()->verify(token, now);
  }
  bool hasKeyFor(std::string_view kid, std::string_view algorithm) const {
    return verifier_.load()->hasKeyFor(kid, algorithm);
  }
  // Reads the key source again; on error the old keys stay and the error says why.
  [[nodiscard]] Result<void> reload();
  // Size and modification time of the key file, to notice a change.
  std::string signature() const;
  const std::string& path() const { return path_; }
  size_t keyCount() const { return verifier_.load()->keyCount(); }
  // Whether a connection is closed when its token expires ([auth.jwt] disconnect_at_expiry).
  bool disconnectAtExpiry() const { return disconnectAtExpiry_; }
  std::chrono::seconds leeway() const { return settings_.leeway; }

  // Whether `password` has the shape of a compact JWS (three base64url parts, the first an
  // encoded JSON object): the "jwt" method takes such passwords and leaves others to the next
  // method of the chain.
  static bool looksLikeToken(std::string_view password);

 private:
  JwtChecker(security::JwtSettings settings, security::JwtVerifier verifier, bool disconnect);

  security::JwtSettings settings_;
  std::string path_;
  bool disconnectAtExpiry_;
  std::atomic<std::shared_ptr<const security::JwtVerifier>> verifier_;
};

}  // namespace moat::broker
