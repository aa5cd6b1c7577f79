// What `moat bench` counts: the payload stamp every message carries (stream, sequence, send
// time), a latency histogram, and the per-subscriber check of every delivery for loss,
// duplication and order. Plain data, no I/O: unit-tested in bench_stats_test.cc.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::app::bench {

using Clock = std::chrono::steady_clock;

// The first bytes of every payload: which stream (publisher lane) sent it, its sequence number
// in that stream (from 1), and when it was sent (steady clock, ns). The rest is padding.
inline constexpr size_t kStampSize = 20;

struct Stamp {
  uint32_t stream = 0;
  uint64_t sequence = 0;
  int64_t sentNs = 0;
};

// A payload of `size` bytes (at least kStampSize) starting with the stamp.
std::string makePayload(const Stamp& stamp, size_t size);
// The stamp of a payload; nullopt when it is too short to hold one.
std::optional<Stamp> readStamp(std::string_view payload);

int64_t nowNs();

// Latencies in microseconds: exact below 1,024 µs, then 64 buckets per power of two (about 1.5 %
// wide), up to about 2^40 µs. The maximum is kept exactly.
class Histogram {
 public:
  void add(uint64_t micros);
  void merge(const Histogram& other);
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The smallest value with at least `fraction` of the samples at or below it (bucket's low
  // edge); 0 without samples.
  uint64_t percentile(double fraction) const;

 private:
  static constexpr size_t kBuckets = 1024 + 31 * 64;
  static size_t bucketOf(uint64_t micros);
  static uint64_t lowEdge(size_t bucket);
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBuckets);
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

// One subscriber's view of the streams: every message is checked against the highest sequence
// seen in its stream and a window of the 64 below it, which tells a duplicate (seen before) from
// a late one (skipped, then delivered: out of order). A late one older than the window counts as
// out of order.
class DeliveryCheck {
 public:
  explicit DeliveryCheck(size_t streams) : streams_(streams) {}
  // Records one delivery; false if the stamp names no stream of ours.
  bool record(const Stamp& stamp, int64_t nowNs);
  void merge(const DeliveryCheck& other);

  uint64_t delivered() const { return delivered_; }
  uint64_t unique() const { return delivered_ - duplicated_; }
  uint64_t duplicated() const { return duplicated_; }
  uint64_t outOfOrder() const { return outOfOrder_; }
  uint64_t foreign() const { return foreign_; }  // not one of ours
  const Histogram& latency() const { return latency_; }

 private:
  struct Stream {
    uint64_t highest = 0;
    uint64_t seen = 0;  // bit i: sequence highest - i was delivered
  };
  std::vector<Stream> streams_;
  uint64_t delivered_ = 0;
  uint64_t duplicated_ = 0;
  uint64_t outOfOrder_ = 0;
  uint64_t foreign_ = 0;
  Histogram latency_;
};

}  // namespace moat::app::bench
