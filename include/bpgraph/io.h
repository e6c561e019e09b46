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

/*
 * A params file holds every bp_param of a graph, in creation order.  All
 * integers and doubles are little-endian:
 *
 *   offset  size  field
 *   0       8     magic "BPPARAMS"
 *   8       4     u32 format version, 1
 *   12      4     u32 count: number of params
 *   16      ...   count records, each:
 *                   u32 name length L (bytes, no terminator; 0: unnamed)
 *                   L   name bytes
 *                   u64 rows, u64 cols
 *                   rows*cols IEEE-754 binary64, row-major
 *   end-8   8     u64 FNV-1a/64 of every byte before it (header and records)
 *
 * bp_params_save writes a temporary file in the same directory, fsyncs it
 * and renames it over path, so a crash or error never leaves a partial file
 * at path nor destroys the previous one; an existing file's permission bits
 * are kept, a new file gets 0666 less the umask (as bp_npy_save).  The
 * temporary is named .NAME.tmp-PID-XXXXXX, NAME being path's file name cut
 * short to keep the whole within NAME_MAX, PID the saving process's: a
 * save killed before its rename leaves it behind, and the next save of
 * the same path removes every such file whose process has ended (and no
 * other file).  Errors: BP_EIO naming the file; BP_ENOMEM.
 *
 * bp_params_load checks the magic and version from the first 16 bytes
 * before reading further (a file of zero bytes, or /dev/zero, is refused at
 * once), and reads no more than the graph's params take (a longer file is
 * refused, naming the first param that differs from the graph's when it
 * can); then it checks the whole file — truncation, checksum, then
 * that the count, every name and every shape match the graph's params —
 * BEFORE changing any param, so on error the graph is unchanged.  Errors
 * name the file and byte offset: BP_EIO (cannot open or read), BP_EPARSE
 * (bad magic, version, truncation, a record with a 0 dimension, a name
 * with a NUL byte, trailing bytes, checksum), BP_EDIM (a shape or count
 * differs from the graph's), BP_ENOTFOUND (a name differs), BP_ENOMEM.
 * Success clears err.
 */
bp_status bp_params_save(bp_graph *g, const char *path, bp_error *err);
bp_status bp_params_load(bp_graph *g, const char *path, bp_error *err);

/* ------------------------------------------------------------------------ */
/* Pictures: Graphviz DOT and derivative chains                              */
/* ------------------------------------------------------------------------ */

/* Writes the graph as Graphviz DOT to f: every node that out depends on
 * (out NULL: the whole graph), labelled with its name, its op (or input,
 * param, constant) and its current shape.
 *  - forward (backward 0): edges input → op, labelled with the shape of
 *    the value that flows along them;
 *  - backward (backward 1): only the edges a gradient flows through,
 *    reversed (op → input), labelled d(input) and its shape, as the
 *    lesson's generate_graph(backward=True); nodes without a gradient are
 *    grey.
 * Render with: dot -Tpng graph.dot -o graph.png.  BP_EINVAL for a NULL or
 * foreign node; BP_EIO when writing fails. */
bp_status bp_dot_write(bp_graph *g, bp_node *out, int backward, FILE *f,
                       bp_error *err);
/* The same into a new file at path (overwritten). */
bp_status bp_dot_save(bp_graph *g, bp_node *out, int backward,
                      const char *path, bp_error *err);

typedef enum bp_chain_format {
    BP_CHAIN_TEXT = 0,  /* dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1 */
    BP_CHAIN_LATEX      /* \frac{\partial L}{\partial W_{1}} = ... \cdot ... */
} bp_chain_format;

/* The chain rule written out for node wrt (usually a param): the sum over
 * every path from loss down to wrt, through edges that carry a gradient, of
 * the product of the partial derivatives along it, e.g. for the lesson's
 * network  dL/dW1 = dL/dZ2 * dZ2/dA1 * dA1/dZ1 * dZ1/dW1.  Nodes are
 * written by name, or "n<index>" when unnamed (name them with
 * bp_node_set_name for a readable chain); LaTeX turns trailing digits into
 * subscripts.  No path gives "dL/dW = 0".  One line, no newline.
 *
 * bp_grad_chain writes into buf like snprintf: at most size bytes with a
 * terminating NUL, and *needed (may be NULL) receives the full length
 * without the NUL; BP_OK even when truncated.  bp_grad_chain_write writes
 * to f.  BP_EINVAL for NULL or foreign nodes or an unknown format;
 * BP_ENOMEM; BP_EIO. */
bp_status bp_grad_chain(bp_graph *g, bp_node *loss, bp_node *wrt,
                        bp_chain_format format, char *buf, size_t size,
                        size_t *needed, bp_error *err);
