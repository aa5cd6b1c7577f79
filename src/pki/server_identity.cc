#include "pki/server_identity.h"

#include <algorithm>
#include <ctime>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "pki/certificate_authority.h"
#include "pki/pem.h"
#include "pki/x509_builder.h"

namespace moat::pki {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view kServerName = "server";

std::vector<SubjectAltName> wantedNames(std::string_view hostname) {
  std::vector<SubjectAltName> sans{{SubjectAltName::Type::Dns, "localhost"}};
  if (hostname != "localhost" && isDnsName(hostname)) {
    sans.push_back({SubjectAltName::Type::Dns, std::string(hostname)});
  }
  sans.push_back({SubjectAltName::Type::Ip, "127.0.0.1"});
  sans.push_back({SubjectAltName::Type::Ip, "::1"});
  return sans;
}

// Why the certificate at `certFile` cannot be re-used; nullopt when it can.
std::optional<std::string> reasonToReissue(const CertificateAuthority& ca, const fs::path& certFile,
                                           const fs::path& keyFile,
                                           const std::vector<SubjectAltName>& wanted) {
  std::error_code ec;
  if (!fs::exists(certFile, ec) || !fs::exists(keyFile, ec)) return "there was none";
  auto cert = readCertificate(certFile);
  auto key = readPrivateKey(keyFile);
  if (!cert || !key) {
    ERR_clear_error();
    return fmt::format("the old one could not be read ({})",
                       (!cert ? cert.error() : key.error()).message);
  }
  if (X509_verify(cert->get(), ca.publicKey()) != 1) {
    ERR_clear_error();
    return "the old one is not from this CA";
  }
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return "the old one does not match its key";
  }
  auto names = subjectAltNamesOf(cert->get());
  for (const auto& san : wanted) {
    if (std::find(names.begin(), names.end(), san.toString()) == names.end()) {
      return fmt::format("the old one does not name {}", san.toString());
    }
  }
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert->get())) != 1 ||
      days < kServerRenewalDays) {
    return fmt::format("the old one expires within {} days", kServerRenewalDays);
  }
  return std::nullopt;
}

}  // namespace

Result<ServerFiles> ensureServerIdentity(const fs::path& dir, std::string_view hostname) {
  ServerFiles files;
  files.createdCa = !CertificateAuthority::existsIn(dir);
  std::string host = isDnsName(hostname) ? std::string(hostname) : "localhost";
  // CN is informational for a server (clients match the SANs), so a long host name is cut.
  std::string caName = fmt::format("Moat CA on {}", host).substr(0, kMaxNameLength);
  auto ca = files.createdCa ? CertificateAuthority::create(dir, CaOptions{caName, 3650, {}})
                            : CertificateAuthority::open(dir);
  if (!ca) return tl::unexpected(ca.error());

  files.caCert = ca->certPath();
  files.cert = dir / (std::string(kServerName) + ".crt");
  files.key = dir / (std::string(kServerName) + ".key");
  auto wanted = wantedNames(hostname);
  if (auto why = reasonToReissue(*ca, files.cert, files.key, wanted)) {
    LeafRequest request;
    request.kind = CertKind::Server;
    request.name = kServerName;
    request.commonName = host.substr(0, kMaxNameLength);
    request.sans = wanted;
    request.days = kServerCertificateDays;
    request.replace = true;
    auto issued = ca->issue(request);
    if (!issued) return tl::unexpected(issued.error());
    files.serial = issued->entry.serial;
    files.notAfter = issued->entry.notAfter;
    files.issuedBecause = *why;
    return files;
  }
  auto cert = readCertificate(files.cert);
  if (!cert) return tl::unexpected(cert.error());
  files.serial = serialOf(cert->get());
  files.notAfter = epochOf(X509_get0_notAfter(cert->get()));
  return files;
}

}  // namespace moat::pki
