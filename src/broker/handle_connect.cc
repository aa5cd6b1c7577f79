// CONNECT: validation, session lookup, takeover, CONNACK (spec 3.1 and 3.2 of both versions).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <random>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/listener_info.h"
#include "broker/session.h"
#include "broker/worker.h"
#include "mqtt/topic.h"
#include "security/audit_log.h"
#include "security/username.h"

namespace moat::broker {

namespace asio = boost::asio;
using mqtt::ReasonCode;
using mqtt::Version;

namespace {

constexpr int kMaxHandovers = 3;

std::string assignClientId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("auto-{:016x}", rng());
}

// 3.1/3.1.1 have a CONNACK return code only for these; other refusals just close.
bool hasConnackCode311(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::UnsupportedProtocolVersion:
    case ReasonCode::ClientIdentifierNotValid:
    case ReasonCode::ServerUnavailable:
    case ReasonCode::ServerBusy:
    case ReasonCode::BadUserNameOrPassword:
    case ReasonCode::NotAuthorized:
    case ReasonCode::Banned:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Connection::recordRefusal(std::string_view stage, ReasonCode reason, std::string_view why) {
  if (refusalLogged_) return;  // a delayed refusal was recorded when it was decided
  refusalLogged_ = true;
  log::info("{} on listener \"{}\": connection refused{}: {} ({})", peer_, listener_->name,
            clientId().empty() ? "" : fmt::format(" for client \"{}\"", clientId()),
            mqtt::reasonName(reason), why);
  noteRefusal(stage, reason, mqtt::reasonName(reason), why);
}

void Connection::refuseConnect(ReasonCode reason, std::string_view why) {
  recordRefusal(refusingAuth_ ? "authentication" : "connect", reason, why);
  if (reason == ReasonCode::UnsupportedProtocolVersion) {
    // Answered in the 3.1.1 form whatever the level asked for: `20 02 00 01`.
    version_ = Version::V311;
  }
  if (version_ == Version::V5 || hasConnackCode311(reason)) {
    send(mqtt::Connack{false, reason, {}});
  }
  close(ReasonCode::Success, "connection refused");
}

bool Connection::migrateTo(unsigned workerIndex, mqtt::Connect& connect) {
  if (++admission().hops > kMaxHandovers) {
    refuseConnect(ReasonCode::ServerBusy, "session owner kept changing");
    return false;
  }
  // The move itself waits in readLoop until nothing is being written (a TLS connection may
  // still be sending its handshake's last bytes); decoding stops here.
  Worker::cancelDeadline(*this);
  admission_->migration = std::make_unique<Migration>(Migration{workerIndex, std::move(connect)});
  return false;
}

void Connection::performMigration() {
  Migration m = std::move(*admission_->migration);
  admission_->migration.reset();
  boost::system::error_code ec;
  auto protocol = socket_.local_endpoint(ec).protocol();
  auto fd = ec ? -1 : socket_.release(ec);
  closing_ = true;
  state_ = State::Closed;
  audited_ = true;  // the connection on the other worker writes the event
  if (ec) {
    log::warn("{}: cannot hand the connection to worker {}: {}", peer_, m.worker, ec.message());
    return;
  }
  Worker& dest = worker_.broker().worker(m.worker);
  std::string buffered(readBuf_.data() + readStart_, readEnd_ - readStart_);
  handedOver_ = true;
  asio::post(dest.context(), [&dest, protocol, fd, listener = listener_, peer = peer_,
                              remote = remote_, buffered = std::move(buffered),
                              connect = std::move(m.connect), hops = admission_->hops,
                              tls = std::move(tls_), ws = std::move(ws_),
                              fromIdentity = clientIdFromIdentity_]() mutable {
    Socket socket(dest.context());
    boost::system::error_code ec;
    socket.assign(protocol, fd, ec);
    if (ec) {
      log::warn("{}: cannot adopt handed-over connection: {}", peer, ec.message());
      ::close(fd);
      return;
    }
    auto c = std::make_shared<Connection>(dest, std::move(socket), std::move(listener),
                                          std::move(peer), std::move(buffered), std::move(connect),
                                          hops, std::move(tls), std::move(ws));
    c->clientIdFromIdentity_ = fromIdentity;
    c->remote_ = remote;  // as accept() gave it: the peer may be gone by now
    dest.addConnection(c);
    c->start();
  });
}

std::string Connection::handshakeIdentity(std::string& source) const {
  const auto& f = tls_->facts();
  if (!f.pskIdentity.empty()) {
    source = "PSK identity";
    return f.pskIdentity;
  }
  const auto& field = listener_->identity;
  source = "certificate " + field;
  if (field == "cn") return f.peer().commonName;
  if (field == "subject") return f.peer().subject;
  if (field == "san_dns") return f.peer().sanDns;
  if (field == "san_uri") return f.peer().sanUri;
  if (field == "san_email") return f.peer().sanEmail;
  return {};
}

bool Connection::handleConnect(mqtt::Connect& c) {
  const auto& limits = worker_.broker().limits();
  version_ = c.version;
  clientId_ = c.clientId;
  admission().claimedUsername = c.username.value_or("");
  const bool v5 = version_ == Version::V5;

  // Identity from the TLS handshake, per [listener.tls] identity / identity_as.
  std::string identitySource;
  const std::string id =
      tls_ && listener_->identity != "none" ? handshakeIdentity(identitySource) : std::string();
  if (tls_ && listener_->identity != "none" && id.empty()) {
    // Refused here only when no other method of the chain could admit the client.
    const auto& chain = listener_->auth;
    if (std::all_of(chain.begin(), chain.end(),
                    [](const std::string& m) { return m == "certificate" || m == "psk"; })) {
      refuseConnect(
          ReasonCode::NotAuthorized,
          fmt::format("the handshake gave no identity ({} required)", listener_->identity));
      return false;
    }
  }
  if (!id.empty()) {
    const auto& as = listener_->identityAs;
    if (as == "username" || as == "both") c.username = id;
    if (as == "client_id" || as == "both") {
      if (!c.clientId.empty() && c.clientId != id) {
        refuseConnect(ReasonCode::ClientIdentifierNotValid,
                      fmt::format("client id \"{}\" is not the certificate's identity \"{}\"",
                                  c.clientId, id));
        return false;
      }
      if (c.clientId.empty()) clientIdFromIdentity_ = true;
      c.clientId = id;
      clientId_ = id;
    }
    admission().tlsIdentity = id;
  }

  bool assigned = (clientIdFromIdentity_ || clientIdAssigned_) && v5;
  if (c.clientId.empty()) {
    if (!v5 && !c.cleanStart) {
      // [MQTT-3.1.3-8] a 3.1.1 client without id must ask for a clean session.
      refuseConnect(ReasonCode::ClientIdentifierNotValid, "empty client id without clean session");
      return false;
    }
    if (version_ == Version::V31) {
      refuseConnect(ReasonCode::ClientIdentifierNotValid, "MQTT 3.1 requires a client id");
      return false;
    }
    c.clientId = assignClientId();  // [MQTT-3.1.3-6]
    clientId_ = c.clientId;
    assigned = true;
    clientIdAssigned_ = true;
  }

  // Client ids and user names end up in topic patterns of access rules and in logs: no
  // wildcards, no control characters.
  if (auto ok = security::checkUsername(c.clientId); !ok) {
    refuseConnect(ReasonCode::ClientIdentifierNotValid,
                  fmt::format("client id: {}", ok.error().message));
    return false;
  }
  if (c.username) {
    if (auto ok = security::checkUsername(*c.username); !ok) {
      refuseConnect(ReasonCode::BadUserNameOrPassword,
                    fmt::format("user name: {}", ok.error().message));
      return false;
    }
  }
  if (c.will) {
    if (auto ok = mqtt::validateTopicName(c.will->topic); !ok) {
      refuseConnect(v5 ? ReasonCode::TopicNameInvalid : ReasonCode::MalformedPacket,
                    fmt::format("will topic: {}", ok.error().message));
      return false;
    }
  }

  // Keep-alive: 5.0 clients asking more than the cap (or none) are told the cap; 3.x clients
  // cannot be told, so they are refused rather than cut off later.
  uint16_t keepAlive = c.keepAlive;
  std::optional<uint16_t> serverKeepAlive;
  if (limits.maxKeepAlive < 65535 && (keepAlive == 0 || keepAlive > limits.maxKeepAlive)) {
    if (!v5) {
      refuseConnect(ReasonCode::ServerUnavailable,
                    fmt::format("keep-alive {} s exceeds limits.max_keepalive {} s", keepAlive,
                                limits.maxKeepAlive));
      return false;
    }
    keepAlive = limits.maxKeepAlive;
    serverKeepAlive = keepAlive;
  }

  // Session expiry: 3.x clean session 0 keeps the session "forever" (bounded by the cap).
  uint32_t requestedExpiry =
      v5 ? c.properties.sessionExpiryInterval.value_or(0) : (c.cleanStart ? 0 : 0xFFFFFFFF);
  uint32_t expiry = requestedExpiry;
  if (limits.maxSessionExpiry && expiry > *limits.maxSessionExpiry) {
    expiry = *limits.maxSessionExpiry;
  }

  // The session's owner worker handles everything from here; move there if it is not us.
  unsigned owner = worker_.broker().registry().claim(c.clientId, worker_.index());
  if (owner != worker_.index()) {
    if (authenticated_ && !enhancedMethod_.empty()) {
      // Back from an enhanced authentication exchange, the client id now belongs to another
      // worker: the exchange cannot move with it.
      refuseConnect(ReasonCode::ServerBusy, "the client id moved during authentication");
      return false;
    }
    return migrateTo(owner, c);
  }
  claimed_ = true;
  // Authentication, on the session's worker: the chain of [[listener]] auth. A password check
  // runs off this thread; handleConnect() is called again with the connect when it is done.
  // While an enhanced authentication exchange waits for the client's AUTH, reading goes on.
  if (!authenticated_ && !authenticate(c)) return inAuthExchange() && !closing_;
  if (!stillAdmitted(c)) return false;
  buildSubject(c);
  if (!placeInTenant()) return false;
  if (c.will && !mount_.empty()) {
    if (auto why = outsideMount(c.will->topic, c.will->properties.responseTopic)) {
      refuseConnect(ReasonCode::TopicNameInvalid,
                    fmt::format("the will's topic \"{}\": {}", c.will->topic, *why));
      return false;
    }
  }
  // The will is authorized now (and again when it is published): a client may not leave a
  // message behind on a topic it may not publish to.
  if (c.will && (!permitted(security::authz::Action::Publish, c.will->topic, "will", c.will->qos) ||
                 (c.will->retain &&
                  !permitted(security::authz::Action::Retain, c.will->topic, "retained will")))) {
    refuseConnect(
        ReasonCode::NotAuthorized,
        fmt::format("the will's topic \"{}\" is not allowed for this client", c.will->topic));
    return false;
  }
  if (const auto& rule = listener_->clientIdMustEqual; !rule.empty()) {
    const std::string& want =
        rule == "cn" ? (tls_ ? tls_->facts().peer().commonName : std::string()) : authUser_;
    if (want.empty() || c.clientId != want) {
      refuseAuthentication(
          ReasonCode::ClientIdentifierNotValid,
          want.empty()
              ? fmt::format("client id must equal the {} on this listener, and there is none",
                            rule == "cn" ? "certificate's common name" : "user name")
              : fmt::format("client id \"{}\" is not the {} \"{}\" (client_id_must_equal)",
                            c.clientId, rule == "cn" ? "certificate's common name" : "user name",
                            want));
      return false;
    }
  }

  // A session belongs to the identity that created it: another identity can neither take it
  // over nor clear it with clean start (anonymous sessions have no owner).
  auto session = worker_.findSession(c.clientId);
  const std::string identity = authIdentity();
  if (session && !session->owner().empty() && session->owner() != identity) {
    refuseConnect(
        ReasonCode::NotAuthorized,
        fmt::format("client id \"{}\" belongs to {}, not to {}", c.clientId, session->owner(),
                    identity.empty() ? "an anonymous client" : identity));
    return false;
  }
  Worker::cancelDeadline(*this);  // the connect timeout

  bool takenOver = false;
  if (session && session->connection()) {
    session->connection()->takeOver();
    takenOver = true;
  }
  bool sessionPresent = false;
  // A session whose expiry was 0 ended with its connection, even when that connection was
  // taken over [MQTT-3.1.2-6].
  // A session kept under another mount point (the policy moved the identity to another tenant)
  // is not resumed: its subscriptions are in the other tenant's topics.
  if (session && (c.cleanStart || (takenOver && session->expiryInterval() == 0) ||
                  session->mount() != mount_)) {
    session->end(/*keepClaim=*/true);  // [MQTT-3.1.2-4] discard the old session
    session.reset();
  }
  if (session) {
    sessionPresent = true;  // [MQTT-3.2.2-2]
  } else {
    session = worker_.createSession(c.clientId);
    session->setOwner(identity);
  }
  session->setExpiryInterval(expiry);
  session_ = session;
  session_->setSubject(subject_, mount_);  // before anything can be delivered to it
  will_ = c.will ? std::make_unique<mqtt::Will>(std::move(*c.will)) : nullptr;

  if (v5) {
    const auto& p = c.properties;
    sendWindow_ = std::min<uint16_t>(p.receiveMaximum.value_or(65535), limits.maxInflight);
    clientMaxPacketSize_ = p.maximumPacketSize.value_or(0);
    // Aliases towards the client are bounded by our own maximum too (memory per connection).
    clientTopicAliasMax_ = std::min(p.topicAliasMaximum.value_or(0), limits.topicAliasMaximum);
    connectExpiryWasZero_ = requestedExpiry == 0;
    receiveMaximum_ = limits.receiveMaximum;
    topicAliasMaximum_ = limits.topicAliasMaximum;
  } else {
    sendWindow_ = limits.maxInflight;
    receiveMaximum_ = 65535;
    topicAliasMaximum_ = 0;
  }

  mqtt::Connack ack{sessionPresent, ReasonCode::Success, {}};
  if (v5) {
    auto& p = ack.properties;
    if (assigned) p.assignedClientIdentifier = c.clientId;
    if (serverKeepAlive) p.serverKeepAlive = *serverKeepAlive;
    if (expiry != requestedExpiry) p.sessionExpiryInterval = expiry;
    if (limits.receiveMaximum < 65535) p.receiveMaximum = limits.receiveMaximum;
    if (limits.topicAliasMaximum > 0) p.topicAliasMaximum = limits.topicAliasMaximum;
    p.maximumPacketSize = limits.maxPacketSize;
    if (!enhancedMethod_.empty()) {
      p.authenticationMethod = std::string(enhancedMethod_);  // spec 3.2.2.3.17
    }
    if (auto& data = admission().connackAuthData) p.authenticationData = std::move(data);
  }
  state_ = State::Connected;
  send(ack);

  keepAlive_ = std::chrono::seconds(keepAlive);
  lastReceived_ = std::chrono::steady_clock::now();
  if (keepAlive > 0) worker_.scheduleDeadline(*this, lastReceived_ + keepAlive_ + keepAlive_ / 2);

  std::string transport;
  if (ws_)
    transport = ws_->facts().subprotocol.empty()
                    ? " over WebSocket"
                    : " over WebSocket (" + ws_->facts().subprotocol + ")";
  if (tls_) transport += fmt::format("{} {}", ws_ ? "," : " over", tls_->facts().version);
  log::info(
      "client \"{}\" connected from {} on listener \"{}\" (MQTT {}{}, {}, keep-alive {} s, "
      "session expiry {}{}{}{})",
      clientId(), peer_, listener_->name, mqtt::versionName(version_), transport,
      c.cleanStart ? "clean start" : "resume", keepAlive,
      expiry == 0xFFFFFFFF ? std::string("never") : fmt::format("{} s", expiry),
      sessionPresent ? ", session present" : "",
      admission().tlsIdentity.empty()
          ? std::string()
          : fmt::format(", identity \"{}\" from {}", admission_->tlsIdentity, identitySource),
      authMethod_ == "password" || authMethod_ == "jwt" || authMethod_ == "scram"
          ? fmt::format(", user \"{}\" by {}{}", authUser_,
                        authMethod_ == "scram" ? "SCRAM-SHA-256"
                        : authMethod_ == "jwt" ? "token"
                                               : "password",
                        token_ && token_->expires
                            ? fmt::format(" valid until {}", security::rfc3339(*token_->expires))
                            : std::string())
          : std::string());
  session_->attach(this);
  std::string().swap(clientId_);  // clientId() is the session's now
  writeAudit(true);
  admission_.reset();  // connected: the attempt's state is done with
  armTokenExpiry();
  return true;
}

void Connection::releaseSession() {
  if (!session_) return;
  clientId_ = session_->clientId();  // for what is logged after
  auto session = std::move(session_);
  session_.reset();
  const bool stopping = worker_.stopping();
  if (will_ && !stopping) {
    // [MQTT-3.1.2-8] the will goes out when the connection ends without a normal DISCONNECT.
    auto msg = std::make_shared<Message>();
    msg->publish.topic = mount_ + will_->topic;
    if (auto& rt = will_->properties.responseTopic; rt && !mount_.empty()) rt->insert(0, mount_);
    msg->publish.payload = std::move(will_->payload);
    msg->publish.properties = std::move(will_->properties);
    stampPublisher(msg->publish.properties);
    uint32_t delay = msg->publish.properties.willDelayInterval.value_or(0);
    msg->publish.properties.willDelayInterval.reset();
    msg->qos = will_->qos;
    msg->retain = will_->retain;
    msg->originSession = session->uid();
    will_.reset();
    session->setPendingWill(std::move(msg), delay);
  }
  session->detach(this);
  if (takenOver_ || stopping) return;  // the new connection decides what happens to it
  if (session->expiryInterval() == 0) {
    session->end();
  } else {
    session->startExpiry();
  }
}

}  // namespace moat::broker
