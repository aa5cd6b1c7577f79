// TestPki: certificates, keys and OCSP responses for the net tests, made in memory and written
// to a directory as the broker reads them (PEM certificates and keys, DER OCSP responses).
// One self-signed CA issues ECDSA P-256 server certificates for the names a test asks for;
// OCSP responses can say any status, be signed by anyone and lie anywhere in time, which the
// openssl command line cannot do (it always starts a response's validity now).
//
// For tests only (header-only, so the module's library does not carry it). Owns every key and
// certificate it makes; one thread.
#pragma once

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moat::net::testing {

namespace fs = std::filesystem;

class TestPki {
 public:
  struct Cert {
    fs::path cert;  // PEM: the certificate, then its issuer when asked for
    fs::path key;   // PEM private key
    X509* x509 = nullptr;
    EVP_PKEY* pkey = nullptr;
  };

  explicit TestPki(fs::path dir) : dir_(std::move(dir)) {
    fs::create_directories(dir_);
    ca_ = make("ca", "Moat Test CA", {}, 30 * 86400, nullptr, false);
  }
  ~TestPki() {
    for (auto& c : made_) {
      X509_free(c->x509);
      EVP_PKEY_free(c->pkey);
    }
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const Cert& ca() const { return *ca_; }

  // A server certificate from the CA with CN `cn` and a DNS subjectAltName per entry of
  // `dnsNames`, valid from an hour ago until `validSeconds` from now. With `withChain` the file
  // holds the CA certificate after it. selfSigned() makes one nobody issued.
  const Cert& server(const std::string& name, const std::string& cn,
                     const std::vector<std::string>& dnsNames, long validSeconds = 86400,
                     bool withChain = true) {
    return *make(name, cn, dnsNames, validSeconds, ca_, withChain);
  }
  const Cert& selfSigned(const std::string& name, const std::string& cn) {
    return *make(name, cn, {}, 86400, nullptr, false);
  }

  // A DER OCSP response about `subject` (issued by the CA) with `status`
  // (V_OCSP_CERTSTATUS_GOOD, _REVOKED, _UNKNOWN), thisUpdate and nextUpdate given in seconds
  // from now (no nextUpdate when nullopt), signed by `signer` (the CA when null).
  fs::path ocsp(const std::string& name, const Cert& subject, int status, long thisUpdate = -60,
                std::optional<long> nextUpdate = 7 * 86400, const Cert* signer = nullptr) {
    if (!signer) signer = ca_;
    OCSP_BASICRESP* basic = OCSP_BASICRESP_new();
    OCSP_CERTID* id = OCSP_cert_to_id(EVP_sha1(), subject.x509, ca_->x509);
    ASN1_TIME* thisTime = X509_gmtime_adj(nullptr, thisUpdate);
    ASN1_TIME* nextTime = nextUpdate ? X509_gmtime_adj(nullptr, *nextUpdate) : nullptr;
    ASN1_TIME* revoked =
        status == V_OCSP_CERTSTATUS_REVOKED ? X509_gmtime_adj(nullptr, -86400) : nullptr;
    OCSP_basic_add1_status(basic, id, status, revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                           revoked, thisTime, nextTime);
    OCSP_basic_sign(basic, signer->x509, signer->pkey, EVP_sha256(), nullptr, 0);
    OCSP_RESPONSE* response = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
    fs::path out = write(name, response);
    OCSP_RESPONSE_free(response);
    ASN1_TIME_free(revoked);
    ASN1_TIME_free(nextTime);
    ASN1_TIME_free(thisTime);
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(basic);
    return out;
  }

  // A response whose status is not "successful" (e.g. OCSP_RESPONSE_STATUS_UNAUTHORIZED).
  fs::path ocspFailure(const std::string& name, int responseStatus) {
    OCSP_RESPONSE* response = OCSP_response_create(responseStatus, nullptr);
    fs::path out = write(name, response);
    OCSP_RESPONSE_free(response);
    return out;
  }

 private:
  fs::path write(const std::string& name, OCSP_RESPONSE* response) {
    unsigned char* der = nullptr;
    int len = i2d_OCSP_RESPONSE(response, &der);
    fs::path out = dir_ / (name + ".der");
    std::ofstream(out, std::ios::binary).write(reinterpret_cast<const char*>(der), len);
    OPENSSL_free(der);
    return out;
  }

  Cert* make(const std::string& name, const std::string& cn,
             const std::vector<std::string>& dnsNames, long validSeconds, const Cert* issuer,
             bool withChain) {
    auto c = std::make_unique<Cert>();
    c->pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    c->x509 = x;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), validSeconds);
    X509_set_pubkey(x, c->pkey);
    X509_NAME* subject = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->x509) : subject);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer->x509 : x, x, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      X509_add_ext(x, ext, -1);
      X509_EXTENSION_free(ext);
    };
    add(NID_basic_constraints, issuer ? "CA:FALSE" : "CA:TRUE");
    std::string san;
    for (const auto& n : dnsNames) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    if (!san.empty()) add(NID_subject_alt_name, san);
    X509_sign(x, issuer ? issuer->pkey : c->pkey, EVP_sha256());
    c->cert = dir_ / (name + ".crt");
    c->key = dir_ / (name + ".key");
    FILE* f = std::fopen(c->cert.c_str(), "w");
    PEM_write_X509(f, x);
    if (withChain && issuer) PEM_write_X509(f, issuer->x509);
    std::fclose(f);
    f = std::fopen(c->key.c_str(), "w");
    PEM_write_PrivateKey(f, c->pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    made_.push_back(std::move(c));
    return made_.back().get();
  }

  fs::path dir_;
  long serial_ = 0;
  std::vector<std::unique_ptr<Cert>> made_;
  Cert* ca_ = nullptr;
};

}  // namespace moat::net::testing
