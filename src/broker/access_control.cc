#include "broker/access_control.h"

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "base/file_signature.h"
#include "base/log.h"
#include "security/authz_acl_file.h"
#include "security/authz_lint.h"

namespace moat::broker {

namespace {

// Reads and compiles the acl_file, and logs what `moat acl lint` would report about it: a rule
// that loads but does nothing (the seeds' dashboard) is worth a warning at every (re)load.
Result<security::authz::Policy> loadPolicy(const std::string& path) {
  auto text = readWholeFile(path);
  if (!text) return tl::unexpected(text.error());
  auto rules = security::authz::parseAclRules(*text, path);
  if (!rules) return tl::unexpected(rules.error());
  for (const auto& f : security::authz::lintRules(*rules, nullptr)) {
    log::warn("authorization: {}: {}", f.where, f.message);
  }
  return security::authz::Policy::fromRules(std::move(*rules));
}

}  // namespace

Result<std::unique_ptr<AccessControl>> AccessControl::create(const config::AuthzSection& settings) {
  auto policy = loadPolicy(settings.aclFile);
  if (!policy) return fail(0x80, "authz.acl_file: " + policy.error().message);
  return std::unique_ptr<AccessControl>(new AccessControl(settings, std::move(*policy)));
}

AccessControl::AccessControl(const config::AuthzSection& settings, security::authz::Policy policy)
    : path_(settings.aclFile),
      disconnectOnViolation_(settings.disconnectOnViolation),
      policy_(std::make_shared<const security::authz::Policy>(std::move(policy))) {}

Result<void> AccessControl::reload() {
  auto policy = loadPolicy(path_);
  if (!policy) return tl::unexpected(policy.error());
  policy_.store(std::make_shared<const security::authz::Policy>(std::move(*policy)));
  return {};
}

std::string AccessControl::signature() const { return fileSignature(path_); }

}  // namespace moat::broker
