/* SPDX-License-Identifier: MIT */
/* What the command-line tools share: the program's name, GNU-style usage
 * errors and --version, and strict number parsing. */
#ifndef BP_TOOLS_CLI_H
#define BP_TOOLS_CLI_H

#include <stdint.h>

#define CLI_EXIT_USAGE 2

/* The name the user typed, without its directories or libtool's "lt-"
 * (bpgraph-gradcheck installed, gradcheck in the build tree).  argv[0]
 * becomes it too, so that getopt_long's messages carry it. */
const char *cli_init(char **argv);
const char *cli_name(void);

/* "NAME: <message>" and "Try 'NAME --help' for more information." on
 * stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The last line after getopt_long has printed its own message. */
int cli_try_help(void);

/* --version: the program, the library's version and its licence. */
void cli_version(void);

/* s is a decimal integer in [0, max]: digits only, no sign or spaces. */
int cli_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* s is a finite number >= 0, nothing after it. */
int cli_parse_nonneg(const char *s, double *out);

#endif
