// Password hashes against vectors from other implementations: Debian's mosquitto_passwd (2.0.11),
// Python's hashlib, the argon2 reference CLI and PostgreSQL (SCRAM). Then what Moat writes, what
// it refuses, and the base64 underneath.
#include "security/password_hash.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "security/base64.h"

namespace moat::security {
namespace {

struct Vector {
  const char* password;
  const char* hash;
};

// Made on Debian 12 with mosquitto 2.0.11:
//   mosquitto_passwd -c -b vec u0 'correct horse battery staple'      (then -b for u1, u2)
//   mosquitto_passwd -H sha512 -b vec six1 'correct horse battery staple'   (and six2)
// 2.0.11 writes $7$ with 101 iterations and 12-byte salts; -H sha512 writes $6$.
const Vector kMosquittoPasswd[] = {
    {"correct horse battery staple",
     "$7$101$J8YCLG8jivczk+LN$Sy4GnyQ0NfGuZezvD0rY4PhlGiLPk7/OA60oC0R4gZ1DQNRc6dGfndRvFfxlwxMSwmE5"
     "bf4Q0VuOZ0b+SoNYOQ=="},
    {"pässwörd ✓",
     "$7$101$VGHno4Msgyk4xQ6s$3geYdr2n2IAfE0wofG+yE18GpWE+rb6E18OfnKnwbGFFAF8ZO6NhbNHJT4zI/7PZ/NrV"
     "IozHE471fiVkZM5iLQ=="},
    {"a:b$c with space",
     "$7$101$mTm43kHO6reXxDLY$XbzGj+HcDdFxjrRFSmRaPJcJqhp+LDjB733R0x3fc6r4XcBA3b4AspYMaXYzdrlKtiB9"
     "hjWAWeDjf81IYdMJFA=="},
    {"correct horse battery staple",
     "$6$u2Ueui/6DCb0r4ms$byoBmYc9hZcvp40ZgJYmpkqwmVAfzpacQTMt7GZrmfzNHMUA5fN2RWcb07hcVR3VRYywUc/v"
     "NqpOPAijF7+0Zw=="},
    {"pässwörd ✓",
     "$6$Sk2Cxsf/yUWxoKHd$eRZk6d/knEhQ673HL6QsgZFWd3qgsxYonxCGK6rUs673jyeePDWe73no31coSka7hd6GhdX7"
     "FBCwQAqD2Tcr0Q=="},
};

// Made with Python's hashlib, an implementation independent of Moat's, following Mosquitto's
// definitions: $6$ = base64(SHA-512(password bytes || salt bytes)), $7$ = PBKDF2-HMAC-SHA512
// with a 64-byte output; salts fixed (bytes(range(...))) so the lines can be made again:
//   six(pw, salt)      = "$6$" + b64(salt) + "$" + b64(hashlib.sha512(pw.encode() + salt).digest())
//   seven(pw, salt, n) = f"$7${n}$" + b64(salt) + "$" +
//                        b64(hashlib.pbkdf2_hmac("sha512", pw.encode(), salt, n))
// with a 12-byte and a 64-byte salt for each, the 64-byte one being what Mosquitto 2.1 writes.
const Vector kPython[] = {
    // six("correct horse battery staple", bytes(range(12)))
    {"correct horse battery staple",
     "$6$AAECAwQFBgcICQoL$u2wu8+U4hlLiyWW0cWi8OpNe35AVrjYsy4iTcD/jLvRQTsLgKuZ2aZbBd1NEpzEFBmKKpr7v"
     "t1OXKKQbnjOAvA=="},
    // six("pässwörd ✓", bytes(range(100, 164)))
    {"pässwörd ✓",
     "$6$ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOEhYaHiImKi4yNjo+QkZKTlJWWl5iZmpucnZ6foKGiow==$+"
     "29EY6q4z4MxzY/p2AbPkPOvb5icsJ9dCvC72MdZyjS7PI3eeADsP6IN7N6bnl0miJAd31c09o8fMd96lPfgow=="},
    // seven("correct horse battery staple", bytes(range(64)), 1000)
    {"correct horse battery staple",
     "$7$1000$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P"
     "w==$B37WQDXDUnacC0t3YcQb7+4oWwiUmOnabyBS5ujq/"
     "p8I9iQvEt78yvclpJyr3SpnufyeqzjChJuYftj8jNDkHw=="},
    // seven("a:b$c with space", bytes(range(200, 212)), 2)
    {"a:b$c with space",
     "$7$2$yMnKy8zNzs/"
     "Q0dLT$bQHBv1XbW3hrwu5Z8FwvA+j8lVmfyxLDuLxzo8N6rRjrsvswWMpJGmeW0kGxU9FV2L8STGRb"
     "jXS+RWSuPttp1A=="},
};

// Made with the argon2 reference CLI (Debian package argon2, 0~20171227):
//   echo -n 'correct horse battery staple' | argon2 saltsaltsalt1234 -id -t 2 -k 1024 -p 1 -e
//   echo -n 'pässwörd ✓' | argon2 another-salt-16b -id -t 1 -k 2048 -p 2 -e
//   echo -n 'a:b$c with space' | argon2 sixteen-byte-slt -id -t 3 -k 512 -p 1 -l 64 -e
// Small memory so the test is quick; two lanes and a 64-byte tag to cover those.
const Vector kArgon2Cli[] = {
    {"correct horse battery staple",
     "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$"
     "qIBWEI8Gl6YgWfE2bs7OUCM6SbtHA21yinpnMIEcZ"
     "f8"},
    {"pässwörd ✓",
     "$argon2id$v=19$m=2048,t=1,p=2$YW5vdGhlci1zYWx0LTE2Yg$srpBE597Wsyw5l785aZuX1TSfOXyUo+"
     "iAUUWSqqLO"
     "Rk"},
    {"a:b$c with space",
     "$argon2id$v=19$m=512,t=3,p=1$c2l4dGVlbi1ieXRlLXNsdA$"
     "jlkhxNoFlGr9qTm2ZUovd6iU7Tmzmp9aQMG3vMt9thb"
     "IaO9S2u2jJzz62u8h3PhO0Jg5b7NDxpkCb328anVLSw"},
};

// SCRAM-SHA-256 credentials as PostgreSQL 15 (Debian 12) stores them, made with
//   SET password_encryption = 'scram-sha-256'; CREATE ROLE u1 PASSWORD '...';
//   SELECT rolpassword FROM pg_authid;
// PostgreSQL applies SASLprep; these passwords are ones it leaves unchanged.
const Vector kPostgres[] = {
    {"correct horse battery staple",
     "SCRAM-SHA-256$4096:9kPzf1wF3IgoZPLqApGspA==$TCqSYRW7UrynUwyGXo62epp8otgsx/HOUXHka/iLHME=:"
     "Ao0m0GSpcIqrxmXtAdIL0v5tQOBMgDCNjDeF4xXhiGM="},
    {"pässwörd ✓",
     "SCRAM-SHA-256$4096:FNE2cuCJX7AfAqDVh3i5RQ==$h3/eLKODHvOLCV7BujM+2zpArIzKAH4ALZeGvIfVWjo=:"
     "3RlivMVoqrqErmsilF+3oM2DgZmtiG7q+YvsiQ3D/00="},
    {"a:b$c with space",
     "SCRAM-SHA-256$4096:wfT84kB1mMP4Tv3jO3SigQ==$KmkcGFXxzzLy5S1I3HAVpr+zOta3cb4X3SD0Ko2jCRg=:"
     "haUnwwsUMnidgqkx/RBzCxVkFc0vPWbVQfwM91MJlEo="},
};

// Made with Python's hashlib and hmac, following RFC 5802 section 3, for what PostgreSQL does not
// write by default (another count, a 64-byte salt):
//   sp = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, i)
//   ck = hmac.new(sp, b"Client Key", "sha256").digest(); sv = hmac.new(sp, b"Server Key", ...)
//   f"SCRAM-SHA-256${i}:{b64(salt)}${b64(hashlib.sha256(ck).digest())}:{b64(sv)}"
const Vector kPythonScram[] = {
    // RFC 7677 section 3's password and salt: scram_test.cc runs its exchange on this line.
    {"pencil",
     "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
     "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="},
    // salt bytes(range(64)), 5000 iterations
    {"pässwörd ✓",
     "SCRAM-SHA-256$5000:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1"
     "Njc4OTo7PD0+Pw==$LXJZnJFGm140+UIz5ttuFSUGl/WNir1z2NzEWJQ6Rdg=:"
     "7esAW4WvY8mpDyA6x9kGgQ1POq3fJA+HmzLiJJxo9g4="},
};

void expectAccepts(const Vector& v, HashScheme scheme) {
  SCOPED_TRACE(v.hash);
  auto h = PasswordHash::parse(v.hash);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->scheme(), scheme);
  EXPECT_EQ(h->encoded(), v.hash);
  EXPECT_TRUE(h->matches(v.password));
  std::string wrong = v.password;
  wrong.back() ^= 1;
  EXPECT_FALSE(h->matches(wrong));
  EXPECT_FALSE(h->matches(std::string(v.password) + " "));
  EXPECT_FALSE(h->matches(""));
}

HashScheme schemeOf(const char* hash) {
  return std::string_view(hash).starts_with("$6$") ? HashScheme::Sha512 : HashScheme::Pbkdf2Sha512;
}

TEST(PasswordHash, AcceptsWhatDebiansMosquittoPasswdWrites) {
  for (const auto& v : kMosquittoPasswd) expectAccepts(v, schemeOf(v.hash));
}

TEST(PasswordHash, AcceptsSha512AndPbkdf2FromAnIndependentImplementation) {
  for (const auto& v : kPython) expectAccepts(v, schemeOf(v.hash));
}

TEST(PasswordHash, AcceptsWhatTheArgon2ReferenceCliWrites) {
  for (const auto& v : kArgon2Cli) expectAccepts(v, HashScheme::Argon2id);
}

TEST(PasswordHash, AcceptsScramCredentialsAsPostgresqlStoresThem) {
  for (const auto& v : kPostgres) expectAccepts(v, HashScheme::ScramSha256);
  for (const auto& v : kPythonScram) expectAccepts(v, HashScheme::ScramSha256);
}

TEST(PasswordHash, ExposesTheScramCredentialAndNothingForOtherSchemes) {
  auto h = PasswordHash::parse(kPythonScram[1].hash);
  ASSERT_TRUE(h) << h.error().message;
  auto c = h->scramCredential();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->iterations, 5000u);
  EXPECT_EQ(c->salt.size(), 64u);
  EXPECT_EQ(c->salt[63], '\x3f');
  EXPECT_EQ(encodeBase64(c->storedKey, Base64Padding::Required),
            "LXJZnJFGm140+UIz5ttuFSUGl/WNir1z2NzEWJQ6Rdg=");
  EXPECT_EQ(encodeBase64(c->serverKey, Base64Padding::Required),
            "7esAW4WvY8mpDyA6x9kGgQ1POq3fJA+HmzLiJJxo9g4=");
  auto other = PasswordHash::parse(kMosquittoPasswd[0].hash);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->scramCredential());
}

