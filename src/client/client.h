// Client: an asynchronous MQTT client (3.1, 3.1.1 and 5.0) over one TCP connection, plain or
// TLS, written as C++20 coroutines on Boost.Asio. Used by `moat pub`, `moat sub`, the bench tool
// and tests.
//
//   auto c = Client::create(io.get_executor());
//   co_await c->connect(options);                      // TCP [+ TLS] + CONNECT/CONNACK
//   co_await c->subscribe({{"a/#", {.qos = 1}}});
//   co_await c->publish({.qos = 2, .topic = "a/b", .payload = "hi"});  // PUBREC/PUBREL/PUBCOMP
//   auto m = co_await c->receive();                     // next incoming PUBLISH
//   co_await c->disconnect();
//
// TLS (options.tls) runs through net::TlsEngine, which does no I/O: the client writes what the
// engine produces and feeds it what the socket delivers. The handshake comes right after the TCP
// connect, within the connect timeout; a failure is "TLS handshake failed: <reason>". After it,
// packets are encrypted when the writer takes them (so coalesced packets share TLS records) and
// decrypted as they are read; disconnect() ends with a close_notify.
//
// WebSocket (options.websocketPath) runs through net::WsEngine the same way, above TLS when
// both are set: after the TCP connect (and TLS handshake) the client sends the upgrade request
// for that path with sub-protocol "mqtt" and checks the answer; packets then travel in masked
// binary frames.
//
// Enhanced authentication (5.0, spec 4.12) runs through an Authenticator given in the options:
// CONNECT carries its Authentication Method and initial data, each AUTH 0x18 (Continue
// authentication) from the server is answered with an AUTH 0x18 of its making, and a successful
// CONNACK's data must satisfy it -- a server that cannot prove itself (SCRAM's server signature)
// fails connect() with "server authentication failed: <reason>", connection closed. Any other
// AUTH, or one for another method, is a protocol error; this client never re-authenticates.
//
// Every operation returns Result; no exception leaves the class. Error codes are MQTT 5.0 reason
// codes: the server's (a refused CONNACK, a failed PUBACK/SUBACK is still a value, see below, a
// DISCONNECT from the server), or the client's own for a local check (0x9B QoS not supported,
// 0x95 Packet Too Large, ...), or 0x80 with a message for I/O failures and timeouts.
//
// Protocol work done here: packet ids (PacketIdAllocator), the send quota from the server's
// Receive Maximum (InflightWindow), QoS 1/2 handshakes in both directions and incoming topic
// aliases (IncomingFlow), PINGREQ when nothing was sent for a keep-alive interval (and closing
// when PINGRESP does not come back within another), the server's Maximum QoS, Retain Available
// and Maximum Packet Size. Writes are coalesced: packets queued while a write is in flight go out
// together in the next one. Reading pauses when `maxQueuedMessages` received messages wait for
// receive(), which pushes back on the server through TCP -- a client that subscribes must keep
// calling receive() (or set a message handler), or its own acks stop being read too.
//
// A Client carries one connection: connect() once; after the connection closes, make a new
// Client (a session is resumed with cleanStart = false and the same client id). Outgoing QoS 1/2
// messages are not retransmitted on a new connection.
//
// Threads: a Client and all its coroutines run on the one executor given to create(), which must
// be single-threaded (an io_context run by one thread, or a strand). Create it with create(): its
// coroutines hold a shared_ptr to it while they run; close() or disconnect() ends them.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "client/incoming_flow.h"
#include "client/inflight_window.h"
#include "client/packet_id_allocator.h"
#include "client/wakeup.h"
#include "mqtt/packet.h"
#include "net/tls_context.h"
#include "net/tls_engine.h"
#include "net/ws_engine.h"

