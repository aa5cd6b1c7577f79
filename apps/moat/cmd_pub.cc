// `moat pub`: publish one message, a file, stdin, or stdin line by line, with the flags of
// mosquitto_pub. QoS 1/2 handshakes are complete before it exits; exit code 0 on success.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "apps/moat/client_flags.h"
#include "apps/moat/commands.h"
#include "client/client.h"
#include "mqtt/topic.h"

namespace moat::app {

namespace {

namespace asio = boost::asio;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kPubPropertyCommands[] = {"connect", "publish", "disconnect", "will"};

struct PubFlags {
  ClientFlags common;
  std::string topic;
  std::optional<std::string> message;  // -m
  std::optional<std::string> file;     // -f
  bool lines = false;                  // -l
  bool null = false;                   // -n
  bool stdinWhole = false;             // -s
  int qos = 0;
  bool retain = false;
  int repeat = 1;
  double repeatDelay = 0;
};

// Lines of stdin, read without blocking the io_context when stdin is a pipe or a terminal (so
// keep-alive goes on while waiting for input), and synchronously when it is a regular file or
// /dev/null, which epoll cannot watch. Restores stdin's blocking mode when destroyed.
class StdinLines {
 public:
  explicit StdinLines(asio::any_io_executor ex) : desc_(ex), savedFlags_(::fcntl(0, F_GETFL)) {
    int fd = ::dup(STDIN_FILENO);
    boost::system::error_code ec;
    if (fd >= 0) desc_.assign(fd, ec);
    if (fd < 0 || ec) {
      if (fd >= 0) ::close(fd);
      async_ = false;
    }
  }
  ~StdinLines() {
    boost::system::error_code ec;
    desc_.close(ec);
    if (savedFlags_ >= 0) ::fcntl(0, F_SETFL, savedFlags_);
  }
  // Stops a pending read; next() then reports the end of input.
  void cancel() {
    boost::system::error_code ec;
    desc_.cancel(ec);
    cancelled_ = true;
  }

  // The next line without its newline; nullopt at the end of input.
  asio::awaitable<std::optional<std::string>> next() {
    if (cancelled_) co_return std::nullopt;
    if (!async_) {
      std::string line;
      if (!std::getline(std::cin, line)) co_return std::nullopt;
      co_return line;
    }
    auto [ec, n] =
        co_await asio::async_read_until(desc_, asio::dynamic_buffer(buf_), '\n', kUseAwaitable);
    if (ec) {
      if (cancelled_ || buf_.empty()) co_return std::nullopt;
      std::string rest = std::move(buf_);  // a last line without newline
      buf_.clear();
      co_return rest;
    }
    std::string line = buf_.substr(0, n - 1);
    buf_.erase(0, n);
    co_return line;
  }

 private:
  asio::posix::stream_descriptor desc_;
  int savedFlags_;
  bool async_ = true;
  bool cancelled_ = false;
  std::string buf_;
};

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

class Publisher {
 public:
  Publisher(PubFlags& f, client::ConnectOptions options, std::optional<std::string> payload)
      : f_(f), options_(std::move(options)), payload_(std::move(payload)) {}

  asio::awaitable<int> run(asio::io_context& io) {
    client_ = client::Client::create(io.get_executor());
    attachDebugOutput(f_.common, *client_);
    if (f_.lines) lines_.emplace(io.get_executor());

    auto connected = co_await client_->connect(options_);
    if (!connected) {
      reportError(f_.common, connected.error().message);
      co_return kExitError;
    }
    printTlsDetails(f_.common, *client_, *connected);
    int rc = kExitOk;
    if (f_.lines) {
      while (auto line = co_await lines_->next()) {
        if (!co_await publishOne(std::move(*line))) {
          rc = kExitError;
          break;
        }
      }
    } else {
      delay_.emplace(io);
      for (int i = 0; i < f_.repeat; ++i) {
        if (i > 0 && f_.repeatDelay > 0) {
          delay_->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::duration<double>(f_.repeatDelay)));
          co_await delay_->async_wait(kUseAwaitable);
        }
        if (interrupted_ || !co_await publishOne(*payload_)) {
          rc = kExitError;
          break;
        }
      }
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

