#include "pki/keys.h"

#include <fmt/format.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

namespace moat::pki {

Result<PkeyPtr> generateKey(const KeySpec& spec) {
  ERR_clear_error();
  if (spec.rsaBits == 0) {
    PkeyPtr key(EVP_EC_gen("P-256"));
    if (!key) return fail(0x80, "cannot generate an ECDSA P-256 key: " + drainOpensslErrors());
    return key;
  }
  // Below 2048 bits is no longer safe; above 8192 only makes every handshake slow.
  if (spec.rsaBits < 2048 || spec.rsaBits > 8192) {
    return fail(0x80,
                fmt::format("RSA key size {} is out of range (2048 to 8192 bits)", spec.rsaBits));
  }
  PkeyPtr key(EVP_RSA_gen(static_cast<unsigned int>(spec.rsaBits)));
  if (!key) {
    return fail(
        0x80, fmt::format("cannot generate an RSA {} key: {}", spec.rsaBits, drainOpensslErrors()));
  }
  return key;
}

bool isRsaKey(EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA; }

std::string describeKey(EVP_PKEY* key) {
  if (isRsaKey(key)) return fmt::format("RSA {}", EVP_PKEY_get_bits(key));
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1) {
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      return fmt::format("ECDSA {}", nist ? nist : group);
    }
    return "ECDSA";
  }
  const char* type = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
  return type ? type : "unknown key type";
}

}  // namespace moat::pki
