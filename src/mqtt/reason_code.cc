#include "mqtt/reason_code.h"

namespace moat::mqtt {

std::string_view reasonName(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::Success:
      return "Success";
    case ReasonCode::GrantedQos1:
      return "Granted QoS 1";
    case ReasonCode::GrantedQos2:
      return "Granted QoS 2";
    case ReasonCode::DisconnectWithWill:
      return "Disconnect with Will Message";
    case ReasonCode::NoMatchingSubscribers:
      return "No matching subscribers";
    case ReasonCode::NoSubscriptionExisted:
      return "No subscription existed";
    case ReasonCode::ContinueAuthentication:
      return "Continue authentication";
    case ReasonCode::ReAuthenticate:
      return "Re-authenticate";
    case ReasonCode::UnspecifiedError:
      return "Unspecified error";
    case ReasonCode::MalformedPacket:
      return "Malformed Packet";
    case ReasonCode::ProtocolError:
      return "Protocol Error";
    case ReasonCode::ImplementationSpecificError:
      return "Implementation specific error";
    case ReasonCode::UnsupportedProtocolVersion:
      return "Unsupported Protocol Version";
    case ReasonCode::ClientIdentifierNotValid:
      return "Client Identifier not valid";
    case ReasonCode::BadUserNameOrPassword:
      return "Bad User Name or Password";
    case ReasonCode::NotAuthorized:
      return "Not authorized";
    case ReasonCode::ServerUnavailable:
      return "Server unavailable";
    case ReasonCode::ServerBusy:
      return "Server busy";
    case ReasonCode::Banned:
      return "Banned";
    case ReasonCode::ServerShuttingDown:
      return "Server shutting down";
    case ReasonCode::BadAuthenticationMethod:
      return "Bad authentication method";
    case ReasonCode::KeepAliveTimeout:
      return "Keep Alive timeout";
    case ReasonCode::SessionTakenOver:
      return "Session taken over";
    case ReasonCode::TopicFilterInvalid:
      return "Topic Filter invalid";
    case ReasonCode::TopicNameInvalid:
      return "Topic Name invalid";
    case ReasonCode::PacketIdentifierInUse:
      return "Packet Identifier in use";
    case ReasonCode::PacketIdentifierNotFound:
      return "Packet Identifier not found";
    case ReasonCode::ReceiveMaximumExceeded:
      return "Receive Maximum exceeded";
    case ReasonCode::TopicAliasInvalid:
      return "Topic Alias invalid";
    case ReasonCode::PacketTooLarge:
      return "Packet too large";
    case ReasonCode::MessageRateTooHigh:
      return "Message rate too high";
    case ReasonCode::QuotaExceeded:
      return "Quota exceeded";
    case ReasonCode::AdministrativeAction:
      return "Administrative action";
    case ReasonCode::PayloadFormatInvalid:
      return "Payload format invalid";
    case ReasonCode::RetainNotSupported:
      return "Retain not supported";
    case ReasonCode::QosNotSupported:
      return "QoS not supported";
    case ReasonCode::UseAnotherServer:
      return "Use another server";
    case ReasonCode::ServerMoved:
      return "Server moved";
    case ReasonCode::SharedSubscriptionsNotSupported:
      return "Shared Subscriptions not supported";
    case ReasonCode::ConnectionRateExceeded:
      return "Connection rate exceeded";
    case ReasonCode::MaximumConnectTime:
      return "Maximum connect time";
    case ReasonCode::SubscriptionIdentifiersNotSupported:
      return "Subscription Identifiers not supported";
    case ReasonCode::WildcardSubscriptionsNotSupported:
      return "Wildcard Subscriptions not supported";
  }
  return "Unknown";
}

// 3.1.1 has six CONNACK return codes (spec 3.1.1, table 3.1); every refusal of 5.0 maps onto
// the closest of them, and "Server unavailable" is the catch-all.
uint8_t connackReturnCode311(ReasonCode rc) {
  switch (rc) {
    case ReasonCode::Success:
      return 0;
    case ReasonCode::UnsupportedProtocolVersion:
      return 1;
    case ReasonCode::ClientIdentifierNotValid:
      return 2;
    case ReasonCode::BadUserNameOrPassword:
      return 4;
    case ReasonCode::NotAuthorized:
    case ReasonCode::Banned:
      return 5;
    default:
      return 3;
  }
}

ReasonCode reasonFromConnack311(uint8_t returnCode) {
  switch (returnCode) {
    case 0:
      return ReasonCode::Success;
    case 1:
      return ReasonCode::UnsupportedProtocolVersion;
    case 2:
      return ReasonCode::ClientIdentifierNotValid;
    case 3:
      return ReasonCode::ServerUnavailable;
    case 4:
      return ReasonCode::BadUserNameOrPassword;
    case 5:
      return ReasonCode::NotAuthorized;
    default:
      return ReasonCode::UnspecifiedError;
  }
}

}  // namespace moat::mqtt
