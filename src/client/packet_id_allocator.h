// PacketIdAllocator: hands out the 16-bit packet identifiers a client puts on its QoS 1/2
// PUBLISH, SUBSCRIBE and UNSUBSCRIBE packets, so that no two unacknowledged packets share one
// ([MQTT-2.2.1-3], 5.0 [MQTT-2.2.1-4]). Identifier 0 is never used ([MQTT-2.2.1-2]).
//
// Design: one bit per identifier (8 KiB) and a cursor that moves forward round the id space, so
// a freshly released id is not reused at once (a late duplicate ack for it cannot be mistaken
// for the new packet's) and allocation is amortised O(1) while few ids are in use.
//
// Not thread-safe: owned by one Client and touched only on its executor.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace moat::client {

class PacketIdAllocator {
 public:
  // Returns an identifier in 1..65535 not currently in use and marks it used; nullopt when all
  // 65535 are in use.
  std::optional<uint16_t> allocate();
  // Marks `id` free again. Releasing an id that is not in use is a no-op.
  void release(uint16_t id);
  // Marks a specific id used (e.g. one restored from a session). Returns false if already used.
  bool reserve(uint16_t id);
  bool inUse(uint16_t id) const { return used_.test(id); }
  size_t size() const { return count_; }

 private:
  std::bitset<65536> used_;
  uint16_t next_ = 1;
  size_t count_ = 0;
};

}  // namespace moat::client
