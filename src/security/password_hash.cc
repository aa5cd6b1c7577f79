#include "security/password_hash.h"

#include <argon2.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "security/base64.h"
#include "security/scram.h"

namespace moat::security {

namespace {

constexpr std::string_view kSha512Prefix = "$6$";
constexpr std::string_view kPbkdf2Prefix = "$7$";
constexpr std::string_view kArgon2idPrefix = "$argon2id$";
constexpr std::string_view kScramPrefix = "SCRAM-SHA-256$";
constexpr size_t kSha512Bytes = 64;        // the digest of both $6$ and $7$
constexpr size_t kMinArgon2SaltBytes = 8;  // libargon2's minimum
constexpr size_t kMaxArgon2SaltBytes = 128;
constexpr size_t kMinArgon2HashBytes = 16;
constexpr size_t kMaxArgon2HashBytes = 128;

std::vector<std::string_view> splitDollar(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t end = s.find('$', start);
    fields.push_back(s.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

// Decimal digits only (no sign, no spaces) that fit in 32 bits.
std::optional<uint32_t> parseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (value > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  return static_cast<uint32_t>(value);
}

// Cuts "key=" off `field`, or nullopt when `field` does not start with it.
std::optional<uint32_t> parseKeyed(std::string_view field, std::string_view key) {
  if (!field.starts_with(key)) return std::nullopt;
  return parseDecimal(field.substr(key.size()));
}

std::optional<std::string> randomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return std::nullopt;
  }
  return out;
}

tl::unexpected<Error> bad(HashScheme scheme, std::string_view what) {
  return fail(0x80, fmt::format("{} hash: {}", schemeName(scheme), what));
}

Result<void> checkPbkdf2Iterations(uint32_t n) {
  if (n < 1 || n > kMaxPbkdf2Iterations) {
    return bad(HashScheme::Pbkdf2Sha512,
               fmt::format("iteration count {} is out of range 1..{}", n, kMaxPbkdf2Iterations));
  }
  return {};
}

Result<void> checkScramIterations(uint32_t n) {
  if (n < kMinScramIterations || n > kMaxScramIterations) {
    return bad(HashScheme::ScramSha256, fmt::format("iteration count {} is out of range {}..{}", n,
                                                    kMinScramIterations, kMaxScramIterations));
  }
  return {};
}

Result<void> checkArgon2Cost(const Argon2Cost& c) {
  if (c.passes < 1 || c.passes > kMaxArgon2Passes) {
    return bad(HashScheme::Argon2id,
               fmt::format("t={} passes is out of range 1..{}", c.passes, kMaxArgon2Passes));
  }
  if (c.lanes < 1 || c.lanes > kMaxArgon2Lanes) {
    return bad(HashScheme::Argon2id,
               fmt::format("p={} lanes is out of range 1..{}", c.lanes, kMaxArgon2Lanes));
  }
  if (c.memoryKib > kMaxArgon2MemoryKib) {
    return bad(HashScheme::Argon2id, fmt::format("m={} KiB is above the limit of 1 GiB ({} KiB)",
                                                 c.memoryKib, kMaxArgon2MemoryKib));
  }
  // argon2 needs at least 8 KiB per lane.
  if (c.memoryKib < 8 * c.lanes) {
    return bad(HashScheme::Argon2id,
               fmt::format("m={} KiB is below argon2's minimum of 8 KiB per lane", c.memoryKib));
  }
  return {};
}

// The salt or digest field of a hash: canonical base64.
Result<std::string> decodeField(HashScheme scheme, std::string_view text, std::string_view what,
                                Base64Padding padding) {
  auto bytes = decodeBase64(text, padding);
  if (!bytes) return bad(scheme, fmt::format("the {} is not valid base64", what));
  return std::move(*bytes);
}

Result<void> checkLength(HashScheme scheme, std::string_view what, size_t n, size_t min,
                         size_t max) {
  if (n < min || n > max) {
    return bad(scheme, fmt::format("a {} of {} bytes (must be {}..{})", what, n, min, max));
  }
  return {};
}

struct SaltAndDigest {
  std::string salt;
  std::string digest;
};

// $6$ and $7$ after the scheme id: the salt (12 bytes up to Mosquitto 2.0, 64 from 2.1) and the
// 64-byte digest.
Result<SaltAndDigest> decodeMosquittoFields(HashScheme scheme, std::string_view saltText,
                                            std::string_view digestText) {
  auto salt = decodeField(scheme, saltText, "salt", Base64Padding::Required);
  if (!salt) return tl::unexpected(salt.error());
  if (salt->size() != 12 && salt->size() != 64) {
    return bad(scheme, fmt::format("a salt of {} bytes (must be 12 or 64)", salt->size()));
  }
  auto digest = decodeField(scheme, digestText, "hash", Base64Padding::Required);
  if (!digest) return tl::unexpected(digest.error());
  if (digest->size() != kSha512Bytes) {
    return bad(scheme, fmt::format("a hash of {} bytes (must be 64)", digest->size()));
  }
  return SaltAndDigest{std::move(*salt), std::move(*digest)};
}

// The scheme id between the first two '$' when it looks like one ("$5$..." -> "5"), for saying
// which unknown scheme a line uses; empty otherwise, so nothing of a hash is ever repeated.
std::string_view schemeId(std::string_view encoded) {
  size_t end = encoded.find('$', 1);
  if (end == std::string_view::npos || end > 16) return {};
  std::string_view id = encoded.substr(1, end - 1);
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return {};
  }
  return id;
}

bool digestSha512(std::string_view password, std::string_view salt, unsigned char* out) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned int len = 0;
  return ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) == 1 &&
         EVP_DigestUpdate(ctx.get(), password.data(), password.size()) == 1 &&
         EVP_DigestUpdate(ctx.get(), salt.data(), salt.size()) == 1 &&
         EVP_DigestFinal_ex(ctx.get(), out, &len) == 1 && len == kSha512Bytes;
}

