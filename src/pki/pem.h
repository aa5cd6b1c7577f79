// PEM text in and out: private keys, certificates and CRLs, as the CA directory holds them.
// Errors name the file and carry OpenSSL's reason.
#pragma once

#include <filesystem>
#include <string>

#include "base/result.h"
#include "pki/openssl_ptr.h"

namespace moat::pki {

// The PEM text of a private key, wiped from memory when destroyed. Move-only.
class SecretPem {
 public:
  explicit SecretPem(std::string text) : text_(std::move(text)) {}
  SecretPem(SecretPem&& other) noexcept : text_(std::move(other.text_)) {}
  SecretPem& operator=(SecretPem&&) = delete;
  SecretPem(const SecretPem&) = delete;
  SecretPem& operator=(const SecretPem&) = delete;
  ~SecretPem() { OPENSSL_cleanse(text_.data(), text_.size()); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// Unencrypted PKCS#8: the file's 0600 mode is its protection, and a broker or device must be
// able to load it unattended.
[[nodiscard]] Result<SecretPem> privateKeyPem(EVP_PKEY* key);
[[nodiscard]] Result<std::string> certificatePem(X509* cert);
[[nodiscard]] Result<std::string> crlPem(X509_CRL* crl);

[[nodiscard]] Result<PkeyPtr> readPrivateKey(const std::filesystem::path& path);
[[nodiscard]] Result<X509Ptr> readCertificate(const std::filesystem::path& path);
[[nodiscard]] Result<CrlPtr> readCrl(const std::filesystem::path& path);

}  // namespace moat::pki
