/*
 * xmem: allocation wrappers that abort on OOM, checked multiplication and the
 * function attributes every module uses. Not for sizes taken from the network
 * without a bound check first (STYLE 2.5.5).
 */
#ifndef CB_COMMON_XMEM_H
#define CB_COMMON_XMEM_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

#define CB_WARN_UNUSED __attribute__((warn_unused_result))
#define CB_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CB_NORETURN __attribute__((noreturn))
#define CB_UNUSED __attribute__((unused))

#define CB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Free and NULL in one statement. */
#define CB_FREE(p)                                                                                 \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

/* Always-on invariant check: logs file/line and aborts. */
#define CB_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            cb_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)

CB_NORETURN void cb_assert_fail(const char *what, const char *file, int line);

/* malloc/calloc/realloc/strdup that never return NULL (they die on OOM). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Copy of n bytes; the result is NUL-terminated at [n] for convenience. */
void *xmemdup(const void *p, size_t n);
/* printf into a new heap string; never NULL. */
char *xasprintf(const char *fmt, ...) CB_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) CB_PRINTF(1, 0);

/* *out = a * b; false on overflow. */
bool cb_mul_ok(size_t a, size_t b, size_t *out) CB_WARN_UNUSED;

#endif
