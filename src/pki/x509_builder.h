// The certificates and CRLs a `moat pki` CA signs, built in memory with OpenSSL's X509 API. No
// files here: CertificateAuthority decides names and places, this decides the contents.
//
// Profiles (RFC 5280), chosen for a private CA that issues only end-entity certificates:
//   CA:     basicConstraints critical CA:TRUE, pathlen:0 (it signs no sub-CAs);
//           keyUsage critical keyCertSign, cRLSign; subjectKeyIdentifier.
//   leaves: basicConstraints critical CA:FALSE; keyUsage critical digitalSignature (and
//           keyEncipherment for RSA, whose TLS 1.2 key exchange may use it); extendedKeyUsage
//           serverAuth or clientAuth; subject/authority key identifiers; SANs for servers.
//   CRL:    v2, authorityKeyIdentifier, an increasing cRLNumber; one entry per revoked serial
//           with its date and reason (no reason extension for "unspecified", as 5.3.1 asks).
// Everything is signed with SHA-256. Serial numbers are 16 random bytes, positive.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "pki/cert_index.h"
#include "pki/names.h"
#include "pki/openssl_ptr.h"

namespace moat::pki {

// Certificates start an hour in the past: a device whose clock lags a little must not refuse a
// certificate that was issued a moment ago.
inline constexpr int64_t kBackdateSeconds = 3600;

struct CaProfile {
  std::string commonName;
  int64_t notBefore = 0;  // seconds since the epoch
  int64_t notAfter = 0;
};

struct LeafProfile {
  CertKind kind = CertKind::Client;
  std::string commonName;
  std::vector<SubjectAltName> sans;  // written only when not empty
  int64_t notBefore = 0;
  int64_t notAfter = 0;
};

struct CrlEntry {
  std::string serial;  // upper-case hex, as in the index
  int64_t revokedAt = 0;
  RevocationReason reason = RevocationReason::Unspecified;
};

struct CrlProfile {
  uint64_t number = 1;
  int64_t lastUpdate = 0;
  int64_t nextUpdate = 0;
  std::vector<CrlEntry> revoked;
};

// 16 random bytes with the top bit clear (positive) and the next one set (always 16 bytes
// long), as the upper-case hex the index uses.
[[nodiscard]] Result<std::string> randomSerial();
// "0x4f1a...", "4F:1A:..." or "4f1a..." as the index writes it; nullopt when not hexadecimal.
std::optional<std::string> normalizeSerial(std::string_view text);
std::string serialOf(X509* cert);
int64_t epochOf(const ASN1_TIME* time);
// The certificate's DNS and IP subject alternative names ("DNS:x", "IP:y"), IP addresses as
// inet_ntop() writes them (as SubjectAltName holds them).
std::vector<std::string> subjectAltNamesOf(X509* cert);

// A self-signed CA certificate for `key`.
[[nodiscard]] Result<X509Ptr> buildCaCertificate(const CaProfile& profile, std::string_view serial,
                                                 EVP_PKEY* key);
// A certificate for `leafKey` signed by the CA.
[[nodiscard]] Result<X509Ptr> buildLeafCertificate(const LeafProfile& profile,
                                                   std::string_view serial, EVP_PKEY* leafKey,
                                                   X509* caCert, EVP_PKEY* caKey);
[[nodiscard]] Result<CrlPtr> buildCrl(const CrlProfile& profile, X509* caCert, EVP_PKEY* caKey);

}  // namespace moat::pki
