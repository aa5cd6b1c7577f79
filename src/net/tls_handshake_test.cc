// Server and client TlsEngines talking through memory: handshakes, data both ways, and the
// reasons given when a handshake fails. Certificates and keys are made here, in a temporary
// directory, for each test run.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/memory_handshake.h"
#include "net/tls_context.h"
#include "net/tls_engine.h"

namespace moat::net {
namespace {

namespace fs = std::filesystem;

// A self-signed ECDSA P-256 certificate for "localhost" / 127.0.0.1, written as PEM files.
struct TestCert {
  fs::path cert;
  fs::path key;
};

TestCert makeCert(const fs::path& dir, const std::string& name, int days = 1) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(days) * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  X509_add_ext(x, san, -1);
  X509_EXTENSION_free(san);
  X509_EXTENSION* bc = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "CA:TRUE");
  X509_add_ext(x, bc, -1);
  X509_EXTENSION_free(bc);
  X509_sign(x, key, EVP_sha256());
  TestCert out{dir / (name + ".crt"), dir / (name + ".key")};
  FILE* f = std::fopen(out.cert.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(out.key.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

class TlsHandshakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("moat-tls-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    server_ = makeCert(dir_, "server");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::shared_ptr<const TlsContext> serverContext(TlsSettings s = {}) {
    if (s.cert.empty()) s.cert = server_.cert;
    if (s.key.empty()) s.key = server_.key;
    auto ctx = TlsContext::create(s, "test");
    EXPECT_TRUE(ctx) << (ctx ? "" : ctx.error().message);
    return ctx ? *ctx : nullptr;
  }

  std::shared_ptr<const TlsContext> clientContext(TlsClientSettings s = {}) {
    auto ctx = TlsContext::createClient(s);
    EXPECT_TRUE(ctx) << (ctx ? "" : ctx.error().message);
    return ctx ? *ctx : nullptr;
  }

  // A client context that trusts the server certificate.
  std::shared_ptr<const TlsContext> trustingClientContext() {
    TlsClientSettings cs;
    cs.caFile = server_.cert;
    return clientContext(cs);
  }

  // Runs the handshake by shuttling bytes; returns the server's error, if any.
  std::optional<std::string> handshake(TlsEngine& client, TlsEngine& server) {
    return testing::runHandshake(client, server);
  }

  fs::path dir_;
  TestCert server_;
};

TEST_F(TlsHandshakeTest, ClientTrustingTheServerCertificateCompletesAndExchangesData) {
  auto sctx = serverContext();
  auto cctx = trustingClientContext();
  TlsEngine server(sctx), client(cctx, "localhost");
  ASSERT_EQ(handshake(client, server), std::nullopt);
  EXPECT_TRUE(server.handshakeDone());
  EXPECT_EQ(server.facts().version, "TLSv1.3");
  EXPECT_EQ(server.facts().sni, "localhost");
  EXPECT_EQ(server.facts().alpn, "mqtt");
}

TEST_F(TlsHandshakeTest, ApplicationBytesArriveUnchangedInBothDirections) {
  auto sctx = serverContext();
  TlsEngine server(sctx), client(trustingClientContext(), "localhost");
  ASSERT_EQ(handshake(client, server), std::nullopt);
  std::string payload(100'000, 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  std::string wire;
  ASSERT_TRUE(client.send(payload, wire));
  std::string got, back;
  // Split the records anywhere: the engine must reassemble them.
  for (size_t at = 0; at < wire.size(); at += 999) {
    ASSERT_TRUE(server.receive(std::string_view(wire).substr(at, 999), got, back));
  }
  EXPECT_EQ(got, payload);
  std::string reply;
  ASSERT_TRUE(server.send("pong", reply));
  std::string clientGot, ignored;
  ASSERT_TRUE(client.receive(reply, clientGot, ignored));
  EXPECT_EQ(clientGot, "pong");
}

TEST_F(TlsHandshakeTest, HandshakeFedOneByteAtATimeCompletes) {
  TlsEngine server(serverContext()), client(trustingClientContext(), "localhost");
  std::string toServer, toClient, app;
  client.start(toServer);
  for (int round = 0; round < 10 && !(client.handshakeDone() && server.handshakeDone()); ++round) {
    for (char byte : toServer)
      ASSERT_TRUE(server.receive(std::string_view(&byte, 1), app, toClient));
    toServer.clear();
    for (char byte : toClient)
      ASSERT_TRUE(client.receive(std::string_view(&byte, 1), app, toServer));
    toClient.clear();
  }
  EXPECT_TRUE(client.handshakeDone());
  EXPECT_TRUE(server.handshakeDone());
  EXPECT_TRUE(app.empty());
}

TEST_F(TlsHandshakeTest, ApplicationBytesInTheSameReadAsTheClientFinishedAreKept) {
  TlsEngine server(serverContext()), client(trustingClientContext(), "localhost");
  std::string toServer, toClient, app;
  client.start(toServer);
  ASSERT_TRUE(server.receive(toServer, app, toClient));
  toServer.clear();
  ASSERT_TRUE(client.receive(toClient, app, toServer));  // the client's Finished
  ASSERT_TRUE(client.handshakeDone());
  ASSERT_FALSE(server.handshakeDone());
  ASSERT_TRUE(client.send("CONNECT", toServer));  // in the same read as the Finished
  std::string ignored;
  ASSERT_TRUE(server.receive(toServer, app, ignored));
  EXPECT_TRUE(server.handshakeDone());
  EXPECT_EQ(app, "CONNECT");
}

TEST_F(TlsHandshakeTest, CloseNotifyFromThePeerIsReportedAsAnOrderlyClose) {
  TlsEngine server(serverContext()), client(trustingClientContext(), "localhost");
  ASSERT_EQ(handshake(client, server), std::nullopt);
  std::string wire, app, back;
  ASSERT_TRUE(client.send("last words", wire));
  client.close(wire);
  auto r = server.receive(wire, app, back);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, 0x00);
  EXPECT_EQ(app, "last words");
  // Whatever comes after it is not read.
  auto again = server.receive("bytes after the close", app, back);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, 0x00);
  EXPECT_EQ(app, "last words");
}

TEST_F(TlsHandshakeTest, ClientWithoutTheCaRefusesTheServer) {
  auto sctx = serverContext();
  auto other = makeCert(dir_, "other");
  TlsClientSettings cs;
  cs.caFile = other.cert;
  TlsEngine server(sctx), client(clientContext(cs), "localhost");
  auto err = handshake(client, server);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("client: server certificate rejected"), std::string::npos) << *err;
}

