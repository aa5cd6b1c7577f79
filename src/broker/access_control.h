// AccessControl: the broker's authorization ([authz]). Holds the policy in force
// (security::authz::Policy, built from the acl_file and the policy.toml) and swaps in a new one
// when a file changes (SIGHUP or the file watch): the whole new policy is built first, and a file
// with an error keeps the old policy and says why — never allow-all on failure.
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
                                  security::authz::Action action, std::string_view topic,
                                  uint8_t qos = 0) const {
    return policy_.load()->check(who, action, topic, qos);
  }
  // check(...).allowed, without the strings of a Decision: the per-message path.
  bool allows(const security::authz::Subject& who, security::authz::Action action,
              std::string_view topic, uint8_t qos = 0, bool* cacheable = nullptr) const {
    return policy_.load()->allows(who, action, topic, qos, cacheable);
  }
  // Changes with every successful reload: a decision remembered under another generation is
  // stale. Read it before asking the policy (a decision of a newer policy stamped with an older
  // generation is only thrown away early).
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  security::authz::Decision checkSubscribe(const security::authz::Subject& who,
                                           std::string_view filter) const {
    return policy_.load()->checkSubscribe(who, filter);
  }
  // The tenant `who` belongs to (its topics live under the mount point), or an error that
  // refuses the client (two sources naming different tenants).
  Result<std::optional<security::authz::Tenant>> tenantOf(
      const security::authz::Subject& who) const {
    return policy_.load()->tenantOf(who);
  }
  // Builds the policy again from the files; on error the old one stays and the error says why.
  [[nodiscard]] Result<void> reload();
  // Size and modification time of the files, to notice a change.
  std::string signature() const;
  // "acl", "policy.toml" or "acl and policy.toml", for logs.
  std::string files() const;
  size_t ruleCount() const { return policy_.load()->ruleCount(); }
  bool disconnectOnViolation() const { return settings_.disconnectOnViolation; }

 private:
  AccessControl(const config::AuthzSection& settings, security::authz::Policy policy);

  const config::AuthzSection settings_;
  std::atomic<std::shared_ptr<const security::authz::Policy>> policy_;
  std::atomic<uint64_t> generation_{1};
};

}  // namespace moat::broker
