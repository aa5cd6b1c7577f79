// Connection: socket I/O, reading and framing, timers, closing. Writing is in
// connection_write.cc, back-pressure in connection_backpressure.cc, the protocol handlers in
// handle_connect.cc, handle_publish.cc and handle_subscribe.cc.
#include "broker/connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/listener_info.h"
#include "broker/session.h"
#include "broker/worker.h"
#include "mqtt/codec.h"

namespace moat::broker {

namespace asio = boost::asio;
using mqtt::ReasonCode;

namespace {

constexpr size_t kReadChunk = 4096;
// One TLS record at most, read per wake-up of a TLS connection.
constexpr size_t kTlsReadChunk = 17 * 1024;
// A read buffer larger than this is released once it is empty.
constexpr size_t kKeepReadBuffer = 64 * 1024;

// Read buffers plain connections give back between packets and take for their next read, kept
// per worker (everything of a connection runs on its worker's thread): the steady state
// allocates no read buffer per packet while an idle connection still holds none of its own
// (connection_write.cc keeps written chunks' strings the same way).
thread_local std::vector<std::string> spareReadBuffers;
constexpr size_t kSpareReadBuffers = 8;

void giveBackReadBuffer(std::string& buffer) {
  // Its size is kept too: the next read then needs no resize, which would zero 4 KiB.
  if (buffer.size() >= kReadChunk && buffer.capacity() <= kKeepReadBuffer &&
      spareReadBuffers.size() < kSpareReadBuffers) {
    spareReadBuffers.push_back(std::move(buffer));
  }
  std::string().swap(buffer);
}

void takeReadBuffer(std::string& buffer) {
  // Only into an empty buffer (a handed-over connection may hold a few bytes in the string
  // itself).
  if (!buffer.empty() || spareReadBuffers.empty()) return;
  buffer.swap(spareReadBuffers.back());
  spareReadBuffers.pop_back();
}

// How long a closing connection may take to flush its last packets.
constexpr auto kCloseGrace = std::chrono::seconds(2);

// Port 0: the peer's address could not be read (it had gone already).
std::string peerOf(const boost::asio::ip::tcp::endpoint& ep) {
  if (ep.port() == 0) return "unknown";
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

net::IpAddress ipOf(const boost::asio::ip::tcp::endpoint& ep) {
  if (ep.port() == 0) return {};
  if (ep.address().is_v4()) return net::IpAddress::v4(ep.address().to_v4().to_bytes());
  return net::IpAddress::v6(ep.address().to_v6().to_bytes());
}

}  // namespace

Connection::Connection(Worker& worker, Socket socket, const boost::asio::ip::tcp::endpoint& peer,
                       std::shared_ptr<const ListenerInfo> listener)
    : worker_(worker), socket_(std::move(socket)), listener_(std::move(listener)), remote_(peer) {
  peer_ = peerOf(remote_);
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (auto ctx = listener_->tls.load()) tls_ = std::make_unique<net::TlsEngine>(std::move(ctx));
  if (listener_->ws) ws_ = std::make_unique<net::WsEngine>(listener_->ws, ipOf(remote_));
  if (tls_ || ws_) {
    framing_ = std::make_unique<Framing>();
    // Counted among the listener's handshakes until TLS and the WebSocket upgrade are done.
    listener_->handshakes.fetch_add(1, std::memory_order_relaxed);
    countsHandshake_ = true;
  }
  // Reads wait for readiness, then read without blocking (awaitReadable, readNow).
  socket_.non_blocking(true, ec);
  lastReceived_ = std::chrono::steady_clock::now();
}

Connection::Connection(Worker& worker, Socket socket, std::shared_ptr<const ListenerInfo> listener,
                       std::string peer, std::string buffered, mqtt::Connect connect, int hops,
                       std::unique_ptr<net::TlsEngine> tls, std::unique_ptr<net::WsEngine> ws)
    : worker_(worker),
      socket_(std::move(socket)),
      listener_(std::move(listener)),
      peer_(std::move(peer)),
      tls_(std::move(tls)),
      ws_(std::move(ws)),
      admission_(std::make_unique<Admission>()) {
  admission_->hops = hops;
  admission_->pendingConnect = std::make_unique<mqtt::Connect>(std::move(connect));
  if (tls_ || ws_) framing_ = std::make_unique<Framing>();
  readBuf_ = std::move(buffered);
  readEnd_ = readBuf_.size();
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  lastReceived_ = std::chrono::steady_clock::now();
}

Connection::~Connection() {
  handshakeFinished();
  // Its memory (TLS state above all) is back: for the tests that a closed connection does not
  // linger. (A connection handed over to another worker lives on there.)
  if (!handedOver_) log::debug("client \"{}\" {}: connection released", clientId(), peer_);
}

void Connection::handshakeFinished() {
  if (!countsHandshake_) return;
  countsHandshake_ = false;
  listener_->handshakes.fetch_sub(1, std::memory_order_relaxed);
}

void Connection::start() {
  // Also for a connection handed over with its CONNECT: an authentication exchange or a
  // password check still has to end within the connect timeout.
  worker_.scheduleDeadline(*this,
                           std::chrono::steady_clock::now() +
                               std::chrono::seconds(worker_.broker().limits().connectTimeout));
  readOn(Read::More, true);
}

bool Connection::readingOn(Read read, bool ok) const {
  return read == Read::More && ok && !closing_ && !authPending_ && !hasPendingConnect();
}

bool Connection::onlySocketToAwait() const {
  return !paused() && writeBacklog() <= worker_.broker().limits().maxWriteBuffer &&
         (tls_ || ws_ || readStart_ == readEnd_);
}

void Connection::readOn(Read read, bool ok) {
  if (readingOn(read, ok) && onlySocketToAwait()) {
    awaitReadable();
  } else {
    asio::co_spawn(worker_.context(), readLoop(read, ok),
                   [self = shared_from_this()](std::exception_ptr e) {
                     if (e) self->readAborted(e);
                   });
  }
}

void Connection::readAborted(std::exception_ptr e) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {
  }
  log::error("client \"{}\" {}: internal error while reading ({}); closing", clientId(), peer_,
             what);
  holdWrites_ = false;
  close(ReasonCode::UnspecifiedError, "internal error");
  if (state_ != State::Closed) onClosed();
}

void Connection::awaitReadable() {
  // Between packets (TLS and WebSocket: always, they read into a per-thread scratch buffer):
  // wait until the socket is readable holding no read buffer and no coroutine frame, so an
  // idle connection costs little (docs/benchmarks.md). Every read goes through the reactor,
  // so one busy client cannot keep its worker from the others.
  if (!tls_ && !ws_) {
    giveBackReadBuffer(readBuf_);
    readStart_ = readEnd_ = 0;
  }
  socket_.async_wait(asio::socket_base::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       try {
                         const Read read = ec ? self->readFailed(ec) : self->readNow();
                         // Bytes that came with a refusal (a CONNECT in the same read as a
                         // revoked certificate's last handshake message, say) are never
                         // handled.
                         self->readOn(read, read != Read::Refused && self->processBuffer());
                       } catch (...) {
                         self->readAborted(std::current_exception());
                       }
                     });
}

