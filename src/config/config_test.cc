#include "config/config.h"

#include <gtest/gtest.h>

namespace moat::config {
namespace {

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
  auto cfg = parse("[broker]\ndata_dir = \"v\"\nwrokers = 2\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n",
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
  auto cfg = parse("[broker]\nworkers = \"two\"\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("m.toml:2"), std::string::npos) << cfg.error().message;
}

TEST(Config, OutOfRangeLimitIsAnError) {
  auto cfg = parse("[limits]\nmax_inflight = 0\n[[listener]]\nname=\"a\"\nbind=\"h:1\"\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("max_inflight"), std::string::npos);
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
  auto cfg = parse("[[listener]]\nname=\"a\"\nbind=\"h:1\"\n[[listener]]\nname=\"a\"\nbind=\"h:2\"\n",
                   "m.toml");
  ASSERT_FALSE(cfg);
}

TEST(Config, TransportsOfLaterVersionsAreRefusedClearly) {
  auto cfg = parse("[[listener]]\nname=\"a\"\nbind=\"h:1\"\ntransport=\"wss\"\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("not supported yet"), std::string::npos);
}

TEST(Config, SyntaxErrorNamesLine) {
  auto cfg = parse("[broker]\nworkers = = 2\n", "m.toml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("m.toml:2"), std::string::npos) << cfg.error().message;
}

TEST(Config, AListenerIsRequired) { EXPECT_FALSE(parse("[broker]\nworkers = 1\n", "m.toml")); }

}  // namespace
}  // namespace moat::config