TEST(PasswordHash, WritesScramWithTheDocumentedIterationsAndSalt) {
  auto h = PasswordHash::create("s3cret", {.scheme = HashScheme::ScramSha256});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->scheme(), HashScheme::ScramSha256);
  // 16 bytes of salt are 24 base64 characters, each 32-byte key 44.
  const std::string_view prefix = "SCRAM-SHA-256$4096:";
  ASSERT_TRUE(h->encoded().starts_with(prefix)) << h->encoded();
  std::string_view rest = std::string_view(h->encoded()).substr(prefix.size());
  EXPECT_EQ(rest.find('$'), 24u);
  EXPECT_EQ(rest.find(':'), 24u + 1 + 44);
  EXPECT_EQ(rest.size(), 24u + 1 + 44 + 1 + 44);
  EXPECT_TRUE(h->matches("s3cret"));
  EXPECT_FALSE(h->matches("s3creT"));
  auto c = h->scramCredential();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->iterations, kDefaultScramIterations);
  EXPECT_EQ(c->salt.size(), kScramSaltBytes);

  auto more =
      PasswordHash::create("s3cret", {.scheme = HashScheme::ScramSha256, .scramIterations = 20000});
  ASSERT_TRUE(more);
  EXPECT_TRUE(more->encoded().starts_with("SCRAM-SHA-256$20000:")) << more->encoded();
  EXPECT_TRUE(more->matches("s3cret"));
}

