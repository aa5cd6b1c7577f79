#include "security/scram.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <limits>
#include <utility>
#include <vector>

#include "security/base64.h"
#include "security/username.h"

namespace moat::security {

namespace {

using Key = std::array<unsigned char, kScramKeyBytes>;

// A nonce of 24 random bytes is 32 base64 characters: RFC 5802 asks for enough randomness that
// a nonce is never used twice, 192 bits is that with room to spare.
constexpr size_t kNonceBytes = 24;

bool hmacSha256(const unsigned char* key, size_t keyLen, std::string_view data,
                unsigned char* out) {
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key, static_cast<int>(keyLen),
              reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
              &len) != nullptr &&
         len == kScramKeyBytes;
}

bool sha256(const unsigned char* data, size_t n, unsigned char* out) {
  unsigned int len = 0;
  return EVP_Digest(data, n, out, &len, EVP_sha256(), nullptr) == 1 && len == kScramKeyBytes;
}

std::string_view asText(const Key& key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

void wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }
void wipe(Key& k) { OPENSSL_cleanse(k.data(), k.size()); }

std::optional<std::string> randomNonce() {
  std::array<unsigned char, kNonceBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return std::nullopt;
  return encodeBase64(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                      Base64Padding::Required);
}

// The message cut at every ','. No field of a message we accept can hold a ',' of its own
// (saslnames escape it, nonces and base64 exclude it), so this is the attribute list.
std::vector<std::string_view> splitAttributes(std::string_view message) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t comma = message.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(message.substr(start));
      return fields;
    }
    fields.push_back(message.substr(start, comma - start));
    start = comma + 1;
  }
}

// The value of `field` when it is the attribute `key` ("r=..." for 'r'), else nullopt.
std::optional<std::string_view> attribute(std::string_view field, char key) {
  if (field.size() < 2 || field[0] != key || field[1] != '=') return std::nullopt;
  return field.substr(2);
}

// printable = %x21-2B / %x2D-7E: printable ASCII except ','.
bool isPrintableNonce(std::string_view nonce) {
  for (char c : nonce) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7E || c == ',') return false;
  }
  return !nonce.empty();
}

// A saslname with "=2C" and "=3D" decoded; nullopt for an empty one, a NUL, or an '=' that
// starts neither (RFC 5802 section 5.1: the server MUST fail then).
std::optional<std::string> decodeSaslname(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '\0') return std::nullopt;
    if (c != '=') {
      out += c;
      continue;
    }
    if (i + 2 >= name.size()) return std::nullopt;
    char hi = name[i + 1];
    char lo = static_cast<char>(name[i + 2] | 0x20);  // 'C' or 'D' in either case
    if (hi == '2' && lo == 'c') {
      out += ',';
    } else if (hi == '3' && lo == 'd') {
      out += '=';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::string encodeSaslname(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

// Decimal digits only, no sign, no leading zeros beyond "0", within 32 bits.
std::optional<uint32_t> parseCount(std::string_view s) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (value > std::numeric_limits<uint32_t>::max()) return std::nullopt;
  return static_cast<uint32_t>(value);
}

// What a server put in "e=", safe to show: printable ASCII, at most 64 characters.
std::string printableExcerpt(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7F) ? c : '?';
  }
  if (text.size() > 64) out += "...";
  return out;
}

// ClientProof (or, on the server, the ClientKey recovered from it) XOR ClientSignature.
void xorInto(Key& a, const Key& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] ^= b[i];
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Keys

ScramKeys::~ScramKeys() {
  OPENSSL_cleanse(clientKey.data(), clientKey.size());
  OPENSSL_cleanse(storedKey.data(), storedKey.size());
  OPENSSL_cleanse(serverKey.data(), serverKey.size());
}

