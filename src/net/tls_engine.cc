#include "net/tls_engine.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

namespace moat::net {

namespace {

constexpr size_t kChunk = 16 * 1024;

std::string nameOf(X509_NAME* name) {
  if (!name) return {};
  BIO* b = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(b);
  return out;
}

std::string serialOf(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (!bn) return {};
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

// Names the verification failures the operator most needs to tell apart.
std::string verifyReason(long result) {
  switch (result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return fmt::format("client certificate from an unknown CA ({})",
                         X509_verify_cert_error_string(result));
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "client certificate expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "client certificate not yet valid";
    case X509_V_ERR_CERT_REVOKED:
      return "client certificate revoked";
    case X509_V_ERR_UNABLE_TO_GET_CRL:
      return "no CRL for the client certificate's issuer";
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return "CRL past its nextUpdate";
    default:
      return fmt::format("client certificate rejected: {}", X509_verify_cert_error_string(result));
  }
}

// The client's view: why it could not accept the server's certificate, with the usual fix.
std::string serverVerifyReason(long result, const std::string& serverName, bool psk) {
  std::string what = X509_verify_cert_error_string(result);
  if (psk) {
    // A PSK client trusts no certificate: the server did not take the PSK (TLS 1.3).
    return fmt::format(
        "the server answered with a certificate instead of accepting our PSK "
        "(unknown --psk-identity?; {})",
        what);
  }
  switch (result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return fmt::format(
          "server certificate rejected: {} (not issued by a CA in --cafile/--capath)", what);
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return fmt::format(
          "server certificate rejected: {} (it is not for \"{}\"; --insecure skips this check)",
          what, serverName);
    default:
      return fmt::format("server certificate rejected: {}", what);
  }
}

// The client's view of an alert or error from the server during or right after the handshake.
std::optional<std::string> clientFailure(int reason, bool psk) {
  switch (reason) {
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      return "the server does not trust our client certificate (alert: unknown CA)";
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      return "the server rejected our client certificate (alert: bad certificate)";
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      return "the server rejected our client certificate (alert: certificate expired)";
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
      return "the server rejected our client certificate (alert: certificate revoked)";
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "the server requires a client certificate (--cert and --key)";
    case SSL_R_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY:
      return "the server does not know our PSK identity (alert: unknown PSK identity)";
    case SSL_R_TLSV1_UNRECOGNIZED_NAME:
      return "the server has no certificate for the host name we asked for (alert: unrecognized "
             "name)";
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
    case SSL_R_SSLV3_ALERT_BAD_RECORD_MAC:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
      return "the handshake did not verify (alert: decrypt error; wrong PSK?)";
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
      return "no TLS version both sides accept (--tls-version?)";
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      // TLS 1.3: a server that finds no key for our identity falls back to certificates.
      return psk ? "the server refused the handshake (alert: handshake failure; unknown "
                   "--psk-identity, or no common cipher?)"
                 : "the server refused the handshake (alert: handshake failure; does it "
                   "require a client certificate (--cert, --key), or share no cipher with us?)";
    case SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER:
      // TLS 1.3: the binder made with a wrong key does not verify.
      return psk ? "the server refused our PSK (alert: illegal parameter; wrong --psk?)"
                 : "the server refused the handshake (alert: illegal parameter)";
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
      return "no cipher both sides accept (--ciphers?)";
    case SSL_R_HTTP_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      return "the server did not answer in TLS (a plain MQTT port?)";
    default:
      return std::nullopt;
  }
}

// The engine's BIO reads from the bytes receive() was given and appends what OpenSSL writes to
// the caller's `wire`: no buffer of its own between calls (memory BIOs keep theirs, grown to the
// largest flight, for the connection's life) and one copy less each way.
int passThroughRead(BIO* bio, char* to, int size) {
  auto* io = static_cast<detail::PassThrough*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (io->in.empty()) {
    BIO_set_retry_read(bio);  // "no data yet", not end of stream
    return -1;
  }
  const size_t n = std::min(io->in.size(), static_cast<size_t>(size));
  std::memcpy(to, io->in.data(), n);
  io->in.remove_prefix(n);
  return static_cast<int>(n);
}

int passThroughWrite(BIO* bio, const char* from, int size) {
  auto* io = static_cast<detail::PassThrough*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (!io->out) {  // OpenSSL writes only inside the engine's calls, which set `out`
    BIO_set_retry_write(bio);
    return -1;
  }
  io->out->append(from, static_cast<size_t>(size));
  return size;
}

long passThroughControl(BIO*, int command, long, void*) {
  return command == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is ever pending in the BIO itself
}

BIO_METHOD* passThroughMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "moat pass-through");
    BIO_meth_set_read(m, passThroughRead);
    BIO_meth_set_write(m, passThroughWrite);
    BIO_meth_set_ctrl(m, passThroughControl);
    return m;
  }();
  return method;
}

}  // namespace

