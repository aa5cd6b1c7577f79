// WsEngine: the WebSocket protocol (RFC 6455) for one connection, without I/O, shaped like
// TlsEngine: bytes from the peer go in through receive(), which yields the MQTT bytes carried
// in binary frames and any bytes the engine must send itself (the upgrade response, pongs,
// close frames); MQTT bytes go out through frameHeader()/send(). On a WSS listener it sits
// above TlsEngine (socket -> TLS -> WebSocket -> MQTT), so a WSS connection gets exactly the
// TLS settings, CRLs and identity mapping of a TLS one.
//
// Server side: parses the HTTP upgrade request (Beast's parser), checks the path, the version,
// the key, the Origin allow-list and the sub-protocol, and honours X-Forwarded-For only from
// configured proxy addresses. Frames are decoded as they stream in: a frame's payload is
// unmasked straight into the caller's buffer, never held whole, so the frame size limit is a
// policy and not a memory bound. Client side (for `moat pub/sub` with ws:// URLs): sends the
// request, checks the 101 answer, masks its frames.
//
// One thread at a time; plain state, so it moves with its connection to another worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "net/admission.h"

namespace moat::net {

// [listener.websocket]
struct WsSettings {
  std::string path = "/mqtt";
  std::vector<std::string> origins;  // allowed Origin values; empty = any (and none)
  std::vector<Cidr> trustedProxies;  // peers whose X-Forwarded-For is believed
  // The listener's allow/deny lists, applied again to a client address a proxy forwarded.
  std::vector<Cidr> allow, deny;
  uint64_t maxFrameSize = 2 * 1024 * 1024;  // payload bytes of one frame
  size_t maxRequestSize = 8192;             // bytes of the upgrade request's header
};

// What the upgrade established.
struct WsFacts {
  std::string path;         // the request target as sent
  std::string origin;       // empty when the client sent none
  std::string subprotocol;  // "mqtt", "mqttv3.1", or empty when none was offered
  std::string userAgent;
  std::string forwardedFor;       // the client's address from X-Forwarded-For (trusted proxy only)
  bool forwardedIgnored = false;  // X-Forwarded-For came from a peer that is not a trusted proxy
};

class WsEngine {
 public:
  // Server side, for a connection from `peer`.
  WsEngine(std::shared_ptr<const WsSettings> settings, const IpAddress& peer);
  // Client side: `host` goes in the Host header, `path` is the request target.
  WsEngine(std::string host, std::string path);
  ~WsEngine();
  WsEngine(const WsEngine&) = delete;
  WsEngine& operator=(const WsEngine&) = delete;

  // Client side: appends the upgrade request to `wire`.
  void start(std::string& wire);

  // Feeds bytes from the peer. Appends the payload of binary frames to `app` and bytes to send
  // to `wire`. Fails with the exact reason on a refused upgrade (server: `wire` then holds the
  // HTTP error response) or a protocol error (`wire` holds a close frame); fails with code 0
  // when the peer sent a close frame (the caller answers with close(peerCloseCode()) after
  // what it still has to send).
  [[nodiscard]] Result<void> receive(std::string_view in, std::string& app, std::string& wire);

  // Appends the header of one binary frame carrying `payloadSize` bytes (server side: the
  // payload follows unmodified, so it can be written straight from where it is).
  void frameHeader(uint64_t payloadSize, std::string& wire) const;
  // Appends one binary frame with `payload` (client side: masked).
  void send(std::string_view payload, std::string& wire);
  // Appends a close frame (once).
  void close(uint16_t code, std::string& wire);

  bool handshakeDone() const { return state_ == State::Open || state_ == State::Closed; }
  bool closeSent() const { return closeSent_; }
  bool peerClosed() const { return state_ == State::Closed; }
  // The code to answer the peer's close frame with (its own, or 1000 when it gave none).
  uint16_t peerCloseCode() const { return peerCloseCode_; }
  const WsFacts& facts() const { return facts_; }

 private:
  enum class State { Request, Response, Open, Closed, Failed };
  Result<void> receiveRequest(std::string& app, std::string& wire);
  Result<void> receiveResponse(std::string& app, std::string& wire);
  Result<void> refuse(int status, std::string_view reason, std::string& wire,
                      std::string_view extraHeaders = {});
  Result<void> receiveFrames(std::string_view in, std::string& app, std::string& wire);
  Result<void> protocolError(uint16_t code, std::string reason, std::string& wire);
  Result<void> controlFrame(std::string& wire);
  void appendFrame(uint8_t opcode, std::string_view payload, std::string& wire);

  bool server_;
  std::shared_ptr<const WsSettings> settings_;
  IpAddress peer_;
  State state_;
  std::string handshake_;  // request/response bytes not yet parsed
  std::string key_;        // client side: the Sec-WebSocket-Key sent
  std::string host_;
  WsFacts facts_;
  bool closeSent_ = false;
  uint16_t peerCloseCode_ = 1000;

  // Frame decoding.
  uint8_t header_[14];
  size_t headerHave_ = 0;
  bool inPayload_ = false;
  uint8_t opcode_ = 0;
  bool fin_ = false;
  bool masked_ = false;
  uint8_t mask_[4] = {};
  uint64_t remaining_ = 0;
  unsigned maskPos_ = 0;
  bool inMessage_ = false;  // a fragmented binary message has begun
  std::string control_;     // payload of the control frame being read (at most 125 bytes)
};

}  // namespace moat::net