Result<ScramKeys> deriveScramKeys(std::string_view password, std::string_view salt,
                                  uint32_t iterations) {
  constexpr auto kMaxInt = static_cast<size_t>(std::numeric_limits<int>::max());
  if (password.size() > kMaxInt || salt.size() > kMaxInt || iterations == 0 ||
      iterations > static_cast<uint32_t>(std::numeric_limits<int>::max())) {
    return fail(0x80, "SCRAM key derivation: parameters out of range");
  }
  Key salted{};
  ScramKeys keys;
  bool ok = PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                              reinterpret_cast<const unsigned char*>(salt.data()),
                              static_cast<int>(salt.size()), static_cast<int>(iterations),
                              EVP_sha256(), static_cast<int>(salted.size()), salted.data()) == 1 &&
            hmacSha256(salted.data(), salted.size(), "Client Key", keys.clientKey.data()) &&
            hmacSha256(salted.data(), salted.size(), "Server Key", keys.serverKey.data()) &&
            sha256(keys.clientKey.data(), keys.clientKey.size(), keys.storedKey.data());
  wipe(salted);
  if (!ok) return fail(0x80, "SCRAM key derivation failed (OpenSSL)");
  return keys;
}

std::string_view scramFailureName(ScramFailure failure) {
  switch (failure) {
    case ScramFailure::Malformed:
      return "malformed";
    case ScramFailure::UnknownUser:
      return "unknown user";
    case ScramFailure::NoScramCredential:
      return "no SCRAM credential";
    case ScramFailure::WrongProof:
      return "wrong proof";
  }
  return "unknown";
}

uint8_t scramFailureReasonCode(ScramFailure failure) {
  return failure == ScramFailure::Malformed ? 0x82 : 0x86;
}

// ---------------------------------------------------------------------------------------------
// Server

ScramServer::ScramServer(Lookup lookup, std::string_view secret, uint32_t fakeIterations)
    : ScramServer(std::move(lookup), secret, fakeIterations, std::nullopt) {}

ScramServer::ScramServer(Lookup lookup, std::string_view secret, uint32_t fakeIterations,
                         std::optional<std::string> serverNonce)
    : lookup_(std::move(lookup)),
      secret_(secret),
      fakeIterations_(fakeIterations),
      fixedNonce_(std::move(serverNonce)) {
  assert(!secret.empty());
  assert(fakeIterations >= kMinScramIterations && fakeIterations <= kMaxScramIterations);
}

ScramServer ScramServer::withNonceForTesting(Lookup lookup, std::string_view secret,
                                             std::string serverNonce, uint32_t fakeIterations) {
  return ScramServer(std::move(lookup), secret, fakeIterations, std::move(serverNonce));
}

Result<SecretString> ScramServer::newSecret() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return fail(0x80, "the random generator failed");
  }
  SecretString secret(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return secret;
}

ScramServer::~ScramServer() {
  wipe(credential_.storedKey);
  wipe(credential_.serverKey);
}

tl::unexpected<ScramError> ScramServer::failWith(ScramFailure kind, std::string message) {
  // A stray message after success is refused without undoing what was proven.
  if (state_ != State::Authenticated) state_ = State::Failed;
  return tl::unexpected(ScramError{kind, std::move(message)});
}

ScramCredential ScramServer::fakeCredential(std::string_view username) const {
  // One HMAC per field, each under its own label, so no field tells anything about another.
  // Deterministic: the same name gets the same salt on every try, as a real user does.
  auto derive = [&](std::string_view label) {
    std::string input(label);
    input += '\0';
    input += username;
    Key out{};
    const auto* key = reinterpret_cast<const unsigned char*>(secret_.view().data());
    if (!hmacSha256(key, secret_.size(), input, out.data())) {
      // Never expected; random bytes still make a credential no proof matches.
      RAND_bytes(out.data(), static_cast<int>(out.size()));
    }
    return std::string(asText(out));
  };
  ScramCredential c;
  c.iterations = fakeIterations_;
  c.salt = derive("moat SCRAM fake salt").substr(0, kScramSaltBytes);
  c.storedKey = derive("moat SCRAM fake StoredKey");
  c.serverKey = derive("moat SCRAM fake ServerKey");
  return c;
}

