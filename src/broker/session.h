// Session: the state the broker keeps for one client id across connections (spec 4.1):
// subscriptions, the window of QoS 1/2 deliveries awaiting acknowledgement, the queue of messages
// waiting for room in that window or for the client to come back, QoS 2 packet ids received and
// awaiting PUBREL, the session expiry and a will waiting for its delay.
//
// Ownership and threads: a session belongs to exactly one Worker for its whole life (the one the
// SessionRegistry names for its client id) and is only touched on that worker's thread, with two
// exceptions safe from any thread: uid()/worker()/clientId() (immutable) and isOnline() (atomic,
// read by shared-subscription selection). Other workers hand it messages by posting to its
// worker. The SubscriptionIndex and in-flight delivery batches hold shared_ptrs to it; after
// end() it ignores further deliveries.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/deque.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/message.h"
#include "mqtt/packet.h"
#include "security/authz_policy.h"

namespace moat::broker {

class Connection;
class Session;
class Worker;

using SubscriptionIds = std::vector<uint32_t>;

// Hashes topics for lookups by std::string_view.
struct TopicHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// One QoS 1/2 delivery sent (or to be resent) and not yet completed.
struct InflightMessage {
  enum class Stage : uint8_t { AwaitAck, AwaitComp };  // PUBACK/PUBREC, then PUBCOMP
  uint16_t packetId = 0;
  Stage stage = Stage::AwaitAck;
  uint8_t qos = 1;
  bool retain = false;
  MessagePtr msg;
  SubscriptionIds subIds;
  bool sent = false;  // written on the current connection (resent after a reconnect)
};

// A congested session a publisher waits for, with its drains() when it was seen congested.
// `shared`: picked from a $share group whose members all lagged behind; any drain may free
// another member, so the publisher looks again at every one.
struct Blocker {
  std::shared_ptr<Session> session;
  uint32_t drains = 0;
  bool shared = false;
};

struct QueuedMessage {
  MessagePtr msg;
  uint8_t qos = 0;
  bool retain = false;
  SubscriptionIds subIds;
};

// What a session remembers of one of its subscriptions.
struct SubscriptionRecord {
  mqtt::SubscriptionOptions options;
  uint32_t subscriptionId = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, std::string clientId, uint64_t uid);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& clientId() const { return clientId_; }
  uint64_t uid() const { return uid_; }
  Worker& worker() const { return worker_; }
  bool isOnline() const { return online_.load(std::memory_order_relaxed); }
  bool ended() const { return ended_; }

  // Back-pressure (limits.publisher_wait). A connected session with half a queue's worth of
  // QoS 1/2 messages queued or on their way to it (or half its queue's bytes queued) is
  // congested: the publishers that feed it pause reading until it is down to a quarter, so
  // messages are slowed at the source instead of dropped. A session that stays congested for
  // publisher_wait is stalled until its client reconnects: publishers no longer wait for it (a
  // client that does not read, or reads very slowly, must not hold the others), and what
  // overflows its queue is dropped, counted. Any thread.
  bool congested() const {
    return congested_.load(std::memory_order_acquire) && !stalled_.load(std::memory_order_relaxed);
  }
  // QoS 1/2 messages queued or on their way (0 without back-pressure).
  uint32_t backlog() const {
    return queued_.load(std::memory_order_relaxed) + inTransit_.load(std::memory_order_relaxed);
  }
  // Whether another message fits the queue (counting those on their way).
  bool hasRoom() const { return backlog() < maxQueuedMessages_; }
  // For a shared subscription's pick: congested or stalled (a member to avoid), and how far
  // behind it is, unacknowledged deliveries included (current while it is congested).
  bool laggingBehind() const {
    return congested_.load(std::memory_order_relaxed) || stalled_.load(std::memory_order_relaxed);
  }
  uint32_t behind() const { return backlog() + unacked_.load(std::memory_order_relaxed); }
  // Since when it is congested (valid once congested() was seen true).
  Clock::time_point congestedSince() const {
    return Clock::time_point(Clock::duration(congestedSince_.load(std::memory_order_relaxed)));
  }
  // How many times its congestion has cleared: a publisher that saw it congested goes on once
  // this has changed and the queue has room, even if others filled it again first (each gets
  // its turn).
  uint32_t drains() const { return drains_.load(std::memory_order_acquire); }
  // Marks it stalled; true for the caller that did it first (who logs it).
  bool markStalled() { return !stalled_.exchange(true, std::memory_order_relaxed); }
  // Worker::publish, before it sends this session a QoS 1/2 message from another worker:
  // counts the message on its way. True when the session is congested now.
  bool noteInTransit();
  // Worker::receive, when such a message has arrived (before deliver()).
  void noteArrived() {
    if (backpressure_) inTransit_.fetch_sub(1, std::memory_order_relaxed);
  }

