// Internal to the config module: the [auth.*], [authz] and [audit] tables, and the check of a
// listener's `auth` list against them (config_auth.cc).
#pragma once

#include <toml++/toml.h>

#include <string_view>

#include "base/result.h"
#include "config/config.h"

namespace moat::config::detail {

// [auth.password], [auth.jwt], [auth.brute_force], [[auth.ban]].
Result<void> readAuth(std::string_view src, const toml::table& t, Config& cfg);
Result<void> readAuthz(std::string_view src, const toml::node& node, Config& cfg);
Result<void> readAudit(std::string_view src, const toml::node& node, AuditSection& a);
Result<void> readProvenance(std::string_view src, const toml::node& node, ProvenanceSection& p);
// The listener's `auth` list against what the configuration provides (once all is read).
Result<void> checkAuthChain(std::string_view src, const toml::table& t, const Listener& l,
                            const Config& cfg);

}  // namespace moat::config::detail
