// `moat bench`: a load generator on Moat's own client (docs/benchmarks.md).
//
//   moat bench fan-in  [--publishers 10] [--subscribers 1]   many publishers -> one wildcard
//   moat bench fan-out [--subscribers 100]                   one publisher -> many subscribers
//   moat bench latency [--rate 1000]                         end-to-end latency at a fixed rate
//   moat bench connect [--connections 1000] [--hold 10]      a connection storm, then held idle
//
// Common: --qos 0|1|2, --size BYTES, --duration SECONDS, --rate MSG/S (0: as fast as the broker
// takes them), --inflight N (QoS 1/2 messages in flight per publisher), --threads N, and the
// connection flags of `moat pub` (-h, -p, -u, -P, -V, --cafile, --cert, --key, --psk, ...).
//
// Every message carries its stream (a publisher's lane), sequence number and send time
// (bench_stats.h); every subscriber checks each delivery for loss, duplication and order, and
// measures its latency. A progress line goes to stderr every second (when it is a terminal, or
// with --progress); at the end a table for
// people and one JSON line (stdout) for scripts. Exit 0 when the run was clean: nothing out of
// order, nothing lost at QoS 1/2, nothing duplicated at QoS 0/2; 1 otherwise or on errors.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apps/moat/bench_stats.h"
#include "apps/moat/client_flags.h"
#include "apps/moat/commands.h"
#include "client/client.h"

