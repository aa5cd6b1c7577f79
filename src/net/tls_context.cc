#include "net/tls_context.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "base/log.h"
#include "net/ocsp_staple.h"
#include "net/server_name.h"

namespace moat::net {

// PSKs by identity; the key bytes are wiped on destruction.
struct TlsContext::SecretMap {
  std::map<std::string, std::string, std::less<>> keys;
  ~SecretMap() {
    for (auto& [_, k] : keys) OPENSSL_cleanse(k.data(), k.size());
  }
};

namespace {
int identityIndex();
}

namespace {
// Per connection: set when sni_strict refused the client's server name.
int refusedNameIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
}  // namespace

bool serverNameRefused(SSL* ssl) { return SSL_get_ex_data(ssl, refusedNameIndex()) != nullptr; }

std::string pskIdentityOf(SSL* ssl) {
  if (const char* id = SSL_get_psk_identity(ssl)) return id;
  auto* id = static_cast<const char*>(SSL_get_ex_data(ssl, identityIndex()));
  return id ? id : "";
}

TlsContext::TlsContext(SSL_CTX* ctx, TlsSettings settings)
    : ctx_(ctx), settings_(std::move(settings)) {}

const std::string* TlsContext::pskFor(const std::string& identity) const {
  if (!psks_) return nullptr;
  auto it = psks_->keys.find(identity);
  return it == psks_->keys.end() ? nullptr : &it->second;
}

std::string lastOpensslError() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

namespace {

Result<int> parseVersion(const std::string& v, const std::string& listener, const char* key) {
  if (v == "1.2") return TLS1_2_VERSION;
  if (v == "1.3") return TLS1_3_VERSION;
  return fail(0x80, fmt::format("listener \"{}\": tls.{} must be \"1.2\" or \"1.3\" (got \"{}\")",
                                listener, key, v));
}

// ALPN: select "mqtt" when the client offers it; a client offering only other protocols is
// answered without ALPN rather than refused.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static const unsigned char kMqtt[] = {'m', 'q', 't', 't'};
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == sizeof kMqtt && std::memcmp(in + i + 1, kMqtt, len) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string subjectOf(X509* cert) {
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  return subject;
}

// The subject of a certificate in `store` that issued `cert` and is not a root, or "" (also
// when a root in `store` issued it too: a cross-signed root next to its self-signed self).
std::string intermediateIssuerIn(X509_STORE* store, X509* cert) {
  std::string intermediate;
  bool root = false;
  X509_STORE_lock(store);
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects) && !root; ++i) {
    X509* candidate = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
    if (!candidate || X509_check_issued(candidate, cert) != X509_V_OK) continue;
    if (X509_check_issued(candidate, candidate) == X509_V_OK) {
      root = true;
    } else if (intermediate.empty()) {
      intermediate = subjectOf(candidate);
    }
  }
  X509_STORE_unlock(store);
  return root ? std::string() : intermediate;
}

std::string serialOf(X509* cert) {
  std::string out;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    char* hex = BN_bn2hex(bn);
    out = hex ? hex : "";
    OPENSSL_free(hex);
    BN_free(bn);
  }
  return out;
}

int64_t secondsLeft(X509* cert) {
  int days = 0, secs = 0;
  if (!ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert))) return 0;
  return int64_t{days} * 86400 + secs;
}

int contextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

const TlsContext* contextOf(SSL* ssl) {
  return static_cast<const TlsContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), contextIndex()));
}

// Verification: with crl_stale = "warn", a CRL past its nextUpdate is reported, not fatal.
int verifyCallback(int ok, X509_STORE_CTX* store) {
  if (ok) return ok;
  int err = X509_STORE_CTX_get_error(store);
  if (err != X509_V_ERR_CRL_HAS_EXPIRED) return ok;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  const TlsContext* ctx = ssl ? contextOf(ssl) : nullptr;
  if (ctx && ctx->settings().crlStale == "warn") {
    log::warn("TLS: a CRL is past its nextUpdate; accepting the certificate "
              "(crl_stale = \"warn\")");
    return 1;
  }
  return ok;
}

