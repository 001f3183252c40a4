"""Few-shot GAN transfer: the digits DCGAN pretrained on 0-8 adapted to nines from ~20 images.

Chapter 07 (fine-tuning), section 9. Start from ``genlab.pretrained.dcgan_digits_0to8``
and keep training both networks on a handful of nines:

- **full fine-tuning**: every parameter of G and D trains;
- **FreezeD** (Mo, Cho and Shin 2020, "Freeze the discriminator: a simple baseline for
  fine-tuning GANs"): D's lowest layers keep their pretrained weights, since their
  generic low-level features transfer and a few images are too few to relearn them.

Every ``eval_every`` steps the generator is measured on a fixed batch of noise:
digits-FID against *validation* nines (``fid_nines``, the quality that matters and the
one early stopping selects on), against separate *test* nines when the evaluator has them
(``fid_test``: reported, never used to choose), digits-FID
against the test split's 0-8 (``fid_0to8``: how much of the old task is forgotten), the
share the shipped classifier reads as a 9 (``share_nine``), and the mean feature distance
from each sample to its nearest training image (``nn_train``) and to its nearest image
in an equally large set of held-out nines (``nn_held_out``): a generator that learned
"nines" is as close to one set as to the other; one that copies its twenty images gets
closer to them than to new nines (``nn_train < nn_held_out``), i.e. it overfits.
**Early stopping** keeps the generator of the lowest ``fid_nines`` and puts it back at
the end (optionally stopping after ``patience`` evaluations without a new minimum).
:func:`few_shot_split` gives the three disjoint sets, and :func:`real_fid_floor` the FID of
real nines against real nines at the same sample sizes, with its spread over draws: the
yard stick a generator's FID is read against (FID is biased upwards for few samples).

Why not ``genlab.finetune.loop.finetune``: a GAN step is two alternating updates with
two optimizers (D on real and fake, then G through D), which that one-model,
one-loss loop cannot express without hiding one network inside the other. The GAN step
is the course's own ``genlab.train.gan_digits.train_gan_digits`` (non-saturating loss,
Adam with DCGAN's betas); this module adds what transfer needs around it as one
callback of that loop: evaluation and early stopping, which ends the run through
``state.stop`` (the loop brings the progress bar, the NaN guard and Ctrl-C). The figures
are in :mod:`genlab.viz.gan_transfer`.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import torch

from genlab._checks import check_int, check_positive, check_tensor
from genlab.data import load_digits
from genlab.metrics.fid import digits_features, fid_from_features
from genlab.pretrained.digits_features import load_digits_features
from genlab.train.gan_digits import train_gan_digits
from genlab.train.history import History
from genlab.train.loop import Callback, LoopState

__all__ = [
    "TransferConfig",
    "TransferEvaluator",
    "class_histogram",
    "few_shot_nines",
    "few_shot_split",
    "patience_stop_step",
    "real_fid_floor",
    "freeze_discriminator_layers",
    "transfer_gan",
]

NINE = 9


@dataclass
class TransferConfig:
    """Settings of one transfer run (defaults from the fine-tuning study, Q6).

    steps: D-and-G updates. lr: Adam learning rate of both networks, betas (0.5, 0.999)
    as in DCGAN (Radford et al. 2016). batch_size: real images per D update, drawn with
    replacement from the few-shot set. freeze_d: FreezeD, the number of D's lowest
    layers (counted from the input, layers with weights) that stay frozen; 0 is full
    fine-tuning. eval_every / eval_samples: the evaluation schedule and its sample
    count (FID is biased upward for few samples: compare curves with equal counts).
    patience: stop after this many evaluations without a new ``fid_nines`` minimum
    (None runs every step). restore_best: load the best generator back at the end.
    progress: tqdm bar; None = on, except under NBGRADER_EXECUTION and pytest.
    """

    steps: int = 400
    lr: float = 2e-4
    batch_size: int = 20
    freeze_d: int = 0
    eval_every: int = 25
    eval_samples: int = 300
    patience: int | None = None
    restore_best: bool = True
    seed: int = 0
    progress: bool | None = None

    def __post_init__(self):
        check_int("steps", self.steps, minimum=1)
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, minimum=1)
        check_int("freeze_d", self.freeze_d, minimum=0)
        check_int("eval_every", self.eval_every, minimum=1)
        check_int("eval_samples", self.eval_samples, minimum=2)
        if self.patience is not None:
            check_int("patience", self.patience, minimum=1)
        check_int("seed", self.seed, minimum=0)

    @property
    def method(self) -> str:
        return "full" if self.freeze_d == 0 else f"FreezeD ({self.freeze_d})"


def few_shot_nines(n_train: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, held_out)`` nines of scikit-learn's digits, ``(n, 1, 8, 8)`` in [-1, 1].

    All 180 nines of the data set (the 0-8 GAN never saw one) are shuffled with ``seed``;
    the first ``n_train`` are the few-shot training set, the rest are held out for FID.
    """
    check_int("n_train", n_train, minimum=1)
    images, labels = load_digits("all")
    nines = images[labels == NINE]
    if n_train > len(nines) - 2:
        raise ValueError(f"n_train must be <= {len(nines) - 2} so that at least two nines "
                         f"are held out, got {n_train}")
    order = torch.randperm(len(nines), generator=torch.Generator().manual_seed(seed))
    return nines[order[:n_train]], nines[order[n_train:]]