  // --- everything below: the owning worker's thread only ---

  // Routes one matched message to this session: sent now if connected and the window allows,
  // queued (bounded) if it is QoS 1/2 and cannot be sent yet, dropped (counted) otherwise.
  void deliver(const MessagePtr& msg, uint8_t qos, bool retain, SubscriptionIds subIds);

  // Binds the session to a connection that has just sent CONNACK; resends the inflight window
  // with DUP and then drains the queue [MQTT-4.4.0-1].
  void attach(Connection* connection);
  // Unbinds it when the connection closes. Messages keep being queued until end().
  void detach(Connection* connection);
  Connection* connection() const { return connection_; }

  // Acknowledgements from the client for broker-to-client deliveries.
  void onPuback(uint16_t packetId);
  // Returns false if the packet id is unknown.
  bool onPubrec(uint16_t packetId, bool failed);
  void onPubcomp(uint16_t packetId);

  // Client-to-broker QoS 2: packet ids received and not yet released (PUBREL).
  bool awaitsRelease(uint16_t packetId) const {
    return qos_ && qos_->incomingQos2.contains(packetId);
  }
  size_t awaitingRelease() const { return qos_ ? qos_->incomingQos2.size() : 0; }
  void noteAwaitingRelease(uint16_t packetId) { qosState().incomingQos2.insert(packetId); }
  // False when the id was not awaiting release.
  bool release(uint16_t packetId) { return qos_ && qos_->incomingQos2.erase(packetId) > 0; }

  std::map<std::string, SubscriptionRecord, std::less<>>& subscriptions() { return subscriptions_; }

  uint32_t expiryInterval() const { return expiryInterval_; }
  void setExpiryInterval(uint32_t seconds) { expiryInterval_ = seconds; }

  // The authenticated identity that created the session ("password user \"alice\"", ...);
  // empty for an anonymous one. Only that identity may resume, take over or clear it.
  const std::string& owner() const { return owner_; }
  void setOwner(std::string owner) { owner_ = std::move(owner); }
  // Who the authorization policy sees receiving this session's messages (and publishing its
  // will): the identity of the connection that last attached. Set before attach().
  // With it, the tenant's mount point ("tenants/acme/", or empty): the session's subscriptions
  // are under it in the index, and its messages' topics begin with it.
  void setSubject(std::shared_ptr<const security::authz::Subject> subject, std::string mount) {
    subject_ = std::move(subject);
    mount_ = std::move(mount);
    receiveCache_.reset();
  }
  const std::string& mount() const { return mount_; }
  // A topic as the client sees it: without the mount point.
  std::string_view localTopic(std::string_view topic) const {
    return topic.starts_with(mount_) ? topic.substr(mount_.size()) : topic;
  }
  // A filter as the client wrote it ("$share/g/a/#"), as the subscription index holds it: the
  // share group apart, the mount point before the filter.
  struct IndexedFilter {
    std::string filter;
    std::string group;  // empty: not shared
  };
  IndexedFilter indexed(std::string_view filter) const;
  // Takes the subscription to `filter` (as the client wrote it) out of the index.
  bool unindex(std::string_view filter);
  const security::authz::Subject* subject() const { return subject_.get(); }
  // `backpressure`: whether the session may become congested (limits.publisher_wait > 0).
  void setLimits(uint32_t maxQueuedMessages, uint64_t maxQueuedBytes, bool backpressure);

  // The will of the last connection, waiting for its delay or for the session's end. Its
  // Message Expiry Interval starts when it is published (spec 3.1.3.2.4).
  void setPendingWill(std::shared_ptr<Message> will, uint32_t delaySeconds);
  void cancelPendingWill();
  // Publishes the pending will now, if any.
  void firePendingWill();

  // Starts the expiry countdown of a disconnected session (expiryInterval()).
  void startExpiry();
  void cancelExpiry();

  // Ends the session: removes its subscriptions from the index, drops queued and inflight
  // messages, publishes a pending will. Idempotent. `keepClaim` keeps the registry entry for a
  // connection that replaces the session with a new one under the same client id.
  void end(bool keepClaim = false);

