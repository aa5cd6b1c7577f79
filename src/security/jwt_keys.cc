#include "security/jwt_keys.h"

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <unordered_set>
#include <utility>

#include "base/free_with.h"
#include "security/base64.h"

namespace moat::security {

namespace {

namespace json = boost::json;

using BignumPtr = std::unique_ptr<BIGNUM, FreeWith<BN_free>>;
using BioPtr = std::unique_ptr<BIO, FreeWith<BIO_free>>;
using DecoderCtxPtr = std::unique_ptr<OSSL_DECODER_CTX, FreeWith<OSSL_DECODER_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, FreeWith<ECDSA_SIG_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, FreeWith<EVP_MD_CTX_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, FreeWith<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, FreeWith<OSSL_PARAM_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, FreeWith<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, FreeWith<X509_free>>;

tl::unexpected<Error> refuse(std::string message) { return fail(0x80, std::move(message)); }

// Empties this thread's OpenSSL error queue. Every path that may have failed inside OpenSSL ends
// here: reasons left in the queue would be found later by unrelated code on the same thread
// (SSL_get_error on a TLS connection reads it) and taken for its own failure.
tl::unexpected<Error> refuseClearing(std::string message) {
  ERR_clear_error();
  return refuse(std::move(message));
}

struct AlgorithmInfo {
  JwtAlgorithm alg;
  std::string_view name;
};
constexpr AlgorithmInfo kAlgorithmInfo[] = {
    {JwtAlgorithm::HS256, "HS256"}, {JwtAlgorithm::HS384, "HS384"}, {JwtAlgorithm::HS512, "HS512"},
    {JwtAlgorithm::RS256, "RS256"}, {JwtAlgorithm::RS384, "RS384"}, {JwtAlgorithm::RS512, "RS512"},
    {JwtAlgorithm::PS256, "PS256"}, {JwtAlgorithm::ES256, "ES256"}, {JwtAlgorithm::ES384, "ES384"},
    {JwtAlgorithm::EdDSA, "EdDSA"},
};

const EVP_MD* digestOf(JwtAlgorithm alg) {
  switch (alg) {
    case JwtAlgorithm::HS256:
    case JwtAlgorithm::RS256:
    case JwtAlgorithm::PS256:
    case JwtAlgorithm::ES256:
      return EVP_sha256();
    case JwtAlgorithm::HS384:
    case JwtAlgorithm::RS384:
    case JwtAlgorithm::ES384:
      return EVP_sha384();
    case JwtAlgorithm::HS512:
    case JwtAlgorithm::RS512:
      return EVP_sha512();
    case JwtAlgorithm::EdDSA:
      return nullptr;  // Ed25519 hashes internally (RFC 8032 PureEdDSA)
  }
  return nullptr;
}

// RFC 7518 3.2: an HMAC key at least as long as the hash output.
size_t minHmacBytes(JwtAlgorithm alg) {
  switch (alg) {
    case JwtAlgorithm::HS384:
      return 48;
    case JwtAlgorithm::HS512:
      return 64;
    default:
      return 32;
  }
}

// Builds the value as boost::json::parser would, and fails on the second member of an object
// with a name seen before in that object (Boost 1.81 would silently keep the last one).
class StrictJsonHandler {
 public:
  static constexpr size_t max_array_size = static_cast<size_t>(-1);
  static constexpr size_t max_object_size = static_cast<size_t>(-1);
  static constexpr size_t max_string_size = static_cast<size_t>(-1);
  static constexpr size_t max_key_size = static_cast<size_t>(-1);