bool digestPbkdf2(std::string_view password, std::string_view salt, uint32_t iterations,
                  unsigned char* out) {
  return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                           reinterpret_cast<const unsigned char*>(salt.data()),
                           static_cast<int>(salt.size()), static_cast<int>(iterations),
                           EVP_sha512(), static_cast<int>(kSha512Bytes), out) == 1;
}

// argon2id through libargon2's context API rather than argon2id_verify: the same computation,
// but on the calling thread alone (threads = 1) whatever the lane count, as a broker runs many
// checks side by side on its own pool.
bool digestArgon2id(std::string_view password, std::string_view salt, const Argon2Cost& cost,
                    unsigned char* out, size_t outLen) {
  argon2_context ctx{};
  ctx.out = out;
  ctx.outlen = static_cast<uint32_t>(outLen);
  // libargon2 takes non-const pointers but only reads them without ARGON2_FLAG_CLEAR_*.
  ctx.pwd = reinterpret_cast<uint8_t*>(const_cast<char*>(password.data()));
  ctx.pwdlen = static_cast<uint32_t>(password.size());
  ctx.salt = reinterpret_cast<uint8_t*>(const_cast<char*>(salt.data()));
  ctx.saltlen = static_cast<uint32_t>(salt.size());
  ctx.t_cost = cost.passes;
  ctx.m_cost = cost.memoryKib;
  ctx.lanes = cost.lanes;
  ctx.threads = 1;
  ctx.version = ARGON2_VERSION_13;
  ctx.flags = ARGON2_DEFAULT_FLAGS;
  return argon2_ctx(&ctx, Argon2_id) == ARGON2_OK;
}

}  // namespace

std::string_view schemeName(HashScheme scheme) {
  switch (scheme) {
    case HashScheme::Sha512:
      return "$6$ (SHA-512)";
    case HashScheme::Pbkdf2Sha512:
      return "$7$ (PBKDF2-SHA512)";
    case HashScheme::Argon2id:
      return "argon2id";
    case HashScheme::ScramSha256:
      return "SCRAM-SHA-256";
  }
  return "unknown";
}

Result<PasswordHash> PasswordHash::parse(std::string_view encoded) {
  auto h = [&]() -> Result<PasswordHash> {
    if (encoded.starts_with(kSha512Prefix)) {
      return parseMosquitto(HashScheme::Sha512, encoded.substr(kSha512Prefix.size()));
    }
    if (encoded.starts_with(kPbkdf2Prefix)) {
      return parseMosquitto(HashScheme::Pbkdf2Sha512, encoded.substr(kPbkdf2Prefix.size()));
    }
    if (encoded.starts_with(kArgon2idPrefix)) {
      return parseArgon2id(encoded.substr(kArgon2idPrefix.size()));
    }
    if (encoded.starts_with(kScramPrefix)) return parseScram(encoded.substr(kScramPrefix.size()));
    if (encoded.starts_with("$argon2i$") || encoded.starts_with("$argon2d$")) {
      return fail(0x80, "argon2i and argon2d hashes are not supported (only argon2id)");
    }
    if (encoded.starts_with("SCRAM-")) {
      return fail(0x80, "SCRAM hashes other than SCRAM-SHA-256 are not supported");
    }
    if (encoded.starts_with("$")) {
      std::string_view id = schemeId(encoded);
      return fail(0x80, fmt::format("unknown hash scheme{} (supported: $6$, $7$, $argon2id$, "
                                    "SCRAM-SHA-256$)",
                                    id.empty() ? "" : fmt::format(" \"${}$\"", id)));
    }
    return fail(0x80,
                "not a password hash (a plain-text password? `moat passwd -U FILE` hashes a file "
                "of them)");
  }();
  // Kept as written: the file is rewritten with the same text.
  if (h) h->encoded_ = std::string(encoded);
  return h;
}

