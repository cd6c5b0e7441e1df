/* image_tasks: completion, inpainting and rotation datasets from images.
 * See include/hk/image_tasks.h. */
#include "hk/image_tasks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hk/util.h"

int hk_pixel_task_dx(const struct hk_pixel_task *t)
{
    return (t->mode == HK_INPAINTING ? t->context : HK_IMG_PIXELS) + 1;
}

/* Scales v (length n) to |v|^2 = n; v always holds a constant 1, so |v| > 0. */
static void to_sphere(double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i] * v[i];
    double f = sqrt(n / s);
    for (int i = 0; i < n; i++) v[i] *= f;
}

/* k distinct values of 0..n-1 in random order (a partial Fisher-Yates shuffle). */
static void sample_distinct(struct hk_rng *rng, int n, int k, int *out)
{
    int *perm = hk_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)(hk_rng_next(rng) % (uint64_t)(n - i)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        out[i] = perm[i];
    }
    free(perm);
}

void hk_pixel_task_build(const struct hk_pixel_task *t, const struct hk_image_set *imgs, int coords_per_image,
                         long stream, struct hk_dataset *d, unsigned char *hidden)
{
    memset(d, 0, sizeof *d);
    const int U = imgs->n, dx = hk_pixel_task_dx(t);
    const int G = coords_per_image > 0 ? coords_per_image : HK_IMG_PIXELS;
    const int n = U * G;
    d->x = hk_calloc((size_t)U * dx + 1, sizeof(double));
    d->z = hk_malloc((size_t)n * 2 * sizeof(double) + 1);
    d->xid = hk_malloc((size_t)n * sizeof(int) + 1);
    d->y = hk_malloc((size_t)n * sizeof(double) + 1);
    struct hk_rng rng;
    hk_rng_seed(&rng, (uint64_t)t->seed, 100 + (uint64_t)stream);
    int *pick = hk_malloc(HK_IMG_PIXELS * sizeof(int));
    unsigned char shown[HK_IMG_PIXELS];
    if (t->mode == HK_COMPLETION) {
        for (int p = 0; p < HK_IMG_PIXELS; p++) shown[p] = p < HK_IMG_PIXELS / 2;
    } else {
        /* the context positions depend on the seed only: the same for every image and split */
        struct hk_rng ctx;
        hk_rng_seed(&ctx, (uint64_t)t->seed, 99);
        memset(shown, 0, sizeof shown);
        sample_distinct(&ctx, HK_IMG_PIXELS, t->context, pick);
        for (int k = 0; k < t->context; k++) shown[pick[k]] = 1;
    }
    for (int u = 0; u < U; u++) {
        const float *img = imgs->pix + (size_t)u * HK_IMG_PIXELS;
        double *x = d->x + (size_t)u * dx;
        for (int p = 0, k = 0; p < HK_IMG_PIXELS; p++) {
            if (t->mode == HK_COMPLETION) x[p] = shown[p] ? img[p] : 0;
            else if (shown[p]) x[k++] = img[p];
            if (hidden) hidden[(size_t)u * HK_IMG_PIXELS + p] = !shown[p];
        }
        if (coords_per_image > 0) sample_distinct(&rng, HK_IMG_PIXELS, G, pick);
        else for (int p = 0; p < G; p++) pick[p] = p;
        for (int g = 0; g < G; g++) {
            int i = u * G + g, p = pick[g], r = p / HK_IMG_SIDE, c = p % HK_IMG_SIDE;
            d->xid[i] = u;
            d->z[2 * i] = 2.0 * c / (HK_IMG_SIDE - 1) - 1;
            d->z[2 * i + 1] = 2.0 * r / (HK_IMG_SIDE - 1) - 1;
            d->y[i] = img[p];
        }
    }
    free(pick);
    d->in = (struct hk_inputs){.n = n, .nx = U, .dx = dx, .x = d->x, .dz = 2, .z = d->z, .xid = d->xid};
}

void hk_pixel_task_finish(struct hk_dataset *train, struct hk_dataset *test, struct hk_dataset *val, int centre)
{
    const int dx = train->in.dx, U = train->in.nx;
    double *mean = hk_calloc((size_t)dx, sizeof(double));
    if (centre)
        for (int u = 0; u < U; u++)
            for (int k = 0; k < dx - 1; k++) mean[k] += train->x[(size_t)u * dx + k] / U;
    struct hk_dataset *sets[3] = {train, test, val};
    for (int s = 0; s < 3 && sets[s]; s++)
        for (int u = 0; u < sets[s]->in.nx; u++) {
            double *x = sets[s]->x + (size_t)u * dx;
            for (int k = 0; k < dx - 1; k++) x[k] -= mean[k];
            x[dx - 1] = 1;
            to_sphere(x, dx);
        }
    free(mean);
}