  explicit StrictJsonHandler(json::storage_ptr sp) : stack_(sp) { stack_.reset(std::move(sp)); }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(size_t n, json::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_object_begin(json::error_code&) {
    names_.emplace_back();
    return true;
  }
  bool on_object_end(size_t n, json::error_code&) {
    stack_.push_object(n);
    names_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view s, size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, size_t, json::error_code&) {
    stack_.push_string(s);
    return true;
  }
  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    stack_.push_chars(s);
    name_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, json::error_code& ec) {
    name_.append(s.data(), s.size());
    if (!names_.back().insert(name_).second) {
      duplicate_ = std::move(name_);
      ec = json::error::syntax;
      return false;
    }
    name_.clear();
    stack_.push_key(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    stack_.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    stack_.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    stack_.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack_.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  json::value_stack stack_;
  std::vector<std::unordered_set<std::string>> names_;  // one set per open object
  std::string name_;                                    // the member name being read
  std::optional<std::string> duplicate_;
};

// Plain new/delete, but every block is wiped before it is freed: for JSON documents that hold
// HMAC secrets ("k" of a JWKS). Each block starts with its own size, because Boost.JSON 1.81
// does not always pass back the alignment it allocated with (AddressSanitizer catches it), and
// the wipe must cover exactly what was allocated whatever the caller says.
class WipingResource final : public json::memory_resource {
  static constexpr size_t kHeader = alignof(std::max_align_t);

  void* do_allocate(size_t bytes, size_t align) override {
    if (align > kHeader || bytes > SIZE_MAX - kHeader) throw std::bad_alloc();
    auto* block = static_cast<unsigned char*>(::operator new(kHeader + bytes));
    *reinterpret_cast<size_t*>(block) = bytes;
    return block + kHeader;
  }
  void do_deallocate(void* p, size_t, size_t) override {
    unsigned char* block = static_cast<unsigned char*>(p) - kHeader;
    OPENSSL_cleanse(block, kHeader + *reinterpret_cast<size_t*>(block));
    ::operator delete(block);
  }
  bool do_is_equal(const json::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

// A member that must be a string when present.
Result<std::optional<std::string_view>> optionalString(const json::object& o,
                                                       std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) return refuse(fmt::format("\"{}\" is not a string", name));
  return std::string_view(v->get_string());
}

// A base64url member that must be there: the bytes it encodes.
Result<std::string> requiredBytes(const json::object& o, std::string_view name) {
  auto text = optionalString(o, name);
  if (!text) return tl::unexpected(text.error());
  if (!*text) return refuse(fmt::format("\"{}\" is missing", name));
  auto bytes = decodeBase64Url(**text);
  if (!bytes) return refuse(fmt::format("\"{}\" is not base64url", name));
  return std::move(*bytes);
}

// Why `jwk` is not meant for checking signatures (RFC 7517 4.2 "use", 4.3 "key_ops"), or
// nullopt when it is (or does not say).
Result<std::optional<std::string>> notForSignatures(const json::object& jwk) {
  auto use = optionalString(jwk, "use");
  if (!use) return tl::unexpected(use.error());
  if (*use && **use != "sig") return fmt::format("use {}", quoteForMessage(**use));
  if (const json::value* ops = jwk.if_contains("key_ops")) {
    if (!ops->is_array()) return refuse("\"key_ops\" is not an array");
    bool verify = false;
    for (const json::value& op : ops->get_array()) {
      if (!op.is_string()) return refuse("\"key_ops\" holds something other than strings");
      verify = verify || op.get_string() == "verify";
    }
    if (!verify) return std::string("key_ops without \"verify\"");
  }
  return std::nullopt;
}

// RFC 7517 / 7518 6.3.2 and 6.2.2: the private parts of RSA, EC and OKP keys.
constexpr std::string_view kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth"};

Result<EVP_PKEY*> pkeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return refuseClearing(fmt::format("not a valid {} public key", type));
  }
  return pkey;
}

Result<EVP_PKEY*> rsaFromJwk(const json::object& jwk) {
  auto n = requiredBytes(jwk, "n");
  if (!n) return tl::unexpected(n.error());
  auto e = requiredBytes(jwk, "e");
  if (!e) return tl::unexpected(e.error());
  if (n->size() > kMaxRsaBits / 8 + 1) return refuse("\"n\" is longer than 16384 bits");
  if (e->size() > 8) return refuse("\"e\" is longer than 64 bits");
  BignumPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                         static_cast<int>(n->size()), nullptr));
  BignumPtr be(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                         static_cast<int>(e->size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bn || !be || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) != 1) {
    return refuseClearing("out of memory building an RSA key");
  }
  return pkeyFromParams("RSA", bld.get());
}

Result<EVP_PKEY*> ecFromJwk(const json::object& jwk) {
  auto crv = optionalString(jwk, "crv");
  if (!crv) return tl::unexpected(crv.error());
  if (!*crv) return refuse("\"crv\" is missing");
  const char* group = nullptr;
  size_t size = 0;
  if (**crv == "P-256") {
    group = SN_X9_62_prime256v1, size = 32;
  } else if (**crv == "P-384") {
    group = SN_secp384r1, size = 48;
  } else {
    return refuse(
        fmt::format("EC curve {} is not supported (P-256 or P-384)", quoteForMessage(**crv)));
  }
  auto x = requiredBytes(jwk, "x");
  if (!x) return tl::unexpected(x.error());
  auto y = requiredBytes(jwk, "y");
  if (!y) return tl::unexpected(y.error());
  // RFC 7518 6.2.1.2: each coordinate is the full size of the curve, leading zeros kept.
  if (x->size() != size || y->size() != size) {
    return refuse(fmt::format("\"x\" and \"y\" of a {} key must be {} bytes each", **crv, size));
  }
  std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return refuseClearing("out of memory building an EC key");
  }
  auto pkey = pkeyFromParams("EC", bld.get());
  if (!pkey) return refuse(fmt::format("the point (x, y) is not on curve {}", **crv));
  return pkey;
}

