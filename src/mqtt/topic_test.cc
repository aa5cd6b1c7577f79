// Topic names and filters: UTF-8 rules, validation, shared-subscription syntax, matching.
#include "mqtt/topic.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace moat::mqtt {
namespace {

constexpr uint8_t kMalformed = 0x81;
constexpr uint8_t kTopicFilterInvalid = 0x8F;
constexpr uint8_t kTopicNameInvalid = 0x90;

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// ---- UTF-8 ----

TEST(Utf8, EveryScalarValueButNulIsValidAndEverySurrogateIsNot) {
  for (uint32_t cp = 1; cp <= 0x10FFFF; ++cp) {
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    // In the middle of ASCII text too, so the 8-byte fast path hands over correctly.
    const std::string s = "abcdefg" + utf8(cp) + "abcdefgh";
    ASSERT_EQ(isValidUtf8(s), !surrogate) << std::hex << cp;
  }
}

TEST(Utf8, NulIsInvalidAnywhere) {
  EXPECT_FALSE(isValidUtf8(std::string(1, '\0')));
  EXPECT_FALSE(isValidUtf8(std::string("abcdefgh\0ijklmnop", 17)));
  EXPECT_FALSE(isValidUtf8(std::string("abc\0", 4)));
}

TEST(Utf8, EmptyAndAsciiAreValid) {
  EXPECT_TRUE(isValidUtf8(""));
  EXPECT_TRUE(isValidUtf8("sensors/building-1/floor-2/temperature"));
}

TEST(Utf8, OverlongFormsAreInvalid) {
  EXPECT_FALSE(isValidUtf8("\xC0\x80"));          // U+0000 in two bytes
  EXPECT_FALSE(isValidUtf8("\xC1\xBF"));          // U+007F in two bytes
  EXPECT_FALSE(isValidUtf8("\xE0\x80\x80"));      // U+0000 in three bytes
  EXPECT_FALSE(isValidUtf8("\xE0\x9F\xBF"));      // U+07FF in three bytes
  EXPECT_FALSE(isValidUtf8("\xF0\x80\x80\x80"));  // U+0000 in four bytes
  EXPECT_FALSE(isValidUtf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in four bytes
}

TEST(Utf8, CodePointsAboveU10FFFFAreInvalid) {
  EXPECT_FALSE(isValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(isValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(isValidUtf8("\xF8\x88\x80\x80\x80"));
  EXPECT_FALSE(isValidUtf8("\xFF"));
  EXPECT_TRUE(isValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8, SurrogatesAreInvalid) {
  EXPECT_FALSE(isValidUtf8("\xED\xA0\x80"));  // U+D800
  EXPECT_FALSE(isValidUtf8("\xED\xBF\xBF"));  // U+DFFF
  EXPECT_TRUE(isValidUtf8("\xED\x9F\xBF"));   // U+D7FF
  EXPECT_TRUE(isValidUtf8("\xEE\x80\x80"));   // U+E000
}

TEST(Utf8, TruncatedAndStraySequencesAreInvalid) {
  EXPECT_FALSE(isValidUtf8("\xC3"));
  EXPECT_FALSE(isValidUtf8("\xE2\x82"));
  EXPECT_FALSE(isValidUtf8("\xF0\x9F\x98"));
  EXPECT_FALSE(isValidUtf8("\x80"));
  EXPECT_FALSE(isValidUtf8("a\xBFz"));
  EXPECT_FALSE(isValidUtf8("\xC3\x28"));  // second byte not a continuation
  EXPECT_FALSE(isValidUtf8("\xE2\x28\xA1"));
  EXPECT_FALSE(isValidUtf8("\xF0\x9F\x28\x80"));
  EXPECT_FALSE(isValidUtf8("\xF0\x9F\x98\x28"));
}

TEST(Utf8, ByteOrderMarkAndNonCharactersAreValid) {
  // [MQTT-1.5.4-3] U+FEFF is a character like any other; non-characters are only a SHOULD NOT.
  EXPECT_TRUE(isValidUtf8("\xEF\xBB\xBFtopic"));
  EXPECT_TRUE(isValidUtf8("\xEF\xBF\xBF"));  // U+FFFF
}

// ---- topic names ----

TEST(TopicName, OrdinaryNamesAreValid) {
  for (const char* name :
       {"a", "a/b", "/", "/a", "a/", "a//b", "$SYS/broker", "caf\xC3\xA9", " spaces are fine "}) {
    EXPECT_TRUE(validateTopicName(name)) << name;
  }
}

TEST(TopicName, EmptyNameIsInvalid) {
  const auto r = validateTopicName("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kTopicNameInvalid);
}

TEST(TopicName, WildcardsAreInvalid) {
  for (const char* name : {"+", "#", "a/+", "a/#", "a+b", "sport/tennis#"}) {
    const auto r = validateTopicName(name);
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, kTopicNameInvalid) << name;
  }
}

TEST(TopicName, BadUtf8IsMalformed) {
  const auto r = validateTopicName("a/\xC0\x80");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kMalformed);
}

TEST(TopicName, AtMost65535Bytes) {
  EXPECT_TRUE(validateTopicName(std::string(65535, 'a')));
  const auto r = validateTopicName(std::string(65536, 'a'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kTopicNameInvalid);
}

// ---- topic filters ----

TEST(TopicFilter, SpecExamplesAreValid) {
  for (const char* f : {"sport/tennis/player1/#", "sport/#", "#", "+", "+/tennis/#",
                        "sport/+/player1", "/+", "+/+", "a//b", "/", "$SYS/#", "sport/tennis/+"}) {
    EXPECT_TRUE(validateTopicFilter(f)) << f;
  }
}

TEST(TopicFilter, MisplacedWildcardsAreInvalid) {
  for (const char* f : {"sport/tennis#", "sport/tennis/#/ranking", "#/", "a/#/", "sport+",
                        "sport/+tennis", "++", "a/b+/c", "##"}) {
    const auto r = validateTopicFilter(f);
    ASSERT_FALSE(r) << f;
    EXPECT_EQ(r.error().code, kTopicFilterInvalid) << f;
  }
}

TEST(TopicFilter, EmptyFilterIsInvalid) {
  const auto r = validateTopicFilter("");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kTopicFilterInvalid);
}

TEST(TopicFilter, BadUtf8IsMalformed) {
  const auto r = validateTopicFilter("a/\xED\xA0\x80/#");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kMalformed);
}

TEST(TopicFilter, AtMost65535Bytes) {
  EXPECT_TRUE(validateTopicFilter(std::string(65535, 'a')));
  const auto r = validateTopicFilter(std::string(65536, 'a'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kTopicFilterInvalid);
}

TEST(SharedFilter, WellFormedSharedSubscriptionsAreValid) {
  for (const char* f :
       {"$share/group/a/b", "$share/g/#", "$share/g/+", "$share/g/+/x/#", "$share/g//"}) {
    EXPECT_TRUE(validateTopicFilter(f)) << f;
  }
}

TEST(SharedFilter, BadSharedSubscriptionsAreInvalid) {
  for (const char* f : {"$share/group", "$share/group/", "$share/", "$share//a", "$share/g+/a",
                        "$share/+/a", "$share/g#/a", "$share/#/a", "$share/g/a#", "$share/g/#/b"}) {
    const auto r = validateTopicFilter(f);
    ASSERT_FALSE(r) << f;
    EXPECT_EQ(r.error().code, kTopicFilterInvalid) << f;
  }
}

TEST(SharedFilter, OnlyTheShareSlashPrefixMakesASharedSubscription) {
  EXPECT_TRUE(validateTopicFilter("$share"));
  EXPECT_TRUE(validateTopicFilter("$shared/x"));
  EXPECT_EQ(parseSharedFilter("$share"), std::nullopt);
  EXPECT_EQ(parseSharedFilter("$shared/x"), std::nullopt);
  EXPECT_EQ(parseSharedFilter("a/$share/g/x"), std::nullopt);
}

TEST(SharedFilter, ParseSplitsGroupAndFilter) {
  const auto s = parseSharedFilter("$share/consumers/sensors/+/temp");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->group, "consumers");
  EXPECT_EQ(s->filter, "sensors/+/temp");
  const auto noFilter = parseSharedFilter("$share/consumers");
  ASSERT_TRUE(noFilter);
  EXPECT_EQ(noFilter->group, "consumers");
  EXPECT_EQ(noFilter->filter, "");
}

TEST(Wildcard, HasWildcardFindsPlusAndHash) {
  EXPECT_TRUE(hasWildcard("a/+"));
  EXPECT_TRUE(hasWildcard("#"));
  EXPECT_FALSE(hasWildcard("a/b"));
  EXPECT_FALSE(hasWildcard(""));
}

// ---- matching ----

TEST(TopicMatch, ExactFilterMatchesOnlyTheSameName) {
  EXPECT_TRUE(topicMatches("a/b", "a/b"));
  EXPECT_FALSE(topicMatches("a/b", "a/b/c"));
  EXPECT_FALSE(topicMatches("a/b/c", "a/b"));
  EXPECT_FALSE(topicMatches("a/b", "a/c"));
  EXPECT_FALSE(topicMatches("a/b", "A/b"));
  EXPECT_FALSE(topicMatches("a/b", "a/b/"));
  EXPECT_TRUE(topicMatches("/", "/"));
}

TEST(TopicMatch, HashMatchesTheParentAndEveryDescendant) {
  // Spec 4.7.1.2.
  EXPECT_TRUE(topicMatches("sport/tennis/player1/#", "sport/tennis/player1"));
  EXPECT_TRUE(topicMatches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  EXPECT_TRUE(topicMatches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  EXPECT_TRUE(topicMatches("sport/#", "sport"));
  EXPECT_TRUE(topicMatches("sport/#", "sport/"));
  EXPECT_FALSE(topicMatches("sport/tennis/#", "sport"));
  EXPECT_FALSE(topicMatches("sport/#", "sports"));
  EXPECT_TRUE(topicMatches("#", "a"));
  EXPECT_TRUE(topicMatches("#", "a/b/c"));
  EXPECT_TRUE(topicMatches("#", "/"));
}

TEST(TopicMatch, PlusMatchesExactlyOneLevelIncludingAnEmptyOne) {
  // Spec 4.7.1.3.
  EXPECT_TRUE(topicMatches("sport/tennis/+", "sport/tennis/player1"));
  EXPECT_TRUE(topicMatches("sport/tennis/+", "sport/tennis/player2"));
  EXPECT_FALSE(topicMatches("sport/tennis/+", "sport/tennis/player1/ranking"));
  EXPECT_FALSE(topicMatches("sport/+", "sport"));
  EXPECT_TRUE(topicMatches("sport/+", "sport/"));
  EXPECT_TRUE(topicMatches("+/+", "/finance"));
  EXPECT_TRUE(topicMatches("/+", "/finance"));
  EXPECT_FALSE(topicMatches("+", "/finance"));
  EXPECT_TRUE(topicMatches("a/+/c", "a//c"));
  EXPECT_TRUE(topicMatches("+", "a"));
  EXPECT_FALSE(topicMatches("+", "a/b"));
  EXPECT_TRUE(topicMatches("+/+/+", "a/b/c"));
  EXPECT_TRUE(topicMatches("+/#", "a"));
  EXPECT_TRUE(topicMatches("+/#", "a/b/c"));
  EXPECT_TRUE(topicMatches("+/tennis/#", "sport/tennis/x"));
}

TEST(TopicMatch, DollarTopicsAreNotMatchedByLeadingWildcards) {
  // [MQTT-4.7.2-1], spec 4.7.2 examples.
  EXPECT_FALSE(topicMatches("#", "$SYS/monitor/Clients"));
  EXPECT_FALSE(topicMatches("+/monitor/Clients", "$SYS/monitor/Clients"));
  EXPECT_FALSE(topicMatches("+", "$SYS"));
  EXPECT_TRUE(topicMatches("$SYS/#", "$SYS/monitor/Clients"));
  EXPECT_TRUE(topicMatches("$SYS/monitor/+", "$SYS/monitor/Clients"));
  EXPECT_TRUE(topicMatches("$SYS", "$SYS"));
  // Only a leading '$' is special.
  EXPECT_TRUE(topicMatches("+/$x", "a/$x"));
  EXPECT_TRUE(topicMatches("#", "a/$SYS"));
}

// The spec's definition, level by level, as the reference for the one-pass matcher.
std::vector<std::string_view> levels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool referenceMatch(std::string_view filter, std::string_view name) {
  if (!name.empty() && name[0] == '$' && (filter[0] == '+' || filter[0] == '#')) return false;
  const auto f = levels(filter);
  const auto n = levels(name);
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= n.size()) return false;
    if (f[i] != "+" && f[i] != n[i]) return false;
  }
  return f.size() == n.size();
}

TEST(TopicMatch, AgreesWithTheLevelByLevelDefinitionOnEverySmallCase) {
  // Every filter and name of up to three levels drawn from a few level values.
  const std::vector<std::string> filterLevels = {"a", "b", "", "+", "#", "$x", "ab"};
  const std::vector<std::string> nameLevels = {"a", "b", "", "$x", "ab"};
  auto build = [](const std::vector<std::string>& parts, size_t depth, auto&& emit) {
    std::vector<size_t> idx(depth, 0);
    while (true) {
      std::string s;
      for (size_t i = 0; i < depth; ++i) s += (i ? "/" : "") + parts[idx[i]];
      emit(s);
      size_t k = 0;
      while (k < depth && ++idx[k] == parts.size()) idx[k++] = 0;
      if (k == depth) return;
    }
  };
  std::vector<std::string> filters, names;
  for (size_t d = 1; d <= 3; ++d) {
    build(filterLevels, d, [&](const std::string& f) {
      if (validateTopicFilter(f)) filters.push_back(f);
    });
    build(nameLevels, d, [&](const std::string& n) {
      if (validateTopicName(n)) names.push_back(n);
    });
  }
  ASSERT_GT(filters.size(), 100u);
  ASSERT_GT(names.size(), 100u);
  for (const auto& f : filters) {
    for (const auto& n : names) {
      ASSERT_EQ(topicMatches(f, n), referenceMatch(f, n)) << f << " vs " << n;
    }
  }
}

}  // namespace
}  // namespace moat::mqtt
