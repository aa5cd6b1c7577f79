// The flags shared by `moat pub` and `moat sub`, parsed from argument lists as the commands do,
// and the connection options built from them. Nothing here connects anywhere.
#include "apps/moat/client_flags.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace moat::app {
namespace {

constexpr std::string_view kCommands[] = {"connect", "publish", "disconnect", "will"};

// Parses `args` (after the command name) into `flags`; the test fails on a parse error.
void parse(ClientFlags& flags, std::initializer_list<std::string> args) {
  CLI::App app{"test", "moat test"};
  addClientFlags(app, flags);
  std::vector<std::string> reversed(args);
  std::reverse(reversed.begin(), reversed.end());  // CLI11 takes them last first
  ASSERT_NO_THROW(app.parse(reversed));
}

Result<client::ConnectOptions> build(std::initializer_list<std::string> args) {
  ClientFlags flags;
  parse(flags, args);
  return buildConnectOptions(flags, kCommands);
}

std::string errorOf(std::initializer_list<std::string> args) {
  auto o = build(args);
  EXPECT_FALSE(o) << "expected an error";
  return o ? "" : o.error().message;
}

TEST(ClientFlags, PlainByDefaultOnPort1883) {
  auto o = build({});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->host, "localhost");
  EXPECT_EQ(o->port, 1883);
  EXPECT_FALSE(o->tls);
}

