"""Tiny language models made offline: random-weight two-layer decoders and their tokenizer, for both LLM engines.

Nothing is downloaded. A byte-level BPE tokenizer (512 tokens) is trained with `tokenizers` on a
few generated sentences. Then:

- LiteRT-LM: a Hugging Face config directory for a two-layer Qwen3 decoder (hidden size 64, four
  heads, two KV heads) is exported by LiteRT-Torch with random weights
  (`litert_torch.generative.export_hf.export(use_random_weights=True)`) to a .litertlm bundle of the
  prefill and decode signatures and the tokenizer, about 1 MB, with the exporter's default sampler
  (a top-k 1 sampler made LiteRT-LM 0.18.1's benchmark decode no token at all). Its EOS
  id is outside the vocabulary and its end-of-turn marker is text random weights do not produce, so
  decoding is never stopped early.
- ExecuTorch: ExecuTorch's Llama export (`export_llm base.model_class=llama3`, no checkpoint: random
  weights) writes a two-layer Llama of the same size with a KV cache and XNNPACK to model.pte, in a
  folder beside the same tokenizer.json (an .etlm bundle, benchlab.formats.etlm). Its EOS id is
  set outside the vocabulary, so random weights never stop a generation early.

- A Hugging Face directory (config.json, tokenizer, no weights) of the same Qwen3, which suites export
  themselves with random weights (recipes litert-lm-fp32, -int8, -int4).

Their outputs are noise; their shapes are those of real small models, so the runners, the token
counts and the report are tested on them (never their speeds). `python -m examples.tiny_llm`
builds both into .cache/tiny-llm/ (a few minutes on 2 cores); `make test` does it before the tests,
like the public models.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / ".cache" / "tiny-llm"
MODEL = ROOT / "tiny-qwen3.litertlm"
ETLM = ROOT / "tiny-llama.etlm"
#: The Hugging Face directory (config.json, tokenizer; no weights) a suite exports itself: recipes
#: litert-lm-fp32 / -int8 / -int4 (benchlab.optimize.recipes.litert_lm_export).
HF_DIR = ROOT / "tiny-qwen3-hf"
#: Prefill signatures the export makes: LiteRT-LM pads a prompt up to the next one, so the
#: largest bounds the prefill a benchmark can ask for.
PREFILL_LENGTHS = (32, 128, 512)
#: The KV cache the export sizes its signatures for (prefill + decode must fit).
CACHE_LENGTH = 1024
VOCAB_SIZE = 512
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>")
#: A turn ends with a marker of several tokens: LiteRT-LM stops decoding at the model turn's end
#: marker (a stop string it reads from this template) and at the config's EOS, so the marker must be
#: text random weights will not produce, and the EOS (below) an id outside the vocabulary.
END_OF_TURN = " [end of turn 7f3a]"
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}: {{ m['content'] }}" + END_OF_TURN +
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant: {% endif %}")
#: An EOS id outside the vocabulary: greedy decoding on random weights picks a special token often
#: enough (the end-of-turn token, when there was one, ended every run at 0 decode tokens).
EOS_OUTSIDE = 100_000


def _corpus() -> list[str]:
    """Return the generated sentences the tokenizer is trained on (deterministic)."""
    words = ("the quick brown fox jumps over a lazy dog while seven small models measure tokens per second "
             "on phones and laptops").split()
    return [" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) + f" {i}" for i in range(400)]


def write_hf_directory(folder: Path) -> None:
    """Write a Hugging Face model directory (config.json, tokenizer files) for the tiny decoder."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(_corpus(), trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    transformers.Qwen3Config(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=CACHE_LENGTH * 2,
        tie_word_embeddings=True, eos_token_id=tokenizer.get_vocab_size() + EOS_OUTSIDE, bos_token_id=None,
    ).save_pretrained(folder)


def build(target: Path = MODEL) -> Path:
    """Build the .litertlm at `target` (replacing one there) and return its path."""
    from benchlab.optimize.recipes.litert_lm_export import hf_exporter

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tiny-llm-") as work:
        hf_dir, out_dir = Path(work) / "hf", Path(work) / "out"
        hf_dir.mkdir()
        write_hf_directory(hf_dir)
        hf_exporter()(model=str(hf_dir), output_dir=str(out_dir), use_random_weights=True,
                     prefill_lengths=list(PREFILL_LENGTHS), cache_length=CACHE_LENGTH, quantization_recipe="none")
        shutil.move(out_dir / "model.litertlm", target)
    return target


def build_etlm(target: Path = ETLM) -> Path:
    """Build the ExecuTorch bundle at `target` (model.pte and tokenizer.json; replacing one there)."""
    import json
    import subprocess

    with tempfile.TemporaryDirectory(prefix="tiny-etlm-") as work:
        folder = Path(work)
        write_hf_directory(folder / "hf")
        vocab = json.loads((folder / "hf" / "config.json").read_text())["vocab_size"]
        params = folder / "params.json"
        params.write_text(json.dumps({"dim": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "vocab_size": vocab,
                                      "multiple_of": 32, "norm_eps": 1e-6, "rope_theta": 10000.0}))
        # EOS outside the vocabulary: random weights could emit any id in it and end the run early.
        metadata = json.dumps({"get_bos_id": 1, "get_eos_ids": [vocab + EOS_OUTSIDE]})
        subprocess.run([sys.executable, "-m", "executorch.extension.llm.export.export_llm",
                        "base.model_class=llama3", f"base.params={params}", f"base.metadata={json.dumps(metadata)}",
                        "model.use_kv_cache=true", f"export.max_seq_length={CACHE_LENGTH}",
                        f"export.max_context_length={CACHE_LENGTH}", f"export.output_dir={folder}",
                        "export.output_name=model.pte", "backend.xnnpack.enabled=true"],
                       check=True, cwd=folder, stdout=subprocess.DEVNULL)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.move(folder / "model.pte", target / "model.pte")
        shutil.copyfile(folder / "hf" / "tokenizer.json", target / "tokenizer.json")
    return target


def present() -> Path | None:
    """Return the folder of the built models, None when either has not been built."""
    return ROOT if MODEL.is_file() and (ETLM / "model.pte").is_file() else None


def write_hf(target: Path = HF_DIR) -> Path:
    """Write the tiny decoder's Hugging Face directory at `target` (replacing one there); return it."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    write_hf_directory(target)
    return target


def main() -> int:
    """Build the tiny models that are not there yet; print their paths."""
    hf = HF_DIR if (HF_DIR / "config.json").is_file() else write_hf()
    print(f"{hf} (a Hugging Face directory without weights)")
    path = MODEL if MODEL.is_file() else build()
    print(f"{path} ({path.stat().st_size:,} bytes)")
    etlm = ETLM if (ETLM / "model.pte").is_file() else build_etlm()
    print(f"{etlm} ({(etlm / 'model.pte').stat().st_size:,} bytes model.pte)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
