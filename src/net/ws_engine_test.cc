#include "net/ws_engine.h"

#include <gtest/gtest.h>

namespace moat::net {
namespace {

IpAddress loopback() { return *IpAddress::parse("127.0.0.1"); }

std::shared_ptr<WsSettings> settings() { return std::make_shared<WsSettings>(); }

std::string request(std::string_view extra = "Sec-WebSocket-Protocol: mqtt\r\n",
                    std::string_view path = "/mqtt") {
  return "GET " + std::string(path) +
         " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, "
         "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
         "13\r\n" +
         std::string(extra) + "\r\n";
}

// A client frame: masked with a fixed key.
std::string clientFrame(uint8_t first, std::string_view payload) {
  std::string f;
  f.push_back(static_cast<char>(first));
  const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  }
  f.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<char>(payload[i] ^ mask[i & 3]));
  return f;
}

struct Upgraded {
  WsEngine engine{settings(), loopback()};
  std::string app, wire;
  Upgraded() {
    auto r = engine.receive(request(), app, wire);
    EXPECT_TRUE(r) << r.error().message;
    wire.clear();
  }
};

TEST(WsEngine, UpgradeAnswersWithTheRfcAcceptKeyAndMqttSubprotocol) {
  WsEngine ws(settings(), loopback());
  std::string app, wire;
  ASSERT_TRUE(ws.receive(request(), app, wire));
  EXPECT_TRUE(ws.handshakeDone());
  // RFC 6455 section 1.3's example key and answer.
  EXPECT_NE(wire.find("HTTP/1.1 101 Switching Protocols\r\n"), std::string::npos) << wire;
  EXPECT_NE(wire.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos);
  EXPECT_NE(wire.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos);
  EXPECT_EQ(ws.facts().subprotocol, "mqtt");
}

TEST(WsEngine, RequestSplitAtEveryByteStillUpgrades) {
  std::string req = request() + clientFrame(0x82, "\x10\x02hi");
  for (size_t cut = 1; cut < req.size(); ++cut) {
    WsEngine ws(settings(), loopback());
    std::string app, wire;
    ASSERT_TRUE(ws.receive(std::string_view(req).substr(0, cut), app, wire)) << cut;
    ASSERT_TRUE(ws.receive(std::string_view(req).substr(cut), app, wire)) << cut;
    EXPECT_TRUE(ws.handshakeDone());
    EXPECT_EQ(app, "\x10\x02hi") << cut;
  }
}