def few_shot_split(n_train: int = 20, n_validation: int = 80, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(train, validation, test)`` nines, disjoint, each ``(n, 1, 8, 8)`` in [-1, 1].

    ``train`` is :func:`few_shot_nines`'s training set (same ``seed``); its held-out nines
    are split into the first ``n_validation`` (model selection: early stopping, choosing
    a setting) and the rest (``test``: the number reported, never used to choose).
    """
    train, held_out = few_shot_nines(n_train, seed)
    check_int("n_validation", n_validation, minimum=2)
    if n_validation > len(held_out) - 2:
        raise ValueError(f"n_validation must be <= {len(held_out) - 2} so that at least two "
                         f"test nines remain, got {n_validation}")
    return train, held_out[:n_validation], held_out[n_validation:]


def real_fid_floor(images: torch.Tensor, n_sample: int, n_reference: int, draws: int = 20,
                   seed: int = 0) -> torch.Tensor:
    """Digits-FID of real images against real images, at given sample sizes: ``(draws,)``.

    Each draw splits ``images`` at random into disjoint sets of ``n_sample`` ("samples")
    and ``n_reference`` (the reference) and scores one against the other. A generator
    whose FID with ``n_sample`` samples against ``n_reference`` real images falls inside
    this spread is as close to the real distribution as the metric can tell at these
    sizes. (Chapter 06: compare FIDs only at equal sample counts.)
    """
    _check_images("images", images, minimum=4)
    check_int("n_sample", n_sample, minimum=2)
    check_int("n_reference", n_reference, minimum=2)
    check_int("draws", draws, minimum=1)
    if n_sample + n_reference > len(images):
        raise ValueError(f"n_sample + n_reference must be <= len(images) = {len(images)}, "
                         f"got {n_sample} + {n_reference}")
    features = digits_features(images)
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(draws):
        order = torch.randperm(len(images), generator=g)
        values.append(fid_from_features(features[order[n_sample:n_sample + n_reference]],
                                        features[order[:n_sample]]))
    return torch.tensor(values)


def patience_stop_step(history, patience: int, key: str = "fid_nines") -> int | None:
    """The step at which early stopping with ``patience`` would end a recorded run.

    history: a :class:`History` whose ``key`` series was logged at every evaluation of a
    run without patience (a run with patience is the same run until it stops). Returns
    the step of the evaluation after which ``patience`` evaluations in a row found no new
    minimum, or None if the run never got there.
    """
    check_int("patience", patience, minimum=1)
    best, since = float("inf"), 0
    for step, value in zip(history.steps[key], history[key]):
        if value < best:
            best, since = value, 0
        else:
            since += 1
            if since >= patience:
                return step
    return None


def _weighted_layers(discriminator: torch.nn.Module) -> list[torch.nn.Module]:
    """D's layers that hold weights, in forward order (input first)."""
    return [m for m in discriminator.modules()
            if not list(m.children()) and any(True for _ in m.parameters(recurse=False))]


def freeze_discriminator_layers(discriminator: torch.nn.Module, n_layers: int) -> int:
    """FreezeD: turn off ``requires_grad`` in D's ``n_layers`` lowest weighted layers.

    Layers are counted from the input (for ``DigitsDiscriminator``: conv 1, conv 2, the
    linear head). At least the last layer must stay trainable. Works in place and returns
    the number of frozen parameters. Frozen parameters get no gradient, so Adam leaves
    them exactly as they were.
    """
    check_int("n_layers", n_layers, minimum=0)
    layers = _weighted_layers(discriminator)
    if n_layers >= len(layers):
        raise ValueError(f"n_layers must be < {len(layers)} (the discriminator has "
                         f"{len(layers)} weighted layers; the last must train), got {n_layers}")
    frozen = 0
    for layer in layers[:n_layers]:
        for p in layer.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


class TransferEvaluator:
    """Measures a generator against held-out nines, the old digits and the training set.

    ``evaluator(generator)`` draws ``n_samples`` images from a fixed noise batch (seeded,
    so successive evaluations see the generator change, not the noise, and the global
    random state is untouched) and returns ``{"fid_nines", "fid_0to8", "share_nine",
    "nn_train", "nn_held_out"}`` (see the module docstring), plus ``"fid_test"`` when
    ``test`` nines are given. ``held_out`` are the validation nines (``fid_nines``, what
    early stopping selects on); ``test`` nines are only reported. Features are the shipped
    digits feature network's 32-d penultimate layer; real features are computed once.
    """

    def __init__(self, train: torch.Tensor, held_out: torch.Tensor, n_samples: int = 300,
                 seed: int = 0, test: torch.Tensor | None = None):
        _check_images("train", train, minimum=1)
        _check_images("held_out", held_out, minimum=2)
        check_int("n_samples", n_samples, minimum=2)
        self.n_samples = n_samples
        self.seed = seed
        self.train_features = digits_features(train)
        self.held_out_features = digits_features(held_out)
        if test is not None:
            _check_images("test", test, minimum=2)
        self.test_features = None if test is None else digits_features(test)
        # As many held-out nines as training images, so the two nearest-neighbour
        # distances are taken over sets of the same size and compare fairly.
        self.held_out_subset = self.held_out_features[:len(train)]
        test_images, test_labels = load_digits("test")
        self.old_features = digits_features(test_images[test_labels != NINE])

    def samples(self, generator: torch.nn.Module) -> torch.Tensor:
        """The ``(n_samples, 1, 8, 8)`` images of the fixed noise batch, on the CPU."""
        rng = torch.Generator().manual_seed(self.seed)
        z = torch.randn(self.n_samples, generator.latent_dim, generator=rng)
        device = next(generator.parameters()).device
        was_training = generator.training
        generator.eval()
        try:
            with torch.no_grad():
                return generator(z.to(device)).float().cpu()
        finally:
            generator.train(was_training)

    def __call__(self, generator: torch.nn.Module) -> dict[str, float]:
        features = digits_features(self.samples(generator))
        classes = load_digits_features().head(features).argmax(1)
        return {
            "fid_nines": fid_from_features(self.held_out_features, features),
            "fid_0to8": fid_from_features(self.old_features, features),
            "share_nine": (classes == NINE).float().mean().item(),
            "nn_train": torch.cdist(features, self.train_features).min(1).values.mean().item(),
            "nn_held_out": torch.cdist(features, self.held_out_subset).min(1).values.mean().item(),
            **({} if self.test_features is None
               else {"fid_test": fid_from_features(self.test_features, features)}),
        }


def class_histogram(generator: torch.nn.Module, n: int = 300, seed: int = 0) -> torch.Tensor:
    """Share of ``n`` samples the shipped digits classifier puts in each class: ``(10,)``.

    The noise is drawn from a generator seeded with ``seed`` (the global state is untouched).
    """
    check_int("n", n, minimum=1)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, generator.latent_dim, generator=rng)
    with torch.no_grad():
        images = generator(z.to(next(generator.parameters()).device)).float().cpu()
        classes = load_digits_features()(images).argmax(1)
    return torch.bincount(classes, minlength=10).float() / n


