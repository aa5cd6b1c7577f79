// SecretString: a password (or key) held in memory that is wiped (OPENSSL_cleanse) when it is
// destroyed, cleared or moved from, so that freed heap blocks do not keep it. Move-only, so no
// stray copy exists by accident. Not thread-safe; one owner at a time.
//
// Filling it with append() after reserve() never reallocates, so no partial copy is left behind
// in a block the allocator has taken back.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace moat::security {

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view text) : text_(text) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& other) noexcept : text_(std::move(other.text_)) { other.wipe(); }
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      wipe();
      text_ = std::move(other.text_);
      other.wipe();
    }
    return *this;
  }
  ~SecretString() { wipe(); }

  std::string_view view() const { return text_; }
  size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }

  void reserve(size_t n) { text_.reserve(n); }
  // REQUIRES: size() < the capacity reserved, or a reallocation may leave a copy behind.
  void append(char c) { text_.push_back(c); }
  void popBack() { text_.back() = '\0', text_.pop_back(); }

  // Overwrites every byte the buffer holds (not only the current length) and empties it.
  void wipe() {
    OPENSSL_cleanse(text_.data(), text_.capacity());
    text_.clear();
  }

  // Equal contents, compared in constant time for a given length.
  friend bool operator==(const SecretString& a, const SecretString& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.text_.data(), b.text_.data(), a.size()) == 0;
  }

 private:
  std::string text_;
};

}  // namespace moat::security
