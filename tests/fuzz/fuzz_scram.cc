// libFuzzer target for SCRAM-SHA-256 (security/scram.h), both sides. The input is two messages
// cut at the first NUL byte (which no SCRAM message contains): A, then B.
//
//   server side: a ScramServer knowing one user ("user", RFC 7677's credential) with RFC 7677's
//                server nonce takes A as the client-first-message and, if that passes, B as the
//                client-final-message;
//   client side: a ScramClient for "user"/"pencil" with RFC 7677's client nonce takes A as the
//                server-first-message and, if that passes, B as the server-final-message. It
//                accepts 4096 iterations only, so that an input cannot make one run slow.
//
// The fixed nonces let the seeds (corpus/scram, RFC 7677's exchange and near-misses) reach every
// step, success included. Besides "no crash, no sanitizer report": start() fails only as
// Malformed; a success means the exchange really happened (the user is "user", the answer a
// "v=" of 32 bytes); a failed exchange never succeeds later.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "security/password_hash.h"
#include "security/scram.h"

namespace {

namespace security = moat::security;

constexpr std::string_view kCredential =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_scram: %s\n", what);
  std::abort();
}

const security::PasswordHash& credential() {
  static const security::PasswordHash hash = [] {
    auto h = security::PasswordHash::parse(kCredential);
    if (!h) die("the credential does not parse");
    return *h;
  }();
  return hash;
}

void fuzzServer(std::string_view clientFirst, std::string_view clientFinal) {
  auto server = security::ScramServer::withNonceForTesting(
      [](std::string_view name) -> std::optional<security::PasswordHash> {
        if (name == "user") return credential();
        return std::nullopt;
      },
      "fuzzing secret", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  auto first = server.start(clientFirst);
  if (!first) {
    if (first.error().kind != security::ScramFailure::Malformed) die("start() failed unmalformed");
    if (server.finish(clientFinal)) die("finish() succeeded after start() failed");
    return;
  }
  if (first->size() > security::kMaxScramMessageBytes) die("server-first-message too long");
  auto final = server.finish(clientFinal);
  if (!final) {
    if (server.authenticated()) die("authenticated after a failure");
    return;
  }
  if (!server.authenticated() || server.username() != "user") die("success for the wrong user");
  if (final->size() != 2 + 44 || !final->starts_with("v=")) die("server-final not v=<32 bytes>");
  if (server.finish(clientFinal)) die("a second finish() succeeded");
}

void fuzzClient(std::string_view serverFirst, std::string_view serverFinal) {
  auto client = security::ScramClient::withNonceForTesting("user", security::SecretString("pencil"),
                                                           "rOprNGfwEbeRWgbNEkqO",
                                                           security::kMinScramIterations);
  if (!client.first()) die("first() failed");
  auto final = client.respond(serverFirst);
  if (!final) {
    if (client.verifyServer(serverFinal)) die("verified after respond() failed");
    return;
  }
  if (!final->starts_with("c=biws,r=rOprNGfwEbeRWgbNEkqO")) die("client-final without our nonce");
  (void)client.verifyServer(serverFinal);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view a = input.substr(0, nul);
  std::string_view b = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  fuzzServer(a, b);
  fuzzClient(a, b);
  return 0;
}
