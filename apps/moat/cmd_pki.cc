// `moat pki`: a small certificate authority for a fleet's devices and brokers (src/pki does the
// work; docs/cli.md describes the commands and the files). Each subcommand opens the CA
// directory, does one thing and says what it wrote. Errors are one line on stderr naming the
// file, exit code 1; usage errors are CLI11's, exit code 2.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "apps/moat/commands.h"
#include "pki/certificate_authority.h"
#include "pki/x509_builder.h"

namespace moat::app {

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

// Every option of every subcommand; each subcommand reads its own.
struct PkiFlags {
  std::string dir = "./pki";
  std::string caName = "Moat CA";
  int caDays = 3650;
  int rsaBits = 0;
  std::string name;  // server NAME, device id, or NAME_OR_SERIAL for revoke
  std::vector<std::string> sans;
  int serverDays = 397;
  int clientDays = 365;
  int crlDays = pki::CertificateAuthority::kDefaultCrlDays;
  bool replace = false;
  std::string reason = "unspecified";
};

int report(const Error& e) {
  std::fprintf(stderr, "moat pki: %s\n", e.message.c_str());
  return kExitError;
}

std::string plural(size_t n, std::string_view one) {
  return fmt::format("{} {}{}", n, one, n == 1 ? "" : "s");
}

void printCrl(const pki::CrlSummary& crl) {
  std::printf("wrote %s (CRL number %llu, %s, next update %s)\n", crl.file.c_str(),
              static_cast<unsigned long long>(crl.number),
              plural(crl.revoked, "revoked certificate").c_str(),
              pki::formatUtc(crl.nextUpdate).c_str());
}

// -- the subcommands --------------------------------------------------------------------------

int initCa(const PkiFlags& f) {
  auto ca = pki::CertificateAuthority::create(f.dir, {f.caName, f.caDays, {f.rsaBits}});
  if (!ca) return report(ca.error());
  std::printf("created CA \"%s\" in %s (%s, valid until %s)\n", f.caName.c_str(), f.dir.c_str(),
              pki::describeKey(ca->publicKey()).c_str(),
              pki::formatUtc(pki::epochOf(X509_get0_notAfter(ca->certificate()))).c_str());
  std::printf(
      "  %s  the CA certificate: brokers trust devices with it (tls.ca), devices trust "
      "brokers with it (--cafile)\n",
      ca->certPath().c_str());
  std::printf("  %s  the CA private key (0600): it stays here, never on a broker or device\n",
              ca->keyPath().c_str());
  std::printf(
      "  %s  the revocation list, empty for now (tls.crl); renew it with `moat pki crl` "
      "within %d days\n",
      ca->crlPath().c_str(), pki::CertificateAuthority::kDefaultCrlDays);
  return 0;
}

int issue(const PkiFlags& f, pki::CertKind kind) {
  auto ca = pki::CertificateAuthority::open(f.dir);
  if (!ca) return report(ca.error());
  pki::LeafRequest request;
  request.kind = kind;
  request.name = f.name;
  request.days = kind == pki::CertKind::Server ? f.serverDays : f.clientDays;
  request.key.rsaBits = f.rsaBits;
  request.replace = f.replace;
  for (const auto& text : f.sans) {
    auto san = pki::parseSubjectAltName(text);  // checked by CLI11 already
    if (!san) return report(san.error());
    request.sans.push_back(*san);
  }
  auto issued = ca->issue(request);
  if (!issued) return report(issued.error());
  bool server = kind == pki::CertKind::Server;
  std::printf("issued %s certificate for %s \"%s\" (%s, serial %s, valid until %s)\n",
              server ? "a server" : "a client", server ? "server" : "device", f.name.c_str(),
              issued->keyType.c_str(), issued->entry.serial.c_str(),
              pki::formatUtc(issued->entry.notAfter).c_str());
  if (server) {
    std::string names;
    for (const auto& n : issued->sans) names += (names.empty() ? "" : ", ") + n;
    std::printf("  names: %s\n", names.c_str());
  }
  std::printf("  %s\n  %s (0600)\n", issued->cert.c_str(), issued->key.c_str());
  return 0;
}

int revoke(const PkiFlags& f) {
  auto ca = pki::CertificateAuthority::open(f.dir);
  if (!ca) return report(ca.error());
  auto reason = pki::parseReason(f.reason);  // checked by CLI11 already
  auto done = ca->revoke(f.name, reason.value_or(pki::RevocationReason::Unspecified), f.crlDays);
  if (!done) return report(done.error());
  for (const auto& e : done->revoked) {
    std::printf("revoked %s \"%s\" serial %s (%s)\n", std::string(pki::kindName(e.kind)).c_str(),
                e.name().c_str(), e.serial.c_str(), std::string(pki::reasonName(e.reason)).c_str());
  }
  printCrl(done->crl);
  return 0;
}

int writeCrl(const PkiFlags& f) {
  auto ca = pki::CertificateAuthority::open(f.dir);
  if (!ca) return report(ca.error());
  auto crl = ca->writeCrl(f.crlDays);
  if (!crl) return report(crl.error());
  printCrl(*crl);
  return 0;
}

std::string statusOf(const pki::IndexEntry& e, int64_t now) {
  if (e.revoked()) return "revoked";
  return e.notAfter < now ? "expired" : "valid";
}

int list(const PkiFlags& f) {
  auto ca = pki::CertificateAuthority::open(f.dir);
  if (!ca) return report(ca.error());
  if (ca->entries().empty()) {
    std::printf("no certificates issued yet by the CA in %s\n", f.dir.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"SERIAL", "KIND", "CN", "NOT AFTER", "STATUS", "FILE"}};
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& e : ca->entries()) {
    rows.push_back({e.serial, std::string(pki::kindName(e.kind)), e.commonName,
                    pki::formatUtc(e.notAfter), statusOf(e, now), e.certFile});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], width[i]);
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

