#include "apps/moat/client_flags.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <limits>

#include "apps/moat/broker_url.h"
#include "apps/moat/scram_authenticator.h"
#include "client/packet_text.h"
#include "mqtt/topic.h"

namespace moat::app {

namespace {

enum class PropType { Byte, TwoByte, FourByte, Varint, String, Binary, UserProperty };

// The -D commands, as bits of PropertySpec::commands.
constexpr std::string_view kCommandNames[] = {"connect",     "publish",    "subscribe",
                                              "unsubscribe", "disconnect", "will"};
enum : unsigned {
  kConnect = 1,
  kPublish = 2,
  kSubscribe = 4,
  kUnsubscribe = 8,
  kDisconnect = 16,
  kWill = 32
};

struct PropertySpec {
  std::string_view name;
  PropType type;
  unsigned commands;  // which -D commands it is allowed on, as in mosquitto
};

const PropertySpec kProperties[] = {
    {"payload-format-indicator", PropType::Byte, kPublish | kWill},
    {"message-expiry-interval", PropType::FourByte, kPublish | kWill},
    {"content-type", PropType::String, kPublish | kWill},
    {"response-topic", PropType::String, kPublish | kWill},
    {"correlation-data", PropType::Binary, kPublish | kWill},
    {"subscription-identifier", PropType::Varint, kSubscribe},
    {"session-expiry-interval", PropType::FourByte, kConnect | kDisconnect},
    {"request-problem-information", PropType::Byte, kConnect},
    {"will-delay-interval", PropType::FourByte, kWill},
    {"request-response-information", PropType::Byte, kConnect},
    {"reason-string", PropType::String, kDisconnect},
    {"receive-maximum", PropType::TwoByte, kConnect},
    {"topic-alias-maximum", PropType::TwoByte, kConnect},
    {"topic-alias", PropType::TwoByte, kPublish},
    {"user-property", PropType::UserProperty,
     kConnect | kPublish | kSubscribe | kUnsubscribe | kDisconnect | kWill},
    {"maximum-packet-size", PropType::FourByte, kConnect},
};

Result<uint64_t> parseUnsigned(std::string_view s, uint64_t max, std::string_view what) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) {
    return fail(0x80, "invalid value '" + std::string(s) + "' for " + std::string(what) + " (0.." +
                          std::to_string(max) + ")");
  }
  return v;
}

mqtt::Properties* propertiesFor(PropertySets& sets, std::string_view command) {
  if (command == "connect") return &sets.connect;
  if (command == "publish") return &sets.publish;
  if (command == "subscribe") return &sets.subscribe;
  if (command == "unsubscribe") return &sets.unsubscribe;
  if (command == "disconnect") return &sets.disconnect;
  if (command == "will") return &sets.will;
  return nullptr;
}

