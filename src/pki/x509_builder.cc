#include "pki/x509_builder.h"

#include <arpa/inet.h>

#include <ctime>

#include <fmt/format.h>
#include <openssl/rand.h>

#include "pki/keys.h"

namespace moat::pki {

namespace {

constexpr size_t kSerialBytes = 16;

tl::unexpected<Error> opensslFailure(std::string_view what) {
  return fail(0x80, fmt::format("{}: {}", what, drainOpensslErrors()));
}

Result<Asn1IntegerPtr> serialInteger(std::string_view hex) {
  std::string text(hex);
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, text.c_str()) == 0) return opensslFailure("bad serial number");
  BignumPtr bn(raw);
  Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return opensslFailure("bad serial number");
  return serial;
}

Result<Asn1TimePtr> timeAt(int64_t epochSeconds) {
  Asn1TimePtr t(ASN1_TIME_set(nullptr, static_cast<time_t>(epochSeconds)));
  if (!t) return opensslFailure("cannot encode a time");
  return t;
}

Result<NamePtr> nameWithCommonName(std::string_view commonName) {
  NamePtr name(X509_NAME_new());
  std::string cn(commonName);
  if (!name || X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char*>(cn.c_str()), -1,
                                          -1, 0) != 1) {
    return opensslFailure(fmt::format("cannot use \"{}\" as a common name", cn));
  }
  return name;
}

// Version, serial, subject, issuer, validity and public key: what every certificate has.
Result<X509Ptr> certificateSkeleton(std::string_view serial, std::string_view commonName,
                                    X509_NAME* issuer, int64_t notBefore, int64_t notAfter,
                                    EVP_PKEY* key) {
  X509Ptr cert(X509_new());
  if (!cert) return opensslFailure("X509_new");
  auto serialNumber = serialInteger(serial);
  if (!serialNumber) return tl::unexpected(serialNumber.error());
  auto subject = nameWithCommonName(commonName);
  if (!subject) return tl::unexpected(subject.error());
  auto from = timeAt(notBefore);
  if (!from) return tl::unexpected(from.error());
  auto until = timeAt(notAfter);
  if (!until) return tl::unexpected(until.error());
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serialNumber->get()) != 1 ||
      X509_set_subject_name(cert.get(), subject->get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer ? issuer : subject->get()) != 1 ||
      X509_set1_notBefore(cert.get(), from->get()) != 1 ||
      X509_set1_notAfter(cert.get(), until->get()) != 1 || X509_set_pubkey(cert.get(), key) != 1) {
    return opensslFailure("cannot fill in the certificate");
  }
  return cert;
}

// One extension in OpenSSL's configuration syntax ("critical,CA:TRUE"). Only fixed strings go
// through here; names from the command line are encoded by addSubjectAltNames().
Result<void> addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return opensslFailure(fmt::format("cannot add the extension {} = {}", OBJ_nid2sn(nid), value));
  }
  return {};
}

Result<void> addSubjectAltNames(X509* cert, const std::vector<SubjectAltName>& sans) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return opensslFailure("cannot allocate the subject alternative names");
  for (const auto& san : sans) {
    GeneralNamePtr gen(GENERAL_NAME_new());
    if (!gen) return opensslFailure("GENERAL_NAME_new");
    if (san.type == SubjectAltName::Type::Dns) {
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (!dns || ASN1_STRING_set(dns, san.value.data(), static_cast<int>(san.value.size())) != 1) {
        ASN1_IA5STRING_free(dns);
        return opensslFailure(fmt::format("cannot encode {}", san.toString()));
      }
      GENERAL_NAME_set0_value(gen.get(), GEN_DNS, dns);
    } else {
      ASN1_OCTET_STRING* ip = a2i_IPADDRESS(san.value.c_str());
      if (!ip) return opensslFailure(fmt::format("cannot encode {}", san.toString()));
      GENERAL_NAME_set0_value(gen.get(), GEN_IPADD, ip);
    }
    if (sk_GENERAL_NAME_push(names.get(), gen.get()) == 0) {
      return opensslFailure("cannot add a subject alternative name");
    }
    gen.release();  // the stack owns it now
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return opensslFailure("cannot add the subject alternative names");
  }
  return {};
}

Result<void> sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) return opensslFailure("cannot sign the certificate");
  return {};
}

Result<RevokedPtr> revokedEntry(const CrlEntry& entry) {
  RevokedPtr revoked(X509_REVOKED_new());
  auto serial = serialInteger(entry.serial);
  if (!serial) return tl::unexpected(serial.error());
  auto when = timeAt(entry.revokedAt);
  if (!when) return tl::unexpected(when.error());
  if (!revoked || X509_REVOKED_set_serialNumber(revoked.get(), serial->get()) != 1 ||
      X509_REVOKED_set_revocationDate(revoked.get(), when->get()) != 1) {
    return opensslFailure(fmt::format("cannot list serial {} in the CRL", entry.serial));
  }
  if (entry.reason != RevocationReason::Unspecified) {
    Asn1EnumeratedPtr code(ASN1_ENUMERATED_new());
    if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<long>(entry.reason)) != 1 ||
        X509_REVOKED_add1_ext_i2d(revoked.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
      return opensslFailure(fmt::format("cannot give serial {} its reason", entry.serial));
    }
  }
  return revoked;
}

}  // namespace

