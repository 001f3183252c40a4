"""Chapter 08's cfg_combine exercise in the clean room: right answers pass, wrong or delegating ones don't."""

from __future__ import annotations

import pytest
from cleanroom_cases import grade_cells

CHAPTER = "08_personalization"

RIGHT_OTHER_WAY = '''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    return torch.lerp(eps_uncond, eps_cond, guidance_scale)  # u + w (c - u)
'''
RIGHT_AS_IN_THE_PAPER = '''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    # Ho & Salimans write (1 + s) eps_c - s eps_u with s = w - 1
    s = guidance_scale - 1
    return (1 + s) * eps_cond - s * eps_uncond
'''
ROLES_SWAPPED = '''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    return eps_cond + guidance_scale * (eps_uncond - eps_cond)
'''
NO_ANCHOR = '''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    return eps_uncond + guidance_scale * eps_cond
'''
EXTRAPOLATES_FROM_COND = '''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    return eps_cond + guidance_scale * (eps_cond - eps_uncond)
'''
DELEGATES_TO_GENLAB = '''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    from genlab.finetune import guidance
    return guidance.cfg_combine(eps_uncond, eps_cond, guidance_scale)
'''
DELEGATES_TO_DIFFUSERS = '''
def cfg_combine(eps_uncond, eps_cond, guidance_scale):
    from diffusers.guiders import ClassifierFreeGuidance
    guider = ClassifierFreeGuidance(guidance_scale=guidance_scale)
    guider.set_state(step=0, num_inference_steps=1, timestep=0)
    return guider.forward(eps_cond, eps_uncond).pred
'''


@pytest.mark.parametrize("answer", [RIGHT_OTHER_WAY, RIGHT_AS_IN_THE_PAPER])
def test_cfg_combine_written_another_way_gets_full_points(answer):
    assert grade_cells(CHAPTER, {"cfg_combine": answer})["test_cfg_combine"] == 3


@pytest.mark.parametrize("answer", [ROLES_SWAPPED, NO_ANCHOR, EXTRAPOLATES_FROM_COND,
                                    DELEGATES_TO_GENLAB, DELEGATES_TO_DIFFUSERS])
def test_cfg_combine_wrong_or_delegating_answers_get_nothing(answer):
    assert grade_cells(CHAPTER, {"cfg_combine": answer})["test_cfg_combine"] == 0
