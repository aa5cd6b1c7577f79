// Micro-benchmarks of the broker's matching structures: SubscriptionIndex::match with many
// non-matching subscriptions (cost should follow topic depth, not subscription count), and
// RetainedStore::match for a wildcard filter.
#include <benchmark/benchmark.h>

#include "broker/broker.h"
#include "broker/retained_store.h"
#include "broker/session.h"
#include "broker/subscription_index.h"
#include "broker/worker.h"

namespace moat::broker {
namespace {

struct Fixture {
  Broker broker{config::embeddedDefault()};
  SubscriptionIndex index;
  std::vector<std::shared_ptr<Session>> sessions;

  // `count` sessions, each subscribed to devices/<i>/telemetry, plus a few wildcard ones.
  explicit Fixture(int count) {
    mqtt::SubscriptionOptions o;
    o.qos = 1;
    for (int i = 0; i < count; ++i) {
      auto s = std::make_shared<Session>(broker.worker(0), "c" + std::to_string(i), i + 1);
      index.subscribe("devices/" + std::to_string(i) + "/telemetry", {}, s, o, 0);
      sessions.push_back(s);
    }
    auto w = std::make_shared<Session>(broker.worker(0), "wild", count + 1);
    index.subscribe("devices/+/telemetry", {}, w, o, 0);
    index.subscribe("devices/#", {}, w, o, 0);
    sessions.push_back(w);
  }
};

void BM_IndexMatch(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  std::vector<MatchedSubscription> out;
  out.reserve(16);
  for (auto _ : state) {
    out.clear();
    f.index.match("devices/42/telemetry", out);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["matches"] = static_cast<double>(out.size());
}
BENCHMARK(BM_IndexMatch)->Arg(100)->Arg(10'000)->Arg(100'000);

void BM_IndexMatchDeepTopic(benchmark::State& state) {
  Fixture f(1000);
  std::vector<MatchedSubscription> out;
  for (auto _ : state) {
    out.clear();
    f.index.match("site/3/building/7/floor/2/room/12/sensor/4/temperature", out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_IndexMatchDeepTopic);

void BM_RetainedMatchWildcard(benchmark::State& state) {
  RetainedStore store;
  for (int i = 0; i < state.range(0); ++i) {
    auto m = std::make_shared<Message>();
    m->publish.topic = "devices/" + std::to_string(i) + "/status";
    m->publish.payload = "online";
    store.set(m);
  }
  std::vector<MessagePtr> out;
  for (auto _ : state) {
    out.clear();
    store.match("devices/42/+", out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_RetainedMatchWildcard)->Arg(1000)->Arg(100'000);

}  // namespace
}  // namespace moat::broker