void freeIdentity(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { OPENSSL_free(ptr); }

// Per connection: the PSK identity the server callback accepted (SSL_get_psk_identity() does
// not report it for TLS 1.3).
int identityIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, freeIdentity);
  return index;
}

unsigned int serverPsk(SSL* ssl, const char* identity, unsigned char* psk,
                       unsigned int maxPsk) {
  const TlsContext* ctx = contextOf(ssl);
  if (!ctx || !identity) return 0;
  const std::string* key = ctx->pskFor(identity);
  if (!key || key->size() > maxPsk) return 0;  // unknown identity: the handshake fails
  OPENSSL_free(SSL_get_ex_data(ssl, identityIndex()));
  SSL_set_ex_data(ssl, identityIndex(), OPENSSL_strdup(identity));
  std::memcpy(psk, key->data(), key->size());
  return static_cast<unsigned int>(key->size());
}

// Reads every CRL in a PEM or DER file into the store; returns how many.
Result<int> loadCrls(X509_STORE* store, const std::string& file, const std::string& listener,
                     const std::string& stale) {
  BIO* bio = BIO_new_file(file.c_str(), "r");
  if (!bio) {
    return fail(0x80, fmt::format("listener \"{}\": tls.crl \"{}\": {}", listener, file,
                                  lastOpensslError()));
  }
  int count = 0;
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
    const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
    if (next && X509_cmp_current_time(next) < 0) {
      log::warn("listener \"{}\": tls.crl \"{}\" is past its nextUpdate ({})", listener, file,
                stale == "warn" ? "certificates it covers are accepted with a warning"
                                : "certificates it covers are refused");
    }
    X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    ++count;
  }
  ERR_clear_error();
  if (count == 0) {  // maybe DER
    BIO_reset(bio);
    if (X509_CRL* crl = d2i_X509_CRL_bio(bio, nullptr)) {
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
      ++count;
    }
  }
  BIO_free(bio);
  if (count == 0) {
    return fail(0x80, fmt::format("listener \"{}\": tls.crl \"{}\" holds no CRL", listener,
                                  file));
  }
  return count;
}

Result<std::unique_ptr<TlsContext::SecretMap>> loadPskFile(const std::string& file,
                                                           const std::string& listener) {
  std::ifstream in(file);
  if (!in) {
    return fail(0x80, fmt::format("listener \"{}\": tls.psk_file \"{}\": cannot open: {}",
                                  listener, file, std::strerror(errno)));
  }
  auto map = std::make_unique<TlsContext::SecretMap>();
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    std::string identity = line.substr(0, colon);
    std::string hex = colon == std::string::npos ? "" : line.substr(colon + 1);
    long len = 0;
    unsigned char* key = hex.empty() ? nullptr : OPENSSL_hexstr2buf(hex.c_str(), &len);
    OPENSSL_cleanse(hex.data(), hex.size());
    OPENSSL_cleanse(line.data(), line.size());
    if (identity.empty() || !key || len <= 0) {
      OPENSSL_free(key);
      ERR_clear_error();
      // The line is not quoted: it holds a secret.
      return fail(0x80, fmt::format("listener \"{}\": tls.psk_file {}:{}: expected "
                                    "identity:hexkey",
                                    listener, file, n));
    }
    map->keys[identity].assign(reinterpret_cast<char*>(key), static_cast<size_t>(len));
    OPENSSL_clear_free(key, static_cast<size_t>(len));
  }
  if (map->keys.empty()) {
    return fail(0x80, fmt::format("listener \"{}\": tls.psk_file \"{}\" has no entries",
                                  listener, file));
  }
  return map;
}

}  // namespace

// One certificate a listener serves, with the SSL_CTX that carries it.
struct TlsContext::Certificate {
  SSL_CTX* ctx = nullptr;
  bool ownsCtx = false;            // false for the default certificate: that is ctx_
  std::vector<std::string> names;  // the SNI names it is chosen for; empty for the default
  std::string cert, key, ocspFile;
  std::string prefix;  // how messages name its settings: "tls." or "tls.sni[\"name\"]."
  std::unique_ptr<OcspStaple> ocsp;

