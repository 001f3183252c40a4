"""Rebuild benchmarks/README.md from the latest tables in benchmarks/results/*.md.

    python benchmarks/make_readme.py
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# (result file, section title, the command that produces it)
SECTIONS = [
    ("chapters.md", "Chapters: run time, memory, autograde time", "python benchmarks/run_chapters.py [--from-tests]"),
    ("chapter_speed.md", "Chapter speed: before and after shipping the long runs (issue 18)", "python benchmarks/profile_chapters.py --threads 2 --tag TAG CHAPTER (before and after, alternating)"),
    ("gan_modes.md", "GAN losses: modes covered on the ring and grid (chapter 01)", "python benchmarks/gan_modes.py"),
    ("vae.md", "VAE: test negative ELBO (chapter 02)", "python benchmarks/vae.py"),
    ("diffusion.md", "Diffusion: epsilon versus v prediction (chapter 03)", "python benchmarks/diffusion.py"),
    ("optim_ablation.md", "Adam beta1 ablation on the ring GAN (chapter 04)", "python benchmarks/optim_ablation.py"),
    ("amp.md", "Mixed precision: fp32 versus autocast (chapter 05)", "python benchmarks/amp.py --threads 1"),
    ("quality.md", "Sample quality per CPU second: digits-FID and IS (chapter 06)", "python benchmarks/quality.py"),
    ("quality_ddpm_3min.md", "DDPM on digits within 3 CPU minutes (chapter 06 target)", "python benchmarks/quality.py (ddpm_3min)"),
    ("quality_ddpm_3min_recipe.md", "DDPM on digits: the warmup-cosine + min-SNR recipe", "python benchmarks/quality.py --recipe minsnr --seeds 0 1 2 --tag ddpm_3min_recipe"),
    ("gan_transfer.md", "Few-shot GAN transfer: full fine-tuning versus FreezeD (chapter 07)", "python benchmarks/gan_transfer.py"),
    ("finetune.md", "Fine-tuning methods on the tiny Llama (chapter 07)", "python benchmarks/finetune.py"),
    ("personalization.md", "Personalization: guidance, DreamBooth, LoRA, textual inversion (chapter 08)", "python benchmarks/personalization.py"),
    ("browser.md", "Browser tests: JupyterLab and headless Chromium", "GENLAB_RECORD_BROWSER_TIMES=1 pytest tests/browser -p no:xdist"),
]

INTRO = """# Benchmarks

Scripts here measure what learners and instructors feel: how long each chapter runs and how
much memory it takes, how fast autograding is, and how much training quality a CPU second
buys. They are not tests: nothing here is timed inside `make test`. Each script writes a
machine-tagged JSON and a markdown table to `results/`; this page is rebuilt from those
tables by `python benchmarks/make_readme.py`.

Many numbers below were taken on the 2-core development machine **while other jobs shared
its CPU** (each table says so where it applies): wall seconds are then upper bounds, and
CPU seconds are the fairer measure. The chapter tables were taken on a quiet machine; the
speed probe in `chapters.md` lets you scale them to yours. No GPU was available, so GPU rows
are absent.
"""


def demote(markdown: str) -> str:
    """Drop the file's own title; push its other headings one level down."""
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join("#" + ln if ln.startswith("#") else ln for ln in lines).strip()


def main() -> None:
    parts = [INTRO]
    for name, title, command in SECTIONS:
        path = RESULTS / name
        if not path.exists():
            continue
        parts.append(f"## {title}\n\n`{command}`\n\n{demote(path.read_text())}\n")
    (HERE / "README.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
