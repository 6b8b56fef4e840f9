/*
 * rekey: `certbound-authd rekey` re-encrypts every stored private key whose envelope was
 * sealed with a previous secret under the current one. Blocking libpq: a command-line
 * tool, never run on the loop.
 */
#ifndef CB_AUTHD_REKEY_H
#define CB_AUTHD_REKEY_H

#include <stddef.h>

#include "common/xmem.h"

struct rekey_result {
    size_t examined;   /* rows with a key */
    size_t rekeyed;    /* re-sealed under the current secret */
    size_t failed;     /* could not be opened with any configured secret */
};

/* secrets[0] is the current secret. 0, or -1 with *err (heap) on a database error. */
int rekey_run(const char *conninfo, const char *const *secrets, size_t nsecrets,
              struct rekey_result *out, char **err) CB_WARN_UNUSED;

#endif
