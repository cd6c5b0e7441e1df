/* store: durable results. One small HDF5 file per finished point, written to
 * a temporary name, fsync'd and renamed, so a killed run never leaves a
 * half-written record; merge consolidates records and run provenance into
 * results.h5; collective parallel-HDF5 writes of block-cyclic matrices. */
#ifndef HK_STORE_H
#define HK_STORE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "hk/result.h"

/* Call once per process before any other store function: silences HDF5's
 * own error stack printing; we report errors ourselves. */
void hk_store_init(void);

/* DIR/points/<id_hex>.h5 with info (root attributes), params and the result. */
int hk_store_write_point(const char *dir, const char *id_hex, const struct hk_attrs *info,
                         const struct hk_attrs *params, const struct hk_result *r);
/* Ids of the finished points in DIR (count, or -1 with a message). */
int hk_store_finished_ids(const char *dir, uint64_t **ids);
/* DIR/runs/<run_id>.h5 holding one run's provenance. */
int hk_store_write_run(const char *dir, const char *run_id, const struct hk_attrs *provenance);
/* Merges the points and runs of every DIR into out_path (atomic replace).
 * Returns the number of rows, or -1 with a message. */
int hk_store_merge(int ndirs, char *const *dirs, const char *out_path, int verbose);
/* The reverse: writes the point records (DIR/points) and runs (DIR/runs) of
 * a merged results file, so that a sweep kept only as results.h5 can be
 * resumed or merged with more points. Writes nothing if any point is already
 * in DIR. Returns the number of records, or -1 with a message. */
int hk_store_split(const char *results_path, const char *dir, int verbose);

/* A small file of root attributes and arrays, written whole and durably. */
int hk_store_write_arrays(const char *path, const struct hk_attrs *attrs, const struct hk_array *arrays, int narrays);

/* A file written collectively by every rank of comm. */
struct hk_pfile;
struct hk_pfile *hk_pfile_create(MPI_Comm comm, const char *path);
/* The dataset holds the m x n matrix A of ScaLAPACK descriptor desc with
 * file[i][j] = A(i, j); local is this rank's block-cyclic part (column-major,
 * leading dimension desc[8]). Collective over the file's communicator. */
int hk_pfile_write_blockcyclic(struct hk_pfile *f, const char *name, const int *desc, const double *local);
/* A dataset of up to 3 dimensions whose values every rank holds (small:
 * predictions, not Gram matrices), written collectively (rank 0's values). */
int hk_pfile_write_replicated(struct hk_pfile *f, const char *name, int rank, const long *dims, const double *data);
int hk_pfile_attr_text(struct hk_pfile *f, const char *name, const char *text);
int hk_pfile_attr_num(struct hk_pfile *f, const char *name, double value);
/* Closes and renames into place; on error removes the temporary file. */
int hk_pfile_commit(struct hk_pfile *f);
void hk_pfile_abort(struct hk_pfile *f);

/* The HDF5 library's version, for provenance. */
void hk_store_library_version(char *buf, size_t n);

/* Prints a readable summary of a results file, point record, run provenance
 * or kernel file: datasets, shapes, ranges, symmetry, runs, point counts.
 * 0, or -1 with a message when it is not a readable HDF5 file. */
int hk_store_inspect(const char *path);

/* Reads a whole rows x cols matrix (rank 2, numeric, at least 1 x 1) as
 * doubles, row-major. The shape is checked before anything is allocated:
 * against int range and against half the memory this process may use. On an
 * error *data is NULL (nothing to free) and the message names the file, the
 * dataset and what is wrong. Serial: for inputs of the CLI and tests. */
int hk_h5_read_matrix(const char *path, const char *name, double **data, long *rows, long *cols);
/* The same, also taking a vector (rank 1) as one column. */
int hk_h5_read_columns(const char *path, const char *name, double **data, long *rows, long *cols);

#endif