TEST(PasswordHash, WritesArgon2idByDefaultWithTheDocumentedCost) {
  auto h = PasswordHash::create("s3cret");
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->scheme(), HashScheme::Argon2id);
  EXPECT_TRUE(h->encoded().starts_with("$argon2id$v=19$m=47104,t=1,p=1$")) << h->encoded();
  EXPECT_TRUE(h->matches("s3cret"));
  EXPECT_FALSE(h->matches("s3cret!"));
  // What was written reads back the same.
  auto again = PasswordHash::parse(h->encoded());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->matches("s3cret"));
}

TEST(PasswordHash, WritesPbkdf2WithManyIterationsAndASaltMosquitto20Reads) {
  auto h = PasswordHash::create("s3cret", {.scheme = HashScheme::Pbkdf2Sha512});
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_TRUE(h->encoded().starts_with("$7$210000$")) << h->encoded();
  // 12 bytes of salt are 16 base64 characters; 64 bytes of hash are 88.
  std::string_view rest =
      std::string_view(h->encoded()).substr(std::string_view("$7$210000$").size());
  EXPECT_EQ(rest.find('$'), 16u);
  EXPECT_EQ(rest.size(), 16u + 1 + 88);
  EXPECT_TRUE(h->matches("s3cret"));
  EXPECT_FALSE(h->matches("S3cret"));
}

