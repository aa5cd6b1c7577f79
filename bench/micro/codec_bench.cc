// Micro-benchmarks of the codec's hot paths: decoding and encoding PUBLISH, the per-subscriber
// PUBLISH header, the fixed-header peek and topic matching. Figures, not pass/fail: run
// `moat_microbench --benchmark_filter=Codec` and compare before/after a change.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "mqtt/codec.h"
#include "mqtt/topic.h"

namespace moat::mqtt {
namespace {

Publish samplePublish(size_t payloadSize, bool withProperties) {
  Publish p;
  p.qos = 1;
  p.packetId = 42;
  p.topic = "factory/line-3/press-12/temperature";
  p.payload.assign(payloadSize, 'x');
  if (withProperties) {
    p.properties.payloadFormatIndicator = 1;
    p.properties.messageExpiryInterval = 3600;
    p.properties.contentType = "application/json";
    p.properties.userProperties = {{"trace-id", "4bf92f3577b34da6"}};
  }
  return p;
}

// Args: payload size, version (4 = 3.1.1, 5 = 5.0 with a few properties).
void BM_CodecDecodePublish(benchmark::State& state) {
  const auto version = static_cast<Version>(state.range(1));
  std::string wire;
  encode(samplePublish(state.range(0), version == Version::V5), version, wire);
  for (auto _ : state) {
    const auto header = peekFixedHeader(wire, 0);
    const FixedHeader& h = **header;
    auto packet = decode(h.first, std::string_view(wire).substr(h.headerLength), version);
    benchmark::DoNotOptimize(packet);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}
BENCHMARK(BM_CodecDecodePublish)
    ->ArgNames({"payload", "version"})
    ->Args({16, 4})
    ->Args({1024, 4})
    ->Args({16, 5})
    ->Args({1024, 5});

void BM_CodecEncodePublish(benchmark::State& state) {
  const auto version = static_cast<Version>(state.range(1));
  const Packet packet = samplePublish(state.range(0), version == Version::V5);
  std::string out;
  for (auto _ : state) {
    out.clear();
    encode(packet, version, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_CodecEncodePublish)
    ->ArgNames({"payload", "version"})
    ->Args({16, 4})
    ->Args({1024, 4})
    ->Args({16, 5})
    ->Args({1024, 5});

// The fan-out path: a fresh header per subscriber, payload shared. Arg: version.
void BM_CodecEncodePublishHeader(benchmark::State& state) {
  const auto version = static_cast<Version>(state.range(0));
  const Publish p = samplePublish(1024, version == Version::V5);
  const std::vector<uint32_t> subscriptionIds = {7, 300};
  PublishExtras extras;
  extras.qos = 1;
  extras.packetId = 17;
  extras.topicAlias = 3;
  extras.subscriptionIds = subscriptionIds;
  extras.messageExpiry = 1800;
  std::string out;
  for (auto _ : state) {
    out.clear();
    benchmark::DoNotOptimize(encodePublishHeader(p, extras, p.payload.size(), version, out));
  }
}
BENCHMARK(BM_CodecEncodePublishHeader)->ArgName("version")->Arg(4)->Arg(5);

void BM_CodecPeekFixedHeader(benchmark::State& state) {
  std::string wire;
  encode(samplePublish(state.range(0), false), Version::V311, wire);
  for (auto _ : state) {
    benchmark::DoNotOptimize(peekFixedHeader(wire, 1 << 20));
  }
}
BENCHMARK(BM_CodecPeekFixedHeader)->ArgName("payload")->Arg(16)->Arg(20000);

void BM_CodecTopicMatches(benchmark::State& state) {
  static const std::pair<const char*, const char*> kCases[] = {
      {"factory/line-3/press-12/temperature", "factory/line-3/press-12/temperature"},
      {"factory/+/+/temperature", "factory/line-3/press-12/temperature"},
      {"factory/#", "factory/line-3/press-12/temperature"},
      {"factory/line-4/#", "factory/line-3/press-12/temperature"},
      {"+/+/+/humidity", "factory/line-3/press-12/temperature"},
      {"#", "$SYS/broker/uptime"},
  };
  const std::string_view filter = kCases[state.range(0)].first;
  const std::string_view name = kCases[state.range(0)].second;
  for (auto _ : state) {
    benchmark::DoNotOptimize(topicMatches(filter, name));
  }
  state.SetLabel(std::string(filter));
}
BENCHMARK(BM_CodecTopicMatches)->DenseRange(0, 5);

void BM_CodecIsValidUtf8(benchmark::State& state) {
  const std::string topic = "factory/line-3/press-12/temperature/\xC3\xA9t\xC3\xA9";
  for (auto _ : state) {
    benchmark::DoNotOptimize(isValidUtf8(topic));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * topic.size()));
}
BENCHMARK(BM_CodecIsValidUtf8);

}  // namespace
}  // namespace moat::mqtt