Result<void> applyProperty(const std::vector<std::string>& args, PropertySets& sets,
                           std::span<const std::string_view> commands) {
  if (args.size() < 3) return fail(0x80, "-D needs: command property value");
  const std::string& command = args[0];
  const std::string& name = args[1];
  if (std::find(commands.begin(), commands.end(), command) == commands.end()) {
    return fail(0x80, "invalid command '" + command + "' for -D");
  }
  const PropertySpec* spec = nullptr;
  for (const auto& p : kProperties) {
    if (p.name == name) spec = &p;
  }
  if (!spec) return fail(0x80, "unknown property '" + name + "'");
  unsigned bit = 0;
  for (size_t i = 0; i < std::size(kCommandNames); ++i) {
    if (kCommandNames[i] == command) bit = 1u << i;
  }
  if ((spec->commands & bit) == 0) {
    return fail(0x80, "property '" + name + "' is not allowed on " + command);
  }
  size_t want = spec->type == PropType::UserProperty ? 4 : 3;
  if (args.size() != want) {
    return fail(0x80, "-D " + command + " " + name + " needs " +
                          (want == 4 ? "a key and a value" : "one value"));
  }
  mqtt::Properties& props = *propertiesFor(sets, command);
  const std::string& value = args[2];
  uint64_t max = spec->type == PropType::Byte      ? 0xFF
                 : spec->type == PropType::TwoByte ? 0xFFFF
                 : spec->type == PropType::Varint  ? 268'435'455
                                                   : 0xFFFFFFFF;
  uint64_t n = 0;
  if (spec->type == PropType::Byte || spec->type == PropType::TwoByte ||
      spec->type == PropType::FourByte || spec->type == PropType::Varint) {
    auto r = parseUnsigned(value, max, name);
    if (!r) return tl::unexpected(r.error());
    n = *r;
  }
  if (name == "payload-format-indicator")
    props.payloadFormatIndicator = n;
  else if (name == "message-expiry-interval")
    props.messageExpiryInterval = n;
  else if (name == "content-type")
    props.contentType = value;
  else if (name == "response-topic")
    props.responseTopic = value;
  else if (name == "correlation-data")
    props.correlationData = value;
  else if (name == "subscription-identifier") {
    if (n == 0) return fail(0x80, "subscription-identifier must be 1..268435455");
    props.subscriptionIdentifiers = {static_cast<uint32_t>(n)};
  } else if (name == "session-expiry-interval")
    props.sessionExpiryInterval = n;
  else if (name == "request-problem-information")
    props.requestProblemInformation = n;
  else if (name == "will-delay-interval")
    props.willDelayInterval = n;
  else if (name == "request-response-information")
    props.requestResponseInformation = n;
  else if (name == "reason-string")
    props.reasonString = value;
  else if (name == "receive-maximum") {
    if (n == 0) return fail(0x80, "receive-maximum must be 1..65535");
    props.receiveMaximum = n;
  } else if (name == "topic-alias-maximum")
    props.topicAliasMaximum = n;
  else if (name == "topic-alias") {
    if (n == 0) return fail(0x80, "topic-alias must be 1..65535");
    props.topicAlias = n;
  } else if (name == "user-property")
    props.userProperties.emplace_back(value, args[3]);
  else if (name == "maximum-packet-size") {
    if (n == 0) return fail(0x80, "maximum-packet-size must be 1..4294967295");
    props.maximumPacketSize = n;
  }
  sets.any = true;
  return {};
}

}  // namespace

Result<mqtt::Version> parseVersion(std::string_view s) {
  if (s == "mqttv31" || s == "31") return mqtt::Version::V31;
  if (s == "mqttv311" || s == "311") return mqtt::Version::V311;
  if (s == "mqttv5" || s == "5") return mqtt::Version::V5;
  return fail(0x80, "Invalid protocol version '" + std::string(s) +
                        "', must be mqttv31, mqttv311 or mqttv5");
}

