// Key pairs for the CA and the certificates it issues: ECDSA P-256 unless RSA is asked for.
//
// P-256 is the default because every TLS stack a device may carry (mbedTLS, wolfSSL, BearSSL,
// OpenSSL) supports it, its signatures are small and quick on microcontrollers, and a P-256 key
// gives about the strength of RSA 3072.
#pragma once

#include <string>

#include "base/result.h"
#include "pki/openssl_ptr.h"

namespace moat::pki {

struct KeySpec {
  int rsaBits = 0;  // 0: ECDSA P-256; otherwise RSA with this many bits (2048 to 8192)
};

[[nodiscard]] Result<PkeyPtr> generateKey(const KeySpec& spec);
// "ECDSA P-256", "RSA 3072": what a person would call the key.
std::string describeKey(EVP_PKEY* key);
bool isRsaKey(EVP_PKEY* key);

}  // namespace moat::pki
