// CertIndex: the record of every certificate a `moat pki` CA has issued, kept in DIR/index.txt.
//
// The file is text, one certificate per line, fields separated by tabs, '#' lines are comments:
//
//   status  serial  not-after  revoked-at  reason  kind  common-name  cert-file  key-file
//   V       4F1A..  2026-06-01T10:00:00Z  -  -  client  meter-001  clients/meter-001.crt  ...
//
// status is V (valid) or R (revoked); an expired certificate stays V, since expiry is a fact of
// the certificate and the clock, not of the record. serial is upper-case hex as
// `openssl x509 -serial` prints it; times are UTC; revoked-at and reason are "-" until revoked;
// file names are relative to the CA directory. The name a certificate was issued under (server
// NAME or device id) is the stem of its cert-file. See docs/cli.md.
//
// A plain value: the CA reads it, changes it and writes it back whole under its directory lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace moat::pki {

enum class CertKind { Server, Client };

// The CRL reason codes `moat pki revoke` offers (RFC 5280, 5.3.1); the values are the codes.
enum class RevocationReason {
  Unspecified = 0,
  KeyCompromise = 1,
  Superseded = 4,
  CessationOfOperation = 5,
};

std::string_view kindName(CertKind kind);
std::string_view reasonName(RevocationReason reason);
std::optional<RevocationReason> parseReason(std::string_view name);

// "2026-06-01T10:00:00Z" for seconds since the epoch, and back (nullopt when malformed).
std::string formatUtc(int64_t epochSeconds);
std::optional<int64_t> parseUtc(std::string_view text);

struct IndexEntry {
  std::string serial;  // upper-case hex, no leading "0x"
  CertKind kind = CertKind::Client;
  std::string commonName;
  int64_t notAfter = 0;  // seconds since the epoch
  std::optional<int64_t> revokedAt;
  RevocationReason reason = RevocationReason::Unspecified;
  std::string certFile;  // relative to the CA directory
  std::string keyFile;

  bool revoked() const { return revokedAt.has_value(); }
  // The server NAME or device id it was issued under: the stem of certFile.
  std::string name() const;
};

class CertIndex {
 public:
  // Reads the file's text; `fileName` is used in errors ("DIR/index.txt:3: ...").
  [[nodiscard]] static Result<CertIndex> parse(std::string_view text, std::string_view fileName);
  // The file's text, header comment included; parse(render()) gives the same entries.
  std::string render() const;

  const std::vector<IndexEntry>& entries() const { return entries_; }
  void add(IndexEntry entry) { entries_.push_back(std::move(entry)); }
  bool hasSerial(std::string_view serial) const;
  // Marks the entry with `serial` revoked; false when there is none or it is revoked already.
  bool revoke(std::string_view serial, int64_t when, RevocationReason reason);

 private:
  std::vector<IndexEntry> entries_;
};

}  // namespace moat::pki
