/* kernels: per-layer dual maps composed into Sf, Tf, Kh, Th and the plain-MLP
 * NTK; tiled block evaluation with the x-only part done once per pair of
 * distinct x (a DGEMM of the tile's distinct x, then the f recursion). */
#include "hk/kernels.h"
#include "hk/blas.h"
#include "hk/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tile sizes bound the x-pair tables to 2 x TILE_ROWS x TILE_COLS doubles
 * (4 MiB), whatever the size of the block being evaluated. */
enum { TILE_ROWS = 1024, TILE_COLS = 256 };

static const char *kernel_names[HK_NKERNELS] = {"Sf", "Tf", "Kh", "Th", "Tmlp"};

const char *hk_kernel_name(enum hk_kernel k) { return (k >= 0 && k < HK_NKERNELS) ? kernel_names[k] : "?"; }

int hk_kernel_from_name(const char *name)
{
    for (int k = 0; k < HK_NKERNELS; k++)
        if (!strcmp(name, kernel_names[k])) return k;
    return -1;
}

static inline void relu_dual(double kxx, double kyy, double kxy, double *v, double *vd)
{
    double norm = sqrt(kxx * kyy);
    if (!(norm > 0)) { /* a zero-variance side: s(0) = s'(0) = 0 */
        *v = 0;
        *vd = 0;
        return;
    }
    double c = kxy / norm;
    if (c >= 1) { /* the diagonal, or rounding just past it: keep it exact */
        *v = norm;
        *vd = 1;
        return;
    }
    if (c <= -1) {
        *v = 0;
        *vd = 0;
        return;
    }
    double t = acos(c);
    *v = norm * (sin(t) + (M_PI - t) * c) * (1.0 / M_PI);
    *vd = (M_PI - t) * (1.0 / M_PI);
}

void hk_relu_dual(double kxx, double kyy, double kxy, double *v, double *vd) { relu_dual(kxx, kyy, kxy, v, vd); }

/* One ReLU layer of a plain network: (S, T) -> (V(S), V(S) + T Vd(S)); on
 * the diagonal V(k,k,k) = k, so diagonals stay put without bias. */
static inline void relu_net(int depth, double sxx, double syy, double s0, double *s_out, double *t_out)
{
    double s = s0, t = s0;
    for (int l = 0; l < depth; l++) {
        double v, vd;
        relu_dual(sxx, syy, s, &v, &vd);
        t = v + t * vd;
        s = v;
    }
    *s_out = s;
    *t_out = t;
}

void hk_relu_net_kernels(int depth, double sxx, double syy, double s0, double *s_out, double *t_out)
{
    relu_net(depth, sxx, syy, s0, s_out, t_out);
}

/* The g recursion of section 4 in Horner form:
 *   acc_1 = In_1 = z0,  acc_l = acc_{l-1} * Sf Vd(K_{l-1}) + In_l,
 * so sum_l In_l Back_l = acc_H with one arccos per layer step. */
static inline void hyper_pair(int depth_g, double sf, double tf, double z0, const double *kda, const double *kdb,
                              double *kh, double *th)
{
    double k = sf * z0, acc = z0;
    for (int l = 1; l < depth_g; l++) {
        double v, vd;
        relu_dual(kda[l - 1], kdb[l - 1], k, &v, &vd);
        acc = acc * sf * vd + v;
        k = sf * v;
    }
    *kh = k;
    *th = tf * acc;
}

void hk_hyper_pair(int depth_g, double sf, double tf, double z0, const double *kda, const double *kdb, double *kh,
                   double *th)
{
    hyper_pair(depth_g, sf, tf, z0, kda, kdb, kh, th);
}

double hk_kernel_entry_cost(enum hk_kernel kind, const struct hk_depths *d, int dz)
{
    /* an arccos with its sin and sqrt counts as about 40 flops */
    switch (kind) {
    case HK_SF:
    case HK_TF: return 2;
    case HK_KH:
    case HK_TH: return 2.0 * dz + 8 + 50.0 * (d->depth_g - 1);
    case HK_TMLP: return 2.0 * dz + 8 + 50.0 * (d->depth_f + d->depth_g);
    default: return 0;
    }
}

/* Everything about one side (rows or columns) that depends on a single
 * point: computed once per call, O(points) memory. */
