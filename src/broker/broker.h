// Broker: the whole server. Owns the workers, the listeners, and the state shared by all
// workers (subscription index, retained store, session registry). Built from a checked Config.
//
// Threads: start()/stop()/wait() from the main thread; the accessors from any worker.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/heap_trim.h"
#include "base/result.h"
#include "broker/access_control.h"
#include "broker/ban_list.h"
#include "broker/jwt_checker.h"
#include "broker/login_guard.h"
#include "broker/password_checker.h"
#include "broker/retained_store.h"
#include "broker/session_registry.h"
#include "broker/subscription_index.h"
#include "config/config.h"
#include "security/audit_log.h"

namespace moat::broker {

class Worker;
struct ListenerRuntime;

// A listener after bind, with the port actually bound (for port 0).
struct BoundListener {
  std::string name;
  std::string address;  // "host:port"
  std::string posture;  // what it accepts, for the start-up report
};

class Broker {
 public:
  explicit Broker(config::Config config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Binds every listener and starts the workers. Fails (and starts nothing) if a bind fails.
  [[nodiscard]] Result<void> start();
  // Stops accepting, disconnects every client, stops the workers. Idempotent.
  void stop();
  // Rebuilds every TLS listener's context from its files (SIGHUP). On success new connections
  // use it and live connections whose certificate a new CRL revokes are disconnected; on error
  // the previous context stays and the log says why. Any thread.
  void reloadTls();
  // Reads the password file and the JWT keys again (SIGHUP, file change): all or nothing;
  // users removed from the password file or whose password changed are disconnected; reopens
  // the audit file. Any thread.
  void reloadCredentials();

  const std::vector<BoundListener>& listeners() const { return bound_; }
  const config::Config& config() const { return config_; }
  const config::LimitsSection& limits() const { return config_.limits; }
  SubscriptionIndex& index() { return index_; }
  RetainedStore& retained() { return retained_; }
  SessionRegistry& registry() { return registry_; }
  // Null unless [auth.password] is configured.
  PasswordChecker* passwords() { return passwords_.get(); }
  // Null unless [auth.jwt] is configured.
  JwtChecker* jwt() { return jwt_.get(); }
  // Null unless [authz] is configured (then every client may do everything).
  AccessControl* access() { return access_.get(); }
  LoginGuard& loginGuard() { return loginGuard_; }
  BanList& bans() { return bans_; }
  // Null unless [audit] file is set.
  security::AuditLog* audit() { return audit_.get(); }
  Worker& worker(unsigned i) { return *workers_[i]; }
  unsigned workerCount() const { return static_cast<unsigned>(workers_.size()); }
  // A session's congestion cleared: every worker's paused publishers look again. Any thread.
  void resumePublishers();
  uint64_t nextSessionUid() { return nextUid_.fetch_add(1, std::memory_order_relaxed); }
  // Counts a retained message refused by limits.max_retained_messages; returns the new total.
  uint64_t noteRetainedRefused() { return retainedRefused_.fetch_add(1) + 1; }

 private:
  void accept(ListenerRuntime& l);
  // Admission before any protocol work: CIDR lists, per-source rate, handshake cap.
  // `peer`: the address accept() gave.
  bool admit(ListenerRuntime& l, const boost::asio::ip::tcp::endpoint& peer);
  // Worker 0's thread only.
  void reloadListener(ListenerRuntime& l);
  void watchTlsFiles();
  // Every kTrimInterval on worker 0: freed heap memory back to the system after a burst.
  void trimHeapLater();
  // Worker 0's thread only.
  void reloadPasswords();
  void reloadJwt();
  void reloadAccess();
  static constexpr std::chrono::seconds kWatchInterval{2};
  static constexpr std::chrono::seconds kTrimInterval{10};
  static constexpr size_t kTrimMinFree = 8 << 20;

  config::Config config_;
  // Declared before the index so they are destroyed after it: the index holds sessions.
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<ListenerRuntime>> runtimes_;
  SubscriptionIndex index_;
  RetainedStore retained_;
  SessionRegistry registry_;
  std::vector<BoundListener> bound_;
  std::unique_ptr<PasswordChecker> passwords_;
  LoginGuard loginGuard_;
  BanList bans_;
  std::unique_ptr<security::AuditLog> audit_;
  std::string passwordSignature_;  // PasswordChecker::signature() at the last (re)load attempt
  std::unique_ptr<JwtChecker> jwt_;
  std::string jwtSignature_;
  std::unique_ptr<AccessControl> access_;
  std::string accessSignature_;
  std::atomic<uint64_t> nextUid_{1};
  std::atomic<uint64_t> retainedRefused_{0};
  std::atomic<unsigned> nextWorker_{0};
  std::unique_ptr<boost::asio::steady_timer> watchTimer_;  // TLS file watch, on worker 0
  std::unique_ptr<boost::asio::steady_timer> trimTimer_;   // on worker 0
  HeapTrimmer trimmer_{kTrimMinFree};                      // worker 0's thread only
  bool started_ = false;
  std::atomic<bool> stopped_{false};  // set by stop(), read by worker 0's timers
};

}  // namespace moat::broker
