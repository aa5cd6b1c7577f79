// Connection: one client's network connection and the MQTT protocol state that lives exactly as
// long as it (spec 4.1: keep-alive, topic aliases, the will, the negotiated limits). Session
// state that outlives it is in Session.
//
// Life: created by the acceptor on some worker; reads until CONNECT (bounded by
// limits.connect_timeout); then, if the client id's session belongs to another worker, hands its
// socket and buffered bytes to that worker, where a new Connection continues (socket moves once,
// before CONNACK). From CONNACK on, everything happens on the owning worker's thread; nothing
// here is locked.
//
// Reading: a readiness wait (a coroutine only while reading waits for something else) reads
// into a buffer and decodes every complete packet in it (mqtt::peekFixedHeader / mqtt::decode).
// Writing: packets are appended to a pending batch; while one write is in flight further packets
// accumulate and leave together in the next gather write (large payloads are referenced, not
// copied).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "broker/message.h"
#include "broker/session.h"
#include "mqtt/codec.h"
#include "mqtt/packet.h"
#include "net/tls_engine.h"
#include "net/ws_engine.h"
#include "security/authz_policy.h"
#include "security/password_file.h"
#include "security/scram.h"

namespace moat::broker {

class Session;
class Worker;
struct ListenerInfo;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // The worker's own executor type rather than the type-erased any_io_executor: each pending
  // wait on the socket or a timer (one of each for an idle connection) is smaller by two
  // executors (docs/benchmarks.md, "Memory per idle connection").
  using Executor = boost::asio::io_context::executor_type;
  using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
  using Timer = boost::asio::basic_waitable_timer<
      std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;

  // A fresh connection, before CONNECT.
  // `peer`: the address accept() gave (port 0 when unknown).
  Connection(Worker& worker, Socket socket, const boost::asio::ip::tcp::endpoint& peer,
             std::shared_ptr<const ListenerInfo> listener);
  // A connection handed over from another worker after its CONNECT was decoded.
  Connection(Worker& worker, Socket socket, std::shared_ptr<const ListenerInfo> listener,
             std::string peer, std::string buffered, mqtt::Connect connect, int hops,
             std::unique_ptr<net::TlsEngine> tls, std::unique_ptr<net::WsEngine> ws);
  ~Connection();

  // Starts the read loop (and, for a handed-over connection, CONNECT processing).
  void start();

  // Closes with an optional 5.0 DISCONNECT first (reason 0 = none sent). Idempotent.
  void close(mqtt::ReasonCode reason, std::string_view why);
  // Called when another connection takes over this one's session [MQTT-3.1.4-3].
  void takeOver();

  // --- used by Session, on this worker's thread ---
  // Writes a PUBLISH for `msg`. Returns false when it was not written because it exceeds the
  // client's Maximum Packet Size (the caller treats the delivery as complete, spec 3.1.2.11.4).
  bool sendPublish(const MessagePtr& msg, uint8_t qos, uint16_t packetId, bool dup, bool retain,
                   std::span<const uint32_t> subIds);
  // PUBACK, PUBREC, PUBREL or PUBCOMP, without properties.
  void sendAck(mqtt::PacketType type, uint16_t packetId, mqtt::ReasonCode reasonCode);
  // --- used by this worker's deadline wheel (Worker::scheduleDeadline) ---
  // The wheel's tick of this connection's deadline; 0: none.
  uint64_t deadlineTick() const { return deadlineTick_; }
  void setDeadlineTick(uint64_t tick) { deadlineTick_ = tick; }
  // The deadline has come: the connect timeout, or a keep-alive check.
  void onDeadline();

  // Back-pressure: a session this paused reader may wait for has drained; it looks again.
  void wakeReader() {
    ++wakeups_;
    wakeReadLoop();
  }
  // How many QoS 1/2 deliveries may be unacknowledged: min(client's Receive Maximum, limit).
  uint16_t sendWindow() const { return sendWindow_; }
  // Bytes queued for the socket and not yet written.
  // (Transport bytes included: pongs for a client that pings and never reads count too.)
  size_t writeBacklog() const { return pendingBytes_ + writingBytes_ + rawPendingBytes(); }
  bool closing() const { return closing_; }
  mqtt::Version version() const { return version_; }
  const std::string& peer() const { return peer_; }
  // The session's, once the client is connected (one copy of the id per client).
  const std::string& clientId() const { return session_ ? session_->clientId() : clientId_; }
  const ListenerInfo* listener() const { return listener_.get(); }
  const net::TlsEngine* tls() const { return tls_.get(); }
  // The authentication method that admitted the client, and the identity it gave.
  std::string_view authMethod() const { return authMethod_; }
  const std::string& authUser() const { return authUser_; }
  // Logs and audits a refusal by the policy: at most one line and event a second per client;
  // the others are counted and reported with the next.
  void noteDenied(std::string_view what, std::string_view topic,
                  const security::authz::Decision& decision);
  // The token's key id and algorithm, for a connection admitted by JWT.
  const std::string& tokenKid() const { return token_ ? token_->kid : kNone; }
  // Who the policy sees (null before CONNECT is accepted) and the tenant's mount point.
  const security::authz::Subject* subject() const { return subject_.get(); }
  const std::string& mount() const { return mount_; }
  const std::string& tokenAlg() const { return token_ ? token_->alg : kNone; }

