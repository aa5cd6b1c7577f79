// TlsEngine: the TLS protocol for one connection, without I/O. Bytes read from the socket go
// in through receive(), which yields decrypted application bytes and any bytes TLS itself must
// send (handshake, alerts, tickets); application bytes go out through send(). OpenSSL works on
// a BIO that reads the bytes given to receive() and appends to the caller's `wire`, so the
// engine is plain state: it can move with its connection to another worker, a slow or silent
// peer costs no thread, and an idle connection holds no buffer in its BIO.
//
// One thread at a time (the connection's worker). Owns its SSL*.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "net/tls_context.h"

namespace moat::net {

// The peer's certificate, as the handshake presented it.
struct PeerCertificate {
  std::string subject;
  std::string issuer;
  std::string serial;                            // hex
  std::string commonName;                        // the first CN
  std::vector<std::string> organizations;        // every O
  std::vector<std::string> organizationalUnits;  // every OU
  std::string sanDns, sanUri, sanEmail;          // the first of each kind in subjectAltName
  std::string spkiSha256;                        // hex, lower case, of the peer's public key
};

// What a completed handshake established, for logs and identity mapping.
struct TlsFacts {
  std::string version;  // "TLSv1.3"
  std::string cipher;
  std::string sni;
  std::string alpn;
  bool resumed = false;
  std::string pskIdentity;  // when the handshake used a PSK
  // The peer's certificate, null without one. Apart, and made only when there is one: most
  // clients present none, and their connections should not carry its empty fields (a few
  // hundred bytes each, docs/benchmarks.md).
  std::shared_ptr<const PeerCertificate> certificate;
  // The peer's certificate, or one with every field empty.
  const PeerCertificate& peer() const {
    static const PeerCertificate kNone;
    return certificate ? *certificate : kNone;
  }
};

namespace detail {
// What the engine's BIO reads from and appends to during one call of the engine.
struct PassThrough {
  std::string_view in;
  std::string* out = nullptr;
};
}  // namespace detail

class TlsEngine {
 public:
  // A server-side engine (accepts), or for a client context a client-side one that connects to
  // `serverName` (sent as SNI and, unless the context is insecure, checked against the
  // server certificate).
  explicit TlsEngine(std::shared_ptr<const TlsContext> context, const std::string& serverName = "");
  // Client side: produces the ClientHello.
  void start(std::string& wire);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // Feeds bytes received from the peer. Appends decrypted application bytes to `app` and bytes
  // to send to the peer to `wire`. Fails with the exact reason when the handshake or the
  // record layer fails (the caller writes `wire` first: it may hold an alert). `in` is read
  // while `app` and `wire` grow, so it must not point into either.
  [[nodiscard]] Result<void> receive(std::string_view in, std::string& app, std::string& wire);

  // Encrypts application bytes, appending records to `wire`.
  [[nodiscard]] Result<void> send(std::string_view plain, std::string& wire);

  // Appends a close_notify alert to `wire`.
  void close(std::string& wire);

  bool handshakeDone() const { return handshakeDone_; }
  const TlsFacts& facts() const { return facts_; }
  // The client's certificate (server side), owned by the engine; nullptr without one.
  X509* peerCertificate() const { return SSL_get0_peer_certificate(ssl_); }
  // Whether `context`'s CRLs revoke the client's certificate or a CA certificate it presented.
  bool revokedBy(const TlsContext& context) const;
  // Whether the PSK this handshake used is gone from `context` (a reloaded PSK file), or has a
  // different key there. False for a handshake without PSK.
  bool pskRevokedBy(const TlsContext& context) const;
  // The SNI the client asked for (available during and after the handshake).
  std::string serverName() const;

 private:
  // Points the BIO at a call's input and output for the length of the call.
  struct Io {
    Io(detail::PassThrough& io, std::string_view in, std::string& out) : io_(io) {
      io_.in = in;
      io_.out = &out;
    }
    ~Io() { io_ = {}; }
    Io(const Io&) = delete;
    Io& operator=(const Io&) = delete;
    detail::PassThrough& io_;
  };

  Result<void> decrypt(std::string& app);
  void collectFacts();
  std::string failureReason(int sslError);

  std::shared_ptr<const TlsContext> context_;
  SSL* ssl_ = nullptr;
  detail::PassThrough io_;
  std::string unread_;  // received bytes OpenSSL has not read yet (normally none)
  bool handshakeDone_ = false;
  TlsFacts facts_;
  std::string peerName_;  // client side: the name the server's certificate must carry
};

}  // namespace moat::net
