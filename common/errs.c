/* errs: definitions of the shared error constants. */
#include "common/errs.h"

const char cb_err_timeout[] = "timeout";
const char cb_err_conn_closed[] = "connection closed";
const char cb_err_unavailable[] = "unavailable";
const char cb_err_protocol[] = "protocol error";
const char cb_err_too_large[] = "too large";
const char cb_err_server[] = "server error";
const char cb_err_shutdown[] = "shutting down";
