// Authorization at the connection: the subject the policy sees, the checks of PUBLISH, the
// retain flag and the will, and the rate-limited log and audit of refusals. (SUBSCRIBE filters
// are checked in handle_subscribe.cc, deliveries in Session::mayReceive.)
#include <fmt/format.h>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/listener_info.h"
#include "broker/worker.h"
#include "security/audit_log.h"

namespace moat::broker {

using security::authz::Action;

void Connection::buildSubject(const mqtt::Connect& c) {
  auto s = std::make_shared<security::authz::Subject>();
  // A name nobody proved grants nothing: an anonymous client is anonymous to the policy, whatever
  // user name it sent (one [authz] serves every listener, and another listener may prove that
  // name). Mosquitto, with allow_anonymous and no password file, would use the name as given.
  s->username = authMethod_ == "anonymous" ? std::string() : authUser_;
  s->clientId = c.clientId;
  if (tls_) {
    const auto& f = tls_->facts();
    if (!f.peer().commonName.empty()) s->cert.push_back({"cn", {f.peer().commonName}});
    if (!f.peer().organizations.empty()) s->cert.push_back({"o", f.peer().organizations});
    if (!f.peer().organizationalUnits.empty())
      s->cert.push_back({"ou", f.peer().organizationalUnits});
  }
  if (token_) s->token = token_->claims;
  s->listener = listener_->name;
  s->address = net::IpAddress::parse(clientAddress());
  subject_ = std::move(s);
}

std::optional<std::string> Connection::outsideMount(
    std::string_view topic, const std::optional<std::string>& responseTopic) const {
  // The broker's own '$' topics are not a tenant's; and under the mount point a topic must still
  // be one MQTT can carry.
  if (topic.starts_with('$')) return "a tenant's client has no '$' topics";
  if (mount_.size() + topic.size() > 65535 ||
      (responseTopic && mount_.size() + responseTopic->size() > 65535)) {
    return fmt::format("longer than 65,535 bytes under the tenant's mount point \"{}\"", mount_);
  }
  if (responseTopic && responseTopic->starts_with('$')) {
    return "a tenant's client has no '$' topics (response topic)";
  }
  return std::nullopt;
}

bool Connection::placeInTenant() {
  // Without [authz] an identity still has the tenant its token names, with the default mount.
  static const security::authz::Policy kNoPolicy;
  AccessControl* access = worker_.broker().access();
  auto tenant = access ? access->tenantOf(*subject_) : kNoPolicy.tenantOf(*subject_);
  if (!tenant) {
    refuseConnect(mqtt::ReasonCode::NotAuthorized, tenant.error().message);
    return false;
  }
  mount_ = *tenant ? (*tenant)->mount : std::string();
  return true;
}

void Connection::refreshSubject() {
  if (!subject_) return;
  auto s = std::make_shared<security::authz::Subject>(*subject_);
  if (token_) s->token = token_->claims;
  subject_ = std::move(s);
  if (session_) session_->setSubject(subject_, mount_);
}

void Connection::stampPublisher(mqtt::Properties& properties) const {
  const std::string& name = worker_.broker().config().provenance.property;
  if (name.empty()) return;
  // Only the broker says who published: a client's own copies go, whatever they claim.
  std::erase_if(properties.userProperties, [&](const auto& p) { return p.first == name; });
  properties.userProperties.emplace_back(name, subject_ ? subject_->username : std::string());
}

bool Connection::permitted(Action action, std::string_view topic, std::string_view what,
                           uint8_t qos) {
  AccessControl* access = worker_.broker().access();
  if (!access) return true;
  if (!subject_) return false;  // fail closed: nobody to ask for
  if (access->allows(*subject_, action, topic, qos)) return true;
  noteDenied(what, topic, access->check(*subject_, action, topic, qos));  // only to explain it
  return false;
}

void Connection::noteDenied(std::string_view what, std::string_view topic,
                            const security::authz::Decision& decision) {
  const auto now = std::chrono::steady_clock::now();
  if (now - lastDenied_ < std::chrono::seconds(1)) {
    ++deniedSuppressed_;
    return;
  }
  lastDenied_ = now;
  const uint64_t suppressed = std::exchange(deniedSuppressed_, 0);
  log::info("client \"{}\" {}: {} \"{}\" {}{}", clientId(), peer_, what, topic, decision.explain(),
            suppressed
                ? fmt::format(" ({} more refusals in the last second not logged)", suppressed)
                : std::string());
  if (security::AuditLog* audit = worker_.broker().audit()) {
    security::AuthorizationEvent e;
    e.time = std::chrono::system_clock::now();
    e.listener = listener_->name;
    e.clientId = clientId();
    e.username = subject_ ? subject_->username : std::string();
    e.action = std::string(what);
    e.topic = std::string(topic);
    e.rule = decision.rule;
    e.where = decision.where;
    e.detail = decision.explain();
    e.suppressed = suppressed;
    audit->write(e);
  }
}

}  // namespace moat::broker