 private:
  // Reading. Between packets a connection waits for its socket with a plain handler
  // (awaitReadable), so an idle one holds no coroutine frame; whatever else reading must wait
  // for (back-pressure, writes, the rest of a packet, a password check) runs in readLoop.
  //
  // One read from the socket into the read buffer (TLS: decrypted; WebSocket: unframed).
  // More: keep reading. Ended: the stream ended; what is buffered is still handled. Refused:
  // the transport refused the peer; nothing buffered may be handled.
  enum class Read { More, Ended, Refused };
  // After a read (`read`) and its packets (`ok`: the connection goes on): waits for the socket
  // again, or starts readLoop.
  void readOn(Read read, bool ok);
  // Whether reading goes on: the connection is open and not waiting for a CONNECT's check.
  bool readingOn(Read read, bool ok) const;
  // Whether the socket is all there is to wait for (not paused, replies taken, no part of a
  // plain packet buffered).
  bool onlySocketToAwait() const;
  void awaitReadable();
  boost::asio::awaitable<void> readLoop(Read read, bool ok);
  // An exception out of the read path (a bug, or memory exhausted; not the client's doing):
  // logged, and this connection closed and released, the others going on.
  void readAborted(std::exception_ptr e);
  // A CONNECT handed over or back from a password check (pendingConnect), then the buffer.
  bool handlePendingConnect();
  // Waits until every queued byte has been written (or the connection is closing); with
  // `overLimit`, only until the backlog is back under limits.max_write_buffer.
  boost::asio::awaitable<void> waitForWrites(bool overLimit);
  // Back-pressure: waits until every session in blockers_ has drained or stalled. With
  // `reading`, keeps reading meanwhile for processAhead(); returns how that reading ended.
  boost::asio::awaitable<Read> waitForReceivers(bool reading);
  bool paused() const { return !blockers_.empty(); }
  // Plain TCP with part of a packet buffered: reads the rest (as much as has come).
  boost::asio::awaitable<Read> readRest();
  // Logs a read error; the stream has ended.
  Read readFailed(const boost::system::error_code& ec);
  // After the stream ended: a WebSocket closed by the client is logged, and not handed over.
  void streamEnded();
  // One non-blocking read from a readable socket (awaitReadable, waitForReceivers).
  Read readNow();
  // While paused: handles the acknowledgements and PINGREQs among the buffered packets (and
  // takes them out of the buffer); the rest keeps its place. False if the connection closed.
  bool processAhead();
  // Runs received bytes through the TLS and WebSocket engines into the read buffer.
  Read receiveFiltered(std::string_view in);
  // After the TLS handshake: checks SPKI pins and a CRL reloaded meanwhile; false refuses.
  bool tlsHandshakeDone();
  void webSocketUpgraded();
  // Queues bytes the WebSocket engine must send (encrypted on WSS).
  void queueWsWire(std::string& wsWire);
  // Whether a WebSocket close frame or a TLS close_notify is still to be sent.
  bool transportCloseDue() const;
  void compactReadBuffer();
  // Stops counting this connection among its listener's handshakes in progress.
  void handshakeFinished();
  void noteReadError(const boost::system::error_code& ec);
  // After close(): gives the peer kCloseGrace to take the last bytes, then drops it.
  void startCloseGrace();
  // Decodes and handles every complete packet at the front of the read buffer; what they
  // produce for this client (PUBACKs, say) goes out in one write when it is done.
  bool processBuffer();
  bool processPackets();
  // Runs `handle` (the packets of one read) holding this connection's writes, then writes what
  // they produced at once.
  bool withWritesHeld(bool (Connection::*handle)());
  // One whole packet: a short acknowledgement as it is, anything else decoded first. The
  // decoding error, if any, is the caller's to report; else whether the connection goes on.
  Result<bool> handleBody(const mqtt::FixedHeader& h, std::string_view body);
  bool handlePacket(mqtt::Packet& packet);
  void protocolError(mqtt::ReasonCode reason, std::string_view why);

