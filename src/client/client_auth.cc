// The client's side of MQTT 5.0 enhanced authentication (spec 4.12): answering the server's
// AUTH challenges while connecting, and the server's proof in a successful CONNACK, through the
// ConnectOptions' Authenticator. Runs on the client's executor like the rest of Client.
#include <string>

#include "client/client.h"

namespace moat::client {

using mqtt::ReasonCode;

void Client::handleAuth(mqtt::Auth&& auth) {
  Authenticator* authenticator = options_.authenticator.get();
  // Only the client starts a re-authentication, and this one never does: an AUTH after the
  // CONNACK (or without a method of ours) was not asked for [MQTT-4.12.0-6].
  if (state_ != State::Connecting || !authenticator) {
    protocolViolation(Error{code(ReasonCode::ProtocolError), "unexpected AUTH from the server"});
    return;
  }
  // [MQTT-4.12.0-2] a challenge is an AUTH 0x18 (Success belongs to re-authentication).
  if (auth.reasonCode != ReasonCode::ContinueAuthentication) {
    protocolViolation(Error{code(ReasonCode::ProtocolError),
                            "AUTH with reason " + std::string(mqtt::reasonName(auth.reasonCode)) +
                                " while connecting (expected Continue authentication)"});
    return;
  }
  // [MQTT-4.12.0-5] every AUTH carries the method of the CONNECT.
  const std::string method = authenticator->method();
  if (auth.properties.authenticationMethod != method) {
    protocolViolation(Error{code(ReasonCode::ProtocolError),
                            "AUTH for another authentication method than " + method});
    return;
  }
  auto answer = authenticator->challenge(auth.properties.authenticationData.value_or(""));
  if (!answer) {
    closeWith(Error{answer.error().code, "authentication failed: " + answer.error().message});
    return;
  }
  mqtt::Auth reply;
  reply.reasonCode = ReasonCode::ContinueAuthentication;  // [MQTT-4.12.0-3]
  reply.properties.authenticationMethod = method;
  reply.properties.authenticationData = std::move(*answer);
  send(reply);
}

// A successful CONNACK only says the server accepted us; with enhanced authentication the server
// must also prove itself (SCRAM: that it holds the credential), or it is not trusted. Closes and
// returns false when it does not.
bool Client::serverProvedItself(const mqtt::Connack& connack) {
  Authenticator* authenticator = options_.authenticator.get();
  if (!authenticator) return true;
  // [MQTT-4.12.0-5] a successful CONNACK carries the CONNECT's method.
  if (connack.properties.authenticationMethod != authenticator->method()) {
    protocolViolation(
        Error{code(ReasonCode::ProtocolError),
              "CONNACK without the authentication method " + authenticator->method()});
    return false;
  }
  const auto& data = connack.properties.authenticationData;
  auto verified = authenticator->finished(data ? std::optional<std::string_view>(*data)
                                               : std::optional<std::string_view>());
  if (!verified) {
    closeWith(
        Error{verified.error().code, "server authentication failed: " + verified.error().message});
    return false;
  }
  return true;
}

}  // namespace moat::client
