/* SPDX-License-Identifier: MIT */
/* gradcheck: checks every registered op's analytic derivative, and a few
 * whole graphs, against finite differences.  Public API only. */
#define _POSIX_C_SOURCE 200809L
#include "bpgraph.h"
#include "cli.h"

#include <dlfcn.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_PASS = 0, EXIT_MISMATCH = 1, EXIT_USAGE = 2, EXIT_NONFINITE = 3 };

#define MAX_PLUGINS 16
#define MAX_NAMES 256
#define SELF_TEST_SEEDS 50

typedef struct cli {
    bp_check_options opt;
    int opt_eps, opt_atol, opt_rtol;   /* given on the command line */
    int list, json, self_test;
    int graphs;                        /* 1 also graphs, 0 none, 2 only graphs */
    const char *plugins[MAX_PLUGINS];
    size_t n_plugins;
    const char *names[MAX_NAMES];
    size_t n_names;
    const char *argv0;
} cli;

/* ---- crash reporting: an op that crashes still gives exit 3 ---- */

static const char *volatile current_check = "";

static void on_crash(int sig)
{
    static const char head[] = "\ngradcheck: crashed (signal) while checking ";
    const char *name = current_check;
    ssize_t ignored = write(STDERR_FILENO, head, sizeof head - 1);
    ignored = write(STDERR_FILENO, name, strlen(name));
    ignored = write(STDERR_FILENO, "\n", 1);
    (void)ignored;
    (void)sig;
    _exit(EXIT_NONFINITE);
}

static void install_crash_handlers(void)
{
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_crash);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- usage ---- */

static void usage(FILE *f)
{
    fprintf(f, "Usage: %s [OPTION]... [NAME]...\n", cli_name());
    fputs("Checks each op's analytic derivative (backward) against finite differences.\n"
          "With no names: every registered op and the graph cases.  Names select ops\n"
          "and graph cases (graph:mlp, ...).\n"
          "\n"
          "  --list            print the registered op names and graph cases, one a line\n"
          "  --seed N          sampling seed (default 1)\n"
          "  --eps X           rounding unit for the step h = cbrt(eps)*max(1,|x|)\n"
          "  --atol X          absolute tolerance (default 1e-6)\n"
          "  --rtol X          relative tolerance (default 1e-5)\n"
          "  --case N          run only case N of the named op (replay)\n"
          "  --no-richardson   plain central differences, no error estimate\n"
          "  --format text|json\n"
          "  --plugin FILE     load ops from a shared object (repeatable); a FILE\n"
          "                    without a slash that exists is loaded from here\n"
          "  --graph           graph cases only;  --no-graph: ops only\n"
          "  --self-test       inject known-wrong derivatives and check they are caught\n"
          "  -h, --help        this text\n"
          "  --version         the version and licence\n"
          "Options take their value as '--seed 5' or '--seed=5'; '--' ends the options.\n"
          "\n"
          "Exit status: 0 all pass, 1 a mismatch, 2 usage error,\n"
          "3 a non-finite value or an op error.\n", f);
}

/* Returns -1 when parsing succeeded, else an exit code. */
static int parse_args(int argc, char **argv, cli *c)
{
    enum { OPT_LIST = 256, OPT_SEED, OPT_EPS, OPT_ATOL, OPT_RTOL, OPT_CASE, OPT_NO_RICHARDSON,
           OPT_FORMAT, OPT_PLUGIN, OPT_GRAPH, OPT_NO_GRAPH, OPT_SELF_TEST, OPT_VERSION };
    static const struct option longopts[] = {
        {"list", no_argument, NULL, OPT_LIST},
        {"seed", required_argument, NULL, OPT_SEED},
        {"eps", required_argument, NULL, OPT_EPS},
        {"atol", required_argument, NULL, OPT_ATOL},
        {"rtol", required_argument, NULL, OPT_RTOL},
        {"case", required_argument, NULL, OPT_CASE},
        {"no-richardson", no_argument, NULL, OPT_NO_RICHARDSON},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"plugin", required_argument, NULL, OPT_PLUGIN},
        {"graph", no_argument, NULL, OPT_GRAPH},
        {"no-graph", no_argument, NULL, OPT_NO_GRAPH},
        {"self-test", no_argument, NULL, OPT_SELF_TEST},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int opt;

    memset(c, 0, sizeof *c);
    c->opt = bp_check_options_default();
    c->graphs = 1;
    c->argv0 = argv[0];   /* as typed, for the replay line */
    cli_init(argv);
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        uint64_t v;
        switch (opt) {
        case 'h':
            usage(stdout);
            return EXIT_PASS;
        case OPT_VERSION:
            cli_version();
            return EXIT_PASS;
        case OPT_LIST: c->list = 1; break;
        case OPT_SELF_TEST: c->self_test = 1; break;
        case OPT_GRAPH: c->graphs = 2; break;
        case OPT_NO_GRAPH: c->graphs = 0; break;
        case OPT_NO_RICHARDSON: c->opt.richardson = 0; break;
        case OPT_SEED:
            if (!cli_parse_uint(optarg, UINT64_MAX, &v))
                return cli_usage_error("--seed needs an integer from 0 to %llu, not '%s'",
                                   (unsigned long long)UINT64_MAX, optarg);
            c->opt.seed = v;
            break;
        case OPT_CASE:
            /* BP_CHECK_ALL itself means every case: not a case number */
            if (!cli_parse_uint(optarg, BP_CHECK_ALL - 1, &v))
                return cli_usage_error("--case needs a case number from 0 to %zu, not '%s'",
                                   (size_t)(BP_CHECK_ALL - 1), optarg);
            c->opt.only_case = (size_t)v;
            break;
        case OPT_EPS:
            if (!cli_parse_nonneg(optarg, &c->opt.eps) || c->opt.eps <= 0.0 || c->opt.eps >= 1.0)
                return cli_usage_error("--eps needs a number in (0, 1), not '%s'", optarg);
            c->opt_eps = 1;
            break;
        case OPT_ATOL:
            if (!cli_parse_nonneg(optarg, &c->opt.atol))
                return cli_usage_error("--atol needs a number >= 0, not '%s'", optarg);
            c->opt_atol = 1;
            break;
        case OPT_RTOL:
            if (!cli_parse_nonneg(optarg, &c->opt.rtol))
                return cli_usage_error("--rtol needs a number >= 0, not '%s'", optarg);
            c->opt_rtol = 1;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "json") == 0)
                c->json = 1;
            else if (strcmp(optarg, "text") != 0)
                return cli_usage_error("--format is text or json, not '%s'", optarg);
            break;
        case OPT_PLUGIN:
            if (c->n_plugins == MAX_PLUGINS)
                return cli_usage_error("too many plugins (at most %d)", MAX_PLUGINS);
            c->plugins[c->n_plugins++] = optarg;
            break;
        default:   /* getopt_long has said what is wrong */
            return cli_try_help();
        }
    }
    for (int i = optind; i < argc; i++) {
        if (c->n_names == MAX_NAMES)
            return cli_usage_error("too many names (at most %d)", MAX_NAMES);
        c->names[c->n_names++] = argv[i];
    }
    if (c->opt.only_case != BP_CHECK_ALL && c->n_names != 1)
        return cli_usage_error("--case replays one case of one op: name exactly one");
    return -1;
}