  // handle_connect.cc
  bool handleConnect(mqtt::Connect& connect);
  // Runs the listener's authentication chain from where it stands. True when a method
  // accepted; false when the client was refused or a password check is under way (then
  // the admission's pendingConnect holds the CONNECT).
  bool authenticate(mqtt::Connect& connect);
  void passwordChecked(security::VerifyResult result);
  // handle_auth.cc
  // 5.0 enhanced authentication at CONNECT: SCRAM-SHA-256 sends its challenge and keeps the
  // CONNECT in the admission's authConnect until the client's AUTH answers; JWT checks the
  // token at once.
  bool startEnhancedAuth(mqtt::Connect& connect);
  // Checks a token (the password, or CONNECT's Authentication Data); true when it is good.
  bool acceptToken(mqtt::Connect& connect, std::string_view token);
  // Counts a failed login with the LoginGuard and refuses after its delay.
  void failLogin(const std::string& user, mqtt::ReasonCode reason, std::string why);
  bool handleAuth(mqtt::Auth& auth);
  // Closes the connection when its token expires ([auth.jwt] disconnect_at_expiry).
  void armTokenExpiry();
  // handle_authz.cc
  // Whether the policy ([authz]) lets this client do `action` on `topic`; a refusal is
  // logged and audited as `what` (publish, retain, will, ...).
  // `qos` is a PUBLISH's (a rule's max_qos may refuse it).
  bool permitted(security::authz::Action action, std::string_view topic, std::string_view what,
                 uint8_t qos = 0);
  // [provenance]: replaces any user property of that name with the client's proven user name
  // (empty for an anonymous client).
  void stampPublisher(mqtt::Properties& properties) const;
  // Where this client's tenant lives (authz::Tenant), worked out after authentication; false
  // when the client was refused.
  bool placeInTenant();
  // Why a topic (a PUBLISH's, a will's, a filter's) cannot go under this tenant's mount point;
  // nullopt when it can.
  std::optional<std::string> outsideMount(
      std::string_view topic, const std::optional<std::string>& responseTopic = {}) const;
  // The identity the policy sees, from the CONNECT and what authentication proved.
  void buildSubject(const mqtt::Connect& connect);
  // After re-authentication: the token's new roles and tenant into the subject.
  void refreshSubject();

  // After a method accepted: the ban list against the proven identity, and an address ban that
  // began while the check ran. False when the client was refused.
  bool stillAdmitted(const mqtt::Connect& connect);
  // "user \"alice\"", "certificate identity \"meter-7\"": who the client proved to be; empty
  // when anonymous.
  std::string authIdentity() const;
  // The client's IP address (the forwarded one behind a trusted WebSocket proxy).
  std::string clientAddress() const;
  void refuseAuthentication(mqtt::ReasonCode reason, std::string_view why);
  void refuseConnect(mqtt::ReasonCode reason, std::string_view why);
  // The log line and audit note of a refusal, once per connection: at the decision, also when
  // its CONNACK waits for the failed-login delay.
  void recordRefusal(std::string_view stage, mqtt::ReasonCode reason, std::string_view why);
  // connection_audit.cc: the one audit event of this connection attempt ([audit] file).
  // noteRefusal() records why the attempt fails (the last note wins); the event is written
  // at CONNACK success (writeAudit(true)) or when the connection closes before it.
  void noteRefusal(std::string_view stage, std::optional<mqtt::ReasonCode> code,
                   std::string_view reason, std::string_view detail);
  void writeAudit(bool accepted);
  bool migrateTo(unsigned workerIndex, mqtt::Connect& connect);
  // The identity the TLS handshake gives ([listener.tls] identity); `source` says from where.
  std::string handshakeIdentity(std::string& source) const;
  void performMigration();
  // handle_publish.cc
  bool handlePublish(mqtt::Publish& publish);
  // PUBACK, PUBREC, PUBREL or PUBCOMP (their properties are not used).
  bool handleAck(mqtt::PacketType type, uint16_t packetId, mqtt::ReasonCode reasonCode);
  // handle_subscribe.cc
  bool handleSubscribe(mqtt::Subscribe& subscribe);
  bool handleUnsubscribe(mqtt::Unsubscribe& unsubscribe);
  bool handleDisconnect(const mqtt::Disconnect& disconnect);