Result<EVP_PKEY*> okpFromJwk(const json::object& jwk) {
  auto crv = optionalString(jwk, "crv");
  if (!crv) return tl::unexpected(crv.error());
  if (!*crv) return refuse("\"crv\" is missing");
  if (**crv != "Ed25519") {
    return refuse(fmt::format("OKP curve {} is not supported (Ed25519)", quoteForMessage(**crv)));
  }
  auto x = requiredBytes(jwk, "x");
  if (!x) return tl::unexpected(x.error());
  if (x->size() != 32) return refuse("\"x\" of an Ed25519 key must be 32 bytes");
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
  if (pkey == nullptr) return refuseClearing("not a valid Ed25519 public key");
  return pkey;
}

}  // namespace

std::string_view algorithmName(JwtAlgorithm alg) {
  for (const auto& info : kAlgorithmInfo) {
    if (info.alg == alg) return info.name;
  }
  return "?";
}

std::optional<JwtAlgorithm> parseAlgorithm(std::string_view name) {
  for (const auto& info : kAlgorithmInfo) {
    if (info.name == name) return info.alg;
  }
  return std::nullopt;
}

std::string_view keyTypeName(JwtKeyType type) {
  switch (type) {
    case JwtKeyType::Rsa:
      return "RSA";
    case JwtKeyType::EcP256:
      return "EC P-256";
    case JwtKeyType::EcP384:
      return "EC P-384";
    case JwtKeyType::Ed25519:
      return "Ed25519";
    case JwtKeyType::Hmac:
      return "HMAC secret";
  }
  return "?";
}

std::string quoteForMessage(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  out += text.size() > kMaxShown ? "\"..." : "\"";
  return out;
}

