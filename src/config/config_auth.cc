// The authentication, authorization and audit tables of the configuration.
#include "config/config_auth.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "config/toml_reader.h"
#include "net/admission.h"

namespace moat::config::detail {

namespace {

Result<void> readBruteForce(std::string_view src, const toml::node& node, BruteForceSection& b) {
  if (!node.is_table()) return tl::unexpected(at(src, node, "[auth.brute_force] must be a table"));
  TableReader r(src, *node.as_table(), "auth.brute_force");
  MOAT_TRY(r.integer("max_failures", b.maxFailures, 1, 1'000'000));
  MOAT_TRY(r.integer("window", b.window, 1, 86400));
  MOAT_TRY(r.integer("ban_time", b.banTime, 0, 30 * 86400));
  MOAT_TRY(r.integer("first_delay_ms", b.firstDelayMs, 0, 60'000));
  MOAT_TRY(r.integer("max_delay_ms", b.maxDelayMs, 0, 60'000));
  return r.finish();
}

Result<void> readPassword(std::string_view src, const toml::node& node, Config& cfg) {
  if (!node.is_table()) return tl::unexpected(at(src, node, "[auth.password] must be a table"));
  PasswordAuthSection p;
  TableReader r(src, *node.as_table(), "auth.password");
  MOAT_TRY(r.string("file", p.file));
  MOAT_TRY(r.integer("cache_seconds", p.cacheSeconds, 0, 86400));
  MOAT_TRY(r.finish());
  if (p.file.empty()) return tl::unexpected(at(src, node, "auth.password.file is required"));
  p.file = resolvePath(src, p.file);
  cfg.authPassword = std::move(p);
  return {};
}

Result<void> readJwt(std::string_view src, const toml::node& node, Config& cfg) {
  if (!node.is_table()) return tl::unexpected(at(src, node, "[auth.jwt] must be a table"));
  JwtAuthSection j;
  TableReader r(src, *node.as_table(), "auth.jwt");
  MOAT_TRY(r.string("jwks_file", j.jwksFile));
  MOAT_TRY(r.string("public_key", j.publicKey));
  MOAT_TRY(r.string("secret_file", j.secretFile));
  MOAT_TRY(r.strings("algorithms", j.algorithms));
  MOAT_TRY(r.string("issuer", j.issuer));
  MOAT_TRY(r.string("audience", j.audience));
  MOAT_TRY(r.integer("leeway", j.leeway, 0, 3600));
  MOAT_TRY(r.boolean("require_exp", j.requireExpiry));
  MOAT_TRY(r.string("username_claim", j.usernameClaim));
  MOAT_TRY(r.string("roles_claim", j.rolesClaim));
  MOAT_TRY(r.string("tenant_claim", j.tenantClaim));
  MOAT_TRY(r.integer("max_token_size", j.maxTokenSize, 256, 65535));
  MOAT_TRY(r.boolean("disconnect_at_expiry", j.disconnectAtExpiry));
  MOAT_TRY(r.finish());
  const int sources = !j.jwksFile.empty() + !j.publicKey.empty() + !j.secretFile.empty();
  if (sources != 1) {
    return tl::unexpected(
        at(src, node, "[auth.jwt] needs exactly one of jwks_file, public_key, secret_file"));
  }
  static constexpr std::string_view kAlgorithms[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                                     "RS512", "PS256", "ES256", "ES384", "EdDSA"};
  for (const auto& a : j.algorithms) {
    if (std::find(std::begin(kAlgorithms), std::end(kAlgorithms), a) == std::end(kAlgorithms)) {
      return tl::unexpected(at(src, *node.as_table()->get("algorithms"),
                               fmt::format("auth.jwt.algorithms: \"{}\" is not one of HS256, "
                                           "HS384, HS512, RS256, RS384, RS512, PS256, ES256, "
                                           "ES384, EdDSA",
                                           a)));
    }
  }
  if (j.usernameClaim.empty()) {
    return tl::unexpected(at(src, node, "auth.jwt.username_claim must not be empty"));
  }
  for (auto* f : {&j.jwksFile, &j.publicKey, &j.secretFile}) *f = resolvePath(src, *f);
  cfg.authJwt = std::move(j);
  return {};
}

// A TOML offset date-time (2026-12-31T00:00:00Z) as Unix seconds.
Result<int64_t> unixSeconds(std::string_view src, const toml::node& node, std::string_view what) {
  const auto* dt = node.as_date_time();
  if (!dt || !dt->get().offset) {
    return tl::unexpected(
        at(src, node,
           fmt::format("{} must be a date and time with a zone, like 2026-12-31T00:00:00Z", what)));
  }
  const toml::date_time& v = dt->get();
  using namespace std::chrono;
  const sys_days day{year{v.date.year} / month{v.date.month} / v.date.day};
  return duration_cast<seconds>(day.time_since_epoch()).count() + v.time.hour * 3600 +
         v.time.minute * 60 + v.time.second - v.offset->minutes * 60;
}

Result<void> readBans(std::string_view src, const toml::node& node, Config& cfg) {
  if (!node.is_array_of_tables()) {
    return tl::unexpected(at(src, node, "ban list entries are written [[auth.ban]]"));
  }
  for (const auto& item : *node.as_array()) {
    const toml::table& t = *item.as_table();
    BanEntry b;
    TableReader r(src, t, "auth.ban");
    MOAT_TRY(r.string("address", b.address));
    MOAT_TRY(r.string("username", b.username));
    MOAT_TRY(r.string("client_id", b.clientId));
    MOAT_TRY(r.string("reason", b.reason));
    if (const toml::node* until = t.get("until")) {
      r.accept("until");
      auto when = unixSeconds(src, *until, "auth.ban.until");
      if (!when) return tl::unexpected(when.error());
      b.until = *when;
    }
    MOAT_TRY(r.finish());
    if (!b.address.empty() + !b.username.empty() + !b.clientId.empty() != 1) {
      return tl::unexpected(
          at(src, item, "[[auth.ban]] needs exactly one of address, username, client_id"));
    }
    if (!b.address.empty()) {
      if (auto ok = net::Cidr::parse(b.address); !ok) {
        return tl::unexpected(at(src, item, fmt::format("auth.ban: {}", ok.error().message)));
      }
    }
    cfg.bans.push_back(std::move(b));
  }
  return {};
}

}  // namespace

Result<void> readAuth(std::string_view src, const toml::table& t, Config& cfg) {
  for (const auto& [key, node] : t) {
    const std::string_view k = key.str();
    if (k == "brute_force") {
      MOAT_TRY(readBruteForce(src, node, cfg.bruteForce));
    } else if (k == "password") {
      MOAT_TRY(readPassword(src, node, cfg));
    } else if (k == "jwt") {
      MOAT_TRY(readJwt(src, node, cfg));
    } else if (k == "ban") {
      MOAT_TRY(readBans(src, node, cfg));
    } else {
      return tl::unexpected(at(src, node,
                               fmt::format("unknown key 'auth.{}' (auth.password, auth.jwt, "
                                           "auth.brute_force, auth.ban)",
                                           k)));
    }
  }
  return {};
}

Result<void> readAuthz(std::string_view src, const toml::node& node, Config& cfg) {
  if (!node.is_table()) return tl::unexpected(at(src, node, "[authz] must be a table"));
  AuthzSection a;
  TableReader r(src, *node.as_table(), "authz");
  MOAT_TRY(r.string("acl_file", a.aclFile));
  MOAT_TRY(r.string("policy", a.policyFile));
  MOAT_TRY(r.boolean("disconnect_on_violation", a.disconnectOnViolation));
  MOAT_TRY(r.finish());
  if (a.aclFile.empty() && a.policyFile.empty()) {
    return tl::unexpected(
        at(src, node, "[authz] needs acl_file or policy (or both: the rules to check)"));
  }
  a.aclFile = resolvePath(src, a.aclFile);
  a.policyFile = resolvePath(src, a.policyFile);
  cfg.authz = std::move(a);
  return {};
}

Result<void> readProvenance(std::string_view src, const toml::node& node, ProvenanceSection& p) {
  if (!node.is_table()) return tl::unexpected(at(src, node, "[provenance] must be a table"));
  TableReader r(src, *node.as_table(), "provenance");
  MOAT_TRY(r.string("property", p.property));
  MOAT_TRY(r.finish());
  // A user property name is a UTF-8 string; one a client could not tell from data, or that is
  // empty, would defeat the point.
  if (p.property.empty() || p.property.size() > 128 ||
      std::any_of(p.property.begin(), p.property.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return tl::unexpected(at(src, node,
                             "provenance.property must be 1..128 characters without control "
                             "characters"));
  }
  return {};
}

Result<void> readAudit(std::string_view src, const toml::node& node, AuditSection& a) {
  if (!node.is_table()) return tl::unexpected(at(src, node, "[audit] must be a table"));
  TableReader r(src, *node.as_table(), "audit");
  MOAT_TRY(r.string("file", a.file));
  MOAT_TRY(r.finish());
  if (a.file != "-") a.file = resolvePath(src, a.file);
  return {};
}

// The listener's `auth` list against what the configuration provides.
Result<void> checkAuthChain(std::string_view src, const toml::table& t, const Listener& l,
                            const Config& cfg) {
  if (l.auth.empty()) return {};
  const toml::node& where = *t.get("auth");
  if (t.contains("allow_anonymous")) {
    return tl::unexpected(at(src, where,
                             fmt::format("listener \"{}\": allow_anonymous and auth together; "
                                         "list \"anonymous\" in auth instead",
                                         l.name)));
  }
  std::vector<std::string> seen;
  for (const auto& m : l.auth) {
    if (std::find(seen.begin(), seen.end(), m) != seen.end()) {
      return tl::unexpected(at(src, where, fmt::format("listener.auth lists \"{}\" twice", m)));
    }
    seen.push_back(m);
    if (m == "certificate" || m == "psk") {
      if (!l.tls || l.tls->identity == "none") {
        return tl::unexpected(
            at(src, where,
               fmt::format("listener \"{}\": auth \"{}\" needs [listener.tls] identity (which "
                           "field of the handshake names the client)",
                           l.name, m)));
      }
    } else if (m == "password") {
      if (!cfg.authPassword) {
        return tl::unexpected(at(src, where,
                                 fmt::format("listener \"{}\": auth \"password\" needs an "
                                             "[auth.password] table with the password file",
                                             l.name)));
      }
    } else if (m == "jwt") {
      if (!cfg.authJwt) {
        return tl::unexpected(at(src, where,
                                 fmt::format("listener \"{}\": auth \"jwt\" needs an [auth.jwt] "
                                             "table with the key to check tokens with",
                                             l.name)));
      }
    } else if (m == "scram") {
      if (!cfg.authPassword) {
        return tl::unexpected(at(src, where,
                                 fmt::format("listener \"{}\": auth \"scram\" needs an "
                                             "[auth.password] table with the password file that "
                                             "holds the SCRAM credentials",
                                             l.name)));
      }
    } else if (m != "anonymous") {
      return tl::unexpected(at(src, where,
                               fmt::format("listener.auth \"{}\": methods are certificate, psk, "
                                           "password, jwt, scram, anonymous",
                                           m)));
    }
  }
  return {};
}

}  // namespace moat::config::detail
