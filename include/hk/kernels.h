/* kernels: the analytic kernels of docs/hyperkernel-math.md as compositions
 * of small per-layer maps, and their evaluation on any set of (row, column)
 * points. Evaluation works tile by tile, so no temporary grows with N. */
#ifndef HK_KERNELS_H
#define HK_KERNELS_H

#define HK_MAX_DEPTH 64

enum hk_kernel { HK_SF, HK_TF, HK_KH, HK_TH, HK_TMLP, HK_NKERNELS };

const char *hk_kernel_name(enum hk_kernel k);
int hk_kernel_from_name(const char *name);     /* -1 if unknown */
#define HK_KERNEL_CHOICES "Sf|Tf|Kh|Th|Tmlp"

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
};

/* Dual maps of the scaled ReLU s(t) = sqrt(2) max(t, 0): V = E[s(a)s(b)],
 * Vd = E[s'(a)s'(b)] for a 2x2 covariance (kxx, kyy, kxy). Exact on the
 * diagonal (c = 1 gives V = sqrt(kxx kyy), Vd = 1). */
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

/* Floating point operations per entry, for plan's predictions. */
double hk_kernel_entry_cost(enum hk_kernel kind, const struct hk_depths *depths, int dz);

#endif
