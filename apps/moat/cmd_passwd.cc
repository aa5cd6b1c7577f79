// `moat passwd`: creates and edits Mosquitto-compatible password files, with the usage of
// mosquitto_passwd (src/security does the work; docs/authentication.md describes the formats):
//
//   moat passwd [-H HASH] [-I N] [-c | -D] FILE USER      password from the terminal (asked
//                                                         twice, not echoed) or one stdin line
//   moat passwd -b [-H HASH] [-I N] [-c] FILE USER PASSWORD
//   moat passwd -U [-H HASH] [-I N] FILE                  hash a file of plain passwords
//
// HASH is argon2id (the default), pbkdf2 ($7$, which Mosquitto reads too) or scram-sha-256: a
// SCRAM-SHA-256 credential in PostgreSQL's form, for MQTT 5.0 enhanced authentication (the
// client proves the password without sending it; a password in CONNECT works too). Mosquitto
// skips SCRAM lines. -I sets the iteration count of pbkdf2 (default 210,000) or scram-sha-256
// (default 4096, RFC 7677's minimum, because the device computes it on every connection; raise
// it where devices can afford it); argon2id has none.
//
// The file is replaced atomically and left 0600. A password or hash is never printed. Errors are
// one line on stderr, exit code 1; usage errors exit 2.
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "apps/moat/commands.h"
#include "base/atomic_file.h"
#include "security/password_file.h"
#include "security/secret_string.h"