  size_t queuedCount() const { return qos_ ? qos_->queue.size() : 0; }
  size_t inflightCount() const { return qos_ ? qos_->inflight.size() : 0; }
  uint64_t droppedCount() const { return dropped_; }

 private:
  void sendNew(const MessagePtr& msg, uint8_t qos, bool retain, SubscriptionIds subIds);
  void enqueue(const MessagePtr& msg, uint8_t qos, bool retain, SubscriptionIds subIds);
  // Sends what the window allows: unsent inflight entries first (a resumed session's window,
  // in order, with DUP), then queued messages.
  void pump();
  void purgeExpired(Clock::time_point now);
  void publishWill(std::shared_ptr<Message> will);
  void noteDrop(const char* why);
  void noteUnknownAck(const char* what, uint16_t packetId) const;
  // Sets or clears congestion after the queue or the connection changed; clearing it wakes the
  // paused publishers.
  void updateCongestion();
  // Sets congestion (any thread); the first to set it starts the stall clock.
  void setCongested();
  // Whether the policy ([authz]) lets this session's client receive `msg` now: asked at every
  // delivery, so a reload that revokes access stops the flow at once (queued messages too).
  bool mayReceive(const Message& msg);
  uint16_t allocatePacketId();
  size_t window() const;

  Worker& worker_;
  std::shared_ptr<const security::authz::Subject> subject_;
  std::string mount_;
  // Receive decisions by topic (client-visible), for the policy generation they were made
  // under: a session receives the same few topics again and again, and a lookup costs less than
  // a walk of the policy. Bounded: once full, further topics are asked every time.
  static constexpr size_t kReceiveCacheSize = 256;
  struct ReceiveCache {
    boost::unordered_flat_map<std::string, bool, TopicHash, std::equal_to<>> allowed;
    uint64_t generation = 0;
  };
  std::unique_ptr<ReceiveCache> receiveCache_;  // made at the first receive decision
  const std::string clientId_;
  const uint64_t uid_;
  std::atomic<bool> online_{false};
  bool ended_ = false;
  Connection* connection_ = nullptr;

  std::map<std::string, SubscriptionRecord, std::less<>> subscriptions_;
  // The QoS 1/2 state, made on first use: most sessions of a fleet of devices never receive a
  // QoS 1/2 message nor send a QoS 2 one, and an idle session should cost little
  // (docs/benchmarks.md). Kept once made, so a steady QoS 1 flow allocates none of it per
  // message.
  struct QosState {
    // boost's deque allocates nothing until the first message (std::deque holds about 1 KiB
    // for each of these from construction).
    boost::container::deque<InflightMessage> inflight;
    boost::container::deque<QueuedMessage> queue;
    uint64_t queuedBytes = 0;
    bool resending = false;  // some of `inflight` is not sent on this connection yet (attach())
    uint16_t lastPacketId = 0;
    std::unordered_set<uint16_t> incomingQos2;
  };
  std::unique_ptr<QosState> qos_;
  QosState& qosState();  // made on first use
  uint64_t queuedBytes() const { return qos_ ? qos_->queuedBytes : 0; }
  uint32_t maxQueuedMessages_ = 1000;
  uint64_t maxQueuedBytes_ = 10 * 1024 * 1024;
  bool backpressure_ = true;
  uint32_t highWater_ = 500;            // messages queued or on their way: congested from here
  uint32_t lowWater_ = 250;             // ... down to here
  std::atomic<uint32_t> queued_{0};     // queuedCount(), for other threads
  std::atomic<uint32_t> unacked_{0};    // inflightCount(), for other threads
  std::atomic<uint32_t> inTransit_{0};  // posted by other workers, not yet arrived
  std::atomic<bool> congested_{false};
  std::atomic<uint32_t> drains_{0};
  std::atomic<bool> stalled_{false};
  std::atomic<Clock::rep> congestedSince_{0};
  bool congestionLogged_ = false;

  uint32_t expiryInterval_ = 0;
  std::string owner_;
  // Timers exist only while armed, so a session kept alive elsewhere at shutdown holds nothing
  // of its worker's io_context.
  std::unique_ptr<boost::asio::steady_timer> expiryTimer_;
  std::shared_ptr<Message> pendingWill_;
  std::unique_ptr<boost::asio::steady_timer> willTimer_;

  uint64_t dropped_ = 0;
  bool dropLogged_ = false;
};

}  // namespace moat::broker