Result<PasswordHash> PasswordHash::parseMosquitto(HashScheme scheme, std::string_view fields) {
  PasswordHash h;
  h.scheme_ = scheme;
  auto f = splitDollar(fields);
  if (scheme == HashScheme::Pbkdf2Sha512) {
    if (f.size() != 3) return bad(scheme, "not of the form $7$<iterations>$<salt>$<hash>");
    auto iterations = parseDecimal(f[0]);
    if (!iterations) return bad(scheme, "the iteration count is not a number");
    MOAT_TRY(checkPbkdf2Iterations(*iterations));
    h.iterations_ = *iterations;
    f.erase(f.begin());
  } else if (f.size() != 2) {
    return bad(scheme, "not of the form $6$<salt>$<hash>");
  }
  auto decoded = decodeMosquittoFields(scheme, f[0], f[1]);
  if (!decoded) return tl::unexpected(decoded.error());
  h.salt_ = std::move(decoded->salt);
  h.digest_ = std::move(decoded->digest);
  return h;
}

Result<PasswordHash> PasswordHash::parseArgon2id(std::string_view fields) {
  PasswordHash h;
  h.scheme_ = HashScheme::Argon2id;
  auto f = splitDollar(fields);
  if (!f[0].starts_with("v=")) return bad(h.scheme_, "no version field (only v=19 is supported)");
  if (f.size() != 4) {
    return bad(h.scheme_, "not of the form $argon2id$v=19$m=,t=,p=$<salt>$<hash>");
  }
  if (f[0] != "v=19") return bad(h.scheme_, "unsupported version (only v=19 is supported)");
  // The parameters in libargon2's order: "m=<KiB>,t=<passes>,p=<lanes>".
  std::string_view params = f[1];
  size_t c1 = params.find(',');
  size_t c2 = c1 == std::string_view::npos ? c1 : params.find(',', c1 + 1);
  std::optional<uint32_t> m, t, p;
  if (c2 != std::string_view::npos) {
    m = parseKeyed(params.substr(0, c1), "m=");
    t = parseKeyed(params.substr(c1 + 1, c2 - c1 - 1), "t=");
    p = parseKeyed(params.substr(c2 + 1), "p=");
  }
  if (!m || !t || !p) return bad(h.scheme_, "parameters are not m=<KiB>,t=<passes>,p=<lanes>");
  h.argon2_ = Argon2Cost{*t, *m, *p};
  MOAT_TRY(checkArgon2Cost(h.argon2_));
  auto salt = decodeField(h.scheme_, f[2], "salt", Base64Padding::Omitted);
  if (!salt) return tl::unexpected(salt.error());
  MOAT_TRY(checkLength(h.scheme_, "salt", salt->size(), kMinArgon2SaltBytes, kMaxArgon2SaltBytes));
  auto digest = decodeField(h.scheme_, f[3], "hash", Base64Padding::Omitted);
  if (!digest) return tl::unexpected(digest.error());
  MOAT_TRY(
      checkLength(h.scheme_, "hash", digest->size(), kMinArgon2HashBytes, kMaxArgon2HashBytes));
  h.salt_ = std::move(*salt);
  h.digest_ = std::move(*digest);
  return h;
}

