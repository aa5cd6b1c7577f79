#include "config/config.h"

#include <gtest/gtest.h>

namespace moat::config {
namespace {

const std::string kListener = "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n";

// `text` (named m.toml) is refused with an error that contains `needle`.
void expectError(const std::string& text, std::string_view needle) {
  auto cfg = parse(text, "m.toml");
  ASSERT_FALSE(cfg) << text;
  EXPECT_NE(cfg.error().message.find(needle), std::string::npos) << cfg.error().message;
}

TEST(Config, ParsesTheDocumentedShape) {
  auto cfg = parse(R"(
[broker]
data_dir = "var"
workers = 0

[[listener]]
name = "local"
bind = "127.0.0.1:1883"
transport = "tcp"
allow_anonymous = true
)",
                   "moat.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->broker.dataDir, "var");
  EXPECT_EQ(cfg->broker.workers, 0u);
  ASSERT_EQ(cfg->listeners.size(), 1u);
  EXPECT_EQ(cfg->listeners[0].host, "127.0.0.1");
  EXPECT_EQ(cfg->listeners[0].port, 1883);
  EXPECT_TRUE(cfg->listeners[0].allowAnonymous);
}

TEST(Config, AnonymousIsOffUnlessSaid) {
  auto cfg = parse("[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:0\"\n", "x.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_FALSE(cfg->listeners[0].allowAnonymous);
}

TEST(Config, UnknownKeyNamesFileAndLine) {
  auto cfg =
      parse("[broker]\ndata_dir = \"v\"\nwrokers = 2\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
            "moat.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("moat.toml:3"), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("wrokers"), std::string::npos);
}

TEST(Config, UnknownKeyInsideListenerIsAnError) {
  auto cfg = parse("[[listener]]\nname=\"a\"\nbind=\"h:1\"\nport = 3\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("m.toml:4"), std::string::npos) << cfg.error().message;
}

TEST(Config, UnknownTopLevelTableIsAnError) {
  auto cfg = parse("[brokr]\nworkers = 1\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("m.toml:1"), std::string::npos) << cfg.error().message;
}

TEST(Config, WrongTypeIsAnError) {
  auto cfg =
      parse("[broker]\nworkers = \"two\"\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("m.toml:2"), std::string::npos) << cfg.error().message;
}

TEST(Config, OutOfRangeLimitIsAnError) {
  auto cfg =
      parse("[limits]\nmax_inflight = 0\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("max_inflight"), std::string::npos);
}

TEST(Config, PublisherWaitDefaultsToFiveSecondsAndZeroTurnsBackPressureOff) {
  const std::string listener = "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n";
  auto cfg = parse(listener, "m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->limits.publisherWait, 5u);
  cfg = parse("[limits]\npublisher_wait = 0\n" + listener, "m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->limits.publisherWait, 0u);
  expectError("[limits]\npublisher_wait = -1\n" + listener, "m.toml:2");
  expectError("[limits]\npublisher_wait = 3601\n" + listener, "publisher_wait");
}

TEST(Config, BadBindIsAnError) {
  EXPECT_FALSE(parse("[[listener]]\nname=\"a\"\nbind=\"127.0.0.1\"\n", "m.toml"));
  EXPECT_FALSE(parse("[[listener]]\nname=\"a\"\nbind=\"127.0.0.1:99999\"\n", "m.toml"));
}

TEST(Config, IpV6BindIsUnbracketed) {
  auto cfg = parse("[[listener]]\nname=\"a\"\nbind=\"[::1]:1883\"\n", "m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->listeners[0].host, "::1");
}

TEST(Config, DuplicateListenerNamesAreAnError) {
  auto cfg = parse(
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n[[listener]]\nname=\"a\"\nbind=\"h:2\"\n", "m.toml");
  ASSERT_FALSE(cfg);
}

TEST(Config, WebSocketListenerGetsDefaults) {
  auto cfg = parse("[[listener]]\nname=\"a\"\nbind=\"h:1\"\ntransport=\"ws\"\n", "m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_TRUE(cfg->listeners[0].websocket);
  EXPECT_EQ(cfg->listeners[0].transport, Transport::Ws);
  EXPECT_EQ(cfg->listeners[0].websocket->path, "/mqtt");
  EXPECT_TRUE(cfg->listeners[0].websocket->origins.empty());
}

TEST(Config, WebSocketSectionIsRead) {
  auto cfg = parse(
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\ntransport=\"wss\"\n"
      "[listener.tls]\ncert=\"c\"\nkey=\"k\"\n"
      "[listener.websocket]\npath=\"/ws\"\norigins=[\"https://app.example\"]\n"
      "trusted_proxies=[\"10.0.0.0/8\"]\nmax_frame_size=4096\n",
      "m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  const auto& ws = *cfg->listeners[0].websocket;
  EXPECT_EQ(cfg->listeners[0].transport, Transport::Wss);
  EXPECT_EQ(ws.path, "/ws");
  EXPECT_EQ(ws.origins, std::vector<std::string>{"https://app.example"});
  EXPECT_EQ(ws.trustedProxies, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_EQ(ws.maxFrameSize, 4096u);
}

TEST(Config, WebSocketMistakesAreNamed) {
  const std::string head = "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n";
  expectError(head + "transport=\"wss\"\n", "needs a [listener.tls]");
  expectError(head + "transport=\"ws\"\n[listener.tls]\ncert=\"c\"\nkey=\"k\"\n",
              "use transport = \"wss\"");
  expectError(head + "[listener.websocket]\npath=\"/x\"\n", "use transport = \"ws\"");
  expectError(head + "transport=\"ws\"\n[listener.websocket]\npath=\"mqtt\"\n", "m.toml:6");
  expectError(head + "transport=\"ws\"\n[listener.websocket]\ntrusted_proxies=[\"10.0.0.0/33\"]\n",
              "prefix length");
  expectError(head + "transport=\"ws\"\n[listener.websocket]\norigins=[\"app.example\"]\n",
              "not an origin");
  expectError(head + "transport=\"ws\"\n[listener.websocket]\nmax_frame_size=0\n",
              "between 16 and");
  expectError(head + "transport=\"ws\"\n[listener.websocket]\nporth=\"/x\"\n", "porth");
  expectError(head + "transport=\"quic\"\n", "one of tcp, tls, ws, wss");
}

TEST(Config, AuthChainAndPasswordFileAreRead) {
  auto cfg = parse(
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\nauth=[\"password\", \"anonymous\"]\n"
      "[auth.password]\nfile=\"passwd\"\n",
      "/etc/moat/m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->listeners[0].auth, (std::vector<std::string>{"password", "anonymous"}));
  ASSERT_TRUE(cfg->authPassword);
  EXPECT_EQ(cfg->authPassword->file, "/etc/moat/passwd");  // relative to the config file
}

TEST(Config, BruteForceSettingsAreRead) {
  auto cfg = parse(
      "[auth.brute_force]\nmax_failures=3\nban_time=0\nmax_delay_ms=50\n"
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
      "m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->bruteForce.maxFailures, 3u);
  EXPECT_EQ(cfg->bruteForce.banTime, 0u);
  EXPECT_EQ(cfg->bruteForce.maxDelayMs, 50u);
  EXPECT_EQ(cfg->bruteForce.window, 60u);  // default
  auto bad = parse("[auth.brute_force]\nmax_failures=0\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
                   "m.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("m.toml:2"), std::string::npos) << bad.error().message;
}

TEST(Config, AuthMistakesAreNamed) {
  const std::string head = "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n";
  expectError(head + "auth=[\"password\"]\n", "m.toml:4: listener \"a\": auth \"password\" needs");
  expectError(head + "auth=[\"jwt\"]\n", "auth \"jwt\" needs an [auth.jwt] table");
  expectError(head + "auth=[\"scram\"]\n", "auth \"scram\" needs an [auth.password] table");
  expectError(head + "auth=[\"ldap\"]\n", "methods are certificate, psk, password, jwt, scram");
  expectError(head + "client_id_must_equal=\"cn\"\n", "needs client certificates");
  expectError(head + "client_id_must_equal=\"user\"\n", "must be \"username\" or \"cn\"");
  expectError(head + "auth=[\"anonymous\"]\nallow_anonymous=true\n", "together");
  expectError("[auth.passwd]\nfile=\"p\"\n" + head, "unknown key 'auth.passwd'");
  expectError("[auth.password]\nfil=\"p\"\n" + head, "fil");
}

TEST(Config, JwtSettingsAreRead) {
  auto cfg = parse(
      "[auth.jwt]\njwks_file=\"jwks.json\"\nissuer=\"https://id.example\"\naudience=\"moat\"\n"
      "algorithms=[\"RS256\",\"ES256\"]\nleeway=5\nroles_claim=\"groups\"\n"
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\nauth=[\"jwt\"]\n",
      "/etc/moat/m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_TRUE(cfg->authJwt);
  EXPECT_EQ(cfg->authJwt->jwksFile, "/etc/moat/jwks.json");
  EXPECT_EQ(cfg->authJwt->algorithms, (std::vector<std::string>{"RS256", "ES256"}));
  EXPECT_EQ(cfg->authJwt->leeway, 5u);
  EXPECT_EQ(cfg->authJwt->rolesClaim, "groups");
  EXPECT_EQ(cfg->authJwt->usernameClaim, "sub");  // default
  EXPECT_TRUE(cfg->authJwt->disconnectAtExpiry);
}

TEST(Config, JwtMistakesAreNamed) {
  auto expectError = [](std::string text, std::string_view needle) {
    config::expectError(text + kListener, needle);
  };
  expectError("[auth.jwt]\nissuer=\"x\"\n", "exactly one of jwks_file, public_key, secret_file");
  expectError("[auth.jwt]\njwks_file=\"j\"\nsecret_file=\"s\"\n", "exactly one of");
  expectError("[auth.jwt]\nsecret_file=\"s\"\nalgorithms=[\"none\"]\n",
              "\"none\" is not one of HS256");
  expectError("[auth.jwt]\nsecret_file=\"s\"\nleeway=-1\n", "auth.jwt.leeway must be between");
}

TEST(Config, BanListIsRead) {
  auto cfg = parse(
      "[[auth.ban]]\naddress=\"203.0.113.0/24\"\nreason=\"scanner\"\n"
      "[[auth.ban]]\nusername=\"mallory\"\nuntil=2026-12-31T01:00:00+01:00\n"
      "[[auth.ban]]\nclient_id=\"stolen-7\"\n"
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
      "m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->bans.size(), 3u);
  EXPECT_EQ(cfg->bans[0].address, "203.0.113.0/24");
  EXPECT_EQ(cfg->bans[0].reason, "scanner");
  EXPECT_EQ(cfg->bans[0].until, 0);
  EXPECT_EQ(cfg->bans[1].username, "mallory");
  EXPECT_EQ(cfg->bans[1].until, 1798675200);  // 2026-12-31T00:00:00Z
  EXPECT_EQ(cfg->bans[2].clientId, "stolen-7");
}

TEST(Config, BanListMistakesAreNamed) {
  auto expectError = [](std::string text, std::string_view needle) {
    config::expectError(text + kListener, needle);
  };
  expectError("[[auth.ban]]\nreason=\"x\"\n", "m.toml:1: [[auth.ban]] needs exactly one of");
  expectError("[[auth.ban]]\nusername=\"a\"\nclient_id=\"b\"\n", "exactly one of");
  expectError("[[auth.ban]]\naddress=\"10.0.0.0/33\"\n", "auth.ban:");
  expectError("[[auth.ban]]\nusername=\"a\"\nuntil=2026-12-31T00:00:00\n", "with a zone");
  expectError("[[auth.ban]]\nusername=\"a\"\nuntil=\"tomorrow\"\n", "with a zone");
  expectError("[auth.ban]\nusername=\"a\"\n", "written [[auth.ban]]");
}

TEST(Config, AuthzAclFileIsRead) {
  auto cfg = parse(
      "[authz]\nacl_file=\"acl\"\ndisconnect_on_violation=true\n"
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
      "/etc/moat/m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_TRUE(cfg->authz);
  EXPECT_EQ(cfg->authz->aclFile, "/etc/moat/acl");
  EXPECT_TRUE(cfg->authz->disconnectOnViolation);
  auto none = parse("[authz]\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n", "m.toml");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("m.toml:1: [authz] needs acl_file or policy"),
            std::string::npos)
      << none.error().message;
}

TEST(Config, AuthzPolicyAndProvenanceAreRead) {
  auto cfg = parse(
      "[authz]\npolicy=\"policy.toml\"\n[provenance]\nproperty=\"publisher\"\n"
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
      "/etc/moat/m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->authz->policyFile, "/etc/moat/policy.toml");
  EXPECT_TRUE(cfg->authz->aclFile.empty());
  EXPECT_EQ(cfg->provenance.property, "publisher");
  expectError("[provenance]\nproperty=\"\"\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
              "provenance.property must be 1..128 characters");
}

TEST(Config, AuditFileIsRead) {
  auto cfg = parse("[audit]\nfile=\"audit.jsonl\"\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
                   "/etc/moat/m.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->audit.file, "/etc/moat/audit.jsonl");
  auto out = parse("[audit]\nfile=\"-\"\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n", "m.toml");
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->audit.file, "-");
}

TEST(Config, SyntaxErrorNamesLine) {
  auto cfg = parse("[broker]\nworkers = = 2\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("m.toml:2"), std::string::npos) << cfg.error().message;
}

TEST(Config, TlsListenerNeedsItsTable) {
  auto cfg = parse("[[listener]]\nname=\"s\"\nbind=\"h:1\"\ntransport=\"tls\"\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("[listener.tls]"), std::string::npos) << cfg.error().message;
}

TEST(Config, TlsTableBelongsToTheListenerBeforeIt) {
  auto cfg = parse(R"([[listener]]
name = "plain"
bind = "127.0.0.1:1883"
[[listener]]
name = "secure"
bind = "127.0.0.1:8883"
transport = "tls"
[listener.tls]
cert = "server.crt"
key = "/etc/moat/server.key"
ca = "ca.crt"
client_cert = "require"
crl = ["a.crl", "b.crl"]
identity = "cn"
identity_as = "both"
pin_spki = ["00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"]
)",
                   "/etc/moat/moat.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_FALSE(cfg->listeners[0].tls);
  const auto& tls = *cfg->listeners[1].tls;
  EXPECT_EQ(tls.cert, "/etc/moat/server.crt");  // relative to the configuration file
  EXPECT_EQ(tls.key, "/etc/moat/server.key");
  EXPECT_EQ(tls.crl, (std::vector<std::string>{"/etc/moat/a.crl", "/etc/moat/b.crl"}));
  EXPECT_EQ(tls.identityAs, "both");
  EXPECT_EQ(tls.pinSpki[0], "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
}

TEST(Config, OldTlsVersionsAndUnknownIdentityFieldsAreRefused) {
  const char* base =
      "[[listener]]\nname=\"s\"\nbind=\"h:1\"\ntransport=\"tls\"\n"
      "[listener.tls]\ncert=\"c\"\nkey=\"k\"\n";
  EXPECT_FALSE(parse(std::string(base) + "min_version=\"1.1\"\n", "m.toml"));
  EXPECT_FALSE(parse(std::string(base) + "identity=\"ou\"\n", "m.toml"));
  EXPECT_FALSE(parse(std::string(base) + "pin_spki=[\"abc\"]\n", "m.toml"));
  EXPECT_FALSE(parse(std::string(base) + "client_cert=\"require\"\n", "m.toml"));  // no ca
  EXPECT_TRUE(parse(std::string(base) + "min_version=\"1.3\"\n", "m.toml"));
}

TEST(Config, AdmissionListsAreCheckedCidrs) {
  auto ok = parse(
      "[[listener]]\nname=\"a\"\nbind=\"h:1\"\nallow=[\"10.0.0.0/8\", \"::1\"]\n"
      "deny=\"10.9.0.0/16\"\nmax_connection_rate=5\n",
      "m.toml");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->listeners[0].allow.size(), 2u);
  EXPECT_EQ(ok->listeners[0].deny.size(), 1u);
  EXPECT_EQ(ok->listeners[0].maxConnectionRate, 5.0);
  auto bad = parse("[[listener]]\nname=\"a\"\nbind=\"h:1\"\nallow=[\"10.0.0.0/40\"]\n", "m.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("m.toml:4"), std::string::npos) << bad.error().message;
}

TEST(Config, SniEntriesAndOcspResponsesAreReadWithPathsBesideTheConfig) {
  auto cfg = parse(R"([[listener]]
name = "secure"
bind = "0.0.0.0:8883"
transport = "tls"
[listener.tls]
cert = "default.crt"
key = "default.key"
ocsp_response = "default.ocsp.der"
sni_strict = true
[[listener.tls.sni]]
names = ["Broker.Example.com", "*.devices.example.com"]
cert = "example.crt"
key = "/keys/example.key"
ocsp_response = "example.ocsp.der"
[[listener.tls.sni]]
names = "other.example.net"
cert = "other.crt"
key = "other.key"
)",
                   "/etc/moat/moat.toml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  const auto& tls = *cfg->listeners[0].tls;
  EXPECT_TRUE(tls.sniStrict);
  EXPECT_EQ(tls.ocspResponse, "/etc/moat/default.ocsp.der");
  ASSERT_EQ(tls.sni.size(), 2u);
  EXPECT_EQ(tls.sni[0].names,
            (std::vector<std::string>{"broker.example.com", "*.devices.example.com"}));
  EXPECT_EQ(tls.sni[0].cert, "/etc/moat/example.crt");
  EXPECT_EQ(tls.sni[0].key, "/keys/example.key");
  EXPECT_EQ(tls.sni[0].ocspResponse, "/etc/moat/example.ocsp.der");
  EXPECT_EQ(tls.sni[1].names, std::vector<std::string>{"other.example.net"});
  EXPECT_EQ(tls.sni[1].ocspResponse, "");
}

TEST(Config, SniMistakesNameFileAndLine) {
  const std::string head =
      "[[listener]]\nname=\"s\"\nbind=\"h:1\"\ntransport=\"tls\"\n"
      "[listener.tls]\ncert=\"c\"\nkey=\"k\"\n[[listener.tls.sni]]\n";  // the entry: line 8
  const std::string files = "cert=\"e.crt\"\nkey=\"e.key\"\n";
  expectError(head + files, "m.toml:8: listener.tls.sni entry without names");
  expectError(head + "names=[\"a.example\"]\nkey=\"e.key\"\n", "entry without cert");
  expectError(head + "names=[\"a.example\"]\ncert=\"e.crt\"\n", "entry without key");
  expectError(head + "names=[]\n" + files, "m.toml:9: listener.tls.sni.names must list");
  expectError(head + "names=[\"a example\"]\n" + files,
              "m.toml:9: listener.tls.sni.names: \"a example\" is not a server name: it contains "
              "a space");
  expectError(head + "names=[\"a.*.example\"]\n" + files, "whole first label");
  expectError(head + "names=[\"*\"]\n" + files, "whole first label");
  expectError(head + "names=[\"a.example\", \"A.example\"]\n" + files,
              "\"a.example\" is listed twice");
  expectError(head + "names=[\"a.example\"]\n" + files + "[[listener.tls.sni]]\n" +
                  "names=[\"b.example\", \"A.Example\"]\n" + files,
              "m.toml:13: listener.tls.sni.names: \"a.example\" is already in another entry");
  expectError(head + "names=[\"a.example\"]\n" + files + "colour=\"blue\"\n",
              "unknown key 'colour' in [listener.tls.sni]");
  expectError(head + "names=[\"a.example\"]\ncert=\"\"\nkey=\"e.key\"\n",
              "m.toml:10: listener.tls.sni.cert must not be empty");
  expectError(
      "[[listener]]\nname=\"s\"\nbind=\"h:1\"\ntransport=\"tls\"\n[listener.tls]\n"
      "psk_file=\"p\"\nocsp_response=\"r.der\"\n",
      "m.toml:7: listener \"s\": listener.tls.ocsp_response needs cert and key");
  expectError(
      "[[listener]]\nname=\"s\"\nbind=\"h:1\"\ntransport=\"tls\"\n[listener.tls]\n"
      "psk_file=\"p\"\nsni_strict=true\n",
      "m.toml:7: listener \"s\": listener.tls.sni_strict needs cert and key");
  EXPECT_TRUE(
      parse("[[listener]]\nname=\"s\"\nbind=\"h:1\"\ntransport=\"tls\"\n[listener.tls]\n"
            "psk_file=\"p\"\nsni_strict=false\n",
            "m.toml"));
  expectError(
      "[[listener]]\nname=\"s\"\nbind=\"h:1\"\ntransport=\"tls\"\n[listener.tls]\n"
      "cert=\"c\"\nkey=\"k\"\nsni=\"x\"\n",
      "is written [[listener.tls.sni]]");
}

TEST(Config, AListenerIsRequired) { EXPECT_FALSE(parse("[broker]\nworkers = 1\n", "m.toml")); }

}  // namespace
}  // namespace moat::config