/* ---- plugins ---- */

static void *plugin_handles[MAX_PLUGINS];

static int load_plugins(const cli *c, bp_registry *reg)
{
    for (size_t i = 0; i < c->n_plugins; i++) {
        const char *name = c->plugins[i];
        char here[4096];
        void *h, *sym;
        bp_plugin_init_fn init;
        int rc;

        /* dlopen searches the library path for a name without a slash,
         * never the current directory: a file of that name here is meant */
        if (!strchr(name, '/') && access(name, F_OK) == 0 &&
            (size_t)snprintf(here, sizeof here, "./%s", name) < sizeof here)
            name = here;
        h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "%s: cannot load plugin '%s': %s\n", cli_name(), c->plugins[i],
                    dlerror());
            if (!strchr(c->plugins[i], '/'))
                fprintf(stderr, "%s: (a name without a slash is looked up in this directory, "
                        "then in the library path)\n", cli_name());
            return EXIT_USAGE;
        }
        plugin_handles[i] = h;
        sym = dlsym(h, BP_PLUGIN_INIT_SYMBOL);
        if (!sym) {
            fprintf(stderr, "%s: plugin %s exports no %s(bp_registry *)\n", cli_name(),
                    c->plugins[i], BP_PLUGIN_INIT_SYMBOL);
            return EXIT_USAGE;
        }
        /* POSIX guarantees a function pointer survives this conversion. */
        memcpy(&init, &sym, sizeof init);
        current_check = c->plugins[i];
        rc = init(reg);
        if (rc != 0) {
            fprintf(stderr, "%s: %s in %s returned %d\n", cli_name(), BP_PLUGIN_INIT_SYMBOL,
                    c->plugins[i], rc);
            return EXIT_NONFINITE;
        }
    }
    return -1;
}

static void unload_plugins(void)
{
    for (size_t i = 0; i < MAX_PLUGINS; i++)
        if (plugin_handles[i])
            dlclose(plugin_handles[i]);
}

/* ---- graph cases ---- */

/* Uniform in [lo, hi). */
static double rng_uniform(bp_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * bp_rng_uniform(r);
}

/* A leaf filled with uniform values in [lo, hi). */
static bp_node *filled(bp_graph *g, bp_node *n, bp_rng *r, double lo, double hi)
{
    bp_matrix *v;
    if (!n)
        return NULL;
    v = bp_node_value(n);
    if (!v) {
        bp_matrix *m = bp_matrix_alloc(bp_node_rows(n), bp_node_cols(n));
        if (!m)
            return NULL;
        for (size_t k = 0; k < m->rows * m->cols; k++)
            m->data[k] = rng_uniform(r, lo, hi);
        bp_node_set_value(n, m);
        bp_matrix_free(m);
        return bp_graph_status(g) == BP_OK ? n : NULL;
    }
    for (size_t k = 0; k < v->rows * v->cols; k++)
        v->data[k] = rng_uniform(r, lo, hi);
    return n;
}

/* A one-hot m×n target: each row's class chosen at random. */
static bp_node *one_hot(bp_graph *g, bp_rng *r, size_t m, size_t n, const char *name)
{
    double *d = calloc(m * n, sizeof *d);
    bp_node *node;
    if (!d)
        return NULL;
    for (size_t i = 0; i < m; i++)
        d[i * n + bp_rng_below(r, n)] = 1.0;
    node = bp_constant(g, m, n, d, name);
    free(d);
    return node;
}

typedef bp_node *(*graph_builder)(bp_graph *g, bp_rng *r);

