#include "broker/jwt_checker.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "base/file_signature.h"

namespace moat::broker {

namespace {

security::JwtSettings jwtSettings(const config::JwtAuthSection& c) {
  security::JwtSettings s;
  s.jwksFile = c.jwksFile;
  s.publicKey = c.publicKey;
  s.secretFile = c.secretFile;
  s.algorithms = c.algorithms;
  s.issuer = c.issuer;
  s.audience = c.audience;
  s.leeway = std::chrono::seconds(c.leeway);
  s.requireExpiry = c.requireExpiry;
  s.usernameClaim = c.usernameClaim;
  s.rolesClaim = c.rolesClaim;
  s.tenantClaim = c.tenantClaim;
  s.maxTokenBytes = c.maxTokenSize;
  return s;
}

}  // namespace

Result<std::unique_ptr<JwtChecker>> JwtChecker::create(const config::JwtAuthSection& settings) {
  auto s = jwtSettings(settings);
  auto verifier = security::JwtVerifier::load(s);
  if (!verifier) return fail(0x80, "auth.jwt: " + verifier.error().message);
  return std::unique_ptr<JwtChecker>(
      new JwtChecker(std::move(s), std::move(*verifier), settings.disconnectAtExpiry));
}

JwtChecker::JwtChecker(security::JwtSettings settings, security::JwtVerifier verifier,
                       bool disconnect)
    : settings_(std::move(settings)),
      disconnectAtExpiry_(disconnect),
      verifier_(std::make_shared<const security::JwtVerifier>(std::move(verifier))) {
  path_ = !settings_.jwksFile.empty()    ? settings_.jwksFile.string()
          : !settings_.publicKey.empty() ? settings_.publicKey.string()
                                         : settings_.secretFile.string();
}

Result<void> JwtChecker::reload() {
  auto verifier = security::JwtVerifier::load(settings_);
  if (!verifier) return tl::unexpected(verifier.error());
  verifier_.store(std::make_shared<const security::JwtVerifier>(std::move(*verifier)));
  return {};
}

std::string JwtChecker::signature() const { return fileSignature(path_); }

bool JwtChecker::looksLikeToken(std::string_view password) {
  // A JOSE header is a JSON object, so its base64url starts with "ey" ('{' then '"').
  if (password.size() < 8 || password.substr(0, 2) != "ey") return false;
  if (std::count(password.begin(), password.end(), '.') != 2) return false;
  return std::all_of(password.begin(), password.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

}  // namespace moat::broker
