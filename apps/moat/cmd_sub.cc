// `moat sub`: subscribe and print messages as they arrive, with the flags of mosquitto_sub.
// Exit code 0 after -C messages, on SIGINT/SIGTERM or on the first fresh message with
// --retained-only; 27 when -W runs out (as mosquitto_sub); 1 on any error.
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "apps/moat/client_flags.h"
#include "apps/moat/commands.h"
#include "apps/moat/message_format.h"
#include "client/client.h"
#include "mqtt/topic.h"

namespace moat::app {

namespace {

namespace asio = boost::asio;
constexpr std::string_view kSubPropertyCommands[] = {"connect", "subscribe", "unsubscribe",
                                                     "disconnect", "will"};

struct SubFlags {
  ClientFlags common;
  std::vector<std::string> topics;       // -t
  std::vector<std::string> filterOut;    // -T
  std::vector<std::string> unsubscribe;  // -U
  int qos = 0;
  bool verbose = false;
  int count = 0;            // -C
  int timeout = 0;          // -W seconds
  bool noRetained = false;  // -R
  bool noEol = false;       // -N
  bool retainedOnly = false;
  bool removeRetained = false;
  std::optional<std::string> format;  // -F
  bool noLocal = false;
  bool retainAsPublished = false;
  int retainHandling = 0;
};

class Subscriber {
 public:
  Subscriber(SubFlags& f, client::ConnectOptions options) : f_(f), options_(std::move(options)) {}

  asio::awaitable<int> run(asio::io_context& io) {
    using Clock = std::chrono::steady_clock;
    client_ = client::Client::create(io.get_executor());
    attachDebugOutput(f_.common, *client_);
    auto connected = co_await client_->connect(options_);
    if (!connected) {
      reportError(f_.common, connected.error().message);
      co_return kExitError;
    }
    printTlsDetails(f_.common, *client_, *connected);
    auto deadline =
        f_.timeout > 0 ? Clock::now() + std::chrono::seconds(f_.timeout) : Clock::time_point::max();
    if (int rc = co_await subscribe(); rc != kExitOk) co_return rc;

    int rc = kExitOk;
    int printed = 0;
    while (!interrupted_) {
      auto next = co_await client_->receive(deadline);
      if (!next) {
        if (!interrupted_) {
          reportError(f_.common, next.error().message);
          rc = kExitError;
        }
        break;
      }
      if (!*next) {
        if (!f_.common.quiet) std::fprintf(stderr, "Timed out\n");
        rc = kExitTimeout;
        break;
      }
      mqtt::Publish& m = **next;
      if (filteredOut(m.topic) || (f_.noRetained && m.retain)) continue;
      if (f_.retainedOnly && !m.retain) break;
      if (f_.removeRetained && m.retain && !m.payload.empty()) co_await removeRetained(m.topic);
      print(m);
      if (f_.count > 0 && ++printed >= f_.count) break;
    }
    if (client_->connected()) {
      auto d = co_await client_->disconnect(mqtt::ReasonCode::Success, f_.common.props.disconnect);
      if (!d && rc == kExitOk) {
        reportError(f_.common, d.error().message);
        rc = kExitError;
      }
    }
    co_return rc;
  }

  // SIGINT/SIGTERM: disconnect cleanly, which ends the receive loop.
  void interrupt() {
    if (interrupted_ || !client_) return;
    interrupted_ = true;
    if (client_->connected()) {
      asio::co_spawn(client_->executor(),
                     client_->disconnect(mqtt::ReasonCode::Success, f_.common.props.disconnect),
                     asio::detached);
    } else {
      client_->close();
    }
  }

 private:
  asio::awaitable<int> subscribe() {
    mqtt::SubscriptionOptions opts;
    opts.qos = static_cast<uint8_t>(f_.qos);
    opts.noLocal = f_.noLocal;
    opts.retainAsPublished = f_.retainAsPublished;
    opts.retainHandling = static_cast<uint8_t>(f_.retainHandling);
    std::vector<mqtt::TopicSubscription> topics;
    for (const auto& t : f_.topics) topics.push_back({t, opts});
    auto suback = co_await client_->subscribe(std::move(topics), f_.common.props.subscribe);
    if (!suback) {
      reportError(f_.common, "subscribe failed: " + suback.error().message);
      co_return kExitError;
    }
    size_t refused = 0;
    for (size_t i = 0; i < suback->reasonCodes.size(); ++i) {
      mqtt::ReasonCode rc = suback->reasonCodes[i];
      if (mqtt::code(rc) >= 0x80) {
        ++refused;
        reportError(f_.common, "subscription to '" + f_.topics[i] +
                                   "' refused: " + std::string(mqtt::reasonName(rc)));
      }
    }
    if (refused == f_.topics.size()) {
      reportError(f_.common, "All subscription requests were denied.");
      co_return kExitError;
    }
    if (!f_.unsubscribe.empty()) {
      auto unsuback = co_await client_->unsubscribe(f_.unsubscribe, f_.common.props.unsubscribe);
      if (!unsuback) {
        reportError(f_.common, "unsubscribe failed: " + unsuback.error().message);
        co_return kExitError;
      }
    }
    co_return kExitOk;
  }

