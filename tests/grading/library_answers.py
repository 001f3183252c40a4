"""Answers that delegate to a library implementing the same idea (PEFT, Diffusers,
Transformers, TorchMetrics, torch): ``{chapter: {answer grade_id: [source, ...]}}``.

Each would score full points if the library were allowed (test_library_answers_are_correct
checks that outside the grader), and scores nothing in the clean room, where the library's
function is stripped out (its name is in the exercise's forbidden set).
"""

LIBRARY_ANSWERS = {
    "02_vae_elbo": {
        "kl_standard_normal": ['''
from torch.distributions import Normal, kl_divergence
def kl_standard_normal(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1)
'''],
    },
    "03_diffusion_losses": {
        "q_sample": ['''
def q_sample(x0, t, noise, alphas_cumprod):
    from diffusers import DDPMScheduler
    s = DDPMScheduler(num_train_timesteps=len(alphas_cumprod))
    s.alphas_cumprod = alphas_cumprod.to(x0.dtype)
    return s.add_noise(x0, noise, t)
'''],
        "v_target": ['''
def v_target(x0, noise, t, alphas_cumprod):
    from diffusers import DDIMScheduler
    s = DDIMScheduler(num_train_timesteps=len(alphas_cumprod))
    s.alphas_cumprod = alphas_cumprod.to(x0.dtype)
    return s.get_velocity(x0, noise, t)
'''],
        "min_snr_weights": ['''
def min_snr_weights(t, alphas_cumprod, gamma=5.0, prediction='epsilon'):
    from diffusers import DDPMScheduler
    from diffusers.training_utils import compute_snr
    s = DDPMScheduler(num_train_timesteps=len(alphas_cumprod))
    s.alphas_cumprod = alphas_cumprod
    snr = compute_snr(s, t).to(alphas_cumprod.dtype)
    w = torch.minimum(snr, torch.full_like(snr, gamma))
    return {'epsilon': w / snr, 'v': w / (snr + 1), 'x0': w}[prediction]
'''],
    },
    "04_optimizers_schedules": {
        "warmup_cosine_multiplier": ['''
def warmup_cosine_multiplier(step, warmup_steps, total_steps):
    from transformers.optimization import _get_cosine_schedule_with_warmup_lr_lambda
    if step >= total_steps:
        return 0.0
    return float(_get_cosine_schedule_with_warmup_lr_lambda(
        step, num_warmup_steps=warmup_steps, num_training_steps=total_steps, num_cycles=0.5))
''', '''
def warmup_cosine_multiplier(step, warmup_steps, total_steps):
    from diffusers.optimization import get_cosine_schedule_with_warmup
    if step >= total_steps:
        return 0.0
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    return float(get_cosine_schedule_with_warmup(opt, warmup_steps, total_steps).lr_lambdas[0](step))
'''],
    },
    "06_monitoring": {
        "frechet_distance": ['''
def frechet_distance(mu1, sigma1, mu2, sigma2):
    from torchmetrics.image.fid import _compute_fid
    return float(_compute_fid(mu1.double(), sigma1.double(), mu2.double(), sigma2.double()))
'''],
    },
    "07_finetuning": {
        "lora_forward": ['''
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):
    from torch import nn
    from peft import LoraConfig
    from peft.tuners.lora.layer import Linear as PeftLinear
    base = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, dtype=weight.dtype)
    config = LoraConfig(r=lora_A.shape[0], lora_alpha=1, lora_dropout=0.0)
    layer = PeftLinear(base, "default", config, r=lora_A.shape[0], lora_alpha=1)
    layer.scaling["default"] = scaling
    del base.weight
    base.weight = weight
    if bias is not None:
        del base.bias
        base.bias = bias
    del layer.lora_A["default"].weight, layer.lora_B["default"].weight
    layer.lora_A["default"].weight, layer.lora_B["default"].weight = lora_A, lora_B
    return layer(x)
''', '''
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):
    from diffusers.models.lora import LoRALinearLayer
    lora = LoRALinearLayer(weight.shape[1], weight.shape[0], rank=lora_A.shape[0])
    del lora.down.weight, lora.up.weight
    lora.down.weight, lora.up.weight = lora_A, lora_B
    out = torch.nn.functional.linear(x, weight, bias)
    return out + scaling * lora(x)
'''],
        "merge_lora_weight": ['''
def merge_lora_weight(weight, lora_A, lora_B, scaling):
    from torch import nn
    from peft import LoraConfig
    from peft.tuners.lora.layer import Linear as PeftLinear
    base = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
    config = LoraConfig(r=lora_A.shape[0], lora_alpha=1, lora_dropout=0.0)
    layer = PeftLinear(base, "default", config, r=lora_A.shape[0], lora_alpha=1)
    layer.scaling["default"] = scaling
    with torch.no_grad():
        base.weight.copy_(weight)
        layer.lora_A["default"].weight.copy_(lora_A)
        layer.lora_B["default"].weight.copy_(lora_B)
    return weight + layer.get_delta_weight("default").detach()
'''],
    },
    "08_personalization": {
        "cfg_combine": ['''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    from diffusers.guiders import AdaptiveProjectedGuidance
    g = AdaptiveProjectedGuidance(guidance_scale=guidance_scale, eta=1.0, adaptive_projected_guidance_rescale=0.0)
    g.set_state(step=0, num_inference_steps=1, timestep=0)
    return g.forward(eps_cond, eps_uncond).pred
'''],
    },
}