void addClientFlags(CLI::App& app, ClientFlags& f) {
  app.set_help_flag("--help", "print this help and exit");
  app.add_option("-h,--host", f.host, "host to connect to (default localhost)");
  app.add_option("-p,--port", f.port, "port to connect to (default 1883, 8883 with TLS)")
      ->check(CLI::Range(1, 65535));
  app.add_option("-L,--url", f.url,
                 "mqtt(s)://[user[:password]@]host[:port]/topic instead of -h, -p and -t; ws:// "
                 "and wss:// for MQTT over WebSocket");
  app.add_option("--ws-path", f.wsPath,
                 "MQTT over WebSocket to this path (default /mqtt with a ws:// or wss:// URL)");
  app.add_option("-V,--protocol-version", f.version,
                 "protocol version: mqttv31, mqttv311 (default) or mqttv5");
  app.add_option("-i,--id", f.clientId, "client id (default: a random one)");
  app.add_option("-I,--id-prefix", f.idPrefix, "client id: this prefix and the process id");
  app.add_option("-u,--username", f.username, "user name");
  app.add_option("-P,--pw", f.password, "password");
  app.add_option("--auth-method", f.authMethod,
                 "5.0 enhanced authentication with -u/-P: SCRAM-SHA-256 (the password is not sent, "
                 "and the server must prove it knows the user)");
  app.add_option("-k,--keepalive", f.keepAlive, "keep alive in seconds (default 60, 0 = off)")
      ->check(CLI::Range(0, 65535));
  app.add_flag("-c,--disable-clean-session", f.noCleanSession,
               "keep the session (clean session/clean start off)");
  app.add_option("-x,--session-expiry", f.sessionExpiry,
                 "5.0 session expiry interval in seconds; -1 or 4294967295 = never");
  app.add_flag("-d,--debug", f.debug, "print the packets sent and received to stderr");
  app.add_flag("--quiet", f.quiet, "do not print error messages");
  app.add_flag("--nodelay", f.nodelay, "accepted for compatibility (Nagle is always off)");
  app.add_option("-D,--property", f.properties,
                 "5.0 property: -D command name value (user-property takes key and value)")
      ->expected(3, 4)
      ->allow_extra_args(false);
  app.add_option("--will-topic", f.willTopic, "topic of the will");
  app.add_option("--will-payload", f.willPayload, "payload of the will (default empty)");
  app.add_option("--will-qos", f.willQos, "QoS of the will")->check(CLI::Range(0, 2));
  app.add_flag("--will-retain", f.willRetain, "retain the will");
  app.add_option("--cafile", f.caFile, "TLS: trust the server certificates this CA file issued");
  app.add_option("--capath", f.caPath, "TLS: directory of CA certificates (c_rehash layout)");
  app.add_option("--cert", f.certFile, "TLS: client certificate (PEM, with its chain)");
  app.add_option("--key", f.keyFile, "TLS: private key of --cert (PEM)");
  app.add_flag("--insecure", f.insecure,
               "TLS: do not check that the server certificate is for the host connected to");
  app.add_option("--tls-version", f.tlsVersion, "TLS: only this version, tlsv1.2 or tlsv1.3");
  app.add_option("--ciphers", f.ciphers, "TLS: OpenSSL cipher list for TLS 1.2");
  app.add_option("--psk", f.psk, "TLS: pre-shared key in hexadecimal (needs --psk-identity)");
  app.add_option("--psk-identity", f.pskIdentity, "TLS: the identity of --psk");
}

Result<std::optional<net::TlsClientSettings>> tlsSettingsFrom(const ClientFlags& f, bool urlTls) {
  bool certificates = !f.caFile.empty() || !f.caPath.empty() || !f.certFile.empty();
  bool psk = !f.psk.empty() || !f.pskIdentity.empty();
  if (!f.keyFile.empty() && f.certFile.empty()) return fail(0x80, "--key needs --cert");
  if (!f.certFile.empty() && f.keyFile.empty()) return fail(0x80, "--cert needs --key");
  if (psk && (f.psk.empty() || f.pskIdentity.empty())) {
    return fail(0x80, f.psk.empty() ? "--psk-identity needs --psk" : "--psk needs --psk-identity");
  }
  if (psk && certificates) {
    return fail(0x80, "--psk cannot be used with --cafile, --capath or --cert");
  }
  if (!certificates && !psk && !urlTls) {
    for (auto [given, name] :
         {std::pair{f.insecure, "--insecure"}, std::pair{!f.tlsVersion.empty(), "--tls-version"},
          std::pair{!f.ciphers.empty(), "--ciphers"}}) {
      if (given) {
        return fail(0x80, std::string(name) +
                              " needs TLS: give --cafile, --capath, --cert or --psk, or an "
                              "mqtts:// or wss:// URL");
      }
    }
    return std::nullopt;
  }
  net::TlsClientSettings s;
  s.caFile = f.caFile;
  s.caPath = f.caPath;
  s.cert = f.certFile;
  s.key = f.keyFile;
  s.insecure = f.insecure;
  s.version = f.tlsVersion;
  s.ciphers = f.ciphers;
  s.pskHex = f.psk;
  s.pskIdentity = f.pskIdentity;
  return s;
}

