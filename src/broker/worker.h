// Worker: one thread running one io_context, owning the connections pinned to it and the
// sessions the SessionRegistry assigns to it. All per-connection and per-session state is
// touched only on this thread, so none of it is locked.
//
// Routing: publish() matches a message against the SubscriptionIndex, merges overlapping
// subscriptions per session, delivers at once to sessions of this worker and appends the rest
// to one outbox per destination worker. Outboxes are flushed in one post per worker after the
// current handler (so every PUBLISH decoded from one socket read leaves in one batch).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "broker/deadline_wheel.h"
#include "broker/message.h"
#include "broker/session.h"
#include "broker/subscription_index.h"
#include "net/tls_context.h"

namespace moat::broker {

class AccessControl;
class JwtChecker;

class Broker;
class Connection;
struct ListenerInfo;

// One message for one session, crossing from the publisher's worker to the session's.
struct Delivery {
  std::shared_ptr<Session> session;
  MessagePtr msg;
  uint8_t qos = 0;
  bool retain = false;
  SubscriptionIds subIds;
};

class Worker {
 public:
  Worker(Broker& broker, unsigned index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  Broker& broker() { return broker_; }
  unsigned index() const { return index_; }
  boost::asio::io_context& context() { return context_; }

  void start();
  // Closes every connection (5.0 clients get DISCONNECT 0x8B) and stops the loop. Any thread.
  void stop();
  void join();

  // --- this worker's thread only ---
  std::shared_ptr<Session> findSession(const std::string& clientId);
  std::shared_ptr<Session> createSession(const std::string& clientId);
  // Called by Session::end(): forgets the session and releases its registry entry.
  void forgetSession(Session& session, bool keepClaim);

  // Disconnects this worker's connections on `listener` whose client certificate `tls` revokes,
  // or whose PSK identity `tls` no longer holds with the same key.
  void dropRevoked(const ListenerInfo* listener, const net::TlsContext& tls);
  // Disconnects this worker's connections admitted by a token that no key of `jwt` could check
  // now (its key was removed from the JWKS).
  void dropTokensWithoutKey(const JwtChecker& jwt);
  // After an authorization reload: disconnects the clients the new policy puts in another
  // tenant, and removes the subscriptions of this worker's sessions that the new policy no
  // longer grants (a shared group then stops picking a member that may not receive; deliveries
  // are checked one by one anyway).
  void revokeSubscriptions(const AccessControl& access);
  // Disconnects this worker's connections admitted by password or SCRAM as one of `users`.
  void dropUsers(const std::vector<std::string>& users);

  void addConnection(const std::shared_ptr<Connection>& c);
  void removeConnection(Connection* c);

  // Routes a message to every matching subscription (and stores it if retained).
  // Returns the number of sessions it was routed to. `congested`, when given, receives the
  // congested sessions it was routed to at QoS 1/2 (back-pressure: Session::congested()).
  size_t publish(const MessagePtr& msg, std::vector<Blocker>* congested = nullptr);

  // Back-pressure: connections whose reading is paused until the sessions they feed drain.
  void pauseReader(Connection* c) { paused_.insert(c); }
  void resumeReader(Connection* c) { paused_.erase(c); }
  // Any thread: the paused connections look again whether they may read. Always posted (a
  // count of paused connections read from another thread could be stale), at most one at a
  // time per worker.
  void wakePausedReaders();

  bool stopping() const { return stopping_; }
  // Connection deadlines (the connect timeout, keep-alive checks): `c.onDeadline()` is called
  // once `when` has passed, within a second after it, and not at all if c leaves this worker
  // first. Replaces c's earlier deadline. One timer for the worker instead of one per
  // connection: an idle connection holds no timer and no pending wait (docs/benchmarks.md).
  void scheduleDeadline(Connection& c, std::chrono::steady_clock::time_point when);
  static void cancelDeadline(Connection& c);

  size_t sessionCount() const { return sessions_.size(); }
  size_t connectionCount() const { return connections_.size(); }

 private:
  // Disconnects (5.0: DISCONNECT 0x87) every live connection `why` names a reason for (an
  // empty string: keep it), and logs the reason.
  void dropWhere(const std::function<std::string(const Connection&)>& why);
  void flushOutboxes();
  void receive(std::vector<Delivery>& batch);
  void armDeadlineTick();
  void onDeadlineTick();

  Broker& broker_;
  const unsigned index_;
  boost::asio::io_context context_;
  std::thread thread_;
  // Open addressing, no node per entry, and the entry is only the owning pointer: sessions are
  // found by their client id, connections by their address (docs/benchmarks.md).
  struct SessionId {
    using is_transparent = void;
    static std::string_view of(std::string_view id) { return id; }
    static std::string_view of(const std::shared_ptr<Session>& s) { return s->clientId(); }
    size_t operator()(const auto& k) const { return std::hash<std::string_view>{}(of(k)); }
    bool operator()(const auto& a, const auto& b) const { return of(a) == of(b); }
  };
  struct ConnectionAddress {
    using is_transparent = void;
    static const Connection* of(const Connection* c) { return c; }
    static const Connection* of(const std::shared_ptr<Connection>& c) { return c.get(); }
    size_t operator()(const auto& k) const { return std::hash<const Connection*>{}(of(k)); }
    bool operator()(const auto& a, const auto& b) const { return of(a) == of(b); }
  };
  boost::unordered_flat_set<std::shared_ptr<Session>, SessionId, SessionId> sessions_;
  boost::unordered_flat_set<std::shared_ptr<Connection>, ConnectionAddress, ConnectionAddress>
      connections_;
  std::vector<MatchedSubscription> matches_;     // reused by publish()
  std::vector<std::vector<Delivery>> outboxes_;  // one per worker
  bool flushScheduled_ = false;
  bool stopping_ = false;
  std::unordered_set<Connection*> paused_;
  std::atomic<bool> wakePosted_{false};

  // Connection deadlines (scheduleDeadline()). An entry's connection is looked up in
  // connections_ before it is used: one that left is never touched.
  DeadlineWheel<Connection> deadlines_;
  std::optional<boost::asio::steady_timer> tickTimer_;  // armed while the wheel has entries
};

}  // namespace moat::broker
