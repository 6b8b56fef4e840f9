/*
 * daemon: see daemon.h.
 */
#include "common/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

void daemon_log_init(const char *prog, const char *cli_format, const char *cfg_format,
                     const char *cfg_level)
{
    enum log_format fmt;
    enum log_level lvl;

    if (cli_format != NULL && log_parse_format(cli_format, &fmt) < 0)
        die("--log-format: must be text or json");
    if (cli_format == NULL && log_parse_format(cfg_format, &fmt) < 0)
        fmt = LOG_FMT_TEXT;
    if (log_parse_level(cfg_level, &lvl) < 0)
        lvl = LOG_LVL_INFO;
    log_init(prog, fmt, lvl);
}

void daemon_write_ready_file(const char *path, const char *const *names, const int *values,
                             int n)
{
    char tmp[4096];
    FILE *f;
    int ok;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    ok = f != NULL && fputc('{', f) != EOF;
    for (int i = 0; ok && i < n; i++)
        ok = fprintf(f, "\"%s\":%d,", names[i], values[i]) > 0;
    ok = ok && fprintf(f, "\"pid\":%d}\n", (int)getpid()) > 0;
    if (f != NULL && fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0)
        die("cannot write the ready file %s: %s", path, strerror(errno));
}