  void send(const mqtt::Packet& packet);
  // The string the next packet's bytes go into: the last queued chunk, unless it is followed
  // by a shared payload.
  std::string& bytesChunk();
  // Starts writing what is queued, unless a write is in flight (its completion calls flush()
  // again) or withWritesHeld() holds writes until the packets of its read are handled.
  void flush();
  // After a write: the written chunks' strings go to this worker's spares for the next ones.
  void recycleWritten();
  void onClosed();
  // Detaches from the session when the connection goes: publishes or schedules the will, then
  // ends the session or starts its expiry (unless another connection took it over).
  void releaseSession();

  Worker& worker_;
  Socket socket_;
  std::shared_ptr<const ListenerInfo> listener_;
  std::string peer_;  // "ip:port", for logs

  enum class State { AwaitConnect, Connected, Closed } state_ = State::AwaitConnect;
  bool closing_ = false;
  bool takenOver_ = false;
  bool handedOver_ = false;  // its socket went to another worker's Connection
  bool countsHandshake_ = false;
  bool tlsStarted_ = false;  // bytes of a TLS handshake have arrived
  bool quotaLogged_ = false;
  mqtt::Version version_ = mqtt::Version::V311;
  size_t neededBytes_ = 0;               // size of a partly received packet
  std::unique_ptr<net::TlsEngine> tls_;  // set on TLS and WSS listeners
  std::unique_ptr<net::WsEngine> ws_;    // set on WS and WSS listeners
  struct Migration {
    unsigned worker;
    mqtt::Connect connect;
  };
  // State of a phase of the connection's life lives on the heap, only while it lasts: an idle
  // connection should cost little (docs/benchmarks.md). What the attempt needs until the
  // client is connected (or refused) is made when first needed and dropped at CONNACK.
  struct Admission {
    int hops = 0;                 // handovers so far, bounded
    size_t authStep = 0;          // the method of listener_->auth being tried
    std::string tlsIdentity;      // identity mapped from the handshake, if any
    std::string claimedUsername;  // the CONNECT's user name, as sent (for the audit event)
    // A CONNECT still to handle: handed over from another worker, or waiting for a password
    // check.
    std::unique_ptr<mqtt::Connect> pendingConnect;
    // Enhanced authentication (5.0): the CONNECT waiting for the end of the exchange, and what
    // the CONNACK carries back.
    std::unique_ptr<mqtt::Connect> authConnect;
    std::optional<std::string> connackAuthData;
    std::unique_ptr<Migration> migration;  // handover to the session's worker, once writes drain
  };
  std::unique_ptr<Admission> admission_;
  Admission& admission();  // made on first use
  bool hasPendingConnect() const { return admission_ && admission_->pendingConnect; }
  bool inAuthExchange() const { return admission_ && admission_->authConnect; }
  bool migrating() const { return admission_ && admission_->migration; }

