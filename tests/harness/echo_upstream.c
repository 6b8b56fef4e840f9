/*
 * cb-echo-upstream: the upstream of the end-to-end tests, the quickstart and the demo.
 * Answers every request 200 with a JSON description of what it received:
 *
 *   {"method":"GET","uri":"/x?y","headers":{"host":"…",…},"body_len":N,"body_sha256":"…"}
 *
 * Header names are lowercased; a repeated header's values are joined with ", ". With
 * --ready-file it writes {"port":N,"pid":P} once listening (port 0 = any free port).
 * With --tls-cert/--tls-key it serves HTTPS (TLS 1.2-1.3); with --client-ca it also requires
 * a client certificate issued by that CA, and the reply names it: "client_subject" (RFC 2253,
 * e.g. "CN=client1,O=certbound tests"), null without one.
 *
 *   cb-echo-upstream [--listen ADDR] [--port N] [--ready-file PATH]
 *                    [--tls-cert FILE --tls-key FILE [--client-ca FILE]]
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common/strutil.h"
#include "common/xmem.h"

/* The TLS client's certificate subject (RFC 2253), or JSON null. */
static json_t *client_subject(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;
    X509 *peer = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
    BIO *b;
    char *data;
    long n;
    json_t *out;

    if (peer == NULL)
        return json_null();
    b = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(b, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
    n = BIO_get_mem_data(b, &data);
    out = json_stringn(data, (size_t)n);
    BIO_free(b);
    return out;
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    return bufferevent_openssl_socket_new(base, -1, SSL_new(arg), BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *tls_setup(const char *cert, const char *key, const char *client_ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return NULL;
    }
    if (client_ca != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);

        if (names == NULL || SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            ERR_print_errors_fp(stderr);
            return NULL;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    struct evbuffer *out = evbuffer_new();
    json_t *headers = json_object(), *reply;
    unsigned char digest[32];
    char hex[65], *text;
    size_t len = evbuffer_get_length(body);
    const char *method;
    struct evkeyval *kv;

    (void)arg;
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: method = "GET"; break;
    case EVHTTP_REQ_POST: method = "POST"; break;
    case EVHTTP_REQ_PUT: method = "PUT"; break;
    case EVHTTP_REQ_DELETE: method = "DELETE"; break;
    case EVHTTP_REQ_HEAD: method = "HEAD"; break;
    case EVHTTP_REQ_PATCH: method = "PATCH"; break;
    case EVHTTP_REQ_OPTIONS: method = "OPTIONS"; break;
    default: method = "OTHER"; break;
    }
    for (kv = in->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        char name[256];
        size_t i;
        json_t *prev;

        for (i = 0; kv->key[i] != '\0' && i < sizeof(name) - 1; i++)
            name[i] = (char)tolower((unsigned char)kv->key[i]);
        name[i] = '\0';
        prev = json_object_get(headers, name);
        if (prev != NULL) {
            char *joined = xasprintf("%s, %s", json_string_value(prev), kv->value);

            json_object_set_new(headers, name, json_string(joined));
            free(joined);
        } else {
            json_object_set_new(headers, name, json_string(kv->value));
        }
    }
    EVP_Digest(evbuffer_pullup(body, -1), len, digest, NULL, EVP_sha256(), NULL);
    hex_encode(digest, sizeof(digest), hex);
    reply = json_pack("{s:s, s:s, s:o, s:I, s:s, s:o}", "method", method, "uri",
                      evhttp_request_get_uri(req), "headers", headers, "body_len",
                      (json_int_t)len, "body_sha256", hex, "client_subject",
                      client_subject(req));
    text = json_dumps(reply, JSON_COMPACT);
    evbuffer_add(out, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    free(text);
    json_decref(reply);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1", *ready = NULL;
    const char *tls_cert = NULL, *tls_key = NULL, *client_ca = NULL;
    SSL_CTX *ctx = NULL;
    int port = 8080;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct event *sig;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
            ready = argv[++i];
        } else if (strcmp(argv[i], "--tls-cert") == 0 && i + 1 < argc) {
            tls_cert = argv[++i];
        } else if (strcmp(argv[i], "--tls-key") == 0 && i + 1 < argc) {
            tls_key = argv[++i];
        } else if (strcmp(argv[i], "--client-ca") == 0 && i + 1 < argc) {
            client_ca = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: %s [--listen ADDR] [--port N] [--ready-file PATH] "
                    "[--tls-cert FILE --tls-key FILE [--client-ca FILE]]\n",
                    argv[0]);
            return 2;
        }
    }
    if ((tls_cert == NULL) != (tls_key == NULL) || (client_ca != NULL && tls_cert == NULL)) {
        fprintf(stderr, "cb-echo-upstream: --tls-cert and --tls-key go together; "
                        "--client-ca needs them\n");
        return 2;
    }
    if (tls_cert != NULL && (ctx = tls_setup(tls_cert, tls_key, client_ca)) == NULL) {
        fprintf(stderr, "cb-echo-upstream: cannot set up TLS\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    http = base != NULL ? evhttp_new(base) : NULL;
    if (http == NULL) {
        fprintf(stderr, "cb-echo-upstream: cannot create the event loop\n");
        return 1;
    }
    evhttp_set_max_body_size(http, 64 * 1024 * 1024);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(http, on_request, NULL);
    if (ctx != NULL)
        evhttp_set_bevcb(http, on_new_conn, ctx);
    sock = evhttp_bind_socket_with_handle(http, listen, (ev_uint16_t)port);
    if (sock == NULL) {
        fprintf(stderr, "cb-echo-upstream: cannot listen on %s:%d\n", listen, port);
        return 1;
    }
    if (ready != NULL) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char tmp[4096];
        FILE *f;

        if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) < 0)
            return 1;
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
        f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "{\"port\":%d,\"pid\":%d}\n", port, (int)getpid()) < 0 ||
            fclose(f) != 0 || rename(tmp, ready) != 0) {
            fprintf(stderr, "cb-echo-upstream: cannot write %s\n", ready);
            return 1;
        }
    }
    sig = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sig, NULL);
    event_base_dispatch(base);
    event_free(sig);
    evhttp_free(http);
    event_base_free(base);
    SSL_CTX_free(ctx);
    return 0;
}
