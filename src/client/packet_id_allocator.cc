#include "client/packet_id_allocator.h"

namespace moat::client {

std::optional<uint16_t> PacketIdAllocator::allocate() {
  if (count_ >= 65535) return std::nullopt;
  for (;;) {
    uint16_t id = next_;
    next_ = next_ == 65535 ? 1 : static_cast<uint16_t>(next_ + 1);
    if (!used_.test(id)) {
      used_.set(id);
      ++count_;
      return id;
    }
  }
}

void PacketIdAllocator::release(uint16_t id) {
  if (id == 0 || !used_.test(id)) return;
  used_.reset(id);
  --count_;
}

bool PacketIdAllocator::reserve(uint16_t id) {
  if (id == 0 || used_.test(id)) return false;
  used_.set(id);
  ++count_;
  return true;
}

}  // namespace moat::client
