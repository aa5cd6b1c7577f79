// MQTT 5.0 reason codes (spec 2.4), used as the error code of every codec and broker Error.
// For 3.1.1 the encoder maps them to the few return codes that version has (CONNACK, SUBACK).
#pragma once

#include <cstdint>
#include <string_view>

namespace moat::mqtt {

enum class ReasonCode : uint8_t {
  Success = 0x00,  // also Normal disconnection, Granted QoS 0
  GrantedQos1 = 0x01,
  GrantedQos2 = 0x02,
  DisconnectWithWill = 0x04,
  NoMatchingSubscribers = 0x10,
  NoSubscriptionExisted = 0x11,
  ContinueAuthentication = 0x18,
  ReAuthenticate = 0x19,
  UnspecifiedError = 0x80,
  MalformedPacket = 0x81,
  ProtocolError = 0x82,
  ImplementationSpecificError = 0x83,
  UnsupportedProtocolVersion = 0x84,
  ClientIdentifierNotValid = 0x85,
  BadUserNameOrPassword = 0x86,
  NotAuthorized = 0x87,
  ServerUnavailable = 0x88,
  ServerBusy = 0x89,
  Banned = 0x8A,
  ServerShuttingDown = 0x8B,
  BadAuthenticationMethod = 0x8C,
  KeepAliveTimeout = 0x8D,
  SessionTakenOver = 0x8E,
  TopicFilterInvalid = 0x8F,
  TopicNameInvalid = 0x90,
  PacketIdentifierInUse = 0x91,
  PacketIdentifierNotFound = 0x92,
  ReceiveMaximumExceeded = 0x93,
  TopicAliasInvalid = 0x94,
  PacketTooLarge = 0x95,
  MessageRateTooHigh = 0x96,
  QuotaExceeded = 0x97,
  AdministrativeAction = 0x98,
  PayloadFormatInvalid = 0x99,
  RetainNotSupported = 0x9A,
  QosNotSupported = 0x9B,
  UseAnotherServer = 0x9C,
  ServerMoved = 0x9D,
  SharedSubscriptionsNotSupported = 0x9E,
  ConnectionRateExceeded = 0x9F,
  MaximumConnectTime = 0xA0,
  SubscriptionIdentifiersNotSupported = 0xA1,
  WildcardSubscriptionsNotSupported = 0xA2,
};

// The spec's name of a reason code, e.g. "Malformed Packet"; "Unknown" for other values.
std::string_view reasonName(ReasonCode rc);
inline std::string_view reasonName(uint8_t rc) { return reasonName(static_cast<ReasonCode>(rc)); }

inline constexpr uint8_t code(ReasonCode rc) { return static_cast<uint8_t>(rc); }

// 3.1.1 CONNACK return codes (spec 3.1.1, 3.2.2.3) from 5.0 reason codes:
// 0x84->1, 0x85->2, 0x88/0x89/0x8B and anything else->3, 0x86->4, 0x87/0x8A->5.
uint8_t connackReturnCode311(ReasonCode rc);
// The inverse, for clients: 1->0x84, 2->0x85, 3->0x88, 4->0x86, 5->0x87, other->0x80.
ReasonCode reasonFromConnack311(uint8_t returnCode);

}  // namespace moat::mqtt