  bool filteredOut(const std::string& topic) const {
    for (const auto& filter : f_.filterOut) {
      if (mqtt::topicMatches(filter, topic)) return true;
    }
    return false;
  }

  asio::awaitable<void> removeRetained(const std::string& topic) {
    mqtt::Publish clear;
    clear.topic = topic;
    clear.retain = true;
    auto r = co_await client_->publish(std::move(clear));
    if (!r) reportError(f_.common, "cannot remove retained message: " + r.error().message);
  }

  void print(const mqtt::Publish& m) {
    std::string out = f_.format ? formatMessage(*f_.format, m, client_->clientId(),
                                                std::chrono::system_clock::now())
                                : plainMessage(m, f_.verbose);
    if (!f_.noEol) out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  }

  SubFlags& f_;
  client::ConnectOptions options_;
  std::shared_ptr<client::Client> client_;
  bool interrupted_ = false;
};

}  // namespace

int subMain(int argc, char** argv) {
  SubFlags f;
  f.common.tool = "moat sub";
  CLI::App app{"Subscribe and print MQTT messages (the flags of mosquitto_sub).", "moat sub"};
  addClientFlags(app, f.common);
  app.add_option("-t,--topic", f.topics, "topic filter to subscribe to (repeatable)");
  app.add_option("-T,--filter-out", f.filterOut, "do not print topics matching this filter");
  app.add_option("-U,--unsubscribe", f.unsubscribe, "unsubscribe from this filter (repeatable)");
  app.add_option("-q,--qos", f.qos, "QoS of the subscriptions (0, 1 or 2)");
  app.add_flag("-v,--verbose", f.verbose, "print \"topic payload\"");
  app.add_option("-C,--count", f.count, "exit after this many messages")
      ->check(CLI::PositiveNumber);
  app.add_option("-W,--timeout", f.timeout, "exit (code 27) after this many seconds")
      ->check(CLI::Range(1, 3600 * 24 * 365));
  app.add_flag("-R,--no-retained", f.noRetained, "do not print retained (stale) messages");
  app.add_flag("-N,--no-eol", f.noEol, "no newline after each message");
  app.add_flag("--retained-only", f.retainedOnly,
               "print only retained messages; exit at the first fresh one");
  app.add_flag("--remove-retained", f.removeRetained, "clear every retained message received");
  app.add_option("-F,--format", f.format, "output format (%t topic, %p payload, ...)");
  app.add_flag("--nl,--no-local", f.noLocal, "5.0: do not receive our own messages");
  app.add_flag("--rap,--retain-as-published", f.retainAsPublished,
               "5.0: keep the retain flag as published");
  app.add_option("--rh,--retain-handling", f.retainHandling,
                 "5.0 retain handling: 0 always, 1 new subscriptions only, 2 never")
      ->check(CLI::Range(0, 2));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usageError(f.common, e.what());
  }

  if (f.qos < 0 || f.qos > 2)
    return usageError(f.common, "Invalid QoS given: " + std::to_string(f.qos));
  auto options = buildConnectOptions(f.common, kSubPropertyCommands);
  if (!options) return usageError(f.common, options.error().message);
  if (f.common.urlTopic) f.topics.push_back(*f.common.urlTopic);
  if (f.topics.empty()) return usageError(f.common, "You must specify a topic to subscribe to.");
  for (const auto& t : f.topics) {
    if (auto r = mqtt::validateTopicFilter(t); !r) {
      return usageError(f.common, "Invalid subscription topic '" + t +
                                      "', are all '+' and '#' wildcards correct?");
    }
  }
  for (const auto& t : f.filterOut) {
    if (auto r = mqtt::validateTopicFilter(t); !r) {
      return usageError(f.common, "Invalid filter topic '" + t + "'");
    }
  }
  if (f.format) {
    if (auto r = validateFormat(*f.format); !r) return usageError(f.common, r.error().message);
  }
  if (f.retainedOnly && f.noRetained) {
    return usageError(f.common, "--retained-only and -R cannot be used together.");
  }

  if (options->version != mqtt::Version::V5 &&
      (f.noLocal || f.retainAsPublished || f.retainHandling != 0)) {
    return usageError(f.common, "--nl, --rap and --rh need -V mqttv5.");
  }

  Subscriber subscriber(f, std::move(*options));
  return runClientCommand(
      f.common, [&](asio::io_context& io) { return subscriber.run(io); },
      [&] { subscriber.interrupt(); });
}

}  // namespace moat::app
