// AuditLog: structured security events, one JSON object per line, appended to a file or written
// to standard output (docs/audit.md). Today it records connection attempts (ConnectionEvent);
// authorization refusals and admin changes will join it.
//
// Events never hold a password, key or token: the caller builds them from facts (names, reason
// codes, TLS facts, a token's kid and sub) and this class writes what it is given.
//
// A line is written with one write(2) of the whole line under a mutex, so lines of different
// threads never interleave, and a crash loses at most the line being written. reopen() starts a
// new file after log rotation (SIGHUP).
//
// Thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "base/result.h"

namespace moat::security {

// One connection attempt: accepted (CONNACK 0) or refused at any stage (admission, TLS
// handshake, WebSocket upgrade, CONNECT).
struct ConnectionEvent {
  std::chrono::system_clock::time_point time;
  std::string listener;
  std::string transport;      // tcp, tls, ws, wss
  std::string remoteAddress;  // the client's address (the forwarded one behind a proxy)
  uint16_t remotePort = 0;    // 0 when unknown (behind a proxy)
  std::string proxy;          // "ip:port" of the trusted proxy, when forwarded
  std::string clientId;       // empty before CONNECT was read
  std::string username;       // the user name the client gave or proved; empty = none
  std::string method;         // the authentication method that decided; empty = none reached
  bool accepted = false;
  std::string stage;              // admission, tls, websocket, connect, authentication
  std::optional<int> reasonCode;  // the CONNACK code sent (5.0 numbering), if one was
  std::string reason;             // "Bad user name or password", "TLS handshake failed", ...
  std::string detail;             // the exact why, as in the log line
  std::string protocol;           // "3.1.1", "5.0"; empty before CONNECT
  // TLS facts, where there is TLS.
  std::string tlsVersion, tlsCipher, certSubject, certIssuer, certSerial, pskIdentity;
  // A token's key id and subject (never the token).
  std::string tokenKid, tokenSub;

  boost::json::object toJson() const;
};

// One refusal by the authorization policy: who, what, on which topic, and the rule that
// decided (or none: the default deny).
struct AuthorizationEvent {
  std::chrono::system_clock::time_point time;
  std::string listener;
  std::string clientId;
  std::string username;
  std::string action;       // publish, subscribe, receive, retain, will
  std::string topic;        // a topic name, or the filter for subscribe
  std::string rule;         // as written; empty when none matched
  std::string where;        // "acl:12"
  std::string detail;       // Decision::explain()
  uint64_t suppressed = 0;  // refusals of this client not written since the last event

  boost::json::object toJson() const;
};

class AuditLog {
 public:
  // `target`: a file path (created 0600 if missing, appended to) or "-" for standard output.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(const std::string& target);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void write(const boost::json::object& event);
  void write(const ConnectionEvent& event) { write(event.toJson()); }
  void write(const AuthorizationEvent& event) { write(event.toJson()); }
  // Opens the file again by name (after rotation); on failure keeps the old one.
  [[nodiscard]] Result<void> reopen();
  const std::string& target() const { return target_; }
  // Lines that could not be written (disk full, ...), counted rather than blocking clients.
  uint64_t lost() const;

 private:
  AuditLog(std::string target, int fd) : target_(std::move(target)), fd_(fd) {}

  std::string target_;
  mutable std::mutex mutex_;
  int fd_;
  uint64_t lost_ = 0;
  bool lostWarned_ = false;
};

// "2026-11-22T10:00:00.123Z"
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace moat::security