TEST(WsEngine, RefusalsCarryAnHttpStatusAndTheReason) {
  struct Case {
    std::string req;
    std::string status;
    std::string reason;
  };
  auto s = settings();
  s->origins = {"https://app.example"};
  std::vector<Case> cases = {
      {request("", "/other"), "404", "path \"/other\""},
      {"POST /mqtt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "405", "method POST"},
      {"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", "426", "not a WebSocket upgrade"},
      {"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
       "426", "version \"8\""},
      {"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
       "400", "Sec-WebSocket-Key"},
      {request("Origin: https://evil.example\r\n"), "403", "origin \"https://evil.example\""},
      {request("Sec-WebSocket-Protocol: chat, superchat\r\n"), "400", "no MQTT sub-protocol"},
      {"garbage\r\n\r\n", "400", "malformed HTTP request"},
      {request("X-Big: " + std::string(9000, 'a') + "\r\n"), "431", "header over 8192"},
  };
  for (const auto& c : cases) {
    WsEngine ws(s, loopback());
    std::string app, wire;
    auto r = ws.receive(c.req, app, wire);
    ASSERT_FALSE(r) << c.req;
    EXPECT_NE(r.error().message.find(c.reason), std::string::npos) << r.error().message;
    EXPECT_EQ(wire.substr(0, 12), "HTTP/1.1 " + c.status) << wire;
    EXPECT_FALSE(ws.handshakeDone());
  }
}

TEST(WsEngine, AllowedOriginAndNoOriginAreAccepted) {
  auto s = settings();
  s->origins = {"https://app.example"};
  for (std::string extra : {"Origin: https://app.example\r\n", ""}) {
    WsEngine ws(s, loopback());
    std::string app, wire;
    EXPECT_TRUE(ws.receive(request(extra), app, wire)) << extra;
  }
}

TEST(WsEngine, NoSubprotocolOfferedIsAcceptedWithoutOne) {
  WsEngine ws(settings(), loopback());
  std::string app, wire;
  ASSERT_TRUE(ws.receive(request(""), app, wire));
  EXPECT_EQ(wire.find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(WsEngine, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  auto s = settings();
  s->trustedProxies = {*Cidr::parse("127.0.0.0/8"), *Cidr::parse("10.0.0.0/8")};
  std::string xff = "X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.1.2.3\r\n";
  {
    WsEngine ws(s, loopback());
    std::string app, wire;
    ASSERT_TRUE(ws.receive(request(xff), app, wire));
    // The rightmost address that is not a trusted proxy; the one before it is the client's
    // own claim.
    EXPECT_EQ(ws.facts().forwardedFor, "203.0.113.9");
  }
  {
    WsEngine ws(s, *IpAddress::parse("192.0.2.50"));
    std::string app, wire;
    ASSERT_TRUE(ws.receive(request(xff), app, wire));
    EXPECT_EQ(ws.facts().forwardedFor, "");
    EXPECT_TRUE(ws.facts().forwardedIgnored);
  }
  {
    WsEngine ws(s, loopback());
    std::string app, wire;
    EXPECT_FALSE(ws.receive(request("X-Forwarded-For: not-an-ip\r\n"), app, wire));
  }
  s->deny = {*Cidr::parse("203.0.113.0/24")};
  {
    WsEngine ws(s, loopback());
    std::string app, wire;
    auto r = ws.receive(request(xff), app, wire);
    ASSERT_FALSE(r);
    EXPECT_EQ(wire.substr(0, 12), "HTTP/1.1 403");
  }
}

TEST(WsEngine, FramesAreUnmaskedAcrossFragmentsAndSplits) {
  Upgraded u;
  std::string frames = clientFrame(0x02, "\x10\x05") + clientFrame(0x89, "p") +
                       clientFrame(0x80, "abc") + clientFrame(0x82, std::string(300, 'x'));
  for (char c : frames) ASSERT_TRUE(u.engine.receive(std::string_view(&c, 1), u.app, u.wire));
  EXPECT_EQ(u.app,
            "\x10\x05"
            "abc" +
                std::string(300, 'x'));
  // The ping in the middle of the fragmented message was answered with a pong.
  EXPECT_EQ(u.wire, std::string("\x8a\x01p", 3));
}

TEST(WsEngine, ProtocolViolationsCloseWithTheirCode) {
  struct Case {
    std::string frame;
    uint16_t code;
    std::string reason;
  };
  std::string unmasked = "\x82\x01x";
  std::vector<Case> cases = {
      {clientFrame(0x81, "text"), 1003, "text frame"},
      {unmasked, 1002, "unmasked"},
      {clientFrame(0xC2, "x"), 1002, "reserved bits"},
      {clientFrame(0x83, "x"), 1002, "unknown opcode 3"},
      {clientFrame(0x80, "x"), 1002, "continuation frame without a message"},
      {clientFrame(0x02, "x") + clientFrame(0x82, "y"), 1002, "before the previous one ended"},
      {clientFrame(0x09, "x"), 1002, "control frame"},
  };
  for (const auto& c : cases) {
    Upgraded u;
    auto r = u.engine.receive(c.frame, u.app, u.wire);
    ASSERT_FALSE(r) << c.reason;
    EXPECT_NE(r.error().message.find(c.reason), std::string::npos) << r.error().message;
    ASSERT_EQ(u.wire.size(), 4u);
    EXPECT_EQ(static_cast<uint8_t>(u.wire[0]), 0x88);
    EXPECT_EQ((static_cast<uint8_t>(u.wire[2]) << 8) | static_cast<uint8_t>(u.wire[3]), c.code);
  }
}

TEST(WsEngine, FrameOverTheLimitIsRefusedBeforeItsPayloadArrives) {
  auto s = settings();
  s->maxFrameSize = 100;
  WsEngine ws(s, loopback());
  std::string app, wire;
  ASSERT_TRUE(ws.receive(request(), app, wire));
  wire.clear();
  std::string header = clientFrame(0x82, std::string(200, 'x')).substr(0, 8);
  auto r = ws.receive(header, app, wire);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("200 bytes (max_frame_size is 100)"), std::string::npos);
  EXPECT_EQ(static_cast<uint8_t>(wire[3]), 1009 & 0xff);
  EXPECT_TRUE(app.empty());
}

TEST(WsEngine, CloseFromThePeerEndsTheStreamAndLeavesTheAnswerToTheCaller) {
  Upgraded u;
  auto r = u.engine.receive(clientFrame(0x82, "ab") + clientFrame(0x88, "\x03\xe9"), u.app, u.wire);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 0);
  EXPECT_EQ(u.app, "ab");
  // Nothing may follow a close frame, so the answer waits for the caller's last packets.
  EXPECT_TRUE(u.wire.empty());
  EXPECT_TRUE(u.engine.peerClosed());
  EXPECT_EQ(u.engine.peerCloseCode(), 1001);
  u.engine.close(u.engine.peerCloseCode(), u.wire);
  EXPECT_EQ(u.wire, std::string("\x88\x02\x03\xe9", 4));
}

TEST(WsEngine, InvalidCloseFramesAreProtocolErrors) {
  for (std::string body :
       {std::string("\x03", 1), std::string("\x03\xee", 2), std::string("\x00\x01", 2)}) {
    Upgraded u;
    auto r = u.engine.receive(clientFrame(0x88, body), u.app, u.wire);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().code, 0) << r.error().message;
    ASSERT_EQ(u.wire.size(), 4u);
    EXPECT_EQ(static_cast<uint8_t>(u.wire[3]), 1002 & 0xff);
  }
}

