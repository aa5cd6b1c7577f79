// Password files: loading a file of every format Mosquitto writes, each broken line refused with
// FILE:LINE and its reason, editing that keeps the rest of the file, the 0600 atomic save, the
// conversion of plain-text files (moat passwd -U), and the usernames a file may hold.
#include "security/password_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/atomic_file.h"
#include "security/username.h"

namespace moat::security {
namespace {

namespace fs = std::filesystem;

// From password_hash_test.cc: made by Debian's mosquitto_passwd 2.0.11 ($7$, and -H sha512 for
// $6$), by the argon2 reference CLI, by Python's hashlib ($7$ with a 64-byte salt), and by
// PostgreSQL (SCRAM-SHA-256).
constexpr const char* kAlicePbkdf2 =  // 'correct horse battery staple'
    "$7$101$J8YCLG8jivczk+LN$Sy4GnyQ0NfGuZezvD0rY4PhlGiLPk7/OA60oC0R4gZ1DQNRc6dGfndRvFfxlwxMSwmE5bf"
    "4Q0VuOZ0b+SoNYOQ==";
constexpr const char* kBobSha512 =  // 'pässwörd ✓'
    "$6$Sk2Cxsf/yUWxoKHd$eRZk6d/knEhQ673HL6QsgZFWd3qgsxYonxCGK6rUs673jyeePDWe73no31coSka7hd6GhdX7FB"
    "CwQAqD2Tcr0Q==";
constexpr const char* kCarolArgon2 =  // 'a:b$c with space'
    "$argon2id$v=19$m=512,t=3,p=1$c2l4dGVlbi1ieXRlLXNsdA$"
    "jlkhxNoFlGr9qTm2ZUovd6iU7Tmzmp9aQMG3vMt9thbI"
    "aO9S2u2jJzz62u8h3PhO0Jg5b7NDxpkCb328anVLSw";
constexpr const char* kDavePbkdf2Salt64 =  // 'correct horse battery staple'
    "$7$1000$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+"
    "Pw="
    "=$B37WQDXDUnacC0t3YcQb7+4oWwiUmOnabyBS5ujq/p8I9iQvEt78yvclpJyr3SpnufyeqzjChJuYftj8jNDkHw==";

constexpr const char* kErinScram =  // 'correct horse battery staple'
    "SCRAM-SHA-256$4096:9kPzf1wF3IgoZPLqApGspA==$TCqSYRW7UrynUwyGXo62epp8otgsx/HOUXHka/iLHME=:"
    "Ao0m0GSpcIqrxmXtAdIL0v5tQOBMgDCNjDeF4xXhiGM=";

std::string line(std::string_view user, std::string_view hash) {
  return std::string(user) + ":" + std::string(hash) + "\n";
}

// A file as people keep them: comments, blank lines, blanks around parts, a CRLF line.
std::string mixedFile() {
  return "# Mosquitto users\n" + line("alice", kAlicePbkdf2) + "\n" + line("bob", kBobSha512) +
         "  # indented comment\n" + "  carol  :  " + kCarolArgon2 + "  \r\n" +
         line("dave", kDavePbkdf2Salt64) + line("émile", kAlicePbkdf2);
}

PasswordFile parsed(const std::string& text) {
  auto file = PasswordFile::parse(text, "passwd");
  EXPECT_TRUE(file) << file.error().message;
  return file ? std::move(*file) : PasswordFile();
}

TEST(PasswordFile, ChecksEveryUserOfAMixedFile) {
  PasswordFile file = parsed(mixedFile() + line("erin", kErinScram));
  EXPECT_EQ(file.usernames(),
            (std::vector<std::string>{"alice", "bob", "carol", "dave", "émile", "erin"}));
  const std::pair<const char*, const char*> users[] = {
      {"alice", "correct horse battery staple"},
      {"bob", "pässwörd ✓"},
      {"carol", "a:b$c with space"},
      {"dave", "correct horse battery staple"},
      {"émile", "correct horse battery staple"},
      {"erin", "correct horse battery staple"},
  };
  for (const auto& [user, password] : users) {
    SCOPED_TRACE(user);
    EXPECT_EQ(file.verify(user, password), VerifyResult::Ok);
    EXPECT_EQ(file.verify(user, std::string(password) + "x"), VerifyResult::WrongPassword);
    EXPECT_EQ(file.verify(user, ""), VerifyResult::WrongPassword);
  }
  EXPECT_EQ(file.verify("mallory", "correct horse battery staple"), VerifyResult::UnknownUser);
  EXPECT_EQ(file.verify("Alice", "correct horse battery staple"), VerifyResult::UnknownUser);
  EXPECT_EQ(file.verify("", "x"), VerifyResult::UnknownUser);
}

TEST(PasswordFile, RefusesPasswordsLongerThanMqttAllows) {
  PasswordFile file = parsed(line("alice", kAlicePbkdf2));
  std::string tooLong(kMaxPasswordBytes + 1, 'x');
  EXPECT_EQ(file.verify("alice", tooLong), VerifyResult::WrongPassword);
  EXPECT_EQ(file.verify("nobody", tooLong), VerifyResult::UnknownUser);
}

// The shortest of `runs` timings of `f`, in microseconds.
template <class F>
int64_t fastest(int runs, F&& f) {
  int64_t best = INT64_MAX;
  for (int i = 0; i < runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    f();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    best = std::min(best, us);
  }
  return best;
}

TEST(PasswordFile, AnUnknownUserTakesAsLongAsAWrongPassword) {
  // 100,000 PBKDF2 iterations take tens of milliseconds: far above the noise, so the bounds can
  // be loose and the test steady on a busy machine.
  auto slow =
      PasswordHash::create("pw", {.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 100'000});
  ASSERT_TRUE(slow);
  PasswordFile file;
  ASSERT_TRUE(file.set("alice", *slow));
  int64_t wrong =
      fastest(3, [&] { EXPECT_EQ(file.verify("alice", "nope"), VerifyResult::WrongPassword); });
  int64_t unknown =
      fastest(3, [&] { EXPECT_EQ(file.verify("bob", "nope"), VerifyResult::UnknownUser); });
  EXPECT_GT(unknown, wrong / 2) << "unknown " << unknown << " us, wrong " << wrong << " us";
  EXPECT_LT(unknown, wrong * 2) << "unknown " << unknown << " us, wrong " << wrong << " us";
}

// -- broken lines: one case each, with the message ------------------------------------------

struct BrokenLine {
  std::string text;
  std::string message;
};

TEST(PasswordFile, RefusesEachBrokenLineNamingFileAndLine) {
  const std::string good = line("alice", kAlicePbkdf2);
  const BrokenLine cases[] = {
      {good + "bob\n", "passwd:2: no ':' between the username and the password hash"},
      {good + "hunter2\n", "passwd:2: no ':' between the username and the password hash"},
      {good + ":" + kBobSha512 + "\n", "passwd:2: username is empty"},
      {good + "  :" + kBobSha512 + "\n", "passwd:2: username is empty"},
      {"a+b:" + std::string(kBobSha512) + "\n",
       "passwd:1: username contains '+' (an MQTT wildcard)"},
      {"a#b:" + std::string(kBobSha512) + "\n",
       "passwd:1: username contains '#' (an MQTT wildcard)"},
      {"a\x01"
       "b:" +
           std::string(kBobSha512) + "\n",
       "passwd:1: username contains a control character"},
      {"a\x7f"
       "b:" +
           std::string(kBobSha512) + "\n",
       "passwd:1: username contains a control character"},
      {"a\xc2\x85"
       "b:" +
           std::string(kBobSha512) + "\n",
       "passwd:1: username contains a control character"},
      {std::string("a\0b:", 4) + kBobSha512 + "\n", "passwd:1: username is not valid UTF-8"},
      {"a\xff"
       "b:" +
           std::string(kBobSha512) + "\n",
       "passwd:1: username is not valid UTF-8"},
      {"a\xc0\xaf:" + std::string(kBobSha512) + "\n", "passwd:1: username is not valid UTF-8"},
      {"bob:\n", "passwd:1: user \"bob\": no password hash after ':'"},
      {"bob:   \n", "passwd:1: user \"bob\": no password hash after ':'"},
      {"bob:hunter2\n",
       "passwd:1: user \"bob\": not a password hash (a plain-text password? `moat passwd -U FILE` "
       "hashes a file of them)"},
      {"bob:$1$abc$def\n",
       "passwd:1: user \"bob\": unknown hash scheme \"$1$\" (supported: $6$, $7$, $argon2id$, "
       "SCRAM-SHA-256$)"},
      {"bob:$7$101$J8YCLG8jivczk+L*$Sy4GnyQ0NfGuZezvD0rY4PhlGiLPk7/"
       "OA60oC0R4gZ1DQNRc6dGfndRvFfxlwxMSw"
       "mE5bf4Q0VuOZ0b+SoNYOQ==\n",
       "passwd:1: user \"bob\": $7$ (PBKDF2-SHA512) hash: the salt is not valid base64"},
      {"bob:$7$0$J8YCLG8jivczk+LN$Sy4GnyQ0NfGuZezvD0rY4PhlGiLPk7/"
       "OA60oC0R4gZ1DQNRc6dGfndRvFfxlwxMSwmE5"
       "bf4Q0VuOZ0b+SoNYOQ==\n",
       "passwd:1: user \"bob\": $7$ (PBKDF2-SHA512) hash: iteration count 0 is out of range "
       "1..10000000"},
      {"bob:$argon2id$v=19$m=1048577,t=3,p=1$c2l4dGVlbi1ieXRlLXNsdA$"
       "jlkhxNoFlGr9qTm2ZUovd6iU7Tmzmp9a"
       "QMG3vMt9thbIaO9S2u2jJzz62u8h3PhO0Jg5b7NDxpkCb328anVLSw\n",
       "passwd:1: user \"bob\": argon2id hash: m=1048577 KiB is above the limit of 1 GiB (1048576 "
       "KiB)"},
      {good + "# comment\n" + line("bob", kBobSha512) + line("alice", kBobSha512),
       "passwd:4: user \"alice\" is already on line 1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.message);
    auto file = PasswordFile::parse(c.text, "passwd");
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().message, c.message);
    // Never a hash, nor what might be a password, in the message.
    for (const char* secret : {"J8YCLG8j", "Sk2Cxsf", "c2l4dGVl", "hunter2", "def"}) {
      EXPECT_EQ(file.error().message.find(secret), std::string::npos) << secret;
    }
  }
}

TEST(PasswordFile, LoadNamesTheFileInErrors) {
  auto missing = PasswordFile::load("/nonexistent/moat-passwd");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/moat-passwd"), std::string::npos);
}

// -- editing and saving -----------------------------------------------------------------------

class PasswordFileOnDisk : public testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = fs::path(testing::TempDir()) /
           ("moat-security-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static mode_t modeOf(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  fs::path dir_;
};

PasswordHash cheapHash(std::string_view password) {
  auto h = PasswordHash::create(password, {.scheme = HashScheme::Argon2id, .argon2 = {1, 64, 1}});
  EXPECT_TRUE(h) << h.error().message;
  return std::move(*h);
}

TEST(PasswordFile, EditingKeepsCommentsBlankLinesAndOrder) {
  PasswordFile file = parsed(mixedFile());
  PasswordHash newBob = cheapHash("new bob");
  std::string newBobText = newBob.encoded();
  ASSERT_TRUE(file.set("bob", std::move(newBob)));
  ASSERT_TRUE(file.set("zoë", cheapHash("zoë's")));
  EXPECT_TRUE(file.remove("dave"));
  EXPECT_FALSE(file.remove("dave"));

  EXPECT_EQ(file.render(),
            "# Mosquitto users\n" + line("alice", kAlicePbkdf2) + "\n" + line("bob", newBobText) +
                "  # indented comment\n" + "  carol  :  " + kCarolArgon2 + "  \n" +
                line("émile", kAlicePbkdf2) + line("zoë", file.find("zoë")->encoded()));
  EXPECT_EQ(file.verify("bob", "new bob"), VerifyResult::Ok);
  EXPECT_EQ(file.verify("bob", "pässwörd ✓"), VerifyResult::WrongPassword);
  EXPECT_EQ(file.verify("zoë", "zoë's"), VerifyResult::Ok);
  EXPECT_EQ(file.verify("dave", "correct horse battery staple"), VerifyResult::UnknownUser);
  EXPECT_EQ(file.verify("émile", "correct horse battery staple"), VerifyResult::Ok);

  // What was rendered parses to the same users.
  PasswordFile again = parsed(file.render());
  EXPECT_EQ(again.usernames(), file.usernames());
}

TEST(PasswordFile, SetRefusesNamesTheFileCannotHold) {
  PasswordFile file;
  const std::pair<std::string, std::string> cases[] = {
      {"a:b", "username contains ':' (the separator of the password file)"},
      {" bob", "username starts or ends with a blank (the password file drops those)"},
      {"bob ", "username starts or ends with a blank (the password file drops those)"},
      {"", "username is empty"},
      {"sensor/+", "username contains '+' (an MQTT wildcard)"},
      {"bad\nname", "username contains a control character"},
  };
  for (const auto& [name, message] : cases) {
    auto r = file.set(name, cheapHash("pw"));
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().message, message);
  }
  EXPECT_EQ(file.size(), 0u);
  EXPECT_TRUE(file.set("with inner space", cheapHash("pw")));
}

TEST_F(PasswordFileOnDisk, SavesAtomicallyWithMode0600) {
  fs::path path = dir_ / "passwd";
  {
    std::ofstream out(path);
    out << mixedFile();
  }
  fs::permissions(path, fs::perms(0644));
  auto file = PasswordFile::load(path);
  ASSERT_TRUE(file) << file.error().message;
  ASSERT_TRUE(file->set("frank", cheapHash("frank's")));
  ASSERT_TRUE(file->save(path));
  EXPECT_EQ(modeOf(path), 0600u);
  auto back = PasswordFile::load(path);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->size(), 6u);
  EXPECT_EQ(back->verify("frank", "frank's"), VerifyResult::Ok);
  EXPECT_EQ(back->verify("alice", "correct horse battery staple"), VerifyResult::Ok);
  // No temporary file left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(PasswordFileOnDisk, ANewFileIsBornPrivate) {
  PasswordFile file;
  ASSERT_TRUE(file.set("alice", cheapHash("pw")));
  fs::path path = dir_ / "new";
  ASSERT_TRUE(file.save(path));
  EXPECT_EQ(modeOf(path), 0600u);
  EXPECT_EQ(*readWholeFile(path), "alice:" + file.find("alice")->encoded() + "\n");
}

// -- moat passwd -U ---------------------------------------------------------------------------

TEST(PasswordFile, HashesAPlainTextFileAndKeepsWhatIsHashedAlready) {
  const HashOptions cheap{.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 10};
  std::string text = "# plain\nalice:wonderland\n\nbob: spaced out \r\n" +
                     line("carol", kCarolArgon2) + "dave:pa:ss\n" + line("erin", kErinScram);
  auto converted = PasswordFile::hashPlainText(text, "plain", cheap);
  ASSERT_TRUE(converted) << converted.error().message;
  EXPECT_EQ(converted->hashed, 3u);
  EXPECT_EQ(converted->kept, 2u);
  const PasswordFile& file = converted->file;
  EXPECT_EQ(file.verify("alice", "wonderland"), VerifyResult::Ok);
  // Everything after the first ':' is the password, blanks and ':' included.
  EXPECT_EQ(file.verify("bob", " spaced out "), VerifyResult::Ok);
  EXPECT_EQ(file.verify("bob", "spaced out"), VerifyResult::WrongPassword);
  EXPECT_EQ(file.verify("carol", "a:b$c with space"), VerifyResult::Ok);
  EXPECT_EQ(file.verify("dave", "pa:ss"), VerifyResult::Ok);
  EXPECT_EQ(file.verify("erin", "correct horse battery staple"), VerifyResult::Ok);
  std::string rendered = file.render();
  EXPECT_TRUE(rendered.starts_with("# plain\nalice:$7$10$")) << rendered;
  EXPECT_EQ(rendered.find("wonderland"), std::string::npos);
  EXPECT_NE(rendered.find(line("carol", kCarolArgon2)), std::string::npos);

  // A second run changes nothing: every line holds a hash now.
  auto twice = PasswordFile::hashPlainText(rendered, "plain", cheap);
  ASSERT_TRUE(twice) << twice.error().message;
  EXPECT_EQ(twice->hashed, 0u);
  EXPECT_EQ(twice->kept, 5u);
  EXPECT_EQ(twice->file.render(), rendered);
}

TEST(PasswordFile, PlainTextConversionRefusesBrokenLines) {
  const HashOptions cheap{.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 10};
  const BrokenLine cases[] = {
      {"alice:pw\nbob:\n", "plain:2: user \"bob\": empty password"},
      {"alice\n", "plain:1: no ':' between the username and the password hash"},
      {"a+b:pw\n", "plain:1: username contains '+' (an MQTT wildcard)"},
      {"alice:pw\nalice:pw2\n", "plain:2: user \"alice\" is already on line 1"},
      {"alice:$7$0$AAECAwQFBgcICQoL$AAAA\n",
       "plain:1: user \"alice\": $7$ (PBKDF2-SHA512) hash: iteration count 0 is out of range "
       "1..10000000"},
      {"alice:" + std::string(kMaxPasswordBytes + 1, 'p') + "\n",
       "plain:1: user \"alice\": the password is longer than 65535 bytes (MQTT's limit)"},
  };
  for (const auto& c : cases) {
    auto r = PasswordFile::hashPlainText(c.text, "plain", cheap);
    ASSERT_FALSE(r) << c.message;
    EXPECT_EQ(r.error().message, c.message);
  }
}

// -- usernames --------------------------------------------------------------------------------

TEST(Username, AcceptsUtf8WithoutWildcardsOrControls) {
  for (const char* name : {"alice", "sensor-42", "émile", "用户", "a b", "user@example.com",
                           "with/slash", "$sys-like", "🙂"}) {
    EXPECT_TRUE(checkUsername(name)) << name;
  }
  EXPECT_TRUE(checkUsername(std::string(kMaxUsernameBytes, 'u')));
  auto tooLong = checkUsername(std::string(kMaxUsernameBytes + 1, 'u'));
  ASSERT_FALSE(tooLong);
  EXPECT_EQ(tooLong.error().message, "username is longer than 65535 bytes");
}

TEST(Username, RefusesSurrogatesAndOverlongForms) {
  for (const char* name : {"\xed\xa0\x80", "\xe0\x80\xaf", "\xf4\x90\x80\x80", "\x80", "a\xc3"}) {
    auto r = checkUsername(name);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "username is not valid UTF-8");
  }
  EXPECT_FALSE(checkUsername("tab\there"));
  EXPECT_FALSE(checkUsername("\xc2\x9f"));  // U+009F, the last C1 control
  EXPECT_TRUE(checkUsername("\xc2\xa0"));   // U+00A0, no longer a control
}

}  // namespace
}  // namespace moat::security
