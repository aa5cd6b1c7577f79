#include "net/ws_engine.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <cstring>

namespace moat::net {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

enum Opcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10
};

// Close codes (RFC 6455 7.4.1).
constexpr uint16_t kNormal = 1000;
constexpr uint16_t kProtocolError = 1002;
constexpr uint16_t kUnsupportedData = 1003;
constexpr uint16_t kTooBig = 1009;

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

// Sec-WebSocket-Accept for `key` (RFC 6455 4.2.2): base64(SHA-1(key + GUID)).
std::string acceptFor(std::string_view key) {
  std::string in = std::string(key) + std::string(kAcceptGuid);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), digest, &len, EVP_sha1(), nullptr);
  return base64(digest, len);
}

// A Sec-WebSocket-Key must be the base64 form of 16 bytes: 22 characters and "==".
bool validKey(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> commaList(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    size_t comma = s.find(',');
    auto item = trim(s.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// Printable for a log line: at most 100 bytes, control characters replaced.
std::string printable(std::string_view s) {
  std::string out(s.substr(0, 100));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (s.size() > 100) out += "...";
  return out;
}

// An address in X-Forwarded-For as proxies write it: "192.0.2.7", "192.0.2.7:5678",
// "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:443" -> the address alone.
std::string_view withoutPort(std::string_view hop) {
  if (!hop.empty() && hop.front() == '[') {
    size_t close = hop.find(']');
    return close == std::string_view::npos ? hop : hop.substr(1, close - 1);
  }
  if (size_t colon = hop.find(':');
      colon != std::string_view::npos && hop.find(':', colon + 1) == std::string_view::npos) {
    return hop.substr(0, colon);  // IPv4 with a port (an IPv6 address has several colons)
  }
  return hop;
}

// Close codes a peer may send (RFC 6455 7.4): the defined ones that may appear on the wire,
// and the ranges for libraries and applications.
bool validCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

std::string_view statusText(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

// The client side streams frames like the server, so it needs no frame limit: the server's
// batches of packets may be large.
std::shared_ptr<const WsSettings> clientSettings() {
  auto s = std::make_shared<WsSettings>();
  s->maxFrameSize = UINT64_MAX >> 1;
  return s;
}

}  // namespace

WsEngine::WsEngine(std::shared_ptr<const WsSettings> settings, const IpAddress& peer)
    : server_(true), settings_(std::move(settings)), peer_(peer), state_(State::Request) {}

WsEngine::WsEngine(std::string host, std::string path)
    : server_(false),
      settings_(clientSettings()),
      state_(State::Response),
      host_(std::move(host)) {
  facts_.path = std::move(path);
}

WsEngine::~WsEngine() = default;

void WsEngine::start(std::string& wire) {
  unsigned char nonce[16];
  RAND_bytes(nonce, sizeof nonce);
  key_ = base64(nonce, sizeof nonce);
  wire += fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n"
      "User-Agent: moat\r\n\r\n",
      facts_.path.empty() ? "/" : facts_.path, host_, key_);
}

Result<void> WsEngine::receive(std::string_view in, std::string& app, std::string& wire) {
  switch (state_) {
    case State::Request:
    case State::Response:
      handshake_.append(in);
      return server_ ? receiveRequest(app, wire) : receiveResponse(app, wire);
    case State::Open:
      return receiveFrames(in, app, wire);
    case State::Closed:
      return fail(0x00, "WebSocket closed");
    case State::Failed:
      return fail(0x80, "WebSocket failed");
  }
  return {};
}

Result<void> WsEngine::refuse(int status, std::string_view reason, std::string& wire,
                              std::string_view extraHeaders) {
  state_ = State::Failed;
  wire += fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}"
      "Connection: close\r\n\r\n{}\n",
      status, statusText(status), reason.size() + 1, extraHeaders, reason);
  return fail(0x80, std::string(reason));
}

