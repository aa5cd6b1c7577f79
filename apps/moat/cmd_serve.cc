// `moat serve` and `moat check-config`.
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <climits>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include "apps/moat/commands.h"
#include "base/atomic_file.h"
#include "base/log.h"
#include "broker/broker.h"
#include "config/config.h"
#include "pki/server_identity.h"
#include "security/base64.h"
#include "security/password_file.h"
#include "security/secret_string.h"

namespace moat::app {

namespace {

void setupLogging(const std::string& level) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  log::Level l = log::Level::Info;
  log::parseLevel(level, l);
  log::setLevel(l);
}

std::string localHostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

// The embedded default's TLS listener on 127.0.0.1:8883. Its certificate comes from a private
// CA that is made in DATA_DIR/pki on first run and re-used after, so a client that trusted
// DATA_DIR/pki/ca.crt once keeps working across restarts and certificate renewals.
bool addEmbeddedTlsListener(config::Config& cfg, const std::filesystem::path& dataDir) {
  std::filesystem::path dir = std::filesystem::absolute(dataDir / "pki");
  auto files = pki::ensureServerIdentity(dir, localHostName());
  if (!files) {
    log::error("embedded default: cannot set up the TLS listener's certificate: {}",
               files.error().message);
    return false;
  }
  if (files->createdCa) log::info("embedded default: created a private CA in {}", dir.string());
  if (!files->issuedBecause.empty()) {
    log::info("embedded default: issued server certificate {} (serial {}) because {}",
              files->cert.string(), files->serial, files->issuedBecause);
  }
  config::Listener tls;
  tls.name = "tls";
  tls.bind = "127.0.0.1:8883";
  tls.host = "127.0.0.1";
  tls.port = 8883;
  tls.transport = config::Transport::Tls;
  tls.auth = cfg.listeners.front().auth;
  tls.tls = config::TlsSection{};
  tls.tls->cert = files->cert.string();
  tls.tls->key = files->key.string();
  tls.tls->clientCert = "none";
  cfg.listeners.push_back(std::move(tls));
  log::info(
      "embedded default: TLS on 127.0.0.1:8883 with a certificate from the CA {}; clients "
      "trust it with e.g. mosquitto_pub --cafile {} -h localhost -p 8883 -t test -m hello",
      files->caCert.string(), files->caCert.string());
  return true;
}

// The embedded default's password file: on first run, DATA_DIR/passwd with one user "admin"
// and a random password, which is written to DATA_DIR/admin.password (0600, like the CA key)
// for the operator to read once -- never to the log.
bool ensureEmbeddedAdmin(const config::Config& cfg, const std::filesystem::path& dataDir) {
  const std::filesystem::path passwd = std::filesystem::absolute(cfg.authPassword->file);
  if (std::filesystem::exists(passwd)) return true;
  unsigned char raw[18];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    log::error("embedded default: no random bytes for the admin password");
    return false;
  }
  std::string password =
      security::encodeBase64(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw),
                             security::Base64Padding::Omitted);
  OPENSSL_cleanse(raw, sizeof raw);
  for (char& c : password) c = c == '+' ? '-' : c == '/' ? '_' : c;  // shell- and URL-safe
  security::SecretString secret(password);
  OPENSSL_cleanse(password.data(), password.size());
  auto hash = security::PasswordHash::create(secret.view());
  security::PasswordFile file;
  if (!hash || !file.set("admin", std::move(*hash))) {
    log::error("embedded default: cannot make the admin user");
    return false;
  }
  const std::filesystem::path shown = std::filesystem::absolute(dataDir / "admin.password");
  std::string text(secret.view());
  text += '\n';
  auto written = writeFileAtomically(shown, text, 0600);
  OPENSSL_cleanse(text.data(), text.size());
  if (!written) {
    log::error("embedded default: {}", written.error().message);
    return false;
  }
  if (auto saved = file.save(passwd); !saved) {
    log::error("embedded default: {}", saved.error().message);
    return false;
  }
  log::info(
      "embedded default: created user \"admin\" in {}; its password is in {} (readable by you "
      "only): log in with -u admin -P \"$(cat {})\", add users with `moat passwd {} NAME`, "
      "then delete {}",
      passwd.string(), shown.string(), shown.string(), passwd.string(), shown.string());
  return true;
}

}  // namespace

int serveMain(int argc, char** argv) {
  CLI::App app{"Run the Moat MQTT broker", "moat serve"};
  std::string configPath;
  std::string logLevel;
  app.add_option("-c,--config", configPath, "configuration file (TOML); none = embedded default");
  app.add_option("--log-level", logLevel, "trace|debug|info|warn|error (overrides the config)");
  CLI11_PARSE(app, argc, argv);

  auto cfg = configPath.empty() ? Result<config::Config>(config::embeddedDefault())
                                : config::loadFile(configPath);
  if (!cfg) {
    std::fprintf(stderr, "moat serve: %s\n", cfg.error().message.c_str());
    return 2;
  }
  setupLogging(logLevel.empty() ? cfg->broker.logLevel : logLevel);
  log::info("moat 0.1.0 starting with configuration {}", cfg->source);

  // The data directory holds the broker's state; only its owner may read it.
  std::error_code ec;
  std::filesystem::path dataDir = cfg->broker.dataDir;
  bool created = std::filesystem::create_directories(dataDir, ec);
  if (ec) {
    log::error("data directory \"{}\": {}", dataDir.string(), ec.message());
    return 1;
  }
  if (created) {
    std::filesystem::permissions(dataDir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  log::info("data directory {}", std::filesystem::absolute(dataDir, ec).string());
  if (configPath.empty() &&
      (!ensureEmbeddedAdmin(*cfg, dataDir) || !addEmbeddedTlsListener(*cfg, dataDir))) {
    return 1;
  }

  // Catch SIGINT/SIGTERM before anything is announced, so a signal right after the
  // "listening" line stops the broker cleanly instead of killing it.
  boost::asio::io_context signals;
  boost::asio::signal_set set(signals, SIGINT, SIGTERM, SIGHUP);
  std::signal(SIGPIPE, SIG_IGN);

  broker::Broker broker(std::move(*cfg));
  if (auto started = broker.start(); !started) {
    log::error("{}", started.error().message);
    return 1;
  }
  log::info("{} worker thread(s)", broker.workerCount());
  for (const auto& l : broker.listeners()) {
    log::info("listener \"{}\" listening on {} ({})", l.name, l.address, l.posture);
  }

  // The main thread only waits for signals: SIGHUP reloads the TLS files, SIGINT/SIGTERM stop.
  std::function<void(const boost::system::error_code&, int)> onSignal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          log::info(
              "received SIGHUP: reloading TLS certificates, keys and CRLs, the password file "
              "and JWT keys; reopening the audit file");
          broker.reloadTls();
          broker.reloadCredentials();
          set.async_wait(onSignal);
          return;
        }
        log::info("received signal {}, shutting down", sig);
      };
  set.async_wait(onSignal);
  signals.run();
  broker.stop();
  log::info("stopped");
  return 0;
}

int checkConfigMain(int argc, char** argv) {
  CLI::App app{"Validate a Moat configuration file", "moat check-config"};
  std::string configPath;
  app.add_option("file", configPath, "configuration file (TOML)")->required();
  CLI11_PARSE(app, argc, argv);
  auto cfg = config::loadFile(configPath);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", cfg.error().message.c_str());
    return 1;
  }
  std::printf("%s: OK (%zu listener%s)\n", configPath.c_str(), cfg->listeners.size(),
              cfg->listeners.size() == 1 ? "" : "s");
  return 0;
}

}  // namespace moat::app