  ~Certificate() {
    if (ownsCtx) SSL_CTX_free(ctx);
  }
  std::string setting(const char* key, const std::string& file) const {
    return fmt::format("{}{} \"{}\"", prefix, key, file);
  }
  X509* leaf() const { return SSL_CTX_get0_certificate(ctx); }
};

namespace {

int stapleIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// status_request: a client that asks gets the certificate's OCSP response while it is current.
int stapleOcsp(SSL* ssl, void*) {
  auto* staple =
      static_cast<const OcspStaple*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), stapleIndex()));
  const std::string* der = staple ? staple->responseAt(std::time(nullptr)) : nullptr;
  if (!der) return SSL_TLSEXT_ERR_NOACK;
  // OpenSSL takes ownership of the copy.
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der->size()));
  if (!copy) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, der->data(), der->size());
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der->size()));
  return SSL_TLSEXT_ERR_OK;
}

// SNI: switch the handshake to the certificate for the name the client asked for. Called once
// the ClientHello's extensions are read, before the certificate is chosen.
int selectServerName(SSL* ssl, int* alert, void*) {
  const TlsContext* context = contextOf(ssl);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!context || !name) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
  SSL_CTX* chosen = context->contextForServerName(name);
  if (!chosen) {
    SSL_set_ex_data(ssl, refusedNameIndex(), reinterpret_cast<void*>(1));
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (chosen != SSL_get_SSL_CTX(ssl) && !SSL_set_SSL_CTX(ssl, chosen)) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

// Everything of a server SSL_CTX but its certificate, alike for the default one and each SNI
// one. `store` is the default SSL_CTX's trust store (CA and CRLs) for the SNI ones to share, or
// nullptr for the default one, which loads it.
Result<void> configureServer(SSL_CTX* ctx, const TlsSettings& s, int minV, int maxV,
                             TlsContext* owner, X509_STORE* store, const std::string& listener) {
  auto bad = [&](std::string what) -> tl::unexpected<Error> {
    return fail(0x80, fmt::format("listener \"{}\": {}: {}", listener, what, lastOpensslError()));
  };
  SSL_CTX_set_min_proto_version(ctx, minV);
  SSL_CTX_set_max_proto_version(ctx, maxV);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
  // The chain served is the cert file as it is. (Otherwise OpenSSL builds it again at every
  // handshake from the trust store, verifying the server's own certificate against tls.ca: up to a
  // fifth of a handshake's CPU on a listener with client certificates, docs/benchmarks.md.)
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
  if (SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1) {
    return bad(fmt::format("tls.ciphers \"{}\"", s.ciphers));
  }
  if (SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1) {
    return bad(fmt::format("tls.ciphersuites \"{}\"", s.ciphersuites));
  }
  if (SSL_CTX_set1_groups_list(ctx, s.groups.c_str()) != 1) {
    return bad(fmt::format("tls.groups \"{}\"", s.groups));
  }
  SSL_CTX_set_ex_data(ctx, contextIndex(), owner);
  if (!s.pskFile.empty()) {
    SSL_CTX_set_psk_server_callback(ctx, serverPsk);
    if (!s.pskHint.empty() && SSL_CTX_use_psk_identity_hint(ctx, s.pskHint.c_str()) != 1) {
      return bad(fmt::format("tls.psk_hint \"{}\"", s.pskHint));
    }
    // TLS 1.2 PSK suites (forward-secret ECDHE-PSK first) next to the certificate suites.
    std::string withPsk = "ECDHE-PSK-CHACHA20-POLY1305:" + s.ciphers +
                          ":PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305";
    if (SSL_CTX_set_cipher_list(ctx, withPsk.c_str()) != 1) {
      return bad("tls.ciphers with the PSK suites");
    }
  }
  if (s.clientCert != ClientCertMode::None) {
    if (s.ca.empty()) {
      return fail(0x80, fmt::format("listener \"{}\": tls.client_cert needs tls.ca", listener));
    }
    if (store) {
      // The client's chain is verified against the SSL_CTX the handshake ends up on.
      SSL_CTX_set1_cert_store(ctx, store);
    } else {
      if (SSL_CTX_load_verify_locations(ctx, s.ca.c_str(), nullptr) != 1) {
        return bad(fmt::format("tls.ca \"{}\"", s.ca));
      }
      if (!s.crl.empty()) {
        X509_STORE* own = SSL_CTX_get_cert_store(ctx);
        for (const auto& file : s.crl) {
          auto n = loadCrls(own, file, listener, s.crlStale);
          if (!n) return tl::unexpected(n.error());
        }
        // Every certificate of the chain is checked, so each CA needs its CRL.
        X509_STORE_set_flags(own, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
      }
    }
    int mode = SSL_VERIFY_PEER;
    if (s.clientCert == ClientCertMode::Require) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, verifyCallback);
    SSL_CTX_set_verify_depth(ctx, s.verifyDepth);
    // The CA names sent in CertificateRequest help clients pick the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
  }
  static const unsigned char kSessionContext[] = "moat";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  if (s.sessionResumption) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    // TLS 1.3: one ticket per handshake, not OpenSSL's two. A client resumes one connection at
    // a time, and each ticket costs an encryption and a record (about 5 % of a full handshake's
    // CPU, docs/benchmarks.md).
    SSL_CTX_set_num_tickets(ctx, 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, nullptr);
  SSL_CTX_set_tlsext_status_cb(ctx, stapleOcsp);
  return {};
}

}  // namespace

