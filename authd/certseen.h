/*
 * certseen: the certificate ids authorize has seen in the store, so that a Certificate Auth
 * decision costs one Redis lookup and no PostgreSQL query once a certificate is known.
 * Positive entries only (an upload needs no invalidation); every change to a certificate
 * forgets its id, a resync forgets everything (pushes.c). A generation number keeps a query
 * that raced with a deletion from re-adding the id. Bounded: when full, it starts over.
 */
#ifndef CB_AUTHD_CERTSEEN_H
#define CB_AUTHD_CERTSEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct certseen;

struct certseen *certseen_new(size_t max);
void certseen_free(struct certseen *s);
bool certseen_has(const struct certseen *s, const char *id);
/* The generation to pass to certseen_add for a query started now. */
uint64_t certseen_gen(const struct certseen *s);
/* Remember id, unless something was forgotten since gen was read. */
void certseen_add(struct certseen *s, const char *id, uint64_t gen);
/* Forget id (NULL: everything). */
void certseen_forget(struct certseen *s, const char *id);

#endif
