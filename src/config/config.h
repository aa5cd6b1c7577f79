// Moat's configuration: the typed result of reading one TOML file, strictly (an unknown key or a
// value of the wrong type is an error naming file and line). A Config is a plain value: it is
// built once, checked, and then shared read-only with whatever needs it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace moat::config {

struct BrokerSection {
  std::string dataDir = "var";
  unsigned workers = 0;  // 0 = one per core
  std::string logLevel = "info";
};

struct LimitsSection {
  uint32_t connectTimeout = 10;          // seconds until CONNECT must have arrived
  uint32_t maxPacketSize = 1024 * 1024;  // bytes, both directions
  uint16_t maxKeepAlive = 65535;         // seconds; higher (or 0) requests are capped
  uint16_t receiveMaximum = 65535;       // QoS>0 publishes a client may have unacknowledged
  uint16_t maxInflight = 20;             // QoS>0 deliveries unacknowledged towards one client
  uint32_t maxQueuedMessages = 1000;     // per session, beyond the inflight window
  uint64_t maxQueuedBytes = 10 * 1024 * 1024;
  // Seconds publishers wait for a congested subscriber that acknowledges nothing (back-pressure);
  // 0 = no back-pressure: what overflows a queue is dropped at once.
  uint32_t publisherWait = 5;
  uint16_t topicAliasMaximum = 10;            // aliases a client may use towards the broker
  std::optional<uint32_t> maxSessionExpiry;   // seconds; none = no cap
  uint64_t maxWriteBuffer = 4 * 1024 * 1024;  // bytes queued to one socket before QoS 0 drops
  uint32_t maxSubscriptionsPerSession = 10000;
  uint64_t maxRetainedMessages = 1'000'000;  // topics with a retained message, broker-wide
};

enum class Transport { Tcp, Tls, Ws, Wss };

// [[listener.tls.sni]]: one more certificate, for the server names listed.
struct TlsSniEntry {
  std::vector<std::string> names;  // lower case; exact, or "*." + a name (one label)
  std::string cert;
  std::string key;
  std::string ocspResponse;
};

// [listener.tls]: see docs/tls.md. Defaults are the safe ones; net::TlsSettings mirrors them.
struct TlsSection {
  std::string cert;
  std::string key;
  std::string ca;
  std::string clientCert = "none";  // none | optional | require
  std::string minVersion = "1.2";
  std::string maxVersion = "1.3";
  std::optional<std::string> ciphers;       // TLS 1.2 cipher list (OpenSSL syntax)
  std::optional<std::string> ciphersuites;  // TLS 1.3 suites
  std::optional<std::string> groups;        // key-exchange groups
  int verifyDepth = 4;
  bool sessionResumption = true;
  std::vector<std::string> crl;     // CRL files, one per CA of a chain
  std::string crlStale = "reject";  // reject | warn: a CRL past its nextUpdate
  std::string pskFile;              // Mosquitto's identity:hexkey format
  std::string pskHint;
  // Identity from the handshake: none | cn | subject | san_dns | san_uri | san_email (for a
  // PSK handshake, any value but none means the PSK identity); used as username | client_id |
  // both.
  std::string identity = "none";
  std::string identityAs = "username";
  std::vector<std::string> pinSpki;  // hex SHA-256 of allowed client public keys; empty = any
  std::string ocspResponse;          // DER OCSP response for cert, stapled
  std::vector<TlsSniEntry> sni;      // certificates chosen by the client's server name
  bool sniStrict = false;            // refuse a server name no certificate is for
};

// [listener.websocket]: for transport "ws" and "wss"; see docs/websocket.md.
struct WebSocketSection {
  std::string path = "/mqtt";
  std::vector<std::string> origins;         // allowed Origin values; empty = any
  std::vector<std::string> trustedProxies;  // CIDR ranges whose X-Forwarded-For is believed
  uint64_t maxFrameSize = 2 * 1024 * 1024;  // payload bytes of one WebSocket frame
};