Result<void> TlsContext::loadCertificate(const std::string& listener) {
  Certificate& c = *certs_.back();
  auto bad = [&](std::string what) -> tl::unexpected<Error> {
    return fail(0x80, fmt::format("listener \"{}\": {}: {}", listener, what, lastOpensslError()));
  };
  auto mismatch = [&] {
    return bad(
        fmt::format("{} does not match {}", c.setting("key", c.key), c.setting("cert", c.cert)));
  };
  if (SSL_CTX_use_certificate_chain_file(c.ctx, c.cert.c_str()) != 1) {
    return bad(c.setting("cert", c.cert));
  }
  if (SSL_CTX_use_PrivateKey_file(c.ctx, c.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) return mismatch();
    return bad(c.setting("key", c.key));
  }
  if (SSL_CTX_check_private_key(c.ctx) != 1) return mismatch();
  X509* leaf = c.leaf();
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
    return fail(
        0x80, fmt::format("listener \"{}\": {} has expired", listener, c.setting("cert", c.cert)));
  }
  // The file must hold a chain a client can follow: leaf first, then each issuer in turn.
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(c.ctx, &chain);
  X509* child = leaf;
  for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
    X509* parent = sk_X509_value(chain, i);
    if (X509_check_issued(parent, child) != X509_V_OK) {
      return fail(0x80, fmt::format("listener \"{}\": {}: the chain is broken: {} did not issue "
                                    "{} (put the server certificate first, then each issuer)",
                                    listener, c.setting("cert", c.cert), subjectOf(parent),
                                    subjectOf(child)));
    }
    child = parent;
  }
  // Only the file is served: an intermediate that is in tls.ca alone never reaches clients.
  if (X509_check_issued(child, child) != X509_V_OK) {
    if (auto issuer = intermediateIssuerIn(SSL_CTX_get_cert_store(c.ctx), child); !issuer.empty()) {
      log::warn(
          "listener \"{}\": {} does not hold {}, which issued {}: clients that trust only the "
          "root cannot verify the server (tls.ca is for client certificates, and is not served); "
          "append it to the file",
          listener, c.setting("cert", c.cert), issuer, subjectOf(child));
    }
  }
  if (!c.ocspFile.empty()) {
    auto staple = OcspStaple::load(
        c.ocspFile, leaf, chain, settings_.ca,
        {listener, c.setting("ocsp_response", c.ocspFile), c.setting("cert", c.cert)});
    if (!staple) return tl::unexpected(staple.error());
    c.ocsp = std::move(*staple);
    SSL_CTX_set_ex_data(c.ctx, stapleIndex(), c.ocsp.get());
  }
  if (int64_t left = secondsLeft(leaf); left < 14 * 86400) {
    log::warn("listener \"{}\": {} expires in {} hours; renew it", listener,
              c.setting("cert", c.cert), left / 3600);
  }
  return {};
}

