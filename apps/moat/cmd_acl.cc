// `moat acl check`: asks the authorization policy of a configuration what it decides for one
// client, action and topic, and which rule decided (docs/authorization.md):
//
//   moat acl check --config moat.toml --user sensor_001 --client-id s1 --action publish --topic T
//   moat acl check --acl-file acl --user dashboard --action subscribe --topic 'sensors/#'
//   moat acl check --policy policy.toml --user press-1 --cert-ou Presses --address 10.0.0.7
//       --action publish --qos 1 --topic factory/line1
//
// Prints "allowed by acl:7 (topic read sensors/#)" or "denied: ..." and exits 0 when allowed,
// 1 when denied, 2 for a usage or configuration error — so scripts and CI can assert rules.
//
//   moat acl lint (--config moat.toml | [--acl-file acl] [--policy policy.toml])
//
// Reports rules that load but do not do what they seem to (security/authz_lint.h): allows a
// deny takes away, redundant allows, grants of `#`, patterns without placeholders, user
// sections the password file does not know. Exit 0 when clean, 1 with findings, 2 on errors.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "apps/moat/commands.h"
#include "config/config.h"
#include "security/authz_lint.h"
#include "security/authz_policy.h"
#include "security/authz_policy_file.h"
#include "security/password_file.h"