/* The lesson's network: relu(x·W1 + b1)·W2 + b2, mean squared error. */
static bp_node *build_mlp(bp_graph *g, bp_rng *r)
{
    bp_node *x = filled(g, bp_input(g, 6, 3, "x"), r, -1.0, 1.0);
    bp_node *y = filled(g, bp_input(g, 6, 1, "y"), r, -1.0, 1.0);
    bp_node *w1 = filled(g, bp_param(g, 3, 4, "W1"), r, -1.0, 1.0);
    bp_node *b1 = filled(g, bp_param(g, 1, 4, "b1"), r, -0.5, 0.5);
    bp_node *w2 = filled(g, bp_param(g, 4, 1, "W2"), r, -1.0, 1.0);
    bp_node *b2 = filled(g, bp_param(g, 1, 1, "b2"), r, -0.5, 0.5);
    bp_node *h = bp_relu(g, bp_add(g, bp_matmul(g, x, w1), b1));
    return bp_mse(g, bp_add(g, bp_matmul(g, h, w2), b2), y);
}

/* The staged softmax, checked through a random weighted sum. */
static bp_node *build_staged_sum(bp_graph *g, bp_rng *r)
{
    bp_node *z = filled(g, bp_param(g, 4, 5, "logits"), r, -2.0, 2.0);
    return bp_softmax_staged(g, z);
}

/* x·W → staged softmax → nll against one-hot targets. */
static bp_node *build_staged_nll(bp_graph *g, bp_rng *r)
{
    bp_node *x = filled(g, bp_input(g, 5, 3, "x"), r, -1.0, 1.0);
    bp_node *w = filled(g, bp_param(g, 3, 4, "W"), r, -1.0, 1.0);
    return bp_nll(g, bp_softmax_staged(g, bp_matmul(g, x, w)), one_hot(g, r, 5, 4, "t"));
}

/* Fused softmax, then nll. */
static bp_node *build_softmax_nll(bp_graph *g, bp_rng *r)
{
    bp_node *x = filled(g, bp_input(g, 5, 3, "x"), r, -1.0, 1.0);
    bp_node *w = filled(g, bp_param(g, 3, 4, "W"), r, -1.0, 1.0);
    return bp_nll(g, bp_softmax(g, bp_matmul(g, x, w)), one_hot(g, r, 5, 4, "t"));
}

/* dense → softmax_ce, the fused loss. */
static bp_node *build_softmax_ce(bp_graph *g, bp_rng *r)
{
    bp_node *x = filled(g, bp_input(g, 5, 3, "x"), r, -1.0, 1.0);
    bp_node *w = filled(g, bp_param(g, 3, 4, "W"), r, -1.0, 1.0);
    bp_node *b = filled(g, bp_param(g, 1, 4, "b"), r, -0.5, 0.5);
    return bp_softmax_ce(g, bp_dense(g, x, w, b), one_hot(g, r, 5, 4, "t"));
}

/* Two dense layers with tanh, mean squared error; W1 also feeds a second
 * path so its gradient must accumulate over fan-out. */
static bp_node *build_dense(bp_graph *g, bp_rng *r)
{
    bp_node *x = filled(g, bp_input(g, 6, 3, "x"), r, -1.0, 1.0);
    bp_node *y = filled(g, bp_input(g, 6, 2, "y"), r, -1.0, 1.0);
    bp_node *w1 = filled(g, bp_param(g, 3, 3, "W1"), r, -1.0, 1.0);
    bp_node *b1 = filled(g, bp_param(g, 1, 3, "b1"), r, -0.5, 0.5);
    bp_node *w2 = filled(g, bp_param(g, 3, 2, "W2"), r, -1.0, 1.0);
    bp_node *b2 = filled(g, bp_param(g, 1, 2, "b2"), r, -0.5, 0.5);
    bp_node *h = bp_tanh(g, bp_dense(g, x, w1, b1));
    bp_node *h2 = bp_add(g, h, bp_matmul(g, h, w1));
    return bp_mse(g, bp_dense(g, h2, w2, b2), y);
}

/* Dropout between two dense layers, in training mode: checked with the
 * mask its first forward draws (the graph's generator seeded from r). */
static bp_node *build_dropout(bp_graph *g, bp_rng *r)
{
    bp_node *x = filled(g, bp_input(g, 6, 3, "x"), r, -1.0, 1.0);
    bp_node *y = filled(g, bp_input(g, 6, 2, "y"), r, -1.0, 1.0);
    bp_node *w1 = filled(g, bp_param(g, 3, 5, "W1"), r, -1.0, 1.0);
    bp_node *b1 = filled(g, bp_param(g, 1, 5, "b1"), r, -0.5, 0.5);
    bp_node *w2 = filled(g, bp_param(g, 5, 2, "W2"), r, -1.0, 1.0);
    bp_node *b2 = filled(g, bp_param(g, 1, 2, "b2"), r, -0.5, 0.5);
    bp_node *h = bp_dropout(g, bp_tanh(g, bp_dense(g, x, w1, b1)), 0.4);

    bp_graph_set_seed(g, bp_rng_next(r));
    return bp_mse(g, bp_dense(g, h, w2, b2), y);
}

static const struct graph_case {
    const char *name;
    const char *doc;
    graph_builder build;
} graph_cases[] = {
    {"graph:mlp", "the lesson's 2-layer relu network through mse", build_mlp},
    {"graph:softmax_staged", "staged softmax, random weighted sum", build_staged_sum},
    {"graph:softmax_staged_nll", "x·W, staged softmax, nll", build_staged_nll},
    {"graph:softmax_nll", "x·W, fused softmax, nll", build_softmax_nll},
    {"graph:softmax_ce", "dense, fused softmax_ce", build_softmax_ce},
    {"graph:dense", "dense, tanh, fan-out, dense, mse", build_dense},
    {"graph:dropout", "dense, tanh, dropout (training), dense, mse", build_dropout},
};
#define N_GRAPH_CASES (sizeof graph_cases / sizeof graph_cases[0])