Result<void> WsEngine::receiveRequest(std::string& app, std::string& wire) {
  // Parse only once the header is complete, so a request sent a byte at a time is parsed once.
  if (handshake_.find("\r\n\r\n") == std::string::npos) {
    // Something that does not even start like a request line (raw MQTT sent to a WebSocket
    // port, say) is refused at once rather than when the connect timeout runs out.
    size_t method = 0;
    while (method < handshake_.size() && handshake_[method] >= 'A' && handshake_[method] <= 'Z') {
      ++method;
    }
    if (method < handshake_.size() && (method == 0 || handshake_[method] != ' ')) {
      return refuse(400, "malformed HTTP request (no request line)", wire);
    }
    if (handshake_.size() <= settings_->maxRequestSize) return {};
    return refuse(
        431, fmt::format("upgrade request header over {} bytes", settings_->maxRequestSize), wire);
  }
  http::request_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(settings_->maxRequestSize));
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(handshake_), ec);
  if (ec == http::error::need_more && parser.is_header_done()) {
    return refuse(400, "an upgrade request has no body", wire);
  }
  if (ec == http::error::header_limit || ec == http::error::need_more) {
    return refuse(
        431, fmt::format("upgrade request header over {} bytes", settings_->maxRequestSize), wire);
  }
  if (ec || !parser.is_done()) {
    return refuse(
        400,
        fmt::format("malformed HTTP request ({})", ec ? ec.message() : "a body is not expected"),
        wire);
  }
  const auto& req = parser.get();
  facts_.path = std::string(req.target());
  facts_.origin = std::string(req[http::field::origin]);
  facts_.userAgent = printable(req[http::field::user_agent]);

  if (req.method() != http::verb::get) {
    return refuse(405, fmt::format("method {} (only GET upgrades)", printable(req.method_string())),
                  wire);
  }
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path != settings_->path) {
    return refuse(
        404,
        fmt::format("path \"{}\" (the listener serves \"{}\")", printable(path), settings_->path),
        wire);
  }
  if (!boost::beast::websocket::is_upgrade(req)) {
    return refuse(426, "not a WebSocket upgrade request", wire,
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  }
  if (req[http::field::sec_websocket_version] != "13") {
    return refuse(426,
                  fmt::format("WebSocket version \"{}\" (only 13)",
                              printable(req[http::field::sec_websocket_version])),
                  wire, "Sec-WebSocket-Version: 13\r\n");
  }
  std::string_view key = trim(req[http::field::sec_websocket_key]);
  if (!validKey(key)) return refuse(400, "missing or malformed Sec-WebSocket-Key", wire);

  if (!settings_->origins.empty() && !facts_.origin.empty() &&
      std::find(settings_->origins.begin(), settings_->origins.end(), facts_.origin) ==
          settings_->origins.end()) {
    return refuse(403, fmt::format("origin \"{}\" is not allowed", printable(facts_.origin)), wire);
  }

  // Sub-protocol: "mqtt" (3.1.1 and 5.0), or "mqttv3.1" for 3.1 clients. A client that offers
  // sub-protocols but no MQTT one is talking about something else.
  auto offered = commaList(req[http::field::sec_websocket_protocol]);
  if (!offered.empty()) {
    for (std::string_view want : {"mqtt", "mqttv3.1"}) {
      if (std::find(offered.begin(), offered.end(), want) != offered.end()) {
        facts_.subprotocol = std::string(want);
        break;
      }
    }
    if (facts_.subprotocol.empty()) {
      return refuse(400,
                    fmt::format("no MQTT sub-protocol offered (offered \"{}\")",
                                printable(req[http::field::sec_websocket_protocol])),
                    wire);
    }
  }

  // X-Forwarded-For, only from a trusted proxy: the client is the rightmost address that is
  // not itself a trusted proxy (addresses further left were written by the client).
  // A proxy may add its own header line rather than extend the client's: all lines count, in
  // order.
  std::string xff;
  for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it) {
    if (!xff.empty()) xff += ',';
    xff += std::string(it->value());
  }
  if (!xff.empty()) {
    auto trusted = [&](const IpAddress& a) {
      return std::any_of(settings_->trustedProxies.begin(), settings_->trustedProxies.end(),
                         [&](const Cidr& c) { return c.contains(a); });
    };
    if (!trusted(peer_)) {
      facts_.forwardedIgnored = true;
    } else {
      auto hops = commaList(xff);
      for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
        std::string_view hop = withoutPort(*it);
        auto a = IpAddress::parse(hop);
        if (!a) {
          return refuse(400, fmt::format("malformed X-Forwarded-For \"{}\"", printable(xff)), wire);
        }
        facts_.forwardedFor = std::string(hop);
        if (!trusted(*a)) break;
      }
      auto client = IpAddress::parse(facts_.forwardedFor);
      auto in = [&](const std::vector<Cidr>& list) {
        return std::any_of(list.begin(), list.end(),
                           [&](const Cidr& c) { return c.contains(*client); });
      };
      if (client && (in(settings_->deny) || (!settings_->allow.empty() && !in(settings_->allow)))) {
        return refuse(403,
                      fmt::format("forwarded client address {} is not allowed on this "
                                  "listener",
                                  facts_.forwardedFor),
                      wire);
      }
    }
  }

  wire += fmt::format(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: {}\r\n{}\r\n",
      acceptFor(key),
      facts_.subprotocol.empty() ? "" : "Sec-WebSocket-Protocol: " + facts_.subprotocol + "\r\n");
  state_ = State::Open;
  std::string rest = handshake_.substr(used);
  std::string().swap(handshake_);
  return rest.empty() ? Result<void>{} : receiveFrames(rest, app, wire);
}

