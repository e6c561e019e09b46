/* SPDX-License-Identifier: MIT */
/* Status codes, messages and the graph's sticky error. */
#include "bp_private.h"

#include <stdio.h>
#include <string.h>

static const char *const status_text[] = {
    [BP_OK] = "success",
    [BP_ENOMEM] = "out of memory",
    [BP_EINVAL] = "invalid argument",
    [BP_EDIM] = "shape mismatch",
    [BP_ESTATE] = "call out of order",
    [BP_ENUMERIC] = "non-finite value",
    [BP_ESINGULAR] = "singular or not positive definite matrix",
    [BP_EIO] = "input/output error",
    [BP_EPARSE] = "malformed file",
    [BP_ENOTFOUND] = "no such name",
};
_Static_assert(sizeof status_text / sizeof status_text[0] == BP_STATUS_COUNT,
               "one message per bp_status");

const char *bp_strerror(bp_status status)
{
    if ((unsigned)status >= BP_STATUS_COUNT)
        return "unknown status";
    return status_text[status];
}

bp_status bp_op_fail(bp_op_args *args, bp_status status, const char *fmt, ...)
{
    if (args && args->msg && args->msg_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(args->msg, args->msg_size, fmt, ap);
        va_end(ap);
    }
    return status;
}

bp_status bpi_fail(bp_graph *g, bp_status status, const char *fmt, ...)
{
    if (g && g->status == BP_OK && status != BP_OK) {
        va_list ap;
        g->status = status;
        va_start(ap, fmt);
        vsnprintf(g->message, sizeof g->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

bp_status bpi_set_error(bp_error *err, bp_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->status = status;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

bp_status bpi_report(bp_graph *g, bp_status status, bp_error *found, bp_error *err)
{
    found->status = status;
    if (status == BP_OK)
        found->message[0] = '\0';
    else if (!found->message[0])
        snprintf(found->message, sizeof found->message, "%s", bp_strerror(status));
    bpi_fail(g, status, "%s", found->message);
    if (err)
        *err = *found;
    return status;
}

bp_status bp_graph_status(const bp_graph *g)
{
    return g ? g->status : BP_EINVAL;
}

const char *bp_graph_message(const bp_graph *g)
{
    return g ? g->message : "graph is NULL";
}

void bp_graph_clear_error(bp_graph *g)
{
    if (g) {
        g->status = BP_OK;
        g->message[0] = '\0';
    }
}
