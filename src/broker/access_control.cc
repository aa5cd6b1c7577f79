#include "broker/access_control.h"

#include <fmt/format.h>

#include "base/file_signature.h"
#include "base/log.h"
#include "security/authz_lint.h"
#include "security/authz_policy_file.h"

namespace moat::broker {

namespace {

// Reads and compiles the acl_file and the policy, and logs what `moat acl lint` would report
// about the acl_file: a rule that loads but does nothing (the seeds' dashboard) is worth a
// warning at every (re)load.
Result<security::authz::Policy> loadPolicy(const config::AuthzSection& s) {
  auto sources = security::authz::readPolicySources(s.aclFile, s.policyFile);
  if (!sources) return tl::unexpected(sources.error());
  for (const auto& f : security::authz::lintRules(sources->rules, nullptr)) {
    log::warn("authorization: {}: {}", f.where, f.message);
  }
  return security::authz::Policy::fromRules(std::move(sources->rules),
                                            std::move(sources->directory));
}

}  // namespace

Result<std::unique_ptr<AccessControl>> AccessControl::create(const config::AuthzSection& settings) {
  auto policy = loadPolicy(settings);
  if (!policy) return fail(0x80, "authz: " + policy.error().message);
  return std::unique_ptr<AccessControl>(new AccessControl(settings, std::move(*policy)));
}

AccessControl::AccessControl(const config::AuthzSection& settings, security::authz::Policy policy)
    : settings_(settings),
      policy_(std::make_shared<const security::authz::Policy>(std::move(policy))) {}

Result<void> AccessControl::reload() {
  auto policy = loadPolicy(settings_);
  if (!policy) return tl::unexpected(policy.error());
  policy_.store(std::make_shared<const security::authz::Policy>(std::move(*policy)));
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return {};
}

std::string AccessControl::signature() const {
  return fileSignature(settings_.aclFile) + "|" + fileSignature(settings_.policyFile);
}

std::string AccessControl::files() const {
  if (settings_.policyFile.empty()) return settings_.aclFile;
  if (settings_.aclFile.empty()) return settings_.policyFile;
  return settings_.aclFile + " and " + settings_.policyFile;
}

}  // namespace moat::broker