ScramResult<std::string> ScramServer::start(std::string_view clientFirst) {
  using F = ScramFailure;
  if (state_ != State::Initial) {
    return failWith(F::Malformed, "a second client-first-message");
  }
  if (clientFirst.size() > kMaxScramClientFirstBytes) {
    return failWith(F::Malformed, fmt::format("client-first-message longer than {} bytes",
                                              kMaxScramClientFirstBytes));
  }
  auto f = splitAttributes(clientFirst);
  if (f.size() < 4) {
    return failWith(F::Malformed, "not a client-first-message (expected n,,n=<user>,r=<nonce>)");
  }
  // GS2 header: cbind flag, then an optional authzid.
  if (f[0].starts_with("p=")) {
    return failWith(F::Malformed,
                    "channel binding (p=) requested, but SCRAM-SHA-256-PLUS is not offered");
  }
  if (f[0] != "n" && f[0] != "y") {
    return failWith(F::Malformed, "the GS2 header does not start with n or y");
  }
  std::optional<std::string> authzid;
  if (!f[1].empty()) {
    auto a = attribute(f[1], 'a');
    if (!a) return failWith(F::Malformed, "the GS2 header's second field is not a=");
    authzid = decodeSaslname(*a);
    if (!authzid) return failWith(F::Malformed, "the authzid is not a saslname");
  }
  if (attribute(f[2], 'm')) {
    return failWith(F::Malformed, "a mandatory extension (m=) is not supported");
  }
  auto n = attribute(f[2], 'n');
  if (!n) return failWith(F::Malformed, "no user name (n=) after the GS2 header");
  auto name = decodeSaslname(*n);
  if (!name) {
    return failWith(F::Malformed, "the user name is empty or has an '=' that is not =2C or =3D");
  }
  if (auto ok = checkUsername(*name); !ok) {
    return failWith(F::Malformed, "user name: " + ok.error().message);
  }
  if (authzid && *authzid != *name) {
    return failWith(F::Malformed, "the authzid (a=) names another user than n=; not supported");
  }
  auto r = attribute(f[3], 'r');
  if (!r) return failWith(F::Malformed, "no nonce (r=) after the user name");
  if (!isPrintableNonce(*r)) {
    return failWith(F::Malformed, "the client nonce is empty or not printable ASCII");
  }
  if (f.size() > 4) {
    return failWith(F::Malformed, "extensions after the nonce are not supported");
  }

  std::optional<std::string> serverNonce = fixedNonce_ ? fixedNonce_ : randomNonce();
  if (!serverNonce) {
    return failWith(F::Malformed, "the random generator failed");
  }
  username_ = std::move(*name);
  std::optional<PasswordHash> stored = lookup_ ? lookup_(username_) : std::nullopt;
  std::optional<ScramCredential> credential = stored ? stored->scramCredential() : std::nullopt;
  if (credential) {
    credential_ = std::move(*credential);
  } else {
    fake_ = stored ? F::NoScramCredential : F::UnknownUser;
    credential_ = fakeCredential(username_);
  }

  gs2Header_ = std::string(clientFirst.substr(0, f[0].size() + f[1].size() + 2));
  clientFirstBare_ = std::string(clientFirst.substr(gs2Header_.size()));
  nonce_ = std::string(*r) + *serverNonce;
  serverFirst_ =
      fmt::format("r={},s={},i={}", nonce_, encodeBase64(credential_.salt, Base64Padding::Required),
                  credential_.iterations);
  state_ = State::Started;
  return serverFirst_;
}

