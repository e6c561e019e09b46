/* SPDX-License-Identifier: MIT */
/* bpgraph: Files: parameters, pictures, data.  Part of <bpgraph.h>; include that. */
#ifndef BPGRAPH_IO_H
#define BPGRAPH_IO_H

#include "graph.h"
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Saving and loading parameters                                             */
/* ------------------------------------------------------------------------ */

/* A params file holds every bp_param of g, in creation order, with names,
 * full shapes (rank and dims), little-endian doubles and a checksum
 * (layout: docs/formats.md).  Files of the previous format version, which
 * held rows and cols, load as well.
 * Both functions, and the picture functions below, report a failure
 * through err (may be NULL) and record it in g as well.
 *
 * bp_params_save writes path atomically (a temporary file beside it,
 * fsynced and renamed over it), so an error never leaves a partial file at
 * path nor destroys the previous one.  A save killed before its rename
 * leaves a hidden temporary beside path, which the next save of path
 * removes.  Errors: BP_EINVAL (g NULL, path NULL or empty, more than
 * 2^32 - 1 params); BP_EIO naming the file; BP_ENOMEM.
 *
 * bp_params_load checks the magic and version first and reads no more
 * than g's params take, then checks the whole file against g's params
 * before changing any, so on error every param is as it was.  Errors name
 * the file and byte offset: BP_EINVAL (g NULL, path NULL or empty); BP_EIO
 * (cannot open or read); BP_EPARSE (a malformed, truncated or corrupted
 * file); BP_EDIM (a shape or the count differs from g's); BP_ENOTFOUND (a
 * name differs); BP_ENOMEM.
 * Success clears err. */
BP_WARN_UNUSED
bp_status bp_params_save(bp_graph *g, const char *path, bp_error *err);
BP_WARN_UNUSED
bp_status bp_params_load(bp_graph *g, const char *path, bp_error *err);

/* ------------------------------------------------------------------------ */
/* Pictures: Graphviz DOT and derivative chains                              */
/* ------------------------------------------------------------------------ */

/* Writes the graph as Graphviz DOT to f (borrowed; not closed): every node
 * that out depends on (out NULL: the whole graph) with its name, op and
 * current shape, and with backward 0 the edges values flow along, with
 * backward 1 the reversed edges gradients flow along (docs/formats.md).
 * Errors: BP_EINVAL for a NULL graph or FILE or a foreign node; BP_EIO
 * when writing fails. */
BP_WARN_UNUSED
bp_status bp_dot_write(bp_graph *g, bp_node *out, int backward, FILE *f,
                       bp_error *err);
/* The same into a file at path, created or overwritten.  BP_EINVAL for a
 * NULL path; BP_EIO naming the file when it cannot be opened or written. */
BP_WARN_UNUSED
bp_status bp_dot_save(bp_graph *g, bp_node *out, int backward,
                      const char *path, bp_error *err);

typedef enum bp_chain_format {
    BP_CHAIN_TEXT = 0,  /* dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1 */
    BP_CHAIN_LATEX      /* \frac{\partial L}{\partial W_{1}} = ... \cdot ... */
} bp_chain_format;

/* The chain rule written out for node wrt (usually a param): the sum over
 * every path from loss down to wrt, through edges that carry a gradient, of
 * the products of partial derivatives along it, e.g. for the lesson's
 * network  dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1  (docs/formats.md).
 * Nodes are written by name, or "n<index>" when unnamed.  One line, no
 * newline.
 *
 * bp_grad_chain writes into buf like snprintf: at most size bytes with a
 * terminating NUL, and *needed (may be NULL) receives the full length
 * without the NUL; BP_OK even when truncated.  bp_grad_chain_write writes
 * to f (borrowed).  BP_EINVAL for NULL or foreign nodes, a NULL FILE or an
 * unknown format; BP_ENOMEM; BP_EIO when writing to f fails. */
BP_WARN_UNUSED
bp_status bp_grad_chain(bp_graph *g, bp_node *loss, bp_node *wrt,
                        bp_chain_format format, char *buf, size_t size,
                        size_t *needed, bp_error *err);
BP_WARN_UNUSED
bp_status bp_grad_chain_write(bp_graph *g, bp_node *loss, bp_node *wrt,
                              bp_chain_format format, FILE *f, bp_error *err);

/* ------------------------------------------------------------------------ */
/* Data files                                                                */
/* ------------------------------------------------------------------------ */