namespace moat::client {

struct TlsOptions {
  // A client context (net::TlsContext::createClient): trust anchors, client certificate, PSK,
  // versions and ciphers. Shared: many clients may use one context.
  std::shared_ptr<const net::TlsContext> context;
  // Sent as SNI and checked against the server's certificate (unless the context is insecure).
  // Empty: ConnectOptions::host.
  std::string serverName;
};

// One MQTT 5.0 enhanced authentication exchange (spec 4.12) seen from the client: what goes into
// CONNECT, the answer to each challenge, and the check of the server's last word. The client
// knows no mechanism; apps/moat/scram_authenticator.h is SCRAM-SHA-256. Called only on the
// client's executor, for one connect(). A failure ends the connection attempt, and its message
// is shown to the user: it must not hold a secret.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The Authentication Method, e.g. "SCRAM-SHA-256".
  virtual std::string method() const = 0;
  // CONNECT's Authentication Data; nullopt to send none.
  virtual Result<std::optional<std::string>> initialData() = 0;
  // The Authentication Data of an AUTH 0x18 from the server (empty when it had none) -> the data
  // of our AUTH 0x18 in answer (nullopt: none).
  virtual Result<std::optional<std::string>> challenge(std::string_view data) = 0;
  // The Authentication Data of the successful CONNACK, nullopt when it had none. Fails unless the
  // server has proven what the method requires of it.
  virtual Result<void> finished(std::optional<std::string_view> data) = 0;
};

struct ConnectOptions {
  std::string host = "localhost";
  uint16_t port = 1883;
  mqtt::Version version = mqtt::Version::V311;
  // Empty: 3.1.1/5.0 let the server assign one (needs cleanStart); 3.1 gets a random
  // "moat-" id, as it has no server-assigned ids.
  std::string clientId;
  bool cleanStart = true;
  uint16_t keepAlive = 60;  // seconds; 0 disables PINGREQ
  std::optional<mqtt::Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  // 5.0 only: enhanced authentication. It sets CONNECT's Authentication Method and Data (over
  // any in `properties`); connect() with 3.1/3.1.1 fails at once.
  std::shared_ptr<Authenticator> authenticator;
  // 5.0 CONNECT properties: session expiry, receive maximum, topic alias maximum (the number of
  // incoming aliases accepted), maximum packet size, user properties, ...
  mqtt::Properties properties;
  std::optional<TlsOptions> tls;                     // nullopt: plain TCP
  std::optional<std::string> websocketPath;          // MQTT over WebSocket to this path
  std::chrono::milliseconds connectTimeout{10'000};  // TCP connect, TLS handshake, CONNACK
  size_t maxQueuedMessages = 10'000;                 // received messages buffered for receive()
  size_t writeHighWaterBytes = 1 << 20;  // publish() waits while more is queued for writing
};

// What the server allows, from its CONNACK (5.0) or the protocol's defaults.
struct ServerLimits {
  uint16_t receiveMaximum = 65535;
  uint8_t maximumQos = 2;
  bool retainAvailable = true;
  uint32_t maximumPacketSize = 0;  // 0: no limit beyond the protocol's
  uint16_t topicAliasMaximum = 0;  // aliases the client may use towards the server
  bool wildcardSubscriptionAvailable = true;
  bool subscriptionIdentifierAvailable = true;
  bool sharedSubscriptionAvailable = true;
};

struct ConnectResult {
  bool sessionPresent = false;
  std::string clientId;    // the one in use: assigned by the server when it sent one
  uint16_t keepAlive = 0;  // in force: the server's Server Keep Alive when it sent one
  ServerLimits limits;
  mqtt::Connack connack;
  std::optional<net::TlsFacts> tls;  // what the TLS handshake established, with TLS
};

struct PublishResult {
  uint16_t packetId = 0;  // 0 for QoS 0
  // 5.0: the PUBACK's or PUBREC's reason code (e.g. 0x10 No Matching Subscribers); a code
  // >= 0x80 is returned as an Error instead.
  mqtt::ReasonCode reasonCode = mqtt::ReasonCode::Success;
  mqtt::Properties properties;  // of that PUBACK/PUBREC
};

enum class Direction { Sent, Received };

// A client id unlikely to clash with anyone else's: "moat-" and 16 random hex digits (21
// characters, within MQTT 3.1's limit of 23).
std::string randomClientId();

class Client : public std::enable_shared_from_this<Client> {
 public:
  using Clock = std::chrono::steady_clock;
  // Sees every packet sent or received (for -d debug output, tests). Runs on the executor.
  using PacketObserver = std::function<void(Direction, const mqtt::Packet&)>;
  // Receives incoming messages instead of the receive() queue when set.
  using MessageHandler = std::function<void(mqtt::Publish&&)>;

  static std::shared_ptr<Client> create(boost::asio::any_io_executor executor);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void setPacketObserver(PacketObserver observer) { observer_ = std::move(observer); }
  void setMessageHandler(MessageHandler handler) { handler_ = std::move(handler); }