namespace moat::app {

namespace {

namespace fs = std::filesystem;
using security::SecretString;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct PasswdFlags {
  std::string hash = "argon2id";       // -H
  std::optional<uint32_t> iterations;  // -I
  bool batch = false;                  // -b
  bool create = false;                 // -c
  bool remove = false;                 // -D
  bool convert = false;                // -U
  std::vector<std::string> args;       // FILE USER [PASSWORD]
};

int report(std::string_view message) {
  std::fprintf(stderr, "moat passwd: %.*s\n", static_cast<int>(message.size()), message.data());
  return kExitError;
}

int usageError(std::string_view message) {
  std::fprintf(stderr, "moat passwd: %.*s\nRun with --help for more information.\n",
               static_cast<int>(message.size()), message.data());
  return kExitUsage;
}

// -- reading the password ---------------------------------------------------------------------

// The terminal's settings while echo is off, restored by the signal handler if the user
// interrupts the prompt, so the shell is not left without echo.
struct termios gSavedTerminal;
volatile sig_atomic_t gEchoOff = 0;

extern "C" void restoreTerminalAndDie(int sig) {
  if (gEchoOff) ::tcsetattr(STDIN_FILENO, TCSANOW, &gSavedTerminal);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// One line from standard input, read a byte at a time with read(2) so that no stdio buffer keeps
// a copy; without its "\n" or "\r\n". Fails at end of input before any line, or past 65535 bytes.
Result<SecretString> readLine() {
  SecretString line;
  line.reserve(security::kMaxPasswordBytes + 2);
  bool any = false;
  while (true) {
    char c;
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(0x80, fmt::format("cannot read the password: {}", std::strerror(errno)));
    if (n == 0) {
      if (!any) return fail(0x80, "no password on standard input");
      break;
    }
    any = true;
    if (c == '\n') break;
    if (line.size() > security::kMaxPasswordBytes) {
      return fail(0x80, "the password is longer than 65535 bytes (MQTT's limit)");
    }
    line.append(c);
  }
  if (!line.empty() && line.view().back() == '\r') line.popBack();
  if (line.size() > security::kMaxPasswordBytes) {
    return fail(0x80, "the password is longer than 65535 bytes (MQTT's limit)");
  }
  return line;
}

// Prompts on stderr and reads a line from the terminal with echo off.
Result<SecretString> readHidden(const char* prompt) {
  // Echo goes off before the prompt appears: whatever is typed once it is shown stays hidden.
  struct termios quiet;
  bool echoOff = ::tcgetattr(STDIN_FILENO, &gSavedTerminal) == 0;
  if (echoOff) {
    quiet = gSavedTerminal;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    gEchoOff = 1;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::fprintf(stderr, "%s", prompt);
  std::fflush(stderr);
  auto line = readLine();
  if (echoOff) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &gSavedTerminal);
    gEchoOff = 0;
  }
  std::fprintf(stderr, "\n");
  return line;
}

// The new password: asked twice on a terminal, else one line of standard input.
Result<SecretString> askPassword() {
  Result<SecretString> password;
  if (::isatty(STDIN_FILENO)) {
    struct sigaction action = {};
    struct sigaction oldInt = {};
    struct sigaction oldTerm = {};
    action.sa_handler = restoreTerminalAndDie;
    ::sigaction(SIGINT, &action, &oldInt);
    ::sigaction(SIGTERM, &action, &oldTerm);
    password = readHidden("Password: ");
    if (password) {
      auto again = readHidden("Reenter password: ");
      if (!again) {
        password = tl::unexpected(again.error());
      } else if (!(*again == *password)) {
        password = fail(0x80, "the passwords do not match");
      }
    }
    ::sigaction(SIGINT, &oldInt, nullptr);
    ::sigaction(SIGTERM, &oldTerm, nullptr);
  } else {
    password = readLine();
  }
  if (password && password->empty()) return fail(0x80, "empty password");
  return password;
}

// -- the file ---------------------------------------------------------------------------------

// Where to write: through a symbolic link to the file it names (as mosquitto_passwd does), so
// that the link stays a link.
fs::path writeTarget(const fs::path& path) {
  std::error_code ec;
  if (fs::is_symlink(path, ec)) {
    fs::path target = fs::weakly_canonical(path, ec);
    if (!ec) return target;
  }
  return path;
}

// Writes `file` over `path` (0600, atomically). The new file belongs to whoever runs this; when
// root edits a file that belonged to someone else (say the broker's user), it is handed back,
// or the broker could no longer read it.
Result<void> save(const security::PasswordFile& file, const fs::path& path) {
  const fs::path target = writeTarget(path);
  struct stat before {};
  const bool existed = ::stat(target.c_str(), &before) == 0;
  MOAT_TRY(file.save(target));
  if (existed && ::geteuid() == 0 &&
      (before.st_uid != ::geteuid() || before.st_gid != ::getegid()) &&
      ::chown(target.c_str(), before.st_uid, before.st_gid) != 0) {
    return fail(0x80,
                fmt::format("{}: written, but cannot give it back to uid {} gid {}: {}",
                            target.string(), before.st_uid, before.st_gid, std::strerror(errno)));
  }
  return {};
}

Result<security::PasswordFile> loadExisting(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return fail(0x80, fmt::format("{}: no such file (-c creates it)", path.string()));
  }
  return security::PasswordFile::load(path);
}

security::HashOptions hashOptions(const PasswdFlags& f) {
  security::HashOptions options;
  options.scheme = f.hash == "argon2id"        ? security::HashScheme::Argon2id
                   : f.hash == "scram-sha-256" ? security::HashScheme::ScramSha256
                                               : security::HashScheme::Pbkdf2Sha512;
  if (f.iterations) {
    options.pbkdf2Iterations = *f.iterations;
    options.scramIterations = *f.iterations;
  }
  return options;
}

// "argon2id", "SCRAM-SHA-256 (4096 iterations)": for the line saying what was written. The
// count is shown for SCRAM because its default is deliberately low.
std::string hashDescription(const PasswdFlags& f) {
  security::HashOptions options = hashOptions(f);
  std::string name(security::schemeName(options.scheme));
  if (options.scheme == security::HashScheme::ScramSha256) {
    name += fmt::format(" ({} iterations)", options.scramIterations);
  }
  return name;
}

// -- the modes --------------------------------------------------------------------------------

int setPassword(const PasswdFlags& f) {
  const fs::path path = f.args[0];
  const std::string& user = f.args[1];
  if (auto ok = security::checkPasswordFileUsername(user); !ok) return report(ok.error().message);
  security::PasswordFile file;
  if (!f.create) {
    auto loaded = loadExisting(path);
    if (!loaded) return report(loaded.error().message);
    file = std::move(*loaded);
  }
  Result<SecretString> password =
      f.batch ? Result<SecretString>(SecretString(f.args[2])) : askPassword();
  if (!password) return report(password.error().message);
  if (password->empty()) return report("empty password");
  auto hash = security::PasswordHash::create(password->view(), hashOptions(f));
  password->wipe();
  if (!hash) return report(hash.error().message);
  const bool existed = file.contains(user);
  if (auto ok = file.set(user, std::move(*hash)); !ok) return report(ok.error().message);
  if (auto ok = save(file, path); !ok) return report(ok.error().message);
  std::printf("%s \"%s\" %s %s, hashed with %s\n",
              existed ? "changed the password of" : "added user", user.c_str(),
              existed ? "in" : "to", path.c_str(), hashDescription(f).c_str());
  return 0;
}

int deleteUser(const PasswdFlags& f) {
  const fs::path path = f.args[0];
  const std::string& user = f.args[1];
  auto file = loadExisting(path);
  if (!file) return report(file.error().message);
  if (!file->remove(user)) {
    return report(fmt::format("{}: no user \"{}\"", path.string(), user));
  }
  if (auto ok = save(*file, path); !ok) return report(ok.error().message);
  std::printf("deleted user \"%s\" from %s\n", user.c_str(), path.c_str());
  return 0;
}

int convertPlainFile(const PasswdFlags& f) {
  const fs::path path = f.args[0];
  std::error_code ec;
  if (!fs::exists(path, ec)) return report(fmt::format("{}: no such file", path.string()));
  auto text = readWholeFile(path);
  if (!text) return report(text.error().message);
  auto converted = security::PasswordFile::hashPlainText(*text, path.string(), hashOptions(f));
  // The plain passwords are no longer needed.
  OPENSSL_cleanse(text->data(), text->size());
  if (!converted) return report(converted.error().message);
  if (converted->hashed > 0) {
    if (auto ok = save(converted->file, path); !ok) return report(ok.error().message);
  }
  std::printf("hashed %zu password%s in %s with %s; %zu line%s held a hash already\n",
              converted->hashed, converted->hashed == 1 ? "" : "s", path.c_str(),
              hashDescription(f).c_str(), converted->kept, converted->kept == 1 ? "" : "s");
  return 0;
}

// The argument count each mode takes, and the combinations mosquitto_passwd refuses.
std::optional<std::string> checkUsage(const PasswdFlags& f) {
  const size_t n = f.args.size();
  if (f.iterations) {
    if (f.remove) return "-I cannot be combined with -D";
    if (f.hash == "argon2id") {
      return "-I sets the iteration count of -H pbkdf2 or -H scram-sha-256 (argon2id has none)";
    }
    if (f.hash == "scram-sha-256" && *f.iterations < security::kMinScramIterations) {
      return fmt::format("-I for scram-sha-256 must be {}..{} (RFC 7677's minimum)",
                         security::kMinScramIterations, security::kMaxScramIterations);
    }
  }
  if (f.convert) {
    if (f.batch || f.create || f.remove) return "-U cannot be combined with -b, -c or -D";
    if (n != 1) return "-U takes the password file only: moat passwd -U FILE";
    return std::nullopt;
  }
  if (f.remove) {
    if (f.batch || f.create) return "-D cannot be combined with -b or -c";
    if (n != 2) return "-D takes the password file and a username: moat passwd -D FILE USER";
    return std::nullopt;
  }
  if (f.batch) {
    if (n != 3) return "-b takes the password file, a username and a password";
    return std::nullopt;
  }
  if (n != 2) return "expected the password file and a username: moat passwd [-c] FILE USER";
  return std::nullopt;
}

const CLI::Validator kHashValidator(
    [](std::string& name) -> std::string {
      if (name == "sha512-pbkdf2") name = "pbkdf2";  // mosquitto_passwd's name for it
      if (name == "SCRAM-SHA-256") name = "scram-sha-256";
      if (name == "argon2id" || name == "pbkdf2" || name == "scram-sha-256") return {};
      if (name == "sha512") {
        return "sha512 ($6$, a single SHA-512) is read but not written: it is too fast to resist "
               "guessing; -H pbkdf2 writes hashes Mosquitto 2.0 reads";
      }
      return "must be argon2id, pbkdf2 or scram-sha-256";
    },
    "argon2id|pbkdf2|scram-sha-256");

}  // namespace