/* Reads the named columns of a CSV file into a new matrix (*out, new: free
 * with bp_matrix_free) of one row per data row and n_columns columns, in
 * the order of columns.  The first line is a header; columns are picked by
 * exact name, and a name may be requested twice; other columns are not
 * parsed (a date index may hold anything).  Cells are numbers in the
 * C locale; an empty cell is forward-filled from the row above (pandas'
 * ffill), and *n_filled (may be NULL) receives how many were.  The file is
 * streamed, and refused at the first byte that cannot belong to a CSV
 * table.  Quoting, line ends and what is refused: docs/formats.md.
 * err (may be NULL) receives the status and a message naming the file,
 * line and column, e.g. "data.csv:17: column 'rain': not a number: "abc"".
 * Errors: BP_EINVAL (path, columns, a columns[i] or out NULL, or n_columns
 * 0); BP_EIO (the file cannot be opened or read); BP_EPARSE (a malformed
 * file: no header or data rows, a row with the wrong number of fields, a
 * cell that is not a number, an empty cell in the first data row, a NUL
 * byte or lone CR, ...); BP_ENOTFOUND (a column not in the header);
 * BP_ENOMEM.  On error *out is NULL and *n_filled is 0. */
BP_WARN_UNUSED
bp_status bp_csv_read(const char *path, const char *const *columns,
                      size_t n_columns, bp_matrix **out, size_t *n_filled,
                      bp_error *err);

/* The header's field names, in file order, and one column's cells as text,
 * for tables whose columns are not known in advance or hold labels.  The
 * file is read by the rules of bp_csv_read (header, quotes, line ends,
 * field counts, blank lines); cells are returned as written, unquoted, and
 * an empty cell stays "" (no forward fill).
 *  - bp_csv_header: *names receives *n strings;
 *  - bp_csv_read_text: *cells receives *n_rows strings, one per data row,
 *    of the first header field named column.
 * The strings come as one new NULL-terminated array (free it, strings and
 * all, with bp_csv_strings_free).  err (may be NULL) as bp_csv_read.
 * Errors: BP_EINVAL (a NULL argument); BP_EIO; BP_EPARSE (as bp_csv_read,
 * bar the checks on numbers); BP_ENOTFOUND (no such column); BP_ENOMEM.  On
 * error the outputs are NULL and 0. */
bp_status bp_csv_header(const char *path, char ***names, size_t *n,
                        bp_error *err);
bp_status bp_csv_read_text(const char *path, const char *column,
                           char ***cells, size_t *n_rows, bp_error *err);
void bp_csv_strings_free(char **strings);

/* Loads a numpy .npy file (format 1.0, 2.0 or 3.0) of rank 0 to 4 into a
 * new matrix (*out, new: free with bp_matrix_free): the matrix view of its
 * shape (docs/formats.md).  () loads as 1x1, a 1-D array (n,) as a 1 x n
 * ROW vector, (m, n) as m x n, (a, b, c) as (a*b) x c, (a, b, c, d) as
 * (a*b*c) x d; more dimensions are refused.  f8 is read directly; other
 * float, integer and bool dtypes of either byte order are converted to
 * double (docs/formats.md lists them); fortran_order data is converted to
 * row-major.
 * err (may be NULL) receives the status and a message naming the file and
 * the byte offset of the problem.  Errors: BP_EINVAL (path or out NULL, or a
 * big-endian host); BP_EIO (cannot open or read); BP_EPARSE (a malformed or
 * truncated file, an unsupported dtype such as complex, more than 4
 * dimensions, bytes after the data); BP_ENOMEM.  On error *out is NULL. */
BP_WARN_UNUSED
bp_status bp_npy_load(const char *path, bp_matrix **out, bp_error *err);
/* The same, and *shape receives the file's shape: rank 1 to 4 as written,
 * () as (1,).  *out is its matrix view, so that bp_input_nd or bp_param_nd
 * of that shape take it.  BP_EINVAL as well for a NULL shape.  On error
 * *out is NULL and *shape untouched. */
BP_WARN_UNUSED
bp_status bp_npy_load_shape(const char *path, bp_matrix **out,
                            bp_shape *shape, bp_error *err);

/* Saves m (borrowed) as a .npy 1.0 file of dtype '<f8' and shape
 * (rows, cols), always 2-D, so a 1 x n matrix loads back as 1 x n
 * (docs/formats.md).  The file is replaced atomically, as by
 * bp_params_save (above), so a failure never damages an existing file.
 * Errors, with err (may be NULL) naming the file: BP_EINVAL (path or m
 * NULL, m->data NULL with m not empty, rows * cols * 8 overflowing size_t,
 * or a big-endian host); BP_EIO (the temporary file cannot be created,
 * written, synced or renamed: it is removed); BP_ENOMEM. */
BP_WARN_UNUSED
bp_status bp_npy_save(const char *path, const bp_matrix *m, bp_error *err);
/* The same with the file's shape given: m must be shape's matrix view
 * (e.g. a node's value and bp_node_shape), and the file is of shape's rank
 * 1 to 4, so numpy reads it as that tensor.  BP_EINVAL as well for a NULL
 * shape, a rank outside 1..4, or m not shape's matrix view (the message
 * names both). */
BP_WARN_UNUSED
bp_status bp_npy_save_shape(const char *path, const bp_matrix *m,
                            const bp_shape *shape, bp_error *err);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_IO_H */