TEST(WsEngine, LengthWithTheTopBitSetIsAProtocolError) {
  Upgraded u;
  std::string frame =
      std::string("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01", 10) + std::string(4, '\x11');
  auto r = u.engine.receive(frame, u.app, u.wire);
  ASSERT_FALSE(r);
  EXPECT_EQ(static_cast<uint8_t>(u.wire[3]), 1002 & 0xff);
}

TEST(WsEngine, ForwardedForTakesEveryHeaderLineAndStripsPorts) {
  auto s = settings();
  s->trustedProxies = {*Cidr::parse("127.0.0.0/8")};
  // The client's own line comes first; the proxy added its own line with the real address.
  std::string headers = "X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-For: 203.0.113.9:5678\r\n";
  WsEngine ws(s, loopback());
  std::string app, wire;
  ASSERT_TRUE(ws.receive(request(headers), app, wire)) << wire;
  EXPECT_EQ(ws.facts().forwardedFor, "203.0.113.9");
  WsEngine v6(s, loopback());
  ASSERT_TRUE(v6.receive(request("X-Forwarded-For: [2001:db8::7]:443\r\n"), app, wire));
  EXPECT_EQ(v6.facts().forwardedFor, "2001:db8::7");
}

TEST(WsEngine, RequestWithABodyIsRefused) {
  WsEngine ws(settings(), loopback());
  std::string app, wire;
  auto r = ws.receive(request("Content-Length: 5\r\n"), app, wire);
  ASSERT_FALSE(r);
  EXPECT_EQ(wire.substr(0, 12), "HTTP/1.1 400");
}

TEST(WsEngine, NoPongAfterOurClose) {
  Upgraded u;
  u.engine.close(1000, u.wire);
  u.wire.clear();
  ASSERT_TRUE(u.engine.receive(clientFrame(0x89, "x"), u.app, u.wire));
  EXPECT_TRUE(u.wire.empty());
}

TEST(WsEngine, ClientAndServerTalk) {
  WsEngine client("localhost:1", "/mqtt");
  WsEngine server(settings(), loopback());
  std::string toServer, toClient, app;
  client.start(toServer);
  ASSERT_TRUE(server.receive(toServer, app, toClient));
  toServer.clear();
  // Larger than the server side's default max_frame_size: the client side has no frame limit.
  std::string big(3 * 1024 * 1024, 'z');
  server.frameHeader(big.size(), toClient);
  toClient += big;
  std::string got;
  ASSERT_TRUE(client.receive(toClient, got, toServer));
  EXPECT_TRUE(client.handshakeDone());
  EXPECT_EQ(client.facts().subprotocol, "mqtt");
  EXPECT_EQ(got, big);
  client.send(std::string("\xc0\x00", 2), toServer);
  app.clear();
  std::string none;
  ASSERT_TRUE(server.receive(toServer, app, none));
  EXPECT_EQ(app, std::string("\xc0\x00", 2));
}

TEST(WsEngine, ClientRejectsARefusalOrAWrongAcceptKey) {
  {
    WsEngine client("h", "/mqtt");
    std::string out, app, wire;
    client.start(out);
    auto r = client.receive("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", app, wire);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("404"), std::string::npos);
  }
  {
    WsEngine client("h", "/mqtt");
    std::string out, app, wire;
    client.start(out);
    auto r = client.receive(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        app, wire);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("does not match"), std::string::npos);
  }
}

}  // namespace
}  // namespace moat::net
