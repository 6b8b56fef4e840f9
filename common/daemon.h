/*
 * daemon: start-up pieces both daemons share: logging set up from the --log-format option
 * and the config keys, and the ready file that tests and scripts wait for.
 */
#ifndef CB_COMMON_DAEMON_H
#define CB_COMMON_DAEMON_H

/*
 * log_init for prog: the format from cli_format (the --log-format option, may be NULL; a
 * bad value stops start-up) or else from cfg_format, the level from cfg_level. The config
 * values were validated when the config loaded.
 */
void daemon_log_init(const char *prog, const char *cli_format, const char *cfg_format,
                     const char *cfg_level);

/*
 * Write path atomically (a temp file renamed over it) with a JSON object of the given
 * integer fields plus "pid": names and values are n pairs. Stops the process on failure:
 * a ready file nobody can read would make the caller wait forever.
 */
void daemon_write_ready_file(const char *path, const char *const *names, const int *values,
                             int n);

#endif