/* Builds and checks one graph case; BP_OK when the check ran. */
static bp_status run_graph_case(const struct graph_case *gc, const bp_check_options *opt,
                                bp_check_report *rep)
{
    bp_rng r;
    bp_graph *g = bp_graph_new();
    bp_node *out;
    bp_status st;

    if (!g)
        return BP_ENOMEM;
    bp_rng_seed(&r, opt->seed);
    out = gc->build(g, &r);
    if (!out) {
        memset(rep, 0, sizeof *rep);
        rep->result = BP_CHECK_ERROR;
        snprintf(rep->name, sizeof rep->name, "%s", gc->name);
        snprintf(rep->message, sizeof rep->message, "building the graph: %s",
                 bp_graph_message(g));
        bp_graph_free(g);
        return BP_OK;
    }
    st = bp_gradcheck_graph(g, out, opt, rep);
    snprintf(rep->name, sizeof rep->name, "%s", gc->name);
    bp_graph_free(g);
    return st;
}

/* ---- output ---- */

static const char *result_name(bp_check_result r)
{
    switch (r) {
    case BP_CHECK_PASS: return "PASS";
    case BP_CHECK_MISMATCH: return "FAIL";
    case BP_CHECK_NONFINITE: return "NONFINITE";
    default: return "ERROR";
    }
}

static int exit_code(bp_check_result r)
{
    return r == BP_CHECK_PASS ? EXIT_PASS : r == BP_CHECK_MISMATCH ? EXIT_MISMATCH : EXIT_NONFINITE;
}

/* argv[0] as the user would type it: libtool runs .libs/lt-gradcheck. */
static void program_name(const char *argv0, char *buf, size_t size)
{
    const char *libs = strstr(argv0, ".libs/");
    if (libs) {
        const char *base = libs + 6;
        if (strncmp(base, "lt-", 3) == 0)
            base += 3;
        snprintf(buf, size, "%.*s%s", (int)(libs - argv0), argv0, base);
    } else {
        snprintf(buf, size, "%s", argv0);
    }
}

static void replay_command(const cli *c, const bp_check_report *rep, int is_graph,
                           char *buf, size_t size)
{
    size_t used;
    char prog[512];

    program_name(c->argv0, prog, sizeof prog);
    used = (size_t)snprintf(buf, size, "%s", prog);
    for (size_t i = 0; i < c->n_plugins && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, " --plugin %s", c->plugins[i]);
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, " --seed %llu", c->opt.seed);
    if (c->opt_eps && used < size)
        used += (size_t)snprintf(buf + used, size - used, " --eps %.17g", c->opt.eps);
    if (c->opt_atol && used < size)
        used += (size_t)snprintf(buf + used, size - used, " --atol %.17g", c->opt.atol);
    if (c->opt_rtol && used < size)
        used += (size_t)snprintf(buf + used, size - used, " --rtol %.17g", c->opt.rtol);
    if (!c->opt.richardson && used < size)
        used += (size_t)snprintf(buf + used, size - used, " --no-richardson");
    if (!is_graph && rep->failed_case != BP_CHECK_NONE && used < size)
        used += (size_t)snprintf(buf + used, size - used, " --case %zu", rep->failed_case);
    if (used < size)
        snprintf(buf + used, size - used, " %s", rep->name);
}

static void print_header(const bp_check_options *o)
{
    printf("gradcheck: seed %llu, step h = %g*cbrt(%.3g)*max(1,|x|), atol %g, rtol %g, %s\n",
           o->seed, o->step_scale, o->eps, o->atol, o->rtol,
           o->richardson ? "Richardson 4-point stencil" : "2-point stencil");
    printf("pass iff |a - n| <= atol + rtol*max(|a|,|n|) + estimate\n\n");
    printf("%-26s %5s %12s %12s %9s  %s\n", "op", "cases", "max abs err", "max rel err",
           "time", "result");
}

static void print_index(size_t v)
{
    if (v == BP_CHECK_NONE)
        printf("%4s", "-");
    else
        printf("%4zu", v);
}

