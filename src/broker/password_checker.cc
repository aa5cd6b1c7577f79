#include "broker/password_checker.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <thread>

namespace moat::broker {

namespace {

// Half the cores (at least one): checks are CPU-bound, and the workers need the rest.
unsigned poolSize() { return std::max(1u, std::thread::hardware_concurrency() / 2); }

}  // namespace

Result<std::unique_ptr<PasswordChecker>> PasswordChecker::create(
    const config::PasswordAuthSection& settings) {
  auto file = security::PasswordFile::load(settings.file);
  if (!file) return fail(0x80, "auth.password.file: " + file.error().message);
  return std::unique_ptr<PasswordChecker>(new PasswordChecker(settings.file, std::move(*file)));
}

PasswordChecker::PasswordChecker(std::string path, security::PasswordFile file)
    : path_(std::move(path)),
      file_(std::make_shared<const security::PasswordFile>(std::move(file))),
      pool_(poolSize()) {}

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
  file_.store(std::move(fresh));
  return gone;
}

std::string PasswordChecker::signature() const {
  std::error_code ec;
  auto size = std::filesystem::file_size(path_, ec);
  auto mtime = std::filesystem::last_write_time(path_, ec);
  return ec ? std::string("missing")
            : std::to_string(size) + ":" + std::to_string(mtime.time_since_epoch().count());
}

void PasswordChecker::check(std::string username, security::SecretString password,
                            boost::asio::any_io_executor executor,
                            std::function<void(security::VerifyResult)> done) {
  boost::asio::post(
      pool_, [file = file_.load(), username = std::move(username), password = std::move(password),
              executor = std::move(executor), done = std::move(done)]() mutable {
        auto result = file->verify(username, password.view());
        boost::asio::post(executor, [done = std::move(done), result] { done(result); });
      });
}

}  // namespace moat::broker
