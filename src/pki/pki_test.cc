// The CA end to end in a temporary directory: what init-ca, issue, revoke and writeCrl leave on
// disk, checked with OpenSSL's own verifier (X509_verify_cert against ca.crt and ca.crl), and
// the embedded default's server identity.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "base/atomic_file.h"
#include "pki/cert_index.h"
#include "pki/certificate_authority.h"
#include "pki/keys.h"
#include "pki/pem.h"
#include "pki/server_identity.h"
#include "pki/x509_builder.h"

namespace moat::pki {
namespace {

namespace fs = std::filesystem;

class PkiTest : public testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(testing::TempDir()) /
           ("moat-pki-" + std::to_string(::getpid()) + "-" + info->name() + "-" +
            std::to_string(counter++)) /
           "pki";
    fs::remove_all(dir_.parent_path());
  }
  void TearDown() override { fs::remove_all(dir_.parent_path()); }

  CertificateAuthority newCa(CaOptions options = {}) {
    auto ca = CertificateAuthority::create(dir_, options);
    EXPECT_TRUE(ca) << ca.error().message;
    return std::move(*ca);
  }

  fs::path dir_;
};

X509Ptr loadCert(const fs::path& path) {
  auto cert = readCertificate(path);
  EXPECT_TRUE(cert) << cert.error().message;
  return cert ? std::move(*cert) : X509Ptr();
}

// X509_V_OK, or the reason OpenSSL's verifier refuses `cert` for `purpose` with ca.crt (and
// `crl`, when given) as the only trust.
int verify(X509* cert, X509* ca, int purpose, X509_CRL* crl = nullptr) {
  StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca);
  if (crl) {
    X509_STORE_add_crl(store.get(), crl);
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

mode_t modeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string commonNameOf(X509* cert) {
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return cn;
}

std::string keyTypeOf(const fs::path& keyFile) {
  auto key = readPrivateKey(keyFile);
  EXPECT_TRUE(key) << key.error().message;
  return key ? describeKey(key->get()) : "";
}

uint64_t crlNumberOf(X509_CRL* crl) {
  Asn1IntegerPtr n(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
  uint64_t out = 0;
  if (n) ASN1_INTEGER_get_uint64(&out, n.get());
  return out;
}

bool hasTemporaryFiles(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  }
  return false;
}

LeafRequest server(std::string name, std::vector<std::string> sans = {}) {
  LeafRequest r;
  r.kind = CertKind::Server;
  r.name = std::move(name);
  for (const auto& s : sans) {
    auto san = parseSubjectAltName(s);
    EXPECT_TRUE(san) << san.error().message;
    if (san) r.sans.push_back(*san);
  }
  r.days = 397;
  return r;
}

LeafRequest client(std::string id) {
  LeafRequest r;
  r.kind = CertKind::Client;
  r.name = std::move(id);
  return r;
}

// -- init-ca ----------------------------------------------------------------------------------

TEST_F(PkiTest, InitCaWritesAPrivateKeyAndACaCertificateWithTheCaExtensions) {
  auto ca = newCa({"Fleet CA", 3650, {}});
  EXPECT_EQ(modeOf(dir_ / "ca.key"), 0600);
  EXPECT_EQ(modeOf(dir_), 0700);
  EXPECT_EQ(keyTypeOf(dir_ / "ca.key"), "ECDSA P-256");
  auto cert = loadCert(dir_ / "ca.crt");
  EXPECT_EQ(commonNameOf(cert.get()), "Fleet CA");
  EXPECT_EQ(verify(cert.get(), cert.get(), X509_PURPOSE_ANY), X509_V_OK);
  uint32_t flags = X509_get_extension_flags(cert.get());
  EXPECT_TRUE(flags & EXFLAG_CA);
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_CRL_SIGN);
  EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  int critical = 0;
  BASIC_CONSTRAINTS* bc = static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert.get(), NID_basic_constraints, &critical, nullptr));
  ASSERT_NE(bc, nullptr);
  EXPECT_TRUE(bc->ca);
  EXPECT_EQ(critical, 1);
  BASIC_CONSTRAINTS_free(bc);
  EXPECT_TRUE(fs::exists(dir_ / "index.txt"));
  EXPECT_TRUE(fs::exists(dir_ / "ca.crl"));
  EXPECT_FALSE(hasTemporaryFiles(dir_));
}

