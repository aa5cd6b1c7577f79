// SCRAM-SHA-256 (RFC 5802, RFC 7677) without I/O: the four messages of one exchange, made and
// checked, for MQTT 5.0 enhanced authentication with the Authentication Method "SCRAM-SHA-256".
// The broker keeps a ScramServer per connection that asks for it, a client a ScramClient; their
// owners carry the messages (Authentication Data of CONNECT, AUTH and CONNACK).
//
//   ScramClient                                      ScramServer
//   first()         n,,n=<user>,r=<cnonce>       -->   start(): looks the user up
//                   r=<cnonce><snonce>,s=<salt>,i=<n>  <--
//   respond()       c=biws,r=<nonce>,p=<proof>   -->   finish(): checks the proof
//                   v=<ServerSignature>                <--
//   verifyServer()  checks that the server knows the credential too
//
// What is accepted, and why (RFC 5802 section 7 is the grammar):
// - GS2 header "n,," or "y,," only. "p=" (channel binding) is refused: Moat offers no
//   SCRAM-SHA-256-PLUS, as it exports no TLS channel binding. "y" is fine for the same reason
//   (section 6: the client supports binding but believes the server does not, and it is right).
//   An authzid ("a=") is accepted only when it names the user itself: nobody acts for another.
// - The user name is a saslname with "=2C" and "=3D" decoded (either case: ABNF strings are
//   case-insensitive); any other '=' is refused (section 5.1); then checkUsername (username.h).
// - Nonces are printable ASCII without ','; the client's may not be empty, and the server's
//   must extend it.
// - No extensions. None has ever been defined; "m=" must make the exchange fail (section 5.1),
//   and the optional kind is refused too instead of being skipped, so nothing unchecked rides
//   along in the AuthMessage. Attributes must come in the RFC's order.
// - Bounded: a client-first-message over 1 KiB, or any other message over 4 KiB, is refused
//   before it is parsed. Proofs and signatures are exactly 32 bytes of base64.
// - SASLprep (RFC 4013) is not applied: passwords are used as the bytes given (UTF-8, not
//   normalised), on both sides and by PasswordHash::create. For printable ASCII SASLprep changes
//   nothing, so every conforming client agrees; a non-ASCII password that SASLprep would change
//   (not in NFKC, non-ASCII spaces, soft hyphens) works only with clients that send its bytes
//   unchanged too, as Moat's own does. User names are compared byte for byte, as in the
//   password file.
//
// An unknown user (or a known one whose stored hash is not SCRAM) gets a server-first-message
// like a real one: a salt derived from the broker's secret and the name (the same one every
// time, another for each name), the usual iteration count, and a proof check against a fake
// credential derived the same way, so neither the answer nor its timing tells who exists. The
// proofs are compared in constant time; SaltedPassword, ClientKey and the password are wiped.
//
// Threads: a ScramServer or ScramClient is the state of one exchange, used by one thread at a
// time (the lookup runs on the thread that calls start()). No I/O, no threads of their own.
// ScramClient::respond() runs PBKDF2 (thousands of HMACs); everything on the server side is a
// few HMACs, cheap enough for an I/O thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "security/password_hash.h"
#include "security/secret_string.h"

namespace moat::security {

// The MQTT Authentication Method (and SASL mechanism) name.
inline constexpr std::string_view kScramSha256Method = "SCRAM-SHA-256";

inline constexpr size_t kMaxScramClientFirstBytes = 1024;
inline constexpr size_t kMaxScramMessageBytes = 4096;  // the other three messages

// The keys of one password (RFC 5802 section 3): SaltedPassword := Hi(password, salt, i), that
// is PBKDF2-HMAC-SHA-256; ClientKey := HMAC(SaltedPassword, "Client Key"); StoredKey :=
// H(ClientKey); ServerKey := HMAC(SaltedPassword, "Server Key"). Wiped when destroyed (every
// copy wipes its own).
struct ScramKeys {
  std::array<unsigned char, kScramKeyBytes> clientKey{};
  std::array<unsigned char, kScramKeyBytes> storedKey{};
  std::array<unsigned char, kScramKeyBytes> serverKey{};
  ScramKeys() = default;
  ScramKeys(const ScramKeys&) = default;
  ScramKeys& operator=(const ScramKeys&) = default;
  ~ScramKeys();
};

// Slow on purpose: `iterations` rounds of PBKDF2. Fails only if OpenSSL does (or for a salt or
// password larger than it takes). The intermediate SaltedPassword is wiped.
[[nodiscard]] Result<ScramKeys> deriveScramKeys(std::string_view password, std::string_view salt,
                                                uint32_t iterations);

// Why a ScramServer refused. The broker answers the last three alike (0x86 Bad User Name or
// Password), so a client learns nothing from the difference; the log tells them apart.
enum class ScramFailure {
  Malformed,          // not a SCRAM message we accept, or one out of turn: 0x82 Protocol Error
  UnknownUser,        // no such user
  NoScramCredential,  // the user exists, but its stored hash is not a SCRAM credential
  WrongProof,         // the proof is not that of the stored credential: wrong password
};

// "malformed", "unknown user", "no SCRAM credential", "wrong proof": for log lines.
std::string_view scramFailureName(ScramFailure failure);
// The MQTT reason code for it: 0x82 Protocol Error for Malformed, else 0x86 Bad User Name or
// Password.
uint8_t scramFailureReasonCode(ScramFailure failure);

struct ScramError {
  ScramFailure kind = ScramFailure::Malformed;
  std::string message;  // what was wrong, for the log; never a password, proof, key or nonce
};

template <class T>
using ScramResult = tl::expected<T, ScramError>;

class ScramServer {
 public:
  // The stored hash of a user, any scheme; nullopt when there is no such user. Called once, from
  // start(), on its thread.
  using Lookup = std::function<std::optional<PasswordHash>(std::string_view username)>;

