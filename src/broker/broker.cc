#include "broker/broker.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <future>
#include <optional>
#include <thread>

#include "base/atomic_file.h"
#include "base/file_signature.h"
#include "base/log.h"
#include "broker/connection.h"
#include "broker/listener_info.h"
#include "broker/worker.h"
#include "net/admission.h"
#include "net/tls_context.h"

namespace moat::broker {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

net::TlsSettings tlsSettings(const config::TlsSection& t) {
  net::TlsSettings s;
  s.cert = t.cert;
  s.key = t.key;
  s.ca = t.ca;
  s.clientCert = t.clientCert == "require"    ? net::ClientCertMode::Require
                 : t.clientCert == "optional" ? net::ClientCertMode::Optional
                                              : net::ClientCertMode::None;
  s.minVersion = t.minVersion;
  s.maxVersion = t.maxVersion;
  if (t.ciphers) s.ciphers = *t.ciphers;
  if (t.ciphersuites) s.ciphersuites = *t.ciphersuites;
  if (t.groups) s.groups = *t.groups;
  s.verifyDepth = t.verifyDepth;
  s.sessionResumption = t.sessionResumption;
  s.crl = t.crl;
  s.crlStale = t.crlStale;
  s.pskFile = t.pskFile;
  s.pskHint = t.pskHint;
  s.ocspResponse = t.ocspResponse;
  for (const auto& e : t.sni) {
    s.sni.push_back(net::TlsSniSettings{e.names, e.cert, e.key, e.ocspResponse});
  }
  s.sniStrict = t.sniStrict;
  return s;
}

}  // namespace

// What the files a TLS listener uses look like (mtime and size), to notice changes.
net::IpAddress toIp(const asio::ip::address& a) {
  if (a.is_v4()) return net::IpAddress::v4(a.to_v4().to_bytes());
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return net::IpAddress::v4(v6.to_v4().to_bytes());
  return net::IpAddress::v6(v6.to_bytes());
}

net::AdmissionSettings admissionSettings(const config::Listener& l) {
  net::AdmissionSettings s;
  for (const auto& c : l.allow) s.allow.push_back(*net::Cidr::parse(c));  // checked by config
  for (const auto& c : l.deny) s.deny.push_back(*net::Cidr::parse(c));
  s.ratePerSecond = l.maxConnectionRate;
  return s;
}

struct ListenerRuntime {
  config::Listener cfg;
  std::unique_ptr<net::AdmissionControl> admission;
  std::string tlsFiles;  // fileSignature() at the last (re)load attempt
  std::shared_ptr<ListenerInfo> info;
  tcp::acceptor acceptor;
  // The connection being accepted (one accept at a time), on the worker it goes to.
  std::optional<Connection::Socket> socket;
  tcp::endpoint peer;
  asio::steady_timer backoff;
  ListenerRuntime(asio::io_context& ctx) : acceptor(ctx), backoff(ctx) {}
};

namespace {

LoginGuardSettings loginGuardSettings(const config::BruteForceSection& b) {
  LoginGuardSettings s;
  s.maxFailures = b.maxFailures;
  s.window = std::chrono::seconds(b.window);
  s.banTime = std::chrono::seconds(b.banTime);
  s.firstDelay = std::chrono::milliseconds(b.firstDelayMs);
  s.maxDelay = std::chrono::milliseconds(b.maxDelayMs);
  return s;
}

}  // namespace

Broker::Broker(config::Config config)
    : config_(std::move(config)),
      retained_(config_.limits.maxRetainedMessages),
      loginGuard_(loginGuardSettings(config_.bruteForce)) {
  unsigned n = config_.broker.workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
}

Broker::~Broker() { stop(); }

namespace {

// The secret behind the fake SCRAM salts of unknown users, kept in DATA_DIR/scram.secret (made
// on first use, 0600) so they stay the same across restarts, as real users' salts do.
Result<std::string> scramSecret(const std::string& dataDir) {
  const std::filesystem::path path = std::filesystem::path(dataDir) / "scram.secret";
  if (std::filesystem::exists(path)) {
    auto text = readWholeFile(path);
    if (!text) return tl::unexpected(text.error());
    if (text->size() >= 32) return text;
    return fail(0x80, fmt::format("{}: too short (delete it to make a new one)", path.string()));
  }
  auto fresh = security::ScramServer::newSecret();
  if (!fresh) return tl::unexpected(fresh.error());
  std::string secret(fresh->view());
  if (auto ok = ensurePrivateDirectory(dataDir); !ok) return tl::unexpected(ok.error());
  if (auto ok = writeFileAtomically(path, secret, 0600); !ok) return tl::unexpected(ok.error());
  return secret;
}

// The listener's authentication chain: as configured, or derived from the older keys.
std::vector<std::string> authChain(const config::Listener& l, const config::Config& cfg) {
  if (!l.auth.empty()) return l.auth;
  std::vector<std::string> chain;
  if (l.tls && l.tls->identity != "none") chain = {"certificate", "psk"};
  if (cfg.authPassword) chain.push_back("password");
  if (l.allowAnonymous) chain.push_back("anonymous");
  return chain;
}

}  // namespace

