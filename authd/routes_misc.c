/* routes_misc: GET /hello (health), GET /metrics (Prometheus), /tyk/reload (a no-op: changes
 * reach proxies by push, DESIGN §4). */
#include "authd/routes.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "authd/authd.h"
#include "authd/pg_client.h"
#include "authd/redis_client.h"
#include "authd/stats.h"
#include "common/version.h"

static json_t *component(bool ok, const char *err)
{
    char ts[40];
    time_t now = time(NULL);
    struct tm tm;
    json_t *c;

    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    c = json_pack("{s:s, s:s, s:s}", "status", ok ? "pass" : "fail", "componentType",
                  "datastore", "time", ts);
    if (!ok && err != NULL && *err != '\0')
        json_object_set_new(c, "output", json_string(err));
    return c;
}

void route_hello(struct api_req *r)
{
    struct authd *ad = r->ad;
    bool rok = rds_is_ready(ad->rds), pok = pgc_is_ready(ad->pgc);
    bool ok = rok && pok && !ad->shutting_down;

    api_reply_json(r, ok ? 200 : 503,
                   json_pack("{s:s, s:s, s:s, s:{s:o, s:o}}", "status", ok ? "pass" : "fail",
                             "version", CB_VERSION, "description", "certbound-authd", "details",
                             "redis", component(rok, rds_last_error(ad->rds)), "postgres",
                             component(pok, pgc_last_error(ad->pgc))));
}

static void render_metrics(struct api_req *r, const PGresult *res)
{
    struct authd *ad = r->ad;
    struct evbuffer *out = evbuffer_new();
    struct rds_stats rs;
    struct pgc_stats ps;

    rds_get_stats(ad->rds, &rs);
    pgc_get_stats(ad->pgc, &ps);
    stats_render(ad->stats, out);
    evbuffer_add_printf(out,
                        "# HELP certbound_store_up Whether a backing store is connected\n"
                        "# TYPE certbound_store_up gauge\n"
                        "certbound_store_up{store=\"redis\"} %d\n"
                        "certbound_store_up{store=\"postgres\"} %d\n"
                        "# HELP certbound_store_errors_total Store errors (timeouts, "
                        "disconnects, error replies)\n"
                        "# TYPE certbound_store_errors_total counter\n"
                        "certbound_store_errors_total{store=\"redis\"} %llu\n"
                        "certbound_store_errors_total{store=\"postgres\"} %llu\n"
                        "# HELP certbound_store_reconnects_total Store reconnections\n"
                        "# TYPE certbound_store_reconnects_total counter\n"
                        "certbound_store_reconnects_total{store=\"redis\"} %llu\n"
                        "certbound_store_reconnects_total{store=\"postgres\"} %llu\n",
                        rds_is_ready(ad->rds), pgc_is_ready(ad->pgc),
                        (unsigned long long)rs.errors, (unsigned long long)ps.errors,
                        (unsigned long long)rs.reconnects, (unsigned long long)ps.reconnects);
    if (res != NULL && PQntuples(res) == 1)
        evbuffer_add_printf(out,
                            "# HELP certbound_store_objects Objects in the durable store\n"
                            "# TYPE certbound_store_objects gauge\n"
                            "certbound_store_objects{kind=\"certificates\"} %s\n"
                            "certbound_store_objects{kind=\"api_definitions\"} %s\n",
                            PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    api_reply_text(r, 200, "text/plain; version=0.0.4", out);
    evbuffer_free(out);
}

static void on_counts(const PGresult *res, const char *err, void *arg)
{
    render_metrics(arg, err == NULL ? res : NULL);
}

void route_metrics(struct api_req *r)
{
    if (pgc_query(r->ad->pgc,
                  "SELECT (SELECT count(*) FROM certificates),"
                  " (SELECT count(*) FROM api_definitions)",
                  0, NULL, NULL, NULL, on_counts, r) < 0)
        render_metrics(r, NULL);
}

void route_reload(struct api_req *r)
{
    api_reply_status_ok(r, "");
}
