/*
 * routes: the management API's route handlers (DESIGN §4), one file per resource.
 * Each handler ends in exactly one api_reply_* call, possibly later from a store callback.
 */
#ifndef CB_AUTHD_ROUTES_H
#define CB_AUTHD_ROUTES_H

#include "authd/http_api.h"

void route_hello(struct api_req *r);
void route_metrics(struct api_req *r);
void route_reload(struct api_req *r);

void route_certs(struct api_req *r);       /* /tyk/certs and /tyk/certs/<id>[,<id>...] */

void route_keys_create(struct api_req *r); /* POST /tyk/keys/create */
void route_keys(struct api_req *r);        /* /tyk/keys and /tyk/keys/<key> */

void route_apis(struct api_req *r);        /* /tyk/apis and /tyk/apis/<api_id> */

#endif
