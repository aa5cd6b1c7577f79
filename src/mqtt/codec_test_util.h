// Helpers for the codec tests: golden bytes written as hex with quoted ASCII, and decoding a
// whole packet through peekFixedHeader + decode as a connection would.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mqtt/codec.h"

namespace moat::mqtt::testing {

// "10 0f 00 04 'MQTT' 04" -> bytes. Hex pairs and '...' ASCII runs; spaces are ignored.
inline std::string bytes(std::string_view spec) {
  std::string out;
  for (size_t i = 0; i < spec.size();) {
    const char c = spec[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '\'') {
      const size_t end = spec.find('\'', i + 1);
      out.append(spec.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      out.push_back(static_cast<char>(std::stoi(std::string(spec.substr(i, 2)), nullptr, 16)));
      i += 2;
    }
  }
  return out;
}

inline std::string toHex(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : data) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0x0F]);
  }
  return out;
}

// Decodes `wire`, which must hold exactly one whole packet.
inline Result<Packet> decodeWire(std::string_view wire, Version v) {
  auto header = peekFixedHeader(wire, 0);
  if (!header) return tl::unexpected(header.error());
  if (!*header) return fail(0, "incomplete fixed header");
  if ((*header)->totalLength() != wire.size()) {
    return fail(0, "remaining length " + std::to_string((*header)->remainingLength) +
                       " does not cover the " + std::to_string(wire.size()) + " bytes given");
  }
  return decode((*header)->first, wire.substr((*header)->headerLength), v);
}

inline std::string encoded(const Packet& p, Version v) {
  std::string out;
  encode(p, v, out);
  return out;
}

// Golden bytes -> decode -> the expected packet -> encode -> the same bytes.
inline void expectRoundTrip(std::string_view wire, Version v, const Packet& expected) {
  const auto decoded = decodeWire(wire, v);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_TRUE(*decoded == expected) << "decoded packet differs from the expected one";
  EXPECT_EQ(toHex(encoded(expected, v)), toHex(wire));
}

// The decoder refuses `wire` with reason code `code`.
inline void expectDecodeError(std::string_view wire, Version v, uint8_t code) {
  const auto decoded = decodeWire(wire, v);
  ASSERT_FALSE(decoded) << "decoded a packet that should have been refused";
  EXPECT_EQ(decoded.error().code, code) << decoded.error().message;
  // To check that each refusal is for the intended reason, run with MOAT_SHOW_DECODE_ERRORS=1.
  if (std::getenv("MOAT_SHOW_DECODE_ERRORS") != nullptr) {
    std::printf("    refused (0x%02X): %s\n", decoded.error().code,
                decoded.error().message.c_str());
  }
}

}  // namespace moat::mqtt::testing

// Macros so that a failure names the line of the test, not of the helper.
#define EXPECT_ROUND_TRIP(wire, version, packet)                   \
  do {                                                             \
    SCOPED_TRACE("round trip");                                    \
    ::moat::mqtt::testing::expectRoundTrip(wire, version, packet); \
  } while (0)

#define EXPECT_DECODE_ERROR(wire, version, code)                   \
  do {                                                             \
    SCOPED_TRACE("decode error");                                  \
    ::moat::mqtt::testing::expectDecodeError(wire, version, code); \
  } while (0)