Result<client::ConnectOptions> buildConnectOptions(
    ClientFlags& f, std::span<const std::string_view> propertyCommands) {
  client::ConnectOptions o;
  auto version = parseVersion(f.version);
  if (!version) return tl::unexpected(version.error());
  o.version = *version;
  o.keepAlive = static_cast<uint16_t>(f.keepAlive);

  std::optional<BrokerUrl> url;
  if (f.url) {
    if (f.host || f.port) return fail(0x80, "-L cannot be used with -h or -p");
    auto parsed = parseBrokerUrl(*f.url);
    if (!parsed) return tl::unexpected(parsed.error());
    if (parsed->username && (f.username || f.password)) {
      return fail(0x80, "a user name in the -L URL cannot be used with -u or -P");
    }
    url = std::move(*parsed);
    f.urlTopic = url->topic;
  }
  auto tls = tlsSettingsFrom(f, url && url->tls);
  if (!tls) return tl::unexpected(tls.error());
  o.host = url ? url->host : f.host.value_or("localhost");
  if (f.wsPath && (f.wsPath->empty() || f.wsPath->front() != '/' ||
                   std::any_of(f.wsPath->begin(), f.wsPath->end(), [](char c) {
                     return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
                   }))) {
    return fail(0x80, "--ws-path must start with '/' and have no spaces or control characters");
  }
  const bool websocket = (url && url->websocket) || f.wsPath;
  if (websocket) o.websocketPath = f.wsPath.value_or("/mqtt");
  uint16_t defaultPort = websocket ? (*tls ? 443 : 80) : (*tls ? 8883 : 1883);
  o.port =
      url ? url->port.value_or(defaultPort) : static_cast<uint16_t>(f.port.value_or(defaultPort));
  if (*tls) {
    auto context = net::TlsContext::createClient(**tls);
    if (!context) return tl::unexpected(context.error());
    o.tls = client::TlsOptions{std::move(*context), ""};
  }

  if (!f.clientId.empty() && !f.idPrefix.empty()) {
    return fail(0x80, "-i and -I cannot be used together");
  }
  if (!f.idPrefix.empty()) {
    o.clientId = f.idPrefix + std::to_string(::getpid());
  } else if (!f.clientId.empty()) {
    o.clientId = f.clientId;
  } else {
    o.clientId = client::randomClientId();
  }
  if (o.version == mqtt::Version::V31 && o.clientId.size() > 23) {
    return fail(0x80, "client id longer than 23 characters (MQTT 3.1 limit)");
  }
  if (f.noCleanSession && f.clientId.empty() && f.idPrefix.empty()) {
    return fail(0x80, "a client id (-i or -I) is needed with -c");
  }
  o.cleanStart = !f.noCleanSession;

  for (const auto& args : f.properties) {
    if (auto r = applyProperty(args, f.props, propertyCommands); !r)
      return tl::unexpected(r.error());
  }
  if (f.props.any && o.version != mqtt::Version::V5) {
    return fail(0x80, "-D properties need -V mqttv5");
  }
  o.properties = f.props.connect;

  if (f.sessionExpiry) {
    if (o.version != mqtt::Version::V5) return fail(0x80, "-x needs -V mqttv5");
    const std::string& x = *f.sessionExpiry;
    if (x == "-1" || x == "∞") {
      o.properties.sessionExpiryInterval = 0xFFFFFFFF;
    } else {
      auto n = parseUnsigned(x, 0xFFFFFFFF, "-x");
      if (!n) return tl::unexpected(n.error());
      o.properties.sessionExpiryInterval = static_cast<uint32_t>(*n);
    }
  } else if (f.noCleanSession && o.version == mqtt::Version::V5 &&
             !o.properties.sessionExpiryInterval) {
    o.properties.sessionExpiryInterval = 0xFFFFFFFF;  // -c alone: the session never expires
  }

  if (f.password && !f.username && o.version != mqtt::Version::V5) {
    return fail(0x80, "a password (-P) needs a user name (-u) before MQTT 5.0");
  }
  o.username = url && url->username ? url->username : f.username;
  o.password = url && url->username ? url->password : f.password;
  if (f.authMethod) {
    auto authenticator = makeAuthenticator(*f.authMethod, o.username.value_or(""),
                                           security::SecretString(o.password.value_or("")));
    if (!authenticator) return tl::unexpected(authenticator.error());
    if (o.version != mqtt::Version::V5) return fail(0x80, "--auth-method needs -V mqttv5");
    if (!o.username || !o.password) {
      return fail(0x80,
                  "--auth-method needs a user name and a password (-u and -P, or the -L "
                  "URL's user:password)");
    }
    o.authenticator = std::move(*authenticator);
    // The exchange proves the password; CONNECT keeps the user name and drops the password.
    o.password.reset();
  }

  if (f.willTopic) {
    if (auto r = mqtt::validateTopicName(*f.willTopic); !r) {
      return fail(0x80, "invalid will topic '" + *f.willTopic + "'");
    }
    mqtt::Will will;
    will.topic = *f.willTopic;
    will.payload = f.willPayload.value_or("");
    will.qos = static_cast<uint8_t>(f.willQos);
    will.retain = f.willRetain;
    will.properties = f.props.will;
    o.will = std::move(will);
  } else if (f.willPayload || f.willQos != 0 || f.willRetain) {
    return fail(0x80, "will options need --will-topic");
  }
  return o;
}

