/* Images: rotation (exact quarter turns, a full turn, one bilinear pixel
 * worked by hand), the completion / inpainting / rotation task builders,
 * and the synthetic digits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hk/image_tasks.h"
#include "hk/images.h"
#include "hk/util.h"

#define S HK_IMG_SIDE
#define AT(img, r, c) (img)[(r) * S + (c)]

static void test_rotation(void)
{
    float in[HK_IMG_PIXELS], out[HK_IMG_PIXELS];
    struct hk_rng rng;
    hk_rng_seed(&rng, 3, 0);
    for (int i = 0; i < HK_IMG_PIXELS; i++) in[i] = (float)hk_rng_uniform(&rng);
    /* counter-clockwise as displayed: the pixel at (r, c) moves to
     *   90: (S-1-c, r)    180: (S-1-r, S-1-c)    270: (c, S-1-r) */
    int bad[4] = {0};
    for (int q = 0; q < 4; q++) {
        hk_image_rotate(in, 90.0 * q, out);
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                float want = AT(in, r, c), got = q == 0   ? AT(out, r, c)
                                                : q == 1 ? AT(out, S - 1 - c, r)
                                                : q == 2 ? AT(out, S - 1 - r, S - 1 - c)
                                                         : AT(out, c, S - 1 - r);
                bad[q] += got != want;
            }
        CHECK(bad[q] == 0, "rotation by %d degrees: %d pixels differ from the exact permutation", 90 * q, bad[q]);
    }
    hk_image_rotate(in, 360, out);
    CHECK(!memcmp(in, out, sizeof in), "rotation by 360 degrees does not return the image");
    hk_image_rotate(in, -90, out);
    float out270[HK_IMG_PIXELS];
    hk_image_rotate(in, 270, out270);
    CHECK(!memcmp(out, out270, sizeof out), "rotation by -90 differs from 270");

    /* 45 degrees, output pixel (row 13, column 20): relative to the centre
     * (13.5, 13.5) it is u = 6.5 right, v = 0.5 up; rotating back by 45
     * degrees gives u' = (6.5 + 0.5)/sqrt2, v' = (0.5 - 6.5)/sqrt2, i.e.
     * source column 13.5 + 7/sqrt2 = 18.4497, row 13.5 + 6/sqrt2 = 17.7426.
     * Bilinear weights of the 4 neighbours (17,18) (18,18) (17,19) (18,19):
     * (1-fr)(1-fc), fr(1-fc), (1-fr)fc, fr fc with fr = 0.742641, fc = 0.449747. */
    memset(in, 0, sizeof in);
    AT(in, 17, 18) = 1, AT(in, 18, 18) = 2, AT(in, 17, 19) = 4, AT(in, 18, 19) = 8;
    hk_image_rotate(in, 45, out);
    double fr = 13.5 + 6 / sqrt(2.0) - 17, fc = 13.5 + 7 / sqrt(2.0) - 18;
    double want = (1 - fr) * (1 - fc) * 1 + fr * (1 - fc) * 2 + (1 - fr) * fc * 4 + fr * fc * 8;
    CHECK_CLOSE(AT(out, 13, 20), want, 1e-6, "bilinear pixel at 45 degrees");
    CHECK_CLOSE(AT(out, 13, 20), 4.093886, 1e-6, "bilinear pixel at 45 degrees, by hand");
    /* mass near the centre is kept by a small rotation of a smooth blob */
    for (int r = 0; r < S; r++)
        for (int c = 0; c < S; c++) AT(in, r, c) = (float)exp(-((r - 13.5) * (r - 13.5) + (c - 12) * (c - 12)) / 8);
    hk_image_rotate(in, 30, out);
    double m0 = 0, m1 = 0;
    for (int i = 0; i < HK_IMG_PIXELS; i++) m0 += in[i], m1 += out[i];
    CHECK_CLOSE(m1, m0, 2e-3, "mass of a blob after a 30 degree rotation");
}