ScramResult<std::string> ScramServer::finish(std::string_view clientFinal) {
  using F = ScramFailure;
  if (state_ != State::Started) {
    return failWith(F::Malformed, state_ == State::Initial
                                      ? "a client-final-message before the first"
                                      : "a client-final-message after the exchange");
  }
  if (clientFinal.size() > kMaxScramMessageBytes) {
    return failWith(F::Malformed, fmt::format("client-final-message longer than {} bytes",
                                              kMaxScramMessageBytes));
  }
  auto f = splitAttributes(clientFinal);
  if (f.size() < 3) {
    return failWith(F::Malformed,
                    "not a client-final-message (expected c=<binding>,r=<nonce>,p=<proof>)");
  }
  auto c = attribute(f[0], 'c');
  if (!c) return failWith(F::Malformed, "no channel binding (c=) first");
  auto binding = decodeBase64(*c, Base64Padding::Required);
  // Without channel binding, c= is the GS2 header itself: a client that was told something
  // else than it sent, or an intermediary that changed the header, is caught here.
  if (!binding || *binding != gs2Header_) {
    return failWith(F::Malformed, "the channel binding (c=) does not repeat the GS2 header");
  }
  auto r = attribute(f[1], 'r');
  if (!r) return failWith(F::Malformed, "no nonce (r=) after c=");
  if (*r != nonce_) {
    return failWith(F::Malformed, "the nonce (r=) is not the one of this exchange");
  }
  if (f.size() > 3) {
    return failWith(F::Malformed, "extensions before the proof are not supported");
  }
  auto p = attribute(f[2], 'p');
  if (!p) return failWith(F::Malformed, "no proof (p=) last");
  auto proof = decodeBase64(*p, Base64Padding::Required);
  if (!proof || proof->size() != kScramKeyBytes) {
    return failWith(F::Malformed, "the proof (p=) is not 32 bytes of base64");
  }

  // AuthMessage := client-first-message-bare + "," + server-first-message + "," +
  //                client-final-message-without-proof
  std::string_view withoutProof = clientFinal.substr(0, clientFinal.size() - f[2].size() - 1);
  std::string authMessage = fmt::format("{},{},{}", clientFirstBare_, serverFirst_, withoutProof);

  // ClientKey := ClientProof XOR HMAC(StoredKey, AuthMessage); the client knew the password
  // when H(ClientKey) is the StoredKey. A fake credential goes through the same steps.
  Key clientKey{};
  Key signature{};
  Key computedStored{};
  std::copy(proof->begin(), proof->end(), reinterpret_cast<char*>(clientKey.data()));
  const auto* storedKey = reinterpret_cast<const unsigned char*>(credential_.storedKey.data());
  bool computed =
      hmacSha256(storedKey, credential_.storedKey.size(), authMessage, signature.data());
  xorInto(clientKey, signature);
  computed = computed && sha256(clientKey.data(), clientKey.size(), computedStored.data());
  bool match = computed && CRYPTO_memcmp(computedStored.data(), storedKey, kScramKeyBytes) == 0;
  wipe(clientKey);
  wipe(signature);
  wipe(computedStored);
  wipe(*proof);

  if (fake_) {
    return failWith(*fake_, *fake_ == F::UnknownUser
                                ? "no such user"
                                : "the user's stored hash is not SCRAM-SHA-256");
  }
  if (!match) return failWith(F::WrongProof, "the client proof is wrong");

  Key serverSignature{};
  const auto* serverKey = reinterpret_cast<const unsigned char*>(credential_.serverKey.data());
  if (!hmacSha256(serverKey, credential_.serverKey.size(), authMessage, serverSignature.data())) {
    return failWith(F::Malformed, "HMAC failed (OpenSSL)");
  }
  state_ = State::Authenticated;
  return "v=" + encodeBase64(asText(serverSignature), Base64Padding::Required);
}

// ---------------------------------------------------------------------------------------------
// Client

ScramClient::ScramClient(std::string username, SecretString password, uint32_t maxIterations)
    : ScramClient(std::move(username), std::move(password), maxIterations, std::nullopt) {}

ScramClient::ScramClient(std::string username, SecretString password, uint32_t maxIterations,
                         std::optional<std::string> clientNonce)
    : username_(std::move(username)),
      password_(std::move(password)),
      maxIterations_(std::min(maxIterations, kMaxScramIterations)),
      fixedNonce_(std::move(clientNonce)) {}

ScramClient ScramClient::withNonceForTesting(std::string username, SecretString password,
                                             std::string clientNonce, uint32_t maxIterations) {
  return ScramClient(std::move(username), std::move(password), maxIterations,
                     std::move(clientNonce));
}

ScramClient::~ScramClient() { wipe(serverSignature_); }

tl::unexpected<Error> ScramClient::failWith(std::string message) {
  state_ = State::Failed;
  password_.wipe();
  return fail(0x80, std::move(message));
}

Result<std::string> ScramClient::first() {
  if (state_ != State::Initial) return failWith("SCRAM: the client-first-message was made already");
  if (username_.empty()) return failWith("SCRAM needs a user name");
  if (username_.find('\0') != std::string::npos) {
    return failWith("SCRAM: the user name contains a NUL character");
  }
  std::optional<std::string> nonce = fixedNonce_ ? fixedNonce_ : randomNonce();
  if (!nonce) return failWith("the random generator failed");
  nonce_ = std::move(*nonce);
  clientFirstBare_ = fmt::format("n={},r={}", encodeSaslname(username_), nonce_);
  state_ = State::SentFirst;
  return "n,," + clientFirstBare_;
}