TEST_F(PkiTest, InitCaWithRsaMakesAnRsaCaKey) {
  newCa({"RSA CA", 3650, {2048}});
  EXPECT_EQ(keyTypeOf(dir_ / "ca.key"), "RSA 2048");
}

TEST_F(PkiTest, InitCaRefusesADirectoryThatHoldsACaAndLeavesItAlone) {
  { newCa(); }
  auto keyBefore = readWholeFile(dir_ / "ca.key");
  ASSERT_TRUE(keyBefore);
  auto again = CertificateAuthority::create(dir_, {});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos)
      << again.error().message;
  EXPECT_NE(again.error().message.find("ca.key"), std::string::npos) << again.error().message;
  EXPECT_EQ(*readWholeFile(dir_ / "ca.key"), *keyBefore);
}

TEST_F(PkiTest, OpenWithoutACaSaysHowToMakeOne) {
  auto ca = CertificateAuthority::open(dir_);
  ASSERT_FALSE(ca);
  EXPECT_NE(ca.error().message.find("init-ca"), std::string::npos) << ca.error().message;
}

TEST_F(PkiTest, ASecondProcessCannotWorkInALockedDirectory) {
  auto first = newCa();
  auto second = CertificateAuthority::open(dir_);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another moat process"), std::string::npos)
      << second.error().message;
}

// -- issue ------------------------------------------------------------------------------------