namespace {

// "authentication by password, then anonymous clients allowed", for the start-up line.
std::string authPosture(const std::vector<std::string>& chain) {
  std::vector<std::string> methods;
  bool anonymous = false;
  for (const auto& m : chain) {
    if (m == "anonymous") {
      anonymous = true;
    } else {
      methods.push_back(m);
    }
  }
  if (methods.empty()) {
    return anonymous ? "anonymous clients allowed"
                     : "anonymous clients refused (no authentication method is configured, so "
                       "every client is refused)";
  }
  return fmt::format("authentication by {}, anonymous clients {}", fmt::join(methods, " then "),
                     anonymous ? "allowed" : "refused");
}

}  // namespace

Result<void> Broker::start() {
  std::vector<BanList::Entry> bans;
  for (const auto& b : config_.bans) {
    BanList::Entry e;
    e.kind = !b.address.empty()    ? BanList::Kind::Address
             : !b.username.empty() ? BanList::Kind::Username
                                   : BanList::Kind::ClientId;
    e.value = !b.address.empty() ? b.address : !b.username.empty() ? b.username : b.clientId;
    if (b.until) e.until = BanList::Clock::from_time_t(b.until);
    e.reason = b.reason;
    bans.push_back(std::move(e));
  }
  MOAT_TRY(bans_.replace(std::move(bans)));
  if (!config_.audit.file.empty()) {
    auto audit = security::AuditLog::open(config_.audit.file);
    if (!audit) return tl::unexpected(audit.error());
    audit_ = std::move(*audit);
    log::info("audit events to {}",
              config_.audit.file == "-" ? "standard output" : config_.audit.file);
  }
  if (!config_.bans.empty()) log::info("ban list: {} entries", config_.bans.size());
  if (config_.authPassword) {
    auto secret = scramSecret(config_.broker.dataDir);
    if (!secret) return tl::unexpected(secret.error());
    auto checker = PasswordChecker::create(*config_.authPassword, *secret);
    OPENSSL_cleanse(secret->data(), secret->size());
    if (!checker) return tl::unexpected(checker.error());
    passwords_ = std::move(*checker);
    passwordSignature_ = passwords_->signature();
    log::info("password file {} ({} user{})", passwords_->path(), passwords_->users(),
              passwords_->users() == 1 ? "" : "s");
  }
  if (config_.authJwt) {
    auto jwt = JwtChecker::create(*config_.authJwt);
    if (!jwt) return tl::unexpected(jwt.error());
    jwt_ = std::move(*jwt);
    jwtSignature_ = jwt_->signature();
    log::info("JWT keys from {} ({} key{})", jwt_->path(), jwt_->keyCount(),
              jwt_->keyCount() == 1 ? "" : "s");
  }
  if (config_.authz) {
    auto access = AccessControl::create(*config_.authz);
    if (!access) return tl::unexpected(access.error());
    access_ = std::move(*access);
    accessSignature_ = access_->signature();
    log::info("authorization: {} rule{} from {}{}", access_->ruleCount(),
              access_->ruleCount() == 1 ? "" : "s", access_->files(),
              access_->disconnectOnViolation() ? " (a violation disconnects the client)" : "");
  } else {
    log::warn(
        "authorization: no [authz] section: every client that is admitted may publish and "
        "subscribe to every topic");
  }
  // Acceptors live on worker 0 and hand sockets round-robin to every worker.
  for (const auto& l : config_.listeners) {
    auto rt = std::make_unique<ListenerRuntime>(workers_[0]->context());
    rt->cfg = l;
    rt->info = std::make_shared<ListenerInfo>();
    rt->info->name = l.name;
    rt->info->auth = authChain(l, config_);
    rt->info->maxHandshakes = l.maxHandshakes;
    rt->info->clientIdMustEqual = l.clientIdMustEqual;
    if (l.tls) {
      rt->info->identity = l.tls->identity;
      rt->info->identityAs = l.tls->identityAs;
      rt->info->pinSpki = l.tls->pinSpki;
    }
    auto admission = admissionSettings(l);
    std::string wsPosture;
    if (l.websocket) {
      auto ws = std::make_shared<net::WsSettings>();
      ws->path = l.websocket->path;
      ws->origins = l.websocket->origins;
      for (const auto& c : l.websocket->trustedProxies) {
        ws->trustedProxies.push_back(*net::Cidr::parse(c));  // checked by config
      }
      ws->maxFrameSize = l.websocket->maxFrameSize;
      ws->allow = admission.allow;
      ws->deny = admission.deny;
      rt->info->ws = std::move(ws);
      wsPosture = fmt::format("path {}, {}, {}", l.websocket->path,
                              l.websocket->origins.empty()
                                  ? std::string("any origin")
                                  : fmt::format("origins {}", fmt::join(l.websocket->origins, " ")),
                              l.websocket->trustedProxies.empty()
                                  ? std::string("X-Forwarded-For ignored")
                                  : fmt::format("X-Forwarded-For from {}",
                                                fmt::join(l.websocket->trustedProxies, " ")));
    }
    rt->admission = std::make_unique<net::AdmissionControl>(std::move(admission));
    std::string tlsPosture;
    if (l.tls) {
      auto settings = tlsSettings(*l.tls);
      auto ctx = net::TlsContext::create(settings, l.name);
      if (!ctx) return tl::unexpected(ctx.error());
      rt->info->tls.store(*ctx);
      rt->tlsFiles = fileSignature((*ctx)->files());
      tlsPosture = fmt::format(
          "TLS {}-{}, client certificates {}{}{}{}, certificate {}", l.tls->minVersion,
          l.tls->maxVersion,
          l.tls->clientCert == "require"    ? "required"
          : l.tls->clientCert == "optional" ? "optional"
                                            : "not requested",
          l.tls->crl.empty() ? "" : fmt::format(", {} CRL file(s)", l.tls->crl.size()),
          l.tls->pskFile.empty() ? "" : ", PSK",
          l.tls->sni.empty() ? ""
                             : fmt::format(", {} SNI certificate(s){}", l.tls->sni.size(),
                                           l.tls->sniStrict ? " (strict)" : ""),
          l.tls->cert.empty() ? "none (PSK only)" : (*ctx)->certificateSummary());
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(l.host, ec);
    if (ec) {
      return fail(0x80, fmt::format("listener \"{}\": bind address \"{}\" is not an IP address",
                                    l.name, l.host));
    }
    tcp::endpoint ep(address, l.port);
    rt->acceptor.open(ep.protocol(), ec);
    if (!ec) rt->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && address.is_v6()) rt->acceptor.set_option(asio::ip::v6_only(true), ec);
    if (!ec) rt->acceptor.bind(ep, ec);
    if (!ec) rt->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return fail(0x80, fmt::format("listener \"{}\": cannot listen on {}: {}", l.name, l.bind,
                                    ec.message()));
    }
    auto local = rt->acceptor.local_endpoint();
    std::string host = local.address().to_string();
    if (local.address().is_v6()) host = "[" + host + "]";
    std::string address_s = fmt::format("{}:{}", host, local.port());
    std::string who;
    if (l.tls && l.tls->identity != "none") {
      who = fmt::format(
          "clients identified by their {} ({}), ",
          l.tls->identity == "cn"        ? "certificate CN"
          : l.tls->identity == "subject" ? "certificate subject"
                                         : "certificate " + l.tls->identity,
          l.tls->identityAs == "both" ? "as username and client id" : "as " + l.tls->identityAs);
    }
    std::string posture = fmt::format("{}{}{}, {}{}", config::transportName(l.transport),
                                      wsPosture.empty() ? "" : " (" + wsPosture + ")",
                                      tlsPosture.empty() ? "" : " (" + tlsPosture + ")", who,
                                      authPosture(rt->info->auth));
    bound_.push_back(BoundListener{l.name, address_s, posture});
    runtimes_.push_back(std::move(rt));
  }
  for (auto& rt : runtimes_) accept(*rt);
  for (auto& w : workers_) w->start();
  started_ = true;
  watchTlsFiles();
  trimHeapLater();
  return {};
}

