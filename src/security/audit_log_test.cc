#include "security/audit_log.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace moat::security {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::vector<boost::json::object> readLines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<boost::json::object> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(boost::json::parse(line).as_object());
  return out;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / fmt::format("moat-audit-{}", ::getpid());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

TEST(AuditLog, TimeIsRfc3339InUtcWithMilliseconds) {
  auto t = std::chrono::system_clock::time_point{} + 1798675200s + 1234ms;
  EXPECT_EQ(rfc3339(t), "2026-12-31T00:00:01.234Z");
}

TEST(AuditLog, AConnectionEventIsOneJsonLineWithItsFacts) {
  TempDir dir;
  auto log = AuditLog::open((dir.path / "audit.jsonl").string());
  ASSERT_TRUE(log) << log.error().message;
  ConnectionEvent e;
  e.time = std::chrono::system_clock::now();
  e.listener = "secure";
  e.transport = "tls";
  e.remoteAddress = "127.0.0.1";
  e.remotePort = 40000;
  e.clientId = "meter-7";
  e.username = "alice";
  e.method = "password";
  e.stage = "authentication";
  e.reasonCode = 0x86;
  e.reason = "Bad user name or password";
  e.detail = "wrong password for user \"alice\"";
  e.protocol = "5.0";
  e.tlsVersion = "TLSv1.3";
  e.tlsCipher = "TLS_AES_256_GCM_SHA384";
  e.tokenKid = "k1";
  (*log)->write(e);
  e.accepted = true;
  e.reasonCode = 0;
  (*log)->write(e);
  auto lines = readLines(dir.path / "audit.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].at("outcome").as_string(), "refused");
  EXPECT_EQ(lines[0].at("reason_code").as_int64(), 0x86);
  EXPECT_EQ(lines[0].at("remote_port").as_int64(), 40000);
  EXPECT_EQ(lines[0].at("tls").as_object().at("version").as_string(), "TLSv1.3");
  EXPECT_EQ(lines[0].at("token").as_object().at("kid").as_string(), "k1");
  EXPECT_FALSE(lines[0].contains("proxy"));
  EXPECT_EQ(lines[1].at("outcome").as_string(), "accepted");
  EXPECT_EQ(fs::status(dir.path / "audit.jsonl").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST(AuditLog, LinesOfManyThreadsNeverInterleave) {
  TempDir dir;
  auto log = AuditLog::open((dir.path / "a.jsonl").string());
  ASSERT_TRUE(log);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        boost::json::object o;
        o["thread"] = t;
        o["filler"] = std::string(300, static_cast<char>('a' + t));
        (*log)->write(o);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(readLines(dir.path / "a.jsonl").size(), 2000u);  // each line parses on its own
}

TEST(AuditLog, ReopenStartsANewFileAfterRotation) {
  TempDir dir;
  auto log = AuditLog::open((dir.path / "a.jsonl").string());
  ASSERT_TRUE(log);
  (*log)->write(boost::json::object{{"n", 1}});
  fs::rename(dir.path / "a.jsonl", dir.path / "a.jsonl.1");
  ASSERT_TRUE((*log)->reopen());
  (*log)->write(boost::json::object{{"n", 2}});
  EXPECT_EQ(readLines(dir.path / "a.jsonl.1").size(), 1u);
  ASSERT_EQ(readLines(dir.path / "a.jsonl").size(), 1u);
  EXPECT_EQ(readLines(dir.path / "a.jsonl")[0].at("n").as_int64(), 2);
}

TEST(AuditLog, AnUnwritableTargetIsAClearError) {
  auto log = AuditLog::open("/nonexistent-dir/audit.jsonl");
  ASSERT_FALSE(log);
  EXPECT_NE(log.error().message.find("audit file /nonexistent-dir/audit.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace moat::security