bp_status bp_grad_chain_write(bp_graph *g, bp_node *loss, bp_node *wrt,
                              bp_chain_format format, FILE *f, bp_error *err);

/* ------------------------------------------------------------------------ */
/* Data files                                                                */
/* ------------------------------------------------------------------------ */

/* Reads the named columns of a CSV file into a new matrix (*out, new: free
 * with bp_matrix_free) of one row per data row and n_columns columns, in
 * the order of columns.
 *  - The first line is a header; columns are picked by exact name (the
 *    first header field of that name).  A name may be requested twice.
 *    Other columns, such as a leading date index with an empty name, are
 *    skipped and their contents are not parsed.
 *  - Every row must have as many fields as the header.  A picked cell is a
 *    number as strtod reads it (in the C locale), with optional spaces
 *    around it.  An empty cell (only spaces, or "") is forward-filled from
 *    the row above, as pandas' ffill does; *n_filled (may be NULL) receives
 *    how many cells were filled, counting a column requested twice twice.
 *  - LF and CRLF line ends, a UTF-8 byte order mark, double-quoted fields
 *    (with "" for a quote, and line ends inside quotes), lines of any
 *    length, a missing final line end and trailing blank lines are
 *    accepted; lone CR line ends are not (an error naming the offset).
 *  - The file is streamed, one record at a time, and refused at the first
 *    byte that cannot belong to a CSV table (a NUL byte, a lone CR): a
 *    large file of zero bytes, or /dev/zero, fails at once.  Requested
 *    names are looked up in the sorted header (n log n for n columns).
 * err (may be NULL) receives the status and a message naming the file,
 * line and column, e.g. "data.csv:17: column 'rain': not a number: "abc"".
 * Errors: BP_EINVAL (path, columns, a columns[i] or out NULL, or n_columns
 * 0); BP_EIO (the file cannot be opened or read); BP_EPARSE (an empty
 * file, a header with no data rows, a row with the wrong number of fields,
 * a non-numeric or out-of-range cell, an empty cell in the first data row,
 * a blank line between rows, a NUL byte, a lone CR, an unterminated quote
 * or text after a closing quote); BP_ENOTFOUND (a column not in the header);
 * BP_ENOMEM.  On error *out is NULL and *n_filled is 0. */
bp_status bp_csv_read(const char *path, const char *const *columns,
                      size_t n_columns, bp_matrix **out, size_t *n_filled,
                      bp_error *err);

/* Loads a numpy .npy file (format 1.0, 2.0 or 3.0) into a new matrix (*out,
 * new: free with bp_matrix_free).
 *  - Shapes: () loads as 1x1, a 1-D array (n,) as a 1 x n ROW vector,
 *    (m, n) as m x n.  More dimensions are refused.
 *  - dtypes: f8 is read directly; f4, i1, i2, i4, i8, u1, u2, u4, u8 and b1
 *    are converted to double (64-bit integers beyond 2^53 are rounded).
 *    Little-endian ('<', '|', '=') and big-endian ('>') data are read.
 *  - fortran_order True is converted to row-major.
 *  - The file must end where the data ends.
 * err (may be NULL) receives the status and a message naming the file and
 * the byte offset of the problem.  Errors: BP_EINVAL (path or out NULL, or a
 * big-endian host); BP_EIO (cannot open or read); BP_EPARSE (bad magic, an
 * unknown version, a truncated header or data, a header that is not a dict
 * with exactly descr, fortran_order and shape, another dtype such as complex,
 * object or structured, more than 2 dimensions, bytes after the data);
 * BP_ENOMEM.  On error *out is NULL. */
bp_status bp_npy_load(const char *path, bp_matrix **out, bp_error *err);

/* Saves m as a .npy 1.0 file: dtype '<f8', fortran_order False, shape
 * (rows, cols) (always 2-D, so a 1 x n matrix loads back as 1 x n), the
 * header padded with spaces and ended by '\n' so the data starts at a
 * multiple of 64 bytes.  It writes a temporary file in the same directory
 * (as bp_params_save, below), flushes and fsyncs it, then renames it over
 * path, so a failure never
 * damages an existing file; an existing file's permission bits are kept,
 * a new file gets 0666 less the umask.  m is borrowed.  Errors, with err
 * (may be NULL) naming the file: BP_EINVAL (path or m NULL, m->data NULL
 * with m not empty, rows * cols * 8 overflowing size_t, or a big-endian
 * host); BP_EIO (the temporary file
 * cannot be created, written, synced or renamed: it is removed); BP_ENOMEM. */
bp_status bp_npy_save(const char *path, const bp_matrix *m, bp_error *err);

#ifdef __cplusplus
}
#endif

#endif /* BPGRAPH_IO_H */