Result<void> WsEngine::receiveResponse(std::string& app, std::string& wire) {
  http::response_parser<http::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(settings_->maxRequestSize));
  parser.skip(true);  // a 101 has no body, whatever its headers say
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(handshake_), ec);
  if (ec == http::error::need_more && handshake_.size() <= settings_->maxRequestSize) return {};
  if (ec) {
    state_ = State::Failed;
    return fail(0x80, fmt::format("malformed WebSocket upgrade response ({})", ec.message()));
  }
  const auto& res = parser.get();
  if (res.result_int() != 101) {
    state_ = State::Failed;
    return fail(0x80, fmt::format("the server refused the WebSocket upgrade: {} {}",
                                  res.result_int(), printable(res.reason())));
  }
  if (res[http::field::sec_websocket_accept] != acceptFor(key_)) {
    state_ = State::Failed;
    return fail(0x80, "the server's Sec-WebSocket-Accept does not match the key sent");
  }
  if (!boost::beast::http::token_list(res[http::field::upgrade]).exists("websocket") ||
      !boost::beast::http::token_list(res[http::field::connection]).exists("upgrade")) {
    state_ = State::Failed;
    return fail(0x80, "the server's 101 answer lacks Upgrade: websocket / Connection: upgrade");
  }
  facts_.subprotocol = std::string(res[http::field::sec_websocket_protocol]);
  if (!facts_.subprotocol.empty() && facts_.subprotocol != "mqtt") {
    state_ = State::Failed;
    return fail(0x80, fmt::format("the server chose the sub-protocol \"{}\" (mqtt was offered)",
                                  printable(facts_.subprotocol)));
  }
  state_ = State::Open;
  std::string rest = handshake_.substr(used);
  std::string().swap(handshake_);
  return rest.empty() ? Result<void>{} : receiveFrames(rest, app, wire);
}

Result<void> WsEngine::protocolError(uint16_t code, std::string reason, std::string& wire) {
  close(code, wire);
  state_ = State::Failed;
  return fail(0x80, std::move(reason));
}

Result<void> WsEngine::receiveFrames(std::string_view in, std::string& app, std::string& wire) {
  while (!in.empty()) {
    if (!inPayload_) {
      // Gather the header: 2 bytes, then 0, 2 or 8 bytes of length, then 4 of mask (the
      // first two say how many follow). At most 14 bytes, so byte by byte is fine.
      auto headerSize = [&]() -> size_t {
        if (headerHave_ < 2) return 2;
        uint8_t len7 = header_[1] & 0x7f;
        return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
      };
      while (headerHave_ < headerSize() && !in.empty()) {
        header_[headerHave_++] = static_cast<uint8_t>(in.front());
        in.remove_prefix(1);
      }
      if (headerHave_ < headerSize()) break;
      uint8_t len7 = header_[1] & 0x7f;

      fin_ = header_[0] & 0x80;
      opcode_ = header_[0] & 0x0f;
      masked_ = header_[1] & 0x80;
      uint64_t len = len7;
      size_t at = 2;
      if (len7 == 126) {
        len = (uint64_t{header_[2]} << 8) | header_[3];
        at = 4;
      } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
        at = 10;
      }
      if (masked_) std::memcpy(mask_, header_ + at, 4);
      headerHave_ = 0;
      maskPos_ = 0;
      remaining_ = len;

      if (header_[0] & 0x70) {
        return protocolError(kProtocolError, "WebSocket frame with reserved bits set", wire);
      }
      if (server_ && !masked_) {
        return protocolError(kProtocolError, "unmasked WebSocket frame from a client", wire);
      }
      if (!server_ && masked_) {
        return protocolError(kProtocolError, "masked WebSocket frame from the server", wire);
      }
      if (opcode_ >= 8) {
        if (opcode_ > kPong) {
          return protocolError(
              kProtocolError, fmt::format("WebSocket frame with unknown opcode {}", opcode_), wire);
        }
        if (!fin_ || len > 125) {
          return protocolError(kProtocolError, "fragmented or oversized WebSocket control frame",
                               wire);
        }
        control_.clear();
      } else if (opcode_ == kText) {
        // [MQTT-6.0.0-1] MQTT travels in binary frames only.
        return protocolError(kUnsupportedData, "WebSocket text frame (MQTT needs binary frames)",
                             wire);
      } else if (opcode_ == kBinary) {
        if (inMessage_) {
          return protocolError(kProtocolError,
                               "new WebSocket message before the previous one ended", wire);
        }
        inMessage_ = !fin_;
      } else if (opcode_ == kContinuation) {
        if (!inMessage_) {
          return protocolError(kProtocolError, "WebSocket continuation frame without a message",
                               wire);
        }
        inMessage_ = !fin_;
      } else {
        return protocolError(kProtocolError,
                             fmt::format("WebSocket frame with unknown opcode {}", opcode_), wire);
      }
      if (len >> 63) {
        return protocolError(kProtocolError, "WebSocket frame length with the top bit set", wire);
      }
      if (opcode_ < 8 && len > settings_->maxFrameSize) {
        return protocolError(kTooBig,
                             fmt::format("WebSocket frame of {} bytes (max_frame_size is {})", len,
                                         settings_->maxFrameSize),
                             wire);
      }
      inPayload_ = true;
    }

    size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
    std::string& to = opcode_ >= 8 ? control_ : app;
    size_t start = to.size();
    to.append(in.data(), take);
    if (masked_) {
      char* p = to.data() + start;
      for (size_t i = 0; i < take; ++i) p[i] ^= static_cast<char>(mask_[(maskPos_ + i) & 3]);
      maskPos_ = static_cast<unsigned>((maskPos_ + take) & 3);
    }
    in.remove_prefix(take);
    remaining_ -= take;
    if (remaining_ == 0) {
      inPayload_ = false;
      if (opcode_ >= 8) {
        auto r = controlFrame(wire);
        if (!r) return r;
      }
    }
  }
  return {};
}