Result<std::shared_ptr<const TlsContext>> TlsContext::create(const TlsSettings& s,
                                                             const std::string& listener) {
  ERR_clear_error();
  auto minV = parseVersion(s.minVersion, listener, "min_version");
  if (!minV) return tl::unexpected(minV.error());
  auto maxV = parseVersion(s.maxVersion, listener, "max_version");
  if (!maxV) return tl::unexpected(maxV.error());
  if (*minV > *maxV) {
    return fail(0x80,
                fmt::format("listener \"{}\": tls.min_version is above tls.max_version", listener));
  }
  if ((s.cert.empty() || s.key.empty()) && s.pskFile.empty()) {
    return fail(0x80, fmt::format("listener \"{}\": tls.cert and tls.key are required "
                                  "(or tls.psk_file for a PSK-only listener)",
                                  listener));
  }
  if ((!s.sni.empty() || !s.ocspResponse.empty()) && s.cert.empty()) {
    return fail(0x80, fmt::format("listener \"{}\": tls.{} needs tls.cert and tls.key", listener,
                                  s.sni.empty() ? "ocsp_response" : "sni"));
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return fail(0x80, "SSL_CTX_new: " + lastOpensslError());
  std::shared_ptr<TlsContext> self(new TlsContext(ctx, s));
  if (!s.pskFile.empty()) {
    auto psks = loadPskFile(s.pskFile, listener);
    if (!psks) return tl::unexpected(psks.error());
    self->psks_ = std::move(*psks);
  }
  MOAT_TRY(configureServer(ctx, s, *minV, *maxV, self.get(), nullptr, listener));
  auto main = std::make_unique<Certificate>();
  main->ctx = ctx;
  main->cert = s.cert;
  main->key = s.key;
  main->ocspFile = s.ocspResponse;
  main->prefix = "tls.";
  self->certs_.push_back(std::move(main));
  if (!s.cert.empty()) MOAT_TRY(self->loadCertificate(listener));
  for (const auto& entry : s.sni) {
    auto c = std::make_unique<Certificate>();
    c->ctx = SSL_CTX_new(TLS_server_method());
    if (!c->ctx) return fail(0x80, "SSL_CTX_new: " + lastOpensslError());
    c->ownsCtx = true;
    c->names = entry.names;
    c->cert = entry.cert;
    c->key = entry.key;
    c->ocspFile = entry.ocspResponse;
    c->prefix = fmt::format("tls.sni[\"{}\"].", entry.names.empty() ? "" : entry.names[0]);
    SSL_CTX* sniCtx = c->ctx;
    self->certs_.push_back(std::move(c));
    MOAT_TRY(configureServer(sniCtx, s, *minV, *maxV, self.get(), SSL_CTX_get_cert_store(ctx),
                             listener));
    MOAT_TRY(self->loadCertificate(listener));
  }
  if ((!s.sni.empty() || s.sniStrict) && !s.cert.empty()) {
    SSL_CTX_set_tlsext_servername_callback(ctx, selectServerName);
  }

  if (X509* leaf = SSL_CTX_get0_certificate(ctx)) {
    self->subject_ = subjectOf(leaf);
    self->serial_ = serialOf(leaf);
  }
  // The reports: the default certificate as before, then each SNI one with its names.
  for (const auto& c : self->certs_) {
    X509* leaf = c->leaf();
    if (!leaf) {
      self->summary_ = "no certificate";
      self->details_ = "certificate  serial , expires in 0 days";
      continue;
    }
    std::string staple;
    if (c->ocsp) {
      auto next = c->ocsp->nextUpdate();
      staple = next ? ", OCSP response stapled until " + utcText(*next)
                    : std::string(", OCSP response stapled");
    }
    std::string names =
        c->names.empty() ? "" : fmt::format("; for {}: ", fmt::join(c->names, ", "));
    self->summary_ += fmt::format("{}{} (expires in {} days{})", names, subjectOf(leaf),
                                  secondsLeft(leaf) / 86400, staple);
    self->details_ +=
        fmt::format("{}certificate {} serial {}, expires in {} days{}", names, subjectOf(leaf),
                    serialOf(leaf), secondsLeft(leaf) / 86400, staple);
  }
  return std::shared_ptr<const TlsContext>(std::move(self));
}

SSL_CTX* TlsContext::contextForServerName(std::string_view serverName) const {
  for (bool wildcards : {false, true}) {  // an exact name wins over a wildcard
    for (size_t i = 1; i < certs_.size(); ++i) {
      for (const auto& pattern : certs_[i]->names) {
        if (pattern.starts_with("*.") == wildcards && serverNameMatches(pattern, serverName)) {
          return certs_[i]->ctx;
        }
      }
    }
  }
  if (!settings_.sniStrict) return ctx_;
  // Strict: the name must be one of an entry's or one the default certificate is for.
  X509* leaf = SSL_CTX_get0_certificate(ctx_);
  std::string name(serverName);
  if (leaf && X509_check_host(leaf, name.c_str(), name.size(), 0, nullptr) == 1) return ctx_;
  return nullptr;
}

int64_t TlsContext::secondsToExpiry() const {
  std::optional<int64_t> soonest;
  for (const auto& c : certs_) {
    if (X509* leaf = c->leaf()) {
      int64_t left = secondsLeft(leaf);
      soonest = soonest ? std::min(*soonest, left) : left;
    }
  }
  return soonest.value_or(0);
}

bool TlsContext::revokes(X509* cert) const {
  if (!cert || settings_.crl.empty()) return false;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
  bool revoked = false;
  X509_STORE_lock(store);
  STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects) && !revoked; ++i) {
    X509_CRL* crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objects, i));
    if (!crl || X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0) continue;
    X509_REVOKED* entry = nullptr;
    revoked = X509_CRL_get0_by_cert(crl, &entry, cert) == 1;
  }
  X509_STORE_unlock(store);
  return revoked;
}