TEST(PasswordHash, RoundTripsEveryWrittenSchemeWithOtherCosts) {
  const HashOptions options[] = {
      {.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 1},
      {.scheme = HashScheme::Argon2id, .argon2 = {2, 64, 2}},
      {.scheme = HashScheme::ScramSha256, .scramIterations = kMinScramIterations + 1},
  };
  for (const auto& o : options) {
    for (const std::string& pw : std::vector<std::string>{
             "", "x", "pässwörd ✓", std::string(kMaxPasswordBytes, 'p'), std::string("a\0b", 3)}) {
      auto h = PasswordHash::create(pw, o);
      ASSERT_TRUE(h) << h.error().message;
      auto parsed = PasswordHash::parse(h->encoded());
      ASSERT_TRUE(parsed) << parsed.error().message;
      EXPECT_TRUE(parsed->matches(pw));
      EXPECT_FALSE(parsed->matches(pw + "x"));
    }
  }
  // Two hashes of one password differ by their salts.
  auto a = PasswordHash::create("same", options[0]);
  auto b = PasswordHash::create("same", options[0]);
  EXPECT_NE(a->encoded(), b->encoded());
}

TEST(PasswordHash, AnEmbeddedNulIsPartOfThePassword) {
  auto h = PasswordHash::create(std::string("a\0b", 3),
                                {.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 1});
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->matches("a"));
}

TEST(PasswordHash, RefusesToWriteSha512) {
  auto h = PasswordHash::create("pw", {.scheme = HashScheme::Sha512});
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("not written"), std::string::npos);
}

TEST(PasswordHash, RefusesPasswordsLongerThanMqttAllows) {
  std::string longest(kMaxPasswordBytes, 'p');
  auto h =
      PasswordHash::create(longest, {.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 1});
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->matches(longest));
  EXPECT_FALSE(h->matches(longest + "p"));
  auto tooLong = PasswordHash::create(longest + "p", {.scheme = HashScheme::Pbkdf2Sha512});
  ASSERT_FALSE(tooLong);
  EXPECT_EQ(tooLong.error().message, "the password is longer than 65535 bytes (MQTT's limit)");
}

TEST(PasswordHash, RefusesToWriteWithAbsurdCosts) {
  EXPECT_FALSE(
      PasswordHash::create("pw", {.scheme = HashScheme::Pbkdf2Sha512, .pbkdf2Iterations = 0}));
  EXPECT_FALSE(PasswordHash::create(
      "pw", {.scheme = HashScheme::Argon2id, .argon2 = {1, kMaxArgon2MemoryKib + 1, 1}}));
  auto few = PasswordHash::create(
      "pw", {.scheme = HashScheme::ScramSha256, .scramIterations = kMinScramIterations - 1});
  ASSERT_FALSE(few);
  EXPECT_EQ(few.error().message,
            "SCRAM-SHA-256 hash: iteration count 4095 is out of range 4096..10000000");
}