int usageError(const ClientFlags& f, std::string_view message) {
  if (!f.quiet) {
    std::fprintf(stderr, "Error: %.*s\nUse '%s --help' to see usage.\n",
                 static_cast<int>(message.size()), message.data(), f.tool.c_str());
  }
  return kExitError;
}

void reportError(const ClientFlags& f, std::string_view message) {
  if (f.quiet) return;
  std::fprintf(stderr, "%s: %.*s\n", f.tool.c_str(), static_cast<int>(message.size()),
               message.data());
}

void attachDebugOutput(const ClientFlags& f, client::Client& c) {
  if (!f.debug) return;
  client::Client* self = &c;
  c.setPacketObserver([self](client::Direction d, const mqtt::Packet& p) {
    const std::string& id = self->clientId();
    std::string line = "Client " + (id.empty() ? std::string("(null)") : id) +
                       (d == client::Direction::Sent ? " sending " : " received ") +
                       client::describePacket(p) + "\n";
    std::fputs(line.c_str(), stderr);
  });
}

void printTlsDetails(const ClientFlags& f, const client::Client& c,
                     const client::ConnectResult& connected) {
  if (!f.debug || !connected.tls) return;
  const net::TlsFacts& t = *connected.tls;
  std::string line = "Client " + c.clientId() + " TLS " + t.version + ", " + t.cipher +
                     (t.peer().subject.empty() ? "" : ", server " + t.peer().subject) + "\n";
  std::fputs(line.c_str(), stderr);
}

int runClientCommand(const ClientFlags& f,
                     std::function<boost::asio::awaitable<int>(boost::asio::io_context&)> body,
                     std::function<void()> onSignal) {
  namespace asio = boost::asio;
  int rc = kExitError;
  try {
    asio::io_context io(1);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec && onSignal) onSignal();
    });
    asio::co_spawn(io, body(io), [&](std::exception_ptr e, int result) {
      signals.cancel();
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          reportError(f, ex.what());
        }
        rc = kExitError;
      } else {
        rc = result;
      }
    });
    io.run();
  } catch (const std::exception& ex) {
    reportError(f, ex.what());
    return kExitError;
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace moat::app