// PostgreSQL's form: "<iterations>:<salt>$<StoredKey>:<ServerKey>", all base64 padded.
Result<PasswordHash> PasswordHash::parseScram(std::string_view fields) {
  PasswordHash h;
  h.scheme_ = HashScheme::ScramSha256;
  auto f = splitDollar(fields);
  size_t c1 = f[0].find(':');
  size_t c2 = f.size() == 2 ? f[1].find(':') : std::string_view::npos;
  if (f.size() != 2 || c1 == std::string_view::npos || c2 == std::string_view::npos) {
    return bad(h.scheme_,
               "not of the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>");
  }
  auto iterations = parseDecimal(f[0].substr(0, c1));
  if (!iterations) return bad(h.scheme_, "the iteration count is not a number");
  MOAT_TRY(checkScramIterations(*iterations));
  h.iterations_ = *iterations;
  auto salt = decodeField(h.scheme_, f[0].substr(c1 + 1), "salt", Base64Padding::Required);
  if (!salt) return tl::unexpected(salt.error());
  MOAT_TRY(checkLength(h.scheme_, "salt", salt->size(), kMinScramSaltBytes, kMaxScramSaltBytes));
  auto stored = decodeField(h.scheme_, f[1].substr(0, c2), "StoredKey", Base64Padding::Required);
  if (!stored) return tl::unexpected(stored.error());
  auto server = decodeField(h.scheme_, f[1].substr(c2 + 1), "ServerKey", Base64Padding::Required);
  if (!server) return tl::unexpected(server.error());
  if (stored->size() != kScramKeyBytes || server->size() != kScramKeyBytes) {
    return bad(h.scheme_, fmt::format("a StoredKey of {} and a ServerKey of {} bytes (must be 32)",
                                      stored->size(), server->size()));
  }
  h.salt_ = std::move(*salt);
  h.digest_ = std::move(*stored);
  h.serverKey_ = std::move(*server);
  return h;
}

Result<PasswordHash> PasswordHash::freshlySalted(HashScheme scheme, uint32_t iterations,
                                                 size_t saltBytes) {
  PasswordHash h;
  h.scheme_ = scheme;
  h.iterations_ = iterations;
  auto salt = randomBytes(saltBytes);
  if (!salt) return fail(0x80, "the random generator failed");
  h.salt_ = std::move(*salt);
  return h;
}

Result<PasswordHash> PasswordHash::create(std::string_view password, const HashOptions& options) {
  if (password.size() > kMaxPasswordBytes) {
    return fail(0x80, "the password is longer than 65535 bytes (MQTT's limit)");
  }
  switch (options.scheme) {
    case HashScheme::Sha512:
      return fail(0x80,
                  "$6$ (a single SHA-512) is read but not written: it is too fast to resist "
                  "guessing; use PBKDF2 ($7$) for files Mosquitto 2.0 must read");
    case HashScheme::Pbkdf2Sha512: {
      MOAT_TRY(checkPbkdf2Iterations(options.pbkdf2Iterations));
      auto made = freshlySalted(options.scheme, options.pbkdf2Iterations, kPbkdf2SaltBytes);
      if (!made) return made;
      PasswordHash& h = *made;
      h.digest_.assign(kSha512Bytes, '\0');
      if (!digestPbkdf2(password, h.salt_, h.iterations_,
                        reinterpret_cast<unsigned char*>(h.digest_.data()))) {
        return fail(0x80, "PBKDF2 failed");
      }
      h.encode();
      return made;
    }
    case HashScheme::Argon2id: {
      MOAT_TRY(checkArgon2Cost(options.argon2));
      auto salt = randomBytes(kArgon2SaltBytes);
      if (!salt) return fail(0x80, "the random generator failed");
      const Argon2Cost& c = options.argon2;
      std::string encoded(argon2_encodedlen(c.passes, c.memoryKib, c.lanes, kArgon2SaltBytes,
                                            kArgon2HashBytes, Argon2_id),
                          '\0');
      // libargon2 writes its own encoded form; parsing it back fills the fields (and checks
      // that this parser reads what libargon2 writes).
      int rc = argon2id_hash_encoded(c.passes, c.memoryKib, c.lanes, password.data(),
                                     password.size(), salt->data(), salt->size(), kArgon2HashBytes,
                                     encoded.data(), encoded.size());
      if (rc != ARGON2_OK) {
        return fail(0x80, fmt::format("argon2id failed: {}", argon2_error_message(rc)));
      }
      if (size_t nul = encoded.find('\0'); nul != std::string::npos) encoded.resize(nul);
      return parse(encoded);
    }
    case HashScheme::ScramSha256: {
      MOAT_TRY(checkScramIterations(options.scramIterations));
      auto made = freshlySalted(options.scheme, options.scramIterations, kScramSaltBytes);
      if (!made) return made;
      PasswordHash& h = *made;
      auto keys = deriveScramKeys(password, h.salt_, h.iterations_);
      if (!keys) return tl::unexpected(keys.error());
      h.digest_.assign(keys->storedKey.begin(), keys->storedKey.end());
      h.serverKey_.assign(keys->serverKey.begin(), keys->serverKey.end());
      h.encode();
      return made;
    }
  }
  return fail(0x80, "unknown hash scheme");
}