  // `secret`: the broker's, random (newSecret()), at least 16 bytes; the fake salts of unknown
  // users are made from it, so they stay the same only as long as it does. `fakeIterations`: the
  // count shown to users without a SCRAM credential; best the one most real credentials have
  // (kDefaultScramIterations unless `moat passwd -I` changed them), so fakes look like the rest.
  // REQUIRES: secret is not empty, fakeIterations within kMinScramIterations..kMaxScramIterations.
  ScramServer(Lookup lookup, std::string_view secret,
              uint32_t fakeIterations = kDefaultScramIterations);
  // For tests and fuzzing: `serverNonce` instead of a random one (RFC 7677's example uses
  // "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0").
  static ScramServer withNonceForTesting(Lookup lookup, std::string_view secret,
                                         std::string serverNonce,
                                         uint32_t fakeIterations = kDefaultScramIterations);

  // 32 random bytes for `secret`; fails only if the random generator does.
  [[nodiscard]] static Result<SecretString> newSecret();

  ScramServer(ScramServer&&) = default;
  ScramServer& operator=(ScramServer&&) = default;
  ~ScramServer();

  // Takes the client-first-message (CONNECT's Authentication Data) and returns the
  // server-first-message (for AUTH 0x18). Fails only with Malformed: who the user is, or whether
  // it exists, comes out in finish(). REQUIRES nothing: out of turn is Malformed.
  [[nodiscard]] ScramResult<std::string> start(std::string_view clientFirst);

  // Takes the client-final-message (the client's AUTH) and returns the server-final-message
  // "v=..." (for the CONNACK) when the proof is right. Any failure ends the exchange.
  [[nodiscard]] ScramResult<std::string> finish(std::string_view clientFinal);

  // The user name of the client-first-message, decoded; empty before start() succeeded. It is
  // proven only once finish() succeeded: authenticated().
  const std::string& username() const { return username_; }
  bool authenticated() const { return state_ == State::Authenticated; }

 private:
  enum class State { Initial, Started, Authenticated, Failed };

  ScramServer(Lookup lookup, std::string_view secret, uint32_t fakeIterations,
              std::optional<std::string> serverNonce);
  tl::unexpected<ScramError> failWith(ScramFailure kind, std::string message);
  // A credential derived from secret_ and the name, for users without a real one.
  ScramCredential fakeCredential(std::string_view username) const;

  Lookup lookup_;
  SecretString secret_;
  uint32_t fakeIterations_;
  std::optional<std::string> fixedNonce_;  // tests only

  State state_ = State::Initial;
  std::string username_;
  std::optional<ScramFailure> fake_;  // why credential_ is fake, when it is
  ScramCredential credential_;
  std::string gs2Header_;        // "n,," etc., as received
  std::string clientFirstBare_;  // as received
  std::string serverFirst_;      // as sent
  std::string nonce_;            // client nonce + server nonce
};

class ScramClient {
 public:
  // `password` is wiped as soon as respond() has derived the keys. `maxIterations`: the largest
  // iteration count accepted from a server (at most kMaxScramIterations); a device that cannot
  // afford seconds of PBKDF2 lowers it. Counts below kMinScramIterations are always refused.
  ScramClient(std::string username, SecretString password,
              uint32_t maxIterations = kMaxScramIterations);
  // For tests and fuzzing: `clientNonce` instead of a random one.
  static ScramClient withNonceForTesting(std::string username, SecretString password,
                                         std::string clientNonce,
                                         uint32_t maxIterations = kMaxScramIterations);

  ScramClient(ScramClient&&) = default;
  ScramClient& operator=(ScramClient&&) = default;
  ~ScramClient();

  // The client-first-message, "n,,n=<user>,r=<nonce>". Fails for an empty user name or one with
  // a NUL, or if the random generator fails. Called once.
  [[nodiscard]] Result<std::string> first();

  // Takes the server-first-message and returns the client-final-message. Refuses a nonce that
  // does not extend ours, a salt that is not base64, an iteration count out of
  // kMinScramIterations..maxIterations. Runs PBKDF2: slow.
  [[nodiscard]] Result<std::string> respond(std::string_view serverFirst);

  // Takes the server-final-message: succeeds when its "v=" is the signature only the holder of
  // the credential can make; an "e=" error from the server fails with its words.
  [[nodiscard]] Result<void> verifyServer(std::string_view serverFinal);

 private:
  enum class State { Initial, SentFirst, SentFinal, Verified, Failed };

  ScramClient(std::string username, SecretString password, uint32_t maxIterations,
              std::optional<std::string> clientNonce);
  tl::unexpected<Error> failWith(std::string message);

  std::string username_;
  SecretString password_;
  uint32_t maxIterations_;
  std::optional<std::string> fixedNonce_;  // tests only

  State state_ = State::Initial;
  std::string nonce_;                                            // ours
  std::string clientFirstBare_;                                  // as sent
  std::array<unsigned char, kScramKeyBytes> serverSignature_{};  // expected; wiped
};

}  // namespace moat::security