struct Listener {
  std::string name;
  std::string bind;  // "host:port" as written
  std::string host;
  uint16_t port = 0;
  Transport transport = Transport::Tcp;
  bool allowAnonymous = false;
  // Authentication methods tried in order (docs/authentication.md): "certificate", "psk",
  // "password", "anonymous". Empty when the listener has no `auth` key: then the chain is
  // certificate/psk (when [listener.tls] identity maps one), password (when [auth.password]
  // exists), and anonymous when allow_anonymous is true.
  std::vector<std::string> auth;
  std::optional<TlsSection> tls;              // required for transport "tls" and "wss"
  std::optional<WebSocketSection> websocket;  // set (defaults or as written) for "ws" and "wss"
  // Admission before any protocol work.
  std::vector<std::string> allow;  // CIDR ranges; empty = any
  std::vector<std::string> deny;   // CIDR ranges, checked first
  double maxConnectionRate = 0;    // new connections per second per source; 0 = no limit
  uint32_t maxHandshakes = 0;      // TLS handshakes in progress; 0 = no limit
  // The client id must equal this part of the identity: "" (no rule), "username" (the
  // authenticated user name) or "cn" (the client certificate's common name).
  std::string clientIdMustEqual;
};

// [auth.brute_force]: failed logins slowed, then the address banned (docs/authentication.md).
struct BruteForceSection {
  uint32_t maxFailures = 10;  // failed logins from one address within `window`, then a ban
  uint32_t window = 60;       // seconds
  uint32_t banTime = 300;     // seconds
  uint32_t firstDelayMs = 100;
  uint32_t maxDelayMs = 2000;
};

// [auth.password]
struct PasswordAuthSection {
  std::string file;            // Mosquitto-compatible password file
  uint32_t cacheSeconds = 60;  // successful checks remembered (keyed hash only); 0 = off
};

// [auth.jwt]: JSON Web Tokens in the password field or in 5.0 enhanced authentication
// (docs/authentication.md); security::JwtSettings mirrors it. Exactly one key source.
struct JwtAuthSection {
  std::string jwksFile;
  std::string publicKey;
  std::string secretFile;
  std::vector<std::string> algorithms;  // allowed "alg" values; empty = what the keys fit
  std::string issuer;                   // required "iss" when set
  std::string audience;                 // required in "aud" when set
  uint32_t leeway = 30;                 // seconds of clock skew for exp / nbf
  bool requireExpiry = true;
  std::string usernameClaim = "sub";
  std::string rolesClaim = "roles";
  std::string tenantClaim = "tenant";
  uint32_t maxTokenSize = 8192;    // bytes
  bool disconnectAtExpiry = true;  // close a connection when its token expires
};

// [[auth.ban]]: one entry of the ban list; exactly one of address, username, client_id.
struct BanEntry {
  std::string address;  // an address or CIDR range
  std::string username;
  std::string clientId;
  int64_t until = 0;  // Unix seconds; 0 = no expiry
  std::string reason;
};

// [authz]: authorization (docs/authorization.md). Without the table nothing is checked: every
// authenticated client may publish and subscribe anywhere (as Mosquitto without acl_file).
struct AuthzSection {
  std::string aclFile;                 // Mosquitto's acl_file format
  std::string policyFile;              // Moat's policy.toml (roles, conditions, tenants)
  bool disconnectOnViolation = false;  // close a client whose PUBLISH or SUBSCRIBE is denied
};

// [audit]: one JSON line per connection attempt (docs/audit.md).
struct AuditSection {
  std::string file;  // a path, or "-" for standard output; empty = no events
};

// [provenance]: every message carries its publisher's authenticated user name as an MQTT 5
// user property; copies a client put there itself are removed (docs/authorization.md).
struct ProvenanceSection {
  std::string property;  // the user property's name; empty = off
};

struct Config {
  BrokerSection broker;
  LimitsSection limits;
  std::optional<PasswordAuthSection> authPassword;
  std::optional<JwtAuthSection> authJwt;
  BruteForceSection bruteForce;
  std::vector<BanEntry> bans;
  std::optional<AuthzSection> authz;
  AuditSection audit;
  ProvenanceSection provenance;
  std::vector<Listener> listeners;
  std::string source;  // file name, or "<embedded default>"
};

// Reads and checks a configuration file.
[[nodiscard]] Result<Config> loadFile(const std::string& path);
// Parses configuration text; `sourceName` is used in error messages.
[[nodiscard]] Result<Config> parse(std::string_view text, std::string_view sourceName);
// The configuration `moat serve` runs with when given none: one plain listener on
// 127.0.0.1:1883 where clients log in with a password from DATA_DIR/passwd (anonymous clients
// refused); `moat serve` adds the TLS listener and makes the admin user.
Config embeddedDefault();

std::string_view transportName(Transport t);

}  // namespace moat::config
