// Several certificates on one listener, chosen by the client's SNI: which certificate a client
// gets for which name, what sni_strict refuses and how, and that the context is built and
// checked as a whole (every certificate's files, expiry and report).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "net/memory_handshake.h"
#include "net/server_name.h"
#include "net/test_pki.h"
#include "net/tls_context.h"
#include "net/tls_engine.h"

namespace moat::net {
namespace {

namespace fs = std::filesystem;
using testing::runHandshake;
using testing::TestPki;

class TlsSniTest : public ::testing::Test {
 protected:
  TlsSniTest()
      : dir_(fs::temp_directory_path() /
             ("moat-sni-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())),
        pki_(dir_),
        default_(pki_.server("default", "default", {"localhost"}, 10 * 86400)),
        example_(pki_.server("example", "example", {"broker.example.com"}, 10 * 86400)),
        devices_(pki_.server("devices", "devices", {"*.devices.example.com"}, 2 * 86400)) {}
  ~TlsSniTest() override { fs::remove_all(dir_); }

  // The default certificate plus two entries: an exact name and a wildcard.
  TlsSettings settings(bool strict = false) {
    TlsSettings s;
    s.cert = default_.cert;
    s.key = default_.key;
    s.sni.push_back({{"broker.example.com"}, example_.cert, example_.key, ""});
    s.sni.push_back({{"*.devices.example.com"}, devices_.cert, devices_.key, ""});
    s.sniStrict = strict;
    return s;
  }

  std::shared_ptr<const TlsContext> server(const TlsSettings& s) {
    auto ctx = TlsContext::create(s, "secure");
    EXPECT_TRUE(ctx) << (ctx ? "" : ctx.error().message);
    return ctx ? *ctx : nullptr;
  }

  // A client that trusts the test CA and asks for `name`. With `checkName` it also checks the
  // certificate is for that name; without, any certificate from the CA will do, so a test can
  // see which one was served.
  std::shared_ptr<const TlsContext> client(bool checkName) {
    TlsClientSettings cs;
    cs.caFile = pki_.ca().cert;
    cs.insecure = !checkName;
    auto ctx = TlsContext::createClient(cs);
    EXPECT_TRUE(ctx) << (ctx ? "" : ctx.error().message);
    return *ctx;
  }

  // The CN of the certificate a client asking for `name` is given ("" when refused), and the
  // server's error when the handshake fails.
  std::string servedFor(const std::shared_ptr<const TlsContext>& ctx, const std::string& name,
                        std::optional<std::string>* error = nullptr, bool checkName = false) {
    TlsEngine server(ctx), c(client(checkName), name);
    auto failure = runHandshake(c, server);
    if (error) *error = failure;
    return failure ? "" : c.facts().peer().commonName;
  }

  fs::path dir_;
  TestPki pki_;
  const TestPki::Cert& default_;
  const TestPki::Cert& example_;
  const TestPki::Cert& devices_;
};

TEST_F(TlsSniTest, ExactNameGetsItsEntrysCertificateWhichTheClientAccepts) {
  auto ctx = server(settings());
  std::optional<std::string> error;
  EXPECT_EQ(servedFor(ctx, "broker.example.com", &error, /*checkName=*/true), "example");
  EXPECT_EQ(error, std::nullopt);
}

TEST_F(TlsSniTest, NamesMatchWhateverTheirCase) {
  auto ctx = server(settings());
  EXPECT_EQ(servedFor(ctx, "Broker.EXAMPLE.com"), "example");
  EXPECT_EQ(servedFor(ctx, "Sensor-7.Devices.Example.Com"), "devices");
}

TEST_F(TlsSniTest, WildcardCoversExactlyOneLabel) {
  auto ctx = server(settings());
  EXPECT_EQ(servedFor(ctx, "sensor-7.devices.example.com", nullptr, /*checkName=*/true), "devices");
  EXPECT_EQ(servedFor(ctx, "devices.example.com"), "default");
  EXPECT_EQ(servedFor(ctx, "a.b.devices.example.com"), "default");
}

TEST_F(TlsSniTest, ExactNameWinsOverAWildcardThatAlsoCoversIt) {
  TlsSettings s = settings();
  s.sni[0].names = {"special.devices.example.com"};
  auto ctx = server(s);
  EXPECT_EQ(servedFor(ctx, "special.devices.example.com"), "example");
  EXPECT_EQ(servedFor(ctx, "other.devices.example.com"), "devices");
}

TEST_F(TlsSniTest, NoSniOrAnUnknownNameGetsTheDefaultCertificate) {
  auto ctx = server(settings());
  EXPECT_EQ(servedFor(ctx, ""), "default");
  EXPECT_EQ(servedFor(ctx, "127.0.0.1"), "default");  // an address is never sent as SNI
  EXPECT_EQ(servedFor(ctx, "elsewhere.example.org"), "default");
  EXPECT_EQ(servedFor(ctx, "localhost", nullptr, /*checkName=*/true), "default");
}

TEST_F(TlsSniTest, StrictRefusesAnUnknownNameAndSaysWhich) {
  auto ctx = server(settings(/*strict=*/true));
  TlsEngine server(ctx), c(client(false), "elsewhere.example.org");
  auto error = runHandshake(c, server);
  ASSERT_TRUE(error);
  EXPECT_EQ(*error, "no certificate for server name \"elsewhere.example.org\"");
  EXPECT_EQ(server.serverName(), "elsewhere.example.org");
  // The client hears an unrecognized_name alert.
  std::string toClient, app, ignored;
  TlsEngine server2(ctx), c2(client(false), "elsewhere.example.org");
  std::string hello;
  c2.start(hello);
  EXPECT_FALSE(server2.receive(hello, app, toClient));
  auto seen = c2.receive(toClient, app, ignored);
  ASSERT_FALSE(seen);
  EXPECT_NE(seen.error().message.find("unrecognized name"), std::string::npos)
      << seen.error().message;
}

TEST_F(TlsSniTest, StrictStillServesNamesOfEntriesOfTheDefaultCertificateAndClientsWithoutSni) {
  auto ctx = server(settings(/*strict=*/true));
  EXPECT_EQ(servedFor(ctx, "broker.example.com"), "example");
  EXPECT_EQ(servedFor(ctx, "x.devices.example.com"), "devices");
  EXPECT_EQ(servedFor(ctx, "localhost"), "default");  // the default certificate is for it
  EXPECT_EQ(servedFor(ctx, ""), "default");
}

TEST_F(TlsSniTest, StrictWithoutEntriesServesOnlyTheDefaultCertificatesNames) {
  TlsSettings s;
  s.cert = default_.cert;
  s.key = default_.key;
  s.sniStrict = true;
  auto ctx = server(s);
  EXPECT_EQ(servedFor(ctx, "LOCALHOST"), "default");
  std::optional<std::string> error;
  EXPECT_EQ(servedFor(ctx, "broker.example.com", &error), "");
  EXPECT_EQ(error, "no certificate for server name \"broker.example.com\"");
}

TEST_F(TlsSniTest, ClientCertificatesAreCheckedWhicheverCertificateIsServed) {
  TlsSettings s = settings();
  s.ca = pki_.ca().cert;
  s.clientCert = ClientCertMode::Require;
  auto ctx = server(s);
  TlsEngine server(ctx), c(client(false), "broker.example.com");
  EXPECT_EQ(runHandshake(c, server), "no client certificate");

  const auto& rogue = pki_.selfSigned("rogue", "rogue");
  TlsClientSettings cs;
  cs.caFile = pki_.ca().cert;
  cs.cert = rogue.cert;
  cs.key = rogue.key;
  TlsEngine server2(ctx), c2(*TlsContext::createClient(cs), "broker.example.com");
  auto error = runHandshake(c2, server2);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("unknown CA"), std::string::npos) << *error;

  const auto& device = pki_.server("device", "device", {});
  cs.cert = device.cert;
  cs.key = device.key;
  TlsEngine server3(ctx), c3(*TlsContext::createClient(cs), "broker.example.com");
  EXPECT_EQ(runHandshake(c3, server3), std::nullopt);
  EXPECT_EQ(server3.facts().peer().commonName, "device");
  EXPECT_EQ(c3.facts().peer().commonName, "example");
}

TEST_F(TlsSniTest, SecondsToExpiryIsTheSoonestOfAllCertificates) {
  auto ctx = server(settings());
  // The wildcard certificate runs out in 2 days, the others in 10.
  EXPECT_GT(ctx->secondsToExpiry(), 2 * 86400 - 600);
  EXPECT_LE(ctx->secondsToExpiry(), 2 * 86400);
  TlsSettings alone;
  alone.cert = default_.cert;
  alone.key = default_.key;
  EXPECT_GT(server(alone)->secondsToExpiry(), 9 * 86400);
}

TEST_F(TlsSniTest, ReportsAndFilesCoverEveryCertificate) {
  auto ctx = server(settings());
  const std::string& summary = ctx->certificateSummary();
  EXPECT_EQ(summary.find("/CN=default (expires in "), 0u) << summary;
  EXPECT_NE(summary.find("; for broker.example.com: /CN=example (expires in "), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("; for *.devices.example.com: /CN=devices (expires in "),
            std::string::npos)
      << summary;
  EXPECT_NE(ctx->certificateDetails().find("for broker.example.com: certificate /CN=example "
                                           "serial "),
            std::string::npos)
      << ctx->certificateDetails();
  EXPECT_EQ(ctx->files(), (std::vector<std::string>{default_.cert, default_.key, example_.cert,
                                                    example_.key, devices_.cert, devices_.key}));
}

TEST_F(TlsSniTest, AnEntrysKeyOfAnotherCertificateFailsTheWholeContextNamingTheEntry) {
  TlsSettings s = settings();
  s.sni[1].key = example_.key;
  auto ctx = TlsContext::create(s, "secure");
  ASSERT_FALSE(ctx);
  const std::string& why = ctx.error().message;
  EXPECT_NE(why.find("listener \"secure\": tls.sni[\"*.devices.example.com\"].key \"" +
                     example_.key.string() + "\" does not match"),
            std::string::npos)
      << why;
}

TEST_F(TlsSniTest, AnEntrysMissingOrExpiredCertificateIsNamed) {
  TlsSettings s = settings();
  s.sni[0].cert = dir_ / "absent.crt";
  auto missing = TlsContext::create(s, "secure");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("tls.sni[\"broker.example.com\"].cert \"" +
                                         (dir_ / "absent.crt").string() + "\""),
            std::string::npos)
      << missing.error().message;

