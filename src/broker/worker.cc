#include "broker/worker.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <future>

#include "base/log.h"
#include "broker/access_control.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/jwt_checker.h"
#include "mqtt/topic.h"

namespace moat::broker {

namespace asio = boost::asio;

Worker::Worker(Broker& broker, unsigned index)
    : broker_(broker), index_(index), context_(1), deadlines_(std::chrono::steady_clock::now()) {}

Worker::~Worker() { join(); }

void Worker::start() {
  outboxes_.resize(broker_.workerCount());
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(context_);
    // Library exceptions stop at the thread entry: log them and keep the loop running.
    while (true) {
      try {
        context_.run();
        break;
      } catch (const std::exception& e) {
        log::error("worker {}: unexpected exception: {}", index_, e.what());
      }
    }
  });
}

void Worker::stop() {
  asio::post(context_, [this] {
    stopping_ = true;
    // Copy: closing a connection removes it from the map.
    std::vector<std::shared_ptr<Connection>> all;
    for (const auto& c : connections_) all.push_back(c);
    for (auto& c : all) c->close(mqtt::ReasonCode::ServerShuttingDown, "broker shutting down");
    for (const auto& s : sessions_) {
      s->cancelExpiry();
      s->cancelPendingWill();
    }
  });
  // Give pending DISCONNECTs a moment to be written, then stop the loop.
  asio::post(context_, [this] {
    auto timer = std::make_shared<asio::steady_timer>(context_, std::chrono::milliseconds(200));
    timer->async_wait([this, timer](boost::system::error_code) { context_.stop(); });
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<Session> Worker::findSession(const std::string& clientId) {
  auto it = sessions_.find(clientId);
  return it == sessions_.end() ? nullptr : *it;
}

std::shared_ptr<Session> Worker::createSession(const std::string& clientId) {
  auto s = std::make_shared<Session>(*this, clientId, broker_.nextSessionUid());
  const auto& limits = broker_.limits();
  s->setLimits(limits.maxQueuedMessages, limits.maxQueuedBytes, limits.publisherWait > 0);
  // Replaces a session being ended under the same id; the key must be the new one's.
  sessions_.erase(clientId);
  sessions_.insert(s);
  return s;
}

void Worker::forgetSession(Session& session, bool keepClaim) {
  auto it = sessions_.find(session.clientId());
  if (it != sessions_.end() && it->get() == &session) {
    sessions_.erase(it);
    if (!keepClaim) broker_.registry().release(session.clientId(), index_);
  }
}

void Worker::dropWhere(const std::function<std::string(const Connection&)>& why) {
  // Collected first: close() changes connections_.
  std::vector<std::pair<std::shared_ptr<Connection>, std::string>> gone;
  for (const auto& c : connections_) {
    if (c->closing()) continue;
    if (std::string reason = why(*c); !reason.empty()) gone.emplace_back(c, std::move(reason));
  }
  for (auto& [c, reason] : gone) {
    log::warn("client \"{}\" {}: {}; disconnecting", c->clientId(), c->peer(), reason);
    c->close(mqtt::ReasonCode::NotAuthorized, reason);
  }
}

void Worker::dropRevoked(const ListenerInfo* listener, const net::TlsContext& tls) {
  dropWhere([&](const Connection& c) -> std::string {
    if (c.listener() != listener || !c.tls() || !c.tls()->handshakeDone()) return {};
    const auto& facts = c.tls()->facts();
    if (c.tls()->revokedBy(tls)) {
      return fmt::format("client certificate serial {} revoked by the reloaded CRL",
                         facts.peer().serial);
    }
    if (c.tls()->pskRevokedBy(tls)) {
      return fmt::format("PSK identity \"{}\" was removed from the PSK file or its key changed",
                         facts.pskIdentity);
    }
    return {};
  });
}

void Worker::dropUsers(const std::vector<std::string>& users) {
  dropWhere([&](const Connection& c) -> std::string {
    if (c.authMethod() != "password" && c.authMethod() != "scram") return {};
    if (std::find(users.begin(), users.end(), c.authUser()) == users.end()) return {};
    return fmt::format("user \"{}\" was removed from the password file or its password changed",
                       c.authUser());
  });
}

void Worker::dropTokensWithoutKey(const JwtChecker& jwt) {
  dropWhere([&](const Connection& c) -> std::string {
    if (c.authMethod() != "jwt" || jwt.hasKeyFor(c.tokenKid(), c.tokenAlg())) return {};
    return fmt::format("the key of its token ({}, kid \"{}\") is no longer in the JWT keys",
                       c.tokenAlg(), c.tokenKid());
  });
}

void Worker::revokeSubscriptions(const AccessControl& access) {
  // A client the new policy puts in another tenant (or none) would keep publishing into the old
  // one's topics: it is disconnected, and its next connection starts under the new mount point.
  dropWhere([&](const Connection& c) -> std::string {
    if (!c.subject()) return {};
    auto tenant = access.tenantOf(*c.subject());
    if (!tenant) return "its tenant is no longer clear: " + tenant.error().message;
    const std::string mount = *tenant ? (*tenant)->mount : std::string();
    if (mount == c.mount()) return {};
    return fmt::format("the reloaded policy moved it from mount point \"{}\" to \"{}\"", c.mount(),
                       mount);
  });
  for (const auto& session : sessions_) {
    const std::string& id = session->clientId();
    const auto* who = session->subject();
    if (!who) continue;
    auto& records = session->subscriptions();
    for (auto it = records.begin(); it != records.end();) {
      auto d = access.checkSubscribe(*who, it->first);
      if (d.allowed) {
        // A lower max_qos now: the subscription is granted at most that from here on.
        if (auto& options = it->second.options; options.qos > d.maxQos) {
          options.qos = d.maxQos;
          const Session::IndexedFilter f = session->indexed(it->first);
          broker_.index().subscribe(f.filter, f.group, session, options, it->second.subscriptionId);
          log::info("client \"{}\": subscription \"{}\" now at QoS {} (max_qos)", id, it->first,
                    d.maxQos);
        }
        ++it;
        continue;
      }
      session->unindex(it->first);
      log::info("client \"{}\": subscription \"{}\" removed: {}", id, it->first, d.explain());
      it = records.erase(it);
    }
  }
}

void Worker::addConnection(const std::shared_ptr<Connection>& c) { connections_.insert(c); }

void Worker::scheduleDeadline(Connection& c, std::chrono::steady_clock::time_point when) {
  c.setDeadlineTick(deadlines_.schedule(&c, when));
  if (!tickTimer_) armDeadlineTick();
}

void Worker::cancelDeadline(Connection& c) { c.setDeadlineTick(0); }

void Worker::armDeadlineTick() {
  if (stopping_) return;
  tickTimer_.emplace(context_, deadlines_.nextTick());
  tickTimer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) onDeadlineTick();
  });
}

