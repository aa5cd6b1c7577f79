// Reading and writing the property section of 5.0 packets (spec 2.2.2): a Variable Byte Integer
// length followed by identifier/value pairs. Internal to src/mqtt.
//
// Which properties a packet may carry (spec table 2-4) is one bit mask per PropertyScope; the
// decoder rejects anything outside it and the encoder leaves it out, so what is written is always
// something the reader accepts.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "base/result.h"
#include "mqtt/properties.h"
#include "mqtt/wire.h"

namespace moat::mqtt {

// Where a property section sits; PUBACK, PUBREC, PUBREL and PUBCOMP share one set.
enum class PropertyScope : uint8_t {
  Connect,
  Will,
  Connack,
  Publish,
  PubAck,
  Subscribe,
  Suback,
  Unsubscribe,
  Unsuback,
  Disconnect,
  Auth,
};

// Whether `id` may appear in `scope` (spec table 2-4).
bool propertyAllowed(PropertyScope scope, uint8_t id);

// Reads a property length and the properties it covers into `out` (which the caller passes
// empty). Fails with 0x81 for a bad length, an unknown identifier, one not allowed in `scope`,
// a truncated value or a string that is not UTF-8; with 0x82 for a duplicate or a value out of
// its range.
[[nodiscard]] Result<void> readProperties(wire::Reader& r, PropertyScope scope, Properties& out);

// Per-delivery values of a PUBLISH that replace those of the shared base properties.
struct PublishOverrides {
  std::optional<uint16_t> topicAlias;         // used when set, else the base value
  std::span<const uint32_t> subscriptionIds;  // always used; the base list is ignored
  std::optional<uint32_t> messageExpiry;      // used when set, else the base value
  size_t responseTopicSkip = 0;               // leading bytes of the Response Topic not written
  bool omitResponseTopic = false;             // the Response Topic is not written at all
};

// Writes the properties of `p` allowed in `scope`, in ascending identifier order, without the
// property length. With `overrides`, the three PUBLISH values above come from it.
template <class Sink>
void writePropertyList(const Properties& p, PropertyScope scope, const PublishOverrides* overrides,
                       Sink& sink);

// The size of what writePropertyList writes.
size_t propertyListSize(const Properties& p, PropertyScope scope,
                        const PublishOverrides* overrides = nullptr);

// The property length followed by the property list.
template <class Sink>
void writeProperties(const Properties& p, PropertyScope scope, Sink& sink) {
  const size_t n = propertyListSize(p, scope);
  sink.varint(static_cast<uint32_t>(n));
  writePropertyList(p, scope, nullptr, sink);
}

extern template void writePropertyList<wire::SizeSink>(const Properties&, PropertyScope,
                                                       const PublishOverrides*, wire::SizeSink&);
extern template void writePropertyList<wire::StringSink>(const Properties&, PropertyScope,
                                                         const PublishOverrides*,
                                                         wire::StringSink&);

}  // namespace moat::mqtt
