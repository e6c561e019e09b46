/* SPDX-License-Identifier: MIT */
/* libFuzzer target: bp_csv_read, bp_csv_header and bp_csv_read_text on
 * arbitrary bytes.  The first byte picks which columns to ask for; the rest
 * is the file.  Any status is fine; a crash, leak or sanitizer report is
 * not, and neither is a result that breaks the documented contract (the
 * text readers agree with bp_csv_read on the rows it read). */
#include "bpgraph.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

static const char *const col_a[] = {"a"};
static const char *const col_ab[] = {"a", "b"};
static const char *const col_bab[] = {"b", "a", "b"};
static const char *const col_empty[] = {""};
static const char *const col_quoted[] = {"x y", "c\"d"};

static const struct {
    const char *const *names;
    size_t n;
} sets[] = {{col_a, 1}, {col_ab, 2}, {col_bab, 3}, {col_empty, 1}, {col_quoted, 2}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_matrix *m = NULL;
    size_t filled = 99, pick;
    bp_error err;
    bp_status st;
    const char *path;

    if (size < 1)
        return 0;
    pick = data[0] % (sizeof sets / sizeof sets[0]);
    path = fuzz_write_file(data + 1, size - 1);
    st = bp_csv_read(path, sets[pick].names, sets[pick].n, &m, &filled, &err);
    if (st == BP_OK) {
        if (!m || m->cols != sets[pick].n || m->rows == 0 || !m->data || err.status != BP_OK)
            abort();
        /* every cell readable (ASan checks the bounds) */
        volatile double sum = 0;
        for (size_t k = 0; k < m->rows * m->cols; k++)
            sum += m->data[k];
        (void)sum;
    } else if (m || filled != 0 || err.status != st || !err.message[0] ||
               (unsigned)st >= BP_STATUS_COUNT) {
        abort();
    }
    {
        char **names = (char **)&names, **cells = (char **)&cells;
        size_t n = 99, rows = 99;
        bp_status sh = bp_csv_header(path, &names, &n, NULL);
        bp_status sc = bp_csv_read_text(path, sets[pick].names[0], &cells, &rows, &err);

        if (sh == BP_OK ? !names || n == 0 || names[n] : names || n != 0)
            abort();
        if (sc == BP_OK ? !cells || rows == 0 || cells[rows] || err.status != BP_OK
                        : cells || rows != 0 || err.status != sc || !err.message[0])
            abort();
        /* bp_csv_read's rows are the text reader's, and so is its header */
        if (st == BP_OK && (sc != BP_OK || rows != m->rows || sh != BP_OK))
            abort();
        for (size_t i = 0; sh == BP_OK && i < n; i++)
            (void)strlen(names[i]);
        for (size_t i = 0; sc == BP_OK && i < rows; i++)
            (void)strlen(cells[i]);
        bp_csv_strings_free(names);
        bp_csv_strings_free(cells);
    }
    bp_matrix_free(m);
    return 0;
}
