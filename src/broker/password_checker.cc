#include "broker/password_checker.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <map>
#include <thread>

#include "base/file_signature.h"

namespace moat::broker {

namespace {

// Half the cores (at least one): checks are CPU-bound, and the workers need the rest.
unsigned poolSize() { return std::max(1u, std::thread::hardware_concurrency() / 2); }

// Bounds the cache's memory: a fleet's worth of devices.
constexpr size_t kMaxCached = 100'000;

}  // namespace

namespace {

// The SCRAM iteration count most users of `file` have (the default when none has one).
uint32_t commonScramIterations(const security::PasswordFile& file) {
  std::map<uint32_t, size_t> counts;
  for (const auto& user : file.usernames()) {
    if (auto c = file.find(user)->scramCredential()) ++counts[c->iterations];
  }
  auto most = std::max_element(counts.begin(), counts.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return most == counts.end() ? security::kDefaultScramIterations : most->first;
}

}  // namespace

Result<std::unique_ptr<PasswordChecker>> PasswordChecker::create(
    const config::PasswordAuthSection& settings, std::string_view scramSecret) {
  auto file = security::PasswordFile::load(settings.file);
  if (!file) return fail(0x80, "auth.password.file: " + file.error().message);
  security::SecretString secret(scramSecret);
  if (secret.empty()) {
    auto fresh = security::ScramServer::newSecret();
    if (!fresh) return tl::unexpected(fresh.error());
    secret = std::move(*fresh);
  }
  const uint32_t iterations = commonScramIterations(*file);
  std::unique_ptr<PasswordChecker> checker(new PasswordChecker(settings, std::move(*file)));
  checker->scramSecret_ = std::move(secret);
  checker->scramIterations_ = iterations;
  return checker;
}

std::unique_ptr<security::ScramServer> PasswordChecker::scramServer() const {
  // The lookup holds the file in force now: a reload during the exchange does not change the
  // credential halfway through it.
  auto lookup = [file =
                     file_.load()](std::string_view user) -> std::optional<security::PasswordHash> {
    const security::PasswordHash* hash = file->find(user);
    if (!hash) return std::nullopt;
    return *hash;
  };
  return std::make_unique<security::ScramServer>(std::move(lookup), scramSecret_.view(),
                                                 scramIterations_.load());
}

PasswordChecker::PasswordChecker(const config::PasswordAuthSection& settings,
                                 security::PasswordFile file)
    : path_(settings.file),
      cacheTime_(settings.cacheSeconds),
      file_(std::make_shared<const security::PasswordFile>(std::move(file))),
      pool_(poolSize()) {
  RAND_bytes(hmacKey_, sizeof hmacKey_);
}

std::string PasswordChecker::cacheKey(std::string_view username, std::string_view password) const {
  // HMAC(key, len(username) || username || password): the length keeps ("ab","c") and
  // ("a","bc") apart.
  std::string input = std::to_string(username.size()) + ":";
  input.append(username);
  input.append(password);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), hmacKey_, sizeof hmacKey_,
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  OPENSSL_cleanse(input.data(), input.size());
  return std::string(reinterpret_cast<const char*>(mac), len);
}

bool PasswordChecker::cached(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(cacheMutex_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return false;
  if (it->second <= now) {
    cache_.erase(it);
    return false;
  }
  return true;
}

void PasswordChecker::remember(std::string key, Clock::time_point now) {
  std::lock_guard lock(cacheMutex_);
  if (cache_.size() >= kMaxCached) {
    std::erase_if(cache_, [&](const auto& e) { return e.second <= now; });
    if (cache_.size() >= kMaxCached) cache_.clear();  // rare: a fleet larger than the bound
  }
  cache_[std::move(key)] = now + cacheTime_;
}

PasswordChecker::~PasswordChecker() { stop(); }

void PasswordChecker::stop() {
  pool_.stop();
  pool_.join();
}

Result<std::vector<std::string>> PasswordChecker::reload() {
  auto loaded = security::PasswordFile::load(path_);
  if (!loaded) return tl::unexpected(loaded.error());
  auto fresh = std::make_shared<const security::PasswordFile>(std::move(*loaded));
  auto old = file_.load();
  std::vector<std::string> gone;
  for (const auto& user : old->usernames()) {
    const auto* now = fresh->find(user);
    if (!now || now->encoded() != old->find(user)->encoded()) gone.push_back(user);
  }
  scramIterations_ = commonScramIterations(*fresh);
  file_.store(std::move(fresh));
  {
    std::lock_guard lock(cacheMutex_);
    cache_.clear();  // a changed password must not be answered from memory
  }
  return gone;
}

std::string PasswordChecker::signature() const { return fileSignature(path_); }

void PasswordChecker::check(std::string username, security::SecretString password,
                            boost::asio::any_io_executor executor,
                            std::function<void(security::VerifyResult)> done) {
  std::string key;
  if (cacheTime_.count() > 0) {
    key = cacheKey(username, password.view());
    if (cached(key, Clock::now())) {
      cacheHits_.fetch_add(1, std::memory_order_relaxed);
      boost::asio::post(executor, [done = std::move(done)] { done(security::VerifyResult::Ok); });
      return;
    }
  }
  boost::asio::post(pool_, [this, file = file_.load(), username = std::move(username),
                            password = std::move(password), executor = std::move(executor),
                            done = std::move(done), key = std::move(key)]() mutable {
    auto result = file->verify(username, password.view());
    // Remembered only if the file checked is still the one in force (no reload meanwhile).
    if (result == security::VerifyResult::Ok && !key.empty() && file == file_.load()) {
      remember(std::move(key), Clock::now());
    }
    boost::asio::post(executor, [done = std::move(done), result] { done(result); });
  });
}

}  // namespace moat::broker