static void print_failure(const cli *c, const bp_check_report *rep, int is_graph)
{
    char cmd[1024];
    size_t shown = 0;

    for (size_t i = 0; i < rep->n_cases; i++)
        if (rep->cases[i].index == rep->failed_case)
            printf("    case %zu: %s\n", rep->failed_case, rep->cases[i].label);
    if (rep->n_worst > 0) {
        printf("    %-10s %4s %4s %8s %13s %15s %15s %11s %11s\n", "input", "row", "col", "out",
               "x", "analytic", "numeric", "error", "allowed");
        /* the replayed case's entries first, then the others */
        for (int other = 0; other < 2; other++)
            for (size_t i = 0; i < rep->n_worst && shown < 5; i++) {
                const bp_check_entry *e = &rep->worst[i];
                char out[32] = "-", x[32] = "-";
                if ((e->case_index != rep->failed_case) != other)
                    continue;
                shown++;
                if (e->out_row != BP_CHECK_NONE)
                    snprintf(out, sizeof out, "(%zu,%zu)", e->out_row, e->out_col);
                if (e->row != BP_CHECK_NONE)
                    snprintf(x, sizeof x, "%.6g", e->x);
                printf("    %-10s ", e->row == BP_CHECK_NONE ? "probe" : e->input_name);
                print_index(e->row);
                printf(" ");
                print_index(e->col);
                printf(" %8s %13s %15.8g %15.8g %11.3g %11.3g", out, x, e->analytic,
                       e->numeric, e->error, e->allowed);
                if (other)
                    printf("  (case %zu)", e->case_index);
                printf("\n");
            }
    }
    if (rep->diagnosis[0])
        printf("    diagnosis: %s\n", rep->diagnosis);
    if (rep->message[0])
        printf("    %s\n", rep->message);
    replay_command(c, rep, is_graph, cmd, sizeof cmd);
    printf("    replay: %s\n", cmd);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void json_number(double v)
{
    if (isfinite(v))
        printf("%.17g", v);
    else
        printf("null");
}

static void print_json_report(const cli *c, const bp_check_report *rep, int is_graph,
                              double seconds, int first)
{
    char cmd[1024];

    printf("%s\n    {\"name\": ", first ? "" : ",");
    json_string(rep->name);
    printf(", \"kind\": \"%s\", \"result\": \"%s\", \"cases\": %zu, \"failed_cases\": %zu, "
           "\"compared\": %zu, \"max_abs_err\": ", is_graph ? "graph" : "op",
           result_name(rep->result), rep->n_cases, rep->n_failed, rep->n_compared);
    json_number(rep->max_abs_err);
    printf(", \"max_rel_err\": ");
    json_number(rep->max_rel_err);
    printf(", \"seconds\": ");
    json_number(seconds);
    if (rep->result != BP_CHECK_PASS) {
        printf(", \"failed_case\": ");
        if (rep->failed_case == BP_CHECK_NONE)
            printf("null");
        else
            printf("%zu", rep->failed_case);
        printf(", \"diagnosis\": ");
        json_string(rep->diagnosis);
        printf(", \"message\": ");
        json_string(rep->message);
        replay_command(c, rep, is_graph, cmd, sizeof cmd);
        printf(", \"replay\": ");
        json_string(cmd);
        printf(", \"worst\": [");
        for (size_t i = 0; i < rep->n_worst; i++) {
            const bp_check_entry *e = &rep->worst[i];
            printf("%s{\"case\": %zu, \"input\": ", i ? ", " : "", e->case_index);
            json_string(e->row == BP_CHECK_NONE ? "probe" : e->input_name);
            printf(", \"row\": ");
            e->row == BP_CHECK_NONE ? printf("null") : printf("%zu", e->row);
            printf(", \"col\": ");
            e->col == BP_CHECK_NONE ? printf("null") : printf("%zu", e->col);
            printf(", \"x\": ");
            json_number(e->x);
            printf(", \"analytic\": ");
            json_number(e->analytic);
            printf(", \"numeric\": ");
            json_number(e->numeric);
            printf(", \"error\": ");
            json_number(e->error);
            printf(", \"allowed\": ");
            json_number(e->allowed);
            printf("}");
        }
        printf("]");
    }
    printf("}");
}

/* ---- the ordinary run ---- */

static int selected(const cli *c, const char *name)
{
    if (c->n_names == 0)
        return 1;
    for (size_t i = 0; i < c->n_names; i++)
        if (strcmp(c->names[i], name) == 0)
            return 1;
    return 0;
}

static int run_checks(const cli *c, const bp_registry *reg)
{
    bp_check_result worst = BP_CHECK_PASS;
    size_t n_run = 0, n_pass = 0;
    double start = now();
    int first = 1;

    if (c->json) {
        printf("{\"options\": {\"seed\": %llu, \"eps\": ", c->opt.seed);
        json_number(c->opt.eps);
        printf(", \"step_scale\": ");
        json_number(c->opt.step_scale);
        printf(", \"atol\": ");
        json_number(c->opt.atol);
        printf(", \"rtol\": ");
        json_number(c->opt.rtol);
        printf(", \"richardson\": %s},\n \"checks\": [", c->opt.richardson ? "true" : "false");
    } else {
        print_header(&c->opt);
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t count = pass == 0 ? bp_registry_count(reg) : N_GRAPH_CASES;
        if ((pass == 0 && c->graphs == 2) || (pass == 1 && c->graphs == 0))
            continue;
        for (size_t i = 0; i < count; i++) {
            const bp_op *op = pass == 0 ? bp_registry_get(reg, i) : NULL;
            const char *name = op ? op->name : graph_cases[i].name;
            bp_check_report rep;
            bp_status st;
            double t0;

            if (!selected(c, name))
                continue;
            current_check = name;
            t0 = now();
            st = op ? bp_gradcheck_op(op, &c->opt, &rep)
                    : run_graph_case(&graph_cases[i], &c->opt, &rep);
            if (st == BP_ENOMEM) {
                fprintf(stderr, "%s: out of memory checking %s\n", cli_name(), name);
                bp_check_report_clear(&rep);
                return EXIT_NONFINITE;
            }
            t0 = now() - t0;
            n_run++;
            n_pass += rep.result == BP_CHECK_PASS;
            if (rep.result > worst)
                worst = rep.result;
            if (c->json) {
                print_json_report(c, &rep, pass == 1, t0, first);
                first = 0;
            } else {
                printf("%-26s %5zu %12.3g %12.3g %7.1fms  %s\n", rep.name, rep.n_cases,
                       rep.max_abs_err, rep.max_rel_err, 1e3 * t0, result_name(rep.result));
                if (rep.result != BP_CHECK_PASS)
                    print_failure(c, &rep, pass == 1);
            }
            bp_check_report_clear(&rep);
        }
    }
    if (c->json) {
        printf("\n ],\n \"summary\": {\"checked\": %zu, \"passed\": %zu, \"failed\": %zu, "
               "\"seconds\": ", n_run, n_pass, n_run - n_pass);
        json_number(now() - start);
        printf(", \"result\": \"%s\"}}\n", result_name(worst));
    } else {
        printf("\n%zu checked, %zu passed, %zu failed in %.2f s\n", n_run, n_pass,
               n_run - n_pass, now() - start);
    }
    return exit_code(worst);
}

/* ---- --self-test: known-wrong derivatives must be caught ---- */

enum fault_kind {
    FAULT_SIGN, FAULT_FACTOR2, FAULT_TRANSPOSE, FAULT_NO_REDUCE, FAULT_OVERWRITE,
    FAULT_DROP_BATCH, FAULT_SCATTER_OVERWRITE, FAULT_IGNORE_DRAWS, FAULT_LN_MEAN_TERM,
    FAULT_MASK_LEAK, FAULT_IGNORE_LEAK,
    FAULT_NONE   /* the wrapper alone: the control, which must PASS */
};

static const char *const fault_names[] = {
    "sign flip", "factor 2", "transposed gradient", "missing broadcast reduction",
    "overwrite instead of accumulate", "one batch's gradient dropped",
    "scatter overwrites a repeated id", "backward ignores the mask",
    "mean's term dropped from dx", "gradient into masked keys", "gradient into ignored ids",
    "none (the wrapper alone)",
};

static const struct fault {
    const char *op;
    enum fault_kind kind;
    int input;   /* the input that gets the fault; -1 every input */
} faults[] = {
    {"tanh", FAULT_SIGN, -1},
    {"softmax", FAULT_SIGN, -1},
    {"matmul", FAULT_SIGN, 1},
    {"sub", FAULT_SIGN, 1},
    {"exp", FAULT_FACTOR2, -1},
    {"mul", FAULT_FACTOR2, 0},
    {"softmax_ce", FAULT_FACTOR2, 0},
    {"mse", FAULT_FACTOR2, -1},
    {"matmul", FAULT_TRANSPOSE, 0},
    {"matmul", FAULT_TRANSPOSE, 1},
    {"dense", FAULT_TRANSPOSE, 1},
    {"add", FAULT_NO_REDUCE, -1},
    {"mul", FAULT_NO_REDUCE, 1},
    {"div", FAULT_NO_REDUCE, -1},
    {"relu", FAULT_OVERWRITE, -1},
    {"matmul", FAULT_OVERWRITE, -1},
    {"rowsum", FAULT_OVERWRITE, -1},
    {"dense", FAULT_OVERWRITE, 2},
    /* batched products (when matmul takes tensors; the transposed and
     * missing-reduction faults above then meet batches too) and lookups */
    {"matmul", FAULT_DROP_BATCH, 0},
    {"matmul", FAULT_DROP_BATCH, 1},
    {"matmul", FAULT_NO_REDUCE, 1},
    {"gather", FAULT_SCATTER_OVERWRITE, 0},
    /* a random op's backward that ignores its draws, as in eval mode */
    {"dropout", FAULT_IGNORE_DRAWS, 0},
    /* the network ops: a layer norm's dx without its −mean(g ⊙ γ)/σ, its
     * dγ overwritten or summed over one row only; attention's mask
     * ignored in backward; cross-entropy's ignored ids given gradient */
    {"layer_norm", FAULT_LN_MEAN_TERM, 0},
    {"layer_norm", FAULT_OVERWRITE, 1},
    {"layer_norm", FAULT_NO_REDUCE, 1},
    {"causal_softmax", FAULT_MASK_LEAK, 0},
    {"cross_entropy", FAULT_IGNORE_LEAK, 0},
};
#define N_FAULTS (sizeof faults / sizeof faults[0])

/* The fault being injected: the tool is single-threaded. */
static const struct fault *active_fault;
static bp_backward_fn active_backward;

/* dout with every entry zeroed except the first copy along each dimension
 * that input i is broadcast over (dimensions aligned from the right, as
 * numpy's broadcasting; a matrix's rows and cols alike). */
static void mask_broadcast(const bp_op_args *a, size_t i, double *masked)
{
    const bp_shape *o = a->out_shape, *in = a->in_shape[i];
    const size_t n = a->dout->rows * a->dout->cols;
    for (size_t k = 0; k < n; k++) {
        size_t rest = k;
        int keep = 1;
        for (size_t d = 0; d < o->rank; d++) {   /* d: from the last dimension */
            size_t od = o->dim[o->rank - 1 - d], at = rest % od;
            size_t id = d < in->rank ? in->dim[in->rank - 1 - d] : 1;
            rest /= od;
            keep = keep && (id == od || at == 0);
        }
        masked[k] = keep ? a->dout->data[k] : 0.0;
    }
}

/* For FAULT_SCATTER_OVERWRITE: the backward of each output element alone,
 * each result written over din (where it is not zero) rather than added:
 * what a scatter that assigns does when two ids are the same. */
static bp_status scatter_overwrite(const bp_op_args *a, size_t i, bp_matrix *tmp, double *one)
{
    const size_t n = a->dout->rows * a->dout->cols;
    bp_matrix one_dout = *a->dout;
    bp_op_args b = *a;
    bp_matrix *d = a->din[i];

    for (size_t k = 0; k < BP_MAX_INPUTS; k++)
        b.din[k] = k == i ? tmp : NULL;
    one_dout.data = one;
    b.dout = &one_dout;
    for (size_t k = 0; k < n; k++) {
        bp_status st;
        memset(one, 0, n * sizeof *one);
        one[k] = a->dout->data[k];
        memset(tmp->data, 0, tmp->rows * tmp->cols * sizeof(double));
        if ((st = active_backward(&b)) != BP_OK)
            return st;
        for (size_t e = 0; e < d->rows * d->cols; e++)
            if (tmp->data[e] != 0.0)
                d->data[e] = tmp->data[e];
    }
    return BP_OK;
}

/* What the network-op faults add to element k of din[0] besides the
 * right gradient: layer_norm's dropped term r·mean(g ⊙ γ) of k's row, r =
 * 1/√(σ² + eps); for causal_softmax dout itself at a masked score (key
 * j > i + Tk − Tq); for cross_entropy a unit of dout at the first logit of
 * a row whose id is the ignore_index. */
static double network_fault_term(const bp_op_args *a, enum fault_kind kind, size_t k)
{
    const size_t cols = a->in[0]->cols, row = k / cols, j = k % cols;
    const double *x = a->in[0]->data + row * cols, *g = a->dout->data + row * cols;

    if (kind == FAULT_LN_MEAN_TERM) {
        double mu = 0.0, var = 0.0, gm = 0.0;
        for (size_t e = 0; e < cols; e++)
            mu += x[e] / (double)cols;
        for (size_t e = 0; e < cols; e++) {
            var += (x[e] - mu) * (x[e] - mu) / (double)cols;
            gm += g[e] * a->in[1]->data[e] / (double)cols;
        }
        return gm / sqrt(var + a->attr[0]);
    }
    if (kind == FAULT_MASK_LEAK) {
        const bp_shape *s = a->in_shape[0];
        const size_t tq = s->dim[s->rank - 2], i = row % tq;
        return j + tq > i + cols ? a->dout->data[k] : 0.0;
    }
    if (kind == FAULT_IGNORE_LEAK)
        return j == 0 && a->in[1]->data[row] == a->attr[0] ? a->dout->data[0] : 0.0;
    return 0.0;
}

/* Runs the real backward into zeroed temporaries, then adds its result
 * into din with the active fault applied. */
static bp_status faulty_backward(bp_op_args *a)
{
    bp_matrix *tmp[BP_MAX_INPUTS] = {NULL};
    bp_status st = BP_OK;
    const struct fault *f = active_fault;

    for (size_t i = 0; i < a->n_in && st == BP_OK; i++) {
        bp_op_args b;
        bp_matrix masked_dout;
        double *masked = NULL;
        int hit = f->input < 0 || (size_t)f->input == i;

        if (!a->din[i])
            continue;
        tmp[i] = bp_matrix_alloc(a->din[i]->rows, a->din[i]->cols);
        if (!tmp[i]) {
            st = BP_ENOMEM;
            break;
        }
        if (hit && f->kind == FAULT_SCATTER_OVERWRITE) {
            double *one = malloc(a->dout->rows * a->dout->cols * sizeof *one);
            st = one ? scatter_overwrite(a, i, tmp[i], one) : BP_ENOMEM;
            free(one);
            continue;
        }
        b = *a;
        for (size_t k = 0; k < a->n_in; k++)
            b.din[k] = k == i ? tmp[i] : NULL;
        if (hit && f->kind == FAULT_IGNORE_DRAWS)
            b.training = 0;
        if ((hit && f->kind == FAULT_NO_REDUCE) || a->dout_writable) {
            /* A dout of this call's own: masked, or a copy, since a
             * backward given dout_writable may write over it and the real
             * backward runs once per input. */
            masked = malloc(a->dout->rows * a->dout->cols * sizeof *masked);
            if (!masked) {
                st = BP_ENOMEM;
                break;
            }
            if (hit && f->kind == FAULT_NO_REDUCE)
                mask_broadcast(a, i, masked);
            else
                memcpy(masked, a->dout->data, a->dout->rows * a->dout->cols * sizeof *masked);
            masked_dout = *a->dout;
            masked_dout.data = masked;
            b.dout = &masked_dout;
        }
        st = active_backward(&b);
        free(masked);
        if (st != BP_OK)
            break;
        bp_matrix *d = a->din[i];
        const double *t = tmp[i]->data;
        size_t rows = d->rows, cols = d->cols;
        /* the first batch: input i's first slice along axis 0 (rank ≥ 3) */
        const size_t batch = a->in_shape[i]->rank >= 3 ? rows * cols / a->in_shape[i]->dim[0] : 0;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) {
                size_t k = r * cols + c;
                if (!hit) {
                    d->data[k] += t[k];
                    continue;
                }
                switch (f->kind) {
                case FAULT_SIGN: d->data[k] -= t[k]; break;
                case FAULT_FACTOR2: d->data[k] += 2.0 * t[k]; break;
                /* the gradient laid out as its transpose, as a wrong
                 * CblasTrans flag gives */
                case FAULT_TRANSPOSE: d->data[k] += t[(k % rows) * cols + k / rows]; break;
                case FAULT_OVERWRITE: d->data[k] = t[k]; break;
                case FAULT_DROP_BATCH: d->data[k] += k < batch ? 0.0 : t[k]; break;
                case FAULT_LN_MEAN_TERM:
                case FAULT_MASK_LEAK:
                case FAULT_IGNORE_LEAK:
                    d->data[k] += t[k] + network_fault_term(a, f->kind, k);
                    break;
                default: d->data[k] += t[k]; break;
                }
            }
    }
    for (size_t i = 0; i < BP_MAX_INPUTS; i++)
        bp_matrix_free(tmp[i]);
    return st;
}

