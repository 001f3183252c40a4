"""Answers that the hidden checks must tell apart, per answer cell of chapters 00-06.

For each answer cell: ``right`` is correct but written differently from the solution;
``wrong`` holds plausible mistakes (each must lose the points); ``delegate`` calls
genlab's (or torch's) reference and must lose them too.
"""

CATALOG = {
    "00_welcome": {
        "count_parameters": {
            "test": "test_count_parameters",
            "right": (
                "def count_parameters(model):\n"
                "    total = 0\n"
                "    for p in model.parameters():\n"
                "        if p.requires_grad:\n"
                "            total += int(torch.tensor(p.shape).prod()) if p.dim() else 1\n"
                "    return total\n"),
            "wrong": [
                "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters())\n",
                "def count_parameters(model):\n"
                "    return sum(v.numel() for v in model.state_dict().values())\n",
                # counts a tied weight twice
                "def count_parameters(model):\n"
                "    return sum(p.numel() for m in model.children() for p in m.parameters()\n"
                "               if p.requires_grad)\n",
            ],
            "delegate": (
                "from genlab.finetune.freeze import trainable_parameters\n"
                "def count_parameters(model):\n    return trainable_parameters(model)\n"),
        },
    },
    "01_gan_losses": {
        "d_loss_minimax": {
            "test": "test_d_loss_minimax",
            "right": (
                "def d_loss_minimax(real_logits, fake_logits, real_target=1.0):\n"
                "    bce = torch.nn.functional.binary_cross_entropy_with_logits\n"
                "    return (bce(real_logits, torch.full_like(real_logits, real_target))\n"
                "            + bce(fake_logits, torch.zeros_like(fake_logits)))\n"),
            "wrong": [
                # probabilities first: log(sigmoid) overflows for confident logits
                "def d_loss_minimax(real_logits, fake_logits, real_target=1.0):\n"
                "    p, q = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)\n"
                "    return (-(real_target * torch.log(p) + (1 - real_target) * torch.log(1 - p)).mean()\n"
                "            - torch.log(1 - q).mean())\n",
                # ignores real_target
                "def d_loss_minimax(real_logits, fake_logits, real_target=1.0):\n"
                "    F = torch.nn.functional\n"
                "    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()\n",
            ],
            "delegate": (
                "def d_loss_minimax(real_logits, fake_logits, real_target=1.0):\n"
                "    return genlab.losses.gan.d_loss_minimax(real_logits, fake_logits, real_target)\n"),
        },
        "g_loss_nonsaturating": {
            "test": "test_g_loss_nonsaturating",
            "right": ("def g_loss_nonsaturating(fake_logits):\n"
                      "    return -torch.nn.functional.logsigmoid(fake_logits).mean()\n"),
            "wrong": [
                "def g_loss_nonsaturating(fake_logits):\n"
                "    return -torch.log(torch.sigmoid(fake_logits)).mean()\n",
                # the saturating (minimax) loss
                "def g_loss_nonsaturating(fake_logits):\n"
                "    return torch.nn.functional.logsigmoid(-fake_logits).mean()\n",
            ],
            "delegate": ("def g_loss_nonsaturating(fake_logits):\n"
                         "    return -genlab.losses.gan.g_loss_minimax(-fake_logits) + 0.0\n"),
        },
        "lsgan": {
            "test": "test_lsgan",
            "right": ("def d_loss_lsgan(real_out, fake_out, a=0.0, b=1.0):\n"
                      "    mse = torch.nn.functional.mse_loss\n"
                      "    return (mse(real_out, torch.full_like(real_out, b))\n"
                      "            + mse(fake_out, torch.full_like(fake_out, a))) / 2\n"
                      "def g_loss_lsgan(fake_out, c=1.0):\n"
                      "    return torch.nn.functional.mse_loss(fake_out, torch.full_like(fake_out, c)) / 2\n"),
            "wrong": [
                # no 1/2
                "def d_loss_lsgan(real_out, fake_out, a=0.0, b=1.0):\n"
                "    return ((real_out - b) ** 2).mean() + ((fake_out - a) ** 2).mean()\n"
                "def g_loss_lsgan(fake_out, c=1.0):\n    return ((fake_out - c) ** 2).mean()\n",
                # labels swapped
                "def d_loss_lsgan(real_out, fake_out, a=0.0, b=1.0):\n"
                "    return 0.5 * ((real_out - a) ** 2).mean() + 0.5 * ((fake_out - b) ** 2).mean()\n"
                "def g_loss_lsgan(fake_out, c=1.0):\n    return 0.5 * ((fake_out - c) ** 2).mean()\n",
            ],
            "delegate": ("from genlab.losses.gan import GAN_LOSSES\n"
                         "def d_loss_lsgan(real_out, fake_out, a=0.0, b=1.0):\n"
                         "    return GAN_LOSSES['lsgan'].d_loss(real_out, fake_out, a, b)\n"
                         "def g_loss_lsgan(fake_out, c=1.0):\n"
                         "    return GAN_LOSSES['lsgan'].g_loss(fake_out, c)\n"),
        },
        "gradient_penalty": {
            "test": "test_gradient_penalty",
            "right": (
                "def gradient_penalty(critic, real, fake, weight=10.0):\n"
                "    n = real.shape[0]\n"
                "    eps = torch.rand(n, dtype=real.dtype).reshape(n, *([1] * (real.dim() - 1)))\n"
                "    x = torch.lerp(fake.detach(), real.detach(), eps).requires_grad_()\n"
                "    g = torch.autograd.grad(critic(x), x, torch.ones_like(critic(x)), create_graph=True)[0]\n"
                "    return weight * (g.reshape(n, -1).pow(2).sum(1).sqrt() - 1).pow(2).mean()\n"),
            "wrong": [
                # one eps for the whole batch
                "def gradient_penalty(critic, real, fake, weight=10.0):\n"
                "    eps = torch.rand(1, dtype=real.dtype)\n"
                "    x = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)\n"
                "    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)\n"
                "    return weight * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()\n",
                # no create_graph: the penalty does not reach the critic's weights
                "def gradient_penalty(critic, real, fake, weight=10.0):\n"
                "    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype)\n"
                "    x = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)\n"
                "    (g,) = torch.autograd.grad(critic(x).sum(), x)\n"
                "    return weight * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()\n",
                # norm over the last dimension only
                "def gradient_penalty(critic, real, fake, weight=10.0):\n"
                "    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), dtype=real.dtype)\n"
                "    x = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)\n"
                "    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)\n"
                "    return weight * ((g.norm(dim=-1) - 1) ** 2).mean()\n",
            ],
            "delegate": ("import genlab.train.gan as tg\n"
                         "def gradient_penalty(critic, real, fake, weight=10.0):\n"
                         "    return genlab.losses.gan.gradient_penalty(critic, real, fake, weight)\n"),
        },
        "hinge": {
            "test": "test_hinge",
            "right": ("def d_loss_hinge(real_out, fake_out):\n"
                      "    return (1 - real_out).clamp(min=0).mean() + (1 + fake_out).clamp(min=0).mean()\n"
                      "def g_loss_hinge(fake_out):\n    return -(fake_out.sum() / fake_out.numel())\n"),
            "wrong": [
                "def d_loss_hinge(real_out, fake_out):\n"
                "    return torch.relu(-real_out).mean() + torch.relu(fake_out).mean()\n"
                "def g_loss_hinge(fake_out):\n    return -fake_out.mean()\n",
                "def d_loss_hinge(real_out, fake_out):\n"
                "    return torch.relu(1 - real_out).mean() + torch.relu(1 + fake_out).mean()\n"
                "def g_loss_hinge(fake_out):\n    return torch.relu(1 - fake_out).mean()\n",
            ],
            "delegate": ("from genlab.losses import gan as _g\n"
                         "def d_loss_hinge(real_out, fake_out, _f=_g.get_gan_loss('hinge')):\n"
                         "    return _f.d_loss(real_out, fake_out)\n"
                         "def g_loss_hinge(fake_out):\n    return _g.g_loss_hinge(fake_out)\n"),
        },
    },
    "02_vae_elbo": {
        "kl_standard_normal": {
            "test": "test_kl_standard_normal",
            "right": ("def kl_standard_normal(mu, logvar):\n"
                      "    var = torch.exp(logvar)\n"
                      "    return torch.sum(mu * mu + var - torch.log(var) - 1, dim=1) / 2\n"),
            "wrong": [
                "def kl_standard_normal(mu, logvar):\n"
                "    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=-1)\n",
                "def kl_standard_normal(mu, logvar):\n"
                "    return -0.5 * (1 + logvar - mu.pow(2) - logvar).sum(dim=-1)\n",
            ],
            "delegate": ("def kl_standard_normal(mu, logvar):\n"
                         "    return vae_losses.kl_per_latent_dim(mu, logvar).sum(-1)\n"),
        },
        "reparameterize": {
            "test": "test_reparameterize",
            "right": ("def reparameterize(mu, logvar):\n"
                      "    std = torch.exp(logvar / 2)\n"
                      "    return torch.addcmul(mu, std, torch.randn(mu.shape, dtype=mu.dtype))\n"),
            "wrong": [
                # the variance instead of the standard deviation
                "def reparameterize(mu, logvar):\n"
                "    return mu + torch.exp(logvar) * torch.randn_like(mu)\n",
                # one noise value per call, shared by every entry
                "def reparameterize(mu, logvar):\n"
                "    return mu + torch.exp(0.5 * logvar) * torch.randn(())\n",
            ],
            "delegate": ("from functools import partial\n"
                         "reparameterize = partial(vae_losses.reparameterize)\n"),
        },
        "elbo_loss": {
            "test": "test_elbo_loss",
            "right": (
                "import torch.nn.functional as F\n"
                "def elbo_loss(x, logits, mu, logvar, beta=1.0):\n"
                "    t = (x + 1) / 2\n"
                "    nll = F.softplus(logits) - t * logits\n"
                "    recon = nll.reshape(len(x), -1).sum(1).mean()\n"
                "    kl = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).sum(1).mean()\n"
                "    return recon + beta * kl, recon, kl\n"),
            "wrong": [
                # BCE on sigmoid(logits): clamped (wrong) where sigmoid rounds to 0 or 1
                "import torch.nn.functional as F\n"
                "def elbo_loss(x, logits, mu, logvar, beta=1.0):\n"
                "    bce = F.binary_cross_entropy(torch.sigmoid(logits), (x + 1) / 2, reduction='none')\n"
                "    recon = bce.flatten(1).sum(dim=1).mean()\n"
                "    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(dim=1).mean()\n"
                "    return recon + beta * kl, recon, kl\n",
                # mean over pixels instead of the sum
                "import torch.nn.functional as F\n"
                "def elbo_loss(x, logits, mu, logvar, beta=1.0):\n"
                "    recon = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2) * 1.0\n"
                "    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(dim=1).mean()\n"
                "    return recon + beta * kl, recon, kl\n",
                # KL summed over the batch
                "import torch.nn.functional as F\n"
                "def elbo_loss(x, logits, mu, logvar, beta=1.0):\n"
                "    bce = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction='none')\n"
                "    recon = bce.flatten(1).sum(dim=1).mean()\n"
                "    kl = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum()\n"
                "    return recon + beta * kl, recon, kl\n",
            ],
            "delegate": ("def elbo_loss(x, logits, mu, logvar, beta=1.0):\n"
                         "    return tuple(genlab.losses.vae.elbo_loss(x, logits, mu, logvar, beta))\n"),
        },
    },
    "03_diffusion_losses": {
        "q_sample": {
            "test": "test_q_sample",
            "right": ("def q_sample(x0, t, noise, alphas_cumprod):\n"
                      "    a = alphas_cumprod.to(x0.dtype).gather(0, t)\n"
                      "    a = a.reshape((-1,) + (1,) * (x0.dim() - 1))\n"
                      "    return torch.sqrt(a) * x0 + torch.sqrt(1.0 - a) * noise\n"),
            "wrong": [
                "def q_sample(x0, t, noise, alphas_cumprod):\n"
                "    a = alphas_cumprod[t].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))\n"
                "    return a * x0 + (1 - a) * noise\n",
                # off by one: t counted from 1
                "def q_sample(x0, t, noise, alphas_cumprod):\n"
                "    a = alphas_cumprod[t - 1].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))\n"
                "    return a.sqrt() * x0 + (1 - a).sqrt() * noise\n",
            ],
            "delegate": ("q_sample = lambda x0, t, noise, abar, _D=D: _D.q_sample(x0, t, noise, abar)\n"),
        },
        "v_target": {
            "test": "test_v_target",
            "right": ("def v_target(x0, noise, t, alphas_cumprod):\n"
                      "    a = alphas_cumprod.to(x0.dtype)[t].reshape(-1, *[1] * (x0.dim() - 1))\n"
                      "    return torch.sqrt(a) * noise - torch.sqrt(1 - a) * x0\n"),
            "wrong": [
                "def v_target(x0, noise, t, alphas_cumprod):\n"
                "    a = alphas_cumprod[t].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))\n"
                "    return a.sqrt() * x0 - (1 - a).sqrt() * noise\n",
                "def v_target(x0, noise, t, alphas_cumprod):\n"
                "    a = alphas_cumprod[t].to(x0.dtype).view(-1, *([1] * (x0.ndim - 1)))\n"
                "    return a.sqrt() * noise + (1 - a).sqrt() * x0\n",
            ],
            "delegate": ("def v_target(x0, noise, t, alphas_cumprod):\n"
                         "    return D.prediction_target(x0, noise, t, alphas_cumprod, 'v')\n"),
        },
        "eps_to_x0": {
            "test": "test_eps_to_x0",
            "right": ("def eps_to_x0(x_t, eps, t, alphas_cumprod):\n"
                      "    a = alphas_cumprod[t].to(x_t.dtype).reshape(-1, *[1] * (x_t.dim() - 1))\n"
                      "    return x_t / a.sqrt() - eps * ((1 - a) / a).sqrt()\n"),
            "wrong": [
                "def eps_to_x0(x_t, eps, t, alphas_cumprod):\n"
                "    a = alphas_cumprod[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))\n"
                "    return (x_t - (1 - a) * eps) / a.sqrt()\n",
                "def eps_to_x0(x_t, eps, t, alphas_cumprod):\n"
                "    a = alphas_cumprod[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))\n"
                "    return (x_t - (1 - a).sqrt() * eps) / a\n",
            ],
            "delegate": ("def eps_to_x0(x_t, eps, t, alphas_cumprod):\n"
                         "    return D.convert_prediction(eps, x_t, t, alphas_cumprod, 'epsilon', 'x0')\n"),
        },
        "min_snr_weights": {
            "test": "test_min_snr_weights",
            "right": ("def min_snr_weights(t, alphas_cumprod, gamma=5.0, prediction='epsilon'):\n"
                      "    a = alphas_cumprod[t]\n"
                      "    snr = a / (1 - a)\n"
                      "    w = torch.minimum(snr, torch.full_like(snr, gamma))\n"
                      "    return {'epsilon': w / snr, 'v': w / (snr + 1), 'x0': w}[prediction]\n"),
            "wrong": [
                "def min_snr_weights(t, alphas_cumprod, gamma=5.0, prediction='epsilon'):\n"
                "    a = alphas_cumprod[t]\n"
                "    snr = a / (1 - a)\n"
                "    return snr.clamp(max=gamma) / snr\n",
                "def min_snr_weights(t, alphas_cumprod, gamma=5.0, prediction='epsilon'):\n"
                "    a = alphas_cumprod[t]\n"
                "    snr = a / (1 - a)\n"
                "    c = snr.clamp(max=gamma)\n"
                "    return {'epsilon': c / snr, 'v': c / snr, 'x0': c}[prediction]\n",
            ],
            "delegate": ("def min_snr_weights(t, alphas_cumprod, gamma=5.0, prediction='epsilon'):\n"
                         "    snr = D.snr(t, alphas_cumprod)\n"
                         "    c = snr.clamp(max=gamma)\n"
                         "    return {'epsilon': c / snr, 'v': c / (snr + 1), 'x0': c}[prediction]\n"),
        },
        "hybrid_loss": {
            "test": "test_hybrid_loss",
            "right": (
                "def hybrid_loss(model_output, x0, noise, x_t, t, alphas_cumprod, lambda_vlb=0.001):\n"
                "    eps, v = model_output.chunk(2, dim=1)\n"
                "    l_simple = ((eps - noise) ** 2).mean(dim=tuple(range(1, eps.dim())))\n"
                "    a = alphas_cumprod[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))\n"
                "    x0_hat = (x_t - (1 - a).sqrt() * eps.detach()) / a.sqrt()\n"
                "    mean = D.posterior_mean_variance(x0_hat, x_t, t, alphas_cumprod)[0]\n"
                "    lv = D.learned_log_variance(v, t, alphas_cumprod)\n"
                "    l_vlb = D.vlb_terms(mean, lv, x0, x_t, t, alphas_cumprod)\n"
                "    return l_simple.mean() + lambda_vlb * alphas_cumprod.numel() * l_vlb.mean()\n"),
            "wrong": [
                # no stop-gradient: L_vlb pulls on the mean
                "def hybrid_loss(model_output, x0, noise, x_t, t, alphas_cumprod, lambda_vlb=0.001):\n"
                "    eps, v = model_output[:, :1], model_output[:, 1:]\n"
                "    l_simple = ((eps - noise) ** 2).flatten(1).mean(1)\n"
                "    x0_hat = D.eps_to_x0(x_t, eps, t, alphas_cumprod)\n"
                "    mean = D.posterior_mean_variance(x0_hat, x_t, t, alphas_cumprod)[0]\n"
                "    l_vlb = D.vlb_terms(mean, D.learned_log_variance(v, t, alphas_cumprod), x0, x_t, t, alphas_cumprod)\n"
                "    return l_simple.mean() + lambda_vlb * len(alphas_cumprod) * l_vlb.mean()\n",
                # forgets the factor T
                "def hybrid_loss(model_output, x0, noise, x_t, t, alphas_cumprod, lambda_vlb=0.001):\n"
                "    eps, v = model_output[:, :1], model_output[:, 1:]\n"
                "    l_simple = ((eps - noise) ** 2).flatten(1).mean(1)\n"
                "    x0_hat = D.eps_to_x0(x_t, eps.detach(), t, alphas_cumprod)\n"
                "    mean = D.posterior_mean_variance(x0_hat, x_t, t, alphas_cumprod)[0]\n"
                "    l_vlb = D.vlb_terms(mean, D.learned_log_variance(v, t, alphas_cumprod), x0, x_t, t, alphas_cumprod)\n"
                "    return l_simple.mean() + lambda_vlb * l_vlb.mean()\n",
            ],
            "delegate": (
                "def hybrid_loss(model_output, x0, noise, x_t, t, alphas_cumprod, lambda_vlb=0.001):\n"
                "    ls, lv = D.hybrid_loss_terms(model_output, x0, noise, x_t, t, alphas_cumprod)\n"
                "    return ls.mean() + lambda_vlb * len(alphas_cumprod) * lv.mean()\n"),
        },
    },
    "04_optimizers_schedules": {
        "adam_update": {
            "test": "test_adam_update",
            "right": (
                "def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
                "    b1, b2 = betas\n"
                "    m = torch.lerp(grad, exp_avg, b1)\n"
                "    v = exp_avg_sq * b2 + grad * grad * (1 - b2)\n"
                "    denom = (v / (1 - b2 ** step)).sqrt() + eps\n"
                "    return param - (lr / (1 - b1 ** step)) * m / denom, m, v\n"),
            "wrong": [
                # eps inside the square root
                "def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
                "    b1, b2 = betas\n"
                "    m = b1 * exp_avg + (1 - b1) * grad\n"
                "    v = b2 * exp_avg_sq + (1 - b2) * grad ** 2\n"
                "    m_hat, v_hat = m / (1 - b1 ** step), v / (1 - b2 ** step)\n"
                "    return param - lr * m_hat / (v_hat + eps).sqrt(), m, v\n",
                # moments updated in place
                "def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
                "    b1, b2 = betas\n"
                "    exp_avg.mul_(b1).add_((1 - b1) * grad)\n"
                "    exp_avg_sq.mul_(b2).add_((1 - b2) * grad ** 2)\n"
                "    m_hat, v_hat = exp_avg / (1 - b1 ** step), exp_avg_sq / (1 - b2 ** step)\n"
                "    return param - lr * m_hat / (v_hat.sqrt() + eps), exp_avg, exp_avg_sq\n",
                # no bias correction
                "def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
                "    b1, b2 = betas\n"
                "    m = b1 * exp_avg + (1 - b1) * grad\n"
                "    v = b2 * exp_avg_sq + (1 - b2) * grad ** 2\n"
                "    return param - lr * m / (v.sqrt() + eps), m, v\n",
            ],
            "delegate": (
                "def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):\n"
                "    p = torch.nn.Parameter(param.clone())\n"
                "    opt = torch.optim.Adam([p], lr=lr, betas=betas, eps=eps)\n"
                "    opt.state[p] = {'step': torch.tensor(float(step - 1)), 'exp_avg': exp_avg.clone(),\n"
                "                    'exp_avg_sq': exp_avg_sq.clone()}\n"
                "    p.grad = grad.clone()\n"
                "    opt.step()\n"
                "    return p.detach(), opt.state[p]['exp_avg'], opt.state[p]['exp_avg_sq']\n"),
        },
        "warmup_cosine_multiplier": {
            "test": "test_warmup_cosine_multiplier",
            "right": (
                "def warmup_cosine_multiplier(step, warmup_steps, total_steps):\n"
                "    if step < warmup_steps:\n"
                "        return float(step) / warmup_steps\n"
                "    if step >= total_steps:\n"
                "        return 0.0\n"
                "    x = (step - warmup_steps) / (total_steps - warmup_steps)\n"
                "    return math.cos(math.pi * x / 2) ** 2\n"),
            "wrong": [
                # warmup from 1 / warmup_steps (off by one)
                "def warmup_cosine_multiplier(step, warmup_steps, total_steps):\n"
                "    if step < warmup_steps:\n"
                "        return (step + 1) / warmup_steps\n"
                "    p = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))\n"
                "    return 0.5 * (1 + math.cos(math.pi * p))\n",
                # no clamp after the end: the cosine comes back up
                "def warmup_cosine_multiplier(step, warmup_steps, total_steps):\n"
                "    if step < warmup_steps:\n"
                "        return step / warmup_steps\n"
                "    p = (step - warmup_steps) / (total_steps - warmup_steps)\n"
                "    return 0.5 * (1 + math.cos(math.pi * p))\n",
            ],
            "delegate": ("from genlab.optim import warmup_cosine_multiplier as _w\n"
                         "def warmup_cosine_multiplier(step, warmup_steps, total_steps):\n"
                         "    return _w(step, warmup_steps, total_steps)\n"),
        },
    },
    "05_stabilization": {
        "clip_by_total_norm": {
            "test": "test_clip_by_total_norm",
            "right": (
                "def clip_by_total_norm(parameters, max_norm):\n"
                "    params = [p for p in parameters if p.grad is not None]\n"
                "    total = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in params))\n"
                "    if total > max_norm:\n"
                "        for p in params:\n"
                "            p.grad *= max_norm / (total + 1e-6)\n"
                "    return total\n"),
            "wrong": [
                # clips each parameter separately
                "def clip_by_total_norm(parameters, max_norm):\n"
                "    total = 0.0\n"
                "    for p in parameters:\n"
                "        if p.grad is not None:\n"
                "            n = float(p.grad.norm())\n"
                "            total += n ** 2\n"
                "            p.grad.mul_(min(1.0, max_norm / (n + 1e-6)))\n"
                "    return total ** 0.5\n",
                # returns the norm after clipping
                "def clip_by_total_norm(parameters, max_norm):\n"
                "    grads = [p.grad for p in parameters if p.grad is not None]\n"
                "    total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))\n"
                "    factor = min(1.0, max_norm / (total + 1e-6))\n"
                "    for g in grads:\n"
                "        g.mul_(factor)\n"
                "    return total * factor\n",
            ],
            "delegate": ("def clip_by_total_norm(parameters, max_norm):\n"
                         "    return float(torch.nn.utils.clip_grad_norm_(list(parameters), max_norm))\n"),
        },
        "top_singular_value": {
            "test": "test_top_singular_value",
            "right": (
                "def top_singular_value(weight, n_iters=20):\n"
                "    w = weight.flatten(1)\n"
                "    v = torch.full((w.shape[1],), w.shape[1] ** -0.5, dtype=w.dtype)\n"
                "    for _ in range(n_iters):\n"
                "        u = torch.nn.functional.normalize(w @ v, dim=0)\n"
                "        v = torch.nn.functional.normalize(w.T @ u, dim=0)\n"
                "    return torch.linalg.vector_norm(w @ v)\n"),
            "wrong": [
                # an SVD: right at convergence, not the recipe after 0 or 1 steps
                "def top_singular_value(weight, n_iters=20):\n"
                "    return torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), 2)\n",
                # u^T W v with an unnormalized start
                "def top_singular_value(weight, n_iters=20):\n"
                "    w = weight.reshape(weight.shape[0], -1)\n"
                "    v = torch.ones(w.shape[1], dtype=w.dtype)\n"
                "    for _ in range(n_iters):\n"
                "        u = w @ v\n        u = u / u.norm()\n        v = w.T @ u\n        v = v / v.norm()\n"
                "    return (w @ v).norm() * 1.0 if n_iters else (w @ v).norm()\n",
            ],
            "delegate": ("def top_singular_value(weight, n_iters=20):\n"
                         "    v0 = torch.ones(weight.reshape(weight.shape[0], -1).shape[1], dtype=weight.dtype)\n"
                         "    return stabilize.spectral_norm_estimate(weight, n_iters, v0=v0 / v0.norm())\n"),
        },
        "d_loss_one_sided": {
            "test": "test_d_loss_one_sided",
            "right": (
                "def d_loss_one_sided(real_logits, fake_logits, smoothing=0.1):\n"
                "    F = nn.functional\n"
                "    t = 1.0 - smoothing\n"
                "    real = (F.softplus(real_logits) - t * real_logits).mean()\n"
                "    return real + F.softplus(fake_logits).mean()\n"),
            "wrong": [
                # smooths the fake labels too
                "def d_loss_one_sided(real_logits, fake_logits, smoothing=0.1):\n"
                "    bce = nn.functional.binary_cross_entropy_with_logits\n"
                "    return (bce(real_logits, torch.full_like(real_logits, 1 - smoothing))\n"
                "            + bce(fake_logits, torch.full_like(fake_logits, smoothing)))\n",
                # sigmoid then log: not stable at logit 100
                "def d_loss_one_sided(real_logits, fake_logits, smoothing=0.1):\n"
                "    p, q = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)\n"
                "    t = 1 - smoothing\n"
                "    return (-(t * p.log() + (1 - t) * (1 - p).log())).mean() - (1 - q).log().mean()\n",
            ],
            "delegate": ("def d_loss_one_sided(real_logits, fake_logits, smoothing=0.1):\n"
                         "    return genlab.losses.gan.d_loss_minimax(real_logits, fake_logits, 1 - smoothing)\n"),
        },
        "loss_scale_step": {
            "test": "test_loss_scale_step",
            "right": (
                "def loss_scale_step(scaled_grads, scale, growth_tracker, growth_factor=2.0,\n"
                "                    backoff_factor=0.5, growth_interval=2000):\n"
                "    finite = all(bool(torch.isfinite(g).all()) for g in scaled_grads)\n"
                "    if not finite:\n"
                "        return None, scale * backoff_factor, 0\n"
                "    tracker = growth_tracker + 1\n"
                "    grown = tracker >= growth_interval\n"
                "    return ([g * (1.0 / scale) for g in scaled_grads],\n"
                "            scale * growth_factor if grown else scale, 0 if grown else tracker)\n"),
            "wrong": [
                # never resets the tracker after an overflow
                "def loss_scale_step(scaled_grads, scale, growth_tracker, growth_factor=2.0,\n"
                "                    backoff_factor=0.5, growth_interval=2000):\n"
                "    if any(not torch.isfinite(g).all() for g in scaled_grads):\n"
                "        return None, scale * backoff_factor, growth_tracker\n"
                "    growth_tracker += 1\n"
                "    if growth_tracker == growth_interval:\n"
                "        return [g / scale for g in scaled_grads], scale * growth_factor, 0\n"
                "    return [g / scale for g in scaled_grads], scale, growth_tracker\n",
                # inf only (nan slips through)
                "def loss_scale_step(scaled_grads, scale, growth_tracker, growth_factor=2.0,\n"
                "                    backoff_factor=0.5, growth_interval=2000):\n"
                "    if any(torch.isinf(g).any() for g in scaled_grads):\n"
                "        return None, scale * backoff_factor, 0\n"
                "    growth_tracker += 1\n"
                "    if growth_tracker == growth_interval:\n"
                "        return [g / scale for g in scaled_grads], scale * growth_factor, 0\n"
                "    return [g / scale for g in scaled_grads], scale, growth_tracker\n",
            ],
            "delegate": (
                "def loss_scale_step(scaled_grads, scale, growth_tracker, growth_factor=2.0,\n"
                "                    backoff_factor=0.5, growth_interval=2000):\n"
                "    grads, inf = stabilize.unscale_gradients(scaled_grads, scale)\n"
                "    s, t = stabilize.loss_scale_update(scale, inf, growth_tracker, growth_factor,\n"
                "                                       backoff_factor, growth_interval)\n"
                "    return (None if inf else grads), s, t\n"),
        },
    },
    "06_monitoring": {
        "frechet_distance": {
            "test": "test_frechet_distance",
            "right": (
                "def frechet_distance(mu1, sigma1, mu2, sigma2):\n"
                "    s1, s2 = sigma1.double(), sigma2.double()\n"
                "    vals, vecs = torch.linalg.eigh(s1)\n"
                "    r = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T\n"
                "    m = torch.linalg.eigvalsh(r @ s2 @ r).clamp(min=0).sqrt().sum()\n"
                "    d = (mu1.double() - mu2.double()).pow(2).sum()\n"
                "    return float(d + s1.trace() + s2.trace() - 2 * m)\n"),
            "wrong": [
                # sqrt of the traces instead of the trace of the matrix square root
                "def frechet_distance(mu1, sigma1, mu2, sigma2):\n"
                "    d = (mu1.double() - mu2.double()).pow(2).sum()\n"
                "    return float(d + sigma1.trace() + sigma2.trace()\n"
                "                 - 2 * (sigma1.double().trace() * sigma2.double().trace()).sqrt())\n",
                # elementwise square root of the product
                "def frechet_distance(mu1, sigma1, mu2, sigma2):\n"
                "    d = (mu1.double() - mu2.double()).pow(2).sum()\n"
                "    prod = sigma1.double() @ sigma2.double()\n"
                "    return float(d + sigma1.trace() + sigma2.trace() - 2 * prod.abs().sqrt().trace())\n",
            ],
            "delegate": ("def frechet_distance(mu1, sigma1, mu2, sigma2):\n"
                         "    return fid_lib.frechet_distance(mu1, sigma1, mu2, sigma2)\n"),
        },
        "inception_score": {
            "test": "test_inception_score",
            "right": (
                "def inception_score(probs):\n"
                "    p = probs.double()\n"
                "    py = p.mean(0)\n"
                "    logs = torch.where(p > 0, p.clamp_min(1e-300).log() - py.log(), torch.zeros_like(p))\n"
                "    return math.exp(float((p * logs).sum(1).mean()))\n"),
            "wrong": [
                # KL the wrong way round
                "def inception_score(probs):\n"
                "    p = probs.double()\n"
                "    py = p.mean(0, keepdim=True)\n"
                "    kl = (torch.xlogy(py, py) - torch.xlogy(py, p.clamp_min(1e-12))).sum(1)\n"
                "    return float(kl.mean().exp())\n",
                # no exp
                "def inception_score(probs):\n"
                "    p = probs.double()\n"
                "    py = p.mean(0, keepdim=True)\n"
                "    return float((torch.xlogy(p, p) - torch.xlogy(p, py)).sum(1).mean())\n",
            ],
            "delegate": ("def inception_score(probs):\n"
                         "    return float(is_lib.inception_score(probs).mean)\n"),
        },
        "best_checkpoint_step": {
            "test": "test_best_checkpoint_step",
            "right": (
                "def best_checkpoint_step(history):\n"
                "    best = None\n"
                "    for step, value in zip(history.steps['fid'], history['fid']):\n"
                "        if math.isfinite(value) and (best is None or value < best[0]):\n"
                "            best = (value, step)\n"
                "    if best is None:\n"
                "        raise ValueError('no finite FID')\n"
                "    return int(best[1])\n"),
            "wrong": [
                # the last of the tied minima
                "def best_checkpoint_step(history):\n"
                "    pairs = [(v, s) for v, s in zip(history['fid'], history.steps['fid']) if v == v]\n"
                "    if not pairs:\n"
                "        raise ValueError('no finite FID')\n"
                "    low = min(v for v, _ in pairs)\n"
                "    return [s for v, s in pairs if v == low][-1]\n",
                # NaN not skipped (min of a list with NaN)
                "def best_checkpoint_step(history):\n"
                "    values = list(history['fid'])\n"
                "    return history.steps['fid'][values.index(min(values))]\n",
            ],
            "delegate": ("def best_checkpoint_step(history):\n"
                         "    return hooks.best_step(history)\n"),
        },
    },
}