  // Opens the TCP connection, does the TLS handshake with options.tls, sends CONNECT and waits
  // for CONNACK (answering AUTH challenges meanwhile with options.authenticator). A refused
  // CONNACK fails with its reason code and "Connection refused: <reason>"; a failed handshake
  // with "TLS handshake failed: <reason>"; the authenticator's refusal with "authentication
  // failed: <reason>" or, after the CONNACK, "server authentication failed: <reason>".
  // REQUIRES: called once.
  [[nodiscard]] boost::asio::awaitable<Result<ConnectResult>> connect(ConnectOptions options);

  // Sends a PUBLISH and, for QoS 1/2, completes its handshake. `message.packetId` and `dup` are
  // set by the client. An empty topic is allowed in 5.0 with a Topic Alias property the server
  // already knows. Waits first while the send quota is used up or the write queue is full.
  [[nodiscard]] boost::asio::awaitable<Result<PublishResult>> publish(mqtt::Publish message);

  // SUBSCRIBE and its SUBACK. The SUBACK is returned as is: check its reason codes per topic
  // (>= 0x80 is a refusal).
  [[nodiscard]] boost::asio::awaitable<Result<mqtt::Suback>> subscribe(
      std::vector<mqtt::TopicSubscription> topics, mqtt::Properties properties = {});

  // UNSUBSCRIBE and its UNSUBACK (reason codes only in 5.0).
  [[nodiscard]] boost::asio::awaitable<Result<mqtt::Unsuback>> unsubscribe(
      std::vector<std::string> filters, mqtt::Properties properties = {});

  // The next incoming message, topic alias already resolved; nullopt when `deadline` passes
  // first. Messages already received are still returned after the connection closed; then it
  // fails with closeReason().
  [[nodiscard]] boost::asio::awaitable<Result<std::optional<mqtt::Publish>>> receive(
      Clock::time_point deadline = Clock::time_point::max());

  // Sends DISCONNECT (reason and properties in 5.0; 0x04 asks the server to publish the will)
  // and closes. Before it, waits (2 s at most) for the PUBRELs of incoming QoS 2 messages
  // already delivered; after it, for the write to finish and the server to close (5 s + 2 s).
  [[nodiscard]] boost::asio::awaitable<Result<void>> disconnect(
      mqtt::ReasonCode reason = mqtt::ReasonCode::Success, mqtt::Properties properties = {});

  // Drops the connection at once, without DISCONNECT (the server then publishes the will).
  // Pending operations fail. Safe to call at any time, also from outside a coroutine.
  void close();

  bool connected() const { return state_ == State::Connected; }
  // Why the connection closed; nullopt while it is open. Code 0x00 after disconnect().
  const std::optional<Error>& closeReason() const { return closeError_; }
  mqtt::Version version() const { return options_.version; }
  const std::string& clientId() const { return clientId_; }
  const ServerLimits& serverLimits() const { return limits_; }
  boost::asio::any_io_executor executor() const { return executor_; }

 private:
  enum class State { Idle, Connecting, Connected, Disconnecting, Closed };

  // One request waiting for its answer (CONNACK, PUBACK/PUBCOMP, SUBACK, UNSUBACK). Lives in
  // the frame of the coroutine that waits for it.
  struct PendingOp {
    mqtt::PacketType awaited;
    std::optional<Result<mqtt::Packet>> outcome;
    std::optional<mqtt::PubAck> pubrec;  // QoS 2: the PUBREC before the PUBCOMP
    Wakeup wakeup;
    void complete(Result<mqtt::Packet> r) {
      if (!outcome) outcome = std::move(r);
      wakeup.notifyAll();
    }
  };

  explicit Client(boost::asio::any_io_executor executor);

  bool isOpen() const { return state_ == State::Connected; }
  Error notOpenError() const;
  boost::asio::awaitable<void> waitFor(PendingOp& op);
  // Allocates a packet id, registers `op` under it and returns the id; waits while all ids
  // are in use. nullopt when the connection closed meanwhile.
  boost::asio::awaitable<std::optional<uint16_t>> acquireId(PendingOp& op);
  void releaseId(uint16_t id);

