// The command-line flags `moat pub` and `moat sub` share -- connection, identity, protocol
// version, will, MQTT 5.0 properties (-D), debug output -- with the names and meanings of
// mosquitto_pub/mosquitto_sub, and what turns them into client::ConnectOptions.
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
  std::string tool;  // "moat pub" / "moat sub", for messages
  std::string host = "localhost";
  int port = 1883;
  std::string version = "mqttv311";
  std::string clientId;
  std::string idPrefix;
  std::optional<std::string> username;
  std::optional<std::string> password;
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

  // Parsed by build().
  PropertySets props;
};

// Adds the shared flags to `app` (with -h as host, so help is --help only).
void addClientFlags(CLI::App& app, ClientFlags& flags);

// Checks the flags and builds the connection options. `propertyCommands` lists the -D commands
// this tool accepts (e.g. connect, publish, disconnect, will). Fails with a message for the user.
[[nodiscard]] Result<client::ConnectOptions> buildConnectOptions(
    ClientFlags& flags, std::span<const std::string_view> propertyCommands);

// Parses -V: mqttv31|31, mqttv311|311, mqttv5|5.
[[nodiscard]] Result<mqtt::Version> parseVersion(std::string_view s);

// Prints "Error: <message>" and the --help hint to stderr unless quiet, returns kExitError.
int usageError(const ClientFlags& flags, std::string_view message);
// Prints "<tool>: <message>" to stderr unless quiet.
void reportError(const ClientFlags& flags, std::string_view message);

// With -d, prints every packet as "Client <id> sending|received <description>" to stderr.
void attachDebugOutput(const ClientFlags& flags, client::Client& client);

// Runs `body` on a fresh single-threaded io_context until it finishes, and returns its exit
// code. SIGINT/SIGTERM call `onSignal` (which should make the body finish). Exceptions become
// a message and kExitError.
int runClientCommand(const ClientFlags& flags,
                     std::function<boost::asio::awaitable<int>(boost::asio::io_context&)> body,
                     std::function<void()> onSignal);

}  // namespace moat::app
