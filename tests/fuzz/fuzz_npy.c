/* SPDX-License-Identifier: MIT */
/* libFuzzer target: bp_npy_load_shape on arbitrary bytes.  On success the
 * matrix must be readable in full and be the matrix view of a shape of
 * rank 1 to 4; on error *out is NULL and err names the problem.  A loaded
 * matrix is saved under its shape and loaded back, which must give the
 * same shape and bits. */
#include "bpgraph.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bp_matrix *m = (bp_matrix *)&m, *back = NULL;
    bp_shape shape, back_shape;
    size_t rows = 1;
    bp_error err;
    bp_status st;
    const char *path = fuzz_write_file(data, size);

    st = bp_npy_load_shape(path, &m, &shape, &err);
    if (st != BP_OK) {
        if (m || err.status != st || !err.message[0])
            abort();
        return 0;
    }
    if (!m || (m->rows && m->cols && !m->data) || shape.rank < 1 ||
        shape.rank > BP_MAX_RANK)
        abort();
    for (size_t d = 0; d + 1 < shape.rank; d++)
        rows *= shape.dim[d];
    if (rows != m->rows || shape.dim[shape.rank - 1] != m->cols)
        abort();
    if (bp_npy_save_shape(path, m, &shape, &err) != BP_OK ||
        bp_npy_load_shape(path, &back, &back_shape, &err) != BP_OK ||
        back_shape.rank != shape.rank ||
        memcmp(back_shape.dim, shape.dim, shape.rank * sizeof shape.dim[0]) ||
        back->rows != m->rows || back->cols != m->cols ||
        (m->rows && m->cols &&
         memcmp(back->data, m->data, m->rows * m->cols * sizeof(double)) != 0))
        abort();
    bp_matrix_free(back);
    bp_matrix_free(m);
    return 0;
}
