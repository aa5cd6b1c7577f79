// PasswordHash: one stored password hash in one of the encodings of Mosquitto's password file,
// parsed and checked, or made from a password.
//
//   $6$<salt>$<hash>             Mosquitto's "sha512": SHA-512 over the password bytes followed
//                                by the raw salt (not crypt(3)'s sha512crypt); read only
//   $7$<iterations>$<salt>$<hash> PBKDF2-HMAC-SHA512, 64-byte output ("sha512-pbkdf2")
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>   argon2's own encoded form
//
// Salts and hashes are base64: padded with '=' in $6$/$7$, unpadded in argon2id (base64.h).
// Mosquitto 2.0 reads $6$/$7$ salts of 12 bytes only; 2.1 writes 64, so both are accepted.
// Parameters outside sane bounds (below) are refused when the hash is parsed, so a typo in a
// password file cannot make every login take minutes or gigabytes.
//
// A PasswordHash is an immutable value: matches() may run on any number of threads at once. It
// is slow on purpose (tens to hundreds of milliseconds for the strong schemes): a broker calls it
// off its I/O threads. Error messages never contain the hash or the password.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace moat::security {

enum class HashScheme { Sha512, Pbkdf2Sha512, Argon2id };

// "$6$ (SHA-512)", "$7$ (PBKDF2-SHA512)", "argon2id": for messages.
std::string_view schemeName(HashScheme scheme);

// MQTT's password is Binary Data of at most 65535 bytes (spec 1.5.6); a longer one cannot come
// from a client and is never hashed.
inline constexpr size_t kMaxPasswordBytes = 65535;

// Bounds checked at parse time.
inline constexpr uint32_t kMaxPbkdf2Iterations = 10'000'000;
inline constexpr uint32_t kMaxArgon2MemoryKib = 1u << 20;  // 1 GiB
inline constexpr uint32_t kMaxArgon2Passes = 100;
inline constexpr uint32_t kMaxArgon2Lanes = 64;

struct Argon2Cost {
  uint32_t passes = 0;     // t
  uint32_t memoryKib = 0;  // m
  uint32_t lanes = 0;      // p
};

// What Moat writes.
//
// argon2id: 46 MiB, one pass, one lane. That is the first configuration of OWASP's Password
// Storage Cheat Sheet (m=47104 KiB, t=1, p=1; its list of settings is meant to be of equal
// strength, and RFC 9106 also leads with a single pass over much memory), and what Mosquitto 2.1
// writes. A broker pays this on every password login: it takes about 0.1 s of one core, where
// t=3 with 64 MiB (RFC 9106's second option) takes three times as long per CONNECT.
// Salt 16 bytes and tag 32 bytes, as RFC 9106 recommends.
inline constexpr Argon2Cost kDefaultArgon2Cost{1, 47104, 1};
inline constexpr size_t kArgon2SaltBytes = 16;
inline constexpr size_t kArgon2HashBytes = 32;
//
// PBKDF2-HMAC-SHA512: 210,000 iterations, OWASP's figure for this PRF, where mosquitto_passwd
// writes 101. The $7$ line carries its count, so Mosquitto reads it unchanged. The salt is 12
// bytes because that is the only length Mosquitto 2.0 accepts.
inline constexpr uint32_t kDefaultPbkdf2Iterations = 210'000;
inline constexpr size_t kPbkdf2SaltBytes = 12;

struct HashOptions {
  HashScheme scheme = HashScheme::Argon2id;  // Pbkdf2Sha512 for files Mosquitto 2.0 must read
  uint32_t pbkdf2Iterations = kDefaultPbkdf2Iterations;
  Argon2Cost argon2 = kDefaultArgon2Cost;
};

class PasswordHash {
 public:
  // Parses an encoded hash (the part after "username:"). The error says what is wrong with it
  // ("$7$ hash: iteration count 0 is out of range 1..10000000") without repeating it.
  [[nodiscard]] static Result<PasswordHash> parse(std::string_view encoded);

  // Hashes `password` with a fresh random salt. Only Pbkdf2Sha512 and Argon2id are written: $6$
  // is a single SHA-512, far too fast against guessing. Fails for a password over 65535 bytes,
  // parameters out of bounds, or a failure of the random generator.
  [[nodiscard]] static Result<PasswordHash> create(std::string_view password,
                                                   const HashOptions& options = {});

  // A hash of the same scheme, cost and lengths with a random salt and a random digest, which no
  // password matches (short of a 2^-128 chance): checking a password against it costs what
  // checking one against *this costs. For answering an unknown user in the same time.
  [[nodiscard]] PasswordHash decoy() const;
  // The same for a hash `options` would create (without hashing anything): the decoy of a file
  // with no users yet.
  [[nodiscard]] static PasswordHash decoyFor(const HashOptions& options);

  // Whether `password` hashes to this hash; the digests are compared in constant time. False for
  // a password over 65535 bytes without hashing it.
  [[nodiscard]] bool matches(std::string_view password) const;

  HashScheme scheme() const { return scheme_; }
  // The encoded form, as parsed or as made: what goes into the file after "username:".
  const std::string& encoded() const { return encoded_; }
  // Equal for hashes whose check costs the same: scheme, parameters, salt and digest lengths.
  std::string costKey() const;

 private:
  PasswordHash() = default;
  // The fields after "$6$" or "$7$" (`scheme` says which), or after "$argon2id$".
  static Result<PasswordHash> parseMosquitto(HashScheme scheme, std::string_view fields);
  static Result<PasswordHash> parseArgon2id(std::string_view fields);
  void encode();  // sets encoded_ from the fields

  HashScheme scheme_ = HashScheme::Argon2id;
  uint32_t iterations_ = 0;  // $7$
  Argon2Cost argon2_;        // argon2id
  std::string salt_;         // raw bytes
  std::string digest_;       // raw bytes
  std::string encoded_;
};

}  // namespace moat::security
