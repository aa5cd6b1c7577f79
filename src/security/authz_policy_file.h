// policy.toml: Moat's own authorization file (docs/authorization.md), read into Rules and a
// Directory for Policy (authz_policy.h). Role-based: users belong to groups, users and groups
// have roles, a role is a list of rules; attribute-based: a rule may carry a condition (`when`);
// tenants: an identity may belong to a tenant whose topics live under a mount point.
//
//   [users.sensor-001]
//   groups = ["sensors"]               # their roles apply
//   roles = ["extra"]                  # and these
//   tenant = "acme"
//   attributes = { zone = "FactoryFloor", tags = ["meter", "line2"] }
//
//   [groups.sensors]
//   roles = ["sensor"]
//
//   [[roles.sensor.rules]]
//   allow = ["publish"]                # or deny = ...; publish, subscribe, receive, retain,
//                                      # read (= subscribe + receive), write (= publish + retain),
//                                      # all
//   topic = "sensors/${username}/#"    # or topics = [...]; placeholders ${username},
//                                      # ${client_id}, ${cert.cn}, ${tenant}, ${attr.NAME}
//   max_qos = 1                        # allow rules only
//   when = { address = ["10.0.0.0/8"], listener = "tls", cert.ou = "Sensors",
//            claim.scope = "write", attr.zone = "FactoryFloor", time = "06:00-22:00",
//            days = ["mon", "tue", "wed", "thu", "fri"] }
//
//   [authenticated]  roles = ["device"]     # every client with a user name
//   [anonymous]      roles = []             # every client without one
//   [certificates]   roles_from = ["ou"]    # each OU (or O) of the client certificate is a role
//                    tenant_from = "o"      # the certificate's O (or OU) is the tenant
//   [tenants.acme]   mount = "tenants/acme/"  # the default
//
// Every error names the file and line. A role, group or tenant referenced but not defined is an
// error (a typo must not silently grant or isolate nothing); roles that arrive in tokens or
// certificates and are not defined grant nothing.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "security/authz_policy.h"

namespace moat::security::authz {

struct PolicyFile {
  std::vector<Rule> rules;  // Scope::Role, in file order
  Directory directory;
  std::vector<std::string> roles;  // every role defined, with or without rules
};

[[nodiscard]] Result<PolicyFile> parsePolicyFile(std::string_view text, std::string_view source);

// The rules of an acl_file and of a policy.toml together, the acl_file's first (either path may
// be empty: not read), with the policy.toml's directory: what Policy::fromRules compiles and
// lintRules reads. `files` names them for messages ("acl and policy.toml").
struct PolicySources {
  std::vector<Rule> rules;
  Directory directory;
  std::string files;
};
[[nodiscard]] Result<PolicySources> readPolicySources(const std::filesystem::path& aclFile,
                                                      const std::filesystem::path& policyFile);

}  // namespace moat::security::authz
