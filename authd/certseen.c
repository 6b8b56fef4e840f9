/*
 * certseen: a jansson object used as a string set (its hash table is well tested and the
 * set is small: one entry per certificate in use).
 */
#include "authd/certseen.h"

#include <jansson.h>

#include "common/log.h"
#include "common/xmem.h"

struct certseen {
    json_t *set;
    size_t max;
    uint64_t gen;
};

struct certseen *certseen_new(size_t max)
{
    struct certseen *s = xcalloc(1, sizeof(*s));

    s->set = json_object();
    if (s->set == NULL)
        die("certseen: out of memory");
    s->max = max;
    return s;
}

void certseen_free(struct certseen *s)
{
    if (s == NULL)
        return;
    json_decref(s->set);
    free(s);
}

bool certseen_has(const struct certseen *s, const char *id)
{
    return json_object_get(s->set, id) != NULL;
}

uint64_t certseen_gen(const struct certseen *s)
{
    return s->gen;
}

void certseen_add(struct certseen *s, const char *id, uint64_t gen)
{
    if (gen != s->gen)
        return;
    if (json_object_size(s->set) >= s->max)
        json_object_clear(s->set);
    if (json_object_set_new(s->set, id, json_true()) != 0)
        die("certseen: out of memory");
}

void certseen_forget(struct certseen *s, const char *id)
{
    s->gen++;
    if (id == NULL)
        json_object_clear(s->set);
    else
        json_object_del(s->set, id);
}
