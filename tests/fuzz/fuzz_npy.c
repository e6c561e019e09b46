/* SPDX-License-Identifier: MIT */
/* libFuzzer target: bp_npy_load on arbitrary bytes.  On success the matrix
 * must be readable in full; on error *out is NULL and err names the
 * problem.  A loaded matrix is saved and loaded back, which must give the
 * same bits. */
#include "bpgraph.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_matrix *m = (bp_matrix *)&m, *back = NULL;
    bp_error err;
    bp_status st;
    const char *path = fuzz_write_file(data, size);

    st = bp_npy_load(path, &m, &err);
    if (st != BP_OK) {
        if (m || err.status != st || !err.message[0])
            abort();
        return 0;
    }
    if (!m || (m->rows && m->cols && !m->data))
        abort();
    if (bp_npy_save(path, m, &err) != BP_OK || bp_npy_load(path, &back, &err) != BP_OK ||
        back->rows != m->rows || back->cols != m->cols ||
        (m->rows && m->cols &&
         memcmp(back->data, m->data, m->rows * m->cols * sizeof(double)) != 0))
        abort();
    bp_matrix_free(back);
    bp_matrix_free(m);
    return 0;
}
