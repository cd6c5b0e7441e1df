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
enum { TILE_ROWS = 256, TILE_COLS = 256 };
_Static_assert(TILE_ROWS % HK_LANES == 0, "the lanes hold whole chunks of the dual map");

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

/* One layer of a plain network: (S, T) -> (V(S), V(S) + T Vd(S)); on the
 * diagonal V(k,k,k) = k, so diagonals stay put without bias. */
static void net_kernels(const struct hk_activation *act, int depth, double sxx, double syy, double s0,
                        double *s_out, double *t_out)
{
    double s = s0, t = s0;
    for (int l = 0; l < depth; l++) {
        double v, vd;
        act->dual(sxx, syy, s, &v, &vd);
        t = v + t * vd;
        s = v;
    }
    *s_out = s;
    *t_out = t;
}

void hk_relu_net_kernels(int depth, double sxx, double syy, double s0, double *s_out, double *t_out)
{
    net_kernels(hk_activation(0), depth, sxx, syy, s0, s_out, t_out);
}

/* The g recursion of section 4 in Horner form:
 *   acc_1 = In_1 = z0,  acc_l = acc_{l-1} * Sf Vd(K_{l-1}) + In_l,
 * so sum_l In_l Back_l = acc_H with one arccos per layer step. */
void hk_hyper_pair(int depth_g, double sf, double tf, double z0, const double *kda, const double *kdb, double *kh,
                   double *th)
{
    const struct hk_activation *act = hk_activation(0);
    double k = sf * z0, acc = z0;
    for (int l = 1; l < depth_g; l++) {
        double v, vd;
        act->dual(kda[l - 1], kdb[l - 1], k, &v, &vd);
        acc = acc * sf * vd + v;
        k = sf * v;
    }
    *kh = k;
    *th = tf * acc;
}

/* The array forms of the dual map (the loops where the time goes) are in
 * kernels_dual.c, compiled with FMA contraction and walked in whole chunks of
 * HK_LANES: every table they read here is padded to hk_lanes_round of its
 * length and zeroed, so the chunks past a segment's end read finite values. */

/* A variance's standard deviation and its reciprocal, as dual_map takes them. */
static inline void sd_and_inverse(double k, double *sd, double *isd)
{
    double r = sqrt(k);
    *sd = r;
    *isd = r > 0 ? 1 / r : 0;
}

/* The activation table. Entry 0 is the default of every kernel. */
static const struct hk_activation activations[] = {
    {"relu", relu_dual, hk_relu_layer, hk_relu_hyper_column},
};

const struct hk_activation *hk_activation(int index)
{
    return index >= 0 && index < (int)(sizeof activations / sizeof activations[0]) ? &activations[index] : NULL;
}

int hk_activation_count(void) { return (int)(sizeof activations / sizeof activations[0]); }

/* Everything about one side (rows or columns) that depends on a single
 * point: computed once per call, O(points) memory. */
