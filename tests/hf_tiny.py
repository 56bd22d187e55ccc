"""A tiny randomly initialised GPT-2 with a word-level tokenizer, saved to a folder (nothing downloaded)."""

from pathlib import Path


def save_tiny_gpt2(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<|endoftext|>", "<unk>", "<pad>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<unk>", pad_token="<pad>")
    cfg = GPT2Config(vocab_size=fast.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