void Broker::reloadTls() {
  asio::post(workers_[0]->context(), [this] {
    for (auto& rt : runtimes_) {
      if (rt->cfg.tls) reloadListener(*rt);
    }
  });
}

void Broker::reloadListener(ListenerRuntime& rt) {
  auto current = rt.info->tls.load();
  rt.tlsFiles = fileSignature(current->files());
  auto ctx = net::TlsContext::create(tlsSettings(*rt.cfg.tls), rt.cfg.name);
  if (!ctx) {
    std::string why = ctx.error().message;
    std::string prefix = fmt::format("listener \"{}\": ", rt.cfg.name);
    if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    log::error("listener \"{}\": TLS reload failed, keeping the previous settings: {}", rt.cfg.name,
               why);
    return;
  }
  rt.info->tls.store(*ctx);
  log::info("listener \"{}\": TLS reloaded ({})", rt.cfg.name, (*ctx)->certificateDetails());
  if (rt.cfg.tls->crl.empty() && rt.cfg.tls->pskFile.empty()) return;
  // A new CRL or PSK file applies to live sessions too: each worker drops the connections
  // whose certificate it revokes or whose PSK it no longer holds.
  for (auto& w : workers_) {
    asio::post(w->context(),
               [w = w.get(), info = rt.info.get(), ctx = *ctx] { w->dropRevoked(info, *ctx); });
  }
}

