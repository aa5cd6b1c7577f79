// The data representations of MQTT (spec 1.5): big-endian integers, Variable Byte Integers and
// length-prefixed fields, read from and written to bytes. Internal to src/mqtt: the building
// blocks of the packet and property codecs, not part of the public API.
//
// Writing goes through a Sink so that one function per packet both measures and writes it:
// SizeSink only adds up lengths (the first pass, which gives the remaining length), StringSink
// appends to the output. Keeping one body writer per packet means size and bytes cannot drift.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mqtt/codec.h"

namespace moat::mqtt::wire {

// Reads fields from the front of a byte span. A read either consumes the whole field or returns
// nullopt and consumes nothing; nullopt always means the input ended too early.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }
  // Everything not read yet; consumes it.
  std::string_view takeRest() {
    std::string_view rest = data_.substr(pos_);
    pos_ = data_.size();
    return rest;
  }

  std::optional<uint8_t> u8() {
    if (remaining() < 1) return std::nullopt;
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::optional<uint16_t> u16() {
    if (remaining() < 2) return std::nullopt;
    const uint16_t v = static_cast<uint16_t>(byteAt(pos_) << 8 | byteAt(pos_ + 1));
    pos_ += 2;
    return v;
  }
  std::optional<uint32_t> u32() {
    if (remaining() < 4) return std::nullopt;
    const uint32_t v = uint32_t{byteAt(pos_)} << 24 | uint32_t{byteAt(pos_ + 1)} << 16 |
                       uint32_t{byteAt(pos_ + 2)} << 8 | uint32_t{byteAt(pos_ + 3)};
    pos_ += 4;
    return v;
  }
  // A Variable Byte Integer of at most 4 bytes in its minimal encoding [MQTT-1.5.5-1]; nullopt
  // when truncated, too long or not minimal (all of which make a packet malformed).
  std::optional<uint32_t> varint() {
    uint32_t value = 0;
    for (size_t i = 0; i < 4; ++i) {
      if (pos_ + i >= data_.size()) return std::nullopt;
      const uint8_t b = byteAt(pos_ + i);
      value |= uint32_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80) == 0) {
        // A final byte of 0 after a continuation byte adds nothing: the encoding is not minimal.
        if (i > 0 && b == 0) return std::nullopt;
        pos_ += i + 1;
        return value;
      }
    }
    return std::nullopt;
  }
  std::optional<std::string_view> bytes(size_t n) {
    if (remaining() < n) return std::nullopt;
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  // A 2-byte length and that many bytes: Binary Data, or the raw bytes of a UTF-8 string.
  std::optional<std::string_view> lengthPrefixed() {
    if (remaining() < 2) return std::nullopt;
    const size_t n = size_t{byteAt(pos_)} << 8 | byteAt(pos_ + 1);
    if (remaining() - 2 < n) return std::nullopt;
    std::string_view v = data_.substr(pos_ + 2, n);
    pos_ += 2 + n;
    return v;
  }

 private:
  uint8_t byteAt(size_t i) const { return static_cast<uint8_t>(data_[i]); }

  std::string_view data_;
  size_t pos_ = 0;
};

// Measures what a StringSink would write.
class SizeSink {
 public:
  void u8(uint8_t) { size_ += 1; }
  void u16(uint16_t) { size_ += 2; }
  void u32(uint32_t) { size_ += 4; }
  void varint(uint32_t v) { size_ += varintSize(v); }
  void lengthPrefixed(std::string_view s) { size_ += 2 + s.size(); }
  void raw(std::string_view s) { size_ += s.size(); }
  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
};

// Appends to a string. Callers reserve the final size first.
class StringSink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out_.append(b, 2);
  }
  void u32(uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
    out_.append(b, 4);
  }
  void varint(uint32_t v) { appendVarint(v, out_); }
  // REQUIRES: s.size() <= 65535 (the caller built a field the protocol can carry).
  void lengthPrefixed(std::string_view s) {
    assert(s.size() <= 65535);
    u16(static_cast<uint16_t>(s.size()));
    out_.append(s);
  }
  void raw(std::string_view s) { out_.append(s); }

 private:
  std::string& out_;
};

}  // namespace moat::mqtt::wire
