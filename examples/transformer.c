/* SPDX-License-Identifier: MIT */
/* A character-level decoder-only transformer (GPT's shape: token and
 * position embeddings, pre-norm blocks of causal multi-head attention and a
 * gelu MLP, a final layer norm, a linear head), trained with AdamW and a
 * warm-up on the text of Debian's fortunes package.  It prints the
 * validation loss per character against a bigram model fitted on the same
 * training split, saves its parameters, reloads them into a fresh graph,
 * and samples text from a prompt.
 *
 *   transformer [--text PATH] [--steps N] [--batch B] [--context T]
 *               [--dim D] [--heads H] [--blocks L] [--ff F] [--dropout P]
 *               [--lr LR] [--warmup W] [--seed S] [--threads N]
 *               [--eval-every N] [--save FILE] [--log FILE]
 *               [--prompt TEXT] [--sample N] [--temperature TAU]
 *
 * The text: PATH is a file, or a directory whose files with no '.' in
 * their names are read in name order (default /usr/share/games/fortunes,
 * which the fortunes package fills; data/README.md).  Tabs become spaces,
 * bytes other than newline and printable ASCII are dropped.  Fortunes end
 * at a line "%"; every tenth fortune goes to the validation split, the
 * others to the training split.
 */
#include <bpgraph.h>
#include <cblas.h>
#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BLOCKS 8

typedef struct options {
    const char *text, *save, *log, *prompt;
    size_t steps, batch, context, dim, heads, blocks, ff, warmup, eval_every, sample, threads;
    double dropout, lr, temperature;
    unsigned long long seed;
} options;

/* The two splits as streams of vocabulary ids. */
typedef struct corpus {
    unsigned char *train, *valid;   /* ids */
    size_t n_train, n_valid, n_files, n_fortunes;
    size_t vocab;                   /* distinct characters */
    unsigned char chars[256];       /* id → character */
    int id_of[256];                 /* character → id, or −1 */
} corpus;

typedef struct model {
    bp_graph *g;
    bp_node *ids, *targets, *logits, *loss;
    bp_node *tok, *pos;
    bp_transformer_block blk[MAX_BLOCKS];
    bp_node *lnf_gamma, *lnf_beta;
    bp_dense_layer head;
} model;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the text ---- */

/* Appends byte c to *buf (grown as needed); 0 when memory runs out. */
static int push(unsigned char **buf, size_t *n, size_t *cap, int c)
{
    if (*n == *cap) {
        const size_t grown_cap = *cap ? 2 * *cap : (size_t)1 << 20;
        unsigned char *grown = realloc(*buf, grown_cap);
        if (!grown) {
            fprintf(stderr, "transformer: out of memory reading the text\n");
            return 0;
        }
        *buf = grown;
        *cap = grown_cap;
    }
    (*buf)[(*n)++] = (unsigned char)c;
    return 1;
}

/* Appends path's bytes, cleaned and ending in a newline, to *buf; 0 on
 * error. */
