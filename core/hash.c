/*
 * hash.c: the module's content hash (SHA-256 of the exact binary), which
 * names compiled packages in the service's cache. OpenSSL's one-shot EVP
 * digest keeps this to a single call.
 */
#include <openssl/evp.h>
#include <string.h>

#include "wasm.h"

void wasm_module_hash(const uint8_t *bytes, size_t len, uint8_t out[32]) {
  unsigned int n = 0;
  static const uint8_t empty = 0;
  /* EVP_Digest wants a valid pointer even for zero bytes */
  if (EVP_Digest(len ? bytes : &empty, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
    memset(out, 0, 32); /* only if libcrypto itself is broken */
}

void wasm_hash_hex(const uint8_t hash[32], char out[65]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) {
    out[2 * i] = digits[hash[i] >> 4];
    out[2 * i + 1] = digits[hash[i] & 15];
  }
  out[64] = '\0';
}
