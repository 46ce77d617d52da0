"""tokenizer_golden.json: texts with the ids the reference tokenizer gives them, for an app to prove
its own tokenizer equal to the reference (the Android demo's Java core is tested against it).

A phone tokenizer that splits one word differently from the Python one is a classic silent
collapse, and real test texts rarely hold what breaks tokenizers. So beside the real texts the
file carries generated stress texts, deterministic for a given input: words over the 100-character
WordPiece limit (and at 99/100/101), mixed scripts, combining accents (NFD and NFC), control, format
and zero-width characters, odd whitespace, case variants, Unicode punctuation, emoji from recent
Unicode versions, and text pairs that exercise longest-first truncation from both sides.

Unassigned code points and letters of recent Unicode versions are in on purpose: the reference
keeps the former and has its own tables for the latter, which differ from Java's and from one
phone's Unicode version to the next (the Android core carries the reference's tables for that).
"""

from __future__ import annotations

import json
import random
import unicodedata
from pathlib import Path

from ..layout import GOLDEN

MIN_ROWS = 2000  # the count the Android core's golden test is specified against
PAIR_SHARE = 0.2

# Texts that trip tokenizers: case, accents, punctuation, CJK, emoji, control and zero-width
# characters, empty and over-long input.
EDGE_CASE_TEXTS = (
    "", " ", "A", "THE MOVIE WAS GREAT!!!", "Café crème brûlée, naïve façade", "ÀÉÎÕÜ àéîõü ñ ç ß",
    "don't won't it's l'amour", "well... (sort of) -- maybe?! #1 @home 50% $9.99 a/b c\\d",
    "电影很好看", "映画はとても良かった", "영화가 정말 좋았어요", "Это был отличный фильм", "فيلم رائع",
    "great 😀👍🏽 film 🎬", "tab\tand\nnewline", "zero\u200bwidth joiner\u200d", "ﬁne ligature ＦＵＬＬＷＩＤＴＨ",
    "unbelievably un-put-down-able, supercalifragilisticexpialidocious",
    " ".join(["long"] * 600),
    "word " * 300 + "ending that no static length keeps",
)

_FRAGMENTS = (
    "Ελληνικά", "русский", "עברית", "العربية", "हिन्दी", "ไทย", "한국어", "日本語", "中文", "ქართული", "Հայերեն",
    "বাংলা", "தமிழ்", "ελλάδα", "ÆØÅ", "Œuvre", "straße", "İstanbul", "ǅemal", "ŉ", "ﬀ", "Ⅻ", "①", "½", "x²", "µ",
    "😀", "👍🏽", "👩‍👩‍👧", "🇫🇷", "🥰", "🫠", "🫨", "🩷", "❤️", "™", "©", "°C", "€5", "¥", "₹", "§",
)
_CONTROL = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u0000", "\u0007", "\u001b", "\u007f",
            "\u000b", "\u000c", "\u0085", "\ufffd", "\u202e", "\u061c", "\ue000", "\u0378", "\U0001fbff")
_SPACES = (" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2002", "\u2009", "\u202f", "\u3000", "\u2028", "\u1680")
_PUNCTUATION = ("“", "”", "‘", "’", "«", "»", "—", "–", "…", "¿", "¡", "・", "。", "、", "！", "？", "【", "】",
                "‐", "⁂", "※", "$", "+", "<", "=", ">", "^", "`", "|", "~", "¢", "±", "×")
_COMBINING = ("\u0301", "\u0300", "\u0308", "\u0327", "\u0303", "\u030a", "\u0323", "\u0302", "\u0338")


def stress_texts(base: list[str], count: int, seed: int = 0) -> list[str]:
    """``count`` generated texts that trip tokenizers, built from the words of ``base``."""
    rng = random.Random(seed)
    words = [word for text in base for word in text.split()] or ["film", "movie", "great", "dull", "story"]
    makers = (_long_word, _mixed_scripts, _combining, _controls, _spaces, _cases, _punctuation, _everything)
    return [makers[i % len(makers)](rng, words) for i in range(count)]


def stress_pairs(base: list[str], count: int, seed: int = 1) -> list[tuple[str, str]]:
    """Pairs of real and generated texts at lengths that send longest-first truncation each way."""
    rng = random.Random(seed)
    texts = [text for text in base if text.strip()] or stress_texts([], 16, seed)
    pairs = []
    for i in range(count):
        first, second = rng.choice(texts), rng.choice(texts)
        shape = i % 5
        if shape == 1:
            first = " ".join([first] * rng.randint(3, 8))  # long first, short second
        elif shape == 2:
            second = " ".join([second] * rng.randint(3, 8))
        elif shape == 3:
            first, second = (" ".join([t] * rng.randint(4, 9)) for t in (first, second))
        elif shape == 4:
            first, second = _everything(rng, first.split()), _mixed_scripts(rng, second.split())
        pairs.append((first, second))
    return pairs


