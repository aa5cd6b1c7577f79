// moat: the broker and its tools in one binary. `moat <command> [options]`.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "apps/moat/commands.h"

namespace {

struct Command {
  std::string_view name;
  int (*run)(int, char**);
  std::string_view help;
};

constexpr Command kCommands[] = {
    {"serve", moat::app::serveMain, "run the broker"},
    {"check-config", moat::app::checkConfigMain, "validate a configuration file and exit"},
    {"pub", moat::app::pubMain, "publish messages (flags of mosquitto_pub)"},
    {"sub", moat::app::subMain, "subscribe and print messages (flags of mosquitto_sub)"},
    {"pki", moat::app::pkiMain,
     "a small certificate authority: init-ca, issue-server, issue-client, revoke, crl, list"},
    {"passwd", moat::app::passwdMain,
     "create and edit password files (the usage of mosquitto_passwd)"},
    {"acl", moat::app::aclMain, "ask the authorization policy: check (what it decides and why)"},
    {"bench", moat::app::benchMain, "load a broker: fan-in, fan-out, latency, connection storms"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: moat <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) {
    std::fprintf(out, "  %-14.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.help.size()), c.help.data());
  }
  std::fprintf(out, "\n`moat <command> --help` shows a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string_view name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    usage(stdout);
    return 0;
  }
  if (name == "--version" || name == "version") {
    std::printf("moat 0.1.0\n");
    return 0;
  }
  for (const auto& c : kCommands) {
    if (c.name == name) {
      std::string self = "moat " + std::string(name);
      argv[1] = self.data();
      try {
        return c.run(argc - 1, argv + 1);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "moat %s: %s\n", argv[1], e.what());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "moat: unknown command '%.*s'\n\n", static_cast<int>(name.size()),
               name.data());
  usage(stderr);
  return 2;
}