  const auto& old = pki_.server("old", "old", {"broker.example.com"}, -60);
  s = settings();
  s.sni[0].cert = old.cert;
  s.sni[0].key = old.key;
  auto expired = TlsContext::create(s, "secure");
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().message.find("tls.sni[\"broker.example.com\"].cert \"" +
                                         old.cert.string() + "\" has expired"),
            std::string::npos)
      << expired.error().message;
}

TEST_F(TlsSniTest, ACertificateFileWhoseChainIsOutOfOrderIsRefused) {
  const auto& other = pki_.server("unrelated", "unrelated", {"broker.example.com"});
  // The example certificate followed by a certificate that did not issue it.
  fs::path broken = dir_ / "broken.crt";
  {
    std::ifstream leaf(example_.cert), wrong(other.cert);
    std::string a((std::istreambuf_iterator<char>(leaf)), {});
    std::string b((std::istreambuf_iterator<char>(wrong)), {});
    std::ofstream(broken) << a.substr(0, a.find("-----END CERTIFICATE-----") + 26) << b;
  }
  TlsSettings s = settings();
  s.sni[0].cert = broken;
  auto ctx = TlsContext::create(s, "secure");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("the chain is broken: /CN=unrelated did not issue "
                                     "/CN=example"),
            std::string::npos)
      << ctx.error().message;
}