def _pick(rng: random.Random, words: list[str], low: int = 3, high: int = 12) -> list[str]:
    return [rng.choice(words) for _ in range(rng.randint(low, high))]


def _long_word(rng, words) -> str:
    stem = "".join(rng.choice(words).strip(".,!?") for _ in range(40)) or "word"
    length = rng.choice((99, 100, 101, 102, 120, 180, 260, rng.randint(60, 300)))
    return " ".join([*_pick(rng, words, 1, 4), (stem * 10)[:length], *_pick(rng, words, 0, 3)])


def _mixed_scripts(rng, words) -> str:
    parts = _pick(rng, words) + [rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 4))]
    rng.shuffle(parts)
    glue = rng.choice(("", " "))  # scripts run together inside one word, or apart
    return glue.join(parts[:2]) + " " + " ".join(parts[2:])


def _combining(rng, words) -> str:
    out = []
    for word in _pick(rng, words):
        if rng.random() < 0.5:
            word = "".join(c + (rng.choice(_COMBINING) if c.isalpha() and rng.random() < 0.3 else "") for c in word)
        form = rng.choice(("NFC", "NFD", "NFKC", "NFKD", None))
        out.append(unicodedata.normalize(form, word) if form else word)
    return " ".join(out)


def _controls(rng, words) -> str:
    text = " ".join(_pick(rng, words))
    for _ in range(rng.randint(1, 5)):
        at = rng.randint(0, len(text))
        text = text[:at] + rng.choice(_CONTROL) + text[at:]
    return text


def _spaces(rng, words) -> str:
    return "".join(word + rng.choice(_SPACES) for word in _pick(rng, words)).strip(rng.choice(("", " ")))


def _cases(rng, words) -> str:
    text = " ".join(_pick(rng, words))
    return rng.choice((text.upper(), text.title(), text.swapcase(), text.capitalize()))


def _punctuation(rng, words) -> str:
    return "".join(rng.choice(_PUNCTUATION) + word if rng.random() < 0.4 else " " + word
                   for word in _pick(rng, words)).strip()


def _everything(rng, words) -> str:
    words = words or ["film"]
    makers = (_mixed_scripts, _combining, _controls, _spaces, _cases, _punctuation)
    return " ".join(rng.choice(makers)(rng, words) for _ in range(2))


def golden_rows(tokenizer, texts: list[str], seq_len: int, input_names: list[str],
                min_rows: int = MIN_ROWS) -> list[dict]:
    """The real ``texts``, the edge cases and generated stress texts and pairs, at least ``min_rows``."""
    singles = list(dict.fromkeys([*texts, *EDGE_CASE_TEXTS]))
    pair_count = int(min_rows * PAIR_SHARE)
    singles += stress_texts(texts, max(0, min_rows - pair_count - len(singles)))
    with_types = "token_type_ids" in input_names
    encoded = tokenizer(singles, padding="max_length", truncation=True, max_length=seq_len,
                        return_token_type_ids=with_types)
    rows = [{"text": text, **{name: encoded[name][i] for name in input_names}} for i, text in enumerate(singles)]
    pairs = stress_pairs(texts, pair_count)
    if pairs:
        encoded = tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding="max_length",
                            truncation="longest_first", max_length=seq_len, return_token_type_ids=True)
        names = list(dict.fromkeys([*input_names, "token_type_ids"]))  # a pair's segments are the point
        rows += [{"text": a, "text_pair": b, **{name: encoded[name][i] for name in names}}
                 for i, (a, b) in enumerate(pairs)]
    return rows


def write_golden(folder: Path, tokenizer, texts: list[str], seq_len: int, input_names: list[str],
                 min_rows: int = MIN_ROWS) -> int:
    """Write ``folder``/tokenizer_golden.json; returns the number of rows."""
    rows = golden_rows(tokenizer, texts, seq_len, input_names, min_rows)
    payload = {"sequence_length": seq_len, "inputs": input_names, "count": len(rows),
               "lower_case": bool(getattr(tokenizer, "do_lower_case", False)),
               "strip_accents": tokenizer.init_kwargs.get("strip_accents"), "rows": rows}
    (folder / GOLDEN).write_text(json.dumps(payload, ensure_ascii=False))
    return len(rows)
