#include "apps/moat/scram_authenticator.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace moat::app {

ScramAuthenticator::ScramAuthenticator(std::string username, security::SecretString password)
    : scram_(std::move(username), std::move(password)) {}

std::string ScramAuthenticator::method() const { return std::string(security::kScramSha256Method); }

Result<std::optional<std::string>> ScramAuthenticator::initialData() {
  auto first = scram_.first();
  if (!first) return tl::unexpected(first.error());
  return std::optional<std::string>(std::move(*first));
}

Result<std::optional<std::string>> ScramAuthenticator::challenge(std::string_view data) {
  auto final = scram_.respond(data);
  if (!final) return tl::unexpected(final.error());
  return std::optional<std::string>(std::move(*final));
}

Result<void> ScramAuthenticator::finished(std::optional<std::string_view> data) {
  // A server that accepts us without the server-final-message has proven nothing: it may not
  // hold the credential at all (anyone can say "success").
  if (!data) {
    return fail(0x80,
                "SCRAM: the CONNACK carries no server-final-message (no proof that the "
                "server holds the credential)");
  }
  return scram_.verifyServer(*data);
}

Result<std::shared_ptr<client::Authenticator>> makeAuthenticator(std::string_view method,
                                                                 std::string username,
                                                                 security::SecretString password) {
  auto sameName = [](std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
      return std::toupper(static_cast<unsigned char>(x)) ==
             std::toupper(static_cast<unsigned char>(y));
    });
  };
  if (sameName(method, security::kScramSha256Method)) {
    return std::make_shared<ScramAuthenticator>(std::move(username), std::move(password));
  }
  return fail(0x80, "unknown authentication method '" + std::string(method) +
                        "' (supported: SCRAM-SHA-256)");
}

}  // namespace moat::app
