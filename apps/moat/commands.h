// The subcommands of the `moat` binary. Each takes the arguments after its own name
// (argv[0] is "moat <name>") and returns the process exit code.
#pragma once

namespace moat::app {

int serveMain(int argc, char** argv);        // cmd_serve.cc
int checkConfigMain(int argc, char** argv);  // cmd_serve.cc
int pubMain(int argc, char** argv);          // cmd_pub.cc
int subMain(int argc, char** argv);          // cmd_sub.cc
int pkiMain(int argc, char** argv);          // cmd_pki.cc
int passwdMain(int argc, char** argv);       // cmd_passwd.cc
int aclMain(int argc, char** argv);          // cmd_acl.cc
int benchMain(int argc, char** argv);        // cmd_bench.cc

}  // namespace moat::app
