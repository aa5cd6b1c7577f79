// SUBSCRIBE, UNSUBSCRIBE and DISCONNECT (spec 3.8-3.11, 3.14).
#include <fmt/format.h>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/session.h"
#include "broker/worker.h"
#include "mqtt/topic.h"

namespace moat::broker {

using mqtt::ReasonCode;

bool Connection::handleSubscribe(mqtt::Subscribe& s) {
  const bool v5 = version_ == mqtt::Version::V5;
  uint32_t subId = s.properties.subscriptionIdentifiers.empty()
                       ? 0
                       : s.properties.subscriptionIdentifiers.front();
  mqtt::Suback ack;
  ack.packetId = s.packetId;
  struct RetainedDelivery {
    MessagePtr msg;
    uint8_t qos;
  };
  std::vector<RetainedDelivery> retained;
  std::vector<MessagePtr> found;
  auto& index = worker_.broker().index();

  // [MQTT-3.8.3-4] no-local on a shared subscription is a protocol error; checked before any
  // filter of the packet is applied, so the packet is refused whole.
  if (v5) {
    for (const auto& t : s.topics) {
      if (t.options.noLocal && mqtt::parseSharedFilter(t.filter)) {
        protocolError(ReasonCode::ProtocolError, "no-local on a shared subscription");
        return false;
      }
    }
  }
  // With disconnect_on_violation a refused filter closes the connection before any filter of
  // the packet is applied.
  if (AccessControl* access = worker_.broker().access();
      access && access->disconnectOnViolation()) {
    for (const auto& t : s.topics) {
      if (!mqtt::validateTopicFilter(t.filter)) continue;
      auto d = subject_ ? access->checkSubscribe(*subject_, t.filter) : security::authz::Decision{};
      if (!d.allowed) {
        noteDenied("subscribe", t.filter, d);
        close(ReasonCode::NotAuthorized, "subscribe not authorized");
        return false;
      }
    }
  }
  for (auto& t : s.topics) {
    if (auto ok = mqtt::validateTopicFilter(t.filter); !ok) {
      log::info("client \"{}\" {}: subscription to \"{}\" refused: {}", clientId(), peer_, t.filter,
                ok.error().message);
      ack.reasonCodes.push_back(ReasonCode::TopicFilterInvalid);  // 3.1.1: written as 0x80
      continue;
    }
    auto& records = session_->subscriptions();
    if (records.size() >= worker_.broker().limits().maxSubscriptionsPerSession &&
        !records.count(t.filter)) {
      if (!quotaLogged_) {  // once per connection; every refusal is still in the SUBACK
        quotaLogged_ = true;
        log::warn(
            "client \"{}\" {}: subscription to \"{}\" refused: "
            "limits.max_subscriptions_per_session ({}) reached",
            clientId(), peer_, t.filter, records.size());
      }
      ack.reasonCodes.push_back(ReasonCode::QuotaExceeded);  // 3.1.1: written as 0x80
      continue;
    }
    const auto sharedFilter = mqtt::parseSharedFilter(t.filter);
    const bool shared = sharedFilter.has_value();
    if (!mount_.empty()) {
      if (auto why = outsideMount(shared ? sharedFilter->filter : std::string_view(t.filter))) {
        log::info("client \"{}\" {}: subscription to \"{}\" refused: {}", clientId(), peer_,
                  t.filter, *why);
        ack.reasonCodes.push_back(ReasonCode::TopicFilterInvalid);  // 3.1.1: written as 0x80
        continue;
      }
    }
    auto opts = t.options;
    if (AccessControl* access = worker_.broker().access()) {
      // A wildcard filter is granted only if everything it can match is (docs/authorization.md);
      // the policy looks through "$share/GROUP/".
      auto d = subject_ ? access->checkSubscribe(*subject_, t.filter) : security::authz::Decision{};
      if (!d.allowed) {
        noteDenied("subscribe", t.filter, d);
        // A subscription to the same filter from before (resubscribing after a reload took
        // the right away) does not outlive the refusal.
        if (session_->subscriptions().erase(t.filter) > 0) session_->unindex(t.filter);
        ack.reasonCodes.push_back(ReasonCode::NotAuthorized);  // 3.1.1: written as 0x80
        continue;
      }
      opts.qos = std::min(opts.qos, d.maxQos);  // a rule's max_qos: granted at most that
    }
    // In the index under the tenant's mount point, if any.
    const Session::IndexedFilter f = session_->indexed(t.filter);
    bool isNew = index.subscribe(f.filter, f.group, session_, opts, subId);
    session_->subscriptions()[t.filter] = SubscriptionRecord{opts, subId};
    ack.reasonCodes.push_back(static_cast<ReasonCode>(opts.qos));
    // [MQTT-3.3.1-9]..[MQTT-3.3.1-11] retain handling; none for shared subscriptions.
    if (!shared && (opts.retainHandling == 0 || (opts.retainHandling == 1 && isNew))) {
      found.clear();
      worker_.broker().retained().match(f.filter, found);
      for (auto& m : found) {
        retained.push_back(RetainedDelivery{m, std::min(m->qos, opts.qos)});
      }
    }
    log::debug("client \"{}\": subscribed to \"{}\" (QoS {})", clientId(), t.filter, opts.qos);
  }
  send(ack);
  // Retained messages follow the SUBACK, with RETAIN set [MQTT-3.3.1-8].
  for (auto& r : retained) {
    session_->deliver(r.msg, r.qos, true, subId ? SubscriptionIds{subId} : SubscriptionIds{});
  }
  return true;
}

bool Connection::handleUnsubscribe(mqtt::Unsubscribe& u) {
  mqtt::Unsuback ack;
  ack.packetId = u.packetId;
  for (const auto& f : u.topics) {
    if (!mqtt::validateTopicFilter(f)) {
      ack.reasonCodes.push_back(ReasonCode::TopicFilterInvalid);
      continue;
    }
    bool removed = session_->unindex(f);
    session_->subscriptions().erase(f);
    ack.reasonCodes.push_back(removed ? ReasonCode::Success : ReasonCode::NoSubscriptionExisted);
  }
  send(ack);
  return true;
}

bool Connection::handleDisconnect(const mqtt::Disconnect& d) {
  if (version_ == mqtt::Version::V5) {
    if (auto e = d.properties.sessionExpiryInterval) {
      // [MQTT-3.14.2-2] a session that was to end may not be made to last.
      if (connectExpiryWasZero_ && *e != 0) {
        protocolError(ReasonCode::ProtocolError, "session expiry set on DISCONNECT after 0");
        return false;
      }
      uint32_t expiry = *e;
      const auto& cap = worker_.broker().limits().maxSessionExpiry;
      if (cap && expiry > *cap) expiry = *cap;
      session_->setExpiryInterval(expiry);
    }
    // [MQTT-3.1.2-10] only a normal disconnection (0x00) discards the will; 0x04 "Disconnect
    // with Will Message" and the error reasons keep it.
    if (d.reasonCode == ReasonCode::Success) will_.reset();
  } else {
    will_.reset();  // [MQTT-3.14.4-3]
  }
  log::info("client \"{}\" {} disconnected", clientId(), peer_);
  close(ReasonCode::Success, "DISCONNECT");
  return false;
}

}  // namespace moat::broker