std::vector<std::string> TlsContext::files() const {
  std::vector<std::string> out;
  for (const auto* f : {&settings_.cert, &settings_.key, &settings_.ca, &settings_.pskFile}) {
    if (!f->empty()) out.push_back(*f);
  }
  for (const auto& f : settings_.crl) out.push_back(f);
  if (!settings_.ocspResponse.empty()) out.push_back(settings_.ocspResponse);
  for (const auto& entry : settings_.sni) {
    for (const auto* f : {&entry.cert, &entry.key, &entry.ocspResponse}) {
      if (!f->empty()) out.push_back(*f);
    }
  }
  return out;
}

namespace {

// PSK for clients: the identity and key from the settings kept in the context's ex_data.
int pskIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

unsigned int clientPsk(SSL* ssl, const char*, char* identity, unsigned int maxIdentity,
                       unsigned char* psk, unsigned int maxPsk) {
  auto* settings = static_cast<const TlsClientSettings*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), pskIndex()));
  if (!settings || settings->pskIdentity.size() + 1 > maxIdentity) return 0;
  long len = 0;
  unsigned char* key = OPENSSL_hexstr2buf(settings->pskHex.c_str(), &len);
  if (!key || len <= 0 || static_cast<unsigned int>(len) > maxPsk) {
    OPENSSL_free(key);
    return 0;
  }
  std::memcpy(identity, settings->pskIdentity.c_str(), settings->pskIdentity.size() + 1);
  std::memcpy(psk, key, static_cast<size_t>(len));
  OPENSSL_clear_free(key, static_cast<size_t>(len));
  return static_cast<unsigned int>(len);
}

}  // namespace

