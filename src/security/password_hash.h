// PasswordHash: one stored password hash in one of the encodings of Mosquitto's password file,
// parsed and checked, or made from a password.
//
//   $6$<salt>$<hash>             Mosquitto's "sha512": SHA-512 over the password bytes followed
//                                by the raw salt (not crypt(3)'s sha512crypt); read only
//   $7$<iterations>$<salt>$<hash> PBKDF2-HMAC-SHA512, 64-byte output ("sha512-pbkdf2")
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>   argon2's own encoded form
//   SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>  a SCRAM-SHA-256 credential
//                                (RFC 5802 section 3, RFC 7677) written the way PostgreSQL
//                                stores one; Moat's own, Mosquitto skips such lines
//
// Salts and hashes are base64: padded with '=' in $6$/$7$ and SCRAM, unpadded in argon2id
// (base64.h).
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
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace moat::security {

enum class HashScheme { Sha512, Pbkdf2Sha512, Argon2id, ScramSha256 };

// "$6$ (SHA-512)", "$7$ (PBKDF2-SHA512)", "argon2id", "SCRAM-SHA-256": for messages.
std::string_view schemeName(HashScheme scheme);

// MQTT's password is Binary Data of at most 65535 bytes (spec 1.5.6); a longer one cannot come
// from a client and is never hashed.
inline constexpr size_t kMaxPasswordBytes = 65535;

// Bounds checked at parse time.
inline constexpr uint32_t kMaxPbkdf2Iterations = 10'000'000;
inline constexpr uint32_t kMaxArgon2MemoryKib = 1u << 20;  // 1 GiB
inline constexpr uint32_t kMaxArgon2Passes = 100;
inline constexpr uint32_t kMaxArgon2Lanes = 64;
// SCRAM: RFC 7677 section 4 asks for at least 4096 iterations; the upper bound is PBKDF2's, and
// ScramClient holds a server to the same range so that no server can make a device spin.
inline constexpr uint32_t kMinScramIterations = 4096;
inline constexpr uint32_t kMaxScramIterations = 10'000'000;
inline constexpr size_t kMinScramSaltBytes = 16;
inline constexpr size_t kMaxScramSaltBytes = 64;
inline constexpr size_t kScramKeyBytes = 32;  // SHA-256

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
//
// SCRAM-SHA-256: 4096 iterations, RFC 7677's minimum and PostgreSQL's default. In a SCRAM
// exchange the *client* runs the PBKDF2, on every connection (RFC 5802 lets it cache the keys,
// few devices do), and a sensor on a 100 MHz microcontroller needs a few hundred milliseconds for
// 4096 HMAC-SHA-256 iterations; ten times that would make every reconnect of a fleet slow. The
// broker pays the PBKDF2 only when such a user logs in with a plain password in CONNECT; SCRAM
// itself costs it a few HMACs. The price is a credential that resists offline guessing less than
// argon2id if the file is stolen: `moat passwd -I N` raises the count where the devices can
// afford it. 16-byte salt, as PostgreSQL writes.
inline constexpr uint32_t kDefaultScramIterations = 4096;
inline constexpr size_t kScramSaltBytes = 16;

struct HashOptions {
  HashScheme scheme = HashScheme::Argon2id;  // Pbkdf2Sha512 for files Mosquitto 2.0 must read
  uint32_t pbkdf2Iterations = kDefaultPbkdf2Iterations;
  Argon2Cost argon2 = kDefaultArgon2Cost;
  uint32_t scramIterations = kDefaultScramIterations;
};

// A stored SCRAM-SHA-256 credential (RFC 5802 section 3): what a server needs to check a
// client's proof and to prove itself in return. It does not let anyone log in as the user
// (that takes ClientKey, which only the password gives), but it does let one pose as the
// server to that user, and guess the password offline: keep it as secret as a password file.
struct ScramCredential {
  uint32_t iterations = 0;
  std::string salt;       // raw bytes, kMinScramSaltBytes..kMaxScramSaltBytes
  std::string storedKey;  // H(ClientKey), kScramKeyBytes
  std::string serverKey;  // HMAC(SaltedPassword, "Server Key"), kScramKeyBytes
};

class PasswordHash {
 public:
  // Parses an encoded hash (the part after "username:"). The error says what is wrong with it
  // ("$7$ hash: iteration count 0 is out of range 1..10000000") without repeating it.
  [[nodiscard]] static Result<PasswordHash> parse(std::string_view encoded);

  // Hashes `password` with a fresh random salt. Pbkdf2Sha512, Argon2id and ScramSha256 are
  // written; $6$ is a single SHA-512, far too fast against guessing. The password's bytes are
  // used as they are, also for SCRAM (no SASLprep: see scram.h). Fails for a password over 65535
  // bytes, parameters out of bounds, or a failure of the random generator.
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
  // a password over 65535 bytes without hashing it. For SCRAM: whether H(ClientKey) derived from
  // `password` is the StoredKey, so a SCRAM user can log in with a password in CONNECT too.
  [[nodiscard]] bool matches(std::string_view password) const;

  HashScheme scheme() const { return scheme_; }
  // The SCRAM credential for ScramServer; nullopt for the other schemes.
  std::optional<ScramCredential> scramCredential() const;
  // The encoded form, as parsed or as made: what goes into the file after "username:".
  const std::string& encoded() const { return encoded_; }
  // Equal for hashes whose check costs the same: scheme, parameters, salt and digest lengths.
  std::string costKey() const;

 private:
  PasswordHash() = default;
  // The fields after "$6$" or "$7$" (`scheme` says which), or after "$argon2id$".
  static Result<PasswordHash> parseMosquitto(HashScheme scheme, std::string_view fields);
  static Result<PasswordHash> parseArgon2id(std::string_view fields);
  // The fields after "SCRAM-SHA-256$".
  static Result<PasswordHash> parseScram(std::string_view fields);
  // A $7$ or SCRAM hash with a new random salt of `saltBytes` and nothing hashed yet.
  static Result<PasswordHash> freshlySalted(HashScheme scheme, uint32_t iterations,
                                            size_t saltBytes);
  void encode();  // sets encoded_ from the fields

  HashScheme scheme_ = HashScheme::Argon2id;
  uint32_t iterations_ = 0;  // $7$, SCRAM
  Argon2Cost argon2_;        // argon2id
  std::string salt_;         // raw bytes
  std::string digest_;       // raw bytes; SCRAM: StoredKey
  std::string serverKey_;    // SCRAM only
  std::string encoded_;
};

}  // namespace moat::security