Result<void> WsEngine::controlFrame(std::string& wire) {
  switch (opcode_) {
    case kPing:
      if (!closeSent_) appendFrame(kPong, control_, wire);
      return {};
    case kPong:
      return {};
    case kClose: {
      if (control_.size() == 1) {
        return protocolError(kProtocolError, "WebSocket close frame with a 1-byte body", wire);
      }
      uint16_t code = control_.size() >= 2
                          ? static_cast<uint16_t>((static_cast<uint8_t>(control_[0]) << 8) |
                                                  static_cast<uint8_t>(control_[1]))
                          : 1005;  // "no status code present"
      if (control_.size() >= 2 && !validCloseCode(code)) {
        return protocolError(kProtocolError,
                             fmt::format("WebSocket close frame with code {}", code), wire);
      }
      // The answering close frame is the caller's to send (close()), after whatever it still
      // has to write: nothing may follow a close frame.
      peerCloseCode_ = code == 1005 ? kNormal : code;
      state_ = State::Closed;
      return fail(0x00, fmt::format("WebSocket closed by the peer (code {})", code));
    }
  }
  return {};
}

void WsEngine::frameHeader(uint64_t payloadSize, std::string& wire) const {
  wire.push_back(static_cast<char>(0x80 | kBinary));
  uint8_t maskBit = server_ ? 0 : 0x80;
  if (payloadSize < 126) {
    wire.push_back(static_cast<char>(maskBit | payloadSize));
  } else if (payloadSize <= 0xffff) {
    wire.push_back(static_cast<char>(maskBit | 126));
    wire.push_back(static_cast<char>(payloadSize >> 8));
    wire.push_back(static_cast<char>(payloadSize & 0xff));
  } else {
    wire.push_back(static_cast<char>(maskBit | 127));
    for (int i = 7; i >= 0; --i) wire.push_back(static_cast<char>((payloadSize >> (8 * i)) & 0xff));
  }
}

void WsEngine::appendFrame(uint8_t opcode, std::string_view payload, std::string& wire) {
  size_t start = wire.size();
  frameHeader(payload.size(), wire);
  wire[start] = static_cast<char>(0x80 | opcode);
  if (server_) {
    wire.append(payload);
    return;
  }
  unsigned char mask[4];
  RAND_bytes(mask, sizeof mask);
  wire.append(reinterpret_cast<const char*>(mask), 4);
  size_t at = wire.size();
  wire.append(payload);
  for (size_t i = 0; i < payload.size(); ++i) wire[at + i] ^= static_cast<char>(mask[i & 3]);
}

void WsEngine::send(std::string_view payload, std::string& wire) {
  appendFrame(kBinary, payload, wire);
}

void WsEngine::close(uint16_t code, std::string& wire) {
  if (closeSent_) return;
  closeSent_ = true;
  char body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  appendFrame(kClose, std::string_view(body, 2), wire);
}

}  // namespace moat::net