Result<std::string> randomSerial() {
  unsigned char bytes[kSerialBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return opensslFailure("no random bytes for a serial");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
  std::string hex;
  for (unsigned char b : bytes) hex += fmt::format("{:02X}", b);
  return hex;
}

std::optional<std::string> normalizeSerial(std::string_view text) {
  if (text.starts_with("0x") || text.starts_with("0X")) text.remove_prefix(2);
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return std::nullopt;
    hex += c;
  }
  size_t first = hex.find_first_not_of('0');
  if (first == std::string::npos) return std::nullopt;  // empty or zero: no such serial
  hex.erase(0, first);
  if (hex.size() % 2 == 1) hex.insert(hex.begin(), '0');  // whole bytes, as BN_bn2hex writes
  return hex;
}

std::string serialOf(X509* cert) {
  BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  return out;
}

int64_t epochOf(const ASN1_TIME* time) {
  std::tm tm{};
  if (!time || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::vector<std::string> subjectAltNamesOf(X509* cert) {
  std::vector<std::string> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names.get(), i);
    if (gen->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gen->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                         static_cast<size_t>(ASN1_STRING_length(s))));
    } else if (gen->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = gen->d.iPAddress;
      int len = ASN1_STRING_length(ip);
      char text[INET6_ADDRSTRLEN] = {};
      if ((len == 4 || len == 16) &&
          inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text, sizeof text)) {
        out.push_back(std::string("IP:") + text);
      }
    }
  }
  return out;
}

Result<X509Ptr> buildCaCertificate(const CaProfile& profile, std::string_view serial,
                                   EVP_PKEY* key) {
  ERR_clear_error();
  auto cert = certificateSkeleton(serial, profile.commonName, nullptr, profile.notBefore,
                                  profile.notAfter, key);
  if (!cert) return cert;
  X509* c = cert->get();
  MOAT_TRY(addExtension(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  MOAT_TRY(addExtension(c, c, NID_key_usage, "critical,keyCertSign,cRLSign"));
  MOAT_TRY(addExtension(c, c, NID_subject_key_identifier, "hash"));
  MOAT_TRY(sign(c, key));
  return cert;
}

Result<X509Ptr> buildLeafCertificate(const LeafProfile& profile, std::string_view serial,
                                     EVP_PKEY* leafKey, X509* caCert, EVP_PKEY* caKey) {
  ERR_clear_error();
  auto cert = certificateSkeleton(serial, profile.commonName, X509_get_subject_name(caCert),
                                  profile.notBefore, profile.notAfter, leafKey);
  if (!cert) return cert;
  X509* c = cert->get();
  MOAT_TRY(addExtension(c, caCert, NID_basic_constraints, "critical,CA:FALSE"));
  MOAT_TRY(addExtension(c, caCert, NID_key_usage,
                        isRsaKey(leafKey) ? "critical,digitalSignature,keyEncipherment"
                                          : "critical,digitalSignature"));
  MOAT_TRY(addExtension(c, caCert, NID_ext_key_usage,
                        profile.kind == CertKind::Server ? "serverAuth" : "clientAuth"));
  MOAT_TRY(addExtension(c, caCert, NID_subject_key_identifier, "hash"));
  MOAT_TRY(addExtension(c, caCert, NID_authority_key_identifier, "keyid:always"));
  if (!profile.sans.empty()) MOAT_TRY(addSubjectAltNames(c, profile.sans));
  MOAT_TRY(sign(c, caKey));
  return cert;
}

Result<CrlPtr> buildCrl(const CrlProfile& profile, X509* caCert, EVP_PKEY* caKey) {
  ERR_clear_error();
  CrlPtr crl(X509_CRL_new());
  auto last = timeAt(profile.lastUpdate);
  if (!last) return tl::unexpected(last.error());
  auto next = timeAt(profile.nextUpdate);
  if (!next) return tl::unexpected(next.error());
  if (!crl || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(caCert)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last->get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next->get()) != 1) {
    return opensslFailure("cannot fill in the CRL");
  }
  for (const auto& entry : profile.revoked) {
    auto revoked = revokedEntry(entry);
    if (!revoked) return tl::unexpected(revoked.error());
    if (X509_CRL_add0_revoked(crl.get(), revoked->get()) != 1) {
      return opensslFailure("cannot add an entry to the CRL");
    }
    revoked->release();  // the CRL owns it now
  }
  X509_CRL_sort(crl.get());

  Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_uint64(number.get(), profile.number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return opensslFailure("cannot add the CRL number");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, caCert, nullptr, nullptr, crl.get(), 0);
  ExtensionPtr aki(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!aki || X509_CRL_add_ext(crl.get(), aki.get(), -1) != 1) {
    return opensslFailure("cannot add the authority key identifier to the CRL");
  }
  if (X509_CRL_sign(crl.get(), caKey, EVP_sha256()) <= 0) {
    return opensslFailure("cannot sign the CRL");
  }
  return crl;
}

}  // namespace moat::pki
