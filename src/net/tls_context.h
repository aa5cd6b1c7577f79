// TlsContext: one listener's TLS configuration turned into an OpenSSL SSL_CTX, checked when it
// is built (key matches certificate, files readable, versions and cipher lists valid), so a bad
// setting is an error at start rather than a failure at the first handshake.
//
// Immutable once built and shared (shared_ptr<const TlsContext>) by every connection of the
// listener; OpenSSL allows SSL_new() on one SSL_CTX from several threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "base/result.h"

namespace moat::net {

enum class ClientCertMode { None, Optional, Require };

struct TlsSettings {
  std::string cert;  // PEM chain: leaf first, then intermediates
  std::string key;   // PEM private key
  std::string ca;    // PEM trust anchors for client certificates
  ClientCertMode clientCert = ClientCertMode::None;
  std::string minVersion = "1.2";  // "1.2" | "1.3"
  std::string maxVersion = "1.3";
  // Forward-secret AEAD suites only by default.
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  std::string ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                             "TLS_CHACHA20_POLY1305_SHA256";
  std::string groups = "X25519:P-256:P-384";
  int verifyDepth = 4;
  bool sessionResumption = true;
};

class TlsContext {
 public:
  // Builds and checks the context. Errors name the listener, the setting and OpenSSL's reason.
  [[nodiscard]] static Result<std::shared_ptr<const TlsContext>> create(
      const TlsSettings& settings, const std::string& listenerName);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  const TlsSettings& settings() const { return settings_; }
  // The server certificate's subject and notAfter, for the start-up report.
  const std::string& certificateSummary() const { return summary_; }

 private:
  TlsContext(SSL_CTX* ctx, TlsSettings settings) : ctx_(ctx), settings_(std::move(settings)) {}
  SSL_CTX* ctx_;
  TlsSettings settings_;
  std::string summary_;
};

// The reason of the most recent OpenSSL error on this thread (and clears the queue).
std::string lastOpensslError();

}  // namespace moat::net
