// OcspStaple: the OCSP response (RFC 6960) for one server certificate, read from a DER file as
// `openssl ocsp -respout` writes it, checked against that certificate when it is loaded, and
// stapled to the clients that ask for it (the status_request extension, RFC 6066 section 8).
//
// The response is fetched by the operator, not by Moat: the broker makes no outgoing
// connection. The file is loaded with the certificate by TlsContext, so it is reloaded with it
// (SIGHUP, file change) under the same all-or-nothing rule.
//
// Immutable once loaded apart from one flag that turns "past nextUpdate" into a single warning.
// Owned by its TlsContext; the status callback reads it from any worker thread.
#pragma once

#include <openssl/x509.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"

namespace moat::net {

// What messages call the things a response is checked against.
struct OcspNames {
  std::string listener;
  std::string setting;      // tls.ocsp_response "/etc/moat/server.ocsp"
  std::string certificate;  // tls.cert "/etc/moat/server.crt"
};

class OcspStaple {
 public:
  // How long before its nextUpdate a response is reported at load, so it is renewed in time.
  static constexpr time_t kRenewWarning = 24 * 3600;
  // Clock skew allowed on thisUpdate (a responder whose clock is ahead of ours).
  static constexpr long kLeeway = 5 * 60;

  // Reads `file` and checks it is a successful response that says "good" for `leaf`, signed by
  // the leaf's issuer (or a responder it delegated to), and current. The issuer is looked
  // for among `chain` (the intermediates served with the leaf), then in the PEM file `caFile`.
  // A revoked or unknown status, a response for another certificate, a bad signature or a
  // response past its nextUpdate is an error naming the listener and the file.
  [[nodiscard]] static Result<std::unique_ptr<OcspStaple>> load(const std::string& file, X509* leaf,
                                                                STACK_OF(X509) * chain,
                                                                const std::string& caFile,
                                                                OcspNames names);

  // The DER response to staple at `now`; nullptr once `now` is past its nextUpdate (reported
  // with one warning, the first time).
  const std::string* responseAt(time_t now) const;

  time_t thisUpdate() const { return thisUpdate_; }
  // None when the responder gave no nextUpdate (newer information is always available).
  std::optional<time_t> nextUpdate() const { return nextUpdate_; }

 private:
  OcspStaple() = default;

  std::string der_;
  time_t thisUpdate_ = 0;
  std::optional<time_t> nextUpdate_;
  OcspNames names_;
  mutable std::atomic<bool> staleReported_{false};
};

// "2026-11-28 23:46:16 UTC", for messages about validity times.
std::string utcText(time_t t);

}  // namespace moat::net