std::optional<std::string> decodeBase64Url(std::string_view text) {
  // The same alphabet as base64 but for two characters: map them and let the strict decoder
  // check the rest, after refusing the two it would otherwise take.
  std::string standard(text);
  bool url = true;
  for (char& c : standard) {
    url = url && c != '+' && c != '/' && c != '=';
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  auto bytes = url ? decodeBase64(standard, Base64Padding::Omitted) : std::nullopt;
  // The text may be a JWK's "k": no copy of a secret is left in freed memory.
  OPENSSL_cleanse(standard.data(), standard.size());
  return bytes;
}

std::string encodeBase64Url(std::string_view bytes) {
  std::string text = encodeBase64(bytes, Base64Padding::Omitted);
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

Result<json::object> parseJsonObject(std::string_view text, size_t maxDepth, bool wiping) {
  try {
    json::storage_ptr sp =
        wiping ? json::make_shared_resource<WipingResource>() : json::storage_ptr();
    json::parse_options options;
    options.max_depth = maxDepth;
    json::basic_parser<StrictJsonHandler> parser(options, sp);
    json::error_code ec;
    const size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (parser.handler().duplicate_) {
      return refuse(fmt::format("member {} appears twice in one object",
                                quoteForMessage(*parser.handler().duplicate_)));
    }
    if (ec == json::error::too_deep) {
      return refuse(fmt::format("JSON nested deeper than {} levels", maxDepth));
    }
    if (ec || used != text.size()) return refuse("not valid JSON");
    json::value value = parser.handler().stack_.release();
    if (!value.is_object()) return refuse("not a JSON object");
    return std::move(value.get_object());
  } catch (const std::exception&) {
    // Only std::bad_alloc is expected here: nothing else in the parser throws.
    return refuse("out of memory parsing JSON");
  }
}

void JwtKey::PkeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

JwtKey::JwtKey(JwtKey&&) noexcept = default;
JwtKey& JwtKey::operator=(JwtKey&&) noexcept = default;
JwtKey::~JwtKey() = default;

Result<JwtKey> JwtKey::fromPem(std::string_view pem) {
  if (pem.size() > kMaxJwksBytes) return refuse("larger than 1 MiB: not a PEM key");
  // Looked for before OpenSSL sees the text, so that no private key is ever parsed.
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return refuse(
        "holds a private key; a private key must not be given to the broker (give it the public "
        "key or the certificate)");
  }
  constexpr std::string_view kBegin = "-----BEGIN ";
  size_t blocks = 0;
  for (size_t at = pem.find(kBegin); at != std::string_view::npos; at = pem.find(kBegin, at + 1)) {
    ++blocks;
  }
  if (blocks == 0) return refuse("no PEM block (\"-----BEGIN PUBLIC KEY-----\" or a certificate)");
  if (blocks > 1) {
    return refuse(
        fmt::format("holds {} PEM blocks; give exactly one public key or one certificate", blocks));
  }
  const size_t labelAt = pem.find(kBegin) + kBegin.size();
  const std::string_view label = pem.substr(labelAt, pem.find("-----", labelAt) - labelAt);

  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return refuseClearing("out of memory reading PEM");
  PkeyPtr pkey;
  if (label == "CERTIFICATE") {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) return refuseClearing("the certificate cannot be read");
    pkey.reset(X509_get_pubkey(cert.get()));
    if (!pkey) return refuseClearing("the certificate's public key cannot be read");
  } else if (label == "PUBLIC KEY" || label == "RSA PUBLIC KEY") {
    EVP_PKEY* raw = nullptr;
    DecoderCtxPtr decoder(OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, nullptr,
                                                        EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
    const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
    size_t size = pem.size();
    if (!decoder || OSSL_DECODER_from_data(decoder.get(), &data, &size) != 1 || raw == nullptr) {
      EVP_PKEY_free(raw);
      return refuseClearing("the public key cannot be read");
    }
    pkey.reset(raw);
  } else {
    return refuse(fmt::format("holds a {} PEM block, not a public key or a certificate",
                              quoteForMessage(label)));
  }
  return fromPkey(std::move(pkey));
}

Result<JwtKey> JwtKey::fromPkey(PkeyPtr pkey) {
  JwtKey key;
  switch (EVP_PKEY_get_base_id(pkey.get())) {
    case EVP_PKEY_RSA: {
      key.type_ = JwtKeyType::Rsa;
      key.bits_ = EVP_PKEY_get_bits(pkey.get());
      if (key.bits_ < kMinRsaBits) {
        return refuse(
            fmt::format("RSA key of {} bits is too weak (at least {})", key.bits_, kMinRsaBits));
      }
      if (key.bits_ > kMaxRsaBits) {
        return refuse(fmt::format("RSA key of {} bits is larger than {}", key.bits_, kMaxRsaBits));
      }
      // OpenSSL's own public-key check follows SP 800-56B, which refuses exponents up to 65536;
      // for checking signatures any odd e >= 3 below n is sound, so this is checked here.
      BIGNUM* raw = nullptr;
      if (EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E, &raw) != 1) {
        return refuseClearing("the RSA exponent cannot be read");
      }
      BignumPtr e(raw);
      if (!BN_is_odd(e.get()) || BN_is_one(e.get()) || BN_num_bits(e.get()) > 64) {
        return refuse("the RSA public exponent must be odd, at least 3 and at most 64 bits");
      }
      break;
    }
    case EVP_PKEY_RSA_PSS:
      return refuse(
          "RSA-PSS keys with parameters are not supported; give the plain RSA public key (PS256 "
          "works with it)");
    case EVP_PKEY_EC: {
      char group[80] = {};
      size_t length = 0;
      if (EVP_PKEY_get_group_name(pkey.get(), group, sizeof group, &length) != 1) {
        return refuseClearing("EC key without a named curve (P-256 or P-384)");
      }
      int nid = OBJ_sn2nid(group);
      if (nid == NID_undef) nid = EC_curve_nist2nid(group);
      if (nid == NID_X9_62_prime256v1) {
        key.type_ = JwtKeyType::EcP256, key.bits_ = 256;
      } else if (nid == NID_secp384r1) {
        key.type_ = JwtKeyType::EcP384, key.bits_ = 384;
      } else {
        return refuse(
            fmt::format("EC curve {} is not supported (P-256 or P-384)", quoteForMessage(group)));
      }
      PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
      if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
        return refuseClearing("the EC public key is not a valid point of its curve");
      }
      break;
    }
    case EVP_PKEY_ED25519:
      key.type_ = JwtKeyType::Ed25519, key.bits_ = 256;
      break;
    default: {
      const char* name = EVP_PKEY_get0_type_name(pkey.get());
      return refuse(fmt::format("{} keys are not supported (RSA, EC P-256 / P-384 or Ed25519)",
                                name != nullptr ? name : "these"));
    }
  }
  key.pkey_ = std::move(pkey);
  return key;
}

