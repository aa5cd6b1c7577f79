// ScramAuthenticator: the client's enhanced authentication (client::Authenticator) for the
// method SCRAM-SHA-256, with security::ScramClient doing the work. It lives in apps because only
// the commands link both the client and the security module. The password never goes to the
// server; the server must in turn prove that it holds the user's credential, or the connection
// is not used.
//
// One per connect(), called on the client's executor only. challenge() runs PBKDF2 with the
// server's iteration count (4096 by default, refused above 10,000,000): it blocks that executor
// for as long, which a command with one connection can afford.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "client/client.h"
#include "security/scram.h"
#include "security/secret_string.h"

namespace moat::app {

class ScramAuthenticator final : public client::Authenticator {
 public:
  ScramAuthenticator(std::string username, security::SecretString password);

  std::string method() const override;
  // The client-first-message.
  Result<std::optional<std::string>> initialData() override;
  // The server-first-message -> the client-final-message.
  Result<std::optional<std::string>> challenge(std::string_view data) override;
  // The server-final-message, which the CONNACK must carry.
  Result<void> finished(std::optional<std::string_view> data) override;

 private:
  security::ScramClient scram_;
};

// The authenticator for --auth-method `method` (names compared without regard to case), or an
// error naming the methods there are.
[[nodiscard]] Result<std::shared_ptr<client::Authenticator>> makeAuthenticator(
    std::string_view method, std::string username, security::SecretString password);

}  // namespace moat::app