TEST(PasswordHash, ADecoyCostsTheSameAndMatchesNothing) {
  for (const auto& v :
       {kMosquittoPasswd[0], kMosquittoPasswd[3], kArgon2Cli[1], kPostgres[0], kPythonScram[1]}) {
    auto h = PasswordHash::parse(v.hash);
    ASSERT_TRUE(h);
    PasswordHash decoy = h->decoy();
    EXPECT_EQ(decoy.costKey(), h->costKey());
    EXPECT_NE(decoy.encoded(), h->encoded());
    EXPECT_FALSE(decoy.matches(v.password));
    // The decoy is a well-formed hash of the same kind.
    auto parsed = PasswordHash::parse(decoy.encoded());
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->costKey(), h->costKey());
  }
  auto defaultDecoy = PasswordHash::decoyFor({});
  auto made = PasswordHash::create("pw");
  ASSERT_TRUE(made);
  EXPECT_EQ(defaultDecoy.costKey(), made->costKey());
  const HashOptions scram{.scheme = HashScheme::ScramSha256};
  auto scramDecoy = PasswordHash::decoyFor(scram);
  auto scramMade = PasswordHash::create("pw", scram);
  ASSERT_TRUE(scramMade);
  EXPECT_EQ(scramDecoy.costKey(), scramMade->costKey());
  EXPECT_NE(scramDecoy.costKey(), made->costKey());
  ASSERT_TRUE(scramDecoy.scramCredential());
  EXPECT_NE(scramDecoy.scramCredential()->serverKey, scramMade->scramCredential()->serverKey);
}

// -- refused hashes: one case each, with the message ----------------------------------------

struct BadHash {
  std::string hash;
  std::string message;
};

const std::string kSalt12 = "AAECAwQFBgcICQoL";  // 12 bytes
const std::string kHash64 =
    "u2wu8+U4hlLiyWW0cWi8OpNe35AVrjYsy4iTcD/jLvRQTsLgKuZ2aZbBd1NEpzEFBmKKpr7vt1OXKKQbnjOAvA==";
const std::string kSalt16 = "W22ZaJ0SNY7soEsUEjb6gQ==";
const std::string kKey32 = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
const std::string kArgonTail =
    "$c2FsdHNhbHRzYWx0MTIzNA$qIBWEI8Gl6YgWfE2bs7OUCM6SbtHA21yinpnMIEcZf8";

