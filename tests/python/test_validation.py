"""Hyperparameters chosen on validation images, never on test, and the plain
MLP on (x, z) as a finite baseline:
- each kernel's ridge is the grid's least validation MSE, and its test
  predictions are those of a fit at that ridge alone (a second run without
  validation);
- each finite network's lr is the grid's least validation loss, the network
  kept is the one of its best epoch (retraining for exactly that many epochs
  without validation gives the same test error), early stopping waited
  `patience` epochs, and the loss curves are recorded;
- the MLP's parameter count is the hand count of its layers;
- rotation runs the MLP and picks its lr the same way."""
import numpy as np

from test_image_experiments import run

COMPLETION = """
experiment: image-completion
params:
  data: synthetic
  train_images: 40
  coords_per_image: 20
  test_images: 8
  embedding_width: 32
  width_f: 32
  width_g: 8
  width_mlp: 48
  epochs: {epochs}
  patience: {patience}
  batch_size: 32
  methods: [{methods}]
  uncertainty: false
  validation_images: {val}
  ridge: {ridge}
  lr: {lr}
  ridge_grid: [1.0e-4, 1.0e-2, 1.0, 100.0]
  lr_grid: [0.003, 0.03, 0.3]
sweep:
  seeds: [3]
"""


def config(**kw):
    args = dict(epochs=12, patience=3, methods="Th, Kh, hypernet, mlp", val=10, ridge=0.1, lr=0.05)
    args.update(kw)
    return COMPLETION.format(**args)


def test_choices_are_the_validation_minimum_and_are_what_is_used(tmp_path):
    m, arrays = run(tmp_path, config(), "sel")
    assert m["n_val"] == 10 * 5 * 20           # 5 G hidden pixels of each validation image
    grid = np.array([1e-4, 1e-2, 1.0, 100.0])
    for k in ("Th", "Kh"):
        val = arrays[f"mse_val_by_ridge_{k}"]
        assert val.shape == (4,) and np.all(np.isfinite(val)) and np.ptp(val) > 1e-4 * val.min(), val
        assert m[f"ridge_{k}"] == grid[np.argmin(val)]
        # the same test predictions as a fit at that ridge, without validation
        alone, _ = run(tmp_path, config(methods=k, val=0, ridge=m[f"ridge_{k}"]), f"alone-{k}")
        assert alone[f"mse_hidden_{k}"] == np.float64(m[f"mse_hidden_{k}"]) or \
            abs(alone[f"mse_hidden_{k}"] - m[f"mse_hidden_{k}"]) <= 1e-12 * m[f"mse_hidden_{k}"], (k, alone, m)
    lrs = np.array([0.003, 0.03, 0.3])
    assert any(m[f"epochs_best_{net}"] > 0 for net in ("hypernet", "mlp")), m   # the retraining check below runs
    for net in ("hypernet", "mlp"):
        by_lr = arrays[f"loss_val_by_lr_{net}"]
        assert by_lr.shape == (3,) and np.isfinite(by_lr).any()
        assert m[f"lr_{net}"] == lrs[np.nanargmin(by_lr)]
        curve, train = arrays[f"loss_val_per_epoch_{net}"], arrays[f"loss_train_per_epoch_{net}"]
        ran, best = int(m[f"epochs_run_{net}"]), int(m[f"epochs_best_{net}"])
        assert curve.shape == train.shape == (13,)
        assert np.all(np.isfinite(curve[:ran + 1])) and np.all(np.isnan(curve[ran + 1:]))
        assert np.nanargmin(curve) == best and curve[best] == by_lr[np.nanargmin(by_lr)]
        assert ran == 12 or ran - best == 3, (ran, best)           # patience 3
        assert m[f"still_improving_{net}"] in (0, 1)
        if ran < 12:
            assert m[f"still_improving_{net}"] == 0
        assert train[0] > 0 and np.all(np.isfinite(train[:ran + 1]))
        # the network kept is its best epoch: retrain exactly that long, at that lr, without validation
        if best > 0:
            again, _ = run(tmp_path, config(methods=net, val=0, lr=m[f"lr_{net}"], epochs=best, patience=0),
                           f"again-{net}")
            assert abs(again[f"mse_hidden_{net}"] - m[f"mse_hidden_{net}"]) <= 1e-10 * m[f"mse_hidden_{net}"], \
                (net, again[f"mse_hidden_{net}"], m[f"mse_hidden_{net}"])
    # the MLP counts its layers: n (dx + dz) + (depth - 1) n^2 + n, dx = 784 + 1, dz = 32, depth = 2 + 3
    n, dx, dz, depth = 48, 785, 32, 5
    assert m["parameters_mlp"] == n * (dx + dz) + (depth - 1) * n * n + n
    # the kernels beat the prior (the mean image); the finite networks, which start at it and keep their
    # best validation epoch, end within 5 % of it or better at this size
    for method in ("Th", "Kh"):
        assert m[f"mse_hidden_{method}"] < m["mse_hidden_mean_image"], (method, m)
    for method in ("hypernet", "mlp"):
        assert m[f"mse_hidden_{method}"] < 1.05 * m["mse_hidden_mean_image"], (method, m)


ROTATION = """
experiment: rotation
params:
  data: synthetic
  train_images: 60
  test_images: 30
  validation_images: 10
  samples_per_image: 5
  width_mlp: 64
  epochs: 5
  patience: 2
  lr_grid: [0.01, 0.3]
  ridge_grid: [1.0e-3, 1.0]
  methods: [mlp, Tmlp]
sweep:
  seeds: [1]
"""


def test_rotation_runs_the_mlp_and_chooses_on_validation(tmp_path):
    m, arrays = run(tmp_path, ROTATION, "rot")
    assert m["n_val"] == 50
    by_lr = arrays["loss_val_by_lr_mlp"]
    assert m["lr_mlp"] == [0.01, 0.3][int(np.nanargmin(by_lr))]
    assert m["ridge_Tmlp"] == [1e-3, 1.0][int(np.argmin(arrays["mse_val_by_ridge_Tmlp"]))]
    # 784 + 1 and 784 inputs, 3 + 1 + 2 hidden layers (f, bottleneck, g) of 64, 12 outputs
    assert m["parameters_mlp"] == 64 * (785 + 784) + 5 * 64 * 64 + 64 * 12
    acc = arrays["accuracy_test_per_epoch_mlp"]
    assert acc.shape == (6,) and acc[int(m["epochs_best_mlp"])] == m["accuracy_test_mlp"]
    assert m["accuracy_test_mlp"] > m["accuracy_chance"], m


def test_validation_rows_in_several_blocks_give_the_same_choices(tmp_path):
    # the ridge search fills K(val, train) once, test_chunk rows a block: 1,000
    # validation pixels in blocks of 97 (11 blocks, the last one short) must give
    # the validation errors of one block
    one, a1 = run(tmp_path, config(methods="Th, Kh"), "one")
    many, a2 = run(tmp_path, config(methods="Th, Kh").replace("  uncertainty: false\n",
                                                                 "  uncertainty: false\n  test_chunk: 97\n"), "many")
    for k in ("Th", "Kh"):
        v1, v2 = a1[f"mse_val_by_ridge_{k}"], a2[f"mse_val_by_ridge_{k}"]
        assert v1.shape == (4,) and np.all(np.isfinite(v1)) and np.allclose(v2, v1, rtol=1e-10, atol=0), (k, v1, v2)
        assert many[f"ridge_{k}"] == one[f"ridge_{k}"]
        assert abs(many[f"mse_hidden_{k}"] - one[f"mse_hidden_{k}"]) <= 1e-10 * one[f"mse_hidden_{k}"]
