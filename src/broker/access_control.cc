#include "broker/access_control.h"

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "base/file_signature.h"
#include "base/log.h"
#include "security/authz_acl_file.h"
#include "security/authz_lint.h"
#include "security/authz_policy_file.h"

namespace moat::broker {

namespace {

// Reads and compiles the acl_file and the policy, and logs what `moat acl lint` would report
// about the acl_file: a rule that loads but does nothing (the seeds' dashboard) is worth a
// warning at every (re)load.
Result<security::authz::Policy> loadPolicy(const config::AuthzSection& s) {
  std::vector<security::authz::Rule> rules;
  if (!s.aclFile.empty()) {
    auto text = readWholeFile(s.aclFile);
    if (!text) return tl::unexpected(text.error());
    auto acl = security::authz::parseAclRules(*text, s.aclFile);
    if (!acl) return tl::unexpected(acl.error());
    rules = std::move(*acl);
  }
  security::authz::Directory directory;
  if (!s.policyFile.empty()) {
    auto text = readWholeFile(s.policyFile);
    if (!text) return tl::unexpected(text.error());
    auto file = security::authz::parsePolicyFile(*text, s.policyFile);
    if (!file) return tl::unexpected(file.error());
    for (auto& r : file->rules) rules.push_back(std::move(r));
    directory = std::move(file->directory);
  }
  for (const auto& f : security::authz::lintRules(rules, nullptr)) {
    log::warn("authorization: {}: {}", f.where, f.message);
  }
  return security::authz::Policy::fromRules(std::move(rules), std::move(directory));
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