TEST(PasswordHash, RefusesEachBrokenFormWithAClearMessage) {
  const BadHash cases[] = {
      {"plain-password",
       "not a password hash (a plain-text password? `moat passwd -U FILE` hashes "
       "a file of them)"},
      {"$5$rounds=5000$abc$def",
       "unknown hash scheme \"$5$\" (supported: $6$, $7$, $argon2id$, SCRAM-SHA-256$)"},
      {"$$", "unknown hash scheme (supported: $6$, $7$, $argon2id$, SCRAM-SHA-256$)"},
      {"$argon2i$v=19$m=1024,t=2,p=1" + kArgonTail,
       "argon2i and argon2d hashes are not supported (only argon2id)"},
      {"$6$" + kSalt12, "$6$ (SHA-512) hash: not of the form $6$<salt>$<hash>"},
      {"$6$" + kSalt12 + "$" + kHash64 + "$",
       "$6$ (SHA-512) hash: not of the form $6$<salt>$<hash>"},
      {"$6$AAECAwQFBgcICQo*$" + kHash64, "$6$ (SHA-512) hash: the salt is not valid base64"},
      {"$6$AAECAwQFBgcICQ==$" + kHash64,
       "$6$ (SHA-512) hash: a salt of 10 bytes (must be 12 or 64)"},
      {"$6$" + kSalt12 + "$" + kHash64.substr(0, 84) + "====",
       "$6$ (SHA-512) hash: the hash is not valid base64"},
      {"$6$" + kSalt12 + "$" + kSalt12, "$6$ (SHA-512) hash: a hash of 12 bytes (must be 64)"},
      {"$7$" + kSalt12 + "$" + kHash64,
       "$7$ (PBKDF2-SHA512) hash: not of the form $7$<iterations>$<salt>$<hash>"},
      {"$7$0$" + kSalt12 + "$" + kHash64,
       "$7$ (PBKDF2-SHA512) hash: iteration count 0 is out of range 1..10000000"},
      {"$7$10000001$" + kSalt12 + "$" + kHash64,
       "$7$ (PBKDF2-SHA512) hash: iteration count 10000001 is out of range 1..10000000"},
      {"$7$-5$" + kSalt12 + "$" + kHash64,
       "$7$ (PBKDF2-SHA512) hash: the iteration count is not a number"},
      {"$7$99999999999$" + kSalt12 + "$" + kHash64,
       "$7$ (PBKDF2-SHA512) hash: the iteration count is not a number"},
      {"$7$101$AAECAwQFBgcICQoLDA==$" + kHash64,
       "$7$ (PBKDF2-SHA512) hash: a salt of 13 bytes (must be 12 or 64)"},
      // Non-zero bits after the last byte: not the canonical form of any salt.
      {"$7$101$AAECAwQFBgcICQoLDB==$" + kHash64,
       "$7$ (PBKDF2-SHA512) hash: the salt is not valid base64"},
      {"$argon2id$m=1024,t=2,p=1" + kArgonTail,
       "argon2id hash: no version field (only v=19 is supported)"},
      {"$argon2id$v=16$m=1024,t=2,p=1" + kArgonTail,
       "argon2id hash: unsupported version (only v=19 is supported)"},
      {"$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA",
       "argon2id hash: not of the form $argon2id$v=19$m=,t=,p=$<salt>$<hash>"},
      {"$argon2id$v=19$t=2,m=1024,p=1" + kArgonTail,
       "argon2id hash: parameters are not m=<KiB>,t=<passes>,p=<lanes>"},
      {"$argon2id$v=19$m=1024,t=2" + kArgonTail,
       "argon2id hash: parameters are not m=<KiB>,t=<passes>,p=<lanes>"},
      {"$argon2id$v=19$m=2097152,t=2,p=1" + kArgonTail,
       "argon2id hash: m=2097152 KiB is above the limit of 1 GiB (1048576 KiB)"},
      {"$argon2id$v=19$m=4,t=2,p=1" + kArgonTail,
       "argon2id hash: m=4 KiB is below argon2's minimum of 8 KiB per lane"},
      {"$argon2id$v=19$m=1024,t=0,p=1" + kArgonTail,
       "argon2id hash: t=0 passes is out of range 1..100"},
      {"$argon2id$v=19$m=1024,t=101,p=1" + kArgonTail,
       "argon2id hash: t=101 passes is out of range 1..100"},
      {"$argon2id$v=19$m=1024,t=2,p=0" + kArgonTail,
       "argon2id hash: p=0 lanes is out of range 1..64"},
      {"$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA==$"
       "qIBWEI8Gl6YgWfE2bs7OUCM6SbtHA21yinpnMIEcZf8",
       "argon2id hash: the salt is not valid base64"},
      {"$argon2id$v=19$m=1024,t=2,p=1$c2FsdA$qIBWEI8Gl6YgWfE2bs7OUCM6SbtHA21yinpnMIEcZf8",
       "argon2id hash: a salt of 4 bytes (must be 8..128)"},
      {"$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTIzNA$qIBWEI8Gl6Y",
       "argon2id hash: a hash of 8 bytes (must be 16..128)"},
      {"SCRAM-SHA-1$4096:" + kSalt16 + "$" + kKey32 + ":" + kKey32,
       "SCRAM hashes other than SCRAM-SHA-256 are not supported"},
      {"SCRAM-SHA-256$4096:" + kSalt16 + "$" + kKey32,
       "SCRAM-SHA-256 hash: not of the form "
       "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"},
      {"SCRAM-SHA-256$4096$" + kSalt16 + "$" + kKey32 + ":" + kKey32,
       "SCRAM-SHA-256 hash: not of the form "
       "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"},
      {"SCRAM-SHA-256$4096:" + kSalt16 + "$" + kKey32 + ":" + kKey32 + "$",
       "SCRAM-SHA-256 hash: not of the form "
       "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"},
      {"SCRAM-SHA-256$x:" + kSalt16 + "$" + kKey32 + ":" + kKey32,
       "SCRAM-SHA-256 hash: the iteration count is not a number"},
      {"SCRAM-SHA-256$4095:" + kSalt16 + "$" + kKey32 + ":" + kKey32,
       "SCRAM-SHA-256 hash: iteration count 4095 is out of range 4096..10000000"},
      {"SCRAM-SHA-256$10000001:" + kSalt16 + "$" + kKey32 + ":" + kKey32,
       "SCRAM-SHA-256 hash: iteration count 10000001 is out of range 4096..10000000"},
      {"SCRAM-SHA-256$4096:" + kSalt12 + "$" + kKey32 + ":" + kKey32,
       "SCRAM-SHA-256 hash: a salt of 12 bytes (must be 16..64)"},
      {"SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ$" + kKey32 + ":" + kKey32,
       "SCRAM-SHA-256 hash: the salt is not valid base64"},
      {"SCRAM-SHA-256$4096:" + kSalt16 + "$" + kKey32.substr(0, 43) + ":" + kKey32,
       "SCRAM-SHA-256 hash: the StoredKey is not valid base64"},
      {"SCRAM-SHA-256$4096:" + kSalt16 + "$" + kKey32.substr(0, 40) + ":" + kKey32,
       "SCRAM-SHA-256 hash: a StoredKey of 30 and a ServerKey of 32 bytes (must be 32)"},
      {"SCRAM-SHA-256$4096:" + kSalt16 + "$" + kKey32 + ":" + kSalt16,
       "SCRAM-SHA-256 hash: a StoredKey of 32 and a ServerKey of 16 bytes (must be 32)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.hash);
    auto h = PasswordHash::parse(c.hash);
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().message, c.message);
    // Never the hash (nor its salt or digest) in the message.
    EXPECT_EQ(h.error().message.find(kSalt12), std::string::npos);
    EXPECT_EQ(h.error().message.find("c2FsdHNh"), std::string::npos);
    EXPECT_EQ(h.error().message.find("u2wu8"), std::string::npos);
    EXPECT_EQ(h.error().message.find("W22ZaJ0"), std::string::npos);
    EXPECT_EQ(h.error().message.find("WG5d8"), std::string::npos);
  }
}

