// libFuzzer target for the MQTT decoder: the input is a byte stream as a connection would see
// it, cut into packets by peekFixedHeader and decoded one by one. The first input byte picks the
// protocol version (byte % 3: 3.1, 3.1.1, 5.0) and, with its top bit, a maximum packet size.
//
// Besides "no crash, no sanitizer report", every packet that decodes must survive
// encode -> decode unchanged, re-encode to the same bytes, and agree with encodePublishHeader;
// every refusal must carry a reason code the decoder is documented to use. Any violation aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "mqtt/codec.h"
#include "mqtt/topic.h"

namespace {

namespace mqtt = moat::mqtt;
using mqtt::Packet;
using mqtt::Version;

[[noreturn]] void die(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_decode: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void require(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) die(what, detail);
}

bool isDocumentedDecodeError(uint8_t code) {
  return code == 0x81 || code == 0x82 || code == 0x84 || code == 0x90;
}

// Encodes `p`, decodes the bytes back and checks nothing changed on the way.
void checkRoundTrip(const Packet& p, Version v) {
  std::string once;
  mqtt::encode(p, v, once);
  const auto header = mqtt::peekFixedHeader(once, 0);
  require(header.has_value() && header->has_value(), "encoded packet has no whole fixed header");
  const mqtt::FixedHeader& h = **header;
  require(h.totalLength() == once.size(), "encoded packet's remaining length is wrong");
  const auto again = mqtt::decode(h.first, std::string_view(once).substr(h.headerLength), v);
  require(again.has_value(), "encoded packet does not decode:",
          again ? std::string_view() : std::string_view(again.error().message));
  require(*again == p, "decode(encode(p)) != p");
  std::string twice;
  mqtt::encode(*again, v, twice);
  require(twice == once, "encode is not stable across a round trip");

  if (const auto* pub = std::get_if<mqtt::Publish>(&p)) {
    mqtt::PublishExtras extras;
    extras.qos = pub->qos;
    extras.dup = pub->dup;
    extras.retain = pub->retain;
    extras.packetId = pub->packetId;
    extras.topicAlias = pub->properties.topicAlias;
    extras.subscriptionIds = pub->properties.subscriptionIdentifiers;
    std::string split;
    const uint32_t total = mqtt::encodePublishHeader(*pub, extras, pub->payload.size(), v, split);
    split += pub->payload;
    require(split == once, "encodePublishHeader + payload differs from encode");
    require(total == once.size(), "encodePublishHeader returned the wrong size");
  }
}

// A topic name that `filter` (valid, not shared) must match: wildcards replaced by a level.
std::string nameMatching(std::string_view filter) {
  std::string name;
  for (char c : filter) {
    if (c == '+' || c == '#') {
      name += 'x';
    } else {
      name += c;
    }
  }
  return name;
}

void checkTopics(const Packet& p) {
  if (const auto* pub = std::get_if<mqtt::Publish>(&p)) {
    if (pub->topic.empty()) return;
    require(mqtt::validateTopicName(pub->topic).has_value(), "decoded topic name is invalid");
    require(mqtt::topicMatches(pub->topic, pub->topic), "a topic name does not match itself");
    require(mqtt::topicMatches("#", pub->topic) == (pub->topic[0] != '$'),
            "'#' disagrees with the '$' rule");
    return;
  }
  if (const auto* sub = std::get_if<mqtt::Subscribe>(&p)) {
    for (const mqtt::TopicSubscription& t : sub->topics) {
      const auto valid = mqtt::validateTopicFilter(t.filter);
      const auto shared = mqtt::parseSharedFilter(t.filter);
      if (!valid) {
        require(valid.error().code == 0x8F, "invalid filter refused with an unexpected code");
        continue;
      }
      const std::string_view filter = shared ? shared->filter : std::string_view(t.filter);
      require(mqtt::validateTopicFilter(filter).has_value(), "shared filter's inner filter");
      // A leading wildcard becomes 'x', so the '$' rule never applies to this name.
      require(mqtt::topicMatches(filter, nameMatching(filter)),
              "filter does not match its own instance:", filter);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr Version kVersions[] = {Version::V31, Version::V311, Version::V5};
  const Version version = kVersions[data[0] % 3];
  const uint32_t maxPacketSize = (data[0] & 0x80) != 0 ? 128 : 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  while (!rest.empty()) {
    const auto header = mqtt::peekFixedHeader(rest, maxPacketSize);
    if (!header) {
      const uint8_t code = header.error().code;
      require(code == 0x81 || code == 0x95, "peekFixedHeader failed with an unexpected code");
      break;
    }
    if (!*header) break;  // needs more bytes
    const mqtt::FixedHeader& h = **header;
    require(h.headerLength >= 2 && h.headerLength <= 5, "header length out of range");
    require(maxPacketSize == 0 || h.totalLength() <= maxPacketSize, "size limit not applied");
    if (h.totalLength() > rest.size()) break;  // packet incomplete
    const std::string_view body = rest.substr(h.headerLength, h.remainingLength);

    const auto packet = mqtt::decode(h.first, body, version);
    if (!packet) {
      require(isDocumentedDecodeError(packet.error().code),
              "decode failed with an unexpected code:", packet.error().message);
    } else {
      // CONNECT is written in its own version; everything else in the connection's.
      Version v = version;
      if (const auto* c = std::get_if<mqtt::Connect>(&*packet)) {
        v = c->version;
        require(mqtt::connectVersionHint(body) == v, "version hint disagrees with decode");
      }
      require(static_cast<uint8_t>(mqtt::packetType(*packet)) == (h.first >> 4),
              "packet type differs from the fixed header");
      checkRoundTrip(*packet, v);
      checkTopics(*packet);
    }
    if (h.type() == mqtt::PacketType::Connect) (void)mqtt::connectVersionHint(body);
    rest.remove_prefix(h.totalLength());
  }
  return 0;
}