  // SIGINT/SIGTERM: with -l, end of input (a clean exit); otherwise drop the connection.
  void interrupt() {
    interrupted_ = true;
    if (lines_) {
      lines_->cancel();
    } else if (client_) {
      if (delay_) delay_->cancel();
      client_->close();
    }
  }

 private:
  asio::awaitable<bool> publishOne(std::string payload) {
    mqtt::Publish m;
    m.topic = f_.topic;
    m.qos = static_cast<uint8_t>(f_.qos);
    m.retain = f_.retain;
    m.payload = std::move(payload);
    m.properties = f_.common.props.publish;
    // With a topic alias, the topic is sent once; later messages carry the alias alone.
    if (m.properties.topicAlias && aliasSent_) m.topic.clear();
    auto r = co_await client_->publish(std::move(m));
    if (!r) {
      if (!interrupted_) reportError(f_.common, "publish failed: " + r.error().message);
      co_return false;
    }
    aliasSent_ = true;
    co_return true;
  }

  PubFlags& f_;
  client::ConnectOptions options_;
  std::optional<std::string> payload_;
  std::shared_ptr<client::Client> client_;
  std::optional<StdinLines> lines_;
  std::optional<asio::steady_timer> delay_;  // --repeat-delay
  bool aliasSent_ = false;
  bool interrupted_ = false;
};

}  // namespace

int pubMain(int argc, char** argv) {
  PubFlags f;
  f.common.tool = "moat pub";
  CLI::App app{"Publish MQTT messages (the flags of mosquitto_pub).", "moat pub"};
  addClientFlags(app, f.common);
  app.add_option("-t,--topic", f.topic, "topic to publish to");
  app.add_option("-m,--message", f.message, "message payload");
  app.add_option("-f,--file", f.file, "send the contents of a file as the message");
  app.add_flag("-l,--stdin-line", f.lines, "send each line of stdin as a message");
  app.add_flag("-n,--null-message", f.null, "send an empty message");
  app.add_flag("-s,--stdin-file", f.stdinWhole, "send all of stdin as one message");
  app.add_option("-q,--qos", f.qos, "QoS of the messages (0, 1 or 2)");
  app.add_flag("-r,--retain", f.retain, "retain the message");
  app.add_option("--repeat", f.repeat, "publish the message N times")->check(CLI::PositiveNumber);
  app.add_option("--repeat-delay", f.repeatDelay, "seconds between repeated messages")
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usageError(f.common, e.what());
  }

  if (f.qos < 0 || f.qos > 2)
    return usageError(f.common, "Invalid QoS given: " + std::to_string(f.qos));
  auto options = buildConnectOptions(f.common, kPubPropertyCommands);
  if (!options) return usageError(f.common, options.error().message);
  if (f.common.urlTopic) {
    if (!f.topic.empty()) return usageError(f.common, "Duplicate topic: -t and the -L URL.");
    f.topic = *f.common.urlTopic;
  }
  int sources = (f.message ? 1 : 0) + (f.file ? 1 : 0) + (f.lines ? 1 : 0) + (f.null ? 1 : 0) +
                (f.stdinWhole ? 1 : 0);
  if (sources > 1) return usageError(f.common, "Only one type of message can be sent at once.");
  if (f.topic.empty() || sources == 0) {
    return usageError(f.common, "Both topic and message must be supplied.");
  }
  if (auto r = mqtt::validateTopicName(f.topic); !r) {
    return usageError(f.common,
                      "Invalid publish topic '" + f.topic + "', does it contain '+' or '#'?");
  }
  if (f.lines && f.repeat != 1) return usageError(f.common, "--repeat cannot be used with -l.");

  std::optional<std::string> payload;
  if (f.message) {
    payload = *f.message;
  } else if (f.null) {
    payload = std::string();
  } else if (f.file) {
    payload = readFile(*f.file);
    if (!payload) return usageError(f.common, "Unable to read file \"" + *f.file + "\".");
  } else if (f.stdinWhole) {
    std::cin >> std::noskipws;
    payload = std::string(std::istreambuf_iterator<char>(std::cin), {});
  }

  Publisher publisher(f, std::move(*options), std::move(payload));
  return runClientCommand(
      f.common, [&](asio::io_context& io) { return publisher.run(io); },
      [&] { publisher.interrupt(); });
}

}  // namespace moat::app