// -- base64 -----------------------------------------------------------------------------------

TEST(Base64, RoundTripsEveryLengthInBothModes) {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    for (auto mode : {Base64Padding::Required, Base64Padding::Omitted}) {
      std::string text = encodeBase64(bytes, mode);
      EXPECT_EQ(text.find('=') != std::string::npos, mode == Base64Padding::Required && n % 3 != 0);
      auto back = decodeBase64(text, mode);
      ASSERT_TRUE(back) << text;
      EXPECT_EQ(*back, bytes);
    }
    bytes += static_cast<char>(n * 37 + 200);
  }
}

TEST(Base64, MatchesRfc4648TestVectors) {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(encodeBase64(plain, Base64Padding::Required), encoded);
    EXPECT_EQ(decodeBase64(encoded, Base64Padding::Required), plain);
  }
  EXPECT_EQ(encodeBase64("fo", Base64Padding::Omitted), "Zm8");
  EXPECT_EQ(decodeBase64("Zm8", Base64Padding::Omitted), "fo");
}

TEST(Base64, RefusesAnythingButTheCanonicalForm) {
  for (const char* text :
       {"Zm8", "Zm8==", "Z===", "Zg=", "Zm9v=", "Zm=8", "Zm9*", "Zm 9v", "Zh==", "Zm9=", "Z"}) {
    EXPECT_FALSE(decodeBase64(text, Base64Padding::Required)) << text;
  }
  for (const char* text : {"Zm8=", "Zg==", "Z", "Zh", "Zm9", "Zm-9"}) {
    EXPECT_FALSE(decodeBase64(text, Base64Padding::Omitted)) << text;
  }
}

}  // namespace
}  // namespace moat::security