/* Checks op with its backward wrapped to inject fault f.  The wrapper adds
 * into din, so the graph must zero din first and never hand it dout's
 * buffer: the copy drops BP_OP_ASSIGN_FRESH and BP_OP_INPLACE. */
static bp_status check_with_fault(const bp_op *base, const struct fault *f, size_t i,
                                  const bp_check_options *opt, bp_check_report *rep)
{
    bp_op broken = *base;
    char name[64];

    snprintf(name, sizeof name, "%s~fault%zu", base->name, i);
    broken.name = name;
    broken.backward = faulty_backward;
    broken.flags &= ~(BP_OP_ASSIGN_FRESH | BP_OP_INPLACE);
    active_fault = f;
    active_backward = base->backward;
    current_check = name;
    return bp_gradcheck_op(&broken, opt, rep);
}

static int self_test(const cli *c, const bp_registry *reg)
{
    size_t caught = 0, diagnosed = 0, false_failures = 0, runs = 0, skipped = 0;
    double start = now();

    printf("injected faults (each must FAIL):\n");
    for (size_t i = 0; i < N_FAULTS; i++) {
        const struct fault *f = &faults[i];
        const bp_op *base = bp_registry_find(reg, f->op);
        bp_check_report rep;
        char where[32] = "all inputs";
        int was_caught;

        if (!base) {
            fprintf(stderr, "%s: self-test needs the built-in op %s\n", cli_name(), f->op);
            return EXIT_NONFINITE;
        }
        if (f->kind == FAULT_DROP_BATCH && !(base->flags & BP_OP_TENSORS)) {
            /* no batch to drop: the op takes matrices only */
            printf("  %-11s %-32s %-10s skipped (%s takes matrices only)\n", f->op,
                   fault_names[f->kind], "", f->op);
            skipped++;
            continue;
        }
        if (check_with_fault(base, f, i, &c->opt, &rep) == BP_ENOMEM) {
            bp_check_report_clear(&rep);
            return EXIT_NONFINITE;
        }
        was_caught = rep.result == BP_CHECK_MISMATCH;
        caught += was_caught;
        diagnosed += was_caught && rep.diagnosis[0];
        if (f->input >= 0)
            snprintf(where, sizeof where, "input %d", f->input);
        printf("  %-11s %-32s %-10s %s%s%s\n", f->op, fault_names[f->kind], where,
               was_caught ? "caught" : "MISSED", rep.diagnosis[0] ? ": " : "",
               rep.diagnosis);
        bp_check_report_clear(&rep);
    }

    /* Control: the same wrapper with no fault, on each op above, must PASS,
     * or a "caught" above may be the wrapper's doing. */
    printf("the wrapper with no fault (each must PASS):\n");
    for (size_t i = 0; i < N_FAULTS; i++) {
        static const struct fault none = {NULL, FAULT_NONE, -1};
        const bp_op *base = bp_registry_find(reg, faults[i].op);
        bp_check_report rep;
        int seen = 0;

        for (size_t j = 0; j < i; j++)
            seen = seen || strcmp(faults[j].op, faults[i].op) == 0;
        if (seen)
            continue;
        if (check_with_fault(base, &none, i, &c->opt, &rep) == BP_ENOMEM) {
            bp_check_report_clear(&rep);
            return EXIT_NONFINITE;
        }
        runs++;
        if (rep.result != BP_CHECK_PASS)
            false_failures++;
        printf("  %-11s %s%s%s\n", faults[i].op, rep.result == BP_CHECK_PASS ? "PASS" : "FAIL",
               rep.diagnosis[0] ? ": " : "", rep.diagnosis);
        bp_check_report_clear(&rep);
    }

    printf("correct ops over %d seeds (each must PASS):\n", SELF_TEST_SEEDS);
    for (unsigned s = 1; s <= SELF_TEST_SEEDS; s++) {
        bp_check_options o = c->opt;
        o.seed = c->opt.seed + s - 1;
        for (size_t i = 0; i < bp_registry_count(reg) + N_GRAPH_CASES; i++) {
            const bp_op *op = bp_registry_get(reg, i);
            bp_check_report rep;
            current_check = op ? op->name : graph_cases[i - bp_registry_count(reg)].name;
            if ((op ? bp_gradcheck_op(op, &o, &rep)
                    : run_graph_case(&graph_cases[i - bp_registry_count(reg)], &o, &rep)) == BP_ENOMEM) {
                bp_check_report_clear(&rep);
                return EXIT_NONFINITE;
            }
            runs++;
            if (rep.result != BP_CHECK_PASS) {
                false_failures++;
                printf("  false failure: %s --seed %llu: %s %s\n", rep.name, o.seed,
                       rep.diagnosis, rep.message);
            }
            bp_check_report_clear(&rep);
        }
    }
    printf("\nself-test: caught %zu/%zu injected faults (%zu diagnosed, %zu skipped); "
           "%zu false failures in %zu checks (%d seeds); %.2f s\n",
           caught, (size_t)N_FAULTS - skipped, diagnosed, skipped, false_failures, runs,
           SELF_TEST_SEEDS, now() - start);
    return caught + skipped == N_FAULTS && false_failures == 0 ? EXIT_PASS : EXIT_MISMATCH;
}