struct side {
    const struct hk_inputs *in;
    const int *pts;
    int n;
    double *xnorm;  /* per distinct x: x.x/dx, and its sd and 1/sd (dual_map's form) */
    double *xsd, *xisd;
    double *mlpsd;  /* per point: the plain-MLP input kernel diagonal as sd, and 1/sd */
    double *mlpisd;
    double *kdsd;   /* K_l(u,u) for l = 1..H-1 as sd, and 1/sd, layer-major: kdsd[(l-1) n + i] */
    double *kdisd;
    double *diag;   /* per point: the exact diagonal K(u,u) of the kernel evaluated */
    int *slot;      /* per point in the current tile: index of its distinct x */
    int *mark;      /* per distinct x: slot in the current tile, or -1 */
    int *ux;        /* the current tile's distinct x */
    double *xg;     /* their vectors gathered, ux count × dx */
    double *uxnorm; /* their x.x/dx, and its sd and 1/sd */
    double *uxsd, *uxisd;
    double *zg;     /* the tile's z gathered, tile × dz */
};

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void side_init(struct side *s, const struct hk_inputs *in, const int *pts, int n, int tile,
                      const struct hk_depths *d, const struct hk_activation *act, enum hk_kernel kind)
{
    int H = d->depth_g;
    memset(s, 0, sizeof *s);
    s->in = in;
    s->pts = pts;
    s->n = n;
    /* the same arithmetic (dot times reciprocal) as the DGEMM tables, so a
     * point paired with itself reproduces its diagonal bit for bit */
    s->xnorm = hk_malloc((size_t)in->nx * sizeof(double));
    for (int x = 0; x < in->nx; x++)
        s->xnorm[x] = dot(in->x + (size_t)x * in->dx, in->x + (size_t)x * in->dx, in->dx) * (1.0 / in->dx);
    s->xsd = hk_malloc((size_t)in->nx * sizeof(double));
    s->xisd = hk_malloc((size_t)in->nx * sizeof(double));
    for (int x = 0; x < in->nx; x++) sd_and_inverse(s->xnorm[x], &s->xsd[x], &s->xisd[x]);
    /* read by the array forms in whole chunks: a chunk's worth of zeros past the end */
    s->mlpsd = hk_calloc((size_t)n + HK_LANES, sizeof(double));
    s->mlpisd = hk_calloc((size_t)n + HK_LANES, sizeof(double));
    s->kdsd = hk_calloc((size_t)n * (H > 1 ? H - 1 : 1) + HK_LANES, sizeof(double));
    s->kdisd = hk_calloc((size_t)n * (H > 1 ? H - 1 : 1) + HK_LANES, sizeof(double));
    s->diag = hk_malloc((size_t)n * sizeof(double));
    const double inv_dxz = 1.0 / (in->dx + in->dz);
    for (int i = 0; i < n; i++) {
        int p = pts[i];
        double sxx = s->xnorm[in->xid[p]];
        double sfd, tfd; /* Sf(x,x), Tf(x,x) */
        net_kernels(act, d->depth_f, sxx, sxx, sxx, &sfd, &tfd);
        const double *z = in->z + (size_t)p * in->dz;
        const double zz = dot(z, z, in->dz) * (1.0 / in->dz);
        const double mlpd = (sxx * in->dx + zz * in->dz) * inv_dxz;
        sd_and_inverse(mlpd, &s->mlpsd[i], &s->mlpisd[i]);
        double k = sfd * zz, acc = zz;
        for (int l = 1; l < H; l++) {
            size_t at = (size_t)(l - 1) * n + i;
            sd_and_inverse(k, &s->kdsd[at], &s->kdisd[at]);
            double v, vd;
            act->dual(k, k, k, &v, &vd);
            acc = acc * sfd * vd + v;
            k = sfd * v;
        }
        /* the diagonal by the scalar maps, exact where V(k, k, k) = k */
        double mlp_s, mlp_t;
        switch (kind) {
        case HK_SF: s->diag[i] = sfd; break;
        case HK_TF: s->diag[i] = tfd; break;
        case HK_KH: s->diag[i] = k; break;
        case HK_TH: s->diag[i] = tfd * acc; break;
        case HK_TMLP:
            net_kernels(act, d->depth_f + H, mlpd, mlpd, mlpd, &mlp_s, &mlp_t);
            s->diag[i] = mlp_t;
            break;
        default: s->diag[i] = NAN; break; /* a kernel added to the table adds its case: NaN fails every test */
        }
    }
    s->slot = hk_malloc((size_t)tile * sizeof(int));
    s->mark = hk_malloc((size_t)in->nx * sizeof(int));
    for (int x = 0; x < in->nx; x++) s->mark[x] = -1;
    s->ux = hk_malloc((size_t)tile * sizeof(int));
    s->xg = hk_malloc((size_t)tile * in->dx * sizeof(double));
    s->uxnorm = hk_malloc((size_t)tile * sizeof(double));
    s->uxsd = hk_calloc((size_t)hk_lanes_round(tile), sizeof(double));
    s->uxisd = hk_calloc((size_t)hk_lanes_round(tile), sizeof(double));
    s->zg = hk_malloc((size_t)tile * in->dz * sizeof(double));
}

