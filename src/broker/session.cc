#include "broker/session.h"

#include "base/log.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/worker.h"
#include "mqtt/topic.h"
#include "security/audit_log.h"

namespace moat::broker {

Session::Session(Worker& worker, std::string clientId, uint64_t uid)
    : worker_(worker), clientId_(std::move(clientId)), uid_(uid) {}

Session::~Session() = default;

Session::QosState& Session::qosState() {
  if (!qos_) qos_ = std::make_unique<QosState>();
  return *qos_;
}

void Session::setLimits(uint32_t maxQueuedMessages, uint64_t maxQueuedBytes, bool backpressure) {
  maxQueuedMessages_ = maxQueuedMessages;
  maxQueuedBytes_ = maxQueuedBytes;
  // Half the queue is left for what publishers send before they see the congestion.
  highWater_ = maxQueuedMessages / 2;
  lowWater_ = maxQueuedMessages / 4;
  backpressure_ = backpressure && maxQueuedMessages >= 4;
}

bool Session::noteInTransit() {
  if (!backpressure_) return false;
  const uint32_t backlog = inTransit_.fetch_add(1, std::memory_order_relaxed) + 1 +
                           queued_.load(std::memory_order_relaxed);
  if (backlog >= highWater_ && online_.load(std::memory_order_relaxed)) setCongested();
  return congested();
}

void Session::setCongested() {
  if (congested_.load(std::memory_order_relaxed)) return;
  // The time first: whoever sees congested_ (acquire) sees when it began.
  congestedSince_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  congested_.store(true, std::memory_order_release);
}

void Session::updateCongestion() {
  if (!backpressure_) return;
  queued_.store(static_cast<uint32_t>(queuedCount()), std::memory_order_relaxed);
  unacked_.store(static_cast<uint32_t>(inflightCount()), std::memory_order_relaxed);
  const bool online = connection_ && !connection_->closing() && !ended_;
  const size_t backlog = queuedCount() + inTransit_.load(std::memory_order_relaxed);
  // The byte bound counts only when it is set and something is queued.
  const uint64_t queuedBytes = this->queuedBytes();
  const bool bytesHigh =
      maxQueuedBytes_ > 0 && queuedBytes > 0 && queuedBytes >= maxQueuedBytes_ / 2;
  const bool bytesLow = queuedBytes <= maxQueuedBytes_ / 4;
  if (!congested_.load(std::memory_order_relaxed)) {
    if (!online || (backlog < highWater_ && !bytesHigh)) return;
    setCongested();
  } else if (!online || (backlog <= lowWater_ && bytesLow)) {
    // An offline session never holds publishers back: it queues up to its limits, then drops.
    congested_.store(false, std::memory_order_relaxed);
    drains_.fetch_add(1, std::memory_order_release);  // after the store: see drains()
    worker_.broker().resumePublishers();
    return;
  }
  if (!congestionLogged_ && !stalled_.load(std::memory_order_relaxed)) {
    congestionLogged_ = true;
    log::info(
        "client \"{}\" is not keeping up ({} messages, {} bytes queued or on their way; limits "
        "{} and {}): publishers to it wait until it takes them (back-pressure; logged once per "
        "connection)",
        clientId_, backlog, queuedBytes, maxQueuedMessages_, maxQueuedBytes_);
  }
}

size_t Session::window() const { return connection_ ? connection_->sendWindow() : 0; }

void Session::deliver(const MessagePtr& msg, uint8_t qos, bool retain, SubscriptionIds subIds) {
  if (ended_ || msg->expiredNow() || !mayReceive(*msg)) {
    if (congested_.load(std::memory_order_relaxed)) updateCongestion();  // one fewer on its way
    return;
  }
  if (qos == 0) {
    // QoS 0 is sent only to a connected client, and dropped (counted) when its socket is not
    // keeping up, so a slow subscriber cannot make the broker's memory grow.
    if (!connection_ || connection_->closing()) return;
    if (connection_->writeBacklog() > worker_.broker().limits().maxWriteBuffer) {
      noteDrop("QoS 0 messages dropped: the client is not reading fast enough");
      return;
    }
    connection_->sendPublish(msg, 0, 0, false, retain, subIds);
    return;
  }
  QosState& state = qosState();
  if (connection_ && !connection_->closing() && state.queue.empty() &&
      state.inflight.size() < window()) {
    sendNew(msg, qos, retain, std::move(subIds));
  } else {
    enqueue(msg, qos, retain, std::move(subIds));
  }
  if (congested_.load(std::memory_order_relaxed)) updateCongestion();
}

void Session::sendNew(const MessagePtr& msg, uint8_t qos, bool retain, SubscriptionIds subIds) {
  uint16_t id = allocatePacketId();
  auto& inflight = qos_->inflight;
  inflight.push_back(InflightMessage{id, InflightMessage::Stage::AwaitAck, qos, retain, msg,
                                     std::move(subIds), true});
  if (!connection_->sendPublish(msg, qos, id, false, retain, inflight.back().subIds)) {
    // Too large for the client: discarded as if delivered [MQTT-3.1.2-25].
    inflight.pop_back();
    noteDrop("messages larger than the client's Maximum Packet Size are not sent to it");
  }
}

void Session::enqueue(const MessagePtr& msg, uint8_t qos, bool retain, SubscriptionIds subIds) {
  QosState& state = *qos_;
  size_t bytes = msg->footprint();
  auto full = [&] {
    return state.queue.size() >= maxQueuedMessages_ || state.queuedBytes + bytes > maxQueuedBytes_;
  };
  if (full()) purgeExpired(Clock::now());  // expired messages do not hold places
  if (full()) {
    noteDrop("QoS 1/2 messages dropped: the session's queue is full "
             "(limits.max_queued_messages / max_queued_bytes)");
    return;
  }
  state.queuedBytes += bytes;
  state.queue.push_back(QueuedMessage{msg, qos, retain, std::move(subIds)});
  updateCongestion();
}

void Session::purgeExpired(Clock::time_point now) {
  QosState& state = *qos_;
  auto expired =
      std::remove_if(state.queue.begin(), state.queue.end(), [&](const QueuedMessage& q) {
        if (!q.msg->expired(now)) return false;
        state.queuedBytes -= q.msg->footprint();
        return true;
      });
  state.queue.erase(expired, state.queue.end());
}

void Session::pump() {
  if (!connection_ || connection_->closing()) return;
  if (!qos_) {
    updateCongestion();
    return;
  }
  auto& inflight = qos_->inflight;
  auto& queue = qos_->queue;
  auto& queuedBytes = qos_->queuedBytes;
  auto& resending = qos_->resending;
  const size_t window = this->window();
  size_t outstanding = inflight.size();  // all sent, unless a resumed window is being resent
  if (resending) {
    outstanding = 0;
    for (const auto& m : inflight) outstanding += m.sent ? 1 : 0;
  }
  // [MQTT-4.4.0-1] resend unacknowledged PUBLISH (DUP set) and PUBREL, in their original order,
  // never more than the client's Receive Maximum at once [MQTT-3.3.4-7].
  for (auto it = inflight.begin(); resending && it != inflight.end() && outstanding < window;) {
    if (it->sent) {
      ++it;
      continue;
    }
    if (it->stage == InflightMessage::Stage::AwaitComp) {
      connection_->sendAck(mqtt::PacketType::Pubrel, it->packetId, mqtt::ReasonCode::Success);
    } else if (it->qos == 1 && it->msg->expiredNow()) {
      it = inflight.erase(it);  // [MQTT-3.3.2-5] an expired QoS 1 message is not resent
      continue;
    } else if (!mayReceive(*it->msg)) {
      it = inflight.erase(it);  // access revoked since it was first sent
      continue;
    } else if (!connection_->sendPublish(it->msg, it->qos, it->packetId, true, it->retain,
                                         it->subIds)) {
      it = inflight.erase(it);
      continue;
    }
    it->sent = true;
    ++outstanding;
    ++it;
  }
  if (resending) {
    resending = std::any_of(inflight.begin(), inflight.end(),
                            [](const InflightMessage& m) { return !m.sent; });
  }
  while (!queue.empty() && inflight.size() < window) {
    QueuedMessage q = std::move(queue.front());
    queue.pop_front();
    queuedBytes -= q.msg->footprint();
    if (q.msg->expiredNow()) continue;  // [MQTT-3.3.2-5]
    if (!mayReceive(*q.msg)) continue;  // access revoked while it waited
    sendNew(q.msg, q.qos, q.retain, std::move(q.subIds));
  }
  updateCongestion();
}

bool Session::mayReceive(const Message& msg) {
  // A tenant's session receives only its tenant's topics (the index ensures it; this is the
  // last word before a topic goes out without its mount point).
  if (!mount_.empty() &&
      (msg.publish.topic.size() <= mount_.size() || !msg.publish.topic.starts_with(mount_) ||
       msg.publish.topic[mount_.size()] == '$')) {
    return false;  // not below the mount point, or one of the broker's '$' topics under it
  }
  AccessControl* access = worker_.broker().access();
  if (!access) return true;
  if (!subject_) return false;  // never attached: nobody to ask for
  const auto receive = security::authz::Action::Receive;
  const std::string_view topic = localTopic(msg.publish.topic);
  if (!receiveCache_) receiveCache_ = std::make_unique<ReceiveCache>();  // its first receive
  auto& cache = *receiveCache_;
  if (const uint64_t generation = access->generation(); generation != cache.generation) {
    cache.allowed.clear();
    cache.generation = generation;
  }
  bool allowed;
  if (auto it = cache.allowed.find(topic); it != cache.allowed.end()) {
    allowed = it->second;
  } else {
    bool cacheable = false;
    allowed = access->allows(*subject_, receive, topic, 0, &cacheable);
    if (cacheable && cache.allowed.size() < kReceiveCacheSize) {
      cache.allowed.emplace(std::string(topic), allowed);
    }
  }
  if (allowed) return true;
  if (connection_)
    connection_->noteDenied("receive", topic, access->check(*subject_, receive, topic));
  return false;
}

Session::IndexedFilter Session::indexed(std::string_view filter) const {
  if (auto shared = mqtt::parseSharedFilter(filter)) {
    return {mount_ + std::string(shared->filter), std::string(shared->group)};
  }
  return {mount_ + std::string(filter), {}};
}

bool Session::unindex(std::string_view filter) {
  const IndexedFilter f = indexed(filter);
  return worker_.broker().index().unsubscribe(f.filter, f.group, this);
}

void Session::noteDrop(const char* why) {
  ++dropped_;
  if (!dropLogged_) {
    dropLogged_ = true;
    log::warn("client \"{}\": {} (further drops are counted and reported when it reconnects)",
              clientId_, why);
  }
}

uint16_t Session::allocatePacketId() {
  uint16_t& last = qos_->lastPacketId;
  for (int attempt = 0; attempt < 65535; ++attempt) {
    if (++last == 0) last = 1;
    bool used = false;
    for (const auto& m : qos_->inflight) used = used || m.packetId == last;
    if (!used) return last;
  }
  return last;  // unreachable: the window is smaller than the id space
}

void Session::attach(Connection* connection) {
  connection_ = connection;
  online_.store(true, std::memory_order_relaxed);
  cancelExpiry();
  cancelPendingWill();  // [MQTT-3.1.3-9] reconnected within the will delay: no will
  if (dropped_ > 0) {
    log::warn("client \"{}\": {} message(s) were dropped for this session so far", clientId_,
              dropped_);
    dropLogged_ = false;
  }
  // A stalled session is held back from back-pressure for the rest of the connection that
  // stalled, so a client cannot pause publishers again and again by not reading.
  stalled_.store(false, std::memory_order_relaxed);
  congestionLogged_ = false;
  if (qos_) {
    for (auto& m : qos_->inflight) m.sent = false;
    qos_->resending = !qos_->inflight.empty();
  }
  pump();
}

void Session::detach(Connection* connection) {
  if (connection_ != connection) return;
  connection_ = nullptr;
  online_.store(false, std::memory_order_relaxed);
  updateCongestion();
}

// The acknowledgements find nothing in a session that never had a QoS 1/2 delivery, and make
// no QoS state for it.
void Session::onPuback(uint16_t packetId) {
  if (!qos_) return noteUnknownAck("PUBACK", packetId);
  auto& inflight = qos_->inflight;
  for (auto it = inflight.begin(); it != inflight.end(); ++it) {
    if (it->packetId == packetId && it->qos == 1) {
      inflight.erase(it);
      pump();
      return;
    }
  }
  noteUnknownAck("PUBACK", packetId);
}

void Session::noteUnknownAck(const char* what, uint16_t packetId) const {
  log::debug("client \"{}\": {} for unknown packet id {}", clientId_, what, packetId);
}

bool Session::onPubrec(uint16_t packetId, bool failed) {
  if (!qos_) return false;
  auto& inflight = qos_->inflight;
  for (auto it = inflight.begin(); it != inflight.end(); ++it) {
    if (it->packetId != packetId || it->qos != 2) continue;
    if (failed) {  // a PUBREC with a reason >= 0x80 ends the exchange [MQTT-4.3.3-?]
      inflight.erase(it);
      pump();
      return true;
    }
    it->stage = InflightMessage::Stage::AwaitComp;
    it->msg.reset();  // the payload is no longer needed
    it->subIds.clear();
    if (connection_)
      connection_->sendAck(mqtt::PacketType::Pubrel, packetId, mqtt::ReasonCode::Success);
    return true;
  }
  return false;
}

void Session::onPubcomp(uint16_t packetId) {
  if (!qos_) return noteUnknownAck("PUBCOMP", packetId);
  auto& inflight = qos_->inflight;
  for (auto it = inflight.begin(); it != inflight.end(); ++it) {
    if (it->packetId == packetId && it->stage == InflightMessage::Stage::AwaitComp) {
      inflight.erase(it);
      pump();
      return;
    }
  }
  noteUnknownAck("PUBCOMP", packetId);
}

void Session::setPendingWill(std::shared_ptr<Message> will, uint32_t delaySeconds) {
  if (delaySeconds == 0) {
    publishWill(std::move(will));
    return;
  }
  pendingWill_ = std::move(will);
  if (worker_.stopping()) return;
  willTimer_ = std::make_unique<boost::asio::steady_timer>(worker_.context(),
                                                           std::chrono::seconds(delaySeconds));
  std::weak_ptr<Session> weak = weak_from_this();
  willTimer_->async_wait([weak](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->firePendingWill();
  });
}

void Session::publishWill(std::shared_ptr<Message> will) {
  // Checked at CONNECT, and again now: the policy may have changed since.
  if (AccessControl* access = worker_.broker().access()) {
    security::authz::Decision d;  // no subject: denied
    const std::string_view topic = localTopic(will->publish.topic);
    // A reload that moved the identity to another tenant: the will belongs to the old one.
    if (subject_) {
      auto tenant = access->tenantOf(*subject_);
      const std::string mount = tenant && *tenant ? (*tenant)->mount : std::string();
      if (!tenant || mount != mount_) {
        log::info(
            "client \"{}\": will to \"{}\" not published: the client is no longer in the "
            "tenant it was written in",
            clientId_, will->publish.topic);
        return;
      }
    }
    if (subject_) {
      d = access->check(*subject_, security::authz::Action::Publish, topic, will->qos);
      if (d.allowed && will->retain) {
        d = access->check(*subject_, security::authz::Action::Retain, topic);
      }
    }
    if (!d.allowed) {
      log::info("client \"{}\": will to \"{}\" not published: {}", clientId_, will->publish.topic,
                d.explain());
      if (security::AuditLog* audit = worker_.broker().audit()) {
        security::AuthorizationEvent e;
        e.time = std::chrono::system_clock::now();
        e.clientId = clientId_;
        e.username = subject_ ? subject_->username : std::string();
        e.listener = subject_ ? subject_->listener : std::string();
        e.action = "will";
        e.topic = will->publish.topic;
        e.rule = d.rule;
        e.where = d.where;
        e.detail = d.explain();
        audit->write(e);
      }
      return;
    }
  }
  if (auto e = will->publish.properties.messageExpiryInterval) {
    will->expiresAt = Clock::now() + std::chrono::seconds(*e);
  }
  worker_.publish(will);
}

void Session::cancelPendingWill() {
  pendingWill_.reset();
  willTimer_.reset();
}

void Session::firePendingWill() {
  willTimer_.reset();
  if (!pendingWill_) return;
  auto will = std::move(pendingWill_);
  pendingWill_.reset();
  publishWill(std::move(will));
}

void Session::startExpiry() {
  if (expiryInterval_ == 0xFFFFFFFF || worker_.stopping()) return;  // never expires
  expiryTimer_ = std::make_unique<boost::asio::steady_timer>(
      worker_.context(), std::chrono::seconds(expiryInterval_));
  std::weak_ptr<Session> weak = weak_from_this();
  expiryTimer_->async_wait([weak](boost::system::error_code ec) {
    if (ec) return;
    auto self = weak.lock();
    if (!self || self->connection_) return;
    log::info("client \"{}\": session expired", self->clientId_);
    self->end();
  });
}

void Session::cancelExpiry() { expiryTimer_.reset(); }

void Session::end(bool keepClaim) {
  if (ended_) return;
  auto self = shared_from_this();  // forgetSession() may drop the last other reference
  ended_ = true;
  cancelExpiry();
  for (const auto& [filter, record] : subscriptions_) unindex(filter);
  subscriptions_.clear();
  qos_.reset();
  updateCongestion();
  firePendingWill();  // [MQTT-3.1.3-9] the will goes out at the latest when the session ends
  worker_.forgetSession(*this, keepClaim);
}

}  // namespace moat::broker
