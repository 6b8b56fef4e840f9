/* strutil: hex encoding, constant-time comparison and small string helpers. Pure. */
#ifndef CB_COMMON_STRUTIL_H
#define CB_COMMON_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Write 2*n lowercase hex chars plus NUL into out (size >= 2*n+1). */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* Decode 2*n hex chars into n bytes; -1 on a non-hex char or odd length. */
int hex_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap, size_t *outlen);
bool str_is_hex(const char *s, size_t n);
/* Constant-time equality of two byte strings (length leaks, content does not). */
bool ct_equal(const void *a, size_t alen, const void *b, size_t blen);
bool str_has_prefix(const char *s, const char *prefix);
/* Fill buf with n cryptographically random bytes; -1 on failure. */
int random_bytes(unsigned char *buf, size_t n);

#endif