// -- names ------------------------------------------------------------------------------------

TEST(ServerName, NamesAreStoredInLowerCase) {
  EXPECT_EQ(normalizeServerName("Broker.Example.COM"), "broker.example.com");
  EXPECT_EQ(normalizeServerName("*.Devices.example.com"), "*.devices.example.com");
  EXPECT_EQ(normalizeServerName("mqtt_1.example-site.net"), "mqtt_1.example-site.net");
}

TEST(ServerName, MalformedNamesAreRefusedWithTheReason) {
  auto why = [](std::string_view name) {
    auto r = normalizeServerName(name);
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_NE(why("").find("empty"), std::string::npos);
  EXPECT_NE(why("broker example.com").find("space"), std::string::npos);
  EXPECT_NE(why("*").find("whole first label"), std::string::npos);
  EXPECT_NE(why("*example.com").find("whole first label"), std::string::npos);
  EXPECT_NE(why("a.*.example.com").find("whole first label"), std::string::npos);
  EXPECT_NE(why("*.*.example.com").find("whole first label"), std::string::npos);
  EXPECT_NE(why("broker..example.com").find("empty label"), std::string::npos);
  EXPECT_NE(why(".example.com").find("empty label"), std::string::npos);
  EXPECT_NE(why("broker/1").find("'/' is not allowed"), std::string::npos);
  EXPECT_NE(why("10.0.0.1").find("IP address"), std::string::npos);
  EXPECT_NE(why(std::string(64, 'a') + ".com").find("63"), std::string::npos);
}

TEST(ServerName, WildcardMatchesOneLabelAndExactNamesMatchOnlyThemselves) {
  EXPECT_TRUE(serverNameMatches("*.example.com", "a.example.com"));
  EXPECT_TRUE(serverNameMatches("*.example.com", "A.EXAMPLE.com"));
  EXPECT_FALSE(serverNameMatches("*.example.com", "example.com"));
  EXPECT_FALSE(serverNameMatches("*.example.com", ".example.com"));
  EXPECT_FALSE(serverNameMatches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(serverNameMatches("*.example.com", "aexample.com"));
  EXPECT_TRUE(serverNameMatches("broker.example.com", "BROKER.example.com"));
  EXPECT_FALSE(serverNameMatches("broker.example.com", "broker.example.co"));
  EXPECT_FALSE(serverNameMatches("broker.example.com", "x.broker.example.com"));
}

}  // namespace
}  // namespace moat::net
