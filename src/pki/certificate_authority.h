// CertificateAuthority: a small CA in one directory, for a fleet's devices and its brokers.
//
//   DIR/ca.crt, DIR/ca.key (0600)     the CA's certificate and private key
//   DIR/index.txt                     every certificate issued (see cert_index.h)
//   DIR/crlnumber                     the number of the last CRL written
//   DIR/ca.crl                        the current CRL (PEM), rewritten on every revocation
//   DIR/NAME.crt, DIR/NAME.key        server certificates
//   DIR/clients/ID.crt, ID.key        device certificates, CN = device id
//   DIR/.lock                         see DirectoryLock
//
// Leaf serial numbers are random (see x509_builder.h), so the only counter the CA keeps is the
// CRL number. Every file is replaced atomically (see base/atomic_file.h); keys are 0600 from the
// moment they exist. The directory is created 0700.
//
// An object holds the directory's lock from create()/open() until it is destroyed, so one
// process at a time changes a CA; keep it only as long as a command runs. Not thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "pki/cert_index.h"
#include "pki/directory_lock.h"
#include "pki/keys.h"
#include "pki/names.h"
#include "pki/openssl_ptr.h"

namespace moat::pki {

struct CaOptions {
  std::string name = "Moat CA";  // the CA certificate's CN
  int days = 3650;
  KeySpec key;
};

struct LeafRequest {
  CertKind kind = CertKind::Client;
  std::string name;                  // server NAME or device id: the files' name
  std::string commonName;            // empty: `name`
  std::vector<SubjectAltName> sans;  // servers only; empty: DNS:<name>
  int days = 365;                    // cut short where the CA itself expires
  KeySpec key;
  bool replace = false;  // issue even when NAME already has files (a renewal); the old
                         // certificate stays valid until it expires or is revoked
};

struct IssuedCertificate {
  IndexEntry entry;
  std::filesystem::path cert;
  std::filesystem::path key;
  std::string keyType;            // "ECDSA P-256"
  std::vector<std::string> sans;  // as written into the certificate
};

struct CrlSummary {
  std::filesystem::path file;
  uint64_t number = 0;
  size_t revoked = 0;
  int64_t nextUpdate = 0;
};

struct Revocation {
  std::vector<IndexEntry> revoked;
  CrlSummary crl;
};

class CertificateAuthority {
 public:
  static constexpr int kDefaultCrlDays = 30;

  // Sets up a new CA in `dir` (created when missing) with an empty CRL. Refuses when `dir`
  // already holds a CA, whatever state it is in: a CA key is never overwritten.
  [[nodiscard]] static Result<CertificateAuthority> create(const std::filesystem::path& dir,
                                                           const CaOptions& options);
  // Opens the CA in `dir`: its key must match its certificate and its index must parse.
  [[nodiscard]] static Result<CertificateAuthority> open(const std::filesystem::path& dir);
  // True when `dir` holds (a part of) a CA: ca.crt, ca.key or index.txt.
  static bool existsIn(const std::filesystem::path& dir);

  // Generates a key, signs a certificate for it and records it: index first, then key, then
  // certificate, so no certificate ever exists that the index (and so `revoke`) does not know.
  [[nodiscard]] Result<IssuedCertificate> issue(const LeafRequest& request);
  // Revokes every valid certificate issued under the name `nameOrSerial` (a server NAME or
  // device id), or else the one with that serial (hex, "0x" and ':' allowed); then rewrites
  // the CRL, valid for `crlDays`. An error when nothing matches or it is revoked already.
  [[nodiscard]] Result<Revocation> revoke(std::string_view nameOrSerial, RevocationReason reason,
                                          int crlDays = kDefaultCrlDays);
  // Writes DIR/ca.crl with the next CRL number, every revoked serial, and nextUpdate `days`
  // from now.
  [[nodiscard]] Result<CrlSummary> writeCrl(int days = kDefaultCrlDays);

  const std::vector<IndexEntry>& entries() const { return index_.entries(); }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path certPath() const { return dir_ / "ca.crt"; }
  std::filesystem::path keyPath() const { return dir_ / "ca.key"; }
  std::filesystem::path indexPath() const { return dir_ / "index.txt"; }
  std::filesystem::path crlPath() const { return dir_ / "ca.crl"; }
  X509* certificate() const { return cert_.get(); }
  EVP_PKEY* publicKey() const { return X509_get0_pubkey(cert_.get()); }

 private:
  CertificateAuthority(std::filesystem::path dir, DirectoryLock lock, X509Ptr cert, PkeyPtr key,
                       CertIndex index);
  [[nodiscard]] Result<void> saveIndex() const;
  [[nodiscard]] Result<std::string> uniqueSerial() const;
  std::vector<const IndexEntry*> matching(std::string_view nameOrSerial) const;

  std::filesystem::path dir_;
  DirectoryLock lock_;
  X509Ptr cert_;
  PkeyPtr key_;
  CertIndex index_;
};

}  // namespace moat::pki