struct side {
    const struct hk_inputs *in;
    const int *pts;
    int n;
    double *xnorm;  /* per distinct x: x.x/dx */
    double *sfd;    /* per point: Sf(x,x), Tf(x,x), z.z/dz */
    double *tfd;
    double *zz;
    double *kd;     /* per point: K_l(u,u), l = 1..H-1 (stride H) */
    int *slot;      /* per point in the current tile: index of its distinct x */
    int *mark;      /* per distinct x: slot in the current tile, or -1 */
    int *ux;        /* the current tile's distinct x */
    double *xg;     /* their vectors gathered, ux count × dx */
};

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void side_init(struct side *s, const struct hk_inputs *in, const int *pts, int n, int tile,
                      const struct hk_depths *d)
{
    int H = d->depth_g;
    s->in = in;
    s->pts = pts;
    s->n = n;
    s->xnorm = hk_malloc((size_t)in->nx * sizeof(double));
    for (int x = 0; x < in->nx; x++)
        s->xnorm[x] = dot(in->x + (size_t)x * in->dx, in->x + (size_t)x * in->dx, in->dx) * (1.0 / in->dx);
    s->sfd = hk_malloc((size_t)n * sizeof(double));
    s->tfd = hk_malloc((size_t)n * sizeof(double));
    s->zz = hk_malloc((size_t)n * sizeof(double));
    s->kd = hk_malloc((size_t)n * H * sizeof(double));
    for (int i = 0; i < n; i++) {
        int p = pts[i];
        double sxx = s->xnorm[in->xid[p]];
        relu_net(d->depth_f, sxx, sxx, sxx, &s->sfd[i], &s->tfd[i]);
        const double *z = in->z + (size_t)p * in->dz;
        s->zz[i] = dot(z, z, in->dz) * (1.0 / in->dz); /* same arithmetic as the pairs: exact diagonals */
        double k = s->sfd[i] * s->zz[i];
        for (int l = 1; l < H; l++) {
            s->kd[(size_t)i * H + l - 1] = k;
            double v, vd;
            relu_dual(k, k, k, &v, &vd);
            k = s->sfd[i] * v;
        }
    }
    s->slot = hk_malloc((size_t)tile * sizeof(int));
    s->mark = hk_malloc((size_t)in->nx * sizeof(int));
    for (int x = 0; x < in->nx; x++) s->mark[x] = -1;
    s->ux = hk_malloc((size_t)tile * sizeof(int));
    s->xg = hk_malloc((size_t)tile * in->dx * sizeof(double));
}

static void side_free(struct side *s)
{
    free(s->xnorm); free(s->sfd); free(s->tfd); free(s->zz); free(s->kd);
    free(s->slot); free(s->mark); free(s->ux); free(s->xg);
}

/* Finds the distinct x among points [i0, i1) and gathers them; returns how many. */
static int side_tile(struct side *s, int i0, int i1)
{
    const struct hk_inputs *in = s->in;
    int nu = 0;
    for (int i = i0; i < i1; i++) {
        int x = in->xid[s->pts[i]];
        if (s->mark[x] < 0) {
            s->mark[x] = nu;
            s->ux[nu] = x;
            memcpy(s->xg + (size_t)nu * in->dx, in->x + (size_t)x * in->dx, (size_t)in->dx * sizeof(double));
            nu++;
        }
        s->slot[i - i0] = s->mark[x];
    }
    for (int u = 0; u < nu; u++) s->mark[s->ux[u]] = -1;
    return nu;
}

