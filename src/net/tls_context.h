// TlsContext: one listener's TLS configuration turned into an OpenSSL SSL_CTX, checked when it
// is built (key matches certificate, files readable, versions and cipher lists valid), so a bad
// setting is an error at start rather than a failure at the first handshake.
//
// A listener may serve several certificates, chosen by the name the client asks for (SNI):
// each [[listener.tls.sni]] entry gets an SSL_CTX of its own, built with the same settings as
// the main one but its own certificate and key, and a handshake switches to it when the
// client's server name matches. Every certificate may carry an OCSP response to staple. All of
// it is built and checked as a whole: one bad file fails the whole context.
//
// Immutable once built and shared (shared_ptr<const TlsContext>) by every connection of the
// listener; OpenSSL allows SSL_new() on one SSL_CTX from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>

#include "base/result.h"

namespace moat::net {

enum class ClientCertMode { None, Optional, Require };

// One more certificate for a listener, served to clients whose SNI matches one of `names`.
struct TlsSniSettings {
  std::vector<std::string> names;  // lower case: "broker.example.com" or "*.example.com"
  std::string cert;                // PEM chain, as TlsSettings::cert
  std::string key;
  std::string ocspResponse;  // DER OCSP response for `cert` to staple; optional
};

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
  // Revocation: CRL files (PEM or DER; one per CA of a chain), checked for every certificate
  // of a client's chain. A CRL past its nextUpdate: "reject" the certificates it covers, or
  // "warn" and accept them.
  std::vector<std::string> crl;
  std::string crlStale = "reject";
  // TLS-PSK from a Mosquitto-format file ("identity:hexkey" per line).
  std::string pskFile;
  std::string pskHint;
  // DER OCSP response for `cert`, stapled to clients that ask; optional.
  std::string ocspResponse;
  // Certificates chosen by SNI. `cert` serves clients that send no SNI or a name no entry
  // matches; with sniStrict such a name is refused (alert unrecognized_name) unless `cert`
  // itself is for it.
  std::vector<TlsSniSettings> sni;
  bool sniStrict = false;
};

// The client side (moat pub/sub, bench, tests), with Mosquitto's option names in mind.
struct TlsClientSettings {
  std::string caFile;    // --cafile: trust anchors for the server certificate
  std::string caPath;    // --capath
  std::string cert;      // --cert: client certificate chain
  std::string key;       // --key
  bool insecure = false;  // --insecure: do not check the server's host name
  std::string version;    // --tls-version: "" (1.2-1.3), "tlsv1.2" or "tlsv1.3"
  std::string ciphers;    // --ciphers (TLS 1.2 list)
  std::string pskIdentity;  // --psk-identity
  std::string pskHex;       // --psk (hex key)
};

class TlsContext {
 public:
  // Builds and checks the context. Errors name the listener, the setting and OpenSSL's reason.
  [[nodiscard]] static Result<std::shared_ptr<const TlsContext>> create(
      const TlsSettings& settings, const std::string& listenerName);
  // Builds a client context; the server's certificate is verified against caFile/caPath (or
  // the system store when neither is given) unless a PSK is used.
  [[nodiscard]] static Result<std::shared_ptr<const TlsContext>> createClient(
      const TlsClientSettings& settings);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  const TlsSettings& settings() const { return settings_; }
  struct SecretMap;  // PSKs by identity (opaque)
  // The PSK for `identity`, or nullptr. Keys are wiped when the context goes.
  const std::string* pskFor(const std::string& identity) const;
  const TlsClientSettings& clientSettings() const { return client_; }
  bool isClient() const { return isClient_; }
  // Every server certificate's subject and notAfter (and OCSP staple), for the start-up report.
  const std::string& certificateSummary() const { return summary_; }
  // The same with serial numbers, for the reload report.
  const std::string& certificateDetails() const { return details_; }
  // The default server certificate's serial (hex) and subject.
  const std::string& certificateSerial() const { return serial_; }
  const std::string& certificateSubject() const { return subject_; }
  // Seconds until the first of the server certificates expires (0 without one).
  int64_t secondsToExpiry() const;
  // The SSL_CTX for a client that asked for `serverName`: an SNI entry's (exact names before
  // wildcards), else the default one; nullptr when sni_strict refuses the name.
  SSL_CTX* contextForServerName(std::string_view serverName) const;
  // Whether one of this context's CRLs revokes `cert` (a live client's certificate).
  bool revokes(X509* cert) const;
  // Every file this context was built from, for change detection.
  std::vector<std::string> files() const;

 private:
  struct Certificate;  // one served certificate with its SSL_CTX and OCSP staple (opaque)

  TlsContext(SSL_CTX* ctx, TlsSettings settings);
  // Loads and checks the certificate, key and OCSP response of certs_.back().
  [[nodiscard]] Result<void> loadCertificate(const std::string& listener);

  SSL_CTX* ctx_;
  TlsSettings settings_;
  // The default certificate first (its SSL_CTX is ctx_), then one per SNI entry in order.
  std::vector<std::unique_ptr<Certificate>> certs_;
  std::string summary_;
  std::string details_;
  std::string serial_;
  std::string subject_;
  std::unique_ptr<SecretMap> psks_;
  TlsClientSettings client_;
  bool isClient_ = false;
};

// The PSK identity a server-side connection was accepted with ("" if none).
std::string pskIdentityOf(SSL* ssl);

// Whether the handshake of a server-side connection was refused because sni_strict knows no
// certificate for the name the client asked for.
bool serverNameRefused(SSL* ssl);

// The reason of the most recent OpenSSL error on this thread (and clears the queue).
std::string lastOpensslError();

}  // namespace moat::net