TEST(ClientFlags, PskTurnsTlsOnAndTheDefaultPortBecomes8883) {
  auto o = build({"--psk", "0badc0de", "--psk-identity", "dev1"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->port, 8883);
  ASSERT_TRUE(o->tls);
  ASSERT_TRUE(o->tls->context);
  EXPECT_TRUE(o->tls->context->isClient());
  EXPECT_EQ(o->tls->context->clientSettings().pskIdentity, "dev1");
}

TEST(ClientFlags, AnExplicitPortStaysWithTls) {
  auto o = build({"--psk", "0badc0de", "--psk-identity", "dev1", "-p", "18883"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->port, 18883);
}

TEST(ClientFlags, EachCertificateFlagTurnsTlsOn) {
  ClientFlags f;
  f.caFile = "ca.pem";
  auto s = tlsSettingsFrom(f, false);
  ASSERT_TRUE(s && *s);
  EXPECT_EQ((*s)->caFile, "ca.pem");

  ClientFlags p;
  p.caPath = "/etc/ssl/certs";
  s = tlsSettingsFrom(p, false);
  ASSERT_TRUE(s && *s);

  ClientFlags c;
  c.certFile = "c.pem";
  c.keyFile = "c.key";
  c.insecure = true;
  c.tlsVersion = "tlsv1.3";
  s = tlsSettingsFrom(c, false);
  ASSERT_TRUE(s && *s);
  EXPECT_EQ((*s)->cert, "c.pem");
  EXPECT_EQ((*s)->key, "c.key");
  EXPECT_TRUE((*s)->insecure);
  EXPECT_EQ((*s)->version, "tlsv1.3");
}

TEST(ClientFlags, MqttsUrlTurnsTlsOnWithoutOtherFlags) {
  ClientFlags f;
  auto s = tlsSettingsFrom(f, true);
  ASSERT_TRUE(s);
  EXPECT_TRUE(*s);
  s = tlsSettingsFrom(f, false);
  ASSERT_TRUE(s);
  EXPECT_FALSE(*s);
}

TEST(ClientFlags, WebSocketUrlsPickTheWebSocketPathAndTheirDefaultPorts) {
  auto ws = build({"-L", "ws://broker.example/meters/1"});
  ASSERT_TRUE(ws) << ws.error().message;
  EXPECT_EQ(ws->websocketPath, "/mqtt");
  EXPECT_EQ(ws->port, 80);
  EXPECT_FALSE(ws->tls);
  auto wss = build({"-L", "wss://broker.example:9443/meters/1", "--ws-path", "/broker"});
  ASSERT_TRUE(wss) << wss.error().message;
  EXPECT_EQ(wss->websocketPath, "/broker");
  EXPECT_EQ(wss->port, 9443);
  EXPECT_TRUE(wss->tls);
  auto plain = build({"-L", "mqtt://broker.example/meters/1"});
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->websocketPath);
}

TEST(ClientFlags, WsPathAloneMeansWebSocketToHostAndPort) {
  auto o = build({"-h", "127.0.0.1", "-p", "9001", "--ws-path", "/mqtt"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->websocketPath, "/mqtt");
  EXPECT_EQ(o->port, 9001);
  EXPECT_EQ(errorOf({"--ws-path", "mqtt"}),
            "--ws-path must start with '/' and have no spaces or control characters");
  EXPECT_NE(errorOf({"--ws-path", "/a b"}), "");
}

TEST(ClientFlags, KeyWithoutCertIsAnError) {
  EXPECT_EQ(errorOf({"--cafile", "ca.pem", "--key", "c.key"}), "--key needs --cert");
  EXPECT_EQ(errorOf({"--cafile", "ca.pem", "--cert", "c.pem"}), "--cert needs --key");
}

TEST(ClientFlags, PskNeedsItsIdentityAndTheOtherWayRound) {
  EXPECT_EQ(errorOf({"--psk", "0badc0de"}), "--psk needs --psk-identity");
  EXPECT_EQ(errorOf({"--psk-identity", "dev1"}), "--psk-identity needs --psk");
}

TEST(ClientFlags, PskAndCertificatesExcludeEachOther) {
  EXPECT_NE(errorOf({"--psk", "0badc0de", "--psk-identity", "d", "--cafile", "ca.pem"})
                .find("--psk cannot be used with --cafile"),
            std::string::npos);
}

TEST(ClientFlags, TlsOptionsWithoutTlsAreAnError) {
  EXPECT_NE(errorOf({"--insecure"}).find("--insecure needs TLS"), std::string::npos);
  EXPECT_NE(errorOf({"--tls-version", "tlsv1.3"}).find("--tls-version needs TLS"),
            std::string::npos);
  EXPECT_NE(errorOf({"--ciphers", "AES128-SHA"}).find("--ciphers needs TLS"), std::string::npos);
}

TEST(ClientFlags, BadPskOrVersionIsRefusedBeforeConnecting) {
  EXPECT_NE(errorOf({"--psk", "xyz", "--psk-identity", "d"}).find("hexadecimal"),
            std::string::npos);
  EXPECT_NE(errorOf({"--psk", "abc", "--psk-identity", "d"}).find("hexadecimal"),
            std::string::npos);
  EXPECT_NE(errorOf({"--psk", "0badc0de", "--psk-identity", "d", "--tls-version", "tlsv1.1"})
                .find("--tls-version must be tlsv1.2 or tlsv1.3"),
            std::string::npos);
}

TEST(ClientFlags, MissingCaFileIsNamed) {
  EXPECT_NE(errorOf({"--cafile", "/nonexistent/ca.pem"}).find("--cafile \"/nonexistent/ca.pem\""),
            std::string::npos);
}

TEST(ClientFlags, UrlSetsHostPortCredentialsAndTopic) {
  ClientFlags f;
  parse(f, {"-L", "mqtt://u:pw@example.net:1999/a/b"});
  auto o = buildConnectOptions(f, kCommands);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->host, "example.net");
  EXPECT_EQ(o->port, 1999);
  EXPECT_EQ(o->username, "u");
  EXPECT_EQ(o->password, "pw");
  EXPECT_FALSE(o->tls);
  EXPECT_EQ(f.urlTopic, "a/b");
}

TEST(ClientFlags, MqttsUrlWithPskDefaultsTo8883) {
  auto o = build({"-L", "mqtts://localhost/t", "--psk", "0badc0de", "--psk-identity", "d"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->port, 8883);
  EXPECT_TRUE(o->tls);
}

TEST(ClientFlags, UrlExcludesHostPortAndUserFlags) {
  EXPECT_EQ(errorOf({"-L", "mqtt://h/t", "-h", "other"}), "-L cannot be used with -h or -p");
  EXPECT_EQ(errorOf({"-L", "mqtt://h/t", "-p", "1884"}), "-L cannot be used with -h or -p");
  EXPECT_NE(errorOf({"-L", "mqtt://u@h/t", "-u", "v"}).find("cannot be used with -u"),
            std::string::npos);
}

TEST(ClientFlags, AuthMethodScramUsesTheCredentialsAndKeepsThePasswordOutOfConnect) {
  for (const char* method : {"SCRAM-SHA-256", "scram-sha-256"}) {
    SCOPED_TRACE(method);
    auto o = build({"-V", "mqttv5", "-u", "meter-7", "-P", "pw", "--auth-method", method});
    ASSERT_TRUE(o) << o.error().message;
    ASSERT_TRUE(o->authenticator);
    EXPECT_EQ(o->authenticator->method(), "SCRAM-SHA-256");
    EXPECT_EQ(o->username, "meter-7");
    EXPECT_FALSE(o->password);
    auto first = o->authenticator->initialData();
    ASSERT_TRUE(first && *first);
    EXPECT_TRUE((*first)->starts_with("n,,n=meter-7,r=")) << **first;
  }
  // The credentials of a -L URL serve as well.
  auto url = build({"-L", "mqtt://u:pw@h/t", "-V", "5", "--auth-method", "SCRAM-SHA-256"});
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_TRUE(url->authenticator);
  EXPECT_FALSE(url->password);
}

TEST(ClientFlags, WithoutAuthMethodThereIsNoAuthenticator) {
  auto o = build({"-V", "mqttv5", "-u", "u", "-P", "pw"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_FALSE(o->authenticator);
  EXPECT_EQ(o->password, "pw");
}

TEST(ClientFlags, AuthMethodNeedsMqtt5AndCredentialsAndAKnownName) {
  EXPECT_EQ(errorOf({"-u", "u", "-P", "pw", "--auth-method", "SCRAM-SHA-256"}),
            "--auth-method needs -V mqttv5");
  EXPECT_EQ(errorOf({"-V", "311", "-u", "u", "-P", "pw", "--auth-method", "SCRAM-SHA-256"}),
            "--auth-method needs -V mqttv5");
  const std::string needsCredentials =
      "--auth-method needs a user name and a password (-u and -P, or the -L URL's "
      "user:password)";
  EXPECT_EQ(errorOf({"-V", "5", "-u", "u", "--auth-method", "SCRAM-SHA-256"}), needsCredentials);
  EXPECT_EQ(errorOf({"-V", "5", "-P", "pw", "--auth-method", "SCRAM-SHA-256"}), needsCredentials);
  EXPECT_EQ(errorOf({"-V", "5", "-u", "u", "-P", "pw", "--auth-method", "PLAIN"}),
            "unknown authentication method 'PLAIN' (supported: SCRAM-SHA-256)");
  // An unknown name is reported first, whatever else is missing.
  EXPECT_EQ(errorOf({"--auth-method", "SCRAM-SHA-1"}),
            "unknown authentication method 'SCRAM-SHA-1' (supported: SCRAM-SHA-256)");
}

}  // namespace
}  // namespace moat::app
