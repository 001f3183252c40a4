# %% [markdown]
# # 07 · Fine-tuning: adapting a pretrained model
#
# (Chapter in progress: the skeleton lists the sections; the text and code land next.)
#
# **What you will learn**
# - why a pretrained model beats training from scratch on a small domain set;
# - how full fine-tuning forgets (catastrophic forgetting), measured step by step;
# - regularization against forgetting: lower learning rate, L2-SP, early stopping;
# - layer freezing and gradual unfreezing; LoRA by hand and with PEFT; bottleneck adapters;
# - prompt tuning, p-tuning and prefix tuning, and why they barely adapt a tiny model;
# - the same Accelerate loop on one CPU, a GPU, or several processes.
#
# **Prerequisites:** chapter 04 (AdamW, warm-up and schedules). **Run time:** about two
# minutes on a laptop CPU, a few seconds while graded.

# %% [markdown]
# ## Setup

# %%
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded
import torch

import genlab

device = genlab.get_device()
genlab.seed_everything(0)
torch.set_num_threads(1)
print(f"genlab {genlab.__version__} on {device}")

# %% [markdown]
# ## 1. Why start from a pretrained model

# %% [markdown]
# ## 2. Full fine-tuning and catastrophic forgetting

# %% [markdown]
# ## 3. Regularization against forgetting and overfitting

# %% [markdown]
# ## 4. Layer freezing and gradual unfreezing

# %% [markdown]
# ## 5. LoRA by hand, then with PEFT

# %% [markdown]
# ## 6. Bottleneck adapters

# %% [markdown]
# ## 7. Prompt tuning, p-tuning and prefix tuning

# %% [markdown]
# ## 8. All methods in one figure

# %% [markdown]
# <!-- section 9: GAN transfer (helper 19b) -->
#
# ## 9. GAN transfer (placeholder: helper 19b fills this section in)

# %% [markdown]
# ## 10. Scaling out: the same loop under `accelerate launch`

# %% [markdown]
# ## Summary