TlsEngine::TlsEngine(std::shared_ptr<const TlsContext> context, const std::string& serverName)
    : context_(std::move(context)) {
  ssl_ = SSL_new(context_->native());
  BIO* bio = BIO_new(passThroughMethod());
  BIO_set_data(bio, &io_);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // one reference, for both directions
  if (!context_->isClient()) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  peerName_ = serverName;
  if (!serverName.empty()) {
    // SNI only for names, not for IP addresses (RFC 6066).
    bool isIp = serverName.find_first_not_of("0123456789.") == std::string::npos ||
                serverName.find(':') != std::string::npos;
    if (!isIp) SSL_set_tlsext_host_name(ssl_, serverName.c_str());
    if (!context_->clientSettings().insecure) {
      // A name that only looks like an address ("127.1") is checked as a host name, so it
      // fails to match rather than leaving the certificate's name unchecked.
      if (!isIp || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), serverName.c_str()) != 1) {
        SSL_set1_host(ssl_, serverName.c_str());
      }
    }
  }
}

void TlsEngine::start(std::string& wire) {
  Io io(io_, {}, wire);
  ERR_clear_error();
  SSL_do_handshake(ssl_);
}

TlsEngine::~TlsEngine() { SSL_free(ssl_); }

std::string TlsEngine::serverName() const {
  const char* sni = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return sni ? sni : "";
}

std::string TlsEngine::failureReason(int sslError) {
  if (!context_->isClient() && serverNameRefused(ssl_)) {
    ERR_clear_error();
    return fmt::format("no certificate for server name \"{}\"", serverName());
  }
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    if (context_->isClient()) {
      return serverVerifyReason(verify, peerName_, !context_->clientSettings().pskHex.empty());
    }
    return verifyReason(verify);
  }
  unsigned long e = ERR_peek_error();
  int reason = ERR_GET_REASON(e);
  std::string detail = sslError == SSL_ERROR_SSL ? lastOpensslError() : "";
  ERR_clear_error();
  if (context_->isClient()) {
    if (auto why = clientFailure(reason, !context_->clientSettings().pskHex.empty())) return *why;
    if (sslError == SSL_ERROR_SYSCALL || sslError == SSL_ERROR_ZERO_RETURN) {
      return "the server closed the connection during the handshake";
    }
    return detail.empty() ? fmt::format("TLS error {}", sslError) : detail;
  }
  switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
      return "no client certificate";
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
      return "protocol version not allowed (" + detail + ")";
    case SSL_R_NO_SHARED_CIPHER:
      return "no shared cipher";
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      // A PSK-only listener falls back to certificates when the PSK is not found.
      if (context_->settings().cert.empty() && !context_->settings().pskFile.empty()) {
        return "unknown PSK identity (or the client offered no PSK)";
      }
      return "no signature algorithm in common with the server certificate's key";
    case SSL_R_BINDER_DOES_NOT_VERIFY:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
      return "the PSK does not match the key on file for this identity";
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      return "the client does not trust the server certificate (alert: unknown CA)";
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      return "the client rejected the server certificate (alert: bad certificate; wrong host "
             "name?)";
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      return "the client rejected the server certificate (alert: certificate expired)";
    case SSL_R_HTTP_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      return "not a TLS handshake (plain MQTT or another protocol on a TLS port?)";
    case SSL_R_NO_SUITABLE_KEY_SHARE:
      return "no key-exchange group in common (tls.groups)";
    default:
      break;
  }
  if (sslError == SSL_ERROR_SYSCALL || sslError == SSL_ERROR_ZERO_RETURN) {
    return "peer closed during the handshake";
  }
  return detail.empty() ? fmt::format("TLS error {}", sslError) : detail;
}

Result<void> TlsEngine::receive(std::string_view in, std::string& app, std::string& wire) {
  if (!unread_.empty()) {  // the rest of an earlier call's bytes comes first
    unread_.append(in);
    in = unread_;
  }
  Io io(io_, in, wire);
  Result<void> result = decrypt(app);
  // OpenSSL reads until it runs out (it asks for more) or fails, so after a success nothing is
  // normally left. After a failure or the peer's close_notify nothing more is read: what came
  // after it is dropped, not kept (and copied again) with every later read.
  if (result) {
    unread_.assign(io_.in);  // may point into unread_ itself: assign() copies safely
  } else {
    unread_.clear();
  }
  return result;
}

