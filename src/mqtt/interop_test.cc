// Packets written by real peers: Eclipse Mosquitto 2.0.11 (mosquitto_pub, mosquitto_sub and the
// broker), captured on the wire for MQTT 3.1, 3.1.1 and 5.0 with a logging TCP proxy. Each must
// decode; encoding what was decoded must decode to the same packet, and gives the same bytes
// unless noted (Mosquitto writes 5.0 properties in its own order, the codec in ascending order).
#include <gtest/gtest.h>

#include "mqtt/codec.h"
#include "mqtt/codec_test_util.h"

namespace moat::mqtt {
namespace {

using testing::bytes;
using testing::decodeWire;
using testing::encoded;
using testing::toHex;

struct Captured {
  Version version;
  const char* what;
  bool sameBytes;  // whether re-encoding reproduces the captured bytes exactly
  const char* hex;
};

const Captured kCaptured[] = {
    {Version::V31, "CONNECT from client", true,
     "10 1f 00 06 4d 51 49 73 64 70 03 c2 00 3c 00 05 73 75 62 33 31 00 04 75 "
     "73 65 72 00 04 70 61 73 73"},
    {Version::V31, "CONNECT from client", true,
     "10 25 00 06 4d 51 49 73 64 70 03 02 00 3c 00 17 6d 6f 73 71 2d 62 75 50 "
     "62 69 66 45 44 54 57 6e 54 78 62 6f 76 6d 63"},
    {Version::V31, "CONNECT from client", true,
     "10 13 00 06 4d 51 49 73 64 70 03 02 00 1e 00 05 70 75 62 33 31"},
    {Version::V31, "CONNECT from client", true,
     "10 25 00 06 4d 51 49 73 64 70 03 02 00 3c 00 17 6d 6f 73 71 2d 6f 4a 69 "
     "4c 59 45 70 4a 64 75 63 6f 75 51 70 65 32 53"},
    {Version::V31, "CONNACK from broker", true, "20 02 00 00"},
    {Version::V31, "CONNACK from broker", true, "20 02 00 05"},
    {Version::V31, "PUBLISH from broker", true, "32 0c 00 03 61 2f 78 00 01 68 65 6c 6c 6f"},
    {Version::V31, "PUBLISH from broker", true, "34 0a 00 03 61 2f 79 00 02 74 77 6f"},
    {Version::V31, "PUBLISH from broker", true, "34 0c 00 03 61 2f 7a 00 03 74 68 72 65 65"},
    {Version::V31, "PUBLISH from client", true, "30 09 00 03 62 2f 71 66 6f 75 72"},
    {Version::V31, "PUBLISH from client", true, "32 0b 00 03 61 2f 71 00 01 66 69 76 65"},
    {Version::V31, "PUBACK from client", true, "40 02 00 01"},
    {Version::V31, "PUBREC from client", true, "50 02 00 02"},
    {Version::V31, "PUBREC from client", true, "50 02 00 03"},
    {Version::V31, "PUBREL from broker", true, "62 02 00 02"},
    {Version::V31, "PUBREL from broker", true, "62 02 00 03"},
    {Version::V31, "PUBCOMP from client", true, "70 02 00 02"},
    {Version::V31, "PUBCOMP from client", true, "70 02 00 03"},
    {Version::V31, "SUBSCRIBE from client", true, "82 08 00 01 00 03 61 2f 23 02"},
    {Version::V31, "SUBACK from broker", true, "90 03 00 01 02"},
    {Version::V31, "DISCONNECT from client", true, "e0 00"},
    {Version::V311, "CONNECT from client", true,
     "10 1e 00 04 4d 51 54 54 04 c2 00 3c 00 06 73 75 62 33 31 31 00 04 75 73 "
     "65 72 00 04 70 61 73 73"},
    {Version::V311, "CONNECT from client", true,
     "10 18 00 04 4d 51 54 54 04 c6 00 3c 00 00 00 01 77 00 01 78 00 01 75 00 "
     "01 70"},
    {Version::V311, "CONNECT from client", true,
     "10 14 00 04 4d 51 54 54 04 02 00 3c 00 08 75 6e 73 75 62 33 31 31"},
    {Version::V311, "CONNECT from client", true, "10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00"},
    {Version::V311, "CONNACK from broker", true, "20 02 00 00"},
    {Version::V311, "CONNACK from broker", true, "20 02 00 05"},
    {Version::V311, "PUBLISH from broker", true, "32 0c 00 03 61 2f 78 00 01 68 65 6c 6c 6f"},
    {Version::V311, "PUBLISH from broker", true, "32 0a 00 03 61 2f 79 00 02 74 77 6f"},
    {Version::V311, "PUBLISH from broker", true, "32 0c 00 03 61 2f 7a 00 03 74 68 72 65 65"},
    {Version::V311, "PUBLISH from client", true, "34 0c 00 03 61 2f 7a 00 01 74 68 72 65 65"},
    {Version::V311, "PUBLISH from client", true, "34 0c 00 03 62 2f 7a 00 01 74 68 72 65 65"},
    {Version::V311, "PUBACK from client", true, "40 02 00 01"},
    {Version::V311, "PUBACK from client", true, "40 02 00 02"},
    {Version::V311, "PUBACK from client", true, "40 02 00 03"},
    {Version::V311, "PUBREC from broker", true, "50 02 00 01"},
    {Version::V311, "PUBREL from client", true, "62 02 00 01"},
    {Version::V311, "PUBCOMP from broker", true, "70 02 00 01"},
    {Version::V311, "SUBSCRIBE from client", true, "82 08 00 01 00 03 61 2f 23 01"},
    {Version::V311, "SUBSCRIBE from client", true, "82 08 00 01 00 03 78 2f 31 00"},
    {Version::V311, "SUBACK from broker", true, "90 03 00 01 01"},
    {Version::V311, "SUBACK from broker", true, "90 03 00 01 00"},
    {Version::V311, "UNSUBSCRIBE from client", true, "a2 07 00 02 00 03 78 2f 31"},
    {Version::V311, "UNSUBACK from broker", true, "b0 02 00 02"},
    {Version::V311, "DISCONNECT from client", true, "e0 00"},
    {Version::V5, "CONNECT from client", true,
     "10 10 00 04 4d 51 54 54 05 02 00 3c 03 21 00 14 00 00"},
    {Version::V5, "CONNECT from client", false,
     "10 2f 00 04 4d 51 54 54 05 2e 00 3c 03 21 00 14 00 00 14 18 00 00 00 05 "
     "03 00 03 77 63 74 26 00 02 77 6b 00 02 77 76 00 03 77 2f 74 00 03 62 79 "
     "65"},
    {Version::V5, "CONNECT from client", true,
     "10 16 00 04 4d 51 54 54 05 02 00 3c 03 21 00 14 00 06 75 6e 73 75 62 35"},
    {Version::V5, "CONNECT from client", false,
     "10 2e 00 04 4d 51 54 54 05 00 00 3c 1d 21 00 0a 26 00 02 63 6b 00 02 63 "
     "76 27 00 01 86 a0 22 00 05 17 00 19 01 11 00 00 00 78 00 04 73 75 62 35"},
    {Version::V5, "CONNECT from client", true,
     "10 15 00 04 4d 51 54 54 05 02 00 3c 03 21 00 01 00 05 73 75 62 35 62"},
    {Version::V5, "CONNACK from broker", false,
     "20 35 00 00 32 22 00 0a 12 00 29 61 75 74 6f 2d 33 34 32 37 35 44 31 42 "
     "2d 30 37 45 32 2d 36 43 37 37 2d 42 45 36 45 2d 35 36 38 31 41 33 41 36 "
     "46 39 45 36 21 00 14"},
    {Version::V5, "CONNACK from broker", false,
     "20 35 00 00 32 22 00 0a 12 00 29 61 75 74 6f 2d 39 31 36 43 44 38 43 30 "
     "2d 37 31 38 31 2d 42 44 31 35 2d 43 45 32 33 2d 46 45 32 38 31 45 36 42 "
     "33 33 31 34 21 00 14"},
    {Version::V5, "CONNACK from broker", false,
     "20 35 00 00 32 22 00 0a 12 00 29 61 75 74 6f 2d 38 37 44 45 32 33 30 46 "
     "2d 43 43 34 43 2d 34 34 46 42 2d 34 35 42 34 2d 46 46 42 34 39 46 45 36 "
     "36 44 43 37 21 00 14"},
    {Version::V5, "CONNACK from broker", false, "20 09 00 00 06 22 00 0a 21 00 14"},
    {Version::V5, "CONNACK from broker", false,
     "20 35 00 00 32 22 00 0a 12 00 29 61 75 74 6f 2d 30 31 34 42 32 34 44 30 "
     "2d 46 37 31 36 2d 32 35 33 38 2d 46 30 33 37 2d 45 44 38 34 43 30 37 41 "
     "31 43 33 39 21 00 14"},
    {Version::V5, "CONNACK from broker", false,
     "20 35 00 00 32 22 00 0a 12 00 29 61 75 74 6f 2d 44 33 44 39 35 37 37 36 "
     "2d 42 45 30 36 2d 31 32 36 42 2d 36 35 43 43 2d 46 38 39 42 38 36 39 33 "
     "38 42 38 31 21 00 14"},
    {Version::V5, "CONNACK from broker", false,
     "20 35 00 00 32 22 00 0a 12 00 29 61 75 74 6f 2d 44 45 41 32 34 41 34 30 "
     "2d 44 35 45 39 2d 39 35 45 30 2d 32 32 41 41 2d 32 33 36 41 44 39 35 37 "
     "30 39 36 42 21 00 14"},
    {Version::V5, "CONNACK from broker", true, "20 03 00 87 00"},
    {Version::V5, "PUBLISH from client", false,
     "33 28 00 05 72 65 74 2f 74 00 01 16 26 00 02 72 6b 00 02 72 76 03 00 0a "
     "74 65 78 74 2f 70 6c 61 69 6e 72 65 74 61 69 6e 65 64"},
    {Version::V5, "PUBLISH from client", false,
     "32 2e 00 03 61 2f 78 00 01 21 03 00 04 74 65 78 74 26 00 01 61 00 01 62 "
     "02 00 00 00 1e 01 01 08 00 03 72 2f 74 09 00 03 61 62 63 68 65 6c 6c 6f"},
    {Version::V5, "PUBLISH from client", true, "34 0e 00 03 61 2f 79 00 01 03 23 00 01 74 77 6f"},
    {Version::V5, "PUBLISH from broker", false,
     "33 2a 00 05 72 65 74 2f 74 00 01 18 0b 07 26 00 02 72 6b 00 02 72 76 03 "
     "00 0a 74 65 78 74 2f 70 6c 61 69 6e 72 65 74 61 69 6e 65 64"},
    {Version::V5, "PUBLISH from broker", false,
     "32 30 00 03 61 2f 78 00 02 23 0b 07 03 00 04 74 65 78 74 26 00 01 61 00 "
     "01 62 01 01 08 00 03 72 2f 74 09 00 03 61 62 63 02 00 00 00 1e 68 65 6c "
     "6c 6f"},
    {Version::V5, "PUBLISH from broker", true, "34 0d 00 03 61 2f 79 00 03 02 0b 07 74 77 6f"},
    {Version::V5, "PUBLISH from broker", true,
     "34 0f 00 03 62 2f 7a 00 04 02 0b 07 74 68 72 65 65"},
    {Version::V5, "PUBLISH from broker", false,
     "32 2e 00 03 61 2f 78 00 01 21 03 00 04 74 65 78 74 26 00 01 61 00 01 62 "
     "01 01 08 00 03 72 2f 74 09 00 03 61 62 63 02 00 00 00 1e 68 65 6c 6c 6f"},
    {Version::V5, "PUBACK from broker", true, "40 03 00 01 10"},
    {Version::V5, "PUBACK from broker", true, "40 02 00 01"},
    {Version::V5, "PUBACK from client", true, "40 02 00 02"},
    {Version::V5, "PUBACK from client", true, "40 02 00 05"},
    {Version::V5, "PUBREC from broker", true, "50 02 00 01"},
    {Version::V5, "PUBREC from client", true, "50 02 00 03"},
    {Version::V5, "PUBREC from client", true, "50 02 00 04"},
    {Version::V5, "PUBREL from client", true, "62 02 00 01"},
    {Version::V5, "PUBREL from broker", true, "62 02 00 03"},
    {Version::V5, "PUBREL from broker", true, "62 02 00 04"},
    {Version::V5, "PUBCOMP from broker", true, "70 02 00 01"},
    {Version::V5, "PUBCOMP from client", true, "70 02 00 03"},
    {Version::V5, "PUBCOMP from client", true, "70 02 00 04"},
    {Version::V5, "SUBSCRIBE from client", true, "82 09 00 01 00 00 03 78 2f 31 00"},
    {Version::V5, "SUBSCRIBE from client", true,
     "82 22 00 01 0b 0b 07 26 00 02 73 75 00 02 73 76 00 03 61 2f 2b 02 00 05 "
     "72 65 74 2f 23 02 00 03 62 2f 23 02"},
    {Version::V5, "SUBSCRIBE from client", true,
     "82 12 00 01 00 00 0c 24 73 68 61 72 65 2f 67 2f 61 2f 2b 01"},
    {Version::V5, "SUBACK from broker", true, "90 04 00 01 00 00"},
    {Version::V5, "SUBACK from broker", true, "90 06 00 01 00 02 02 02"},
    {Version::V5, "SUBACK from broker", true, "90 04 00 01 00 01"},
    {Version::V5, "UNSUBSCRIBE from client", true, "a2 08 00 02 00 00 03 78 2f 31"},
    {Version::V5, "UNSUBSCRIBE from client", true, "a2 08 00 03 00 00 03 78 2f 32"},
    {Version::V5, "UNSUBACK from broker", true, "b0 04 00 02 00 00"},
    {Version::V5, "UNSUBACK from broker", true, "b0 04 00 03 00 11"},
    {Version::V5, "DISCONNECT from client", true, "e0 00"},

};

TEST(MosquittoCapture, EveryCapturedPacketDecodesAndReencodes) {
  for (const Captured& c : kCaptured) {
    SCOPED_TRACE(std::string(c.what) + " in " + std::string(versionName(c.version)) + ": " + c.hex);
    const std::string wire = bytes(c.hex);
    const auto decoded = decodeWire(wire, c.version);
    ASSERT_TRUE(decoded) << decoded.error().message;
    const std::string again = encoded(*decoded, c.version);
    const auto redecoded = decodeWire(again, c.version);
    ASSERT_TRUE(redecoded) << redecoded.error().message;
    EXPECT_TRUE(*redecoded == *decoded);
    if (c.sameBytes) {
      EXPECT_EQ(toHex(again), toHex(wire));
    }
  }
}

}  // namespace
}  // namespace moat::mqtt
