"""Classifier-free guidance: the formula, the hand loop against StableDiffusionPipeline, the sweep."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from genlab.finetune.guidance import cfg_combine, digit_prompts, guidance_sweep, guided_sample  # noqa: E402
from genlab.metrics import prompts as P  # noqa: E402
from genlab.pretrained import digits_t2i as T  # noqa: E402

# The hand loop and the pipeline run the same float32 operations in the same order (same
# noise draw, same [uncond, cond] batch, same scheduler calls), so on one machine they agree
# bit for bit. 1e-5 on images in [0, 1] (about 100 float32 ulps at 1.0) only leaves room for
# a different kernel path elsewhere; the wrong formulas below miss by > 1e-2.
TOL = 1e-5


@pytest.fixture(scope="module")
def parts():
    # The shipped, trained model: its conditional and unconditional predictions really
    # differ, so a wrong guidance formula changes the images by a lot.
    return T.load_digits_t2i(device="cpu")


@pytest.fixture(scope="module")
def pipe(parts):
    return T.make_pipeline(parts, "cpu")


PROMPTS = ["a handwritten digit three", "digit seven", "the digit zero", "four"]


# ---------------------------------------------------------------- cfg_combine

@pytest.mark.parametrize("w", [0.0, 1.0, 2.5, 7.5])
def test_cfg_combine_is_the_closed_form(w):
    g = torch.Generator().manual_seed(0)
    u = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)
    c = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64)
    # (1 - w) u + w c: the same line written another way (float64: agreement to round-off)
    torch.testing.assert_close(cfg_combine(u, c, w), (1 - w) * u + w * c, rtol=1e-12, atol=1e-12)


def test_cfg_combine_at_zero_is_unconditional_and_at_one_conditional():
    g = torch.Generator().manual_seed(1)
    u, c = torch.randn(2, 4, 5, 5, generator=g, dtype=torch.float64).unbind()
    assert torch.equal(cfg_combine(u, c, 0.0), u)  # u + 0 * (c - u) is exactly u
    # u + (c - u) equals c up to one float64 rounding of the subtraction
    torch.testing.assert_close(cfg_combine(u, c, 1.0), c, rtol=0, atol=1e-15)


def test_cfg_combine_gradients_are_one_minus_w_and_w():
    u = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    gu, gc = torch.autograd.grad(cfg_combine(u, c, 4.0).sum(), (u, c))
    torch.testing.assert_close(gu, torch.full_like(u, -3.0))
    torch.testing.assert_close(gc, torch.full_like(c, 4.0))


def test_cfg_combine_rejects_bad_input():
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="same shape"):
        cfg_combine(x, torch.zeros(2, 1, 4, 4), 3.0)
    with pytest.raises(ValueError, match="guidance_scale"):
        cfg_combine(x, x, -1.0)
    with pytest.raises(TypeError, match="eps_cond"):
        cfg_combine(x, x.numpy(), 3.0)
    with pytest.raises(TypeError, match="guidance_scale"):
        cfg_combine(x, x, "3")


# ---------------------------------------------------------------- the hand loop = the pipeline

@pytest.mark.parametrize("w", [1.0, 3.0, 7.5])
def test_hand_loop_gives_the_pipelines_images(parts, pipe, w):
    ours = guided_sample(parts, PROMPTS, w, 10, torch.Generator().manual_seed(3))
    theirs_pt = pipe(PROMPTS, guidance_scale=w, num_inference_steps=10, output_type="pt",
                     generator=torch.Generator().manual_seed(3)).images
    theirs_np = pipe(PROMPTS, guidance_scale=w, num_inference_steps=10, output_type="np",
                     generator=torch.Generator().manual_seed(3)).images
    as_unit = ((ours + 1) / 2).clamp(0, 1)  # the pipeline's postprocess of [-1, 1] images
    torch.testing.assert_close(as_unit, theirs_pt, rtol=0, atol=TOL)
    np.testing.assert_allclose(as_unit.permute(0, 2, 3, 1).numpy(), theirs_np, rtol=0, atol=TOL)


def test_hand_loop_gives_the_pipelines_images_with_ddim_noise(parts, pipe):
    # eta = 1: the generator also draws each step's noise, in the same order in both loops
    ours = guided_sample(parts, PROMPTS, 3.0, 10, torch.Generator().manual_seed(4), eta=1.0)
    theirs = pipe(PROMPTS, guidance_scale=3.0, num_inference_steps=10, eta=1.0, output_type="pt",
                  generator=torch.Generator().manual_seed(4)).images
    torch.testing.assert_close(((ours + 1) / 2).clamp(0, 1), theirs, rtol=0, atol=TOL)


WRONG_COMBINES = {
    "roles swapped": lambda u, c, w: c + w * (u - c),
    "no unconditional anchor": lambda u, c, w: u + w * c,
    "extrapolates from the conditional": lambda u, c, w: c + w * (c - u),
    "forgot the anchor": lambda u, c, w: w * (c - u),
}


@pytest.mark.parametrize("name", sorted(WRONG_COMBINES))
def test_a_wrong_guidance_formula_misses_the_pipeline_by_far_more_than_the_tolerance(parts, pipe, name):
    theirs = pipe(PROMPTS, guidance_scale=3.0, num_inference_steps=10, output_type="pt",
                  generator=torch.Generator().manual_seed(3)).images
    wrong = guided_sample(parts, PROMPTS, 3.0, 10, torch.Generator().manual_seed(3),
                          combine=WRONG_COMBINES[name])
    assert (((wrong + 1) / 2).clamp(0, 1) - theirs).abs().max() > 1000 * TOL


def test_the_clip_sample_default_breaks_the_match(parts, pipe):
    # DDIMScheduler's default clip_sample=True: the pipeline would have rewritten it, the
    # hand loop would not; this is why every sampler is built with clip_sample=False.
    from diffusers import DDIMScheduler

    clipped = DDIMScheduler.from_config(parts.noise_scheduler.config, clip_sample=True,
                                        steps_offset=1)
    ours = guided_sample(parts, PROMPTS, 5.0, 10, torch.Generator().manual_seed(3),
                         scheduler=clipped)
    theirs = pipe(PROMPTS, guidance_scale=5.0, num_inference_steps=10, output_type="pt",
                  generator=torch.Generator().manual_seed(3)).images
    assert (((ours + 1) / 2).clamp(0, 1) - theirs).abs().max() > 1000 * TOL


def test_guided_sample_rejects_bad_input(parts):
    with pytest.raises(TypeError, match="prompts"):
        guided_sample(parts, [], 3.0)
    with pytest.raises(ValueError, match="guidance_scale"):
        guided_sample(parts, "digit one", -2.0)
    with pytest.raises(ValueError, match="num_inference_steps"):
        guided_sample(parts, "digit one", 3.0, 0)


# ---------------------------------------------------------------- the measures

def test_prompt_accuracy_reads_real_digits_as_their_labels():
    from genlab.data import load_digits

    images, labels = load_digits("test")
    assert P.prompt_accuracy(images, labels) > 0.97
    assert P.prompt_accuracy(images, (labels + 1) % 10) < 0.05


def test_within_class_spread_is_the_mean_pairwise_feature_distance():
    from genlab.data import load_digits
    from genlab.metrics.fid import digits_features

    images, labels = load_digits("test")
    images, labels = images[:40], labels[:40]
    features = digits_features(images).double()
    per_digit = []
    for k in labels.unique():
        group = features[labels == k]
        pairs = list(itertools.combinations(range(len(group)), 2))
        if pairs:
            per_digit.append(sum(float((group[i] - group[j]).norm()) for i, j in pairs) / len(pairs))
    assert P.within_class_spread(images, labels) == pytest.approx(np.mean(per_digit), rel=1e-9)
    with pytest.raises(ValueError, match="two images"):
        P.within_class_spread(images[:1], labels[:1])
    with pytest.raises(ValueError, match="entries"):
        P.prompt_accuracy(images, labels[:3])


def test_guidance_sweep_rows_and_the_trade_off(parts):
    rows = guidance_sweep(parts, (1.0, 5.0), n_per_class=6, seed=0, num_inference_steps=10)
    assert [r["guidance_scale"] for r in rows] == [1.0, 5.0]
    assert set(rows[0]) == {"guidance_scale", "accuracy", "fid", "diversity", "ink", "cpu_seconds"}
    # strong guidance concentrates each prompt's samples (fewer looks per digit)
    assert rows[1]["diversity"] < rows[0]["diversity"]
    prompts, digits = digit_prompts(2)
    assert prompts[0] == "a handwritten digit zero" and digits.tolist()[-2:] == [9, 9]
