// Connection, back-pressure (limits.publisher_wait): a client whose QoS 1/2 messages went to a
// congested session has its publishes held, while its acknowledgements and pings are still
// read and handled (docs/architecture.md, "Flow control and memory bounds").
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/connection.h"
#include "broker/session.h"
#include "broker/worker.h"
#include "mqtt/codec.h"

namespace moat::broker {

namespace asio = boost::asio;

namespace {

// Bytes read ahead from a client whose publishes are held (back-pressure), to find the
// acknowledgements and pings among them.
constexpr size_t kPausedReadLimit = 64 * 1024;

}  // namespace

asio::awaitable<Connection::Read> Connection::waitForReceivers(bool reading) {
  using namespace asio::experimental::awaitable_operators;
  const auto& limits = worker_.broker().limits();
  const auto patience = std::chrono::seconds(limits.publisherWait);
  const auto started = Clock::now();
  const uint32_t wakeups = wakeups_;
  log::debug("client \"{}\" {}: publishes held until subscriber \"{}\" takes its queued messages",
             clientId(), peer_, blockers_.front().session->clientId());
  worker_.pauseReader(this);
  Read result = reading ? Read::More : Read::Ended;
  // Acknowledgements and pings that came in the same read as the held PUBLISH.
  bool ok = withWritesHeld(&Connection::processAhead);
  while (ok && !closing_) {
    const auto now = Clock::now();
    auto deadline = Clock::time_point::max();
    std::erase_if(blockers_, [&](const Blocker& b) {
      Session* s = b.session.get();
      if (!s->congested()) return true;
      // Drained since and room again: this client goes on with at least one more packet.
      if (s->drains() != b.drains && s->hasRoom()) return true;
      // A $share group's member: some session drained, maybe another member; pick again.
      if (b.shared && wakeups_ != wakeups) return true;
      const auto giveUp = std::max(s->congestedSince(), started) + patience;
      if (now < giveUp) {
        deadline = std::min(deadline, giveUp);
        return false;
      }
      if (s->markStalled()) {
        log::warn(
            "client \"{}\": its queue stayed half full for {} s; publishers no longer wait for "
            "it until it reconnects, and what overflows its queue is dropped "
            "(limits.publisher_wait)",
            s->clientId(), patience.count());
      }
      return true;
    });
    if (blockers_.empty()) break;
    drainedTimer().expires_at(deadline);
    // Meanwhile the client's acknowledgements and pings are still read and handled (they do
    // not depend on the publishes held before them), so the sessions it receives for keep
    // draining and its pings are answered; bounded like any reading: by what is buffered and
    // by the replies its socket has not taken.
    const bool mayRead = result == Read::More && readEnd_ - readStart_ < kPausedReadLimit &&
                         writeBacklog() <= limits.maxWriteBuffer;
    if (!mayRead) {
      co_await drained_->async_wait(asio::as_tuple(asio::use_awaitable));  // writes wake it too
      continue;
    }
    auto woke = co_await (
        socket_.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable)) ||
        drained_->async_wait(asio::as_tuple(asio::use_awaitable)));
    if (woke.index() != 0) continue;
    auto [ec] = std::get<0>(woke);
    result = ec ? readFailed(ec) : readNow();
    if (result == Read::Refused) break;
    ok = withWritesHeld(&Connection::processAhead);
  }
  blockers_.clear();
  worker_.resumeReader(this);
  co_return result;
}

bool Connection::processAhead() {
  const uint32_t maxPacket = worker_.broker().limits().maxPacketSize;
  // One pass: packets kept for processBuffer() move down over the ones handled here (`out`),
  // so a flood of small acks or pings costs one copy of the buffer, not one per packet.
  size_t at = readStart_;
  size_t out = readStart_;
  bool ok = true;
  while (!closing_) {
    std::string_view data(readBuf_.data() + at, readEnd_ - at);
    auto header = mqtt::peekFixedHeader(data, maxPacket);
    if (!header || !*header || (**header).totalLength() > data.size()) break;  // processBuffer's
    const mqtt::FixedHeader h = **header;
    const size_t length = h.totalLength();
    const auto type = h.type();
    if (type == mqtt::PacketType::Disconnect) break;  // nothing after it counts
    if (type != mqtt::PacketType::Puback && type != mqtt::PacketType::Pubrec &&
        type != mqtt::PacketType::Pubcomp && type != mqtt::PacketType::Pingreq) {
      if (out != at) std::memmove(readBuf_.data() + out, readBuf_.data() + at, length);
      out += length;
      at += length;
      continue;
    }
    auto handled = handleBody(h, data.substr(h.headerLength, h.remainingLength));
    if (!handled) break;  // processBuffer reports it in turn
    at += length;
    lastReceived_ = std::chrono::steady_clock::now();
    if (!*handled) {
      ok = false;
      break;
    }
  }
  // The rest, not looked at, follows what was kept.
  if (out != at) {
    std::memmove(readBuf_.data() + out, readBuf_.data() + at, readEnd_ - at);
    readEnd_ -= at - out;
  }
  return ok && !closing_;
}

}  // namespace moat::broker