  std::string clientId_;  // until the session is attached, and again after it is released
  bool clientIdFromIdentity_ = false;  // the client sent no id; the identity became it
  bool clientIdAssigned_ = false;      // the client sent no id; the broker made one up
  // Authentication (authenticate()).
  bool authenticated_ = false;
  bool authPending_ = false;  // a password check is under way
  std::string_view authMethod_;  // the method that accepted (a static name)
  std::string authUser_;      // the identity it gave (user name, certificate identity)
  // Enhanced authentication (5.0), at CONNECT and for re-authentication: the method CONNECT
  // named and the exchange under way.
  std::string_view enhancedMethod_;  // a static name: "SCRAM-SHA-256", "JWT"
  std::unique_ptr<security::ScramServer> scram_;
  // What the token (JWT) that admitted the client said; null for other clients. Roles, tenant
  // and claims go into the subject (for authorization), the key id and subject into the audit
  // event; a JWKS reload keeps the connection only if a key of its algorithm is left.
  struct Token {
    std::string kid, sub, alg;
    std::shared_ptr<const security::authz::TokenClaims> claims;  // roles, tenant, the others
    std::optional<std::chrono::system_clock::time_point> expires;
    std::unique_ptr<Timer> timer;  // [auth.jwt] disconnect_at_expiry
  };
  std::unique_ptr<Token> token_;
  Token& tokenState();  // created on first use
  static inline const std::string kNone;
  // Authorization: who the policy sees; refusals logged at most once a second.
  std::shared_ptr<const security::authz::Subject> subject_;
  // The tenant's mount point ("tenants/acme/"), empty without a tenant: prefixed to every topic
  // and filter the client sends, removed from every topic it receives.
  std::string mount_;
  std::chrono::steady_clock::time_point lastDenied_{};
  uint64_t deniedSuppressed_ = 0;
  // Audit: the attempt's refusal, if any, and whether its event was written (or belongs to
  // the connection this one was handed to).
  struct Refusal {
    std::string stage;  // admission, tls, websocket, connect, authentication
    std::optional<mqtt::ReasonCode> code;
    std::string reason;
    std::string detail;
  };
  std::unique_ptr<Refusal> refusal_;  // kept only with [audit] on
  bool audited_ = false;
  bool refusingAuth_ = false;        // refuseConnect() called by refuseAuthentication()
  bool refusalLogged_ = false;       // recordRefusal() was called
  bool claimed_ = false;             // this connection claimed clientId_ in the registry
  boost::asio::ip::tcp::endpoint remote_;  // the peer (port 0: unknown), read once when accepted
  std::shared_ptr<Session> session_;
  // Congested sessions this client's last PUBLISH went to: nothing more is read from it until
  // they drain (Session::congested()).
  std::vector<Blocker> blockers_;
  std::unique_ptr<mqtt::Will> will_;
  std::chrono::steady_clock::duration keepAlive_{};
  std::chrono::steady_clock::time_point lastReceived_;
  uint64_t deadlineTick_ = 0;
  // The close grace (startCloseGrace()): its wait holds the connection until the last write
  // completes or the grace runs out. Made at close.
  std::unique_ptr<Timer> closeGrace_;
  void endCloseGrace() {
    if (closeGrace_) closeGrace_->cancel();
  }
  // What a paused read loop waits on: woken by wakeReadLoop() when a write completes, a
  // password check ends, or the connection closes. Made on the first such wait.
  std::unique_ptr<Timer> drained_;
  Timer& drainedTimer();
  void wakeReadLoop() {
    if (drained_) drained_->cancel();
  }

  uint32_t wakeups_ = 0;  // wakeReader() calls, for shared blockers

  // Negotiated limits.
  uint32_t clientMaxPacketSize_ = 0;  // 0 = none given
  uint16_t sendWindow_ = 20;
  uint16_t clientTopicAliasMax_ = 0;
  uint16_t receiveMaximum_ = 65535;
  uint16_t topicAliasMaximum_ = 0;
  bool connectExpiryWasZero_ = true;  // 5.0: Session Expiry Interval 0 (or absent) in CONNECT

  // Topic aliases (5.0), once a PUBLISH in either direction may use them: client->broker
  // (index alias-1), broker->client (topic -> alias).
  struct TopicAliases {
    std::vector<std::string> inbound;
    std::unordered_map<std::string, uint16_t> outbound;
  };
  std::unique_ptr<TopicAliases> aliases_;

  // Read buffer: bytes [readStart_, readEnd_) are received and not yet decoded.
  std::string readBuf_;
  size_t readStart_ = 0;
  size_t readEnd_ = 0;

  // Write batching: `pending` collects packets; `writing` is what the socket is writing. Made
  // (or taken from this worker's spares) when a packet is queued, handed back when a write
  // completes with nothing queued: a connection between writes holds no write state.
  struct Chunk {
    std::string bytes;
    MessagePtr payloadOf;  // when set, the message's payload is written after `bytes`
  };
  struct Writes {
    std::vector<Chunk> pending;
    std::vector<Chunk> writing;
    std::vector<boost::asio::const_buffer> buffers;  // the gather list of the write in flight
  };
  std::unique_ptr<Writes> writes_;
  Writes& writes();
  void giveBackWrites();
  static std::vector<std::unique_ptr<Writes>>& spareWrites();
  bool hasQueuedPackets() const { return writes_ && !writes_->pending.empty(); }
  size_t pendingBytes_ = 0;
  size_t writingBytes_ = 0;
  bool writeInFlight_ = false;
  bool holdWrites_ = false;  // withWritesHeld() is handling a read: flush() when it is done
  bool closeNotifySent_ = false;
  bool closeAfterWrite_ = false;
  // TLS and WebSocket connections only (made with their engines).
  struct Framing {
    // Transport bytes to send before the next packets: TLS handshake records and alerts, the
    // WebSocket upgrade response, pongs (already encrypted on WSS).
    std::string rawPending;
    std::string writingWire;  // the framed (and encrypted) batch being written
  };
  std::unique_ptr<Framing> framing_;
  size_t rawPendingBytes() const { return framing_ ? framing_->rawPending.size() : 0; }
};

}  // namespace moat::broker