Result<JwtKey> JwtKey::fromSecret(std::string_view secret) {
  if (secret.size() < kMinHmacSecretBytes) {
    return refuse(fmt::format("HMAC secret of {} bytes is too short (at least {})", secret.size(),
                              kMinHmacSecretBytes));
  }
  if (secret.size() > kMaxHmacSecretBytes) {
    return refuse(fmt::format("HMAC secret of {} bytes is longer than {}", secret.size(),
                              kMaxHmacSecretBytes));
  }
  if (secret.find("-----BEGIN ") != std::string_view::npos) {
    return refuse(
        "the HMAC secret is a PEM block: a public key is not a secret (give it as the public "
        "key instead)");
  }
  JwtKey key;
  key.type_ = JwtKeyType::Hmac;
  key.bits_ = static_cast<int>(secret.size() * 8);
  key.secret_ = SecretString(secret);
  return key;
}

Result<JwtKey> JwtKey::fromJwk(const json::object& jwk) {
  for (std::string_view member : kPrivateMembers) {
    if (jwk.contains(member)) {
      return refuse(fmt::format(
          "holds the private member \"{}\"; a private key must not be given to the broker "
          "(publish the public key only)",
          member));
    }
  }
  auto skip = notForSignatures(jwk);
  if (!skip) return tl::unexpected(skip.error());
  if (*skip) return refuse(fmt::format("not a key for signatures ({})", **skip));

  auto kty = optionalString(jwk, "kty");
  if (!kty) return tl::unexpected(kty.error());
  if (!*kty) return refuse("\"kty\" is missing");
  auto kid = optionalString(jwk, "kid");
  if (!kid) return tl::unexpected(kid.error());
  auto alg = optionalString(jwk, "alg");
  if (!alg) return tl::unexpected(alg.error());
  std::optional<JwtAlgorithm> algorithm;
  if (*alg) {
    algorithm = parseAlgorithm(**alg);
    if (!algorithm) {
      return refuse(fmt::format("algorithm {} is not one Moat verifies", quoteForMessage(**alg)));
    }
  }

  Result<JwtKey> key = refuse("");
  if (**kty == "oct") {
    auto k = requiredBytes(jwk, "k");
    if (!k) return tl::unexpected(k.error());
    key = fromSecret(*k);
    OPENSSL_cleanse(k->data(), k->size());
  } else {
    Result<EVP_PKEY*> pkey = refuse("");
    if (**kty == "RSA") {
      pkey = rsaFromJwk(jwk);
    } else if (**kty == "EC") {
      pkey = ecFromJwk(jwk);
    } else if (**kty == "OKP") {
      pkey = okpFromJwk(jwk);
    } else {
      return refuse(fmt::format("unknown key type (kty) {}", quoteForMessage(**kty)));
    }
    if (!pkey) return tl::unexpected(pkey.error());
    key = fromPkey(PkeyPtr(*pkey));
  }
  if (!key) return key;
  if (*kid) key->keyId_ = std::string(**kid);
  if (algorithm) {
    key->algorithm_ = algorithm;
    if (!key->fits(*algorithm)) {
      return refuse(fmt::format("algorithm {} does not fit this {} key of {} bits",
                                algorithmName(*algorithm), keyTypeName(key->type_), key->bits_));
    }
  }
  return key;
}

