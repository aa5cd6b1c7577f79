#include "base/log.h"

#include <gtest/gtest.h>

namespace moat::log {
namespace {

// Puts the level back for the tests that follow, whatever happened.
class Log : public ::testing::Test {
 protected:
  ~Log() override { setLevel(Level::Info); }
};

// enabled() reads a copy of the level: it must follow every setLevel, as spdlog's does.
TEST_F(Log, EnabledFollowsSetLevel) {
  setLevel(Level::Warn);
  EXPECT_FALSE(enabled(Level::Info));
  EXPECT_TRUE(enabled(Level::Warn));
  EXPECT_TRUE(enabled(Level::Error));
  EXPECT_EQ(enabled(Level::Info), spdlog::should_log(spdlog::level::info));

  setLevel(Level::Trace);
  EXPECT_TRUE(enabled(Level::Trace));
  EXPECT_EQ(enabled(Level::Trace), spdlog::should_log(spdlog::level::trace));

  setLevel(Level::Off);
  EXPECT_FALSE(enabled(Level::Error));

  setLevel(Level::Info);
  EXPECT_FALSE(enabled(Level::Debug));
  EXPECT_TRUE(enabled(Level::Info));
}

TEST_F(Log, ParseLevel) {
  Level l = Level::Info;
  EXPECT_TRUE(parseLevel("debug", l));
  EXPECT_EQ(l, Level::Debug);
  EXPECT_FALSE(parseLevel("verbose", l));
  EXPECT_EQ(l, Level::Debug);
}

}  // namespace
}  // namespace moat::log
