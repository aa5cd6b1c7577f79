// AccessControl: the broker's authorization ([authz]). Holds the policy in force
// (security::authz::Policy, built from the acl_file) and swaps in a new one when the file
// changes (SIGHUP or the file watch): the whole new policy is built first, and a file with an
// error keeps the old policy and says why — never allow-all on failure.
//
// Asked at CONNECT (the will), PUBLISH (and the retain flag), SUBSCRIBE (each filter), and at
// every delivery, so a reload that revokes access stops the flow on live subscriptions at
// once. Without [authz] the broker has no AccessControl and every client may do everything.
//
// Thread-safe: checks from any worker; reload() from the broker's watch.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "config/config.h"
#include "security/authz_policy.h"

namespace moat::broker {

class AccessControl {
 public:
  // Loads the policy; fails with its error (file:line and what is wrong).
  [[nodiscard]] static Result<std::unique_ptr<AccessControl>> create(
      const config::AuthzSection& settings);

  security::authz::Decision check(const security::authz::Subject& who,
                                  security::authz::Action action, std::string_view topic) const {
    return policy_.load()->check(who, action, topic);
  }
  // check(...).allowed, without the strings of a Decision: the per-message path.
  bool allows(const security::authz::Subject& who, security::authz::Action action,
              std::string_view topic) const {
    return policy_.load()->allows(who, action, topic);
  }
  security::authz::Decision checkSubscribe(const security::authz::Subject& who,
                                           std::string_view filter) const {
    return policy_.load()->checkSubscribe(who, filter);
  }
  // Builds the policy again from the file; on error the old one stays and the error says why.
  [[nodiscard]] Result<void> reload();
  // Size and modification time of the file, to notice a change.
  std::string signature() const;
  const std::string& path() const { return path_; }
  size_t ruleCount() const { return policy_.load()->ruleCount(); }
  bool disconnectOnViolation() const { return disconnectOnViolation_; }

 private:
  AccessControl(const config::AuthzSection& settings, security::authz::Policy policy);

  std::string path_;
  bool disconnectOnViolation_;
  std::atomic<std::shared_ptr<const security::authz::Policy>> policy_;
};

}  // namespace moat::broker
