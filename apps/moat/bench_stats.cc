#include "apps/moat/bench_stats.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace moat::app::bench {

namespace {

template <class T>
void put(std::string& out, size_t at, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out[at + i] = static_cast<char>((static_cast<uint64_t>(value) >> (8 * i)) & 0xFF);
  }
}

template <class T>
T get(std::string_view in, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v |= uint64_t(static_cast<unsigned char>(in[at + i])) << (8 * i);
  }
  return static_cast<T>(v);
}

}  // namespace

std::string makePayload(const Stamp& stamp, size_t size) {
  std::string out(std::max(size, kStampSize), '\0');
  put(out, 0, stamp.stream);
  put(out, 4, stamp.sequence);
  put(out, 12, stamp.sentNs);
  return out;
}

std::optional<Stamp> readStamp(std::string_view payload) {
  if (payload.size() < kStampSize) return std::nullopt;
  return Stamp{get<uint32_t>(payload, 0), get<uint64_t>(payload, 4), get<int64_t>(payload, 12)};
}

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

size_t Histogram::bucketOf(uint64_t micros) {
  if (micros < 1024) return static_cast<size_t>(micros);
  const int msb = 63 - std::countl_zero(micros);
  if (msb > 40) return kBuckets - 1;
  const int shift = msb - 6;
  return 1024 + static_cast<size_t>(msb - 10) * 64 + static_cast<size_t>((micros >> shift) & 63);
}

uint64_t Histogram::lowEdge(size_t bucket) {
  if (bucket < 1024) return bucket;
  const size_t k = bucket - 1024;
  const int msb = 10 + static_cast<int>(k / 64);
  return (64 + k % 64) << (msb - 6);
}

void Histogram::add(uint64_t micros) {
  ++counts_[bucketOf(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  const auto wanted = static_cast<uint64_t>(std::max(1.0, fraction * static_cast<double>(count_)));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= wanted) return std::min(lowEdge(i), max_);
  }
  return max_;
}

bool DeliveryCheck::record(const Stamp& stamp, int64_t now) {
  if (stamp.stream >= streams_.size() || stamp.sequence == 0) {
    ++foreign_;
    return false;
  }
  ++delivered_;
  Stream& s = streams_[stamp.stream];
  if (stamp.sequence > s.highest) {
    const uint64_t ahead = stamp.sequence - s.highest;
    s.seen = (ahead >= 64 ? 0 : s.seen << ahead) | 1;
    s.highest = stamp.sequence;
  } else if (const uint64_t behind = s.highest - stamp.sequence; behind < 64) {
    if (s.seen & (uint64_t{1} << behind)) {
      ++duplicated_;
    } else {
      ++outOfOrder_;
      s.seen |= uint64_t{1} << behind;
    }
  } else {
    ++outOfOrder_;
  }
  const int64_t latency = now - stamp.sentNs;
  latency_.add(latency > 0 ? static_cast<uint64_t>(latency / 1000) : 0);
  return true;
}

void DeliveryCheck::merge(const DeliveryCheck& other) {
  delivered_ += other.delivered_;
  duplicated_ += other.duplicated_;
  outOfOrder_ += other.outOfOrder_;
  foreign_ += other.foreign_;
  latency_.merge(other.latency_);
}

}  // namespace moat::app::bench