bool JwtKey::fits(JwtAlgorithm alg) const {
  if (algorithm_ && *algorithm_ != alg) return false;
  switch (alg) {
    case JwtAlgorithm::HS256:
    case JwtAlgorithm::HS384:
    case JwtAlgorithm::HS512:
      return type_ == JwtKeyType::Hmac && secret_.size() >= minHmacBytes(alg);
    case JwtAlgorithm::RS256:
    case JwtAlgorithm::RS384:
    case JwtAlgorithm::RS512:
    case JwtAlgorithm::PS256:
      return type_ == JwtKeyType::Rsa;
    case JwtAlgorithm::ES256:
      return type_ == JwtKeyType::EcP256;
    case JwtAlgorithm::ES384:
      return type_ == JwtKeyType::EcP384;
    case JwtAlgorithm::EdDSA:
      return type_ == JwtKeyType::Ed25519;
  }
  return false;
}

Result<void> JwtKey::verify(JwtAlgorithm alg, std::string_view signingInput,
                            std::string_view signature) const {
  if (!fits(alg)) {
    // Callers choose keys with fits(); this is the last line against algorithm confusion.
    return refuse(
        fmt::format("{} does not fit the {} key", algorithmName(alg), keyTypeName(type_)));
  }
  return type_ == JwtKeyType::Hmac ? verifyHmac(alg, signingInput, signature)
                                   : verifyPkey(alg, signingInput, signature);
}

