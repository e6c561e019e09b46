/* SPDX-License-Identifier: MIT */
/* What the command-line tools share (cli.h).  Public API only. */
#include "cli.h"

#include "bpgraph.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *program = "bpgraph";

const char *cli_init(char **argv)
{
    const char *slash;

    if (argv[0] && argv[0][0]) {
        slash = strrchr(argv[0], '/');
        program = slash ? slash + 1 : argv[0];
        if (strncmp(program, "lt-", 3) == 0)
            program += 3;
        /* getopt_long names the program by argv[0] */
        argv[0] = (char *)program;
    }
    return program;
}

const char *cli_name(void)
{
    return program;
}

int cli_try_help(void)
{
    fprintf(stderr, "Try '%s --help' for more information.\n", program);
    return CLI_EXIT_USAGE;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", program);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return cli_try_help();
}

void cli_version(void)
{
    printf("%s (bpgraph) %s\n"
           "Copyright (c) the bpgraph authors.\n"
           "License MIT: see COPYING in the source or the package's copyright file.\n"
           "This is free software: you are free to change and redistribute it.\n"
           "There is NO WARRANTY, to the extent permitted by law.\n",
           program, bp_version());
}

int cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    /* strtoull itself takes spaces, a sign, and wraps "-1" around */
    if (s[0] < '0' || s[0] > '9')
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end || errno != 0 || v > max)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

int cli_parse_nonneg(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    return s[0] && !*end && errno == 0 && isfinite(*out) && *out >= 0.0;
}
