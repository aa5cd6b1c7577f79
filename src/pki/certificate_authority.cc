#include "pki/certificate_authority.h"

#include <algorithm>
#include <charconv>
#include <ctime>

#include <fmt/format.h>

#include "base/atomic_file.h"
#include "pki/pem.h"
#include "pki/x509_builder.h"

namespace moat::pki {

namespace {

namespace fs = std::filesystem;

constexpr mode_t kPrivate = 0600;
constexpr mode_t kPublic = 0644;
constexpr int64_t kDay = 86400;
constexpr int kSerialAttempts = 4;

int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

Result<void> checkDays(std::string_view what, int days) {
  if (days < 1 || days > 36500) {
    return fail(0x80, fmt::format("{} must be between 1 and 36500 days (got {})", what, days));
  }
  return {};
}

Result<void> checkCaName(std::string_view name) {
  if (name.empty()) return fail(0x80, "the CA name is empty");
  if (name.size() > kMaxNameLength) {
    return fail(0x80, fmt::format("the CA name is longer than {} bytes", kMaxNameLength));
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return fail(0x80, "the CA name contains a control character");
  }
  return {};
}

Result<void> writeKey(const fs::path& path, EVP_PKEY* key) {
  auto pem = privateKeyPem(key);
  if (!pem) return fail(0x80, fmt::format("{}: {}", path.string(), pem.error().message));
  return writeFileAtomically(path, pem->text(), kPrivate);
}

Result<void> writeCertificate(const fs::path& path, X509* cert) {
  auto pem = certificatePem(cert);
  if (!pem) return fail(0x80, fmt::format("{}: {}", path.string(), pem.error().message));
  return writeFileAtomically(path, *pem, kPublic);
}

Result<uint64_t> readCrlNumber(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return uint64_t{0};
  auto text = readWholeFile(path);
  if (!text) return tl::unexpected(text.error());
  uint64_t n = 0;
  auto end = text->data() + text->size();
  auto [p, err] = std::from_chars(text->data(), end, n);
  while (p != end && (*p == '\n' || *p == '\r' || *p == ' ')) ++p;
  if (err != std::errc() || p != end) {
    return fail(0x80, fmt::format("{}: expected the number of the last CRL", path.string()));
  }
  return n;
}

fs::path leafDir(const fs::path& dir, CertKind kind) {
  return kind == CertKind::Server ? dir : dir / "clients";
}

std::string noCaHere(const fs::path& dir) {
  return fmt::format("{}: no CA here (run `moat pki init-ca --dir {}` first)", dir.string(),
                     dir.string());
}

}  // namespace

CertificateAuthority::CertificateAuthority(fs::path dir, DirectoryLock lock, X509Ptr cert,
                                           PkeyPtr key, CertIndex index)
    : dir_(std::move(dir)),
      lock_(std::move(lock)),
      cert_(std::move(cert)),
      key_(std::move(key)),
      index_(std::move(index)) {}

bool CertificateAuthority::existsIn(const fs::path& dir) {
  std::error_code ec;
  for (const char* file : {"ca.crt", "ca.key", "index.txt"}) {
    if (fs::exists(dir / file, ec)) return true;
  }
  return false;
}

Result<CertificateAuthority> CertificateAuthority::create(const fs::path& dir,
                                                          const CaOptions& options) {
  MOAT_TRY(checkCaName(options.name));
  MOAT_TRY(checkDays("--days", options.days));
  MOAT_TRY(ensurePrivateDirectory(dir));
  auto lock = DirectoryLock::acquire(dir);
  if (!lock) return tl::unexpected(lock.error());
  std::error_code ec;
  for (const char* file : {"ca.key", "ca.crt", "index.txt"}) {
    if (fs::exists(dir / file, ec)) {
      return fail(0x80, fmt::format("{}: already exists; {} holds a CA already and it is never "
                                    "overwritten",
                                    (dir / file).string(), dir.string()));
    }
  }

  auto key = generateKey(options.key);
  if (!key) return tl::unexpected(key.error());
  auto serial = randomSerial();
  if (!serial) return tl::unexpected(serial.error());
  int64_t t = now();
  CaProfile profile{options.name, t - kBackdateSeconds, t + options.days * kDay};
  auto cert = buildCaCertificate(profile, *serial, key->get());
  if (!cert) return tl::unexpected(cert.error());

  CertificateAuthority ca(dir, std::move(*lock), std::move(*cert), std::move(*key), CertIndex());
  MOAT_TRY(writeKey(ca.keyPath(), ca.key_.get()));
  MOAT_TRY(writeCertificate(ca.certPath(), ca.cert_.get()));
  MOAT_TRY(ca.saveIndex());
  // An empty CRL from the start, so a listener can name ca.crl before anything is revoked.
  auto crl = ca.writeCrl();
  if (!crl) return tl::unexpected(crl.error());
  return ca;
}

Result<CertificateAuthority> CertificateAuthority::open(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || !fs::exists(dir / "ca.crt", ec)) {
    return fail(0x80, noCaHere(dir));
  }
  auto lock = DirectoryLock::acquire(dir);
  if (!lock) return tl::unexpected(lock.error());
  auto cert = readCertificate(dir / "ca.crt");
  if (!cert) return tl::unexpected(cert.error());
  auto key = readPrivateKey(dir / "ca.key");
  if (!key) return tl::unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return fail(0x80, fmt::format("{}: does not match {}", (dir / "ca.key").string(),
                                  (dir / "ca.crt").string()));
  }
  fs::path indexFile = dir / "index.txt";
  auto text = readWholeFile(indexFile);
  if (!text) return tl::unexpected(text.error());
  auto index = CertIndex::parse(*text, indexFile.string());
  if (!index) return tl::unexpected(index.error());
  return CertificateAuthority(dir, std::move(*lock), std::move(*cert), std::move(*key),
                              std::move(*index));
}

