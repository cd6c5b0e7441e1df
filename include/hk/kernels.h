/* kernels: the analytic kernels of docs/hyperkernel-math.md as compositions
 * of small per-layer maps, and their evaluation on any set of (row, column)
 * points. Evaluation works tile by tile, so no temporary grows with N. */
#ifndef HK_KERNELS_H
#define HK_KERNELS_H

#define HK_MAX_DEPTH 64

/* The kernel table: one row per kernel, and everything else (the enum, the
 * names configs and files use, the choices each kind accepts, plan's costs
 * and workspace, the CLI usage, the analysis' list through the provenance)
 * derives from it. A row:
 *   X(ID, name, use, needs, c0, c_dz, c_f, c_g, column, label)
 *   use:    POINT, a kernel between points u = (x, z) that the regression
 *           kinds can fit with, or XONLY, a kernel of x alone (of f);
 *   needs:  what its evaluation needs per tile besides x.x': HK_NEEDS_F (the
 *           f recursion per pair of distinct x), HK_NEEDS_Z (z.z' per pair of
 *           points);
 *   c0..c_g: flops per entry = c0 + c_dz dz + c_f L + c_g (H - 1), an arccos
 *           with its sin and sqrt counted as about 40;
 *   column: the static function of kernels.c that fills one column of a tile
 *           (its maths: docs/hyperkernel-math.md);
 *   label:  for figures and tables.
 * Adding a kernel = one row here plus its column function. */
#define HK_KERNEL_TABLE(X)                                                                                        \
    X(SF, Sf, XONLY, HK_NEEDS_F, 2, 0, 0, 0, column_f_table, "f GP kernel Sf")                                   \
    X(TF, Tf, XONLY, HK_NEEDS_F, 2, 0, 0, 0, column_f_table, "f NTK Tf")                                         \
    X(TH, Th, POINT, HK_NEEDS_F | HK_NEEDS_Z, 8, 2, 0, 50, column_hyper, "hyperkernel Th")                        \
    X(KH, Kh, POINT, HK_NEEDS_F | HK_NEEDS_Z, 8, 2, 0, 50, column_hyper, "hyper-GP Kh")                           \
    X(TMLP, Tmlp, POINT, HK_NEEDS_Z, 58, 2, 50, 50, column_mlp, "plain-MLP NTK Tmlp")

enum { HK_NEEDS_F = 1, HK_NEEDS_Z = 2 };

#define HK_KERNEL_ENUM(ID, ...) HK_##ID,
enum hk_kernel { HK_KERNEL_TABLE(HK_KERNEL_ENUM) HK_NKERNELS };

/* "Th|Kh|Tmlp": the kernels between points, for a kind's choices. */
#define HK_KC_POINT(name) "|" #name
#define HK_KC_XONLY(name)
#define HK_KERNEL_CHOICE(ID, name, use, ...) HK_KC_##use(name)
#define HK_POINT_KERNELS_BAR HK_KERNEL_TABLE(HK_KERNEL_CHOICE) /* "|Th" "|Kh" "|Tmlp" */
#define HK_POINT_KERNEL_CHOICES (&(HK_POINT_KERNELS_BAR)[1])   /* "Th|Kh|Tmlp" */
#define HK_KC_ANY(name) "|" #name
#define HK_KERNEL_ANY(ID, name, use, ...) HK_KC_ANY(name)
#define HK_KERNEL_CHOICES (&(HK_KERNEL_TABLE(HK_KERNEL_ANY))[1]) /* "Sf|Tf|Th|Kh|Tmlp" */

struct hk_kernel_info {
    const char *name, *label;
    int point;           /* 1: between points (x, z); 0: of x alone */
    unsigned needs;
    double c0, c_dz, c_f, c_g;
};
const struct hk_kernel_info *hk_kernel_info(enum hk_kernel k);
const char *hk_kernel_name(enum hk_kernel k);
int hk_kernel_from_name(const char *name);     /* -1 if unknown */

/* Inputs u = (x, z): nx distinct x vectors shared by n points. */
struct hk_inputs {
    int n;
    int nx, dx;
    const double *x;   /* nx × dx, row-major */
    int dz;
    const double *z;   /* n × dz, row-major */
    const int *xid;    /* n entries in [0, nx) */
};

struct hk_depths {
    int depth_f;       /* L: hidden layers of f */
    int depth_g;       /* H: layers of g */
    int activation;    /* index into the activation table; 0: the scaled ReLU */
};

/* The activation table: an activation is its dual maps V = E[s(a)s(b)] and
 * Vd = E[s'(a)s'(b)] for a 2x2 covariance (kxx, kyy, kxy), scalar and over
 * arrays (vectorised, for the tile loops). Another activation is one more
 * entry (kernels.c). */
