#include "net/tls_context.h"

#include <cstring>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace moat::net {

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

std::string describeCertificate(SSL_CTX* ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx);
  if (!cert) return "no certificate";
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  int days = 0, secs = 0;
  ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert));
  return fmt::format("{} (expires in {} days)", subject, days);
}

}  // namespace

Result<std::shared_ptr<const TlsContext>> TlsContext::create(const TlsSettings& s,
                                                             const std::string& listener) {
  ERR_clear_error();
  auto minV = parseVersion(s.minVersion, listener, "min_version");
  if (!minV) return tl::unexpected(minV.error());
  auto maxV = parseVersion(s.maxVersion, listener, "max_version");
  if (!maxV) return tl::unexpected(maxV.error());
  if (*minV > *maxV) {
    return fail(0x80, fmt::format("listener \"{}\": tls.min_version is above tls.max_version",
                                  listener));
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return fail(0x80, "SSL_CTX_new: " + lastOpensslError());
  std::shared_ptr<TlsContext> self(new TlsContext(ctx, s));
  auto bad = [&](std::string what) -> tl::unexpected<Error> {
    return fail(0x80, fmt::format("listener \"{}\": {}: {}", listener, what, lastOpensslError()));
  };

  SSL_CTX_set_min_proto_version(ctx, *minV);
  SSL_CTX_set_max_proto_version(ctx, *maxV);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1) {
    return bad(fmt::format("tls.ciphers \"{}\"", s.ciphers));
  }
  if (SSL_CTX_set_ciphersuites(ctx, s.ciphersuites.c_str()) != 1) {
    return bad(fmt::format("tls.ciphersuites \"{}\"", s.ciphersuites));
  }
  if (SSL_CTX_set1_groups_list(ctx, s.groups.c_str()) != 1) {
    return bad(fmt::format("tls.groups \"{}\"", s.groups));
  }
  if (s.cert.empty() || s.key.empty()) {
    return fail(0x80, fmt::format("listener \"{}\": tls.cert and tls.key are required", listener));
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, s.cert.c_str()) != 1) {
    return bad(fmt::format("tls.cert \"{}\"", s.cert));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, s.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return bad(fmt::format("tls.key \"{}\"", s.key));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return bad(fmt::format("tls.key \"{}\" does not match tls.cert \"{}\"", s.key, s.cert));
  }
  if (X509* leaf = SSL_CTX_get0_certificate(ctx)) {
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
      return fail(0x80, fmt::format("listener \"{}\": tls.cert \"{}\" has expired", listener,
                                    s.cert));
    }
  }

  if (s.clientCert != ClientCertMode::None) {
    if (s.ca.empty()) {
      return fail(0x80, fmt::format("listener \"{}\": tls.client_cert needs tls.ca", listener));
    }
    if (SSL_CTX_load_verify_locations(ctx, s.ca.c_str(), nullptr) != 1) {
      return bad(fmt::format("tls.ca \"{}\"", s.ca));
    }
    int mode = SSL_VERIFY_PEER;
    if (s.clientCert == ClientCertMode::Require) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
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
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, nullptr);
  self->summary_ = describeCertificate(ctx);
  return std::shared_ptr<const TlsContext>(std::move(self));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace moat::net