namespace moat::app {

namespace {

namespace asio = boost::asio;
using bench::Clock;
constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kBenchPropertyCommands[] = {"connect", "publish"};

struct BenchFlags {
  ClientFlags common;
  std::string scenario;
  int publishers = 0;   // 0: the scenario's default
  int subscribers = 0;  // 0: the scenario's default
  int qos = 0;
  size_t size = 64;
  double duration = 10;
  double rate = -1;  // messages per second, all publishers together; -1: the scenario's default
  int inflight = 16;
  int threads = 0;  // 0: one per core
  std::string topic;
  int connections = 1000;
  int concurrency = 200;
  double hold = 0;
  bool progress = false;  // --progress, or stderr is a terminal
};

std::string thousands(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The io_context threads of a run: clients are spread over strands on them.
class Pool {
 public:
  explicit Pool(int threads) : io_(threads), work_(asio::make_work_guard(io_)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_.run(); });
  }
  ~Pool() { stop(); }
  asio::io_context& io() { return io_; }
  asio::any_io_executor strand() { return asio::make_strand(io_); }
  void stop() {
    work_.reset();
    io_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// One subscriber: its client and its check of every delivery (touched only on its strand until
// the run is over).
struct Subscriber {
  std::shared_ptr<client::Client> client;
  std::unique_ptr<bench::DeliveryCheck> check;
  std::atomic<uint64_t> delivered{0};
};

// One publisher lane: a stream of sequence numbers sent one after the other.
struct Lane {
  std::shared_ptr<client::Client> client;
  std::string topic;
  uint32_t stream = 0;
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> done{false};
  std::optional<Error> error;
};

asio::awaitable<Result<void>> connectClient(std::shared_ptr<client::Client> c,
                                            client::ConnectOptions options) {
  auto r = co_await c->connect(std::move(options));
  if (!r) co_return tl::unexpected(r.error());
  co_return Result<void>{};
}

// Connects every client of `clients` (each on its own strand already), at most `concurrency`
// at a time; the first error fails it.
Result<void> connectAll(Pool& pool, std::vector<std::shared_ptr<client::Client>>& clients,
                        const client::ConnectOptions& base, const std::string& idPrefix,
                        int concurrency, std::atomic<uint64_t>* connected = nullptr) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex errorMutex;
  std::optional<Error> firstError;
  const int n = std::min<int>(concurrency, static_cast<int>(clients.size()));
  std::vector<std::promise<void>> promises(n);
  for (int w = 0; w < n; ++w) {
    asio::co_spawn(
        pool.strand(),
        [&, w]() -> asio::awaitable<void> {
          for (size_t i; !failed && (i = next.fetch_add(1)) < clients.size();) {
            client::ConnectOptions o = base;
            o.clientId = idPrefix + std::to_string(i);
            auto r = co_await asio::co_spawn(clients[i]->executor(),
                                             connectClient(clients[i], std::move(o)),
                                             asio::use_awaitable);
            if (!r) {
              std::lock_guard lock(errorMutex);
              if (!firstError) firstError = r.error();
              failed = true;
            } else if (connected) {
              connected->fetch_add(1, std::memory_order_relaxed);
            }
          }
          co_return;
        },
        [&promises, w](std::exception_ptr) { promises[w].set_value(); });
  }
  for (auto& p : promises) p.get_future().wait();
  if (firstError) return tl::unexpected(*firstError);
  return {};
}

void disconnectAll(Pool& pool, std::vector<std::shared_ptr<client::Client>>& clients) {
  std::vector<std::promise<void>> done(clients.size());
  for (size_t i = 0; i < clients.size(); ++i) {
    asio::co_spawn(
        clients[i]->executor(),
        [c = clients[i]]() -> asio::awaitable<void> {
          if (c->connected()) (void)co_await c->disconnect();
          c->close();
        },
        [&done, i](std::exception_ptr) { done[i].set_value(); });
  }
  for (auto& d : done) d.get_future().wait();
}

// Sends `lane`'s stream until `stopAt`, at `interval` apart (zero: as fast as it goes).
asio::awaitable<void> publishLane(Lane& lane, uint8_t qos, size_t size, Clock::time_point start,
                                  Clock::time_point stopAt, Clock::duration interval) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (uint64_t seq = 1;; ++seq) {
    if (interval.count() > 0) {
      const auto due = start + interval * static_cast<int64_t>(seq - 1);
      if (due >= stopAt) break;
      if (due > Clock::now()) {
        timer.expires_at(due);
        co_await timer.async_wait(kUseAwaitable);
      }
    } else if (Clock::now() >= stopAt) {
      break;
    }
    mqtt::Publish m;
    m.qos = qos;
    m.topic = lane.topic;
    m.payload = bench::makePayload({lane.stream, seq, bench::nowNs()}, size);
    auto r = co_await lane.client->publish(std::move(m));
    if (!r) {
      lane.error = r.error();
      break;
    }
    lane.sent.fetch_add(1, std::memory_order_relaxed);
  }
  lane.done = true;
}

struct Totals {
  uint64_t sent = 0;
  uint64_t expected = 0;
  bench::DeliveryCheck check{0};
  double seconds = 0;
};

void printJsonAndTable(const BenchFlags& f, int publishers, int subscribers, const Totals& t) {
  const uint64_t lost = t.expected > t.check.unique() ? t.expected - t.check.unique() : 0;
  const double rate = t.seconds > 0 ? static_cast<double>(t.check.delivered()) / t.seconds : 0;
  const auto& h = t.check.latency();
  std::printf(
      "moat bench %s: %d publisher%s -> %d subscriber%s, QoS %d, %zu-byte payload, %.1f s\n",
      f.scenario.c_str(), publishers, publishers == 1 ? "" : "s", subscribers,
      subscribers == 1 ? "" : "s", f.qos, f.size, t.seconds);
  std::printf("  sent         %14s msg\n", thousands(t.sent).c_str());
  std::printf("  delivered    %14s msg   %s msg/s\n", thousands(t.check.delivered()).c_str(),
              thousands(static_cast<uint64_t>(rate)).c_str());
  std::printf("  lost %s, duplicated %s, out of order %s\n", thousands(lost).c_str(),
              thousands(t.check.duplicated()).c_str(), thousands(t.check.outOfOrder()).c_str());
  std::printf("  latency      p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
              h.percentile(0.50) / 1000.0, h.percentile(0.90) / 1000.0, h.percentile(0.99) / 1000.0,
              h.max() / 1000.0);
  std::printf(
      "{\"tool\":\"moat bench\",\"scenario\":\"%s\",\"qos\":%d,\"publishers\":%d,"
      "\"subscribers\":%d,\"payload_bytes\":%zu,\"seconds\":%.3f,\"sent\":%llu,"
      "\"expected\":%llu,\"delivered\":%llu,\"lost\":%llu,\"duplicated\":%llu,"
      "\"out_of_order\":%llu,\"delivered_per_second\":%.0f,\"latency_us\":{\"p50\":%llu,"
      "\"p90\":%llu,\"p99\":%llu,\"max\":%llu}}\n",
      f.scenario.c_str(), f.qos, publishers, subscribers, f.size, t.seconds,
      static_cast<unsigned long long>(t.sent), static_cast<unsigned long long>(t.expected),
      static_cast<unsigned long long>(t.check.delivered()), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(t.check.duplicated()),
      static_cast<unsigned long long>(t.check.outOfOrder()), rate,
      static_cast<unsigned long long>(h.percentile(0.50)),
      static_cast<unsigned long long>(h.percentile(0.90)),
      static_cast<unsigned long long>(h.percentile(0.99)),
      static_cast<unsigned long long>(h.max()));
  std::fflush(stdout);
}

int messageRun(BenchFlags& f, const client::ConnectOptions& base) {
  const bool fanOut = f.scenario == "fan-out";
  const bool latency = f.scenario == "latency";
  const int publishers = f.publishers > 0 ? f.publishers : (fanOut || latency ? 1 : 10);
  const int subscribers = f.subscribers > 0 ? f.subscribers : (fanOut ? 100 : 1);
  const double rate = f.rate >= 0 ? f.rate : (latency ? 1000 : 0);
  const int lanesPer = f.qos == 0 || latency ? 1 : std::max(1, f.inflight);
  const int streams = publishers * lanesPer;
  const std::string prefix = f.topic.empty() ? "bench/" + client::randomClientId() : f.topic;
  Pool pool(f.threads > 0 ? f.threads : std::max(1u, std::thread::hardware_concurrency()));

  // Subscribers first, each to PREFIX/#, checking every delivery on its strand.
  std::vector<std::unique_ptr<Subscriber>> subs;
  std::vector<std::shared_ptr<client::Client>> subClients;
  for (int i = 0; i < subscribers; ++i) {
    auto s = std::make_unique<Subscriber>();
    s->client = client::Client::create(pool.strand());
    s->check = std::make_unique<bench::DeliveryCheck>(streams);
    s->client->setMessageHandler([sub = s.get()](mqtt::Publish&& p) {
      const int64_t now = bench::nowNs();
      auto stamp = bench::readStamp(p.payload);
      if (stamp) sub->check->record(*stamp, now);
      sub->delivered.fetch_add(1, std::memory_order_relaxed);
    });
    subClients.push_back(s->client);
    subs.push_back(std::move(s));
  }
  client::ConnectOptions subOptions = base;
  subOptions.maxQueuedMessages = 1'000'000;
  if (auto r = connectAll(pool, subClients, subOptions, "bench-sub-", f.concurrency); !r) {
    reportError(f.common, "subscriber: " + r.error().message);
    return kExitError;
  }
  for (auto& s : subs) {
    mqtt::SubscriptionOptions o;
    o.qos = static_cast<uint8_t>(f.qos);
    std::vector<mqtt::TopicSubscription> topics{{prefix + "/#", o}};
    auto acked = asio::co_spawn(s->client->executor(), s->client->subscribe(std::move(topics)),
                                asio::use_future)
                     .get();
    if (!acked || acked->reasonCodes.empty() ||
        static_cast<uint8_t>(acked->reasonCodes[0]) >= 0x80) {
      reportError(f.common, "subscribe to " + prefix + "/# refused");
      return kExitError;
    }
  }

  // Publishers, each with its lanes (one client, `lanesPer` streams on it).
  std::vector<std::shared_ptr<client::Client>> pubClients;
  for (int i = 0; i < publishers; ++i) pubClients.push_back(client::Client::create(pool.strand()));
  if (auto r = connectAll(pool, pubClients, base, "bench-pub-", f.concurrency); !r) {
    reportError(f.common, "publisher: " + r.error().message);
    return kExitError;
  }
  std::vector<std::unique_ptr<Lane>> lanes;
  for (int p = 0; p < publishers; ++p) {
    for (int l = 0; l < lanesPer; ++l) {
      auto lane = std::make_unique<Lane>();
      lane->client = pubClients[p];
      lane->topic = prefix + "/" + std::to_string(p);
      lane->stream = static_cast<uint32_t>(lanes.size());
      lanes.push_back(std::move(lane));
    }
  }
  const auto interval =
      rate > 0 ? std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(static_cast<double>(streams) / rate))
               : Clock::duration::zero();
  const auto start = Clock::now();
  const auto stopAt = start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(f.duration));
  for (auto& lane : lanes) {
    asio::co_spawn(lane->client->executor(),
                   publishLane(*lane, static_cast<uint8_t>(f.qos), f.size, start, stopAt, interval),
                   asio::detached);
  }

  auto sentSoFar = [&] {
    uint64_t n = 0;
    for (auto& l : lanes) n += l->sent.load(std::memory_order_relaxed);
    return n;
  };
  auto deliveredSoFar = [&] {
    uint64_t n = 0;
    for (auto& s : subs) n += s->delivered.load(std::memory_order_relaxed);
    return n;
  };
  auto progress = [&](double at) {
    if (f.progress) {
      std::fprintf(stderr, "\r  %5.1f s: sent %s, delivered %s   ", at,
                   thousands(sentSoFar()).c_str(), thousands(deliveredSoFar()).c_str());
    }
  };
  // Sending, then draining: everything sent arrives, or 10 s pass without progress.
  auto nextProgress = start + std::chrono::seconds(1);
  auto allDone = [&] {
    for (auto& l : lanes) {
      if (!l->done) return false;
    }
    return true;
  };
  while (!allDone()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Clock::now() >= nextProgress) {
      progress(secondsSince(start));
      nextProgress += std::chrono::seconds(1);
    }
  }
  const uint64_t sent = sentSoFar();
  const uint64_t expected = sent * static_cast<uint64_t>(subscribers);
  uint64_t lastCount = deliveredSoFar();
  auto lastProgress = Clock::now();
  auto lastDelivery = Clock::now();
  // QoS 0 may be dropped on the way (the broker sheds it when a subscriber lags): 2 s without a
  // delivery ends the wait; QoS 1/2 must all arrive, so they get 10 s.
  const auto idleLimit = std::chrono::seconds(f.qos == 0 ? 2 : 10);
  while (deliveredSoFar() < expected && Clock::now() - lastProgress < idleLimit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (const uint64_t n = deliveredSoFar(); n != lastCount) {
      lastCount = n;
      lastProgress = lastDelivery = Clock::now();
    }
  }
  if (deliveredSoFar() >= expected) lastDelivery = Clock::now();
  progress(secondsSince(start));
  if (f.progress) std::fprintf(stderr, "\n");
  const double seconds = std::chrono::duration<double>(lastDelivery - start).count();

  std::optional<Error> laneError;
  for (auto& l : lanes) {
    if (l->error && !laneError) laneError = l->error;
  }
  disconnectAll(pool, pubClients);
  disconnectAll(pool, subClients);
  pool.stop();

  Totals t;
  t.sent = sent;
  t.expected = expected;
  t.check = bench::DeliveryCheck(streams);
  for (auto& s : subs) t.check.merge(*s->check);
  t.seconds = seconds;
  printJsonAndTable(f, publishers, subscribers, t);
  if (laneError) {
    reportError(f.common, "publish failed: " + laneError->message);
    return kExitError;
  }
  const bool lost = t.check.unique() < expected;
  const bool clean = t.check.outOfOrder() == 0 && t.check.foreign() == 0 && (f.qos == 0 || !lost) &&
                     (f.qos == 1 || t.check.duplicated() == 0);
  return clean ? kExitOk : kExitError;
}

