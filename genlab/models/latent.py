"""Latent priors for generators: where the noise ``z`` comes from (chapter 01_gan_losses).

A generator is a continuous map. Fed a *connected* prior such as ``N(0, I)``, its output
is connected too, so a generator that covers several separate modes must also put some
samples on the bridges between them (Khayatkhoei et al. 2018, "Disconnected manifold
learning for generative adversarial networks"; Tanielian et al. 2020, "Learning
disconnected manifolds: a no GAN's land"). A mixture prior with well-separated
components is disconnected: the generator can send each component to one mode and leave
the gaps empty (a Gaussian-mixture latent as in DeLiGAN, Gurumurthy et al. 2017, here
with fixed, not learned, components).

Both priors draw ``(n, dim)`` float32 tensors and take a ``temperature``: the standard
deviation of the Gaussian noise is multiplied by it at sampling time. A temperature
below 1 trades diversity for precision, the idea of BigGAN's truncation trick (Brock et
al. 2019) and of Glow's reduced-temperature sampling (Kingma and Dhariwal 2018).
"""

from __future__ import annotations

import torch

from genlab._checks import check_int, check_positive


class GaussianPrior:
    """The standard normal prior ``N(0, I)`` in ``dim`` dimensions."""

    def __init__(self, dim: int):
        self.dim = check_int("dim", dim, minimum=1)

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               temperature: float = 1.0, device: torch.device | str | None = None
               ) -> torch.Tensor:
        """``n`` latent vectors ``(n, dim)``: ``temperature * N(0, I)``, on ``device``.

        Without a ``generator`` the noise is drawn on ``device`` directly (no copy per
        training step); a seeded ``generator`` draws on the CPU, so results do not depend
        on the device."""
        check_int("n", n, minimum=1)
        check_positive("temperature", temperature, allow_zero=True)
        if generator is None:
            return temperature * torch.randn(n, self.dim, device=device)
        z = temperature * torch.randn(n, self.dim, generator=generator)
        return z.to(device) if device is not None else z

    def __repr__(self) -> str:
        return f"GaussianPrior(dim={self.dim})"


class MixturePrior:
    """An equal-weight mixture of ``n_components`` isotropic Gaussians in ``dim`` dimensions.

    The component means are drawn once from ``N(0, I)`` with ``seed`` and then fixed; each
    component has standard deviation ``component_std``. In 8 dimensions random means lie
    about 4 apart, so with ``component_std=0.05`` the components are far from touching
    and the prior is, in effect, ``n_components`` separate islands.

    Attributes: ``means`` ``(n_components, dim)``, ``component_std``, ``dim``.
    """

    def __init__(self, dim: int = 8, n_components: int = 128, component_std: float = 0.05,
                 seed: int = 0):
        self.dim = check_int("dim", dim, minimum=1)
        self.n_components = check_int("n_components", n_components, minimum=1)
        self.component_std = check_positive("component_std", component_std)
        self.seed = check_int("seed", seed, minimum=0)
        rng = torch.Generator().manual_seed(seed)
        self.means = torch.randn(n_components, dim, generator=rng)

    def sample(self, n: int, *, generator: torch.Generator | None = None,
               temperature: float = 1.0, device: torch.device | str | None = None
               ) -> torch.Tensor:
        """``n`` latent vectors ``(n, dim)``: a uniformly chosen component's mean plus
        ``temperature * component_std * N(0, I)``, on ``device``."""
        check_int("n", n, minimum=1)
        check_positive("temperature", temperature, allow_zero=True)
        index = torch.randint(self.n_components, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator)
        z = self.means[index] + (temperature * self.component_std) * noise
        return z.to(device) if device is not None else z

    def component_of(self, z: torch.Tensor) -> torch.Tensor:
        """Index ``(n,)`` of the nearest component mean of each row of ``z`` ``(n, dim)``."""
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"z must have shape (n, {self.dim}), got {tuple(z.shape)}")
        return torch.cdist(z.float().cpu(), self.means).argmin(dim=1)

    def __repr__(self) -> str:
        return (f"MixturePrior(dim={self.dim}, n_components={self.n_components}, "
                f"component_std={self.component_std}, seed={self.seed})")


def make_prior(kind: str, dim: int, **options) -> GaussianPrior | MixturePrior:
    """``"gaussian"`` -> :class:`GaussianPrior` (``dim``), ``"mixture"`` ->
    :class:`MixturePrior` (``dim`` and ``options``: n_components, component_std, seed)."""
    if not isinstance(kind, str):
        raise ValueError(f"kind must be 'gaussian' or 'mixture', got a {type(kind).__name__}")
    if kind == "gaussian":
        if options:
            raise ValueError(f"the gaussian prior takes no options, got {sorted(options)}")
        return GaussianPrior(dim)
    if kind == "mixture":
        return MixturePrior(dim, **options)
    raise ValueError(f"kind must be 'gaussian' or 'mixture', got {kind!r}")


__all__ = ["GaussianPrior", "MixturePrior", "make_prior"]