TEST_F(PkiTest, ServerCertificateVerifiesAgainstTheCaAndNamesItsSans) {
  auto ca = newCa();
  auto issued = ca.issue(server("localhost", {"DNS:localhost", "IP:127.0.0.1", "IP:::1"}));
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->cert, dir_ / "localhost.crt");
  EXPECT_EQ(modeOf(dir_ / "localhost.key"), 0600);
  EXPECT_EQ(keyTypeOf(dir_ / "localhost.key"), "ECDSA P-256");
  EXPECT_EQ(issued->keyType, "ECDSA P-256");

  auto cert = loadCert(dir_ / "localhost.crt");
  EXPECT_EQ(verify(cert.get(), ca.certificate(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_NE(verify(cert.get(), ca.certificate(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_FALSE(X509_get_extension_flags(cert.get()) & EXFLAG_CA);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(cert.get()), nullptr);

  std::string serial = serialOf(cert.get());
  EXPECT_EQ(serial.size(), 32u) << serial;  // 16 bytes
  EXPECT_EQ(serial, issued->entry.serial);
  ASSERT_EQ(ca.entries().size(), 1u);
  EXPECT_EQ(ca.entries()[0].serial, serial);
  EXPECT_EQ(ca.entries()[0].kind, CertKind::Server);
  EXPECT_FALSE(hasTemporaryFiles(dir_));
}

TEST_F(PkiTest, ServerWithoutSansIsNamedByItsName) {
  auto ca = newCa();
  auto issued = ca.issue(server("broker.example.com"));
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->sans, std::vector<std::string>{"DNS:broker.example.com"});
  auto cert = loadCert(issued->cert);
  EXPECT_EQ(X509_check_host(cert.get(), "broker.example.com", 0, 0, nullptr), 1);
}

TEST_F(PkiTest, ClientCertificateCarriesTheDeviceIdAsCnAndIsForClientAuthOnly) {
  auto ca = newCa();
  auto issued = ca.issue(client("meter-001"));
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->cert, dir_ / "clients" / "meter-001.crt");
  EXPECT_EQ(modeOf(dir_ / "clients" / "meter-001.key"), 0600);
  EXPECT_EQ(keyTypeOf(dir_ / "clients" / "meter-001.key"), "ECDSA P-256");
  auto cert = loadCert(issued->cert);
  EXPECT_EQ(commonNameOf(cert.get()), "meter-001");
  EXPECT_EQ(verify(cert.get(), ca.certificate(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_NE(verify(cert.get(), ca.certificate(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_EQ(ca.entries().at(0).certFile, "clients/meter-001.crt");
  EXPECT_EQ(ca.entries().at(0).name(), "meter-001");
}

TEST_F(PkiTest, RsaLeafKeysAlsoAllowKeyEncipherment) {
  auto ca = newCa();
  auto request = client("rsa-device");
  request.key.rsaBits = 2048;
  auto issued = ca.issue(request);
  ASSERT_TRUE(issued) << issued.error().message;
  EXPECT_EQ(issued->keyType, "RSA 2048");
  auto cert = loadCert(issued->cert);
  EXPECT_EQ(X509_get_key_usage(cert.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
}

TEST_F(PkiTest, UnsafeDeviceIdsAreRefusedBeforeAnythingIsWritten) {
  auto ca = newCa();
  for (std::string id : {std::string(""), std::string("a/b"), std::string(".."),
                         std::string("a..b"), std::string("+"), std::string("meters/#"),
                         std::string("a#"), std::string("x\ny"), std::string("tab\there"),
                         std::string(65, 'x'), std::string(".hidden"), std::string("a\\b")}) {
    auto issued = ca.issue(client(id));
    EXPECT_FALSE(issued) << "accepted \"" << id << "\"";
    if (!issued) {
      EXPECT_EQ(issued.error().message.find('\n'), std::string::npos) << issued.error().message;
    }
  }
  EXPECT_TRUE(ca.entries().empty());
  EXPECT_FALSE(fs::exists(dir_ / "clients") && !fs::is_empty(dir_ / "clients"));
  for (std::string id : {std::string("meter-001"), std::string("meter_002"),
                         std::string("sensor.3"), std::string(64, 'x')}) {
    EXPECT_TRUE(ca.issue(client(id))) << id;
  }
}

TEST_F(PkiTest, ServerNamedCaIsRefused) {
  auto ca = newCa();
  EXPECT_FALSE(ca.issue(server("ca", {"DNS:localhost"})));
}

TEST_F(PkiTest, BadSubjectAltNamesAreRefused) {
  for (const char* san : {"localhost", "DNS:", "DNS:bad host", "IP:300.1.1.1", "URI:x", "IP:"}) {
    EXPECT_FALSE(parseSubjectAltName(san)) << san;
  }
  auto ip6 = parseSubjectAltName("IP:fe80::1");
  ASSERT_TRUE(ip6);
  EXPECT_EQ(ip6->type, SubjectAltName::Type::Ip);
}

TEST_F(PkiTest, IssuingAnExistingNameNeedsReplace) {
  auto ca = newCa();
  ASSERT_TRUE(ca.issue(client("meter-001")));
  auto again = ca.issue(client("meter-001"));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("--replace"), std::string::npos) << again.error().message;
  auto request = client("meter-001");
  request.replace = true;
  auto renewed = ca.issue(request);
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_EQ(ca.entries().size(), 2u);
  EXPECT_NE(ca.entries()[0].serial, ca.entries()[1].serial);
}

TEST_F(PkiTest, ALeafDoesNotOutliveItsCa) {
  auto ca = newCa({"Short CA", 10, {}});
  auto issued = ca.issue(client("meter-001"));  // asks for 365 days
  ASSERT_TRUE(issued);
  EXPECT_EQ(issued->entry.notAfter, epochOf(X509_get0_notAfter(ca.certificate())));
}

// -- revoke and crl ---------------------------------------------------------------------------

TEST_F(PkiTest, RevokeWritesACrlFromTheCaThatRefusesTheCertificate) {
  auto ca = newCa();
  auto revoked = ca.issue(client("meter-001"));
  auto kept = ca.issue(client("meter-002"));
  ASSERT_TRUE(revoked && kept);
  auto result = ca.revoke("meter-001", RevocationReason::KeyCompromise);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->revoked.size(), 1u);
  EXPECT_EQ(result->revoked[0].serial, revoked->entry.serial);
  EXPECT_EQ(result->crl.revoked, 1u);

  auto crl = readCrl(dir_ / "ca.crl");
  ASSERT_TRUE(crl) << crl.error().message;
  EXPECT_EQ(X509_CRL_verify(crl->get(), ca.publicKey()), 1);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl->get()), X509_get_subject_name(ca.certificate())),
            0);
  auto cert = loadCert(revoked->cert);
  X509_REVOKED* entry = nullptr;
  ASSERT_EQ(X509_CRL_get0_by_cert(crl->get(), &entry, cert.get()), 1);
  Asn1EnumeratedPtr reason(static_cast<ASN1_ENUMERATED*>(
      X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nullptr, nullptr)));
  ASSERT_TRUE(reason);
  EXPECT_EQ(ASN1_ENUMERATED_get(reason.get()), 1);  // keyCompromise
  EXPECT_NE(X509_CRL_get0_nextUpdate(crl->get()), nullptr);

  EXPECT_EQ(verify(cert.get(), ca.certificate(), X509_PURPOSE_SSL_CLIENT, crl->get()),
            X509_V_ERR_CERT_REVOKED);
  auto other = loadCert(kept->cert);
  EXPECT_EQ(verify(other.get(), ca.certificate(), X509_PURPOSE_SSL_CLIENT, crl->get()), X509_V_OK);
  EXPECT_TRUE(ca.entries()[0].revoked());
  EXPECT_FALSE(ca.entries()[1].revoked());
}

TEST_F(PkiTest, CrlNumbersIncreaseAndUnspecifiedReasonsAreLeftOut) {
  auto ca = newCa();
  auto firstCrl = readCrl(dir_ / "ca.crl");
  ASSERT_TRUE(firstCrl);
  EXPECT_EQ(crlNumberOf(firstCrl->get()), 1u);
  ASSERT_TRUE(ca.issue(client("meter-001")));
  auto revoked = ca.revoke("meter-001", RevocationReason::Unspecified);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->crl.number, 2u);
  auto again = ca.writeCrl(7);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->number, 3u);
  auto crl = readCrl(dir_ / "ca.crl");
  ASSERT_TRUE(crl);
  EXPECT_EQ(crlNumberOf(crl->get()), 3u);
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl->get());
  ASSERT_EQ(sk_X509_REVOKED_num(entries), 1);
  EXPECT_EQ(X509_REVOKED_get_ext_by_NID(sk_X509_REVOKED_value(entries, 0), NID_crl_reason, -1), -1);
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, X509_CRL_get0_lastUpdate(crl->get()),
                 X509_CRL_get0_nextUpdate(crl->get()));
  EXPECT_EQ(days, 7);
}

