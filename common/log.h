/*
 * log: one line per event to stderr, text or JSON (DESIGN §3, STYLE 2.7).
 * Not for secrets: callers never pass keys, tokens or passwords here.
 */
#ifndef CB_COMMON_LOG_H
#define CB_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "common/xmem.h"

enum log_level {
    LOG_LVL_ERROR = 0,
    LOG_LVL_WARN,
    LOG_LVL_INFO,
    LOG_LVL_DEBUG
};

enum log_format {
    LOG_FMT_TEXT = 0,
    LOG_FMT_JSON
};

/* Set the daemon name shown in every line (borrowed: must outlive logging). */
void log_init(const char *progname, enum log_format fmt, enum log_level level);
void log_set_level(enum log_level level);
void log_set_format(enum log_format fmt);
bool log_enabled(enum log_level level);
/* Parse "text"/"json" and "error".."debug"; -1 on an unknown name. */
int log_parse_format(const char *s, enum log_format *out) CB_WARN_UNUSED;
int log_parse_level(const char *s, enum log_level *out) CB_WARN_UNUSED;

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
    CB_PRINTF(4, 5);
void log_vmsg(enum log_level level, const char *file, int line, const char *fmt, va_list ap)
    CB_PRINTF(4, 0);
/* Log at error level and exit(1). For start-up failures only (STYLE 2.5.6). */
CB_NORETURN void log_die(const char *file, int line, const char *fmt, ...) CB_PRINTF(3, 4);

#define log_error(...) log_msg(LOG_LVL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_LVL_DEBUG))                                                            \
            log_msg(LOG_LVL_DEBUG, __FILE__, __LINE__, __VA_ARGS__);                               \
    } while (0)
#define die(...) log_die(__FILE__, __LINE__, __VA_ARGS__)

#endif
