/*
 * replay: a main() for the fuzz drivers in ordinary builds, without libFuzzer. It calls
 * LLVMFuzzerTestOneInput once on every regular file named on the command line or found
 * (non-recursively, sorted, dotfiles skipped) in a directory named there, so each seed
 * corpus runs under the normal test suite (CTest fuzz_replay.<target>). Exits 1 if it
 * found no input at all, so an empty or misplaced corpus does not pass silently.
 */
#include "fuzz_driver.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/xmem.h"

#pragma weak LLVMFuzzerInitialize

static int replay_file(const char *path);
static int replay_dir(const char *dir, size_t *count);
static int skip_dotfiles(const struct dirent *d);

int main(int argc, char **argv)
{
    struct stat st;
    size_t count = 0;

    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) != 0)
                return 1;
        } else {
            if (replay_file(argv[i]) != 0)
                return 1;
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    printf("replay: %zu inputs, no crash\n", count);
    return 0;
}

static int skip_dotfiles(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static int replay_dir(const char *dir, size_t *count)
{
    struct dirent **names;
    struct stat st;
    char *path;
    int n = scandir(dir, &names, skip_dotfiles, alphasort);
    int rc = 0;

    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        path = xasprintf("%s/%s", dir, names[i]->d_name);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(path);
            (*count)++;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* The input gets a buffer of exactly its size, so ASan sees any read past its end. */
static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf;
    struct stat st;
    size_t n;

    if (fp == NULL || fstat(fileno(fp), &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (fp != NULL)
            fclose(fp);
        return -1;
    }
    buf = xmalloc((size_t)st.st_size);
    n = fread(buf, 1, (size_t)st.st_size, fp);
    fclose(fp);
    if (n != (size_t)st.st_size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        free(buf);
        return -1;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}
