#include "broker/session_registry.h"

#include <gtest/gtest.h>

#include <string>

namespace moat::broker {
namespace {

TEST(SessionRegistry, TheFirstToClaimAnIdOwnsItUntilItReleasesIt) {
  SessionRegistry r;
  EXPECT_EQ(r.claim("meter-0001", 1), 1u);
  EXPECT_EQ(r.claim("meter-0001", 0), 1u);  // another worker is told the owner
  r.release("meter-0001", 0);               // not the owner: nothing happens
  EXPECT_EQ(r.claim("meter-0001", 0), 1u);
  r.release("meter-0001", 1);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.claim("meter-0001", 0), 0u);
}

TEST(SessionRegistry, IdsAreComparedWholeAndByteForByte) {
  SessionRegistry r;
  const std::string longId(300, 'x');  // longer than any inline string
  const std::string withNul("a\0b", 3);
  EXPECT_EQ(r.claim("", 2), 2u);
  EXPECT_EQ(r.claim(longId, 3), 3u);
  EXPECT_EQ(r.claim(withNul, 4), 4u);
  EXPECT_EQ(r.claim("a", 5), 5u);  // a prefix of another id is an id of its own
  EXPECT_EQ(r.claim(longId.substr(1), 6), 6u);
  EXPECT_EQ(r.size(), 5u);
  EXPECT_EQ(r.claim("", 0), 2u);
  EXPECT_EQ(r.claim(longId, 0), 3u);
  EXPECT_EQ(r.claim(withNul, 0), 4u);
}

TEST(SessionRegistry, EntriesSurviveTheTableGrowing) {
  SessionRegistry r;
  for (unsigned i = 0; i < 5000; ++i)
    EXPECT_EQ(r.claim("client-" + std::to_string(i), i % 7), i % 7);
  for (unsigned i = 0; i < 5000; ++i) EXPECT_EQ(r.claim("client-" + std::to_string(i), 99), i % 7);
  for (unsigned i = 0; i < 5000; i += 2) r.release("client-" + std::to_string(i), i % 7);
  EXPECT_EQ(r.size(), 2500u);
  EXPECT_EQ(r.claim("client-1", 99), 1u);
  EXPECT_EQ(r.claim("client-2", 99), 99u);
}

}  // namespace
}  // namespace moat::broker
