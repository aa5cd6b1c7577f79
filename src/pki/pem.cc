#include "pki/pem.h"

#include <fmt/format.h>
#include <openssl/pem.h>

namespace moat::pki {

namespace {

// Runs `write` against a memory BIO and returns what it wrote.
template <class Write>
Result<std::string> toText(const char* what, Write write) {
  ERR_clear_error();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) {
    return fail(0x80, fmt::format("cannot encode the {}: {}", what, drainOpensslErrors()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<size_t>(len));
  OPENSSL_cleanse(data, static_cast<size_t>(len));  // the BIO may hold a private key
  return out;
}

template <class T, class Read>
Result<T> fromFile(const std::filesystem::path& path, const char* what, Read read) {
  ERR_clear_error();
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    return fail(0x80, fmt::format("{}: cannot open: {}", path.string(), drainOpensslErrors()));
  }
  T value(read(bio.get()));
  if (!value) {
    return fail(0x80,
                fmt::format("{}: not a PEM {}: {}", path.string(), what, drainOpensslErrors()));
  }
  return value;
}

}  // namespace

Result<SecretPem> privateKeyPem(EVP_PKEY* key) {
  auto text = toText("private key", [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (!text) return tl::unexpected(text.error());
  return SecretPem(std::move(*text));
}

Result<std::string> certificatePem(X509* cert) {
  return toText("certificate", [&](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

Result<std::string> crlPem(X509_CRL* crl) {
  return toText("CRL", [&](BIO* b) { return PEM_write_bio_X509_CRL(b, crl); });
}

Result<PkeyPtr> readPrivateKey(const std::filesystem::path& path) {
  return fromFile<PkeyPtr>(path, "private key", [](BIO* b) {
    return PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  });
}

Result<X509Ptr> readCertificate(const std::filesystem::path& path) {
  return fromFile<X509Ptr>(path, "certificate",
                           [](BIO* b) { return PEM_read_bio_X509(b, nullptr, nullptr, nullptr); });
}

Result<CrlPtr> readCrl(const std::filesystem::path& path) {
  return fromFile<CrlPtr>(
      path, "CRL", [](BIO* b) { return PEM_read_bio_X509_CRL(b, nullptr, nullptr, nullptr); });
}

}  // namespace moat::pki
