/* image_tasks: the MNIST tasks of docs/experiments.md (E2, E3, E4) as
 * datasets the kernels and the hypernetwork read.
 *
 * Completion and inpainting, one point per (image, pixel):
 *   x = the image as the model sees it, minus the training mean of that
 *       (centring, optional), then a constant 1, scaled so that |x|^2 = dx
 *       (the kernels without biases only see directions):
 *       completion: the 784 pixels with the bottom half (rows 14..27) zeroed;
 *       inpainting: the values of C context pixels, at positions drawn
 *       once from the seed and shared by every image (so two images are
 *       compared on the same pixels), in pixel order;
 *   z = the pixel's (column, row) scaled to [-1, 1] (then embedded by the
 *       caller if configured);
 *   y = the pixel's intensity in [0, 1].
 * Rotation, one point per (image, a1, a2):
 *   x = the image rotated by a1 ~ U[0, 360), then a constant 1, |x|^2 = dx;
 *   z = the image rotated by a1 + a2, |z|^2 = dz;
 *   class c ~ U{0..11}, a2 = 30 c + U(-jitter, jitter) degrees.
 * Everything random comes from (seed, stream), identical on every rank. */
#ifndef HK_IMAGE_TASKS_H
#define HK_IMAGE_TASKS_H

#include "hk/data.h"
#include "hk/images.h"

enum hk_pixel_mode { HK_COMPLETION, HK_INPAINTING };

struct hk_pixel_task {
    enum hk_pixel_mode mode;
    int context;            /* C: shown pixels per image (inpainting) */
    long seed;
};

/* The dataset of a set of images: coords_per_image > 0 samples that many
 * distinct pixels per image (training), 0 takes every pixel in order
 * (testing: point i * 784 + p is pixel p of image i). `stream` separates
 * the training and test draws. If hidden is not NULL it gets, per image and
 * pixel, 1 where the pixel is hidden from x. */
void hk_pixel_task_build(const struct hk_pixel_task *t, const struct hk_image_set *imgs, int coords_per_image,
                         long stream, struct hk_dataset *d, unsigned char *hidden);
/* The x of one image (length hk_pixel_task_dx), as in the dataset. */
int hk_pixel_task_dx(const struct hk_pixel_task *t);
/* Finishes x of the training, test and validation (if not NULL) sets built above: subtracts the
 * training mean of x (if centre), appends the constant and scales each x to
 * |x|^2 = dx. Until then x holds the raw pixels (and mask). */
void hk_pixel_task_finish(struct hk_dataset *train, struct hk_dataset *test, struct hk_dataset *val, int centre);

/* Everything a pixel task's point fits and scores on, built from a source
 * and a seed: the image split, the training set (U images x G sampled
 * pixels; y = intensity minus the prior), the test set (every pixel of the
 * held-out images; y = intensity), which test pixels x hides, the mean
 * training image (the trivial baseline) and the prior the methods fit
 * around (the mean image, or zero). x is finished (hk_pixel_task_finish),
 * z embedded when asked. */
struct hk_pixel_spec {
    const char *source;          /* `hksweep data mnist` file, or synthetic[:N] */
    int train_images, coords_per_image, test_images;
    int validation_images;       /* V: more images, never fitted, for choosing hyperparameters (0: none) */
    int center_x;                /* subtract the training mean of x */
    int prior_is_mean_image;     /* 0: zero prior */
    int fourier_z;               /* embed z with random Fourier features */
    int embedding_width;
    double embedding_lengthscale;
};
struct hk_pixel_data {
    struct hk_image_set train_images, test_images, val_images;
    struct hk_dataset train, test;
    struct hk_dataset val;       /* 5 G hidden pixels of each validation image; y = intensity minus the prior */
    unsigned char *hidden;       /* test_images x 784 */
    double mean_image[HK_IMG_PIXELS], prior[HK_IMG_PIXELS];
};
/* 0, or -1 with a message when the images cannot be read (d is then safe to
 * free). Not collective: a team checks with hk_all_ok. */
int hk_pixel_data_build(const struct hk_pixel_task *t, const struct hk_pixel_spec *s, struct hk_pixel_data *d);
void hk_pixel_data_free(struct hk_pixel_data *d);

struct hk_rotation_task {
    int samples_per_image;
    double jitter;          /* degrees */
    long seed;
};
#define HK_ROTATION_CLASSES 12

/* n = imgs->n * samples_per_image points, each with its own x; labels[i]
 * in 0..11. */
void hk_rotation_build(const struct hk_rotation_task *t, const struct hk_image_set *imgs, long stream,
                       struct hk_dataset *d, int *labels);

#endif