asio::awaitable<void> Connection::readLoop(Read read, bool ok) {
  auto self = shared_from_this();
  for (;;) {
    if (read == Read::Ended) {
      // What arrived before the stream ended (before a WebSocket close frame) is handled.
      while (ok && paused() && !closing_) {  // what the client sent before it hung up
        co_await waitForReceivers(/*reading=*/false);
        ok = processBuffer();
      }
      streamEnded();
    }
    if (!readingOn(read, ok)) {
      // Done, unless a CONNECT waits for its password check or came handed over from another
      // worker (nothing is read meanwhile; the connect timeout still runs).
      if (closing_ || (!authPending_ && !hasPendingConnect())) break;
      while (authPending_ && !closing_) {
        drainedTimer().expires_at(std::chrono::steady_clock::time_point::max());
        co_await drained_->async_wait(asio::as_tuple(asio::use_awaitable));
      }
      read = Read::More;
      ok = hasPendingConnect() && !closing_ && handlePendingConnect();
      continue;
    }
    if (paused()) {
      // Back-pressure: a client whose messages go to subscribers that cannot take more has
      // its publishes held until they have room (its acknowledgements are still read).
      read = co_await waitForReceivers(/*reading=*/true);
    } else if (writeBacklog() > worker_.broker().limits().maxWriteBuffer) {
      // A client that sends but does not read its replies is not read from until its
      // socket takes them, so replies cannot pile up without bound.
      co_await waitForWrites(/*overLimit=*/true);
      continue;
    } else if (onlySocketToAwait()) {
      drained_.reset();  // nothing waits on it now; an idle connection keeps none
      awaitReadable();   // reading goes on without this coroutine
      co_return;
    } else {
      read = co_await readRest();
    }
    if (read != Read::Refused) ok = processBuffer();
  }
  if (migrating() && !closing_) {
    // Hand over only between writes, so no byte of a TLS record is lost in the move.
    co_await waitForWrites(/*overLimit=*/false);
    if (!closing_) {
      performMigration();
      onClosed();
      co_return;
    }
  }
  close(ReasonCode::Success, "connection closed");
  onClosed();
}

