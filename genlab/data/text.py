"""Small generated text corpora for domain adaptation (chapter 07): general and legal.

Nothing is downloaded. Sentences come from templates whose slots are filled by a seeded
generator, so every split is reproducible:

* **general**: everyday sentences ("anna bought the lamp in the park yesterday .") with a
  trace of the target domain mixed in (:data:`DOMAIN_TRACE` = 0.5% legal sentences), as a
  web-scale pretraining corpus contains a little of everything;
* **legal** (the domain): contract clauses ("the tenant shall pay the rent within thirty
  days of the notice .").

The two registers share their function words and number words but not their nouns or
phrasing, so a model pretrained on *general* knows the shape of a sentence but finds the
legal clauses surprising (high perplexity) until it is adapted. :func:`load_corpus` gives
fixed, disjointly seeded splits; the legal training split is deliberately small
(:data:`SPLIT_SIZES`), small enough that starting from the pretrained model visibly beats
training from scratch on it.

Text is tokenized word by word (:func:`build_tokenizer`, a ``tokenizers`` ``WordLevel``
model wrapped as ``transformers.PreTrainedTokenizerFast``) and packed into fixed-length
blocks separated by ``<eos>`` (:func:`pack_blocks`), the usual causal-LM recipe.
"""

from __future__ import annotations

import random

import torch

from genlab._checks import check_choice, check_int

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, EOS, UNK)  # ids 0, 1, 2
DOMAIN_TRACE = 0.005
BLOCK_SIZE = 32

_NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "twelve", "thirty", "sixty", "ninety"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_SHARED = {"number": _NUMBERS, "day": _DAYS}

GENERAL_SLOTS = {
    **_SHARED,
    "name": ["anna", "ben", "carla", "david", "emma", "felix", "greta", "hugo", "ida",
             "jonas", "lena", "mark"],
    "object": ["lamp", "book", "bicycle", "cake", "guitar", "kite", "chair", "coat",
               "radio", "basket"],
    "place": ["park", "market", "garden", "kitchen", "library", "station", "beach",
              "forest", "village", "harbour"],
    "time": ["yesterday", "today", "tonight", "early", "later", "again"],
    "adj": ["lazy", "quick", "small", "happy", "old", "young", "hungry", "sleepy"],
    "animal": ["fox", "dog", "cat", "horse", "bird", "rabbit", "goat", "duck"],
    "verb": ["sleeps", "runs", "sits", "plays", "waits", "jumps", "sings", "eats"],
    "colour": ["red", "blue", "green", "yellow", "white", "brown"],
    "food": ["soup", "bread", "apples", "cheese", "pasta", "rice"],
}
GENERAL_TEMPLATES = [
    "{name} bought the {object} in the {place} {time} .",
    "the {adj} {animal} {verb} near the {place} .",
    "{name} and {name} walked to the {place} on {day} .",
    "we will meet at the {place} at {number} o'clock .",
    "the {colour} {object} is in the {place} .",
    "on {day} {name} cooked {food} for {number} friends .",
    "{name} saw {number} {adj} birds in the {place} {time} .",
]

LEGAL_SLOTS = {
    **_SHARED,
    "party": ["tenant", "landlord", "licensee", "licensor", "buyer", "seller",
              "contractor", "employer"],
    "payment": ["rent", "fee", "deposit", "invoice", "royalty", "price"],
    "event": ["notice", "breach", "delivery", "termination", "closing", "signature"],
    "loss": ["claims", "damages", "liens", "losses", "penalties", "liabilities"],
    "property": ["premises", "goods", "software", "vehicle", "equipment", "land"],
    "forum": ["arbitration", "mediation", "the court", "the tribunal"],
    "month": ["january", "march", "may", "july", "september", "november"],
}
LEGAL_TEMPLATES = [
    "pursuant to section {number} , the {party} hereby waives all {loss} .",
    "the {party} shall pay the {payment} within {number} days of the {event} .",
    "this agreement shall terminate on {day} unless renewed by the {party} .",
    "the {party} agrees to indemnify the {party} against any {loss} .",
    "notwithstanding section {number} , the {party} may assign this agreement .",
    "any dispute arising under this agreement shall be settled by {forum} .",
    "the {party} warrants that the {property} is free of any {loss} .",
    "all notices shall be delivered in writing to the {party} by {month} .",
]