int main(int argc, char **argv)
{
    cli c;
    bp_registry *reg;
    int rc = parse_args(argc, argv, &c);

    if (rc >= 0)
        return rc;
    install_crash_handlers();
    reg = bp_registry_new();
    if (!reg) {
        fprintf(stderr, "%s: out of memory\n", cli_name());
        return EXIT_NONFINITE;
    }
    rc = load_plugins(&c, reg);
    if (rc < 0) {
        for (size_t i = 0; i < c.n_names && rc < 0; i++) {
            int known = bp_registry_find(reg, c.names[i]) != NULL;
            for (size_t k = 0; k < N_GRAPH_CASES && !known; k++)
                known = strcmp(graph_cases[k].name, c.names[i]) == 0;
            if (!known)
                rc = cli_usage_error("no op or graph case named '%s' (see --list)", c.names[i]);
        }
    }
    if (rc < 0 && c.list) {
        for (size_t i = 0; i < bp_registry_count(reg); i++)
            printf("%s\n", bp_registry_get(reg, i)->name);
        for (size_t i = 0; i < N_GRAPH_CASES; i++)
            printf("%s\n", graph_cases[i].name);
        rc = EXIT_PASS;
    }
    if (rc < 0)
        rc = c.self_test ? self_test(&c, reg) : run_checks(&c, reg);
    bp_registry_free(reg);
    unload_plugins();
    return rc;
}
