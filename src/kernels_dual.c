/* kernels_dual: the dual map of the scaled ReLU over arrays, the loops where
 * a Gram matrix spends its time. Compiled with FMA contraction
 * (CMakeLists.txt), which the rest of the library is not: each array is
 * walked in chunks of exactly HK_LANES elements, so the compiler vectorises
 * a loop of a constant trip count with no scalar prologue or epilogue, and
 * every element, wherever it sits in a rank's block, goes through the same
 * vector instructions and rounds the same way (tests/check_vectorised.sh
 * fails the tests if any scalar arithmetic appears in these loops). Callers
 * pad their arrays to a whole number of chunks (hk_lanes_round). The plain
 * x86-64 clone has no FMA and rounds differently in the last bits: a job
 * whose ranks run on processors with and without FMA (before 2013) gets
 * entries that differ by an ulp between them. */
#include "hk/kernels.h"
#include "hk/util.h"

#include <float.h>
#include <math.h>

/* The clones of these loops: AVX-512 (with FMA), AVX with FMA (every AVX2
 * processor has it: Haswell on, Zen), and plain x86-64 (SSE2, no FMA). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HK_DUAL_CLONES __attribute__((target_clones("avx512f", "fma", "default")))
#else
#define HK_DUAL_CLONES
#endif

/* arccos as a branch-free minimax form, accurate to one ulp (relative), so it
 * vectorises: acos(a) = pi/2 - asin(a) for a <= 1/2, 2 asin(sqrt((1-a)/2))
 * above, with asin(s) = s + s w P(4w), w = s^2 in [0, 1/4]. The coefficients
 * were fitted to the Taylor series of asin on Chebyshev nodes. */
static const double asin_poly[13] = {
    0.16666666666666693,   0.018749999999983877,  0.002790178572027094,  0.0004747178716718561,
    8.7391344993013531e-05, 1.6945474060181072e-05, 3.4116639674678711e-06, 6.9905094433779148e-07,
    1.5985622050122656e-07, 1.8503637359068011e-08, 1.8057749774791596e-08, -4.0755504169018544e-09,
    1.8000188530822325e-09};

static inline double acos_branchless(double c)
{
    double a = fabs(c);
    int big = a > 0.5;
    double w = big ? (1 - a) * 0.5 : a * a;
    double s = big ? sqrt(w) : a;
    double u = 4 * w, p = asin_poly[12];
    for (int k = 11; k >= 0; k--) p = p * u + asin_poly[k];
    double r = s + s * w * p;
    double res = big ? 2 * r : M_PI_2 - r;
    return c < 0 ? M_PI - res : res;
}

/* The dual map without branches, each side's variance given as its standard
 * deviation sd and 1/sd (0 for a zero-variance side), computed once per point
 * rather than per pair: a multiply in place of a square root and a division
 * per entry. Rounding in the reciprocals puts c a few ulp off 1 where the two
 * sides are the same input (off -1 for opposite inputs); within 4 eps of 1
 * (of -1) it is taken as 1 (-1), so that Vd stays 1 (0) there: arccos has
 * infinite slope at +-1, where one ulp of c moves Vd by 1e-8. A point paired
 * with itself gets its diagonal exactly in hk_kernel_eval. */
static inline void dual_map(double sx, double isx, double sy, double isy, double kxy, double *v, double *vd)
{
    double norm = sx * sy;
    /* |kxy| <= sx sy, so kxy times the larger reciprocal is at most max(sx, sy) and cannot overflow, as
     * isx * isy does for variances below 1e-154; max and min keep K(u, u') = K(u', u) bit for bit. Selects,
     * not fmax and fmin, which GCC does not vectorise (their NaN rules); the scalar loop is 3x slower */
    int x_larger = isx > isy;
    double hi = x_larger ? isx : isy, lo = x_larger ? isy : isx;
    double c = (kxy * hi) * lo;
    c = c > 1 - 4 * DBL_EPSILON ? 1 : c;
    c = c < -1 + 4 * DBL_EPSILON ? -1 : c;
    double t = acos_branchless(c);
    double rest = (M_PI - t) * (1.0 / M_PI);
    double value = norm * (sqrt(1 - c * c) + (M_PI - t) * c) * (1.0 / M_PI);
    value = c >= 1 ? norm : value;
    rest = c >= 1 ? 1 : rest;
    *v = norm > 0 ? value : 0;
    *vd = norm > 0 ? rest : 0;
}

/* One chunk of HK_LANES elements: a loop of a constant trip count, which the
 * vectoriser turns into whole vectors (one zmm, two ymm or four xmm) with no
 * remainder. */
static inline void layer_chunk(const double *restrict sx, const double *restrict isx, double sy, double isy,
                               const double *restrict kxy, double *restrict v, double *restrict vd)
{
    for (int i = 0; i < HK_LANES; i++) dual_map(sx[i], isx[i], sy, isy, kxy[i], &v[i], &vd[i]);
}

