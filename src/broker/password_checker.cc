#include "broker/password_checker.h"

#include <algorithm>
#include <boost/asio/post.hpp>
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