static void test_pixel_tasks(void)
{
    struct hk_image_set set = {.n = 3};
    set.pix = hk_malloc(3 * HK_IMG_PIXELS * sizeof(float));
    set.labels = hk_malloc(3);
    hk_images_synthetic(3, 5, set.pix, set.labels);
    for (int mode = 0; mode < 2; mode++) {
        struct hk_pixel_task t = {.mode = mode, .context = 50, .seed = 4};
        struct hk_dataset tr, te;
        unsigned char hidden[3 * HK_IMG_PIXELS];
        hk_pixel_task_build(&t, &set, 20, 0, &tr, NULL);
        hk_pixel_task_build(&t, &set, 0, 1, &te, hidden);
        int dx = hk_pixel_task_dx(&t);
        /* before finishing, x holds the raw shown pixels in pixel order */
        for (int u = 0; u < 3; u++)
            for (int p = 0, k = 0; p < HK_IMG_PIXELS; p++)
                if (!hidden[u * HK_IMG_PIXELS + p]) {
                    int at = mode == HK_COMPLETION ? p : k++;
                    CHECK(te.x[(size_t)u * dx + at] == set.pix[u * HK_IMG_PIXELS + p], "x holds shown pixel %d", p);
                }
        hk_pixel_task_finish(&tr, &te, NULL, 1);
        CHECK(tr.in.n == 60 && tr.in.nx == 3 && tr.in.dx == dx && tr.in.dz == 2, "training set shape");
        CHECK(te.in.n == 3 * HK_IMG_PIXELS, "test set has every pixel");
        for (int u = 0; u < 3; u++) {
            double n2 = 0;
            int nhidden = 0;
            for (int k = 0; k < dx; k++) n2 += te.x[(size_t)u * dx + k] * te.x[(size_t)u * dx + k];
            CHECK_CLOSE(n2, (double)dx, 1e-12, "|x|^2 = dx");
            for (int p = 0; p < HK_IMG_PIXELS; p++) {
                nhidden += hidden[u * HK_IMG_PIXELS + p];
                /* completion: a hidden pixel is zero in x */
                if (mode == HK_COMPLETION && hidden[u * HK_IMG_PIXELS + p])
                    CHECK(te.x[(size_t)u * dx + p] == 0, "hidden pixel %d visible", p);
                /* inpainting: the context positions are the same for every image */
                if (mode == HK_INPAINTING) CHECK(hidden[p] == hidden[u * HK_IMG_PIXELS + p], "shared context");
            }
            if (mode == HK_COMPLETION) {
                CHECK(nhidden == HK_IMG_PIXELS / 2, "completion hides the bottom half: %d", nhidden);
                CHECK(hidden[u * HK_IMG_PIXELS + 14 * S] && !hidden[u * HK_IMG_PIXELS + 13 * S + 27], "bottom half");
            } else {
                CHECK(nhidden == HK_IMG_PIXELS - 50, "inpainting shows C = 50 pixels: %d hidden", nhidden);
                CHECK(dx == 51, "inpainting x holds the 50 context values and a constant: %d", dx);
            }
        }
        /* test point u * 784 + p is pixel p of image u, with z in [-1, 1] */
        int p = 5 * S + 27;
        CHECK(te.z[2 * (HK_IMG_PIXELS + p)] == 1.0 && fabs(te.z[2 * (HK_IMG_PIXELS + p) + 1] - (10.0 / 27 - 1)) < 1e-15,
              "coordinate of pixel (5, 27)");
        CHECK(te.y[HK_IMG_PIXELS + p] == set.pix[HK_IMG_PIXELS + p], "target is the pixel");
        /* training pixels of an image are distinct */
        int dup = 0;
        for (int a = 0; a < 20; a++)
            for (int b = 0; b < a; b++) dup += tr.z[2 * a] == tr.z[2 * b] && tr.z[2 * a + 1] == tr.z[2 * b + 1];
        CHECK(dup == 0, "%d repeated training pixels", dup);
        hk_dataset_free(&tr);
        hk_dataset_free(&te);
    }
    struct hk_rotation_task rt = {.samples_per_image = 4, .jitter = 0, .seed = 9};
    struct hk_dataset d;
    int labels[12];
    hk_rotation_build(&rt, &set, 0, &d, labels);
    CHECK(d.in.n == 12 && d.in.nx == 12 && d.in.dx == HK_IMG_PIXELS + 1 && d.in.dz == HK_IMG_PIXELS, "rotation shape");
    int in_range = 1, distinct = 0, used[12] = {0};
    for (int i = 0; i < 12; i++) in_range &= labels[i] >= 0 && labels[i] < 12;
    CHECK(in_range, "labels in 0..11");
    for (int i = 0; i < 12 && in_range; i++) distinct += !used[labels[i]]++;
    CHECK(distinct >= 3, "only %d distinct rotation classes among 12 samples", distinct);
    hk_dataset_free(&d);
    hk_image_set_free(&set);
}

static void test_synthetic(void)
{
    enum { N = 200 };
    float *pix = hk_malloc(N * HK_IMG_PIXELS * sizeof(float));
    unsigned char lab[N];
    hk_images_synthetic(N, 1, pix, lab);
    int count[10] = {0}, ok = 1;
    for (int i = 0; i < N; i++) {
        count[lab[i]]++;
        double ink = 0;
        for (int p = 0; p < HK_IMG_PIXELS; p++) {
            ok &= pix[i * HK_IMG_PIXELS + p] >= 0 && pix[i * HK_IMG_PIXELS + p] <= 1;
            ink += pix[i * HK_IMG_PIXELS + p];
        }
        ok &= ink > 20 && ink < 300;
    }
    CHECK(ok, "synthetic digits have pixels in [0, 1] and some ink");
    for (int d = 0; d < 10; d++) CHECK(count[d] > 5, "digit %d appears %d times in 200", d, count[d]);
    /* the same seed gives the same images; a prefix does not depend on the count */
    float *again = hk_malloc(10 * HK_IMG_PIXELS * sizeof(float));
    hk_images_synthetic(10, 1, again, lab);
    CHECK(!memcmp(pix, again, 10 * HK_IMG_PIXELS * sizeof(float)), "synthetic digits are reproducible");
    free(pix);
    free(again);
}

int main(void)
{
    test_rotation();
    test_pixel_tasks();
    test_synthetic();
    return check_summary("test_images");
}
