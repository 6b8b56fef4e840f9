/*
 * stores_util: env files, private services instances and a bounded loop runner for the
 * store integration tests. Test code only: it may block (it runs services.sh).
 */
#include "stores_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmem.h"

static void su_on_deadline(evutil_socket_t fd, short what, void *arg);
static int su_run_script(const char *cmd, const char *dir);
static void su_script_line(char *line, size_t size, const char *cmd, const char *dir);

int su_env_load(struct su_env *env, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    char *eq;
    size_t len;

    memset(env, 0, sizeof(*env));
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL && env->n < SU_ENV_MAX) {
        len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        eq = strchr(line, '=');
        if (line[0] == '#' || eq == NULL)
            continue;
        *eq = '\0';
        env->keys[env->n] = xstrdup(line);
        env->values[env->n] = xstrdup(eq + 1);
        env->n++;
    }
    fclose(f);
    return 0;
}

const char *su_env_get(const struct su_env *env, const char *key)
{
    int i;

    for (i = 0; i < env->n; i++) {
        if (strcmp(env->keys[i], key) == 0)
            return env->values[i];
    }
    return NULL;
}

void su_env_free(struct su_env *env)
{
    int i;

    for (i = 0; i < env->n; i++) {
        free(env->keys[i]);
        free(env->values[i]);
    }
    memset(env, 0, sizeof(*env));
}

const char *su_fixture(const char *key)
{
    static struct su_env env;
    static bool loaded;
    const char *path = getenv("CB_TEST_ENV");

    if (!loaded) {
        loaded = true;
        if (path == NULL || su_env_load(&env, path) < 0) {
            fprintf(stderr, "stores_util: cannot read the fixture env file %s\n",
                    path != NULL ? path : "($CB_TEST_ENV unset)");
            return NULL;
        }
    }
    return su_env_get(&env, key);
}

int su_services_start(struct su_services *s)
{
    char path[300];

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/cbst.XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    if (su_run_script("start", s->dir) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/env", s->dir);
    if (su_env_load(&s->env, path) < 0)
        return -1;
    s->up = true;
    return 0;
}

int su_services_cmd(struct su_services *s, const char *cmd)
{
    return su_run_script(cmd, s->dir);
}

pid_t su_services_spawn(struct su_services *s, const char *cmd)
{
    char line[1024];
    pid_t pid;
    int fd;

    su_script_line(line, sizeof(line), cmd, s->dir);
    pid = fork();
    if (pid == 0) {
        /* the servers started by the script must not inherit the test's sockets */
        for (fd = 3; fd < 1024; fd++)
            close(fd);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        perror("fork");
    return pid;
}

int su_services_reap(pid_t pid)
{
    int status;

    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "stores_util: services.sh failed (status %d)\n", status);
        return -1;
    }
    return 0;
}

void su_services_stop(struct su_services *s)
{
    char cmd[600];

    if (s->dir[0] == '\0')
        return;
    if (su_run_script("stop", s->dir) == 0 && getenv("CB_TEST_KEEP") == NULL) {
        /* PostgreSQL's files belong to its own user; root can remove them all the same */
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' $(cat '%s/sockdir' 2>/dev/null)", s->dir, s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "stores_util: could not remove %s\n", s->dir);
    } else {
        fprintf(stderr, "stores_util: services left in %s\n", s->dir);
    }
    su_env_free(&s->env);
    s->up = false;
    s->dir[0] = '\0';
}

int su_blackhole_listen(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        perror("blackhole");
        close(fd);
        return -1;
    }
    return fd;
}

bool su_run_until(struct event_base *base, su_cond_fn cond, void *arg, int timeout_ms)
{
    struct event *deadline;
    struct timeval tv;
    bool expired = false;
    bool ok;

    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    deadline = evtimer_new(base, su_on_deadline, &expired);
    evtimer_add(deadline, &tv);
    while (!(ok = cond(arg)) && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(deadline);
    return ok;
}

uint64_t su_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void su_log_init(const char *name)
{
    const char *lvl = getenv("CB_TEST_LOG");
    enum log_level level = LOG_LVL_INFO;

    if (lvl != NULL && log_parse_level(lvl, &level) < 0)
        level = LOG_LVL_INFO;
    log_init(name, LOG_FMT_TEXT, level);
}

static void su_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    bool *expired = arg;

    *expired = true;
}

/* services.sh from the source tree ($CB_TEST_SRCDIR), output to the test's stderr. */
static void su_script_line(char *line, size_t size, const char *cmd, const char *dir)
{
    const char *src = getenv("CB_TEST_SRCDIR");

    snprintf(line, size, "'%s/tests/harness/services.sh' %s '%s' 1>&2", src != NULL ? src : ".",
             cmd, dir);
}

static int su_run_script(const char *cmd, const char *dir)
{
    struct su_services s;

    memset(&s, 0, sizeof(s));
    snprintf(s.dir, sizeof(s.dir), "%s", dir);
    return su_services_reap(su_services_spawn(&s, cmd));
}