Result<std::string> ScramClient::respond(std::string_view serverFirst) {
  if (state_ != State::SentFirst) {
    return failWith("SCRAM: a server-first-message out of turn");
  }
  if (serverFirst.size() > kMaxScramMessageBytes) {
    return failWith(fmt::format("SCRAM: the server-first-message is longer than {} bytes",
                                kMaxScramMessageBytes));
  }
  auto f = splitAttributes(serverFirst);
  if (attribute(f[0], 'm')) {
    return failWith("SCRAM: the server asks for a mandatory extension (m=) we do not know");
  }
  if (f.size() != 3) {
    return failWith(
        "SCRAM: not a server-first-message (expected r=<nonce>,s=<salt>,i=<iterations>)");
  }
  auto r = attribute(f[0], 'r');
  auto s = attribute(f[1], 's');
  auto i = attribute(f[2], 'i');
  if (!r || !s || !i) {
    return failWith(
        "SCRAM: not a server-first-message (expected r=<nonce>,s=<salt>,i=<iterations>)");
  }
  // The server's part of the nonce must follow ours: a replayed or made-up exchange would not
  // carry our fresh nonce.
  if (!r->starts_with(nonce_) || r->size() == nonce_.size() || !isPrintableNonce(*r)) {
    return failWith("SCRAM: the server's nonce does not extend ours");
  }
  auto salt = decodeBase64(*s, Base64Padding::Required);
  if (!salt || salt->empty()) return failWith("SCRAM: the server's salt is not base64");
  auto iterations = parseCount(*i);
  if (!iterations) return failWith("SCRAM: the server's iteration count is not a number");
  // Refused before any work: a hostile server must not be able to make a device spin, nor to
  // weaken what a captured exchange costs to attack.
  if (*iterations < kMinScramIterations || *iterations > maxIterations_) {
    return failWith(fmt::format("SCRAM: the server asks for {} iterations (accepted: {}..{})",
                                *iterations, kMinScramIterations, maxIterations_));
  }

  auto keys = deriveScramKeys(password_.view(), *salt, *iterations);
  password_.wipe();
  if (!keys) return failWith(keys.error().message);

  std::string withoutProof = fmt::format("c=biws,r={}", *r);  // biws = base64("n,,")
  std::string authMessage = fmt::format("{},{},{}", clientFirstBare_, serverFirst, withoutProof);
  Key proof = keys->clientKey;
  Key signature{};
  bool ok =
      hmacSha256(keys->storedKey.data(), keys->storedKey.size(), authMessage, signature.data()) &&
      hmacSha256(keys->serverKey.data(), keys->serverKey.size(), authMessage,
                 serverSignature_.data());
  xorInto(proof, signature);
  std::string message = withoutProof + ",p=" + encodeBase64(asText(proof), Base64Padding::Required);
  wipe(proof);
  wipe(signature);
  if (!ok) return failWith("SCRAM: HMAC failed (OpenSSL)");
  state_ = State::SentFinal;
  return message;
}

Result<void> ScramClient::verifyServer(std::string_view serverFinal) {
  if (state_ != State::SentFinal) {
    return failWith("SCRAM: a server-final-message out of turn");
  }
  if (serverFinal.size() > kMaxScramMessageBytes) {
    return failWith("SCRAM: the server-final-message is too long");
  }
  auto f = splitAttributes(serverFinal);
  if (auto e = attribute(f[0], 'e')) {
    return failWith("SCRAM: the server refused: " + printableExcerpt(*e));
  }
  auto v = attribute(f[0], 'v');
  if (!v || f.size() != 1) {
    return failWith("SCRAM: not a server-final-message (expected v=<signature>)");
  }
  auto signature = decodeBase64(*v, Base64Padding::Required);
  bool match = signature && signature->size() == kScramKeyBytes &&
               CRYPTO_memcmp(signature->data(), serverSignature_.data(), kScramKeyBytes) == 0;
  wipe(serverSignature_);
  if (!match) {
    return failWith(
        "SCRAM: the server's signature is wrong: it does not hold this user's credential");
  }
  state_ = State::Verified;
  return {};
}

}  // namespace moat::security