bool Connection::handlePendingConnect() {
  // Not in readLoop itself: a coroutine's frame keeps every local for the connection's life,
  // and a Connect is over 1 KiB.
  mqtt::Connect connect = std::move(*admission_->pendingConnect);
  admission_->pendingConnect.reset();
  return handleConnect(connect) && processBuffer();
}

asio::awaitable<void> Connection::waitForWrites(bool overLimit) {
  const uint64_t limit = worker_.broker().limits().maxWriteBuffer;
  auto busy = [&] {
    return overLimit ? writeBacklog() > limit
                     : writeInFlight_ || hasQueuedPackets() || rawPendingBytes() > 0;
  };
  while (busy() && !closing_) {
    drainedTimer().expires_at(std::chrono::steady_clock::time_point::max());
    co_await drained_->async_wait(asio::as_tuple(asio::use_awaitable));  // write completion wakes
  }
}

void Connection::streamEnded() {
  if (!ws_ || !ws_->peerClosed()) return;
  // The client is gone: no handover to its session's worker.
  if (admission_) admission_->migration.reset();
  if (!closing_ && state_ == State::Connected) {
    log::info(
        "client \"{}\" {}: connection lost (WebSocket closed by the client, code {}, without "
        "DISCONNECT)",
        clientId(), peer_, ws_->peerCloseCode());
  }
}

Connection::Admission& Connection::admission() {
  if (!admission_) admission_ = std::make_unique<Admission>();
  return *admission_;
}

Connection::Timer& Connection::drainedTimer() {
  if (!drained_) drained_ = std::make_unique<Timer>(worker_.context());
  return *drained_;
}

Connection::Read Connection::readFailed(const boost::system::error_code& ec) {
  noteReadError(ec);
  return Read::Ended;
}

asio::awaitable<Connection::Read> Connection::readRest() {
  // Make room: keep undecoded bytes at the front. The buffer grows with the bytes that have
  // actually arrived (at most doubling per read), never straight to the length a header
  // announces, so a few bytes cannot make the broker allocate a whole maximum-size packet.
  compactReadBuffer();
  const size_t buffered = readEnd_ - readStart_;
  size_t want = buffered + kReadChunk;
  if (neededBytes_ > want) want = std::min(neededBytes_, std::max(want, buffered * 2));
  if (readBuf_.size() < want) readBuf_.resize(want);
  auto [ec, n] = co_await socket_.async_read_some(
      asio::buffer(readBuf_.data() + readEnd_, readBuf_.size() - readEnd_),
      asio::as_tuple(asio::use_awaitable));
  if (ec) co_return readFailed(ec);
  readEnd_ += n;
  co_return Read::More;
}