struct hk_activation {
    const char *name;
    void (*dual)(double kxx, double kyy, double kxy, double *v, double *vd);
    /* The array forms take each variance as its standard deviation s and 1/s
     * (0 for a zero variance), computed once per point, not per pair.
     * v[i], vd[i] = V, Vd of (kxx[i] = sx[i]^2, kyy = sy^2, kxy[i]). They
     * work in whole chunks of HK_LANES: every array must be readable (and the
     * outputs writable) up to hk_lanes_round(n), the elements past n holding
     * any finite values (they are computed and ignored). */
    void (*layer)(int n, const double *sx, const double *isx, double sy, double isy, const double *kxy, double *v,
                  double *vd);
    /* a column segment of Kh (kh_only) or Th: the g recursion of section 4
     * in Horner form over all H layers, K_1 = sf z0, acc_1 = z0,
     * acc_{l+1} = acc_l sf Vd(K_l) + V(K_l), K_{l+1} = sf V(K_l) with
     * K_l's variances (row_sd[(l-1) row_stride + i], col_sd[(l-1) col_stride])
     * as sd and 1/sd; out[i] = K_H or tf[i] acc_H. The inputs are read, and
     * the work lanes k and acc written, in whole chunks as above; out is
     * written for i < n, whole chunks only: when n is not a whole number of
     * chunks the last goes whole to tail (HK_LANES long), entries
     * n - n % HK_LANES .. n - 1 first, for the caller to copy. */
    void (*hyper_column)(int n, int H, int kh_only, const double *row_sd, const double *row_isd, long row_stride,
                         const double *col_sd, const double *col_isd, long col_stride, const double *sf,
                         const double *tf, const double *z0, double *k, double *acc, double *out, double *tail);
};
/* The chunk of the array forms: a whole vector of AVX-512, two of AVX2,
 * four of SSE2, so no element is ever left to a scalar remainder loop. */
enum { HK_LANES = 8 };
static inline int hk_lanes_round(int n) { return (n + HK_LANES - 1) / HK_LANES * HK_LANES; }
/* The scalar ReLU's array forms (kernels_dual.c), entries of the table. */
void hk_relu_layer(int n, const double *sx, const double *isx, double sy, double isy, const double *kxy, double *v,
                   double *vd);
void hk_relu_hyper_column(int n, int H, int kh_only, const double *row_sd, const double *row_isd, long row_stride,
                          const double *col_sd, const double *col_isd, long col_stride, const double *sf,
                          const double *tf, const double *z0, double *k, double *acc, double *out, double *tail);
const struct hk_activation *hk_activation(int index);   /* NULL if out of range */
int hk_activation_count(void);

/* Dual maps of the scaled ReLU s(t) = sqrt(2) max(t, 0), entry 0 of the
 * activation table. Exact on the diagonal (c = 1 gives V = sqrt(kxx kyy),
 * Vd = 1). */
void hk_relu_dual(double kxx, double kyy, double kxy, double *v, double *vd);

/* GP kernel S_L and NTK T_L of an L-hidden-layer ReLU net (f, or the plain
 * MLP) from the input kernel s0 = x.x'/dx and its diagonals. */
void hk_relu_net_kernels(int depth, double sxx, double syy, double s0, double *s_out, double *t_out);

/* Hyper-GP Kh and hyperkernel Th for one pair, from Sf, Tf of the x pair,
 * z0 = z.z'/dz, and the diagonals K_l(u,u), K_l(u',u') for l = 1..H-1
 * (kdiag_a[l-1]). */
void hk_hyper_pair(int depth_g, double sf, double tf, double z0, const double *kdiag_a, const double *kdiag_b,
                   double *kh, double *th);

/* Evaluates out[i + j*ld] = K(A point rows[i], B point cols[j]) for
 * 0 <= i < nrows, 0 <= j < ncols. With lower_only, entries whose global
 * row < global column are skipped (left untouched): enough for Cholesky.
 * Returns 0, or -1 with a message. */
int hk_kernel_eval(enum hk_kernel kind, const struct hk_depths *depths, const struct hk_inputs *a, const int *rows,
                   int nrows, const struct hk_inputs *b, const int *cols, int ncols, int lower_only, double *out,
                   long ld);

/* Floating point operations per entry, for plan's predictions (the table's c0..c_g). */
double hk_kernel_entry_cost(enum hk_kernel kind, const struct hk_depths *depths, int dz);
/* Bytes of workspace one hk_kernel_eval call allocates for nrows x ncols
 * entries of inputs with dx, dz (tiles, per-point diagonals, gathered x). */
double hk_kernel_workspace_bytes(enum hk_kernel kind, const struct hk_depths *depths, int nx_rows, int nx_cols,
                                 int dx, int dz, int nrows, int ncols);

#endif
