// The command-line flags `moat pub` and `moat sub` share -- connection (-h/-p or a -L URL), TLS,
// identity, protocol version, will, MQTT 5.0 properties (-D), debug output -- with the names and
// meanings of mosquitto_pub/mosquitto_sub, and what turns them into client::ConnectOptions.
// Moat's own additions: --ws-path, and --auth-method for 5.0 enhanced authentication.
//
// Used on the main thread only, before and while the single io_context of the command runs.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "client/client.h"
#include "mqtt/properties.h"
#include "net/tls_context.h"

namespace moat::app {

// Exit codes shared with mosquitto's tools.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitTimeout = 27;  // mosquitto_sub -W: MOSQ_ERR_TIMEOUT

// -D properties per packet they go on ("-D connect session-expiry-interval 60").
struct PropertySets {
  mqtt::Properties connect;
  mqtt::Properties publish;
  mqtt::Properties subscribe;
  mqtt::Properties unsubscribe;
  mqtt::Properties disconnect;
  mqtt::Properties will;
  bool any = false;
};

struct ClientFlags {
  std::string tool;                   // "moat pub" / "moat sub", for messages
  std::optional<std::string> host;    // -h; default localhost
  std::optional<int> port;            // -p; default 1883, or 8883 with TLS
  std::optional<std::string> url;     // -L mqtt(s)|ws(s)://[user[:password]@]host[:port]/topic
  std::optional<std::string> wsPath;  // --ws-path: MQTT over WebSocket to this path
  std::string version = "mqttv311";
  std::string clientId;
  std::string idPrefix;
  std::optional<std::string> username;
  std::optional<std::string> password;
  // --auth-method: 5.0 enhanced authentication with -u/-P (SCRAM-SHA-256), instead of sending
  // the password in CONNECT.
  std::optional<std::string> authMethod;
  int keepAlive = 60;
  bool noCleanSession = false;               // -c
  std::optional<std::string> sessionExpiry;  // -x
  bool debug = false;
  bool quiet = false;
  bool nodelay = false;  // accepted for compatibility: Nagle is always off
  std::vector<std::vector<std::string>> properties;  // -D, raw
  std::optional<std::string> willTopic;
  std::optional<std::string> willPayload;
  int willQos = 0;
  bool willRetain = false;

  // TLS. Any of --cafile, --capath, --cert or --psk (or an mqtts:// URL) turns it on.
  std::string caFile;
  std::string caPath;
  std::string certFile;
  std::string keyFile;
  bool insecure = false;  // do not check the host name in the server's certificate
  std::string tlsVersion;
  std::string ciphers;
  std::string psk;  // hex
  std::string pskIdentity;

  // Parsed by build().
  PropertySets props;
  std::optional<std::string> urlTopic;  // the topic of -L, which the command treats as -t
};

// Adds the shared flags to `app` (with -h as host, so help is --help only).
void addClientFlags(CLI::App& app, ClientFlags& flags);

// Checks the flags and builds the connection options. `propertyCommands` lists the -D commands
// this tool accepts (e.g. connect, publish, disconnect, will). Fails with a message for the user.
[[nodiscard]] Result<client::ConnectOptions> buildConnectOptions(
    ClientFlags& flags, std::span<const std::string_view> propertyCommands);

// The TLS settings the flags ask for; nullopt when nothing turns TLS on. `urlTls`: -L gave an
// mqtts:// URL. Fails on combinations that make no sense (--key without --cert, --psk without
// --psk-identity, --psk with certificates, --insecure without TLS, ...). No I/O: the files are
// read when the context is built.
[[nodiscard]] Result<std::optional<net::TlsClientSettings>> tlsSettingsFrom(
    const ClientFlags& flags, bool urlTls);

// Parses -V: mqttv31|31, mqttv311|311, mqttv5|5.
[[nodiscard]] Result<mqtt::Version> parseVersion(std::string_view s);

// Prints "Error: <message>" and the --help hint to stderr unless quiet, returns kExitError.
int usageError(const ClientFlags& flags, std::string_view message);
// Prints "<tool>: <message>" to stderr unless quiet.
void reportError(const ClientFlags& flags, std::string_view message);

// With -d, prints every packet as "Client <id> sending|received <description>" to stderr.
void attachDebugOutput(const ClientFlags& flags, client::Client& client);
// With -d and TLS, prints the negotiated version and cipher to stderr.
void printTlsDetails(const ClientFlags& flags, const client::Client& client,
                     const client::ConnectResult& connected);

// Runs `body` on a fresh single-threaded io_context until it finishes, and returns its exit
// code. SIGINT/SIGTERM call `onSignal` (which should make the body finish). Exceptions become
// a message and kExitError.
int runClientCommand(const ClientFlags& flags,
                     std::function<boost::asio::awaitable<int>(boost::asio::io_context&)> body,
                     std::function<void()> onSignal);

}  // namespace moat::app