Result<void> CertificateAuthority::saveIndex() const {
  return writeFileAtomically(indexPath(), index_.render(), kPublic);
}

Result<std::string> CertificateAuthority::uniqueSerial() const {
  // A repeat among 2^126 values would mean a broken random generator; say so, do not loop.
  for (int i = 0; i < kSerialAttempts; ++i) {
    auto serial = randomSerial();
    if (!serial) return serial;
    if (!index_.hasSerial(*serial) && *serial != serialOf(cert_.get())) return serial;
  }
  return fail(0x80, "the random number generator keeps repeating serial numbers");
}

Result<IssuedCertificate> CertificateAuthority::issue(const LeafRequest& request) {
  bool server = request.kind == CertKind::Server;
  MOAT_TRY(server ? checkServerName(request.name) : checkDeviceId(request.name));
  MOAT_TRY(checkDays("--days", request.days));
  fs::path where = leafDir(dir_, request.kind);
  fs::path certFile = where / (request.name + ".crt");
  fs::path keyFile = where / (request.name + ".key");
  std::error_code ec;
  if (!request.replace) {
    for (const auto& f : {certFile, keyFile}) {
      if (fs::exists(f, ec)) {
        return fail(0x80, fmt::format("{}: already exists ({} \"{}\" has a certificate; revoke "
                                      "it, or use --replace to issue a new one)",
                                      f.string(), server ? "server" : "device", request.name));
      }
    }
  }
  MOAT_TRY(ensurePrivateDirectory(where));

  LeafProfile profile;
  profile.kind = request.kind;
  profile.commonName = request.commonName.empty() ? request.name : request.commonName;
  profile.sans = request.sans;
  if (server && profile.sans.empty()) {
    if (!isDnsName(request.name)) {
      return fail(0x80, fmt::format("server name \"{}\" is not a DNS name; give its names with "
                                    "--san DNS:<name> or --san IP:<address>",
                                    request.name));
    }
    profile.sans.push_back({SubjectAltName::Type::Dns, request.name});
  }
  int64_t t = now();
  int64_t caNotAfter = epochOf(X509_get0_notAfter(cert_.get()));
  if (caNotAfter <= t) {
    return fail(0x80, fmt::format("{}: the CA certificate expired on {}; a new CA needs a new "
                                  "directory (and every device a new certificate)",
                                  certPath().string(), formatUtc(caNotAfter)));
  }
  profile.notBefore = t - kBackdateSeconds;
  // A certificate cannot usefully outlive the CA that signed it: verification fails then.
  profile.notAfter = std::min(t + request.days * kDay, caNotAfter);

  auto key = generateKey(request.key);
  if (!key) return tl::unexpected(key.error());
  auto serial = uniqueSerial();
  if (!serial) return tl::unexpected(serial.error());
  auto cert = buildLeafCertificate(profile, *serial, key->get(), cert_.get(), key_.get());
  if (!cert) return tl::unexpected(cert.error());

  IndexEntry entry;
  entry.serial = *serial;
  entry.kind = request.kind;
  entry.commonName = profile.commonName;
  entry.notAfter = profile.notAfter;
  entry.certFile = fs::relative(certFile, dir_).string();
  entry.keyFile = fs::relative(keyFile, dir_).string();
  index_.add(entry);
  MOAT_TRY(saveIndex());
  MOAT_TRY(writeKey(keyFile, key->get()));
  MOAT_TRY(writeCertificate(certFile, cert->get()));
  return IssuedCertificate{std::move(entry), certFile, keyFile, describeKey(key->get()),
                           subjectAltNamesOf(cert->get())};
}

