// The framing half of the codec: the fixed header and Variable Byte Integers. Packet bodies are
// in decode.cc and encode.cc.
#include "mqtt/codec.h"

#include <cassert>

#include "mqtt/reason_code.h"

namespace moat::mqtt {

Result<std::optional<FixedHeader>> peekFixedHeader(std::string_view data, uint32_t maxPacketSize) {
  if (data.empty()) return std::optional<FixedHeader>();
  const auto first = static_cast<uint8_t>(data[0]);
  // Spec 2.1.2: packet type 0 is reserved (Forbidden).
  if ((first >> 4) == 0) {
    return fail(code(ReasonCode::MalformedPacket), "packet type 0 is reserved");
  }
  // The remaining length is a Variable Byte Integer of at most 4 bytes (spec 2.1.4). A
  // non-minimal encoding is accepted here: it is unambiguous, and some clients write one.
  uint32_t value = 0;
  for (uint32_t i = 0; i < 4; ++i) {
    if (1 + i >= data.size()) return std::optional<FixedHeader>();
    const auto b = static_cast<uint8_t>(data[1 + i]);
    value |= uint32_t{b & 0x7Fu} << (7 * i);
    if ((b & 0x80) == 0) {
      const FixedHeader header{first, 2 + i, value};
      if (maxPacketSize != 0 && header.totalLength() > maxPacketSize) {
        return fail(code(ReasonCode::PacketTooLarge), "packet exceeds the maximum packet size");
      }
      return std::optional<FixedHeader>(header);
    }
  }
  return fail(code(ReasonCode::MalformedPacket), "remaining length is longer than 4 bytes");
}

void appendVarint(uint32_t value, std::string& out) {
  assert(value <= kMaxRemainingLength);
  char buf[4];
  size_t n = 0;
  do {
    uint8_t b = value & 0x7F;
    value >>= 7;
    if (value != 0) b |= 0x80;
    buf[n++] = static_cast<char>(b);
  } while (value != 0 && n < 4);
  out.append(buf, n);
}

}  // namespace moat::mqtt