static inline void hyper_chunk(const double *restrict sx, const double *restrict isx, double sy, double isy,
                               const double *restrict sf, double *restrict k, double *restrict acc)
{
    for (int i = 0; i < HK_LANES; i++) {
        double v, vd;
        dual_map(sx[i], isx[i], sy, isy, k[i], &v, &vd);
        acc[i] = acc[i] * sf[i] * vd + v;
        k[i] = sf[i] * v;
    }
}

HK_DUAL_CLONES
void hk_relu_layer(int n, const double *restrict sx, const double *restrict isx, double sy, double isy,
                   const double *restrict kxy, double *restrict v, double *restrict vd)
{
    for (int i = 0; i < n; i += HK_LANES) layer_chunk(sx + i, isx + i, sy, isy, kxy + i, v + i, vd + i);
}

/* One layer of g over a column segment, chunk by chunk. The first layer
 * starts from K_1 = Sf z.z', acc_1 = z.z' (read from the tables, not the
 * lanes); the last stores the entry K (Kh) or Tf acc (Th) straight into the
 * matrix. out has no padding (it is the matrix): a last chunk that does
 * not fit goes whole into tail (HK_LANES long), for the caller to copy the
 * entries below n; a branch there would let the compiler compute those
 * entries with scalar instructions. first and last are constants in each call,
 * so each combination compiles to its own loop. */
static inline void hyper_pass(int first, int last, int kh_only, int n, const double *restrict sx,
                              const double *restrict isx, double sy, double isy, const double *restrict sf,
                              const double *restrict tf, const double *restrict z0, double *restrict k,
                              double *restrict acc, double *restrict out, double *restrict tail)
{
    for (int i = 0; i < n; i += HK_LANES) {
        double kk[HK_LANES], aa[HK_LANES];
        for (int j = 0; j < HK_LANES; j++) {
            kk[j] = first ? sf[i + j] * z0[i + j] : k[i + j];
            aa[j] = first ? z0[i + j] : acc[i + j];
        }
        hyper_chunk(sx + i, isx + i, sy, isy, sf + i, kk, aa);
        if (!last) {
            for (int j = 0; j < HK_LANES; j++) {
                k[i + j] = kk[j];
                acc[i + j] = aa[j];
            }
            continue;
        }
        double o[HK_LANES], *dst = i + HK_LANES <= n ? out + i : tail;
        for (int j = 0; j < HK_LANES; j++) o[j] = kh_only ? kk[j] : tf[i + j] * aa[j];
        for (int j = 0; j < HK_LANES; j++) dst[j] = o[j];
    }
}

/* A column segment of Kh or Th: layer by layer over the whole segment (the
 * chunks of one layer are independent, which keeps the vector units busy
 * while each waits on its square roots), with the start of the recursion
 * fused into the first layer and the entry into the last, where separate
 * loops over the lanes took 15 % of a Gram matrix's time. */
HK_DUAL_CLONES
void hk_relu_hyper_column(int n, int H, int kh_only, const double *restrict row_sd, const double *restrict row_isd,
                          long row_stride, const double *restrict col_sd, const double *restrict col_isd,
                          long col_stride, const double *restrict sf, const double *restrict tf,
                          const double *restrict z0, double *restrict k, double *restrict acc,
                          double *restrict out, double *restrict tail)
{
    if (H == 1) { /* no layer of g: K = Sf z.z', acc = z.z' */
        const double *restrict f = kh_only ? sf : tf;
        for (int i = 0; i < n; i += HK_LANES) {
            double o[HK_LANES], *dst = i + HK_LANES <= n ? out + i : tail;
            for (int j = 0; j < HK_LANES; j++) o[j] = f[i + j] * z0[i + j];
            for (int j = 0; j < HK_LANES; j++) dst[j] = o[j];
        }
        return;
    }
    for (int l = 1; l < H; l++) {
        size_t r = (size_t)(l - 1) * row_stride, c = (size_t)(l - 1) * col_stride;
        const double *sx = row_sd + r, *isx = row_isd + r;
        if (H == 2)
            hyper_pass(1, 1, kh_only, n, sx, isx, col_sd[c], col_isd[c], sf, tf, z0, k, acc, out, tail);
        else if (l == 1)
            hyper_pass(1, 0, kh_only, n, sx, isx, col_sd[c], col_isd[c], sf, tf, z0, k, acc, out, tail);
        else if (l < H - 1)
            hyper_pass(0, 0, kh_only, n, sx, isx, col_sd[c], col_isd[c], sf, tf, z0, k, acc, out, tail);
        else
            hyper_pass(0, 1, kh_only, n, sx, isx, col_sd[c], col_isd[c], sf, tf, z0, k, acc, out, tail);
    }
}