int connectRun(BenchFlags& f, const client::ConnectOptions& base) {
  Pool pool(f.threads > 0 ? f.threads : std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::shared_ptr<client::Client>> clients;
  for (int i = 0; i < f.connections; ++i) clients.push_back(client::Client::create(pool.strand()));
  std::atomic<uint64_t> connected{0};
  const auto start = Clock::now();
  std::atomic<bool> finished{false};
  std::thread progress([&] {
    while (!finished) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (f.progress) {
        std::fprintf(stderr, "\r  %5.1f s: connected %s   ", secondsSince(start),
                     thousands(connected.load()).c_str());
      }
    }
  });
  const std::string prefix = "bench-conn-" + client::randomClientId().substr(5) + "-";
  auto r = connectAll(pool, clients, base, prefix, f.concurrency, &connected);
  const double seconds = secondsSince(start);
  finished = true;
  progress.join();
  if (f.progress) std::fprintf(stderr, "\n");
  const uint64_t n = connected.load();
  const double perSecond = seconds > 0 ? static_cast<double>(n) / seconds : 0;
  std::printf("moat bench connect: %s connections%s in %.2f s, %s per second\n",
              thousands(n).c_str(), base.tls ? " (TLS)" : "", seconds,
              thousands(static_cast<uint64_t>(perSecond)).c_str());
  if (r && f.hold > 0) {
    std::printf("holding %s connections for %.1f s\n", thousands(n).c_str(), f.hold);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(f.hold));
  }
  std::printf(
      "{\"tool\":\"moat bench\",\"scenario\":\"connect\",\"tls\":%s,\"connections\":%llu,"
      "\"seconds\":%.3f,\"connections_per_second\":%.0f%s}\n",
      base.tls ? "true" : "false", static_cast<unsigned long long>(n), seconds, perSecond,
      r ? "" : ",\"error\":true");
  std::fflush(stdout);
  disconnectAll(pool, clients);
  pool.stop();
  if (!r) {
    reportError(f.common, "connect failed after " + std::to_string(n) + ": " + r.error().message);
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

int benchMain(int argc, char** argv) {
  BenchFlags f;
  f.common.tool = "moat bench";
  f.common.version = "mqttv5";
  CLI::App app{"Load a broker and measure it: throughput, latency, connection storms",
               "moat bench"};
  app.add_option("scenario", f.scenario, "fan-in | fan-out | latency | connect")
      ->required()
      ->check(CLI::IsMember({"fan-in", "fan-out", "latency", "connect"}));
  addClientFlags(app, f.common);
  app.add_option("--publishers", f.publishers, "publishing clients (fan-in: 10)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--subscribers", f.subscribers, "subscribing clients (fan-out: 100)")
      ->check(CLI::Range(1, 100000));
  app.add_option("-q,--qos", f.qos, "QoS of publishes and subscriptions")->check(CLI::Range(0, 2));
  app.add_option("-s,--size", f.size, "payload bytes (at least 20)")
      ->check(CLI::Range(size_t{20}, size_t{16} << 20));
  app.add_option("--duration", f.duration, "seconds of sending")->check(CLI::Range(0.1, 3600.0));
  app.add_option("-r,--rate", f.rate, "messages per second, all publishers (0: unlimited)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--inflight", f.inflight, "QoS 1/2 messages in flight per publisher")
      ->check(CLI::Range(1, 1000));
  app.add_option("--threads", f.threads, "client threads (default: one per core)")
      ->check(CLI::Range(1, 256));
  app.add_option("-t,--topic", f.topic, "topic prefix (default bench/<random>)");
  app.add_option("--connections", f.connections, "connect: how many")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--concurrency", f.concurrency, "connects in progress at once")
      ->check(CLI::Range(1, 100000));
  app.add_option("--hold", f.hold, "connect: seconds to hold them open, idle")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_flag("--progress", f.progress, "a progress line on stderr (default: when a terminal)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  f.progress = (f.progress || ::isatty(STDERR_FILENO) == 1) && !f.common.quiet;
  auto options = buildConnectOptions(f.common, kBenchPropertyCommands);
  if (!options) return usageError(f.common, options.error().message);
  if (f.scenario == "connect") return connectRun(f, *options);
  return messageRun(f, *options);
}

}  // namespace moat::app
