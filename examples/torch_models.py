"""Small PyTorch models with the shapes mobile teams ship, as `module:` factories for suites/pytorch.yaml.

- `small_cnn`: a MobileNet-style image classifier (conv, batch norm, ReLU6, depthwise-separable blocks,
  global pooling, a linear head) on 1x3x96x96 float32 images, 10 classes.
- `tiny_bert`: a BERT-style sentence encoder built from a `transformers` BertConfig (2 layers, hidden 64,
  4 heads, a 1,000-token vocabulary) with random weights, nothing downloaded. Inputs are int64 `input_ids`
  and `attention_mask` of 1x32 tokens, the output the mask-weighted mean of the last hidden states (a
  sentence embedding, as sentence-transformers computes it).
- `sentence_encoder`: a sentence-embedding transformer in all-MiniLM-L6-v2's shape (random weights), the
  stand-in for a real pretrained one; `small_sentence_encoder` the same at 2 layers of width 128.

Each factory seeds torch, so every call returns the same weights, and returns (module in eval mode,
example inputs); the suite's data or benchlab's synthetic inputs (ids and masks of 0 and 1) feed it.
"""

from __future__ import annotations

from typing import Any

#: Tokens per sentence of `tiny_bert`'s example inputs (the exported program's static length).
SEQUENCE_LENGTH = 32
#: Tokens per sentence of the sentence encoders' example inputs (all-MiniLM-L6-v2 truncates at 256).
SENTENCE_TOKENS = 128


def small_cnn() -> tuple[Any, tuple[Any, ...]]:
    """Return a MobileNet-style CNN (about 40k parameters) in eval mode and one 1x3x96x96 example image."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def separable(inputs: int, outputs: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(inputs, inputs, 3, stride, 1, groups=inputs, bias=False), nn.BatchNorm2d(inputs), nn.ReLU6(),
            nn.Conv2d(inputs, outputs, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU6())

    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
        separable(16, 32, 2), separable(32, 64, 2), separable(64, 128, 2), separable(128, 128, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    return model.eval(), (torch.rand(1, 3, 96, 96),)


def tiny_bert() -> tuple[Any, dict[str, Any]]:
    """Return a 2-layer BERT-style encoder with random weights, mean-pooled, in eval mode, and example
    `input_ids` / `attention_mask` (int64, 1x32) by name."""
    import torch
    from transformers import BertConfig, BertModel

    class MeanPooledBert(torch.nn.Module):
        """BERT's last hidden states averaged over the tokens the mask keeps: one embedding per sentence."""

        def __init__(self, config: BertConfig) -> None:
            super().__init__()
            self.bert = BertModel(config, add_pooling_layer=False)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    torch.manual_seed(0)
    config = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=64)
    ids = torch.randint(0, config.vocab_size, (1, SEQUENCE_LENGTH))
    mask = torch.ones(1, SEQUENCE_LENGTH, dtype=torch.int64)
    return MeanPooledBert(config).eval(), {"input_ids": ids, "attention_mask": mask}



def sentence_encoder() -> tuple[Any, dict[str, Any]]:
    """Return a sentence-embedding transformer shaped like all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 12
    heads, a 30,522-token vocabulary; 22.6M parameters) with random weights, in eval mode, and example int64
    `input_ids` / `attention_mask` of 1x128 tokens, the last 32 padding.

    The embedding is sentence-transformers' pipeline for that model: the mask-weighted mean of the last
    hidden states, L2-normalised.
    """
    return _sentence_encoder(layers=6, hidden=384, heads=12)


def small_sentence_encoder() -> tuple[Any, dict[str, Any]]:
    """Return `sentence_encoder` at 2 layers of width 128 (4 heads; 4.4M parameters, most of them the same
    30,522-token embedding table), quick enough to convert in the tests."""
    return _sentence_encoder(layers=2, hidden=128, heads=4)


def _sentence_encoder(layers: int, hidden: int, heads: int) -> tuple[Any, dict[str, Any]]:
    """Return the BERT sentence encoder with `layers` layers of width `hidden` (feed-forward 4x wider) and
    its example inputs: 1x128 int64 token ids from the whole vocabulary, a mask whose last 32 tokens are padding."""
    import torch
    from transformers import BertConfig, BertModel

    class SentenceEncoder(torch.nn.Module):
        """BERT, mean pooling over the tokens the mask keeps, then unit length."""

        def __init__(self, config: BertConfig) -> None:
            super().__init__()
            self.bert = BertModel(config, add_pooling_layer=False)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden_states = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
            pooled = (hidden_states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * hidden, max_position_embeddings=512)
    ids = torch.randint(0, config.vocab_size, (1, SENTENCE_TOKENS))
    mask = torch.ones(1, SENTENCE_TOKENS, dtype=torch.int64)
    mask[:, SENTENCE_TOKENS - 32:] = 0
    return SentenceEncoder(config).eval(), {"input_ids": ids, "attention_mask": mask}