TEST_F(PkiTest, RevokeBySerialTakesHexInAnyCaseWithColons) {
  auto ca = newCa();
  auto issued = ca.issue(client("meter-001"));
  ASSERT_TRUE(issued);
  std::string serial = issued->entry.serial;
  std::string written = "0x";
  for (size_t i = 0; i < serial.size(); i += 2) {
    if (i) written += ':';
    written += static_cast<char>(std::tolower(serial[i]));
    written += static_cast<char>(std::tolower(serial[i + 1]));
  }
  auto result = ca.revoke(written, RevocationReason::Superseded);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->revoked.at(0).serial, serial);
  EXPECT_EQ(result->revoked.at(0).reason, RevocationReason::Superseded);
}

TEST_F(PkiTest, RevokingTwiceOrSomethingUnknownIsAnError) {
  auto ca = newCa();
  ASSERT_TRUE(ca.issue(client("meter-001")));
  ASSERT_TRUE(ca.revoke("meter-001", RevocationReason::CessationOfOperation));
  auto twice = ca.revoke("meter-001", RevocationReason::CessationOfOperation);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("already revoked"), std::string::npos);
  auto unknown = ca.revoke("meter-999", RevocationReason::Unspecified);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("index.txt"), std::string::npos);
}

TEST_F(PkiTest, ANameSharedByAServerAndADeviceMustBeRevokedBySerial) {
  auto ca = newCa();
  ASSERT_TRUE(ca.issue(server("gateway")));
  ASSERT_TRUE(ca.issue(client("gateway")));
  auto result = ca.revoke("gateway", RevocationReason::KeyCompromise);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("serial"), std::string::npos);
}

