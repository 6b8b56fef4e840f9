/*
 * log: formats one line per event. Text: "ts level prog[pid]: msg"; JSON: one object per
 * line with ts, level, prog, pid, msg. Messages are sanitised: control characters are
 * escaped so a hostile value cannot forge a second log line.
 */
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "certbound";
static enum log_format log_fmt = LOG_FMT_TEXT;
static enum log_level log_lvl = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *progname, enum log_format fmt, enum log_level level)
{
    log_prog = progname;
    log_fmt = fmt;
    log_lvl = level;
}

void log_set_level(enum log_level level)
{
    log_lvl = level;
}

void log_set_format(enum log_format fmt)
{
    log_fmt = fmt;
}

bool log_enabled(enum log_level level)
{
    return level <= log_lvl;
}

int log_parse_format(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_FMT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_FMT_JSON;
    else
        return -1;
    return 0;
}

int log_parse_level(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < CB_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Escape for a JSON string, which is also a safe single-line text form. */
static size_t escape_into(char *dst, size_t cap, const char *src)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)src; *p && o + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            dst[o++] = '\\';
            dst[o++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(dst + o, cap - o, "\\u%04x", *p);
        } else {
            dst[o++] = (char)*p;
        }
    }
    dst[o] = '\0';
    return o;
}

void log_vmsg(enum log_level level, const char *file, int line_no, const char *fmt, va_list ap)
{
    char msg[2048], esc[4096], ts[64], line[4608];
    int n;
    struct timeval tv;
    struct tm tm;

    if (!log_enabled(level))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    escape_into(esc, sizeof(esc), msg);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));
    /* One write() per line: the proxy's worker threads log concurrently, and a line
     * must never interleave with another. */
    if (log_fmt == LOG_FMT_JSON)
        n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\",\"pid\":%d,\"msg\":\"%s\"}\n",
                     ts, level_names[level], log_prog, (int)getpid(), esc);
    else if (level == LOG_LVL_DEBUG)
        n = snprintf(line, sizeof(line), "%s %s %s[%d]: %s (%s:%d)\n", ts, level_names[level],
                     log_prog, (int)getpid(), esc, file, line_no);
    else
        n = snprintf(line, sizeof(line), "%s %s %s[%d]: %s\n", ts, level_names[level], log_prog,
                     (int)getpid(), esc);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, file, line, fmt, ap);
    va_end(ap);
}

void log_die(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LVL_ERROR, file, line, fmt, ap);
    va_end(ap);
    exit(1);
}