void Worker::onDeadlineTick() {
  tickTimer_.reset();
  deadlines_.advance(
      std::chrono::steady_clock::now(),
      [this](Connection* c) -> uint64_t {
        return connections_.contains(c) ? c->deadlineTick() : 0;
      },
      [this](Connection* c) {
        auto it = connections_.find(c);
        if (it == connections_.end()) return;  // advance() asked current() first: not reached
        c->setDeadlineTick(0);
        // onDeadline() may close it, and closing removes it from connections_.
        std::shared_ptr<Connection> keep = *it;
        // One connection's failure must not end the others' deadlines (nor reach run()).
        try {
          c->onDeadline();
        } catch (const std::exception& e) {
          log::error("client \"{}\" {}: unexpected exception at its deadline: {}; closing",
                     c->clientId(), c->peer(), e.what());
          c->close(mqtt::ReasonCode::UnspecifiedError, "internal error");
        }
      });
  if (!tickTimer_ && deadlines_.size() > 0) armDeadlineTick();
}

void Worker::removeConnection(Connection* c) {
  connections_.erase(c);
  resumeReader(c);
}

void Worker::wakePausedReaders() {
  if (wakePosted_.exchange(true, std::memory_order_acq_rel)) return;  // one post is enough
  asio::post(context_, [this] {
    // Acquires what the wakers stored before their exchange (a cleared congestion, say).
    wakePosted_.exchange(false, std::memory_order_acq_rel);
    for (Connection* c : paused_) c->wakeReader();
  });
}