TEST_F(PkiTest, TheIndexIsReadBackWhenTheCaIsOpenedAgain) {
  std::string serial;
  {
    auto ca = newCa();
    auto issued = ca.issue(client("meter-001"));
    ASSERT_TRUE(issued && ca.issue(server("localhost")));
    serial = issued->entry.serial;
    ASSERT_TRUE(ca.revoke("meter-001", RevocationReason::KeyCompromise));
  }
  auto ca = CertificateAuthority::open(dir_);
  ASSERT_TRUE(ca) << ca.error().message;
  ASSERT_EQ(ca->entries().size(), 2u);
  EXPECT_EQ(ca->entries()[0].serial, serial);
  EXPECT_TRUE(ca->entries()[0].revoked());
  EXPECT_EQ(ca->entries()[0].reason, RevocationReason::KeyCompromise);
  EXPECT_FALSE(ca->entries()[1].revoked());
  auto crl = ca->writeCrl();
  ASSERT_TRUE(crl);
  EXPECT_EQ(crl->revoked, 1u);
  EXPECT_EQ(crl->number, 3u);  // init-ca 1, revoke 2
}

// -- the index format -------------------------------------------------------------------------

TEST(CertIndex, RendersAndParsesBackTheSameEntries) {
  CertIndex index;
  IndexEntry valid{"4F1A",          CertKind::Server, "localhost",
                   1'780'000'000,   std::nullopt,     RevocationReason::Unspecified,
                   "localhost.crt", "localhost.key"};
  IndexEntry revoked{"7B00",
                     CertKind::Client,
                     "meter-001",
                     1'780'000'000,
                     1'750'000'000,
                     RevocationReason::KeyCompromise,
                     "clients/meter-001.crt",
                     "clients/meter-001.key"};
  index.add(valid);
  index.add(revoked);
  std::string text = index.render();
  EXPECT_NE(text.find("R\t7B00\t2026-05-28T20:26:40Z\t2025-06-15T15:06:40Z\tkeyCompromise\t"
                      "client\tmeter-001\tclients/meter-001.crt\tclients/meter-001.key\n"),
            std::string::npos)
      << text;
  auto back = CertIndex::parse(text, "index.txt");
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->entries().size(), 2u);
  EXPECT_EQ(back->entries()[0].name(), "localhost");
  EXPECT_FALSE(back->entries()[0].revoked());
  EXPECT_EQ(back->entries()[1].revokedAt, 1'750'000'000);
  EXPECT_EQ(back->entries()[1].reason, RevocationReason::KeyCompromise);
  EXPECT_EQ(back->render(), text);
}

TEST(CertIndex, AMalformedLineIsReportedWithFileAndLine) {
  auto index = CertIndex::parse("# comment\nV\t4F\t2026-01-01T00:00:00Z\n", "pki/index.txt");
  ASSERT_FALSE(index);
  EXPECT_EQ(index.error().message.rfind("pki/index.txt:2: ", 0), 0u) << index.error().message;
  auto badStatus = CertIndex::parse(
      "X\t4F\t2026-01-01T00:00:00Z\t-\t-\tclient\tm\tclients/m.crt\tclients/m.key\n", "i");
  EXPECT_FALSE(badStatus);
}

