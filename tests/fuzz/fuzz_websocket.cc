// libFuzzer target for the WebSocket engine's server side (the HTTP upgrade request and the
// frames after it, all untrusted). The first input byte picks a chunk size; the rest is the
// byte stream from the client, fed once whole and once in chunks of that size.
//
// Besides "no crash, no sanitizer report": both feeds must agree on success and on the MQTT
// bytes delivered (framing must not depend on how TCP splits the stream), the delivered bytes
// can never outnumber the input, and an engine that failed stays failed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "net/ws_engine.h"

namespace {

namespace net = moat::net;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_websocket: %s\n", what);
  std::abort();
}

struct Outcome {
  bool ok = true;
  std::string app;
};

Outcome feed(std::string_view stream, size_t chunk) {
  static const auto settings = [] {
    auto s = std::make_shared<net::WsSettings>();
    s->origins = {"https://app.example"};
    s->trustedProxies = {*net::Cidr::parse("127.0.0.0/8")};
    s->deny = {*net::Cidr::parse("192.0.2.0/24")};
    s->maxFrameSize = 4096;
    return s;
  }();
  net::WsEngine engine(settings, *net::IpAddress::parse("127.0.0.1"));
  Outcome out;
  std::string wire;
  for (size_t at = 0; at < stream.size(); at += chunk) {
    auto r = engine.receive(stream.substr(at, chunk), out.app, wire);
    if (!r) {
      out.ok = false;
      std::string more;
      if (engine.receive("x", more, wire) || !more.empty())
        die("engine accepted bytes after failing");
      break;
    }
  }
  if (out.app.size() > stream.size()) die("more bytes delivered than received");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t chunk = 1 + data[0] % 64;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  Outcome whole = feed(stream, stream.size() + 1);
  Outcome split = feed(stream, chunk);
  if (whole.ok != split.ok) die("whole and split feeds disagree on success");
  if (whole.app != split.app) die("whole and split feeds delivered different bytes");
  return 0;
}
