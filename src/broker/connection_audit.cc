// The audit event of a connection attempt: one per connection that reached CONNACK success or
// was refused on the way (TLS handshake, WebSocket upgrade, CONNECT checks, authentication).
// A connection that closes before sending anything (a port scan, a health check) writes none.
#include <fmt/format.h>

#include <boost/asio/ip/tcp.hpp>

#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/listener_info.h"
#include "broker/worker.h"
#include "mqtt/reason_code.h"
#include "mqtt/version.h"
#include "security/audit_log.h"

namespace moat::broker {

void Connection::noteRefusal(std::string_view stage, std::optional<mqtt::ReasonCode> code,
                             std::string_view reason, std::string_view detail) {
  // The first reason is the real one: a wrong password whose refusal is delayed stays the
  // reason even if the connect timeout ends the connection meanwhile.
  if (!worker_.broker().audit() || refusal_) return;
  refusal_ = std::make_unique<Refusal>(
      Refusal{std::string(stage), code, std::string(reason), std::string(detail)});
}

void Connection::writeAudit(bool accepted) {
  security::AuditLog* audit = worker_.broker().audit();
  if (!audit || audited_) return;
  audited_ = true;
  security::ConnectionEvent e;
  e.time = std::chrono::system_clock::now();
  e.listener = listener_->name;
  e.transport = ws_ ? (tls_ ? "wss" : "ws") : (tls_ ? "tls" : "tcp");
  // remote_ was read when the connection was made: the socket may be closed by now.
  if (ws_ && !ws_->facts().forwardedFor.empty()) {
    e.remoteAddress = ws_->facts().forwardedFor;
    e.proxy = fmt::format("{}:{}", remote_.address().to_string(), remote_.port());
  } else {
    e.remoteAddress = remote_.address().to_string();
    e.remotePort = remote_.port();
  }
  e.clientId = clientId();
  e.accepted = accepted;
  e.method = authMethod_;
  e.username = accepted && !authUser_.empty() && authMethod_ != "anonymous" ? authUser_
               : admission_ ? admission_->claimedUsername
                            : kNone;
  if (state_ != State::AwaitConnect || !clientId().empty()) {
    e.protocol = std::string(mqtt::versionName(version_));
  }
  if (accepted) {
    e.stage = "connect";
    e.reasonCode = 0;
    e.reason = "Success";
  } else if (refusal_) {
    e.stage = refusal_->stage;
    if (refusal_->code) e.reasonCode = static_cast<int>(*refusal_->code);
    e.reason = refusal_->reason;
    e.detail = refusal_->detail;
  }
  if (tls_) {
    const auto& f = tls_->facts();
    e.tlsVersion = f.version;
    e.tlsCipher = f.cipher;
    e.certSubject = f.peer().subject;
    e.certIssuer = f.peer().issuer;
    e.certSerial = f.peer().serial;
    e.pskIdentity = f.pskIdentity;
  }
  if (token_) {
    e.tokenKid = token_->kid;
    e.tokenSub = token_->sub;
  }
  audit->write(e);
}

}  // namespace moat::broker