int hk_pixel_data_build(const struct hk_pixel_task *t, const struct hk_pixel_spec *s, struct hk_pixel_data *d)
{
    memset(d, 0, sizeof *d);
    const int U = s->train_images, T = s->test_images, V = s->validation_images;
    if (hk_images_split(s->source, t->seed, U, T, V, &d->train_images, &d->test_images, &d->val_images)) return -1;
    d->hidden = hk_malloc((size_t)T * HK_IMG_PIXELS);
    hk_pixel_task_build(t, &d->train_images, s->coords_per_image, 0, &d->train, NULL);
    hk_pixel_task_build(t, &d->test_images, 0, 1, &d->test, d->hidden);
    if (V > 0) { /* 5 G random hidden pixels of each validation image: what the test scores */
        unsigned char *vh = hk_malloc((size_t)V * HK_IMG_PIXELS);
        hk_pixel_task_build(t, &d->val_images, 0, 2, &d->val, vh);
        int n = 0, hid[HK_IMG_PIXELS], pick[HK_IMG_PIXELS];
        int *xid = hk_malloc((size_t)d->val.in.n * sizeof(int) + 1);
        double *y = hk_malloc((size_t)d->val.in.n * sizeof(double) + 1);
        double *z = hk_malloc((size_t)d->val.in.n * 2 * sizeof(double) + 1);
        struct hk_rng rng;
        hk_rng_seed(&rng, (uint64_t)t->seed, 103);
        for (int u = 0; u < V; u++) {
            int nh = 0;
            for (int p = 0; p < HK_IMG_PIXELS; p++)
                if (vh[(size_t)u * HK_IMG_PIXELS + p]) hid[nh++] = p;
            int G = 5 * s->coords_per_image < nh ? 5 * s->coords_per_image : nh;
            sample_distinct(&rng, nh, G, pick);
            for (int g = 0; g < G; g++, n++) {
                int i = u * HK_IMG_PIXELS + hid[pick[g]];
                xid[n] = d->val.xid[i], y[n] = d->val.y[i];
                z[2 * n] = d->val.z[2 * i], z[2 * n + 1] = d->val.z[2 * i + 1];
            }
        }
        free(d->val.xid), free(d->val.y), free(d->val.z);
        d->val.xid = xid, d->val.y = y, d->val.z = z;
        d->val.in.n = n, d->val.in.xid = xid, d->val.in.z = z;
        free(vh);
    }
    hk_pixel_task_finish(&d->train, &d->test, V > 0 ? &d->val : NULL, s->center_x);
    for (int u = 0; u < U; u++)
        for (int q = 0; q < HK_IMG_PIXELS; q++)
            d->mean_image[q] += d->train_images.pix[(size_t)u * HK_IMG_PIXELS + q] / U;
    if (s->prior_is_mean_image) memcpy(d->prior, d->mean_image, sizeof d->prior);
    /* the methods fit y - prior(pixel); the pixel is read off z before any embedding */
    struct hk_dataset *fitted[2] = {&d->train, &d->val};
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < fitted[f]->in.n; i++) {
            int col = (int)lround((fitted[f]->z[2 * i] + 1) * (HK_IMG_SIDE - 1) / 2);
            int row = (int)lround((fitted[f]->z[2 * i + 1] + 1) * (HK_IMG_SIDE - 1) / 2);
            fitted[f]->y[i] -= d->prior[row * HK_IMG_SIDE + col];
        }
    if (s->fourier_z) {
        hk_embed_fourier(&d->train, s->embedding_width, s->embedding_lengthscale, t->seed);
        hk_embed_fourier(&d->test, s->embedding_width, s->embedding_lengthscale, t->seed);
        if (V > 0) hk_embed_fourier(&d->val, s->embedding_width, s->embedding_lengthscale, t->seed);
    }
    return 0;
}

void hk_pixel_data_free(struct hk_pixel_data *d)
{
    free(d->hidden);
    hk_dataset_free(&d->train);
    hk_dataset_free(&d->test);
    hk_dataset_free(&d->val);
    hk_image_set_free(&d->val_images);
    hk_image_set_free(&d->train_images);
    hk_image_set_free(&d->test_images);
    d->hidden = NULL;
}

void hk_rotation_build(const struct hk_rotation_task *t, const struct hk_image_set *imgs, long stream,
                       struct hk_dataset *d, int *labels)
{
    memset(d, 0, sizeof *d);
    const int S = t->samples_per_image, n = imgs->n * S, dx = HK_IMG_PIXELS + 1, dz = HK_IMG_PIXELS;
    d->x = hk_malloc((size_t)n * dx * sizeof(double) + 1);
    d->z = hk_malloc((size_t)n * dz * sizeof(double) + 1);
    d->xid = hk_malloc((size_t)n * sizeof(int) + 1);
    d->y = hk_malloc((size_t)n * sizeof(double) + 1);
    struct hk_rng rng;
    hk_rng_seed(&rng, (uint64_t)t->seed, 200 + (uint64_t)stream);
    float rot[HK_IMG_PIXELS];
    for (int u = 0; u < imgs->n; u++)
        for (int s = 0; s < S; s++) {
            int i = u * S + s;
            double a1 = 360 * hk_rng_uniform(&rng);
            int c = (int)(hk_rng_next(&rng) % HK_ROTATION_CLASSES);
            double a2 = 30.0 * c + t->jitter * (2 * hk_rng_uniform(&rng) - 1);
            const float *img = imgs->pix + (size_t)u * HK_IMG_PIXELS;
            double *x = d->x + (size_t)i * dx, *z = d->z + (size_t)i * dz;
            hk_image_rotate(img, a1, rot);
            for (int p = 0; p < HK_IMG_PIXELS; p++) x[p] = rot[p];
            x[dx - 1] = 1;
            to_sphere(x, dx);
            hk_image_rotate(img, a1 + a2, rot);
            double s2 = 0;
            for (int p = 0; p < HK_IMG_PIXELS; p++) z[p] = rot[p], s2 += z[p] * z[p];
            if (s2 > 0) for (int p = 0; p < HK_IMG_PIXELS; p++) z[p] *= sqrt(dz / s2);
            d->xid[i] = i;
            labels[i] = c;
            d->y[i] = c;
        }
    d->in = (struct hk_inputs){.n = n, .nx = n, .dx = dx, .x = d->x, .dz = dz, .z = d->z, .xid = d->xid};
}