size_t Worker::publish(const MessagePtr& msg, std::vector<Blocker>* congested) {
  if (msg->retain && !broker_.retained().set(msg)) {
    uint64_t n = broker_.noteRetainedRefused();
    if (n == 1 || n % 1000 == 0) {
      log::warn(
          "retained message on \"{}\" not stored: limits.max_retained_messages ({}) "
          "reached ({} refused so far); it is still delivered to current subscribers",
          msg->topic(), broker_.limits().maxRetainedMessages, n);
    }
  }
  matches_.clear();
  broker_.index().match(msg->topic(), matches_);
  if (matches_.empty()) return 0;
  // Overlapping subscriptions of one session yield one delivery at the highest granted QoS,
  // carrying every matching subscription identifier (spec 3.3.4).
  if (matches_.size() > 1) {
    std::sort(matches_.begin(), matches_.end(),
              [](const auto& a, const auto& b) { return a.session.get() < b.session.get(); });
  }
  size_t routed = 0;
  // Back-pressure: `mayHold`, whether the delivery may hold the publisher back; `shared`, a
  // $share group's pick (see Blocker).
  auto route = [&](const std::shared_ptr<Session>& session, uint8_t qos, bool retain,
                   SubscriptionIds ids, bool shared, bool mayHold) {
    ++routed;
    Worker& dest = session->worker();
    const bool watch = congested && mayHold && qos > 0;  // a QoS 1/2 delivery from a client
    bool nowCongested = false;
    uint32_t drains = 0;
    if (&dest == this) {
      session->deliver(msg, qos, retain, std::move(ids));
      if (watch) {
        drains = session->drains();  // read before congested(): see Session::drains()
        nowCongested = session->congested();
      }
    } else {
      if (watch) drains = session->drains();
      const bool full = qos > 0 && session->noteInTransit();  // counted whoever publishes
      nowCongested = watch && full;
      outboxes_[dest.index()].push_back(Delivery{session, msg, qos, retain, std::move(ids)});
      if (!flushScheduled_) {
        flushScheduled_ = true;
        asio::post(context_, [this] { flushOutboxes(); });
      }
    }
    if (nowCongested && std::none_of(congested->begin(), congested->end(),
                                     [&](const Blocker& b) { return b.session == session; })) {
      congested->push_back(Blocker{session, drains, shared});
    }
  };
  for (size_t i = 0; i < matches_.size();) {
    size_t j = i;
    Session* session = matches_[i].session.get();
    int qos = -1;
    bool retain = false;
    SubscriptionIds ids;
    for (; j < matches_.size() && matches_[j].session.get() == session; ++j) {
      const auto& m = matches_[j];
      uint8_t granted = std::min(m.options.qos, msg->qos);
      bool keepRetain = m.options.retainAsPublished && msg->retain;
      if (m.shared) {
        // A shared subscription's copy is its own delivery, not merged with the session's
        // other matches (spec 4.8.2).
        // The index picks a member that keeps up when there is one: the publisher waits only
        // when every member lagged behind, and then for any of them (see Blocker).
        const bool allLagged = m.session->laggingBehind();
        route(m.session, granted, keepRetain,
              m.subscriptionId ? SubscriptionIds{m.subscriptionId} : SubscriptionIds{},
              /*shared=*/true, allLagged);
        continue;
      }
      // [MQTT-3.8.3-3] no-local: not sent back to the connection that published it.
      if (m.options.noLocal && session->uid() == msg->originSession) continue;
      qos = std::max(qos, static_cast<int>(granted));
      retain = retain || keepRetain;
      if (m.subscriptionId != 0) ids.push_back(m.subscriptionId);
    }
    if (qos >= 0) {
      route(matches_[i].session, static_cast<uint8_t>(qos), retain, std::move(ids), false, true);
    }
    i = j;
  }
  matches_.clear();
  return routed;
}

void Worker::flushOutboxes() {
  flushScheduled_ = false;
  for (unsigned w = 0; w < outboxes_.size(); ++w) {
    if (outboxes_[w].empty()) continue;
    Worker& dest = broker_.worker(w);
    asio::post(dest.context_,
               [&dest, batch = std::move(outboxes_[w])]() mutable { dest.receive(batch); });
    outboxes_[w] = {};
  }
}

void Worker::receive(std::vector<Delivery>& batch) {
  for (auto& d : batch) {
    if (d.qos > 0) d.session->noteArrived();
    // Also to an ended session: it ignores the message, and clears a congestion set meanwhile.
    d.session->deliver(d.msg, d.qos, d.retain, std::move(d.subIds));
  }
}

}  // namespace moat::broker
