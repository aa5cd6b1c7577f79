// OCSP responses to staple: what is accepted when a response is loaded (good, current, for
// this certificate, signed by its issuer), what is refused and with which reason, and that a
// response stops being stapled once it passes its nextUpdate.
#include "net/ocsp_staple.h"

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <iterator>
#include <string>

#include "net/test_pki.h"
#include "net/tls_context.h"

namespace moat::net {
namespace {

namespace fs = std::filesystem;
using testing::TestPki;

class OcspStapleTest : public ::testing::Test {
 protected:
  OcspStapleTest()
      : dir_(fs::temp_directory_path() /
             ("moat-ocsp-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())),
        pki_(dir_),
        server_(pki_.server("server", "server", {"broker.example.com"}, 30 * 86400)) {}
  ~OcspStapleTest() override { fs::remove_all(dir_); }

  // Loads `file` for `cert` (the server certificate unless given) the way TlsContext does,
  // with the CA as the served chain or, without `chain`, only in the CA file `ca`.
  Result<std::unique_ptr<OcspStaple>> load(const fs::path& file, const std::string& ca = "",
                                           const TestPki::Cert* cert = nullptr,
                                           bool withChain = true) {
    STACK_OF(X509)* chain = sk_X509_new_null();
    if (withChain) sk_X509_push(chain, pki_.ca().x509);
    auto r = OcspStaple::load(
        file, (cert ? *cert : server_).x509, chain, ca,
        {"secure", "tls.ocsp_response \"" + file.string() + "\"", "tls.cert \"server.crt\""});
    sk_X509_free(chain);
    return r;
  }

  std::string error(const fs::path& file) {
    auto r = load(file);
    return r ? "loaded" : r.error().message;
  }

  fs::path dir_;
  TestPki pki_;
  const TestPki::Cert& server_;
};

TEST_F(OcspStapleTest, GoodCurrentResponseSignedByTheIssuerIsLoadedAsWritten) {
  fs::path file = pki_.ocsp("good", server_, V_OCSP_CERTSTATUS_GOOD, -60, 7 * 86400);
  auto staple = load(file);
  ASSERT_TRUE(staple) << staple.error().message;
  const time_t now = std::time(nullptr);
  ASSERT_TRUE((*staple)->nextUpdate());
  EXPECT_NEAR(static_cast<double>(*(*staple)->nextUpdate()), static_cast<double>(now + 7 * 86400),
              5);
  EXPECT_NEAR(static_cast<double>((*staple)->thisUpdate()), static_cast<double>(now - 60), 5);
  const std::string* der = (*staple)->responseAt(now);
  ASSERT_NE(der, nullptr);
  std::ifstream in(file, std::ios::binary);
  EXPECT_EQ(*der, std::string(std::istreambuf_iterator<char>(in), {}));
}

TEST_F(OcspStapleTest, IssuerMayComeFromTheCaFileInsteadOfTheChain) {
  const auto& bare = pki_.server("bare", "bare", {"broker.example.com"}, 86400, false);
  fs::path file = pki_.ocsp("good", bare, V_OCSP_CERTSTATUS_GOOD);
  auto withoutCa = load(file, "", &bare, /*withChain=*/false);
  ASSERT_FALSE(withoutCa);
  EXPECT_NE(withoutCa.error().message.find("the issuer of tls.cert \"server.crt\" is in neither"),
            std::string::npos)
      << withoutCa.error().message;
  auto withCa = load(file, pki_.ca().cert, &bare, /*withChain=*/false);
  EXPECT_TRUE(withCa) << withCa.error().message;
}

TEST_F(OcspStapleTest, RevokedStatusIsRefusedSayingSo) {
  std::string why = error(pki_.ocsp("revoked", server_, V_OCSP_CERTSTATUS_REVOKED));
  EXPECT_EQ(why.find("listener \"secure\": tls.ocsp_response \""), 0u) << why;
  EXPECT_NE(why.find("the responder says tls.cert \"server.crt\" is revoked (since "),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("reason keyCompromise"), std::string::npos) << why;
}

TEST_F(OcspStapleTest, UnknownStatusIsRefused) {
  std::string why = error(pki_.ocsp("unknown", server_, V_OCSP_CERTSTATUS_UNKNOWN));
  EXPECT_NE(why.find("does not know tls.cert"), std::string::npos) << why;
}

TEST_F(OcspStapleTest, ResponseForAnotherCertificateIsRefused) {
  const auto& other = pki_.server("other", "other", {"other.example.com"});
  std::string why = error(pki_.ocsp("other", other, V_OCSP_CERTSTATUS_GOOD));
  EXPECT_NE(why.find("holds no status for tls.cert \"server.crt\" (serial "), std::string::npos)
      << why;
}

TEST_F(OcspStapleTest, ResponseSignedBySomeoneElseIsRefused) {
  const auto& rogue = pki_.selfSigned("rogue", "rogue responder");
  std::string why =
      error(pki_.ocsp("forged", server_, V_OCSP_CERTSTATUS_GOOD, -60, 86400 * 7, &rogue));
  EXPECT_NE(why.find("its signature does not verify against the issuer of tls.cert"),
            std::string::npos)
      << why;
}

TEST_F(OcspStapleTest, ResponsePastItsNextUpdateIsRefusedAtLoad) {
  std::string why = error(pki_.ocsp("stale", server_, V_OCSP_CERTSTATUS_GOOD, -2 * 86400, -60));
  EXPECT_NE(why.find("past its nextUpdate ("), std::string::npos) << why;
  EXPECT_NE(why.find("fetch a fresh response"), std::string::npos) << why;
}

TEST_F(OcspStapleTest, ResponseFromTheFutureIsRefusedButFiveMinutesOfSkewAreAllowed) {
  std::string why = error(pki_.ocsp("future", server_, V_OCSP_CERTSTATUS_GOOD, 3600, 86400 * 7));
  EXPECT_NE(why.find("not valid now (thisUpdate "), std::string::npos) << why;
  EXPECT_EQ(error(pki_.ocsp("skewed", server_, V_OCSP_CERTSTATUS_GOOD, 120, 86400 * 7)), "loaded");
}

TEST_F(OcspStapleTest, FailedResponsesAndOtherFilesAreRefused) {
  std::string why = error(pki_.ocspFailure("unauthorized", OCSP_RESPONSE_STATUS_UNAUTHORIZED));
  EXPECT_NE(why.find("the responder answered \"unauthorized\""), std::string::npos) << why;
  EXPECT_NE(error(server_.cert).find("not a DER OCSP response"), std::string::npos);
  EXPECT_NE(error(dir_ / "absent.der").find("cannot open"), std::string::npos);
}

TEST_F(OcspStapleTest, ResponseIsNoLongerStapledOnceItPassesItsNextUpdate) {
  auto staple = load(pki_.ocsp("good", server_, V_OCSP_CERTSTATUS_GOOD, -60, 3600));
  ASSERT_TRUE(staple) << staple.error().message;
  const time_t next = *(*staple)->nextUpdate();
  EXPECT_NE((*staple)->responseAt(next), nullptr);
  EXPECT_EQ((*staple)->responseAt(next + 1), nullptr);
  EXPECT_EQ((*staple)->responseAt(next + 3600), nullptr);  // and warned only the first time
}

TEST_F(OcspStapleTest, ResponseWithoutNextUpdateIsAlwaysCurrent) {
  auto staple = load(pki_.ocsp("open", server_, V_OCSP_CERTSTATUS_GOOD, -60, std::nullopt));
  ASSERT_TRUE(staple) << staple.error().message;
  EXPECT_FALSE((*staple)->nextUpdate());
  EXPECT_NE((*staple)->responseAt(std::time(nullptr) + 365 * 86400), nullptr);
}

// -- in a TlsContext ---------------------------------------------------------------------------

TEST_F(OcspStapleTest, ContextLoadsEachCertificatesResponseAndWatchesTheFiles) {
  const auto& example = pki_.server("example", "example", {"*.example.org"}, 30 * 86400);
  TlsSettings s;
  s.cert = server_.cert;
  s.key = server_.key;
  s.ocspResponse = pki_.ocsp("main", server_, V_OCSP_CERTSTATUS_GOOD);
  s.sni.push_back({{"*.example.org"},
                   example.cert,
                   example.key,
                   pki_.ocsp("example", example, V_OCSP_CERTSTATUS_GOOD)});
  auto ctx = TlsContext::create(s, "secure");
  ASSERT_TRUE(ctx) << ctx.error().message;
  EXPECT_NE((*ctx)->certificateSummary().find(", OCSP response stapled until "), std::string::npos)
      << (*ctx)->certificateSummary();
  EXPECT_EQ((*ctx)->files(), (std::vector<std::string>{s.cert, s.key, s.ocspResponse, example.cert,
                                                       example.key, s.sni[0].ocspResponse}));

  s.sni[0].ocspResponse = pki_.ocsp("revoked", example, V_OCSP_CERTSTATUS_REVOKED);
  auto refused = TlsContext::create(s, "secure");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("listener \"secure\": tls.sni[\"*.example.org\"]."
                                         "ocsp_response \"" +
                                         s.sni[0].ocspResponse +
                                         "\": the responder says "
                                         "tls.sni[\"*.example.org\"].cert"),
            std::string::npos)
      << refused.error().message;
}

}  // namespace
}  // namespace moat::net
