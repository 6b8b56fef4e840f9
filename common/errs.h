/*
 * errs: the constant error strings async callbacks receive (STYLE 2.5.2).
 * Compare by pointer, print as text.
 */
#ifndef CB_COMMON_ERRS_H
#define CB_COMMON_ERRS_H

extern const char cb_err_timeout[];     /* no answer within the deadline */
extern const char cb_err_conn_closed[]; /* the connection went away */
extern const char cb_err_unavailable[]; /* not connected (yet); retry later */
extern const char cb_err_protocol[];    /* the peer spoke garbage */
extern const char cb_err_too_large[];   /* a size limit was hit */
extern const char cb_err_server[];      /* the server answered with an error */
extern const char cb_err_shutdown[];    /* the owner is being torn down */

#endif