static int read_clean(const char *path, unsigned char **buf, size_t *n, size_t *cap)
{
    FILE *f = fopen(path, "rb");
    int c, ok = 1;

    if (!f) {
        perror(path);
        return 0;
    }
    while (ok && (c = getc(f)) != EOF) {
        if (c == '\t')
            c = ' ';
        if (c == '\n' || (c >= 32 && c <= 126))
            ok = push(buf, n, cap, c);
    }
    fclose(f);
    if (ok && *n > 0 && (*buf)[*n - 1] != '\n')
        ok = push(buf, n, cap, '\n');
    return ok;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The cleaned text of path (a file, or a directory's files with no '.'),
 * each file ending in a newline; *text new, NULL on error. */
static unsigned char *read_text(const char *path, size_t *n, size_t *n_files)
{
    DIR *dir = opendir(path);
    unsigned char *buf = NULL;
    size_t cap = 0, count = 0;
    char **names = NULL;
    struct dirent *e;
    int ok = 1;

    *n = *n_files = 0;
    if (!dir) {
        ok = read_clean(path, &buf, n, &cap);
        *n_files = 1;
    } else {
        while (ok && (e = readdir(dir)) != NULL) {
            char **grown;
            if (strchr(e->d_name, '.'))
                continue;
            grown = realloc(names, (count + 1) * sizeof *names);
            ok = grown != NULL;
            if (ok && (grown[count] = malloc(strlen(path) + strlen(e->d_name) + 2)) != NULL)
                sprintf(grown[count++], "%s/%s", path, e->d_name);
            names = grown ? grown : names;
        }
        closedir(dir);
        if (names)
            qsort(names, count, sizeof *names, by_name);
        for (size_t i = 0; ok && i < count; i++)
            ok = read_clean(names[i], &buf, n, &cap);
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        *n_files = count;
    }
    if (ok && *n < 2) {
        fprintf(stderr, "transformer: %s holds no text\n", path);
        ok = 0;
    }
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Splits text into the two streams, fortune by fortune, and maps it to
 * ids; 0 on error. */
static int make_corpus(const unsigned char *text, size_t n, corpus *c)
{
    size_t fortune = 0;

    memset(c->id_of, -1, sizeof c->id_of);
    for (size_t i = 0; i < n; i++)
        c->id_of[text[i]] = 0;
    c->vocab = 0;
    for (int ch = 0; ch < 256; ch++)
        if (c->id_of[ch] == 0) {
            c->chars[c->vocab] = (unsigned char)ch;
            c->id_of[ch] = (int)c->vocab++;
        }
    c->train = malloc(n);
    c->valid = malloc(n);
    if (!c->train || !c->valid)
        return 0;
    c->n_train = c->n_valid = 0;
    for (size_t i = 0; i < n;) {
        size_t end = i;
        const int to_valid = fortune % 10 == 9;

        while (end < n && text[end] != '\n')
            end++;
        end += end < n;   /* the line with its newline */
        for (size_t k = i; k < end; k++) {
            const unsigned char id = (unsigned char)c->id_of[text[k]];
            if (to_valid)
                c->valid[c->n_valid++] = id;
            else
                c->train[c->n_train++] = id;
        }
        if (end - i == 2 && text[i] == '%')
            fortune++;
        i = end;
    }
    c->n_fortunes = fortune;
    return c->n_valid > 1 && c->n_train > 1;
}

/* Mean −log P(next | previous) in nats over the pairs (s[i], s[i+1]) for
 * i < n − 1 of the validation stream, with P the bigram model fitted on the
 * training stream with add-one smoothing. */
static double bigram_loss(const corpus *c, size_t n)
{
    const size_t v = c->vocab;
    double *count = calloc(v * v, sizeof *count), *row = calloc(v, sizeof *row), sum = 0.0;

    if (!count || !row) {
        free(count);
        free(row);
        return NAN;
    }
    for (size_t i = 0; i + 1 < c->n_train; i++) {
        count[c->train[i] * v + c->train[i + 1]] += 1.0;
        row[c->train[i]] += 1.0;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        const size_t a = c->valid[i], b = c->valid[i + 1];
        sum -= log((count[a * v + b] + 1.0) / (row[a] + (double)v));
    }
    free(count);
    free(row);
    return sum / (double)(n - 1);
}

/* ---- the model ---- */

/* A param of shape with entries N(0, 0.02²), as GPT-2 draws embeddings. */
static bp_node *embedding(bp_graph *g, size_t rows, size_t cols, const char *name, bp_rng *rng)
{
    bp_node *p = bp_param(g, rows, cols, name);
    bp_matrix *v = bp_node_value(p);

    for (size_t k = 0; v && k < rows * cols; k++)
        v->data[k] = 0.02 * bp_rng_normal(rng);
    return p;
}

/* logits = head(ln_f(blocks(dropout(tok[ids] + pos[0..T))))), loss their
 * cross-entropy with the targets; 0 (with a message) on error. */
static int build(model *m, const options *o, size_t vocab, unsigned long long seed)
{
    const size_t t = o->context, d = o->dim;
    bp_graph *g = bp_graph_new();
    bp_node *x, *pos_ids;
    double *positions = malloc(t * sizeof *positions);
    bp_rng rng;

    memset(m, 0, sizeof *m);
    m->g = g;
    if (!g || !positions) {
        free(positions);
        fprintf(stderr, "transformer: out of memory\n");
        return 0;
    }
    bp_rng_seed(&rng, seed);
    bp_graph_set_seed(g, seed + 1);   /* dropout's masks */
    for (size_t k = 0; k < t; k++)
        positions[k] = (double)k;
    m->ids = bp_input_nd(g, &(bp_shape){2, {o->batch, t}}, "ids");
    m->targets = bp_input_nd(g, &(bp_shape){2, {o->batch, t}}, "targets");
    pos_ids = bp_constant_nd(g, &(bp_shape){1, {t}}, positions, "positions");
    free(positions);
    m->tok = embedding(g, vocab, d, "tok_emb", &rng);
    m->pos = embedding(g, t, d, "pos_emb", &rng);
    /* (B x T x D) + (T x D), broadcast over the batch */
    x = bp_dropout(g, bp_add(g, bp_gather(g, m->tok, m->ids), bp_gather(g, m->pos, pos_ids)),
                   o->dropout);
    for (size_t l = 0; l < o->blocks; l++) {
        char name[32];
        snprintf(name, sizeof name, "block%zu", l);
        (void)bp_transformer_block_init(g, &m->blk[l], d, o->heads, o->ff, o->dropout, name,
                                        &rng);
        x = bp_transformer_block_apply(g, &m->blk[l], x);
    }
    m->lnf_gamma = bp_param_nd(g, &(bp_shape){1, {d}}, "ln_f.gamma");
    m->lnf_beta = bp_param_nd(g, &(bp_shape){1, {d}}, "ln_f.beta");
    for (size_t k = 0; m->lnf_gamma && k < d; k++)
        bp_node_value(m->lnf_gamma)->data[k] = 1.0;
    x = bp_layer_norm(g, x, m->lnf_gamma, m->lnf_beta, 1e-5);
    (void)bp_dense_layer_init(g, &m->head, d, vocab, "head", &rng);
    m->logits = bp_dense_layer_apply(g, &m->head, x);
    m->loss = bp_cross_entropy(g, m->logits, m->targets, -1.0);
    if (bp_graph_status(g) != BP_OK) {
        fprintf(stderr, "transformer: building the model: %s\n", bp_graph_message(g));
        return 0;
    }
    return 1;
}

static size_t param_count(bp_graph *g)
{
    size_t n = 0;
    for (size_t i = 0; i < bp_graph_size(g); i++) {
        bp_node *p = bp_graph_node(g, i);
        if (bp_node_is_param(p))
            n += bp_node_rows(p) * bp_node_cols(p);
    }
    return n;
}

/* Binds rows windows of T ids (starting at starts[r] of s) and their next
 * characters as the inputs; ids and targets hold rows·T doubles. */
static int bind_windows(model *m, const unsigned char *s, const size_t *starts, size_t rows,
                        size_t t, double *ids, double *targets)
{
    bp_matrix mi = {rows, t, ids}, mt = {rows, t, targets};

    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < t; j++) {
            ids[r * t + j] = s[starts[r] + j];
            targets[r * t + j] = s[starts[r] + j + 1];
        }
    return bp_node_bind_value(m->ids, &mi) == BP_OK && bp_node_bind_value(m->targets, &mt) == BP_OK;
}

/* Mean loss in nats over the first n characters of the validation stream,
 * in windows of T (eval mode: no dropout); NAN on error. */
static double valid_loss(model *m, const corpus *c, size_t n, const options *o, double *ids,
                         double *targets, size_t *starts)
{
    const size_t t = o->context, windows = (n - 1) / t;
    double sum = 0.0;

    bp_graph_set_training(m->g, 0);
    for (size_t w = 0; w < windows; w += o->batch) {
        const size_t rows = windows - w < o->batch ? windows - w : o->batch;
        for (size_t r = 0; r < rows; r++)
            starts[r] = (w + r) * t;
        if (!bind_windows(m, c->valid, starts, rows, t, ids, targets) ||
            bp_forward(m->g, m->loss) != BP_OK) {
            sum = NAN;
            break;
        }
        sum += bp_node_value(m->loss)->data[0] * (double)(rows * t);
    }
    bp_graph_set_training(m->g, 1);
    return sum / (double)(windows * t);
}

/* n characters drawn after prompt, each from softmax(logits / tau) at the
 * last position of the context (the last T characters; a shorter context
 * is padded after its end, which causal attention never reads). */
static int sample(model *m, const corpus *c, const options *o, bp_rng *rng)
{
    const size_t t = o->context, len = strlen(o->prompt);
    unsigned char *ctx = malloc(len + o->sample);
    double *ids = calloc(t, sizeof *ids), *p = malloc(c->vocab * sizeof *p);
    bp_matrix mi = {1, t, ids};
    size_t n = 0;
    int ok = ctx && ids && p;

    for (size_t i = 0; ok && i < len; i++)   /* main checked them */
        ctx[n++] = (unsigned char)c->id_of[(unsigned char)o->prompt[i]];
    bp_graph_set_training(m->g, 0);
    fputs(o->prompt, stdout);
    for (size_t k = 0; ok && k < o->sample; k++) {
        const size_t used = n < t ? n : t;
        const double *row;
        double max = -INFINITY, total = 0.0, u;
        size_t next = 0;

        for (size_t j = 0; j < t; j++)
            ids[j] = j < used ? ctx[n - used + j] : 0.0;
        ok = bp_node_bind_value(m->ids, &mi) == BP_OK && bp_forward(m->g, m->logits) == BP_OK;
        if (!ok)
            break;
        row = bp_node_value(m->logits)->data + (used - 1) * c->vocab;
        for (size_t v = 0; v < c->vocab; v++)
            max = fmax(max, row[v]);
        for (size_t v = 0; v < c->vocab; v++)
            total += p[v] = exp((row[v] - max) / o->temperature);
        u = bp_rng_uniform(rng) * total;
        while (next + 1 < c->vocab && (u -= p[next]) >= 0.0)
            next++;
        ctx[n++] = (unsigned char)next;
        putchar(c->chars[next]);
    }
    putchar('\n');
    bp_graph_set_training(m->g, 1);
    if (!ok && bp_graph_status(m->g) != BP_OK)
        fprintf(stderr, "transformer: sampling: %s\n", bp_graph_message(m->g));
    free(ctx);
    free(ids);
    free(p);
    return ok;
}

/* ---- the program ---- */

static int parse(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"text", 1, 0, 'x'}, {"steps", 1, 0, 'n'}, {"batch", 1, 0, 'b'},
        {"context", 1, 0, 't'}, {"dim", 1, 0, 'd'}, {"heads", 1, 0, 'h'},
        {"blocks", 1, 0, 'l'}, {"ff", 1, 0, 'f'}, {"dropout", 1, 0, 'p'},
        {"lr", 1, 0, 'r'}, {"warmup", 1, 0, 'w'}, {"seed", 1, 0, 's'},
        {"threads", 1, 0, 'j'}, {"eval-every", 1, 0, 'e'}, {"save", 1, 0, 'o'},
        {"log", 1, 0, 'g'}, {"prompt", 1, 0, 'q'}, {"sample", 1, 0, 'k'},
        {"temperature", 1, 0, 'u'}, {0, 0, 0, 0}};
    int c;

    *o = (options){.text = "/usr/share/games/fortunes", .save = "transformer.params",
                   .prompt = "The ", .steps = 2000, .batch = 16, .context = 64, .dim = 64,
                   .heads = 4, .blocks = 2, .ff = 0, .warmup = 100, .eval_every = 100,
                   .sample = 300, .threads = 1, .dropout = 0.1, .lr = 3e-3,
                   .temperature = 0.8, .seed = 1};
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end = NULL;
        const unsigned long long v = optarg ? strtoull(optarg, &end, 10) : 0;
        const double x = optarg ? strtod(optarg, NULL) : 0.0;
        const int integer = end && end != optarg && *end == '\0';

        switch (c) {
        case 'x': o->text = optarg; break;
        case 'o': o->save = optarg; break;
        case 'g': o->log = optarg; break;
        case 'q': o->prompt = optarg; break;
        case 'p': o->dropout = x; break;
        case 'r': o->lr = x; break;
        case 'u': o->temperature = x; break;
        case 's': o->seed = v; break;
        case '?': return 0;
        default: {
            size_t *field = c == 'n' ? &o->steps : c == 'b' ? &o->batch : c == 't' ? &o->context
                          : c == 'd' ? &o->dim : c == 'h' ? &o->heads : c == 'l' ? &o->blocks
                          : c == 'f' ? &o->ff : c == 'w' ? &o->warmup : c == 'j' ? &o->threads
                          : c == 'e' ? &o->eval_every : &o->sample;
            if (!integer) {
                const struct option *l = longs;
                while (l->val != c)
                    l++;
                fprintf(stderr, "transformer: --%s takes a whole number, not '%s'\n", l->name,
                        optarg);
                return 0;
            }
            *field = (size_t)v;
        }
        }
    }
    if (o->ff == 0)
        o->ff = 4 * o->dim;
    if (optind < argc || o->steps == 0 || o->batch == 0 || o->context == 0 ||
        o->blocks == 0 || o->blocks > MAX_BLOCKS || o->threads == 0 || o->eval_every == 0 ||
        !(o->dropout >= 0.0 && o->dropout < 1.0) || !(o->lr > 0.0) ||
        !(o->temperature > 0.0) || o->prompt[0] == '\0') {
        fprintf(stderr, "transformer: bad arguments (see the comment at the top of "
                        "examples/transformer.c); blocks 1..%d\n", MAX_BLOCKS);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    options o;
    corpus c = {0};
    model m = {0}, fresh = {0};
    bp_optimizer *opt = NULL;
    bp_optim_config cfg = bp_optim_defaults(BP_OPTIM_ADAMW);
    unsigned char *text = NULL;
    size_t n_text = 0, *starts = NULL, eval_chars;
    double *ids = NULL, *targets = NULL, uniform, bigram, loss = NAN, reloaded = NAN;
    double train_sum = 0.0, t0;
    FILE *log_file = NULL;
    bp_error err;
    bp_rng rng;
    int ok = 0;

    if (!parse(argc, argv, &o))
        return 2;
    openblas_set_num_threads((int)o.threads);
    if (!(text = read_text(o.text, &n_text, &c.n_files)) || !make_corpus(text, n_text, &c)) {
        fprintf(stderr, "transformer: cannot use the text at %s\n", o.text);
        goto done;
    }
    for (const char *p = o.prompt; *p; p++)
        if (c.id_of[(unsigned char)*p] < 0) {
            fprintf(stderr, "transformer: the prompt's byte 0x%02x is not in the text's "
                            "vocabulary\n", (unsigned char)*p);
            goto done;
        }
    printf("text: %s, %zu file%s, %zu characters, vocabulary %zu\n", o.text, c.n_files,
           c.n_files == 1 ? "" : "s", n_text, c.vocab);
    printf("split: %zu fortunes, every tenth for validation: %zu training, %zu validation "
           "characters\n", c.n_fortunes, c.n_train, c.n_valid);
    if (c.n_train <= o.context + 1 || c.n_valid <= o.context + 1) {
        fprintf(stderr, "transformer: a split is shorter than the context (%zu)\n", o.context);
        goto done;
    }
    /* the validation characters the model is scored on: whole windows */
    eval_chars = (c.n_valid - 1) / o.context * o.context + 1;
    uniform = log((double)c.vocab);
    bigram = bigram_loss(&c, eval_chars);
    printf("baselines on %zu validation characters: uniform %.4f nats (%.4f bits), "
           "bigram %.4f nats (%.4f bits)\n", eval_chars - 1, uniform, uniform / log(2.0), bigram,
           bigram / log(2.0));

    if (!build(&m, &o, c.vocab, o.seed))
        goto done;
    printf("model: %zu blocks, %zu heads, d_model %zu, d_ff %zu, context %zu, dropout %g: "
           "%zu params\n", o.blocks, o.heads, o.dim, o.ff, o.context, o.dropout,
           param_count(m.g));
    cfg.lr = o.lr;
    cfg.warmup_steps = o.warmup < o.steps ? o.warmup : o.steps - 1;
    cfg.decay = BP_LR_COSINE;
    cfg.decay_steps = o.steps;
    cfg.min_lr = o.lr / 10.0;
    cfg.clip_norm = 1.0;
    if (cfg.warmup_steps >= cfg.decay_steps)
        cfg.decay = BP_LR_CONSTANT;
    ids = malloc(o.batch * o.context * sizeof *ids);
    targets = malloc(o.batch * o.context * sizeof *targets);
    starts = malloc(o.batch * sizeof *starts);
    if (!ids || !targets || !starts || bp_optimizer_new(m.g, NULL, 0, &cfg, &opt) != BP_OK) {
        fprintf(stderr, "transformer: %s\n", ids && targets && starts ? bp_graph_message(m.g)
                                                                       : "out of memory");
        goto done;
    }
    if (o.log && !(log_file = fopen(o.log, "w"))) {
        perror(o.log);
        goto done;
    }
    if (log_file)
        fprintf(log_file, "# step train_loss valid_loss lr\n");

    bp_rng_seed(&rng, o.seed + 2);   /* the training windows */
    t0 = now_s();
    for (size_t step = 1; step <= o.steps; step++) {
        for (size_t r = 0; r < o.batch; r++)
            starts[r] = bp_rng_below(&rng, c.n_train - o.context);
        if (!bind_windows(&m, c.train, starts, o.batch, o.context, ids, targets) ||
            bp_forward(m.g, m.loss) != BP_OK)
            break;
        train_sum += bp_node_value(m.loss)->data[0];
        bp_zero_grad(m.g);
        if (bp_backward(m.g, m.loss, NULL) != BP_OK || bp_optimizer_step(opt) != BP_OK)
            break;
        if (step % o.eval_every == 0 || step == o.steps) {
            const size_t since = step % o.eval_every ? step % o.eval_every : o.eval_every;
            const double elapsed = now_s() - t0;
            /* a quick look: the first 64 windows of the validation split */
            const size_t quick = eval_chars < 64 * o.context + 1 ? eval_chars : 64 * o.context + 1;
            const double v = valid_loss(&m, &c, quick, &o, ids, targets, starts);

            printf("step %5zu  lr %.2e  train %.4f  valid (first %zu chars) %.4f nats  "
                   "%.1f ms/step\n", step, bp_optim_lr(&cfg, step), train_sum / (double)since,
                   quick - 1, v, 1e3 * elapsed / (double)step);
            if (log_file)
                fprintf(log_file, "%zu %.6f %.6f %.6e\n", step, train_sum / (double)since, v,
                        bp_optim_lr(&cfg, step));
            fflush(stdout);   /* progress shows through a pipe too */
            train_sum = 0.0;
        }
    }
    if (bp_graph_status(m.g) != BP_OK) {
        fprintf(stderr, "transformer: training: %s\n", bp_graph_message(m.g));
        goto done;
    }

    loss = valid_loss(&m, &c, eval_chars, &o, ids, targets, starts);
    printf("validation loss per character (%zu characters): transformer %.4f nats "
           "(%.4f bits), bigram %.4f nats (%.4f bits): %.1f%% %s the bigram\n",
           eval_chars - 1, loss, loss / log(2.0), bigram, bigram / log(2.0),
           100.0 * fabs(bigram - loss) / bigram, loss < bigram ? "below" : "above");

    /* save, then load into a graph built afresh from another seed */
    if (bp_params_save(m.g, o.save, &err) != BP_OK || !build(&fresh, &o, c.vocab, o.seed + 7) ||
        bp_params_load(fresh.g, o.save, &err) != BP_OK) {
        fprintf(stderr, "transformer: %s\n", fresh.g && bp_graph_status(fresh.g) == BP_OK
                                                 ? err.message : "saving or reloading failed");
        goto done;
    }
    reloaded = valid_loss(&fresh, &c, eval_chars, &o, ids, targets, starts);
    printf("saved to %s and reloaded into a fresh graph: validation %.4f nats (%s)\n", o.save,
           reloaded, reloaded == loss ? "identical" : "DIFFERENT");

    bp_rng_seed(&rng, o.seed + 3);
    printf("sample (temperature %g):\n", o.temperature);
    ok = sample(&fresh, &c, &o, &rng) && reloaded == loss && isfinite(loss);
done:
    if (log_file)
        fclose(log_file);
    bp_optimizer_free(opt);
    bp_graph_free(m.g);
    bp_graph_free(fresh.g);
    free(ids);
    free(targets);
    free(starts);
    free(text);
    free(c.train);
    free(c.valid);
    return ok ? 0 : 1;
}