int passwdMain(int argc, char** argv) {
  CLI::App app{
      "Creates and edits Mosquitto-compatible password files (the usage of mosquitto_passwd).\n"
      "  moat passwd [-H HASH] [-I N] [-c | -D] FILE USER\n"
      "  moat passwd -b [-H HASH] [-I N] [-c] FILE USER PASSWORD\n"
      "  moat passwd -U [-H HASH] [-I N] FILE\n"
      "Without -b the password is asked twice on a terminal, or read as one line of stdin.",
      "moat passwd"};
  PasswdFlags f;
  app.add_option("-H", f.hash,
                 "hash to write: argon2id (default), pbkdf2 ($7$, which Mosquitto 2.0 reads too) "
                 "or scram-sha-256 (for MQTT 5.0 SCRAM authentication; Mosquitto skips it)")
      ->transform(kHashValidator);
  app.add_option("-I", f.iterations,
                 "iteration count for pbkdf2 (default 210000) or scram-sha-256 (default 4096)")
      ->check(CLI::Range(1u, security::kMaxPbkdf2Iterations));
  app.add_flag("-b", f.batch,
               "batch mode: the password is the last argument (other local users "
               "can see it in the process list)");
  app.add_flag("-c", f.create, "create a new file, replacing FILE if it exists");
  app.add_flag("-D", f.remove, "delete USER");
  app.add_flag("-U", f.convert,
               "replace the plain-text passwords of a `user:password` file by hashes");
  app.add_option("FILE USER [PASSWORD]", f.args, "the password file, the username, the password");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and "Run with --help"
    return kExitUsage;
  }
  if (auto problem = checkUsage(f)) return usageError(*problem);
  if (f.convert) return convertPlainFile(f);
  if (f.remove) return deleteUser(f);
  return setPassword(f);
}

}  // namespace moat::app