  // TLS: runs the handshake on the connected socket. Application bytes that came with its last
  // flight go to `early`. On failure closes with the reason and returns false.
  boost::asio::awaitable<bool> handshakeTls(std::string& early);
  // WebSocket: the upgrade, after TCP (and TLS). Bytes after the 101 answer go to `early`.
  boost::asio::awaitable<bool> upgradeWebSocket(std::string& early);
  // Queues bytes the transport itself must send (TLS records, WebSocket control frames):
  // WebSocket bytes are encrypted first on TLS.
  bool queueWsWire(std::string_view wsWire);
  // Runs bytes read from the socket through TLS and WebSocket, appending MQTT bytes to `buf`.
  // An engine's failure is returned (after `buf` got what came before it).
  struct TransportEnd {
    Error error;
    bool webSocket;  // from the WebSocket engine (else TLS)
  };
  std::optional<TransportEnd> receiveTransport(std::string_view raw, std::string& buf);

  // Encodes `p` onto the write queue and starts the writer if idle.
  void send(const mqtt::Packet& p);
  void startWriter();
  // TLS/WebSocket: frames and encrypts outBuf_ onto tlsOut_. Closes and returns false when an
  // engine fails.
  bool sealOutput();
  // Bytes queued and not yet handed to the socket (plain and, with TLS, encrypted).
  size_t queuedBytes() const { return outBuf_.size() + tlsOut_.size(); }
  bool writesPending() const { return writing_ || queuedBytes() > 0; }
  boost::asio::awaitable<void> writeLoop(std::shared_ptr<Client> self);
  // Reads and decodes packets; `early` holds bytes already read (TLS: after the handshake).
  boost::asio::awaitable<void> readLoop(std::shared_ptr<Client> self, std::string early);
  // Closes for an error reading the socket, or one from the TLS engine.
  void closeOnReadError(const boost::system::error_code& ec);
  void closeOnTlsError(const Error& error);
  void closeOnWsError(const Error& error);
  boost::asio::awaitable<void> keepAliveLoop(std::shared_ptr<Client> self);

  // Handles one received packet; may suspend while the message queue is full.
  boost::asio::awaitable<void> handle(mqtt::Packet packet);
  void handleConnack(mqtt::Connack&& connack);
  // Enhanced authentication: a challenge while connecting; the server's proof in the CONNACK.
  void handleAuth(mqtt::Auth&& auth);
  bool serverProvedItself(const mqtt::Connack& connack);
  void handlePublish(mqtt::Publish&& publish);
  void handleAck(mqtt::PubAck&& ack);
  void completeOp(uint16_t id, mqtt::PacketType type, mqtt::Packet&& packet);

  // Closes with `error`: fails every pending operation and wakes every waiter. With
  // `disconnectReason` (5.0, connected), a DISCONNECT carrying it is written first.
  void closeWith(Error error, std::optional<mqtt::ReasonCode> disconnectReason = std::nullopt);
  // The server broke the protocol.
  void protocolViolation(const Error& error);
  void closeSocket();

  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer connectTimer_;
  boost::asio::steady_timer keepAliveTimer_;

  ConnectOptions options_;
  State state_ = State::Idle;
  std::optional<Error> closeError_;
  std::string clientId_;
  ServerLimits limits_;
  uint16_t keepAlive_ = 0;
  PacketObserver observer_;
  MessageHandler handler_;

  std::unique_ptr<net::TlsEngine> tls_;  // with options.tls, from the start of the handshake
  std::unique_ptr<net::WsEngine> ws_;    // with options.websocketPath, from the upgrade

  // Writing.
  std::string outBuf_;  // queued packets, not yet handed to the socket (nor to TLS)
  // Transport bytes queued: sealed packets (TLS records, WebSocket frames), and what the
  // engines must send themselves.
  std::string tlsOut_;
  std::string writeBuf_;  // being written
  bool writing_ = false;
  bool closeAfterWrite_ = false;
  Clock::time_point lastSend_{};
  bool pingOutstanding_ = false;
  Clock::time_point pingSentAt_{};

  // Protocol state.
  PacketIdAllocator ids_;
  InflightWindow inflight_;
  IncomingFlow incoming_;
  PendingOp* connackOp_ = nullptr;
  std::unordered_map<uint16_t, PendingOp*> pending_;
  std::deque<mqtt::Publish> messages_;

  Wakeup messageArrived_;  // receive() waiters
  Wakeup messageTaken_;    // the reader, paused on a full queue
  Wakeup quotaFreed_;      // publish() waiting for a slot of the server's Receive Maximum
  Wakeup idFreed_;         // requests waiting for a free packet id
  Wakeup writeDrained_;    // publish() on a full write queue; disconnect()
  Wakeup closed_;          // disconnect() waiting for the server to close
  Wakeup pubrelReceived_;  // disconnect() letting incoming QoS 2 exchanges finish
};

}  // namespace moat::client