def _check_images(name: str, images, minimum: int) -> None:
    check_tensor(name, images, ndim=4)
    if tuple(images.shape[1:]) != (1, 8, 8) or len(images) < minimum:
        raise ValueError(f"{name} must have shape (n, 1, 8, 8) with n >= {minimum}, "
                         f"got {tuple(images.shape)}")


class _EvaluateAndStop(Callback):
    """Logs ``evaluate(step)`` every ``every`` steps and at the last; sets ``state.stop``
    once ``patience`` evaluations in a row found no new minimum (None: never stops).
    ``first`` (the values before training) is logged at step 0."""

    def __init__(self, evaluate, first: dict, every: int, last: int, patience, best: dict):
        self.evaluate, self.first, self.every, self.last = evaluate, first, every, last
        self.patience, self.best, self.stopped_early = patience, best, False

    def on_train_begin(self, state: LoopState) -> dict:
        return self.first

    def on_step_end(self, state: LoopState) -> dict | None:
        if state.step % self.every and state.step != self.last:
            return None
        values = self.evaluate(state.step)
        if self.patience is not None and self.best["since"] >= self.patience:
            state.stop = self.stopped_early = True
        return values


def transfer_gan(generator: torch.nn.Module, discriminator: torch.nn.Module,
                 images: torch.Tensor, held_out: torch.Tensor,
                 config: TransferConfig | None = None,
                 evaluator: TransferEvaluator | None = None) -> History:
    """Fine-tune a pretrained GAN on the few-shot ``images``; keep the best generator.

    generator, discriminator: e.g. ``load_dcgan_digits_0to8()``; both are trained in
    place (D's lowest ``config.freeze_d`` layers are frozen first, and stay frozen).
    images: the few-shot training set ``(n, 1, 8, 8)`` in [-1, 1]; held_out: real images
    of the target class ``(m, 1, 8, 8)`` for FID, never trained on. evaluator: a ready
    :class:`TransferEvaluator` (built from ``images`` and ``held_out`` by default; pass
    one to share its real features between runs).

    Returns a :class:`History`: per step ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``;
    at step 0 and every ``eval_every`` steps the evaluator's series. ``meta``: the
    settings, ``method``, ``best_step`` and ``best_fid`` (the ``fid_nines`` minimum; the
    generator holds those weights when ``restore_best``), ``steps_done``,
    ``stopped_early``, ``interrupted`` (Ctrl-C keeps the record so far and still restores
    the best generator), ``frozen_d_parameters``, ``trainable_d_parameters``,
    ``train_seconds`` and ``eval_seconds`` (CPU process time). A non-finite loss raises
    :class:`~genlab.train.history.DivergenceError` holding the history.
    """
    config = config or TransferConfig()
    if not isinstance(config, TransferConfig):
        raise TypeError(f"config must be a TransferConfig, got {type(config).__name__}")
    if not hasattr(generator, "latent_dim"):
        raise TypeError("generator must have a latent_dim attribute (e.g. DigitsGenerator)")
    _check_images("images", images, minimum=1)
    _check_images("held_out", held_out, minimum=2)
    if evaluator is None:
        evaluator = TransferEvaluator(images, held_out, config.eval_samples, config.seed)
    frozen = freeze_discriminator_layers(discriminator, config.freeze_d)

    eval_seconds = 0.0
    best = {"fid": float("inf"), "step": 0, "state": None, "since": 0}

    def evaluate(step: int) -> dict[str, float]:
        nonlocal eval_seconds
        start = time.process_time()
        values = evaluator(generator)
        if values["fid_nines"] < best["fid"]:
            best.update(fid=values["fid_nines"], step=step, since=0,
                        state=copy.deepcopy(generator.state_dict()))
        else:
            best["since"] += 1
        eval_seconds += time.process_time() - start
        return values

    evaluation = _EvaluateAndStop(evaluate, evaluate(0),  # 0: the pretrained generator
                                  config.eval_every, config.steps, config.patience, best)
    loop_start, eval_before_loop = time.process_time(), eval_seconds
    # the loop brings the bar, the NaN guard and Ctrl-C (meta["interrupted"])
    history = train_gan_digits(
        generator, discriminator, config.steps, images=images,
        batch_size=config.batch_size, lr_g=config.lr, lr_d=config.lr,
        callback=evaluation, seed=config.seed, progress=config.progress)
    # CPU time of the training steps alone: the loop's time minus the evaluations in it.
    train_seconds = time.process_time() - loop_start - (eval_seconds - eval_before_loop)
    if config.restore_best and best["state"] is not None:
        generator.load_state_dict(best["state"])
    history.meta.update(
        config=asdict(config), method=config.method, best_step=best["step"],
        best_fid=best["fid"], stopped_early=evaluation.stopped_early,
        frozen_d_parameters=frozen,
        trainable_d_parameters=sum(p.numel() for p in discriminator.parameters()
                                   if p.requires_grad),
        train_seconds=train_seconds, eval_seconds=eval_seconds,
    )
    return history
