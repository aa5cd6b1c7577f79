#include "broker/access_control.h"

#include <fmt/format.h>

#include <filesystem>

#include "base/file_signature.h"

namespace moat::broker {

Result<std::unique_ptr<AccessControl>> AccessControl::create(const config::AuthzSection& settings) {
  auto policy = security::authz::Policy::loadAclFile(settings.aclFile);
  if (!policy) return fail(0x80, "authz.acl_file: " + policy.error().message);
  return std::unique_ptr<AccessControl>(new AccessControl(settings, std::move(*policy)));
}

AccessControl::AccessControl(const config::AuthzSection& settings, security::authz::Policy policy)
    : path_(settings.aclFile),
      disconnectOnViolation_(settings.disconnectOnViolation),
      policy_(std::make_shared<const security::authz::Policy>(std::move(policy))) {}

Result<void> AccessControl::reload() {
  auto policy = security::authz::Policy::loadAclFile(path_);
  if (!policy) return tl::unexpected(policy.error());
  policy_.store(std::make_shared<const security::authz::Policy>(std::move(*policy)));
  return {};
}

std::string AccessControl::signature() const { return fileSignature(path_); }

}  // namespace moat::broker