// -- the embedded default's identity ----------------------------------------------------------

TEST_F(PkiTest, EnsureServerIdentityMakesACaAndAServerCertificateForThisHost) {
  auto files = ensureServerIdentity(dir_, "moat-test-host");
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_TRUE(files->createdCa);
  EXPECT_FALSE(files->issuedBecause.empty());
  EXPECT_EQ(files->caCert, dir_ / "ca.crt");
  EXPECT_EQ(files->cert, dir_ / "server.crt");
  EXPECT_EQ(files->key, dir_ / "server.key");
  EXPECT_EQ(modeOf(files->key), 0600);
  EXPECT_EQ(modeOf(dir_ / "ca.key"), 0600);
  auto ca = loadCert(files->caCert);
  auto cert = loadCert(files->cert);
  EXPECT_EQ(verify(cert.get(), ca.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  for (const char* host : {"localhost", "moat-test-host"}) {
    EXPECT_EQ(X509_check_host(cert.get(), host, 0, 0, nullptr), 1) << host;
  }
  for (const char* ip : {"127.0.0.1", "::1"}) {
    EXPECT_EQ(X509_check_ip_asc(cert.get(), ip, 0), 1) << ip;
  }
  EXPECT_EQ(files->serial, serialOf(cert.get()));
}

TEST_F(PkiTest, EnsureServerIdentityReusesWhatItMadeBefore) {
  auto first = ensureServerIdentity(dir_, "moat-test-host");
  ASSERT_TRUE(first) << first.error().message;
  auto caBefore = readWholeFile(dir_ / "ca.crt");
  auto second = ensureServerIdentity(dir_, "moat-test-host");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->createdCa);
  EXPECT_EQ(second->issuedBecause, "");
  EXPECT_EQ(second->serial, first->serial);
  EXPECT_EQ(*readWholeFile(dir_ / "ca.crt"), *caBefore);
}

TEST_F(PkiTest, EnsureServerIdentityReissuesACertificateCloseToExpiry) {
  ASSERT_TRUE(ensureServerIdentity(dir_, "moat-test-host"));
  std::string shortSerial;
  {
    auto ca = CertificateAuthority::open(dir_);
    ASSERT_TRUE(ca);
    auto request =
        server("server", {"DNS:localhost", "DNS:moat-test-host", "IP:127.0.0.1", "IP:::1"});
    request.days = 10;
    request.replace = true;
    auto issued = ca->issue(request);
    ASSERT_TRUE(issued);
    shortSerial = issued->entry.serial;
  }
  auto files = ensureServerIdentity(dir_, "moat-test-host");
  ASSERT_TRUE(files) << files.error().message;
  EXPECT_NE(files->serial, shortSerial);
  EXPECT_NE(files->issuedBecause.find("expires"), std::string::npos) << files->issuedBecause;
}

TEST_F(PkiTest, EnsureServerIdentityReissuesWhenTheHostNameChanges) {
  auto first = ensureServerIdentity(dir_, "old-name");
  ASSERT_TRUE(first);
  auto second = ensureServerIdentity(dir_, "new-name");
  ASSERT_TRUE(second);
  EXPECT_NE(second->serial, first->serial);
  EXPECT_NE(second->issuedBecause.find("DNS:new-name"), std::string::npos);
  auto cert = loadCert(second->cert);
  EXPECT_EQ(X509_check_host(cert.get(), "new-name", 0, 0, nullptr), 1);
}

TEST_F(PkiTest, EnsureServerIdentityLeavesOutAHostNameThatIsNotADnsName) {
  auto files = ensureServerIdentity(dir_, "bad host name");
  ASSERT_TRUE(files) << files.error().message;
  auto cert = loadCert(files->cert);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
}

}  // namespace
}  // namespace moat::pki
