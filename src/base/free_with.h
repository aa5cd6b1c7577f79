// FreeWith<F>: a std::unique_ptr deleter that calls a C library's free function, so OpenSSL
// objects (and any other C handle) get owning pointers in one line:
//   using PkeyPtr = std::unique_ptr<EVP_PKEY, FreeWith<EVP_PKEY_free>>;
#pragma once

namespace moat {

template <auto Free>
struct FreeWith {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};

}  // namespace moat