void Broker::reloadCredentials() {
  if (audit_) {
    if (auto r = audit_->reopen(); !r) {
      log::error("{}; still writing to the file opened before", r.error().message);
    }
  }
  asio::post(workers_[0]->context(), [this] {
    if (passwords_) reloadPasswords();
    if (jwt_) reloadJwt();
    if (access_) reloadAccess();
  });
}

void Broker::reloadAccess() {
  accessSignature_ = access_->signature();
  if (auto r = access_->reload(); !r) {
    log::error("authorization reload failed, keeping the rules in force: {}", r.error().message);
    return;
  }
  log::info("authorization rules {} reloaded ({} rule{})", access_->files(), access_->ruleCount(),
            access_->ruleCount() == 1 ? "" : "s");
  for (auto& w : workers_) {
    asio::post(w->context(), [worker = w.get(), access = access_.get()] {
      worker->revokeSubscriptions(*access);
    });
  }
}

void Broker::reloadJwt() {
  jwtSignature_ = jwt_->signature();
  if (auto r = jwt_->reload(); !r) {
    log::warn("JWT keys reload failed, keeping the previous keys: {}", r.error().message);
    return;
  }
  log::info("JWT keys {} reloaded ({} key{})", jwt_->path(), jwt_->keyCount(),
            jwt_->keyCount() == 1 ? "" : "s");
  // A key taken out of the set takes the connections it admitted with it.
  for (auto& w : workers_) {
    asio::post(w->context(),
               [worker = w.get(), jwt = jwt_.get()] { worker->dropTokensWithoutKey(*jwt); });
  }
}

void Broker::reloadPasswords() {
  passwordSignature_ = passwords_->signature();
  auto gone = passwords_->reload();
  if (!gone) {
    log::warn("password file reload failed, keeping the previous users: {}", gone.error().message);
    return;
  }
  log::info("password file {} reloaded ({} user{}{})", passwords_->path(), passwords_->users(),
            passwords_->users() == 1 ? "" : "s",
            gone->empty() ? std::string() : fmt::format(", {} removed or changed", gone->size()));
  if (gone->empty()) return;
  auto users = std::make_shared<const std::vector<std::string>>(std::move(*gone));
  for (auto& w : workers_) {
    asio::post(w->context(), [worker = w.get(), users] { worker->dropUsers(*users); });
  }
}

void Broker::watchTlsFiles() {
  bool any = passwords_ != nullptr || jwt_ != nullptr || access_ != nullptr;
  for (auto& rt : runtimes_) any = any || rt->cfg.tls.has_value();
  if (!any) return;
  watchTimer_ = std::make_unique<asio::steady_timer>(workers_[0]->context(), kWatchInterval);
  watchTimer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    for (auto& rt : runtimes_) {
      if (!rt->cfg.tls) continue;
      auto current = rt->info->tls.load();
      if (fileSignature(current->files()) != rt->tlsFiles) {
        log::info("listener \"{}\": TLS files changed; reloading", rt->cfg.name);
        reloadListener(*rt);
      }
    }
    if (passwords_ && passwords_->signature() != passwordSignature_) {
      log::info("password file {} changed; reloading", passwords_->path());
      reloadPasswords();
    }
    if (access_ && access_->signature() != accessSignature_) {
      log::info("authorization rules {} changed; reloading", access_->files());
      reloadAccess();
    }
    if (jwt_ && jwt_->signature() != jwtSignature_) {
      log::info("JWT keys {} changed; reloading", jwt_->path());
      reloadJwt();
    }
    watchTlsFiles();
  });
}

