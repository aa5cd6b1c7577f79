// `moat acl check`: asks the authorization policy of a configuration what it decides for one
// client, action and topic, and which rule decided (docs/authorization.md):
//
//   moat acl check --config moat.toml --user sensor_001 --client-id s1 --action publish --topic T
//   moat acl check --acl-file acl --user dashboard --action subscribe --topic 'sensors/#'
//
// Prints "allowed by acl:7 (topic read sensors/#)" or "denied: ..." and exits 0 when allowed,
// 1 when denied, 2 for a usage or configuration error — so scripts and CI can assert rules.
//
//   moat acl lint (--config moat.toml | --acl-file acl)
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
#include "base/atomic_file.h"
#include "config/config.h"
#include "security/authz_acl_file.h"
#include "security/authz_lint.h"
#include "security/authz_policy.h"
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
int lintMain(const std::string& configPath, std::string aclPath) {
  std::optional<std::vector<std::string>> users;
  if (!configPath.empty()) {
    auto cfg = config::loadFile(configPath);
    if (!cfg) return fail(cfg.error().message);
    if (!cfg->authz) return fail(configPath + " has no [authz] acl_file to lint");
    aclPath = cfg->authz->aclFile;
    if (cfg->authPassword) {
      auto file = security::PasswordFile::load(cfg->authPassword->file);
      if (!file) return fail(file.error().message);
      users = file->usernames();
    }
  }
  auto text = readWholeFile(aclPath);
  if (!text) return fail(text.error().message);
  auto rules = security::authz::parseAclRules(*text, aclPath);
  if (!rules) return fail(rules.error().message);
  auto found = security::authz::lintRules(*rules, users ? &*users : nullptr);
  for (const auto& f : found) std::printf("%s: warning: %s\n", f.where.c_str(), f.message.c_str());
  if (found.empty()) {
    std::printf("%s: %zu rules, nothing to report\n", aclPath.c_str(), rules->size());
  }
  return found.empty() ? 0 : kDenied;
}

}  // namespace

int aclMain(int argc, char** argv) {
  CLI::App app{"Ask the authorization policy what it decides, and why", "moat acl"};
  app.require_subcommand(1);
  auto* check = app.add_subcommand("check", "the decision for one client, action and topic");
  std::string configPath, aclPath, action, topic;
  security::authz::Subject who;
  check->add_option("-c,--config", configPath, "a configuration file with [authz]");
  check->add_option("--acl-file", aclPath, "an acl_file (instead of --config)");
  check->add_option("-u,--user", who.username, "the user name (none: an anonymous client)");
  check->add_option("-i,--client-id", who.clientId, "the client id (for %c patterns)");
  check->add_option("-a,--action", action, "publish | subscribe | receive | retain")
      ->required()
      ->check(CLI::IsMember({"publish", "subscribe", "receive", "retain"}));
  check->add_option("-t,--topic", topic, "the topic name (a filter for subscribe)")->required();
  auto* lint = app.add_subcommand("lint", "rules that load but do not do what they seem to");
  lint->add_option("-c,--config", configPath, "a configuration file with [authz]");
  lint->add_option("--acl-file", aclPath, "an acl_file (instead of --config)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsage;
  }
  if (configPath.empty() == aclPath.empty()) {
    return fail("give exactly one of --config, --acl-file");
  }
  if (lint->parsed()) return lintMain(configPath, aclPath);
  if (!configPath.empty()) {
    auto cfg = config::loadFile(configPath);
    if (!cfg) return fail(cfg.error().message);
    if (!cfg->authz) {
      std::printf("allowed: %s has no [authz], so every client may do everything\n",
                  configPath.c_str());
      return 0;
    }
    aclPath = cfg->authz->aclFile;
  }
  auto policy = security::authz::Policy::loadAclFile(aclPath);
  if (!policy) return fail(policy.error().message);
  security::authz::Decision d;
  if (action == "subscribe") {
    d = policy->checkSubscribe(who, topic);
  } else {
    auto a = action == "publish"   ? security::authz::Action::Publish
             : action == "receive" ? security::authz::Action::Receive
                                   : security::authz::Action::Retain;
    d = policy->check(who, a, topic);
  }
  if (who.clientId.empty()) {
    std::fprintf(stderr,
                 "moat acl: note: no --client-id; %%c patterns see an empty client id, which "
                 "grants nothing and makes deny patterns deny everything\n");
  }
  std::printf("%s\n", d.explain().c_str());
  return d.allowed ? 0 : kDenied;
}

}  // namespace moat::app