Result<std::shared_ptr<const TlsContext>> TlsContext::createClient(const TlsClientSettings& s) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return fail(0x80, "SSL_CTX_new: " + lastOpensslError());
  std::shared_ptr<TlsContext> self(new TlsContext(ctx, {}));
  self->isClient_ = true;
  self->client_ = s;
  auto bad = [&](std::string what) -> tl::unexpected<Error> {
    return fail(0x80, fmt::format("{}: {}", what, lastOpensslError()));
  };
  int minV = TLS1_2_VERSION, maxV = TLS1_3_VERSION;
  if (s.version == "tlsv1.2") {
    maxV = TLS1_2_VERSION;
  } else if (s.version == "tlsv1.3") {
    minV = TLS1_3_VERSION;
  } else if (!s.version.empty()) {
    return fail(0x80, fmt::format("--tls-version must be tlsv1.2 or tlsv1.3 (got \"{}\")",
                                  s.version));
  }
  SSL_CTX_set_min_proto_version(ctx, minV);
  SSL_CTX_set_max_proto_version(ctx, maxV);
  if (!s.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1) {
    return bad(fmt::format("--ciphers \"{}\"", s.ciphers));
  }
  if (!s.pskIdentity.empty() || !s.pskHex.empty()) {
    if (s.pskIdentity.empty() || s.pskHex.empty()) {
      return fail(0x80, "--psk and --psk-identity go together");
    }
    if (s.pskIdentity.size() > PSK_MAX_IDENTITY_LEN) {
      return fail(0x80,
                  fmt::format("--psk-identity is longer than {} bytes", PSK_MAX_IDENTITY_LEN));
    }
    // Checked here rather than in the callback, where a bad key could only fail the handshake.
    long len = 0;
    unsigned char* key = OPENSSL_hexstr2buf(s.pskHex.c_str(), &len);
    OPENSSL_clear_free(key, key ? static_cast<size_t>(len) : 0);
    ERR_clear_error();
    if (!key || len <= 0 || len > PSK_MAX_PSK_LEN) {
      return fail(0x80, fmt::format("--psk must be a key in hexadecimal, an even number of digits "
                                    "(at most {} bytes)",
                                    PSK_MAX_PSK_LEN));
    }
    SSL_CTX_set_ex_data(ctx, pskIndex(), &self->client_);
    SSL_CTX_set_psk_client_callback(ctx, clientPsk);
    if (s.ciphers.empty()) {
      SSL_CTX_set_cipher_list(ctx, "PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:"
                                   "ECDHE-PSK-CHACHA20-POLY1305:PSK-CHACHA20-POLY1305");
    }
    // A server that does not take the PSK may still finish a TLS 1.3 handshake with a
    // certificate; with no trust anchors loaded, verification then refuses it rather than
    // accepting an unauthenticated server.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    if (!s.caFile.empty() || !s.caPath.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, s.caFile.empty() ? nullptr : s.caFile.c_str(),
                                        s.caPath.empty() ? nullptr : s.caPath.c_str()) != 1) {
        return bad(s.caFile.empty() ? fmt::format("--capath \"{}\"", s.caPath)
                                    : fmt::format("--cafile \"{}\"", s.caFile));
      }
    } else {
      SSL_CTX_set_default_verify_paths(ctx);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!s.cert.empty()) {
    const std::string& keyFile = s.key.empty() ? s.cert : s.key;
    if (SSL_CTX_use_certificate_chain_file(ctx, s.cert.c_str()) != 1) {
      return bad(fmt::format("--cert \"{}\"", s.cert));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
      return bad(fmt::format("--key \"{}\"", keyFile));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return bad(fmt::format("--key \"{}\" does not match --cert \"{}\"", keyFile, s.cert));
    }
  }
  static const unsigned char kAlpn[] = {4, 'm', 'q', 't', 't'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
  return std::shared_ptr<const TlsContext>(std::move(self));
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
  OPENSSL_cleanse(client_.pskHex.data(), client_.pskHex.size());
}

}  // namespace moat::net