int hk_kernel_eval(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *a, const int *rows,
                   int nrows, const struct hk_inputs *b, const int *cols, int ncols, int lower_only, double *out,
                   long ld)
{
    if (kind < 0 || kind >= HK_NKERNELS) return hk_fail("unknown kernel %d", (int)kind);
    if (d->depth_f < 1 || d->depth_g < 1 || d->depth_g > HK_MAX_DEPTH || d->depth_f > HK_MAX_DEPTH)
        return hk_fail("kernel depths out of range: depth_f=%d depth_g=%d (1..%d)", d->depth_f, d->depth_g,
                       HK_MAX_DEPTH);
    if (a->dx != b->dx || a->dz != b->dz)
        return hk_fail("kernel inputs disagree in dimension: dx %d vs %d, dz %d vs %d", a->dx, b->dx, a->dz, b->dz);
    if (nrows == 0 || ncols == 0) return 0;
    const int H = d->depth_g, dx = a->dx, dz = a->dz;
    const int same_inputs = (a == b);
    struct side R, C;
    side_init(&R, a, rows, nrows, TILE_ROWS, d);
    side_init(&C, b, cols, ncols, TILE_COLS, d);
    double *s0 = hk_malloc((size_t)TILE_ROWS * TILE_COLS * sizeof(double));
    double *sf = hk_malloc((size_t)TILE_ROWS * TILE_COLS * sizeof(double));
    double *tf = hk_malloc((size_t)TILE_ROWS * TILE_COLS * sizeof(double));
    const double inv_dx = 1.0 / dx, inv_dz = 1.0 / dz, inv_dxz = 1.0 / (dx + dz);

    for (int j0 = 0; j0 < ncols; j0 += TILE_COLS) {
        int j1 = j0 + TILE_COLS < ncols ? j0 + TILE_COLS : ncols;
        int uc = side_tile(&C, j0, j1);
        int min_col = cols[j0];
        for (int j = j0; j < j1; j++) if (cols[j] < min_col) min_col = cols[j];
        for (int i0 = 0; i0 < nrows; i0 += TILE_ROWS) {
            int i1 = i0 + TILE_ROWS < nrows ? i0 + TILE_ROWS : nrows;
            if (lower_only) {
                int max_row = rows[i0];
                for (int i = i0; i < i1; i++) if (rows[i] > max_row) max_row = rows[i];
                if (max_row < min_col) continue;
            }
            int ur = side_tile(&R, i0, i1);
            /* x-only part: one DGEMM for the dot products of the tile's
             * distinct x, then the f recursion per pair of distinct x. */
            dgemm_("T", "N", &ur, &uc, &dx, &inv_dx, R.xg, &dx, C.xg, &dx, &(double){0}, s0, &ur);
            for (int q = 0; q < uc; q++) {
                int xb = C.ux[q];
                for (int p = 0; p < ur; p++) {
                    int xa = R.ux[p];
                    double *e = &s0[p + (size_t)q * ur];
                    if (same_inputs && xa == xb) *e = R.xnorm[xa]; /* x = x': exact diagonal */
                    if (kind != HK_TMLP)
                        relu_net(d->depth_f, R.xnorm[xa], C.xnorm[xb], *e, &sf[p + (size_t)q * ur], &tf[p + (size_t)q * ur]);
                }
            }
            for (int j = j0; j < j1; j++) {
                const int cj = cols[j], jc = j - j0, ci = C.slot[jc];
                const double *zb = b->z + (size_t)cj * dz;
                const double *kdb = C.kd + (size_t)j * H;
                double *col = out + (size_t)j * ld;
                for (int i = i0; i < i1; i++) {
                    const int ri = rows[i];
                    if (lower_only && ri < cj) continue;
                    const size_t t = R.slot[i - i0] + (size_t)ci * ur;
                    double value;
                    if (kind == HK_SF) value = sf[t];
                    else if (kind == HK_TF) value = tf[t];
                    else {
                        const double *za = a->z + (size_t)ri * dz;
                        double z0 = dot(za, zb, dz) * inv_dz;
                        if (kind == HK_TMLP) {
                            /* plain MLP on (x, z): input kernel (x.x' + z.z') / (dx + dz) */
                            double sxx = (R.xnorm[a->xid[ri]] * dx + R.zz[i] * dz) * inv_dxz;
                            double syy = (C.xnorm[b->xid[cj]] * dx + C.zz[j] * dz) * inv_dxz;
                            double sxy = (s0[t] * dx + z0 * dz) * inv_dxz;
                            if (same_inputs && ri == cj) sxy = sxx;
                            double s_unused;
                            relu_net(d->depth_f + d->depth_g, sxx, syy, sxy, &s_unused, &value);
                        } else {
                            double kh, th;
                            hyper_pair(H, sf[t], tf[t], z0, R.kd + (size_t)i * H, kdb, &kh, &th);
                            value = (kind == HK_KH) ? kh : th;
                        }
                    }
                    col[i] = value;
                }
            }
        }
    }
    free(s0); free(sf); free(tf);
    side_free(&R);
    side_free(&C);
    return 0;
}