Connection::Read Connection::readNow() {
  boost::system::error_code ec;
  if (!tls_ && !ws_) {
    compactReadBuffer();
    takeReadBuffer(readBuf_);
    if (readBuf_.size() < readEnd_ + kReadChunk) readBuf_.resize(readEnd_ + kReadChunk);
    const size_t n =
        socket_.read_some(asio::buffer(readBuf_.data() + readEnd_, readBuf_.size() - readEnd_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return Read::More;
    if (ec) return readFailed(ec);
    readEnd_ += n;
    return Read::More;
  }
  thread_local std::string scratch(kTlsReadChunk, '\0');
  const size_t n = socket_.read_some(asio::buffer(scratch), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return Read::More;
  if (ec) return readFailed(ec);
  compactReadBuffer();
  readBuf_.resize(readEnd_);
  Read read = receiveFiltered(std::string_view(scratch.data(), n));
  readEnd_ = readBuf_.size();
  return read;
}

Connection::Read Connection::receiveFiltered(std::string_view in) {
  thread_local std::string decrypted;
  if (tls_) {
    const bool wasDone = tls_->handshakeDone();
    tlsStarted_ = true;
    std::string wire;
    std::string& to = ws_ ? decrypted : readBuf_;
    if (ws_) decrypted.clear();
    auto r = tls_->receive(in, to, wire);
    if (!wire.empty()) {
      framing_->rawPending += wire;
      flush();
    }
    if (!r && r.error().code != 0x00) {
      if (!wasDone) {
        log::info(
            "{} on listener \"{}\": TLS handshake failed{}: {}", peer_, listener_->name,
            tls_->serverName().empty() ? "" : fmt::format(" (SNI \"{}\")", tls_->serverName()),
            r.error().message);
        noteRefusal("tls", std::nullopt, "TLS handshake failed", r.error().message);
      } else {
        log::info("client \"{}\" {}: TLS error: {}; closing", clientId(), peer_, r.error().message);
      }
      return Read::Refused;
    }
    // On close_notify (code 0) the stream ends, but what came before it (a DISCONNECT, say) is
    // still handled; the socket's end of file follows.
    if (!wasDone && tls_->handshakeDone() && !tlsHandshakeDone()) return Read::Refused;
    if (!ws_) return Read::More;
    in = decrypted;
    if (in.empty()) return Read::More;
  }
  const bool wasUpgraded = ws_->handshakeDone();
  std::string wsWire;
  auto r = ws_->receive(in, readBuf_, wsWire);
  queueWsWire(wsWire);
  if (!r) {
    if (r.error().code == 0x00) {
      log::debug("client \"{}\" {}: {}", clientId(), peer_, r.error().message);
      return Read::Ended;
    }
    if (!wasUpgraded) {
      log::info("{} on listener \"{}\": WebSocket upgrade refused: {}", peer_, listener_->name,
                r.error().message);
      noteRefusal("websocket", std::nullopt, "WebSocket upgrade refused", r.error().message);
    } else {
      log::info("client \"{}\" {}: {}; closing", clientId(), peer_, r.error().message);
    }
    return Read::Refused;
  }
  if (!wasUpgraded && ws_->handshakeDone()) webSocketUpgraded();
  return Read::More;
}

void Connection::queueWsWire(std::string& wsWire) {
  if (wsWire.empty()) return;
  if (tls_) {
    if (!tls_->send(wsWire, framing_->rawPending)) {
      log::warn("client \"{}\" {}: TLS encryption failed; closing", clientId(), peer_);
      boost::system::error_code ignored;
      socket_.close(ignored);
      return;
    }
  } else {
    framing_->rawPending += wsWire;
  }
  flush();
}

bool Connection::tlsHandshakeDone() {
  if (!ws_) handshakeFinished();
  // [listener.tls] pin_spki: only the listed client keys are accepted.
  const auto& pins = listener_->pinSpki;
  const auto& facts = tls_->facts();
  if (!pins.empty() && facts.pskIdentity.empty() &&
      std::find(pins.begin(), pins.end(), facts.peer().spkiSha256) == pins.end()) {
    const std::string why =
        facts.peer().spkiSha256.empty()
            ? std::string("no client certificate (pin_spki needs one)")
            : fmt::format("client key not pinned (SPKI SHA-256 {})", facts.peer().spkiSha256);
    log::info("{} on listener \"{}\": TLS handshake failed: {}", peer_, listener_->name, why);
    noteRefusal("tls", std::nullopt, "TLS handshake failed", why);
    return false;
  }
  // A CRL reloaded while this handshake was under way was not in its context: check the
  // certificate against the listener's current one too.
  if (auto current = listener_->tls.load(); current && tls_->revokedBy(*current)) {
    const std::string why = fmt::format(
        "client certificate revoked (by the CRL reloaded during the handshake; serial {})",
        tls_->facts().peer().serial);
    log::info("{} on listener \"{}\": TLS handshake failed: {}", peer_, listener_->name, why);
    noteRefusal("tls", std::nullopt, "TLS handshake failed", why);
    return false;
  }
  log::debug("{} on listener \"{}\": TLS handshake done ({}, {}{}{})", peer_, listener_->name,
             facts.version, facts.cipher, facts.resumed ? ", resumed" : "",
             facts.peer().subject.empty() ? "" : ", client certificate " + facts.peer().subject);
  return true;
}

void Connection::webSocketUpgraded() {
  handshakeFinished();
  const auto& f = ws_->facts();
  if (f.forwardedIgnored) {
    log::debug("{} on listener \"{}\": X-Forwarded-For ignored ({} is not a trusted proxy)", peer_,
               listener_->name, peer_);
  }
  if (!f.forwardedFor.empty()) peer_ = fmt::format("{} via {}", f.forwardedFor, peer_);
  log::debug("{} on listener \"{}\": WebSocket upgrade done (path {}, sub-protocol {}{})", peer_,
             listener_->name, f.path, f.subprotocol.empty() ? "none" : f.subprotocol,
             f.origin.empty() ? "" : ", origin " + f.origin);
}

void Connection::compactReadBuffer() {
  size_t buffered = readEnd_ - readStart_;
  if (readStart_ > 0 && (buffered == 0 || readBuf_.size() - readEnd_ < kReadChunk)) {
    std::memmove(readBuf_.data(), readBuf_.data() + readStart_, buffered);
    readStart_ = 0;
    readEnd_ = buffered;
  }
}

void Connection::noteReadError(const boost::system::error_code& ec) {
  if (closing_) return;
  const char* how = ec == asio::error::eof ? "closed by peer" : nullptr;
  if (state_ == State::Connected) {
    log::info("client \"{}\" {}: connection lost ({})", clientId(), peer_,
              how ? "closed by peer without DISCONNECT" : ec.message());
  } else if (tls_ && tlsStarted_ && !tls_->handshakeDone()) {
    // A client that does not trust the server's certificate typically just hangs up (TLS 1.3
    // clients check it after the server has finished its part). Logged only when a handshake
    // began, so health checks that connect and leave are not reported.
    const std::string why = fmt::format(
        "connection {} during the handshake (a client that does not trust the server "
        "certificate does this)",
        how ? how : ec.message());
    log::info("{} on listener \"{}\": TLS handshake failed{}: {}", peer_, listener_->name,
              tls_->serverName().empty() ? "" : fmt::format(" (SNI \"{}\")", tls_->serverName()),
              why);
    noteRefusal("tls", std::nullopt, "TLS handshake failed", why);
  } else if (ws_ && !ws_->handshakeDone() && (!tls_ || tls_->handshakeDone())) {
    log::debug("{} on listener \"{}\": connection {} before the WebSocket upgrade", peer_,
               listener_->name, how ? how : ec.message());
  }
}

bool Connection::processBuffer() { return withWritesHeld(&Connection::processPackets); }

bool Connection::withWritesHeld(bool (Connection::*handle)()) {
  // Without the hold, the first reply would go out alone and the rest of the read's replies
  // would wait for its write to complete: two writes (system calls, loopback deliveries, wake-
  // ups of the client) where one does. Nothing in between awaits, so nothing else sees the hold.
  holdWrites_ = true;
  const bool ok = (this->*handle)();
  holdWrites_ = false;
  flush();
  return ok;
}

bool Connection::processPackets() {
  const uint32_t maxPacket = worker_.broker().limits().maxPacketSize;
  bool stamped = false;  // the clock is read once per buffer, not per packet
  while (!closing_) {
    std::string_view data(readBuf_.data() + readStart_, readEnd_ - readStart_);
    auto header = mqtt::peekFixedHeader(data, maxPacket);
    if (!header) {
      protocolError(static_cast<ReasonCode>(header.error().code), header.error().message);
      return false;
    }
    if (!*header) break;  // the fixed header itself is incomplete
    const mqtt::FixedHeader h = **header;
    if (h.totalLength() > data.size()) {
      neededBytes_ = h.totalLength();
      break;
    }
    neededBytes_ = 0;
    std::string_view body = data.substr(h.headerLength, h.remainingLength);
    readStart_ += h.totalLength();
    // Keep-alive counts whole packets only: trickling bytes of one does not keep it alive.
    if (!stamped) {
      lastReceived_ = std::chrono::steady_clock::now();
      stamped = true;
    }
    if (inAuthExchange() && h.type() == mqtt::PacketType::Disconnect) {
      log::info("client \"{}\" {}: disconnected during the authentication exchange", clientId(),
                peer_);
      noteRefusal("authentication", std::nullopt, "Abandoned",
                  "the client disconnected during the authentication exchange");
      close(ReasonCode::Success, "disconnected during authentication");
      return false;
    }
    if (inAuthExchange() && h.type() != mqtt::PacketType::Auth) {
      // [MQTT-3.1.2-30] during enhanced authentication only AUTH (or DISCONNECT) may come.
      refuseAuthentication(
          ReasonCode::ProtocolError,
          fmt::format("{} during the authentication exchange", mqtt::packetTypeName(h.type())));
      return false;
    }
    if (state_ == State::AwaitConnect && h.type() != mqtt::PacketType::Connect &&
        !inAuthExchange()) {
      // [MQTT-3.1.0-1] the first packet must be CONNECT: close without a reply.
      log::info("{}: first packet is {}, not CONNECT; closing", peer_,
                mqtt::packetTypeName(h.type()));
      noteRefusal("connect", std::nullopt, "Protocol error",
                  fmt::format("first packet is {}, not CONNECT", mqtt::packetTypeName(h.type())));
      close(ReasonCode::Success, "first packet not CONNECT");
      return false;
    }
    auto handled = handleBody(h, body);
    if (!handled) {
      if (state_ == State::AwaitConnect) {
        auto hint = mqtt::connectVersionHint(body);
        if (hint) version_ = *hint;
        refuseConnect(static_cast<ReasonCode>(handled.error().code), handled.error().message);
      } else {
        protocolError(static_cast<ReasonCode>(handled.error().code), handled.error().message);
      }
      return false;
    }
    if (!*handled) return false;
    if (paused()) break;  // back-pressure: the rest waits until the subscribers have room
  }
  if (readStart_ == readEnd_) {
    readStart_ = readEnd_ = 0;
    // Give back the memory of an unusually large packet once it has been handled. TLS and
    // WebSocket connections read into a per-thread scratch buffer and decrypt or unframe into
    // this one (TLS: 16 KiB at a time), so theirs goes whenever it is empty: an idle TLS
    // connection holds no read buffer.
    if ((tls_ || ws_) ? readBuf_.capacity() > kReadChunk : readBuf_.size() > kKeepReadBuffer) {
      std::string().swap(readBuf_);
    }
  }
  return !closing_;
}

Result<bool> Connection::handleBody(const mqtt::FixedHeader& h, std::string_view body) {
  auto trace = [&](mqtt::PacketType type) {
    if (log::enabled(log::Level::Trace)) {
      log::trace("client \"{}\" {}: received {}", clientId(), peer_, mqtt::packetTypeName(type));
    }
  };
  // Most of what a subscriber sends: its acknowledgements, read without building a Packet.
  if (auto ack = mqtt::decodeShortAck(h.first, body)) {
    trace(ack->type);
    return handleAck(ack->type, ack->packetId, ReasonCode::Success);
  }
  auto packet = mqtt::decode(h.first, body, version_);
  if (!packet) return tl::unexpected(std::move(packet.error()));
  trace(mqtt::packetType(*packet));
  return handlePacket(*packet);
}

bool Connection::handlePacket(mqtt::Packet& packet) {
  using mqtt::PacketType;
  switch (mqtt::packetType(packet)) {
    case PacketType::Connect:
      if (state_ == State::AwaitConnect && !inAuthExchange()) {
        return handleConnect(std::get<mqtt::Connect>(packet));
      }
      protocolError(ReasonCode::ProtocolError, "second CONNECT");  // [MQTT-3.1.0-2]
      return false;
    case PacketType::Publish:
      return handlePublish(std::get<mqtt::Publish>(packet));
    case PacketType::Puback:
    case PacketType::Pubrec:
    case PacketType::Pubrel:
    case PacketType::Pubcomp: {
      const auto& ack = std::get<mqtt::PubAck>(packet);
      return handleAck(ack.type, ack.packetId, ack.reasonCode);
    }
    case PacketType::Subscribe:
      return handleSubscribe(std::get<mqtt::Subscribe>(packet));
    case PacketType::Unsubscribe:
      return handleUnsubscribe(std::get<mqtt::Unsubscribe>(packet));
    case PacketType::Pingreq:
      send(mqtt::Pingresp{});
      return true;
    case PacketType::Disconnect:
      return handleDisconnect(std::get<mqtt::Disconnect>(packet));
    case PacketType::Auth:
      return handleAuth(std::get<mqtt::Auth>(packet));
    default:
      protocolError(
          ReasonCode::ProtocolError,
          fmt::format("{} is not sent by clients", mqtt::packetTypeName(mqtt::packetType(packet))));
      return false;
  }
}

void Connection::protocolError(ReasonCode reason, std::string_view why) {
  log::info("client \"{}\" {} on listener \"{}\": {} ({}); closing", clientId(), peer_,
            listener_->name, mqtt::reasonName(reason), why);
  if (state_ == State::AwaitConnect) noteRefusal("connect", reason, mqtt::reasonName(reason), why);
  close(reason, why);
}

void Connection::startCloseGrace() {
  closeGrace_ = std::make_unique<Timer>(worker_.context(), kCloseGrace);
  closeGrace_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    // The close grace is over and the peer did not take our last packets: drop it. (The read
    // loop may already be gone; the pending write holds this object alive until now.)
    boost::system::error_code ignored;
    self->socket_.close(ignored);
  });
}

void Connection::onDeadline() {
  if (closing_ || state_ == State::Closed) return;
  auto now = std::chrono::steady_clock::now();
  if (state_ == State::AwaitConnect) {
    log::info("{} on listener \"{}\": no CONNECT within {} s; closing", peer_, listener_->name,
              worker_.broker().limits().connectTimeout);
    noteRefusal("connect", std::nullopt, "Timeout",
                fmt::format("no CONNECT within {} s", worker_.broker().limits().connectTimeout));
    close(ReasonCode::Success, "connect timeout");
    return;
  }
  if (keepAlive_.count() == 0) return;
  if (paused()) lastReceived_ = now;  // not reading is the broker's doing, not the client's
  // [MQTT-3.1.2-24] one and a half keep-alive periods without a packet: disconnect.
  auto limit = keepAlive_ + keepAlive_ / 2;
  if (now - lastReceived_ >= limit) {
    log::info("client \"{}\" {}: keep-alive timeout ({} s); closing", clientId(), peer_,
              std::chrono::duration_cast<std::chrono::seconds>(keepAlive_).count());
    close(ReasonCode::KeepAliveTimeout, "keep-alive timeout");
    return;
  }
  worker_.scheduleDeadline(*this, lastReceived_ + limit);
}

void Connection::close(ReasonCode reason, std::string_view why) {
  if (closing_) return;
  closing_ = true;
  wakeReadLoop();
  if (token_ && token_->timer) token_->timer->cancel();
  log::debug("client \"{}\" {}: closing ({})", clientId(), peer_, why);
  releaseSession();
  if (reason != ReasonCode::Success && version_ == mqtt::Version::V5 &&
      state_ == State::Connected) {
    // [MQTT-4.13.2-1] tell a 5.0 client why, then close.
    send(mqtt::Disconnect{reason, {}});
  }
  if (writeInFlight_ || hasQueuedPackets() || rawPendingBytes() > 0 || transportCloseDue()) {
    closeAfterWrite_ = true;
    flush();
    startCloseGrace();
  } else {
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
}

void Connection::takeOver() {
  takenOver_ = true;
  log::info("client \"{}\" {}: session taken over by a new connection", clientId(), peer_);
  close(ReasonCode::SessionTakenOver, "session taken over");
}

void Connection::onClosed() {
  if (state_ == State::AwaitConnect && !clientId().empty() && !refusal_) {
    noteRefusal(inAuthExchange() ? "authentication" : "connect", std::nullopt, "Abandoned",
                inAuthExchange() ? "the connection closed during the authentication exchange"
                                 : "the connection closed before CONNACK");
  }
  if (!audited_ && refusal_) writeAudit(false);
  // An unauthenticated client must not keep its claim on the client id (nor grow the registry
  // with made-up ids): released here, whichever way the attempt ended.
  if (claimed_ && state_ == State::AwaitConnect && !worker_.findSession(clientId())) {
    worker_.broker().registry().release(clientId(), worker_.index());
  }
  claimed_ = false;
  state_ = State::Closed;
  // A last write still in flight keeps its grace timer, which closes the socket if the peer
  // never takes the bytes; otherwise nothing is pending and the timer can go.
  if (!writeInFlight_) endCloseGrace();
  worker_.removeConnection(this);
}

}  // namespace moat::broker