static void side_free(struct side *s)
{
    free(s->xnorm); free(s->xsd); free(s->xisd);
    free(s->mlpsd); free(s->mlpisd); free(s->kdsd); free(s->kdisd); free(s->diag);
    free(s->slot); free(s->mark); free(s->ux); free(s->xg); free(s->uxnorm); free(s->uxsd); free(s->uxisd);
    free(s->zg);
}

/* Finds the distinct x among points [i0, i1) and gathers them and the
 * points' z; returns how many distinct x. */
static int side_tile(struct side *s, int i0, int i1)
{
    const struct hk_inputs *in = s->in;
    int nu = 0;
    for (int i = i0; i < i1; i++) {
        int p = s->pts[i], x = in->xid[p];
        if (s->mark[x] < 0) {
            s->mark[x] = nu;
            s->ux[nu] = x;
            s->uxnorm[nu] = s->xnorm[x];
            s->uxsd[nu] = s->xsd[x];
            s->uxisd[nu] = s->xisd[x];
            memcpy(s->xg + (size_t)nu * in->dx, in->x + (size_t)x * in->dx, (size_t)in->dx * sizeof(double));
            nu++;
        }
        s->slot[i - i0] = s->mark[x];
        memcpy(s->zg + (size_t)(i - i0) * in->dz, in->z + (size_t)p * in->dz, (size_t)in->dz * sizeof(double));
    }
    for (int u = 0; u < nu; u++) s->mark[s->ux[u]] = -1;
    return nu;
}

/* Work arrays of one tile column, TILE_ROWS long. */
struct lanes {
    double *k, *acc, *v, *vd;
};

/* One column segment of a tile: rows [start, i1) of the tile against column
 * point j, everything a kernel's column function reads. */
struct column {
    enum hk_kernel kernel;
    int m;                          /* rows in the segment */
    const double *s0, *sf, *tf;     /* per row: its x against the column's x: x.x'/dx, Sf, Tf */
    const double *z0;               /* per row: z.z'/dz, from the tile's table */
    const double *row_kdsd, *row_kdisd; /* K_l(u,u) of the rows as sd, 1/sd: row_kdsd[(l-1) row_stride + i] */
    long row_stride;
    const double *col_kdsd, *col_kdisd; /* of the column point: col_kdsd[(l-1) col_stride] */
    long col_stride;
    const double *row_mlpsd, *row_mlpisd; /* plain-MLP input kernel diagonals of the rows as sd, 1/sd */
    double col_mlpsd, col_mlpisd;   /* and of the column */
    int L, H, dx, dz;
    const struct hk_activation *act;
    struct lanes *w;
};

/* Sf and Tf: the f tables, read per row through its x's slot. */
HK_VECTOR_CLONES
static void column_f_table(const struct column *c, double *out)
{
    memcpy(out, c->kernel == HK_SF ? c->sf : c->tf, (size_t)c->m * sizeof(double));
}

/* Hyper-GP and hyperkernel: the g recursion of section 4 in Horner form,
 * acc_l = acc_{l-1} Sf Vd(K_{l-1}) + In_l, in the activation's column form
 * (layer by layer over the segment, its start fused into the first layer and
 * the entry into the last). */
static void column_hyper(const struct column *c, double *out)
{
    double tail[HK_LANES];
    c->act->hyper_column(c->m, c->H, c->kernel == HK_KH, c->row_kdsd, c->row_kdisd, c->row_stride, c->col_kdsd,
                         c->col_kdisd, c->col_stride, c->sf, c->tf, c->z0, c->w->k, c->w->acc, out, tail);
    const int whole = c->m / HK_LANES * HK_LANES;
    memcpy(out + whole, tail, (size_t)(c->m - whole) * sizeof(double));
}

