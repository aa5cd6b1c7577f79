// DeadlineWheel: deadlines to the second for many objects, on one timer. Each object is in the
// slot of its deadline's tick (whole seconds since the wheel's start, rounded up) modulo the
// number of slots; a deadline more than a round away waits in its slot for its round. Moving a
// deadline does not look for the old entry: the owner keeps the tick of its live deadline, and
// an entry whose object no longer has that tick is dropped when its slot comes round.
//
// The Worker uses one for its connections' connect timeouts and keep-alive checks, so that an
// idle connection holds no timer and no pending wait of its own (docs/benchmarks.md).
// Not thread-safe: one worker's thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace moat::broker {

template <class T>
class DeadlineWheel {
 public:
  using Clock = std::chrono::steady_clock;

  explicit DeadlineWheel(Clock::time_point start, size_t slots = 256)
      : start_(start), slots_(slots) {}

  // Puts `item` at the first tick at or after `when` (never one already handled) and returns
  // that tick (at least 1): the caller records it as the item's current deadline.
  uint64_t schedule(T* item, Clock::time_point when) {
    const auto since = std::chrono::ceil<std::chrono::seconds>(when - start_).count();
    const uint64_t tick = std::max<uint64_t>(since > 0 ? since : 0, handled_ + 1);
    slots_[tick % slots_.size()].push_back(item);
    ++size_;
    return tick;
  }

  // The time the next tick comes due.
  Clock::time_point nextTick() const { return start_ + std::chrono::seconds(handled_ + 1); }
  // Entries held, stale ones included; 0: nothing to wait for.
  size_t size() const { return size_; }

  // Handles every tick that has come by `now`. For each entry: `current(item)` is the tick of
  // the item's live deadline (0: none, or the item is gone, and then it is not touched
  // again); an entry whose tick is not the current one is stale and dropped; a current one
  // that has come is dropped and `due(item)` called, which must clear or replace the item's
  // current tick (it may schedule it again).
  template <class Current, class Due>
  void advance(Clock::time_point now, Current current, Due due) {
    const auto elapsed = std::chrono::floor<std::chrono::seconds>(now - start_).count();
    if (elapsed <= 0) return;
    const auto upTo = static_cast<uint64_t>(elapsed);
    // Late by more than a round: every slot once is enough, each handling what is due by now.
    if (upTo > handled_ + slots_.size()) handled_ = upTo - slots_.size();
    while (handled_ < upTo) {
      const size_t slot = ++handled_ % slots_.size();
      std::vector<T*> entries;
      entries.swap(slots_[slot]);
      size_ -= entries.size();
      for (T* item : entries) {
        const uint64_t tick = current(item);
        if (tick == 0 || tick % slots_.size() != slot) continue;  // stale
        if (tick > upTo) {                                        // a later round
          slots_[slot].push_back(item);
          ++size_;
          continue;
        }
        due(item);
      }
    }
  }

 private:
  const Clock::time_point start_;
  std::vector<std::vector<T*>> slots_;
  uint64_t handled_ = 0;  // the last tick handled
  size_t size_ = 0;
};

}  // namespace moat::broker