# name: (register, number of sentences, seed). Seeds differ, so splits are independent
# draws; the legal train split is small on purpose (see the module docstring).
SPLIT_SIZES = {
    ("general", "train"): 20_000,
    ("general", "test"): 600,
    ("legal", "train"): 150,
    ("legal", "test"): 600,
}
_SEEDS = {("general", "train"): 11, ("general", "test"): 12,
          ("legal", "train"): 21, ("legal", "test"): 22}


def _fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    out, rest = [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        slot, _, rest = tail.partition("}")
        out.append(head + rng.choice(slots[slot]))
    return "".join(out) + rest


def legal_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` seeded contract clauses (lower case, words separated by single spaces)."""
    check_int("n", n, minimum=0)
    rng = random.Random(seed)
    return [_fill(rng.choice(LEGAL_TEMPLATES), LEGAL_SLOTS, rng) for _ in range(n)]


def general_sentences(n: int, seed: int = 0, domain_fraction: float = DOMAIN_TRACE) -> list[str]:
    """``n`` seeded everyday sentences; each is a legal clause with probability ``domain_fraction``."""
    check_int("n", n, minimum=0)
    if not 0.0 <= domain_fraction <= 1.0:
        raise ValueError(f"domain_fraction must be in [0, 1], got {domain_fraction}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < domain_fraction:
            out.append(_fill(rng.choice(LEGAL_TEMPLATES), LEGAL_SLOTS, rng))
        else:
            out.append(_fill(rng.choice(GENERAL_TEMPLATES), GENERAL_SLOTS, rng))
    return out


def load_corpus(register: str, split: str) -> list[str]:
    """One fixed split: ``register`` in {"general", "legal"}, ``split`` in {"train", "test"}.

    Sizes in :data:`SPLIT_SIZES`. The general *test* split holds no legal sentences, so
    its perplexity measures general knowledge only (the forgetting probe).
    """
    check_choice("register", register, ["general", "legal"])
    check_choice("split", split, ["train", "test"])
    n, seed = SPLIT_SIZES[(register, split)], _SEEDS[(register, split)]
    if register == "legal":
        return legal_sentences(n, seed)
    return general_sentences(n, seed, DOMAIN_TRACE if split == "train" else 0.0)


def vocabulary() -> list[str]:
    """Every token: the three specials (ids 0, 1, 2), then all template words, sorted."""
    words = set()
    for templates, slots in [(GENERAL_TEMPLATES, GENERAL_SLOTS), (LEGAL_TEMPLATES, LEGAL_SLOTS)]:
        for template in templates:
            for piece in template.replace("{", " {").replace("}", "} ").split():
                if not piece.startswith("{"):
                    words.add(piece)
        for fillers in slots.values():
            for filler in fillers:
                words.update(filler.split())
    return list(SPECIAL_TOKENS) + sorted(words)


def build_tokenizer(max_length: int = 64):
    """A word-level ``PreTrainedTokenizerFast`` over :func:`vocabulary` (lower-cases, splits on spaces).

    ``<pad>`` = 0, ``<eos>`` = 1, ``<unk>`` = 2. Saved with ``save_pretrained`` next to the
    model, it reloads with ``AutoTokenizer.from_pretrained(folder)``.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS,
                                   unk_token=UNK, model_max_length=max_length)


def pack_blocks(sentences: list[str], tokenizer, block_size: int = BLOCK_SIZE) -> torch.Tensor:
    """Token ids of ``sentences`` joined by ``<eos>``, cut into blocks: ``(n_blocks, block_size)``.

    Each sentence is followed by the tokenizer's ``eos_token_id``; the tail that does not
    fill a whole block is dropped. Works with any tokenizer that has an eos token (a hub
    model's too). Raises ``ValueError`` if not even one block can be filled.
    """
    check_int("block_size", block_size, minimum=2)
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos_token_id; pack_blocks separates sentences by it")
    ids: list[int] = []
    for encoded in tokenizer(list(sentences), add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(eos)
    n_blocks = len(ids) // block_size
    if n_blocks == 0:
        raise ValueError(
            f"{len(ids)} tokens do not fill one block of {block_size}; give more sentences"
        )
    return torch.tensor(ids[: n_blocks * block_size], dtype=torch.long).view(n_blocks, block_size)