TEST_F(TlsHandshakeTest, RequiredClientCertificateThatIsMissingIsNamed) {
  TlsSettings s;
  s.ca = server_.cert;
  s.clientCert = ClientCertMode::Require;
  auto sctx = serverContext(s);
  TlsEngine server(sctx), client(trustingClientContext(), "localhost");
  auto err = handshake(client, server);
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "no client certificate");
}

TEST_F(TlsHandshakeTest, ClientCertificateFromAnUnknownCaIsNamed) {
  TlsSettings s;
  s.ca = server_.cert;
  s.clientCert = ClientCertMode::Require;
  auto sctx = serverContext(s);
  auto rogue = makeCert(dir_, "rogue");
  TlsClientSettings cs;
  cs.caFile = server_.cert;
  cs.cert = rogue.cert;
  cs.key = rogue.key;
  TlsEngine server(sctx), client(clientContext(cs), "localhost");
  auto err = handshake(client, server);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("unknown CA"), std::string::npos) << *err;
}

TEST_F(TlsHandshakeTest, Tls12ClientIsRefusedByATls13OnlyListener) {
  TlsSettings s;
  s.minVersion = "1.3";
  auto sctx = serverContext(s);
  TlsClientSettings cs;
  cs.caFile = server_.cert;
  cs.version = "tlsv1.2";
  TlsEngine server(sctx), client(clientContext(cs), "localhost");
  auto err = handshake(client, server);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("protocol version"), std::string::npos) << *err;
}

TEST_F(TlsHandshakeTest, PlainMqttBytesAreNotMistakenForTls) {
  TlsEngine server(serverContext());
  std::string app, wire;
  auto r = server.receive(std::string("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14), app,
                          wire);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a TLS handshake"), std::string::npos)
      << r.error().message;
}

TEST_F(TlsHandshakeTest, PskHandshakeWorksWithTheRightKeyOnly) {
  fs::path psk = dir_ / "psk.txt";
  std::ofstream(psk) << "# devices\nmeter_001:00112233445566778899aabbccddeeff\n";
  TlsSettings s;
  s.cert.clear();
  s.pskFile = psk;
  TlsSettings pskOnly = s;
  auto ctx = TlsContext::create(pskOnly, "psk");
  ASSERT_TRUE(ctx) << ctx.error().message;

  TlsClientSettings good;
  good.pskIdentity = "meter_001";
  good.pskHex = "00112233445566778899aabbccddeeff";
  TlsEngine server(*ctx), client(clientContext(good), "");
  ASSERT_EQ(handshake(client, server), std::nullopt);
  EXPECT_EQ(server.facts().pskIdentity, "meter_001");

  TlsClientSettings wrong = good;
  wrong.pskHex = "00112233445566778899aabbccddee00";
  TlsEngine server2(*ctx), client2(clientContext(wrong), "");
  auto err = handshake(client2, server2);
  ASSERT_TRUE(err);
}

TEST_F(TlsHandshakeTest, KeyThatDoesNotMatchTheCertificateIsRefusedAtStart) {
  auto other = makeCert(dir_, "other");
  TlsSettings s;
  s.cert = server_.cert;
  s.key = other.key;
  auto ctx = TlsContext::create(s, "secure");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find("does not match"), std::string::npos)
      << ctx.error().message;
  EXPECT_NE(ctx.error().message.find("listener \"secure\""), std::string::npos);
}

TEST_F(TlsHandshakeTest, MalformedPskFileIsRefusedWithoutQuotingTheSecret) {
  fs::path psk = dir_ / "psk.txt";
  std::ofstream(psk) << "meter_001:zz-not-hex-secret\n";
  TlsSettings s;
  s.cert.clear();
  s.pskFile = psk;
  auto ctx = TlsContext::create(s, "psk");
  ASSERT_FALSE(ctx);
  EXPECT_NE(ctx.error().message.find(":1:"), std::string::npos) << ctx.error().message;
  EXPECT_EQ(ctx.error().message.find("not-hex-secret"), std::string::npos);
}

TEST_F(TlsHandshakeTest, ContextReportsItsCertificateAndFiles) {
  auto ctx = serverContext();
  ASSERT_TRUE(ctx);
  EXPECT_GT(ctx->secondsToExpiry(), 3600);
  EXPECT_LE(ctx->secondsToExpiry(), 86400);
  EXPECT_EQ(ctx->certificateSerial(), "01");
  EXPECT_EQ(ctx->files(), (std::vector<std::string>{server_.cert, server_.key}));
}

TEST_F(TlsHandshakeTest, ContextWithoutCrlsRevokesNothing) {
  auto ctx = serverContext();
  auto client = makeCert(dir_, "client");
  FILE* f = std::fopen(client.cert.c_str(), "r");
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  EXPECT_FALSE(ctx->revokes(x));
  X509_free(x);
}

}  // namespace
}  // namespace moat::net
