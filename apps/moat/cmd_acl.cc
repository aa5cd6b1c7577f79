// `moat acl check`: asks the authorization policy of a configuration what it decides for one
// client, action and topic, and which rule decided (docs/authorization.md):
//
//   moat acl check --config moat.toml --user sensor_001 --client-id s1 --action publish --topic T
//   moat acl check --acl-file acl --user dashboard --action subscribe --topic 'sensors/#'
//
// Prints "allowed by acl:7 (topic read sensors/#)" or "denied: ..." and exits 0 when allowed,
// 1 when denied, 2 for a usage or configuration error — so scripts and CI can assert rules.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "apps/moat/commands.h"
#include "config/config.h"
#include "security/authz_policy.h"

namespace moat::app {

namespace {

constexpr int kDenied = 1;
constexpr int kUsage = 2;

int fail(const std::string& message) {
  std::fprintf(stderr, "moat acl: %s\n", message.c_str());
  return kUsage;
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kUsage;
  }
  if (configPath.empty() == aclPath.empty())
    return fail("give exactly one of --config, --acl-file");
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
