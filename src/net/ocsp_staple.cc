#include "net/ocsp_staple.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "base/log.h"
#include "net/tls_context.h"

namespace moat::net {

namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using ResponsePtr = std::unique_ptr<OCSP_RESPONSE, Deleter<OCSP_RESPONSE, OCSP_RESPONSE_free>>;
using BasicPtr = std::unique_ptr<OCSP_BASICRESP, Deleter<OCSP_BASICRESP, OCSP_BASICRESP_free>>;
using CertIdPtr = std::unique_ptr<OCSP_CERTID, Deleter<OCSP_CERTID, OCSP_CERTID_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;

void freeCertificates(STACK_OF(X509) * certs) { sk_X509_pop_free(certs, X509_free); }
void freeStackOnly(STACK_OF(X509) * certs) { sk_X509_free(certs); }
using CertsPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), freeCertificates>>;
// A stack that borrows its certificates.
using CertViewPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), freeStackOnly>>;

// Every certificate of a PEM file; empty when there is no file (its own setting reports a
// file that cannot be read).
CertsPtr readCertificates(const std::string& file) {
  CertsPtr certs(sk_X509_new_null());
  if (file.empty()) return certs;
  BIO* bio = BIO_new_file(file.c_str(), "r");
  if (!bio) {
    ERR_clear_error();
    return certs;
  }
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) sk_X509_push(certs.get(), x);
  ERR_clear_error();  // the end of the file reads as an error
  BIO_free(bio);
  return certs;
}

std::optional<time_t> toTime(const ASN1_GENERALIZEDTIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return timegm(&tm);
}

std::string serialOf(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn ? BN_bn2hex(bn) : nullptr;
  std::string out = hex ? hex : "?";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

}  // namespace

std::string utcText(time_t t) { return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", fmt::gmtime(t)); }

Result<std::unique_ptr<OcspStaple>> OcspStaple::load(const std::string& file, X509* leaf,
                                                     STACK_OF(X509) * chain,
                                                     const std::string& caFile, OcspNames names) {
  auto bad = [&](const std::string& why) {
    return fail(0x80, fmt::format("listener \"{}\": {}: {}", names.listener, names.setting, why));
  };
  std::ifstream in(file, std::ios::binary);
  if (!in) return bad(fmt::format("cannot open: {}", std::strerror(errno)));
  auto self = std::unique_ptr<OcspStaple>(new OcspStaple());
  self->der_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  const auto* p = reinterpret_cast<const unsigned char*>(self->der_.data());
  const auto* end = p + self->der_.size();
  ResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(self->der_.size())));
  ERR_clear_error();
  if (!response || p != end) {
    return bad("not a DER OCSP response (what `openssl ocsp -respout` writes)");
  }
  int status = OCSP_response_status(response.get());
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return bad(fmt::format("the responder answered \"{}\" instead of a certificate status",
                           OCSP_response_status_str(status)));
  }
  BasicPtr basic(OCSP_response_get1_basic(response.get()));
  if (!basic) return bad("holds no basic OCSP response");

  // The issuer identifies the certificate in the response and signs it (or delegates that).
  CertsPtr ca = readCertificates(caFile);
  X509* issuer = nullptr;
  for (STACK_OF(X509) * certs : {chain, ca.get()}) {
    for (int i = 0; certs && !issuer && i < sk_X509_num(certs); ++i) {
      X509* candidate = sk_X509_value(certs, i);
      if (X509_check_issued(candidate, leaf) == X509_V_OK) issuer = candidate;
    }
  }
  if (!issuer) {
    return bad(
        fmt::format("the issuer of {} is in neither its chain nor tls.ca, so the "
                    "response cannot be checked",
                    names.certificate));
  }
  int certStatus = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revokedAt = nullptr, *thisUpdate = nullptr, *nextUpdate = nullptr;
  bool found = false;
  for (const EVP_MD* md : {EVP_sha1(), EVP_sha256()}) {  // responders name certificates by either
    CertIdPtr id(OCSP_cert_to_id(md, leaf, issuer));
    found = id && OCSP_resp_find_status(basic.get(), id.get(), &certStatus, &reason, &revokedAt,
                                        &thisUpdate, &nextUpdate) == 1;
    if (found) break;
  }
  ERR_clear_error();
  if (!found) {
    return bad(
        fmt::format("holds no status for {} (serial {}); is it the response for another "
                    "certificate?",
                    names.certificate, serialOf(leaf)));
  }

  // The signer must chain to the issuer; an intermediate is enough of an anchor here.
  StorePtr store(X509_STORE_new());
  CertViewPtr untrusted(sk_X509_new_null());
  for (STACK_OF(X509) * certs : {chain, ca.get()}) {
    for (int i = 0; certs && i < sk_X509_num(certs); ++i) {
      X509_STORE_add_cert(store.get(), sk_X509_value(certs, i));
      sk_X509_push(untrusted.get(), sk_X509_value(certs, i));
    }
  }
  ERR_clear_error();
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (OCSP_basic_verify(basic.get(), untrusted.get(), store.get(), 0) != 1) {
    return bad(fmt::format("its signature does not verify against the issuer of {} ({})",
                           names.certificate, lastOpensslError()));
  }

  if (certStatus == V_OCSP_CERTSTATUS_REVOKED) {
    auto when = toTime(revokedAt);
    return bad(
        fmt::format("the responder says {} is revoked (since {}{}); a revoked certificate "
                    "is not served",
                    names.certificate, when ? utcText(*when) : "an unknown time",
                    reason >= 0 ? fmt::format(", reason {}", OCSP_crl_reason_str(reason)) : ""));
  }
  if (certStatus != V_OCSP_CERTSTATUS_GOOD) {
    return bad(fmt::format("the responder does not know {} (status unknown)", names.certificate));
  }

  const time_t now = time(nullptr);
  auto thisTime = toTime(thisUpdate);
  auto nextTime = toTime(nextUpdate);
  if (nextTime && *nextTime < now) {
    return bad(fmt::format("past its nextUpdate ({}); fetch a fresh response", utcText(*nextTime)));
  }
  if (!thisTime || OCSP_check_validity(thisUpdate, nextUpdate, kLeeway, -1) != 1) {
    return bad(fmt::format(
        "not valid now (thisUpdate {}{}): {}", thisTime ? utcText(*thisTime) : "unreadable",
        nextTime ? ", nextUpdate " + utcText(*nextTime) : "", lastOpensslError()));
  }
  self->thisUpdate_ = *thisTime;
  self->nextUpdate_ = nextTime;
  self->names_ = std::move(names);
  if (nextTime && *nextTime - now < kRenewWarning) {
    log::warn(
        "listener \"{}\": {} reaches its nextUpdate in {} minutes ({}); fetch a fresh "
        "response",
        self->names_.listener, self->names_.setting, (*nextTime - now) / 60, utcText(*nextTime));
  }
  return self;
}

const std::string* OcspStaple::responseAt(time_t now) const {
  if (!nextUpdate_ || now <= *nextUpdate_) return &der_;
  if (!staleReported_.exchange(true)) {
    log::warn(
        "listener \"{}\": {} passed its nextUpdate ({}) and is no longer stapled; clients "
        "that ask get no OCSP response until a fresh one is installed",
        names_.listener, names_.setting, utcText(*nextUpdate_));
  }
  return nullptr;
}

}  // namespace moat::net