void Broker::trimHeapLater() {
  trimTimer_ = std::make_unique<asio::steady_timer>(workers_[0]->context(), kTrimInterval);
  trimTimer_->async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    // A connection storm's TLS state, freed, otherwise stays resident in the workers' arenas.
    // The trim locks each arena in turn (a few milliseconds for tens of MiB), after a burst.
    if (auto t = trimmer_.trimIfMostlyFree(); t.trimmed) {
      constexpr double kMiB = 1 << 20;
      log::info(
          "memory: freed heap given back to the system: resident {:.1f} -> {:.1f} MiB "
          "({:.1f} MiB in use)",
          t.before.resident / kMiB, t.after.resident / kMiB, t.after.inUse / kMiB);
    }
    trimHeapLater();
  });
}

void Broker::accept(ListenerRuntime& l) {
  unsigned target = nextWorker_.fetch_add(1, std::memory_order_relaxed) % workerCount();
  Worker& w = *workers_[target];
  l.socket.emplace(w.context());
  l.acceptor.async_accept(
      *l.socket, l.peer, [this, &l, &w](boost::system::error_code ec) {
        // (Moved out first: a connection accepted just as the broker stops is closed here.)
        Connection::Socket socket = std::move(*l.socket);
        l.socket.reset();
        if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
        if (ec) {
          // Out of descriptors or similar: say so and pause briefly instead of spinning.
          log::warn("listener \"{}\": accept failed: {}", l.cfg.name, ec.message());
          l.backoff.expires_after(std::chrono::milliseconds(100));
          l.backoff.async_wait([this, &l](boost::system::error_code e) {
            if (!e) accept(l);
          });
          return;
        }
        if (!admit(l, l.peer)) {
          boost::system::error_code ignored;
          socket.close(ignored);
          accept(l);
          return;
        }
        asio::post(w.context(),
                   [&w, info = l.info, s = std::move(socket), peer = l.peer]() mutable {
                     auto c = std::make_shared<Connection>(w, std::move(s), peer, info);
                     w.addConnection(c);
                     c->start();
                   });
        accept(l);
      });
}

bool Broker::admit(ListenerRuntime& l, const tcp::endpoint& ep) {
  auto ip = toIp(ep.address());
  auto now = net::AdmissionControl::Clock::now();
  const char* why = nullptr;
  switch (l.admission->check(ip, now)) {
    case net::AdmissionControl::Verdict::Admit:
      break;
    case net::AdmissionControl::Verdict::Denied:
      why = "address not allowed (listener allow/deny)";
      break;
    case net::AdmissionControl::Verdict::RateLimited:
      why = "too many connections from this address (max_connection_rate)";
      break;
  }
  if (!why && l.info->maxHandshakes > 0 &&
      l.info->handshakes.load(std::memory_order_relaxed) >= l.info->maxHandshakes) {
    why = "too many TLS handshakes in progress (max_handshakes)";
  }
  if (!why) return true;
  if (l.admission->shouldLog(ip, now)) {
    log::warn(
        "{}:{} on listener \"{}\": connection refused before any handshake: {} "
        "(further refusals of this address are counted, logged at most once a minute)",
        ep.address().to_string(), ep.port(), l.cfg.name, why);
    if (audit_) {
      // Throttled like the log line: a flood must not turn into a flood of disk writes.
      security::ConnectionEvent e;
      e.time = std::chrono::system_clock::now();
      e.listener = l.cfg.name;
      e.transport = std::string(config::transportName(l.cfg.transport));
      e.remoteAddress = ep.address().to_string();
      e.remotePort = ep.port();
      e.stage = "admission";
      e.reason = "Connection refused";
      e.detail = why;
      audit_->write(e);
    }
  }
  return false;
}

void Broker::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  // Close the acceptors on their own thread, then stop every worker.
  std::promise<void> closed;
  asio::post(workers_[0]->context(), [this, &closed] {
    for (auto& rt : runtimes_) {
      boost::system::error_code ec;
      rt->acceptor.close(ec);
      rt->backoff.cancel();
    }
    watchTimer_.reset();
    trimTimer_.reset();
    closed.set_value();
  });
  closed.get_future().wait();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  if (passwords_) passwords_->stop();
}

void Broker::resumePublishers() {
  for (auto& w : workers_) w->wakePausedReaders();
}

}  // namespace moat::broker