/* Plain MLP of L + H layers on (x, z): input kernel (x.x' + z.z') / (dx + dz). */
HK_VECTOR_CLONES
static void column_mlp(const struct column *c, double *out)
{
    const int m = c->m;
    const double *restrict s0 = c->s0, *restrict z0 = c->z0;
    double *restrict k = c->w->k, *restrict acc = c->w->acc, *restrict v = c->w->v, *restrict vd = c->w->vd;
    const double dx = c->dx, dz = c->dz, inv_dxz = 1.0 / (c->dx + c->dz);
    /* past m too, from the tables' padding: the array forms compute those lanes */
    for (int i = 0; i < hk_lanes_round(m); i++) {
        double sxy = (s0[i] * dx + z0[i] * dz) * inv_dxz;
        k[i] = acc[i] = sxy;
    }
    for (int l = 0; l < c->L + c->H; l++) {
        c->act->layer(m, c->row_mlpsd, c->row_mlpisd, c->col_mlpsd, c->col_mlpisd, k, v, vd);
        for (int i = 0; i < m; i++) {
            acc[i] = v[i] + acc[i] * vd[i];
            k[i] = v[i];
        }
    }
    for (int i = 0; i < m; i++) out[i] = acc[i];
}

/* The kernel table of kernels.h, with each row's column function. */
struct kernel_row {
    struct hk_kernel_info info;
    void (*column)(const struct column *c, double *out);
};
#define HK_USE_POINT 1
#define HK_USE_XONLY 0
#define HK_KERNEL_ROW(ID, name, use, needs, c0, c_dz, c_f, c_g, column, label)                                    \
    {{#name, label, HK_USE_##use, needs, c0, c_dz, c_f, c_g}, column},
static const struct kernel_row kernel_table[HK_NKERNELS] = {HK_KERNEL_TABLE(HK_KERNEL_ROW)};

const struct hk_kernel_info *hk_kernel_info(enum hk_kernel k)
{
    return (k >= 0 && k < HK_NKERNELS) ? &kernel_table[k].info : NULL;
}

const char *hk_kernel_name(enum hk_kernel k) { return (k >= 0 && k < HK_NKERNELS) ? kernel_table[k].info.name : "?"; }

int hk_kernel_from_name(const char *name)
{
    for (int k = 0; k < HK_NKERNELS; k++)
        if (!strcmp(name, kernel_table[k].info.name)) return k;
    return -1;
}

double hk_kernel_entry_cost(enum hk_kernel kind, const struct hk_depths *d, int dz)
{
    const struct hk_kernel_info *k = hk_kernel_info(kind);
    if (!k) return 0;
    return k->c0 + k->c_dz * dz + k->c_f * d->depth_f + k->c_g * (d->depth_g - 1);
}

double hk_kernel_workspace_bytes(enum hk_kernel kind, const struct hk_depths *d, int nx_rows, int nx_cols, int dx,
                                 int dz, int nrows, int ncols)
{
    (void)kind;
    const double H1 = d->depth_g > 1 ? d->depth_g - 1 : 1;
    /* per side: x norms (with sd, 1/sd) and marks per distinct x; 3 + 2 (H-1) per point (the exact
     * diagonal, the sds and 1/sds of the MLP's input kernel and of K_l); a tile's slots, x, their norms and z */
    double rows = nx_rows * 28.0 + nrows * 8.0 * (3 + 2 * H1) + TILE_ROWS * (8.0 + 8.0 * dx + 24.0 + 8.0 * dz);
    double cols = nx_cols * 28.0 + ncols * 8.0 * (3 + 2 * H1) + TILE_COLS * (8.0 + 8.0 * dx + 24.0 + 8.0 * dz);
    /* seven tile tables (x.x', Sf, Tf per distinct x pair and per row, z.z') and four lanes */
    /* (and a chunk of padding after each array the dual map's array forms read) */
    return rows + cols + 7.0 * 8 * TILE_ROWS * TILE_COLS + 4.0 * 8 * TILE_ROWS + 15.0 * 8 * HK_LANES;
}

/* Cloned for the vector units: its gathers and per-layer updates vectorise too. */
HK_VECTOR_CLONES
int hk_kernel_eval(enum hk_kernel kind, const struct hk_depths *d, const struct hk_inputs *a, const int *rows,
                   int nrows, const struct hk_inputs *b, const int *cols, int ncols, int lower_only, double *out,
                   long ld)
{
    if (kind < 0 || kind >= HK_NKERNELS) return hk_fail("unknown kernel %d", (int)kind);
    if (d->depth_f < 1 || d->depth_g < 1 || d->depth_g > HK_MAX_DEPTH || d->depth_f > HK_MAX_DEPTH)
        return hk_fail("kernel depths out of range: depth_f=%d depth_g=%d (1..%d)", d->depth_f, d->depth_g,
                       HK_MAX_DEPTH);
    const struct hk_activation *act = hk_activation(d->activation);
    if (!act) return hk_fail("unknown activation %d (0..%d)", d->activation, hk_activation_count() - 1);
    if (a->dx != b->dx || a->dz != b->dz)
        return hk_fail("kernel inputs disagree in dimension: dx %d vs %d, dz %d vs %d", a->dx, b->dx, a->dz, b->dz);
    for (int i = 1; lower_only && i < nrows; i++)
        if (rows[i] <= rows[i - 1]) return hk_fail("kernel evaluation: lower_only needs ascending rows");
    if (nrows == 0 || ncols == 0) return 0;
    const struct kernel_row *K = &kernel_table[kind];
    const int needs_f = (K->info.needs & HK_NEEDS_F) != 0, needs_z = (K->info.needs & HK_NEEDS_Z) != 0;
    const int L = d->depth_f, dx = a->dx, dz = a->dz;
    const int same_inputs = (a == b);
    struct side R, C;
    side_init(&R, a, rows, nrows, TILE_ROWS, d, act, kind);
    side_init(&C, b, cols, ncols, TILE_COLS, d, act, kind);
    /* every table and lane a chunk longer than it needs, zeroed: the array forms of the dual map read and
     * write whole chunks of HK_LANES past a column's end (TILE_ROWS is a multiple of HK_LANES) */
    const size_t tile = (size_t)TILE_ROWS * TILE_COLS + HK_LANES;
    double *s0 = hk_calloc(tile, sizeof(double)), *sf = hk_calloc(tile, sizeof(double));
    double *tf = hk_calloc(tile, sizeof(double)), *z0 = hk_calloc(tile, sizeof(double));
    /* x.x', Sf and Tf per row of the tile and distinct x of its columns: read by the columns without
     * gathers (the rows' x repeat in runs, a column of the tile reads each of its x's table values
     * nri times) */
    double *rs0 = hk_calloc(tile, sizeof(double)), *rsf = hk_calloc(tile, sizeof(double));
    double *rtf = hk_calloc(tile, sizeof(double));
    struct lanes w;
    double *lane_mem = hk_calloc(4 * (size_t)TILE_ROWS, sizeof(double));
    w.k = lane_mem;
    w.acc = w.k + TILE_ROWS; w.v = w.acc + TILE_ROWS; w.vd = w.v + TILE_ROWS;
    const double inv_dx = 1.0 / dx, inv_dz = 1.0 / dz, zero = 0;
    struct column c = {.kernel = kind, .row_stride = nrows, .col_stride = ncols,
                       .L = L, .H = d->depth_g, .dx = dx, .dz = dz, .act = act, .w = &w};

    for (int j0 = 0; j0 < ncols; j0 += TILE_COLS) {
        int j1 = j0 + TILE_COLS < ncols ? j0 + TILE_COLS : ncols, ncj = j1 - j0;
        int uc = side_tile(&C, j0, j1);
        int min_col = cols[j0];
        for (int j = j0; j < j1; j++) if (cols[j] < min_col) min_col = cols[j];
        for (int i0 = 0; i0 < nrows; i0 += TILE_ROWS) {
            int i1 = i0 + TILE_ROWS < nrows ? i0 + TILE_ROWS : nrows, nri = i1 - i0;
            if (lower_only && rows[i1 - 1] < min_col) continue;
            int ur = side_tile(&R, i0, i1);
            /* x-only part: one DGEMM for the dot products of the tile's
             * distinct x, then the f recursion per pair of distinct x */
            dgemm_("T", "N", &ur, &uc, &dx, &inv_dx, R.xg, &dx, C.xg, &dx, &zero, s0, &ur);
            for (int q = 0; q < uc; q++)
                for (int p = 0; p < ur; p++)
                    if (same_inputs && R.ux[p] == C.ux[q]) s0[p + (size_t)q * ur] = R.uxnorm[p]; /* x = x' */
            if (needs_f)
                for (int q = 0; q < uc; q++) {
                    /* f recursion, column by column of the table, vectorised over rows */
                    double *sq = s0 + (size_t)q * ur, *sfq = sf + (size_t)q * ur, *tfq = tf + (size_t)q * ur;
                    memcpy(sfq, sq, (size_t)ur * sizeof(double));
                    memcpy(tfq, sq, (size_t)ur * sizeof(double));
                    for (int l = 0; l < L; l++) {
                        act->layer(ur, R.uxsd, R.uxisd, C.uxsd[q], C.uxisd[q], sfq, w.v, w.vd);
                        for (int p = 0; p < ur; p++) {
                            tfq[p] = w.v[p] + tfq[p] * w.vd[p];
                            sfq[p] = w.v[p];
                        }
                    }
                    for (int p = 0; p < ur; p++) /* x = x': the scalar maps, exact on the diagonal */
                        if (same_inputs && R.ux[p] == C.ux[q])
                            net_kernels(act, L, R.uxnorm[p], R.uxnorm[p], R.uxnorm[p], &sfq[p], &tfq[p]);
                }
            for (int q = 0; q < uc; q++) {
                const int *restrict slot = R.slot;
                const double *restrict a0 = s0 + (size_t)q * ur, *restrict af = sf + (size_t)q * ur,
                                       *restrict at = tf + (size_t)q * ur;
                double *restrict b0 = rs0 + (size_t)q * nri, *restrict bf = rsf + (size_t)q * nri,
                                 *restrict bt = rtf + (size_t)q * nri;
                for (int i = 0; i < nri; i++) b0[i] = a0[slot[i]];
                if (needs_f)
                    for (int i = 0; i < nri; i++) {
                        bf[i] = af[slot[i]];
                        bt[i] = at[slot[i]];
                    }
            }
            if (needs_z) /* the z dot products of the tile, one DGEMM */
                dgemm_("T", "N", &nri, &ncj, &dz, &inv_dz, R.zg, &dz, C.zg, &dz, &zero, z0, &nri);
            for (int j = j0; j < j1; j++) {
                const int cj = cols[j], jc = j - j0, ci = C.slot[jc];
                int start = i0;
                if (lower_only) { /* rows ascend: skip those above the diagonal */
                    int lo = i0, hi = i1;
                    while (lo < hi) {
                        int mid = (lo + hi) / 2;
                        if (rows[mid] < cj) lo = mid + 1; else hi = mid;
                    }
                    start = lo;
                }
                const int m = i1 - start, off = start - i0;
                if (m <= 0) continue;
                c.m = m;
                c.s0 = rs0 + (size_t)ci * nri + off;
                c.sf = rsf + (size_t)ci * nri + off;
                c.tf = rtf + (size_t)ci * nri + off;
                c.z0 = needs_z ? z0 + (size_t)jc * nri + off : NULL;
                c.row_kdsd = R.kdsd + start;
                c.row_kdisd = R.kdisd + start;
                c.col_kdsd = C.kdsd + j;
                c.col_kdisd = C.kdisd + j;
                c.row_mlpsd = R.mlpsd + start;
                c.row_mlpisd = R.mlpisd + start;
                c.col_mlpsd = C.mlpsd[j];
                c.col_mlpisd = C.mlpisd[j];
                double *col_out = out + (size_t)j * ld + start;
                K->column(&c, col_out);
                if (same_inputs) /* a point with itself: its diagonal, exact */
                    for (int i = 0; i < m; i++)
                        if (rows[start + i] == cj) col_out[i] = R.diag[start + i];
            }
        }
    }
    free(s0); free(sf); free(tf); free(z0); free(rs0); free(rsf); free(rtf); free(lane_mem);
    side_free(&R);
    side_free(&C);
    return 0;
}