Result<void> JwtKey::verifyHmac(JwtAlgorithm alg, std::string_view input,
                                std::string_view sig) const {
  const EVP_MD* md = digestOf(alg);
  const auto expected = static_cast<size_t>(EVP_MD_get_size(md));
  if (sig.size() != expected) {
    return refuse(fmt::format("signature is {} bytes, {} signatures are {}", sig.size(),
                              algorithmName(alg), expected));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  if (HMAC(md, secret_.view().data(), static_cast<int>(secret_.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(),
           &length) == nullptr ||
      length != expected) {
    return refuseClearing("HMAC computation failed");
  }
  // RFC 7515 10.7 (timing): compare the whole MAC whatever the first differing byte.
  const bool same = CRYPTO_memcmp(mac.data(), sig.data(), expected) == 0;
  OPENSSL_cleanse(mac.data(), mac.size());
  if (!same) return refuse("signature does not verify");
  return {};
}

Result<void> JwtKey::verifyPkey(JwtAlgorithm alg, std::string_view input,
                                std::string_view sig) const {
  std::string der;
  std::string_view checked = sig;
  if (alg == JwtAlgorithm::ES256 || alg == JwtAlgorithm::ES384) {
    // RFC 7518 3.4: the JWS form is R || S, each the size of the curve's order, where OpenSSL
    // wants a DER ECDSA-Sig-Value.
    const size_t half = alg == JwtAlgorithm::ES256 ? 32 : 48;
    if (sig.size() != 2 * half) {
      return refuse(fmt::format("signature is {} bytes, {} signatures are {}", sig.size(),
                                algorithmName(alg), 2 * half));
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(sig.data());
    BignumPtr r(BN_bin2bn(bytes, static_cast<int>(half), nullptr));
    BignumPtr s(BN_bin2bn(bytes + half, static_cast<int>(half), nullptr));
    EcdsaSigPtr ecdsa(ECDSA_SIG_new());
    if (!r || !s || !ecdsa || ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) {
      return refuseClearing("out of memory checking a signature");
    }
    (void)r.release(), (void)s.release();  // owned by ecdsa now
    const int length = i2d_ECDSA_SIG(ecdsa.get(), nullptr);
    if (length <= 0) return refuseClearing("out of memory checking a signature");
    der.resize(static_cast<size_t>(length));
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ECDSA_SIG(ecdsa.get(), &out) != length) {
      return refuseClearing("out of memory checking a signature");
    }
    checked = der;
  } else if (alg == JwtAlgorithm::EdDSA) {
    if (sig.size() != 64) {
      return refuse(fmt::format("signature is {} bytes, EdDSA signatures are 64", sig.size()));
    }
  } else {
    // RFC 7518 3.3 / 3.5: an RSA signature is exactly as long as the modulus.
    const auto expected = static_cast<size_t>(EVP_PKEY_get_size(pkey_.get()));
    if (sig.size() != expected) {
      return refuse(
          fmt::format("signature is {} bytes, this RSA key's are {}", sig.size(), expected));
    }
  }

  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, digestOf(alg), nullptr, pkey_.get()) != 1) {
    return refuseClearing("cannot set up the signature check");
  }
  if (alg == JwtAlgorithm::PS256) {
    // RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash (32 bytes), nothing else.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1) {
      return refuseClearing("cannot set up the RSA-PSS check");
    }
  }
  const int ok = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(checked.data()), checked.size(),
      reinterpret_cast<const unsigned char*>(input.data()), input.size());
  if (ok != 1) return refuseClearing("signature does not verify");
  return {};
}

Result<JwkSet> parseJwks(std::string_view json, std::string_view source) {
  if (json.size() > kMaxJwksBytes) {
    return refuse(fmt::format("{}: larger than {} bytes", source, kMaxJwksBytes));
  }
  // A JWKS is flat: {"keys": [{...}]}; "key_ops" arrays are the deepest part.
  auto document = parseJsonObject(json, 8, /*wiping=*/true);
  if (!document) {
    return refuse(fmt::format("{}: not a JWK Set: {}", source, document.error().message));
  }
  const json::value* keys = document->if_contains("keys");
  if (keys == nullptr || !keys->is_array()) {
    return refuse(fmt::format("{}: not a JWK Set: no \"keys\" array", source));
  }
  const json::array& list = keys->get_array();
  if (list.empty()) return refuse(fmt::format("{}: the key set is empty", source));
  if (list.size() > kMaxJwksKeys) {
    return refuse(fmt::format("{}: {} keys, more than {}", source, list.size(), kMaxJwksKeys));
  }
  JwkSet set;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = fmt::format("{}: key {}", source, i + 1);
    const json::object* jwk = list[i].if_object();
    if (jwk == nullptr) return refuse(fmt::format("{}: not a JSON object", where));
    std::string kid;
    if (const json::value* k = jwk->if_contains("kid"); k != nullptr && k->is_string()) {
      kid = std::string(k->get_string());
      where += fmt::format(" (kid {})", quoteForMessage(kid));
    }
    auto skip = notForSignatures(*jwk);
    if (!skip) return refuse(fmt::format("{}: {}", where, skip.error().message));
    if (*skip) {
      set.ignored.push_back({std::move(kid), std::move(**skip)});
      continue;
    }
    auto key = JwtKey::fromJwk(*jwk);
    if (!key) return refuse(fmt::format("{}: {}", where, key.error().message));
    set.keys.push_back(std::move(*key));
  }
  if (set.keys.empty()) {
    return refuse(fmt::format("{}: none of its {} keys is for signatures", source, list.size()));
  }
  return set;
}

}  // namespace moat::security