// -- flags ------------------------------------------------------------------------------------

CLI::App* subcommand(CLI::App& app, PkiFlags& f, const char* name, const char* help) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("--dir", f.dir, "the CA directory")->capture_default_str();
  return sub;
}

void addRsaOption(CLI::App* sub, PkiFlags& f) {
  sub->add_option("--rsa", f.rsaBits, "an RSA key of BITS bits instead of ECDSA P-256")
      ->check(CLI::IsMember({2048, 3072, 4096}))
      ->type_name("BITS");
}

const CLI::Validator kSanValidator(
    [](std::string& text) {
      auto san = pki::parseSubjectAltName(text);
      return san ? std::string() : san.error().message;
    },
    "");

}  // namespace

int pkiMain(int argc, char** argv) {
  CLI::App app{"A small certificate authority for a fleet of devices and its brokers.", "moat pki"};
  app.require_subcommand(1);
  PkiFlags f;
  // Before the subcommand too (`moat pki --dir D list`), as people type it either way.
  app.add_option("--dir", f.dir, "the CA directory")->capture_default_str();
  auto days = [](CLI::App* sub, int& value, const char* help) {
    sub->add_option("--days", value, help)->check(CLI::Range(1, 36500))->capture_default_str();
  };

  CLI::App* init = subcommand(app, f, "init-ca", "create the CA: ca.crt, ca.key, ca.crl, index");
  init->add_option("--name", f.caName, "the CA's common name")->capture_default_str();
  days(init, f.caDays, "validity of the CA certificate");
  addRsaOption(init, f);

  CLI::App* server = subcommand(app, f, "issue-server", "a server certificate: DIR/NAME.crt/.key");
  server->add_option("NAME", f.name, "server name (file name; CN)")->required();
  server->add_option("--san", f.sans, "a name of the server (repeatable); default DNS:NAME")
      ->check(kSanValidator)
      ->type_name("DNS:NAME|IP:ADDRESS")
      ->allow_extra_args(false);
  days(server, f.serverDays, "validity");
  addRsaOption(server, f);
  server->add_flag("--replace", f.replace, "issue even if NAME has a certificate (renewal)");

  CLI::App* client =
      subcommand(app, f, "issue-client", "a device certificate: DIR/clients/DEVICE_ID.crt/.key");
  client->add_option("DEVICE_ID", f.name, "device id (CN; file name)")->required();
  days(client, f.clientDays, "validity");
  addRsaOption(client, f);
  client->add_flag("--replace", f.replace, "issue even if the device has a certificate");

  CLI::App* rev = subcommand(app, f, "revoke", "revoke a certificate and rewrite DIR/ca.crl");
  rev->add_option("NAME_OR_SERIAL", f.name, "server NAME, device id, or serial (hex)")->required();
  rev->add_option("--reason", f.reason, "why (goes into the CRL)")
      ->check(CLI::IsMember({"keyCompromise", "superseded", "cessationOfOperation", "unspecified"}))
      ->capture_default_str();
  days(rev, f.crlDays, "validity of the new CRL");

  CLI::App* crl = subcommand(app, f, "crl", "rewrite DIR/ca.crl (renew it before it expires)");
  days(crl, f.crlDays, "validity of the CRL (its nextUpdate)");

  CLI::App* ls = subcommand(app, f, "list", "every certificate issued, with its status");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and "Run with --help"
    return kExitUsage;
  }
  if (init->parsed()) return initCa(f);
  if (server->parsed()) return issue(f, pki::CertKind::Server);
  if (client->parsed()) return issue(f, pki::CertKind::Client);
  if (rev->parsed()) return revoke(f);
  if (crl->parsed()) return writeCrl(f);
  if (ls->parsed()) return list(f);
  return kExitUsage;  // require_subcommand(1) makes this unreachable
}

}  // namespace moat::app
