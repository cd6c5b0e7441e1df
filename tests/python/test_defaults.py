"""Every kind with a trivial baseline beats it at its defaults with its
main methods (the kernels; rotation's hypernetwork; the regression kinds'
one model): a config that names only the experiment, run on 2 ranks (the
synthetic digits for the image kinds). The image kinds' finite networks are
only held to within 10 % of the mean image, which they start from: at 50
images they overfit within a few epochs (README, "What the defaults run"). kernel-convergence and dynamics-convergence measure distances
between finite networks and their kernels and have no trivial baseline; the
README says what their defaults run."""
import pytest

from test_image_experiments import run


def only_the_kind(kind):
    return f"experiment: {kind}\n"


def test_regression_defaults_beat_the_mean_predictor(tmp_path):
    m, _ = run(tmp_path, only_the_kind("hyperkernel-regression"), "reg")
    assert m["mse_test_Th"] < 0.95 * m["mse_test_mean_predictor"], m


def test_training_defaults_beat_the_mean_predictor(tmp_path):
    m, _ = run(tmp_path, only_the_kind("hypernet-training"), "train")
    assert m["mse_test_final"] < m["mse_test_mean_predictor"], m


@pytest.mark.parametrize("kind", ["image-completion", "image-inpainting"])
def test_pixel_defaults_beat_the_mean_image(tmp_path, kind):
    m, _ = run(tmp_path, only_the_kind(kind), "px")
    base = m["mse_hidden_mean_image"]
    for method in ("Th", "Kh", "Tmlp"):
        assert m[f"mse_hidden_{method}"] < 0.98 * base, (method, m)
    # the finite networks start at the prior (the mean image) and keep their best validation epoch; at
    # 50 images they overfit within a few epochs and end near it (README, "What the defaults run")
    for method in ("hypernet", "mlp"):
        assert m[f"mse_hidden_{method}"] < 1.1 * base, (method, m)


def test_rotation_defaults_beat_the_majority_class(tmp_path):
    m, _ = run(tmp_path, only_the_kind("rotation"), "rot")
    assert m["accuracy_test_hypernet"] > m["accuracy_test_majority"] + 0.08, m
    assert m["accuracy_test_hypernet"] > m["accuracy_chance"] + 0.08, m