PasswordHash PasswordHash::decoy() const {
  PasswordHash h = *this;
  // If the random generator ever failed, the zero digest left in place is still one no
  // password is known to produce.
  h.salt_ = randomBytes(salt_.size()).value_or(std::string(salt_.size(), '\0'));
  h.digest_ = randomBytes(digest_.size()).value_or(std::string(digest_.size(), '\0'));
  h.serverKey_ = randomBytes(serverKey_.size()).value_or(std::string(serverKey_.size(), '\0'));
  h.encode();
  return h;
}

PasswordHash PasswordHash::decoyFor(const HashOptions& options) {
  PasswordHash h;
  h.scheme_ = options.scheme;
  switch (options.scheme) {
    case HashScheme::Sha512:
      h.salt_.resize(12);  // what Mosquitto 2.0 writes
      h.digest_.resize(kSha512Bytes);
      break;
    case HashScheme::Pbkdf2Sha512:
      h.iterations_ = options.pbkdf2Iterations;
      h.salt_.resize(kPbkdf2SaltBytes);
      h.digest_.resize(kSha512Bytes);
      break;
    case HashScheme::Argon2id:
      h.argon2_ = options.argon2;
      h.salt_.resize(kArgon2SaltBytes);
      h.digest_.resize(kArgon2HashBytes);
      break;
    case HashScheme::ScramSha256:
      h.iterations_ = options.scramIterations;
      h.salt_.resize(kScramSaltBytes);
      h.digest_.resize(kScramKeyBytes);
      h.serverKey_.resize(kScramKeyBytes);
      break;
  }
  return h.decoy();
}

bool PasswordHash::matches(std::string_view password) const {
  if (password.size() > kMaxPasswordBytes) return false;
  std::string computed(digest_.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(computed.data());
  bool ok = false;
  switch (scheme_) {
    case HashScheme::Sha512:
      ok = digestSha512(password, salt_, out);
      break;
    case HashScheme::Pbkdf2Sha512:
      ok = digestPbkdf2(password, salt_, iterations_, out);
      break;
    case HashScheme::Argon2id:
      ok = digestArgon2id(password, salt_, argon2_, out, computed.size());
      break;
    case HashScheme::ScramSha256:
      // StoredKey = H(ClientKey): what a SCRAM client proves it knows, checked here directly.
      if (auto keys = deriveScramKeys(password, salt_, iterations_);
          keys && computed.size() == keys->storedKey.size()) {
        std::copy(keys->storedKey.begin(), keys->storedKey.end(), out);
        ok = true;
      }
      break;
  }
  ok = ok && CRYPTO_memcmp(computed.data(), digest_.data(), digest_.size()) == 0;
  OPENSSL_cleanse(computed.data(), computed.size());
  return ok;
}

std::optional<ScramCredential> PasswordHash::scramCredential() const {
  if (scheme_ != HashScheme::ScramSha256) return std::nullopt;
  return ScramCredential{iterations_, salt_, digest_, serverKey_};
}

std::string PasswordHash::costKey() const {
  return fmt::format("{}:{}:{},{},{}:{}:{}", static_cast<int>(scheme_), iterations_,
                     argon2_.memoryKib, argon2_.passes, argon2_.lanes, salt_.size(),
                     digest_.size());
}

void PasswordHash::encode() {
  switch (scheme_) {
    case HashScheme::Sha512:
      encoded_ = fmt::format("$6${}${}", encodeBase64(salt_, Base64Padding::Required),
                             encodeBase64(digest_, Base64Padding::Required));
      break;
    case HashScheme::Pbkdf2Sha512:
      encoded_ =
          fmt::format("$7${}${}${}", iterations_, encodeBase64(salt_, Base64Padding::Required),
                      encodeBase64(digest_, Base64Padding::Required));
      break;
    case HashScheme::Argon2id:
      encoded_ =
          fmt::format("$argon2id$v=19$m={},t={},p={}${}${}", argon2_.memoryKib, argon2_.passes,
                      argon2_.lanes, encodeBase64(salt_, Base64Padding::Omitted),
                      encodeBase64(digest_, Base64Padding::Omitted));
      break;
    case HashScheme::ScramSha256:
      encoded_ = fmt::format("{}{}:{}${}:{}", kScramPrefix, iterations_,
                             encodeBase64(salt_, Base64Padding::Required),
                             encodeBase64(digest_, Base64Padding::Required),
                             encodeBase64(serverKey_, Base64Padding::Required));
      break;
  }
}

}  // namespace moat::security
