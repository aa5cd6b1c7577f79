#include "broker/password_checker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

namespace moat::broker {
namespace {

namespace fs = std::filesystem;

std::string line(const std::string& user, const std::string& password) {
  security::HashOptions options;
  options.scheme = security::HashScheme::Pbkdf2Sha512;
  options.pbkdf2Iterations = 1000;  // the test is about the cache, not the hash's cost
  return user + ":" + security::PasswordHash::create(password, options)->encoded() + "\n";
}

class PasswordCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One file per test and process: ctest runs the tests of this binary in parallel.
    path_ = fs::path(::testing::TempDir()) /
            ("checker_passwd_" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
             std::to_string(::getpid()));
    bob_ = line("bob", "other");
    write(line("alice", "right") + bob_);
    config::PasswordAuthSection settings;
    settings.file = path_.string();
    auto checker = PasswordChecker::create(settings);
    ASSERT_TRUE(checker) << checker.error().message;
    checker_ = std::move(*checker);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  void write(const std::string& text) { std::ofstream(path_) << text; }

  security::VerifyResult check(const std::string& user, const std::string& password) {
    std::promise<security::VerifyResult> answer;
    checker_->check(user, security::SecretString(password), io_.get_executor(),
                    [&](security::VerifyResult r) { answer.set_value(r); });
    auto future = answer.get_future();
    // The answer is posted to this io_context: run it until it comes, 5 s at most (the work
    // guard keeps run_for() waiting while the pool computes).
    auto guard = boost::asio::make_work_guard(io_);
    for (int i = 0;
         i < 500 && future.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready;
         ++i) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(future.wait_for(std::chrono::milliseconds(0)), std::future_status::ready);
    return future.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready
               ? future.get()
               : security::VerifyResult::UnknownUser;
  }

  fs::path path_;
  std::string bob_;  // bob's line, kept as it is across rewrites
  boost::asio::io_context io_;
  std::unique_ptr<PasswordChecker> checker_;
};

TEST_F(PasswordCheckerTest, ASuccessIsAnsweredFromTheCacheNextTime) {
  EXPECT_EQ(check("alice", "right"), security::VerifyResult::Ok);
  EXPECT_EQ(checker_->cacheHits(), 0u);
  EXPECT_EQ(check("alice", "right"), security::VerifyResult::Ok);
  EXPECT_EQ(checker_->cacheHits(), 1u);
}

TEST_F(PasswordCheckerTest, FailuresAndOtherPasswordsAreNotCached) {
  EXPECT_EQ(check("alice", "right"), security::VerifyResult::Ok);
  EXPECT_EQ(check("alice", "wrong"), security::VerifyResult::WrongPassword);
  EXPECT_EQ(check("alice", "wrong"), security::VerifyResult::WrongPassword);
  // ("alic", "eright") is not ("alice", "right").
  EXPECT_EQ(check("alic", "eright"), security::VerifyResult::UnknownUser);
  EXPECT_EQ(checker_->cacheHits(), 0u);
}

TEST_F(PasswordCheckerTest, AReloadForgetsTheCache) {
  EXPECT_EQ(check("alice", "right"), security::VerifyResult::Ok);
  write(line("alice", "changed") + bob_);
  auto gone = checker_->reload();
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(*gone, std::vector<std::string>{"alice"});
  EXPECT_EQ(check("alice", "right"), security::VerifyResult::WrongPassword);
  EXPECT_EQ(checker_->cacheHits(), 0u);
}

}  // namespace
}  // namespace moat::broker