namespace moat::app {

namespace {

constexpr int kDenied = 1;
constexpr int kUsage = 2;

int fail(const std::string& message) {
  std::fprintf(stderr, "moat acl: %s\n", message.c_str());
  return kUsage;
}

// `moat acl lint`: one line per finding, "FILE:LINE: warning: ..."; exit 1 when there is any.
int lintMain(const std::string& configPath, std::string aclPath, std::string policyPath) {
  std::optional<std::vector<std::string>> users;
  if (!configPath.empty()) {
    auto cfg = config::loadFile(configPath);
    if (!cfg) return fail(cfg.error().message);
    if (!cfg->authz) return fail(configPath + " has no [authz] acl_file to lint");
    aclPath = cfg->authz->aclFile;
    policyPath = cfg->authz->policyFile;
    if (cfg->authPassword) {
      auto file = security::PasswordFile::load(cfg->authPassword->file);
      if (!file) return fail(file.error().message);
      users = file->usernames();
    }
  }
  auto sources = security::authz::readPolicySources(aclPath, policyPath);
  if (!sources) return fail(sources.error().message);
  const auto& rules = sources->rules;
  const std::string& files = sources->files;
  auto found = security::authz::lintRules(rules, users ? &*users : nullptr);
  for (const auto& f : found) std::printf("%s: warning: %s\n", f.where.c_str(), f.message.c_str());
  if (found.empty()) std::printf("%s: %zu rules, nothing to report\n", files.c_str(), rules.size());
  return found.empty() ? 0 : kDenied;
}

}  // namespace

int aclMain(int argc, char** argv) {
  CLI::App app{"Ask the authorization policy what it decides, and why", "moat acl"};
  app.require_subcommand(1);
  auto* check = app.add_subcommand("check", "the decision for one client, action and topic");
  std::string configPath, aclPath, policyPath, action, topic, address;
  std::vector<std::string> certCn, certO, certOu, claims;
  unsigned qos = 0;
  security::authz::Subject who;
  check->add_option("-c,--config", configPath, "a configuration file with [authz]");
  check->add_option("--acl-file", aclPath, "an acl_file (instead of --config)");
  check->add_option("--policy", policyPath, "a policy.toml (instead of --config)");
  check->add_option("-u,--user", who.username, "the user name (none: an anonymous client)");
  check->add_option("-i,--client-id", who.clientId, "the client id (for %c patterns)");
  security::authz::TokenClaims token;
  check->add_option("--role", token.roles, "a role its token names (repeatable)");
  check->add_option("--tenant", token.tenant, "the tenant its token names");
  check->add_option("--claim", claims, "a token claim NAME=VALUE (repeatable)");
  check->add_option("--cert-cn", certCn, "its certificate's CN");
  check->add_option("--cert-o", certO, "its certificate's O (repeatable)");
  check->add_option("--cert-ou", certOu, "its certificate's OU (repeatable)");
  check->add_option("--address", address, "its IP address");
  check->add_option("--listener", who.listener, "the listener it came in on");
  check->add_option("-q,--qos", qos, "the QoS of the publish")->check(CLI::Range(0, 2));
  check->add_option("-a,--action", action, "publish | subscribe | receive | retain")
      ->required()
      ->check(CLI::IsMember({"publish", "subscribe", "receive", "retain"}));
  check->add_option("-t,--topic", topic, "the topic name (a filter for subscribe)")->required();
  auto* lint = app.add_subcommand("lint", "rules that load but do not do what they seem to");
  lint->add_option("-c,--config", configPath, "a configuration file with [authz]");
  lint->add_option("--acl-file", aclPath, "an acl_file (instead of --config)");
  lint->add_option("--policy", policyPath, "a policy.toml (instead of --config)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsage;
  }
  if (configPath.empty() == (aclPath.empty() && policyPath.empty())) {
    return fail("give --config, or --acl-file and/or --policy");
  }
  if (lint->parsed()) return lintMain(configPath, aclPath, policyPath);
  if (!certCn.empty()) who.cert.push_back({"cn", certCn});
  if (!certO.empty()) who.cert.push_back({"o", certO});
  if (!certOu.empty()) who.cert.push_back({"ou", certOu});
  for (const auto& c : claims) {
    const size_t eq = c.find('=');
    if (eq == std::string::npos || eq == 0) return fail("--claim wants NAME=VALUE, not " + c);
    token.claims.push_back({c.substr(0, eq), {c.substr(eq + 1)}});
  }
  if (!token.roles.empty() || !token.tenant.empty() || !token.claims.empty()) {
    who.token = std::make_shared<security::authz::TokenClaims>(std::move(token));
  }
  if (!address.empty()) {
    who.address = net::IpAddress::parse(address);
    if (!who.address) return fail("--address: not an IP address: " + address);
  }
  if (!configPath.empty()) {
    auto cfg = config::loadFile(configPath);
    if (!cfg) return fail(cfg.error().message);
    if (!cfg->authz) {
      std::printf("allowed: %s has no [authz], so every client may do everything\n",
                  configPath.c_str());
      return 0;
    }
    aclPath = cfg->authz->aclFile;
    policyPath = cfg->authz->policyFile;
  }
  auto policy = security::authz::Policy::loadFiles(aclPath, policyPath);
  if (!policy) return fail(policy.error().message);
  if (auto roles = policy->rolesOf(who); !roles.empty()) {
    std::string list;
    for (const auto& r : roles) list += (list.empty() ? "" : ", ") + r;
    std::printf("roles: %s\n", list.c_str());
  }
  if (auto tenant = policy->tenantOf(who); !tenant) {
    std::printf("refused at CONNECT: %s\n", tenant.error().message.c_str());
    return kDenied;
  } else if (*tenant) {
    std::printf("tenant: %s (topics under \"%s\")\n", (*tenant)->name.c_str(),
                (*tenant)->mount.c_str());
  }
  security::authz::Decision d;
  if (action == "subscribe") {
    d = policy->checkSubscribe(who, topic);
  } else {
    auto a = action == "publish"   ? security::authz::Action::Publish
             : action == "receive" ? security::authz::Action::Receive
                                   : security::authz::Action::Retain;
    d = policy->check(who, a, topic, static_cast<uint8_t>(qos));
  }
  if (who.clientId.empty() && !aclPath.empty()) {
    std::fprintf(stderr,
                 "moat acl: note: no --client-id; %%c patterns see an empty client id, which "
                 "grants nothing and makes deny patterns deny everything\n");
  }
  std::printf("%s\n", d.explain().c_str());
  return d.allowed ? 0 : kDenied;
}

}  // namespace moat::app
