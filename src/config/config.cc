#include "config/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "config/config_auth.h"
#include "config/toml_reader.h"
#include "net/admission.h"
#include "net/server_name.h"

namespace moat::config {
namespace {

using detail::at;
using detail::checkAuthChain;
using detail::readAudit;
using detail::readAuth;
using detail::readAuthz;
using detail::readProvenance;
using detail::resolvePath;
using detail::TableReader;

Result<void> readBroker(std::string_view src, const toml::table& t, BrokerSection& b) {
  TableReader r(src, t, "broker");
  MOAT_TRY(r.string("data_dir", b.dataDir));
  MOAT_TRY(r.integer("workers", b.workers, 0, 1024));
  MOAT_TRY(r.string("log_level", b.logLevel));
  static constexpr std::string_view kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool ok = false;
  for (auto l : kLevels) ok = ok || l == b.logLevel;
  if (!ok) {
    return tl::unexpected(at(src, *t.get("log_level"),
                             "broker.log_level must be trace, debug, info, warn, error or off"));
  }
  if (b.dataDir.empty()) {
    return tl::unexpected(at(src, *t.get("data_dir"), "broker.data_dir must not be empty"));
  }
  return r.finish();
}

Result<void> readLimits(std::string_view src, const toml::table& t, LimitsSection& l) {
  TableReader r(src, t, "limits");
  MOAT_TRY(r.integer("connect_timeout", l.connectTimeout, 1, 3600));
  MOAT_TRY(r.integer("max_packet_size", l.maxPacketSize, 64, 268'435'460));
  MOAT_TRY(r.integer("max_keepalive", l.maxKeepAlive, 1, 65535));
  MOAT_TRY(r.integer("receive_maximum", l.receiveMaximum, 1, 65535));
  MOAT_TRY(r.integer("max_inflight", l.maxInflight, 1, 65535));
  MOAT_TRY(r.integer("max_queued_messages", l.maxQueuedMessages, 0, 100'000'000));
  MOAT_TRY(r.integer("max_queued_bytes", l.maxQueuedBytes, 0, int64_t{1} << 40));
  MOAT_TRY(r.integer("publisher_wait", l.publisherWait, 0, 3600));
  MOAT_TRY(r.integer("topic_alias_maximum", l.topicAliasMaximum, 0, 65535));
  MOAT_TRY(r.integer("max_write_buffer", l.maxWriteBuffer, 4096, int64_t{1} << 32));
  MOAT_TRY(
      r.integer("max_subscriptions_per_session", l.maxSubscriptionsPerSession, 1, 100'000'000));
  MOAT_TRY(r.integer("max_retained_messages", l.maxRetainedMessages, 0, int64_t{1} << 40));
  if (r.has("max_session_expiry")) {
    uint32_t v = 0;
    MOAT_TRY(r.integer("max_session_expiry", v, 0, 4'294'967'295));
    l.maxSessionExpiry = v;
  }
  return r.finish();
}

Result<void> parseBind(std::string_view src, const toml::node& node, Listener& l) {
  auto colon = l.bind.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == l.bind.size()) {
    return tl::unexpected(at(src, node, "listener.bind must be \"host:port\""));
  }
  std::string host = l.bind.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = 0;
  for (char c : l.bind.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) {
      return tl::unexpected(at(src, node, "listener.bind port must be a number 0-65535"));
    }
    port = port * 10 + (c - '0');
  }
  if (port > 65535) {
    return tl::unexpected(at(src, node, "listener.bind port must be a number 0-65535"));
  }
  l.host = host;
  l.port = static_cast<uint16_t>(port);
  return {};
}

// [[listener.tls.sni]]: each entry needs names, cert and key; a name may appear only once
// across the entries (which certificate would it choose?).
Result<void> readSni(std::string_view src, const toml::node& node, std::vector<TlsSniEntry>& out) {
  const toml::array* entries = node.as_array();
  if (!entries || !node.is_array_of_tables()) {
    return tl::unexpected(at(src, node, "listener.tls.sni is written [[listener.tls.sni]]"));
  }
  for (const auto& item : *entries) {
    const toml::table& t = *item.as_table();
    TableReader r(src, t, "listener.tls.sni");
    TlsSniEntry e;
    MOAT_TRY(r.strings("names", e.names));
    MOAT_TRY(r.string("cert", e.cert));
    MOAT_TRY(r.string("key", e.key));
    MOAT_TRY(r.string("ocsp_response", e.ocspResponse));
    MOAT_TRY(r.finish());
    for (const char* key : {"names", "cert", "key"}) {
      if (!t.contains(key)) {
        return tl::unexpected(
            at(src, t,
               fmt::format("listener.tls.sni entry without {} (each entry needs names, "
                           "cert and key)",
                           key)));
      }
    }
    const toml::node& names = *t.get("names");
    if (e.names.empty()) {
      return tl::unexpected(at(src, names, "listener.tls.sni.names must list at least one name"));
    }
    for (auto& name : e.names) {
      auto normal = net::normalizeServerName(name);
      if (!normal) {
        return tl::unexpected(
            at(src, names, fmt::format("listener.tls.sni.names: {}", normal.error().message)));
      }
      name = *normal;
      for (const auto& other : out) {
        if (std::find(other.names.begin(), other.names.end(), name) != other.names.end()) {
          return tl::unexpected(at(src, names,
                                   fmt::format("listener.tls.sni.names: \"{}\" is already in "
                                               "another entry; a name may choose one certificate "
                                               "only",
                                               name)));
        }
      }
    }
    for (size_t i = 0; i < e.names.size(); ++i) {
      if (std::find(e.names.begin(), e.names.begin() + i, e.names[i]) != e.names.begin() + i) {
        return tl::unexpected(at(
            src, names, fmt::format("listener.tls.sni.names: \"{}\" is listed twice", e.names[i])));
      }
    }
    for (auto [key, value] : {std::pair{"cert", &e.cert}, std::pair{"key", &e.key}}) {
      if (value->empty()) {
        return tl::unexpected(
            at(src, *t.get(key), fmt::format("listener.tls.sni.{} must not be empty", key)));
      }
    }
    out.push_back(std::move(e));
  }
  return {};
}

Result<void> readTls(std::string_view src, const toml::table& t, TlsSection& tls,
                     const std::string& listener) {
  TableReader r(src, t, "listener.tls");
  MOAT_TRY(r.string("cert", tls.cert));
  MOAT_TRY(r.string("key", tls.key));
  MOAT_TRY(r.string("ca", tls.ca));
  MOAT_TRY(r.string("client_cert", tls.clientCert));
  MOAT_TRY(r.string("min_version", tls.minVersion));
  MOAT_TRY(r.string("max_version", tls.maxVersion));
  std::string text;
  if (r.has("ciphers")) {
    MOAT_TRY(r.string("ciphers", text));
    tls.ciphers = text;
  }
  if (r.has("ciphersuites")) {
    MOAT_TRY(r.string("ciphersuites", text));
    tls.ciphersuites = text;
  }
  if (r.has("groups")) {
    MOAT_TRY(r.string("groups", text));
    tls.groups = text;
  }
  MOAT_TRY(r.integer("verify_depth", tls.verifyDepth, 1, 16));
  MOAT_TRY(r.boolean("session_resumption", tls.sessionResumption));
  MOAT_TRY(r.strings("crl", tls.crl));
  MOAT_TRY(r.string("crl_stale", tls.crlStale));
  MOAT_TRY(r.string("psk_file", tls.pskFile));
  MOAT_TRY(r.string("psk_hint", tls.pskHint));
  auto where = [&](std::string_view key) -> const toml::node& {
    const toml::node* n = t.get(key);
    return n ? *n : static_cast<const toml::node&>(t);
  };
  MOAT_TRY(r.string("identity", tls.identity));
  MOAT_TRY(r.string("identity_as", tls.identityAs));
  MOAT_TRY(r.strings("pin_spki", tls.pinSpki));
  MOAT_TRY(r.string("ocsp_response", tls.ocspResponse));
  MOAT_TRY(r.boolean("sni_strict", tls.sniStrict));
  if (r.has("sni")) {
    MOAT_TRY(readSni(src, *t.get("sni"), tls.sni));
    r.accept("sni");
  }
  MOAT_TRY(r.finish());
  static constexpr std::string_view kIdentities[] = {"none",    "cn",      "subject",
                                                     "san_dns", "san_uri", "san_email"};
  if (std::find(std::begin(kIdentities), std::end(kIdentities), tls.identity) ==
      std::end(kIdentities)) {
    return tl::unexpected(at(src, where("identity"),
                             "listener.tls.identity must be none, cn, subject, san_dns, san_uri "
                             "or san_email"));
  }
  if (tls.identityAs != "username" && tls.identityAs != "client_id" && tls.identityAs != "both") {
    return tl::unexpected(at(src, where("identity_as"),
                             "listener.tls.identity_as must be username, client_id or both"));
  }
  for (auto& pin : tls.pinSpki) {
    std::transform(pin.begin(), pin.end(), pin.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (pin.size() != 64 || pin.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return tl::unexpected(at(src, where("pin_spki"),
                               "listener.tls.pin_spki entries are SHA-256 fingerprints: 64 hex "
                               "digits"));
    }
  }
  if (tls.crlStale != "reject" && tls.crlStale != "warn") {
    return tl::unexpected(
        at(src, *t.get("crl_stale"), "listener.tls.crl_stale must be \"reject\" or \"warn\""));
  }
  if (!tls.crl.empty() && tls.ca.empty()) {
    return tl::unexpected(at(src, *t.get("crl"),
                             fmt::format("listener \"{}\": listener.tls.crl needs ca", listener)));
  }
  if (tls.clientCert != "none" && tls.clientCert != "optional" && tls.clientCert != "require") {
    return tl::unexpected(at(src, where("client_cert"),
                             "listener.tls.client_cert must be none, optional or require"));
  }
  for (auto [key, value] :
       {std::pair{"min_version", &tls.minVersion}, std::pair{"max_version", &tls.maxVersion}}) {
    if (*value != "1.2" && *value != "1.3") {
      return tl::unexpected(at(src, where(key),
                               fmt::format("listener.tls.{} must be \"1.2\" or \"1.3\" (TLS 1.0 "
                                           "and 1.1 are not offered)",
                                           key)));
    }
  }
  if ((tls.cert.empty() || tls.key.empty()) && tls.pskFile.empty()) {
    return tl::unexpected(at(src, t,
                             fmt::format("listener \"{}\": listener.tls needs cert and key (or "
                                         "psk_file for a PSK-only listener)",
                                         listener)));
  }
  // Certificates by name, and what is stapled to the default one, need a default certificate.
  for (auto [key, used] :
       {std::pair{"sni", !tls.sni.empty()}, std::pair{"sni_strict", tls.sniStrict},
        std::pair{"ocsp_response", !tls.ocspResponse.empty()}}) {
    if (used && (tls.cert.empty() || tls.key.empty())) {
      return tl::unexpected(at(src, where(key),
                               fmt::format("listener \"{}\": listener.tls.{} needs cert and key "
                                           "(the default certificate)",
                                           listener, key)));
    }
  }
  if (tls.clientCert != "none" && tls.ca.empty()) {
    return tl::unexpected(at(src, where("client_cert"),
                             fmt::format("listener \"{}\": listener.tls.client_cert needs ca (the "
                                         "client certificates' CA)",
                                         listener)));
  }
  tls.cert = resolvePath(src, tls.cert);
  tls.key = resolvePath(src, tls.key);
  tls.ca = resolvePath(src, tls.ca);
  tls.pskFile = resolvePath(src, tls.pskFile);
  for (auto& f : tls.crl) f = resolvePath(src, f);
  tls.ocspResponse = resolvePath(src, tls.ocspResponse);
  for (auto& e : tls.sni) {
    e.cert = resolvePath(src, e.cert);
    e.key = resolvePath(src, e.key);
    e.ocspResponse = resolvePath(src, e.ocspResponse);
  }
  return {};
}

Result<void> readWebSocket(std::string_view src, const toml::table& t, WebSocketSection& ws) {
  TableReader r(src, t, "listener.websocket");
  MOAT_TRY(r.string("path", ws.path));
  MOAT_TRY(r.strings("origins", ws.origins));
  MOAT_TRY(r.strings("trusted_proxies", ws.trustedProxies));
  MOAT_TRY(r.integer("max_frame_size", ws.maxFrameSize, 16, 256ull * 1024 * 1024));
  MOAT_TRY(r.finish());
  if (ws.path.empty() || ws.path.front() != '/' ||
      ws.path.find_first_of("?# \t\r\n") != std::string::npos) {
    return tl::unexpected(at(src, *t.get("path"),
                             "listener.websocket.path must start with '/' and have no query, "
                             "fragment or spaces"));
  }
  for (const auto& c : ws.trustedProxies) {
    if (auto ok = net::Cidr::parse(c); !ok) {
      return tl::unexpected(
          at(src, *t.get("trusted_proxies"),
             fmt::format("listener.websocket.trusted_proxies: {}", ok.error().message)));
    }
  }
  for (const auto& o : ws.origins) {
    if (o.empty() || o.back() == '/' || o.find("://") == std::string::npos) {
      return tl::unexpected(at(src, *t.get("origins"),
                               fmt::format("listener.websocket.origins: \"{}\" is not an origin "
                                           "(scheme://host[:port], no trailing slash)",
                                           o)));
    }
  }
  return {};
}

Result<void> readListener(std::string_view src, const toml::table& t, Listener& l) {
  TableReader r(src, t, "listener");
  MOAT_TRY(r.string("name", l.name));
  MOAT_TRY(r.string("bind", l.bind));
  std::string transport = "tcp";
  MOAT_TRY(r.string("transport", transport));
  MOAT_TRY(r.boolean("allow_anonymous", l.allowAnonymous));
  MOAT_TRY(r.strings("auth", l.auth));
  MOAT_TRY(r.strings("allow", l.allow));
  MOAT_TRY(r.strings("deny", l.deny));
  MOAT_TRY(r.number("max_connection_rate", l.maxConnectionRate, 0, 1e6));
  MOAT_TRY(r.integer("max_handshakes", l.maxHandshakes, 0, 10'000'000));
  MOAT_TRY(r.string("client_id_must_equal", l.clientIdMustEqual));
  if (!l.clientIdMustEqual.empty() && l.clientIdMustEqual != "username" &&
      l.clientIdMustEqual != "cn") {
    return tl::unexpected(at(src, *t.get("client_id_must_equal"),
                             "listener.client_id_must_equal must be \"username\" or \"cn\""));
  }
  for (const auto* list : {&l.allow, &l.deny}) {
    for (const auto& c : *list) {
      if (auto ok = net::Cidr::parse(c); !ok) {
        return tl::unexpected(at(src, *t.get(list == &l.allow ? "allow" : "deny"),
                                 fmt::format("listener: {}", ok.error().message)));
      }
    }
  }
  if (r.has("tls")) {
    const toml::node* node = t.get("tls");
    if (!node->is_table()) return tl::unexpected(at(src, *node, "listener.tls must be a table"));
    TlsSection tls;
    MOAT_TRY(readTls(src, *node->as_table(), tls, l.name));
    l.tls = std::move(tls);
    r.accept("tls");
  }
  if (r.has("websocket")) {
    const toml::node* node = t.get("websocket");
    if (!node->is_table()) {
      return tl::unexpected(at(src, *node, "listener.websocket must be a table"));
    }
    WebSocketSection ws;
    MOAT_TRY(readWebSocket(src, *node->as_table(), ws));
    l.websocket = std::move(ws);
    r.accept("websocket");
  }
  MOAT_TRY(r.finish());
  if (l.name.empty()) return tl::unexpected(at(src, t, "listener.name is required"));
  if (l.bind.empty()) return tl::unexpected(at(src, t, "listener.bind is required"));
  MOAT_TRY(parseBind(src, *t.get("bind"), l));
  if (transport == "tcp") {
    l.transport = Transport::Tcp;
  } else if (transport == "tls") {
    l.transport = Transport::Tls;
  } else if (transport == "ws") {
    l.transport = Transport::Ws;
  } else if (transport == "wss") {
    l.transport = Transport::Wss;
  } else {
    return tl::unexpected(
        at(src, *t.get("transport"), "listener.transport must be one of tcp, tls, ws, wss"));
  }
  const bool wantsTls = l.transport == Transport::Tls || l.transport == Transport::Wss;
  const bool isWs = l.transport == Transport::Ws || l.transport == Transport::Wss;
  if (l.tls && !wantsTls) {
    return tl::unexpected(at(src, *t.get("tls"),
                             fmt::format("listener \"{}\" has [listener.tls] but transport "
                                         "\"{}\"; use transport = \"{}\"",
                                         l.name, transport, isWs ? "wss" : "tls")));
  }
  if (!l.tls && wantsTls) {
    return tl::unexpected(at(src, t,
                             fmt::format("listener \"{}\": transport \"{}\" needs a [listener.tls] "
                                         "table with cert and key",
                                         l.name, transport)));
  }
  if (l.websocket && !isWs) {
    return tl::unexpected(at(src, *t.get("websocket"),
                             fmt::format("listener \"{}\" has [listener.websocket] but transport "
                                         "\"{}\"; use transport = \"{}\"",
                                         l.name, transport, wantsTls ? "wss" : "ws")));
  }
  if (isWs && !l.websocket) l.websocket.emplace();
  if (l.clientIdMustEqual == "cn" && (!l.tls || l.tls->clientCert == "none")) {
    return tl::unexpected(at(src, *t.get("client_id_must_equal"),
                             fmt::format("listener \"{}\": client_id_must_equal = \"cn\" needs "
                                         "client certificates ([listener.tls] client_cert)",
                                         l.name)));
  }
  return {};
}

}  // namespace

std::string_view transportName(Transport t) {
  switch (t) {
    case Transport::Tcp:
      return "tcp";
    case Transport::Tls:
      return "tls";
    case Transport::Ws:
      return "ws";
    case Transport::Wss:
      return "wss";
  }
  return "?";
}

Result<Config> parse(std::string_view text, std::string_view sourceName) {
  toml::table root;
  try {
    root = toml::parse(text, sourceName);
  } catch (const toml::parse_error& e) {
    return fail(0x80, fmt::format("{}:{}: {}", sourceName, e.source().begin.line, e.description()));
  }
  Config cfg;
  cfg.source = std::string(sourceName);
  for (const auto& [key, node] : root) {
    std::string_view k = key.str();
    if (k == "auth") {
      if (!node.is_table()) return tl::unexpected(at(sourceName, node, "[auth] must be a table"));
      if (auto r = readAuth(sourceName, *node.as_table(), cfg); !r) {
        return tl::unexpected(r.error());
      }
    } else if (k == "authz") {
      if (auto r = readAuthz(sourceName, node, cfg); !r) return tl::unexpected(r.error());
    } else if (k == "audit") {
      if (auto r = readAudit(sourceName, node, cfg.audit); !r) return tl::unexpected(r.error());
    } else if (k == "provenance") {
      if (auto r = readProvenance(sourceName, node, cfg.provenance); !r) {
        return tl::unexpected(r.error());
      }
    } else if (k == "broker" || k == "limits") {
      if (!node.is_table()) {
        return tl::unexpected(at(sourceName, node, fmt::format("[{}] must be a table", k)));
      }
      auto r = k == "broker" ? readBroker(sourceName, *node.as_table(), cfg.broker)
                             : readLimits(sourceName, *node.as_table(), cfg.limits);
      if (!r) return tl::unexpected(r.error());
    } else if (k == "listener") {
      if (!node.is_array_of_tables()) {
        return tl::unexpected(at(sourceName, node, "listeners are written [[listener]]"));
      }
      for (const auto& item : *node.as_array()) {
        Listener l;
        if (auto r = readListener(sourceName, *item.as_table(), l); !r) {
          return tl::unexpected(r.error());
        }
        for (const auto& other : cfg.listeners) {
          if (other.name == l.name) {
            return tl::unexpected(
                at(sourceName, item, fmt::format("listener name \"{}\" is used twice", l.name)));
          }
        }
        cfg.listeners.push_back(std::move(l));
      }
    } else {
      return fail(0x80,
                  fmt::format("{}:{}: unknown key '{}'", sourceName, key.source().begin.line, k));
    }
  }
  if (cfg.listeners.empty()) {
    return fail(0x80, fmt::format("{}: at least one [[listener]] is required", sourceName));
  }
  // Checked once everything is read: [auth.*] may come after the listeners that use it.
  const auto& tables = *root.get("listener")->as_array();
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    if (auto r = checkAuthChain(sourceName, *tables[i].as_table(), cfg.listeners[i], cfg); !r) {
      return tl::unexpected(r.error());
    }
  }
  return cfg;
}

Result<Config> loadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(0x80, fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

Config embeddedDefault() {
  Config cfg;
  cfg.source = "<embedded default>";
  // Anonymous clients are refused: `moat serve` makes an admin user in DATA_DIR/passwd on first
  // run (apps/moat/cmd_serve.cc).
  cfg.authPassword = PasswordAuthSection{};
  cfg.authPassword->file = (std::filesystem::path(cfg.broker.dataDir) / "passwd").string();
  Listener l;
  l.name = "local";
  l.bind = "127.0.0.1:1883";
  l.host = "127.0.0.1";
  l.port = 1883;
  l.transport = Transport::Tcp;
  l.auth = {"password"};
  cfg.listeners.push_back(l);
  return cfg;
}

}  // namespace moat::config
