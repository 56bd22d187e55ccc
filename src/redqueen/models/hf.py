"""Any local Hugging Face causal language model as a model family in the loop.

:class:`HFFamily` wraps a folder written by ``save_pretrained`` (``AutoModelForCausalLM`` and
``AutoTokenizer`` from the path, ``local_files_only=True``: nothing is downloaded). Each generation
it fine-tunes the model on the training texts (all weights, or LoRA adapters through ``peft`` when
``finetune="lora"``), from the folder's weights or, with ``warm_start``, from the previous
generation's; it samples continuations of real prompts with ``generate`` (temperature, top-k,
top-p, greedy, beam search, repetition penalty: the options of the transformer family, with
Hugging Face's semantics by construction; ``logit_bias``, one float per token id of the model, is added to
the logits by a logits processor, which ``generate`` runs before temperature, top-k and top-p), and scores
texts with the model.

The loop's data are word-token :class:`~redqueen.data.Sequences` of the world's vocabulary; the
family decodes them to text for the model and maps generated text back to that vocabulary (words
outside it become ``<unk>`` where the vocabulary has one, else are dropped), so every diagnostic
counts the world's types. ``log_prob`` is each sequence's total log-probability under the model
(natural log, the end-of-text token excluded), so the loop's perplexities are per word token.

``state()`` holds the trained parameters as float32 arrays (all of them for full fine-tuning, the
adapters for LoRA; tied weights once), safetensors-ready; ``load_state`` rebuilds the model from the
folder and copies them in, so a checkpoint is small for LoRA and exact for both. ``genome()`` is that
state flattened by :mod:`redqueen.evolve.genome` (merging LoRA models means merging adapters).
Randomness: one seed per call from the caller's numpy generator drives batch order and torch's
global generator inside :func:`redqueen.models.neural._torch.forked_rng` (dropout, sampling).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from redqueen.data import Sequences, Vocabulary, array_to_strings, strings_to_array
from redqueen.models.base import WeightGenome
from redqueen.models.decoding import check_logit_bias

PARAMS = ("path", "finetune", "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "steps", "epochs", "batch_size",
          "lr", "weight_decay", "max_length", "prompt_len", "max_new_tokens", "keep_prompt", "decoding", "num_beams",
          "temperature", "top_k", "top_p", "repetition_penalty", "sample_batch_size", "prompts", "init_state",
          "logit_bias")


def check_folder(path: str | Path) -> Path:
    """The path of a saved Hugging Face model folder; ``ValueError`` (one line, the fix) if it is not one."""
    p = Path(path)
    if not p.is_dir():
        raise ValueError(f"{p}: no such model folder; give a folder written by save_pretrained")
    if not (p / "config.json").is_file():
        raise ValueError(f"{p}: not a Hugging Face model folder (no config.json); save the model with save_pretrained")
    import json

    try:
        cfg = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{p}/config.json is not readable JSON ({type(e).__name__}); save the model again with "
                         "save_pretrained") from None
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        raise ValueError(f"{p}/config.json names no model_type; save the model again with save_pretrained")
    if not any((p / w).is_file() for w in WEIGHTS):
        raise ValueError(f"{p}: no weights ({', '.join(WEIGHTS[:2])}, ...); save the model with save_pretrained")
    return p


#: the weight files a save_pretrained folder holds (one of them)
WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


class HFFamily(WeightGenome):
    """A local Hugging Face causal LM, fine-tuned per generation (see the module).

    Raises ``ValueError`` at ``fit``/``load`` for a folder that is not a saved model or tokenizer,
    ``finetune="lora"`` without ``peft``, or a tokenizer with neither a BOS nor an EOS token.
    """

    def __init__(self, *, path: str, finetune: str = "full", lora_r: int = 8, lora_alpha: float = 16.0,
                 lora_dropout: float = 0.0, lora_targets: list[str] | None = None, steps: int | None = None,
                 epochs: float = 1.0, batch_size: int = 8, lr: float = 5e-5, weight_decay: float = 0.0,
                 max_length: int = 128, prompt_len: int = 8, max_new_tokens: int = 32, keep_prompt: bool = False,
                 decoding: str = "sample", num_beams: int = 4, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, repetition_penalty: float = 1.0, sample_batch_size: int = 16,
                 prompts: Sequences | None = None, init_state: dict | None = None, logit_bias=None):
        for k, v in locals().items():
            if k != "self":
                setattr(self, k, v)

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in PARAMS}

    # -- loading -------------------------------------------------------------------------------
    def load(self) -> "HFFamily":
        """Load the folder's model and tokenizer (and LoRA adapters, and ``init_state``); returns self."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = check_folder(self.path)
        try:
            with _quiet():
                tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot load the model or tokenizer ({str(e).splitlines()[0][:160]})") from None
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        if start is None:
            raise ValueError(f"{path}: the tokenizer has neither a BOS nor an EOS token; add one and save it again")
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token or tok.bos_token
        if getattr(model, "loss_type", "") is None:  # GPT-2 & co.: transformers warns, then uses this same loss
            model.loss_type = "ForCausalLM"
        self.start_ = int(start)
        if self.finetune == "lora":
            try:
                import peft
            except ImportError:
                raise ValueError("finetune = 'lora' needs peft: pip install peft") from None
            cfg = peft.LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                                  target_modules=self.lora_targets, task_type="CAUSAL_LM")
            model = peft.get_peft_model(model, cfg)
        self.tokenizer_, self.model_ = tok, model
        if self.init_state is not None:
            from redqueen.evolve.genome import parameters

            self._copy_in(parameters(self.init_state))
        model.eval()
        return self

    def _trained(self):
        return [(n, p) for n, p in self.model_.named_parameters() if p.requires_grad]

    def _copy_in(self, state: dict) -> None:
        import torch

        own = dict(self._trained())
        if set(own) != set(state):
            raise KeyError(f"state does not match the model: missing {sorted(set(own) - set(state))[:3]}, "
                           f"unexpected {sorted(set(state) - set(own))[:3]}")
        with torch.no_grad():
            for n, p in own.items():
                a = np.asarray(state[n])
                if tuple(a.shape) != tuple(p.shape):
                    raise ValueError(f"state[{n!r}] has shape {a.shape}, the model expects {tuple(p.shape)}")
                if not np.isfinite(a).all():
                    raise ValueError(f"state[{n!r}] holds non-finite weights")
                p.copy_(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)))

    # -- text <-> the world's tokens -----------------------------------------------------------
    def _texts(self, data: Sequences) -> list[str]:
        return [data.decode(i) for i in range(len(data))]

    def _encode(self, texts: list[str], vocab: Vocabulary) -> Sequences:
        from redqueen.io.texts import tokenize

        ids = {t: i for i, t in enumerate(vocab.tokens)}
        unk = ids.get("<unk>")
        seqs = []
        for text in texts:
            toks = list(text) if vocab.joiner == "" else tokenize(text, lowercase=False)
            row = [ids.get(t, ids.get(t.lower(), unk)) for t in toks]
            seqs.append([i for i in row if i is not None])
        return Sequences.from_list(seqs, vocab)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer_(text, add_special_tokens=False)["input_ids"]

    # -- the family protocol -------------------------------------------------------------------
    def fit(self, data: Sequences, rng: np.random.Generator) -> "HFFamily":
        """Fine-tune on ``data`` (decoded to text) for ``steps`` (default ``epochs`` passes) AdamW steps."""
        import torch

        from redqueen.models.neural import _torch as T

        self.load()
        self.vocab_ = data.vocab
        self.prompts_ = self._prompt_texts(data)
        rows = [[self.start_] + self._ids(t)[: self.max_length - 2] + [self.tokenizer_.eos_token_id or self.start_]
                for t in self._texts(data)]
        rows = [r for r in rows if len(r) > 1]
        seed = T.draw_seed(rng)
        if not rows:
            return self
        steps = self.steps or max(1, math.ceil(self.epochs * len(rows) / self.batch_size))
        brng = np.random.default_rng(seed)
        opt = torch.optim.AdamW([p for _, p in self._trained()], lr=self.lr, weight_decay=self.weight_decay)
        order = np.zeros(0, np.int64)
        self.model_.train()
        with T.forked_rng(seed):
            for _ in range(steps):
                if order.size < self.batch_size:
                    order = np.concatenate([order, brng.permutation(len(rows))])
                batch, order = order[: self.batch_size], order[self.batch_size:]
                x, mask = self._pad([rows[i] for i in batch])
                labels = x.masked_fill(~mask, -100)
                loss = self.model_(input_ids=x, attention_mask=mask.long(), labels=labels).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        self.model_.eval()
        return self

    def _pad(self, rows: list[list[int]], left: bool = False):
        import torch

        width = max(len(r) for r in rows)
        x = torch.full((len(rows), width), self.tokenizer_.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.bool)
        for i, r in enumerate(rows):
            sl = slice(width - len(r), width) if left else slice(0, len(r))
            x[i, sl] = torch.tensor(r)
            mask[i, sl] = True
        return x, mask

    def _prompt_texts(self, data: Sequences | None) -> list[str]:
        src = self.prompts if self.prompts is not None else data
        if src is None or self.prompt_len <= 0:
            return []
        return [src.vocab.decode(src[i][: self.prompt_len]) for i in np.flatnonzero(src.lengths() >= self.prompt_len)]

    def sample(self, n: int, rng: np.random.Generator) -> Sequences:
        """``n`` continuations of ``max_new_tokens`` model tokens after real prompts, in the world's tokens."""
        import torch

        from redqueen.models.neural import _torch as T

        pool = self.prompts_
        chosen = [pool[i] for i in rng.integers(0, len(pool), n)] if pool else [""] * n
        seed = T.draw_seed(rng)
        kw = dict(max_new_tokens=self.max_new_tokens, repetition_penalty=self.repetition_penalty,
                  pad_token_id=self.tokenizer_.pad_token_id, eos_token_id=self.tokenizer_.eos_token_id)
        bias = self._bias()
        if bias is not None:  # generate() runs a caller's processors before its warpers: (logits + b) / T
            from transformers import LogitsProcessorList

            kw["logits_processor"] = LogitsProcessorList([_AddBias(bias)])
        if self.decoding == "sample":
            kw.update(do_sample=True, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        elif self.decoding == "beam":
            kw.update(do_sample=False, num_beams=self.num_beams)
        else:
            kw.update(do_sample=False)
        texts = []
        with torch.no_grad(), T.forked_rng(seed):
            for s in range(0, n, self.sample_batch_size):
                part = chosen[s:s + self.sample_batch_size]
                x, mask = self._pad([[self.start_] + self._ids(p) for p in part], left=True)
                out = self.model_.generate(input_ids=x, attention_mask=mask.long(), **kw)
                for p, row in zip(part, out[:, x.shape[1]:]):
                    cont = self.tokenizer_.decode(row, skip_special_tokens=True)
                    texts.append(f"{p} {cont}" if self.keep_prompt and p else cont)
        return self._encode(texts, self.vocab_)

    def log_prob_texts(self, texts: list[str], batch_size: int = 16, decoded: bool = False) -> np.ndarray:
        """Total log-probability of each text after the start token; shape ``(len(texts),)``. With ``decoded`` (and
        ``decoding = "sample"``), under the distribution sampling draws from: the logits through ``temperature``,
        ``top_k``, ``top_p`` and ``logit_bias`` (a removed token scores ``-inf``; the repetition penalty is not in it)."""
        import torch

        from redqueen.models.neural.generate import filter_logits

        warp = decoded and self.decoding == "sample"
        bias = self._bias() if warp else None
        out = np.zeros(len(texts))
        rows = [[self.start_] + self._ids(t)[: max(self._context() - 1, 1)] for t in texts]
        with torch.no_grad():
            for s in range(0, len(rows), batch_size):
                part = rows[s:s + batch_size]
                x, mask = self._pad(part)
                logits = self.model_(input_ids=x, attention_mask=mask.long()).logits.float()
                if warp:
                    logits = filter_logits(logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                                           bias=bias)
                logp = torch.log_softmax(logits, -1)
                tok = logp[:, :-1].gather(2, x[:, 1:, None])[..., 0] * mask[:, 1:]
                out[s:s + len(part)] = tok.sum(1).double().numpy()
        return out

    def logit_bias_size(self) -> int:
        """How many values a ``logit_bias`` has: one per token id the model scores (its logits' width)."""
        return int(self.model_.get_output_embeddings().weight.shape[0])

    def _bias(self):
        """``logit_bias`` as a float32 tensor of :meth:`logit_bias_size`; None without one; ``ValueError`` if mis-sized."""
        if self.logit_bias is None:
            return None
        import torch

        b = check_logit_bias(self.logit_bias, self.logit_bias_size(), "one per token id of the model")
        return torch.from_numpy(b.astype(np.float32))

    def _context(self) -> int:
        cfg = self.model_.config
        return int(getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None) or 1024)

    def log_prob(self, data: Sequences) -> np.ndarray:
        """Total log-probability of each sequence's text under the network; shape ``(n,)``."""
        return self.log_prob_texts(self._texts(data))

    def decoded_log_prob(self, data: Sequences) -> np.ndarray:
        """:meth:`log_prob` with the sampling biases in force (see :meth:`log_prob_texts`): the arena's fidelity."""
        return self.log_prob_texts(self._texts(data), decoded=True)

    def state(self) -> dict[str, np.ndarray]:
        """The trained parameters (all, or the LoRA adapters) as float32 copies; without the ``prompts``
        hyperparameter also what was taken from the training data, which a restored model must carry:
        the world's vocabulary and the prompt pool (``fixed.`` keys, no genome holds them)."""
        from redqueen.evolve.genome import FIXED

        out = {n: p.detach().cpu().numpy().astype(np.float32, copy=True) for n, p in self._trained()}
        if self.prompts is None and hasattr(self, "vocab_"):
            out.update(self.vocab_.state(FIXED))
            out[FIXED + "prompts_utf8"] = strings_to_array(self.prompts_)
            out[FIXED + "prompts_size"] = np.array(len(self.prompts_), dtype=np.int64)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> "HFFamily":
        """The folder's model with ``state`` copied in; raises ``KeyError``/``ValueError`` on a mismatch."""
        from redqueen.evolve.genome import FIXED

        fixed = {k: v for k, v in state.items() if k.startswith(FIXED)}
        if fixed:
            self.vocab_ = Vocabulary.from_state(fixed, FIXED)
            self.prompts_ = array_to_strings(fixed[FIXED + "prompts_utf8"]) if int(fixed[FIXED + "prompts_size"]) else []
        self.init_state = {k: np.asarray(v) for k, v in state.items()}
        self.load()
        if not hasattr(self, "vocab_"):
            self.vocab_ = self.prompts.vocab if self.prompts is not None else Vocabulary(("<unk>",))
        if not hasattr(self, "prompts_"):
            self.prompts_ = self._prompt_texts(None)
        return self



@contextmanager
def _quiet():
    """transformers' progress bar and notices off while a folder loads (a loop loads it for every fit, sample and
    merge: one bar each would bury the run's output); the caller's settings are restored after."""
    from transformers.utils import logging

    bar, level = logging.is_progress_bar_enabled(), logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bar:
            logging.enable_progress_bar()


class _AddBias:
    """A Hugging Face logits processor adding one bias per token id to every step's scores."""

    def __init__(self, bias):
        self.bias = bias

    def __call__(self, input_ids, scores):
        return scores + self.bias.to(scores.dtype)


def load_scorer(path: str | Path) -> HFFamily:
    """The folder's model as it is, for scoring texts (:meth:`HFFamily.log_prob_texts`); ``ReadError`` if unusable."""
    from redqueen.io.texts import ReadError

    try:
        return HFFamily(path=str(path)).load()
    except ImportError:
        raise ReadError("--ref-model needs transformers and torch: pip install transformers 'redqueen[neural]'") from None
    except ValueError as e:
        raise ReadError(f"--ref-model {e}") from None