std::vector<const IndexEntry*> CertificateAuthority::matching(std::string_view nameOrSerial) const {
  std::vector<const IndexEntry*> out;
  for (const auto& e : index_.entries()) {
    if (e.name() == nameOrSerial) out.push_back(&e);
  }
  if (!out.empty()) return out;
  if (auto serial = normalizeSerial(nameOrSerial)) {
    for (const auto& e : index_.entries()) {
      if (e.serial == *serial) out.push_back(&e);
    }
  }
  return out;
}

Result<Revocation> CertificateAuthority::revoke(std::string_view nameOrSerial,
                                                RevocationReason reason, int crlDays) {
  MOAT_TRY(checkDays("--days", crlDays));
  auto found = matching(nameOrSerial);
  if (found.empty()) {
    return fail(0x80, fmt::format("{}: no certificate named \"{}\" or with that serial",
                                  indexPath().string(), nameOrSerial));
  }
  // A server and a device may share a name; revoking both by accident would take a broker down.
  bool servers =
      std::any_of(found.begin(), found.end(), [](auto* e) { return e->kind == CertKind::Server; });
  bool clients =
      std::any_of(found.begin(), found.end(), [](auto* e) { return e->kind == CertKind::Client; });
  if (servers && clients) {
    return fail(0x80, fmt::format("\"{}\" names both a server and a device certificate; revoke "
                                  "by serial (see `moat pki list`)",
                                  nameOrSerial));
  }
  std::vector<std::string> serials;
  for (const auto* e : found) {
    if (!e->revoked()) serials.push_back(e->serial);
  }
  if (serials.empty()) {
    const IndexEntry* e = found.back();
    return fail(0x80, fmt::format("\"{}\" is already revoked (serial {}, since {})", nameOrSerial,
                                  e->serial, formatUtc(*e->revokedAt)));
  }
  Revocation result;
  int64_t t = now();
  for (const auto& serial : serials) index_.revoke(serial, t, reason);
  for (const auto& e : index_.entries()) {
    if (std::find(serials.begin(), serials.end(), e.serial) != serials.end()) {
      result.revoked.push_back(e);
    }
  }
  MOAT_TRY(saveIndex());
  auto crl = writeCrl(crlDays);
  if (!crl) return tl::unexpected(crl.error());
  result.crl = *crl;
  return result;
}

Result<CrlSummary> CertificateAuthority::writeCrl(int days) {
  MOAT_TRY(checkDays("--days", days));
  fs::path numberFile = dir_ / "crlnumber";
  auto last = readCrlNumber(numberFile);
  if (!last) return tl::unexpected(last.error());
  CrlProfile profile;
  profile.number = *last + 1;
  int64_t t = now();
  // Dated a few minutes back, so a broker whose clock runs a little behind this machine's
  // does not find the CRL "not yet valid" (and refuse every client) when it loads it.
  profile.lastUpdate = t - 5 * 60;
  profile.nextUpdate = t + days * kDay;
  for (const auto& e : index_.entries()) {
    if (e.revoked()) profile.revoked.push_back({e.serial, *e.revokedAt, e.reason});
  }
  auto crl = buildCrl(profile, cert_.get(), key_.get());
  if (!crl) return tl::unexpected(crl.error());
  auto pem = crlPem(crl->get());
  if (!pem) return tl::unexpected(pem.error());
  // The number is saved before the CRL: a failure in between skips a number, never reuses one.
  MOAT_TRY(writeFileAtomically(numberFile, fmt::format("{}\n", profile.number), kPublic));
  MOAT_TRY(writeFileAtomically(crlPath(), *pem, kPublic));
  return CrlSummary{crlPath(), profile.number, profile.revoked.size(), profile.nextUpdate};
}

}  // namespace moat::pki