Result<void> TlsEngine::decrypt(std::string& app) {
  if (!handshakeDone_) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
      return fail(0x80, failureReason(err));  // `wire` has the alert, if any
    }
    handshakeDone_ = true;
    collectFacts();
  }
  // Decrypt everything buffered.
  while (true) {
    size_t at = app.size();
    app.resize(at + kChunk);
    ERR_clear_error();
    int n = SSL_read(ssl_, app.data() + at, static_cast<int>(kChunk));
    if (n > 0) {
      app.resize(at + static_cast<size_t>(n));
      continue;
    }
    app.resize(at);
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
    if (err == SSL_ERROR_ZERO_RETURN) return fail(0x00, "TLS close_notify from the peer");
    return fail(0x80, failureReason(err));
  }
}

Result<void> TlsEngine::send(std::string_view plain, std::string& wire) {
  Io io(io_, {}, wire);
  while (!plain.empty()) {
    ERR_clear_error();
    int n = SSL_write(ssl_, plain.data(), static_cast<int>(std::min(plain.size(), kChunk)));
    if (n <= 0) return fail(0x80, "TLS write failed: " + lastOpensslError());
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

void TlsEngine::close(std::string& wire) {
  if (handshakeDone_) {
    Io io(io_, {}, wire);
    SSL_shutdown(ssl_);
  }
}

bool TlsEngine::revokedBy(const TlsContext& context) const {
  if (context.revokes(SSL_get0_peer_certificate(ssl_))) return true;
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_);
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    if (context.revokes(sk_X509_value(chain, i))) return true;
  }
  return false;
}

bool TlsEngine::pskRevokedBy(const TlsContext& context) const {
  if (facts_.pskIdentity.empty()) return false;
  const std::string* now = context.pskFor(facts_.pskIdentity);
  const std::string* used = context_->pskFor(facts_.pskIdentity);
  return !now || !used || now->size() != used->size() ||
         CRYPTO_memcmp(now->data(), used->data(), now->size()) != 0;
}

void TlsEngine::collectFacts() {
  facts_.version = SSL_get_version(ssl_);
  facts_.cipher = SSL_get_cipher_name(ssl_);
  facts_.sni = serverName();
  facts_.resumed = SSL_session_reused(ssl_) == 1;
  const unsigned char* alpn = nullptr;
  unsigned int alpnLen = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &alpnLen);
  if (alpn) facts_.alpn.assign(reinterpret_cast<const char*>(alpn), alpnLen);
  if (!context_->isClient()) facts_.pskIdentity = pskIdentityOf(ssl_);
  if (X509* peer = SSL_get0_peer_certificate(ssl_)) {
    auto cert = std::make_shared<PeerCertificate>();
    cert->subject = nameOf(X509_get_subject_name(peer));
    cert->issuer = nameOf(X509_get_issuer_name(peer));
    cert->serial = serialOf(peer);
    X509_NAME* subject = X509_get_subject_name(peer);
    // Every value of one field of the subject, as UTF-8.
    auto valuesOf = [subject](int nid) {
      std::vector<std::string> values;
      for (int at = -1; (at = X509_NAME_get_index_by_NID(subject, nid, at)) >= 0;) {
        ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
        unsigned char* utf8 = nullptr;
        int len = ASN1_STRING_to_UTF8(&utf8, data);
        if (len > 0) values.emplace_back(reinterpret_cast<char*>(utf8), len);
        OPENSSL_free(utf8);
      }
      return values;
    };
    if (auto cn = valuesOf(NID_commonName); !cn.empty()) cert->commonName = cn.front();
    cert->organizations = valuesOf(NID_organizationName);
    cert->organizationalUnits = valuesOf(NID_organizationalUnitName);
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      std::string* slot = n->type == GEN_DNS     ? &cert->sanDns
                          : n->type == GEN_URI   ? &cert->sanUri
                          : n->type == GEN_EMAIL ? &cert->sanEmail
                                                 : nullptr;
      if (!slot || !slot->empty()) continue;
      const ASN1_IA5STRING* v = n->d.ia5;
      slot->assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                   static_cast<size_t>(ASN1_STRING_length(v)));
    }
    GENERAL_NAMES_free(names);
    // SPKI pin: SHA-256 of the DER SubjectPublicKeyInfo, re-encoded from the parsed
    // certificate (i2d_PUBKEY would run OpenSSL 3's encoder search on the key: about a twentieth
    // of a handshake with a client certificate, docs/benchmarks.md).
    unsigned char* der = nullptr;
    int derLen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(peer), &der);
    if (derLen > 0) {
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int mdLen = 0;
      EVP_Digest(der, static_cast<size_t>(derLen), md, &mdLen, EVP_sha256(), nullptr);
      static const char* kHex = "0123456789abcdef";
      for (unsigned int i = 0; i < mdLen; ++i) {
        cert->spkiSha256 += kHex[md[i] >> 4];
        cert->spkiSha256 += kHex[md[i] & 15];
      }
    }
    OPENSSL_free(der);
    facts_.certificate = std::move(cert);
  }
}

}  // namespace moat::net
