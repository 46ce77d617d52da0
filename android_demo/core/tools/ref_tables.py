"""Probes the reference tokenizer for its character classes: step 1 of regenerating UnicodeTables.java.

    .venv/bin/python android_demo/core/tools/ref_tables.py [OUT_JSON]
    .venv/bin/python android_demo/core/tools/gen_unicode_tables.py [REF_JSON] [OUT_JAVA]

OUT_JSON defaults to android_demo/core/build/ref_tables.json (ignored by git), which is where
gen_unicode_tables.py looks for it. Run with the project's venv: the tables are those of the
`tokenizers` version installed there (the one the exported tokenizers come from), and must be
regenerated when that version changes. The probe takes seconds.

Why tables at all: the Java core must split, drop, strip and lowercase exactly as Hugging Face
tokenizers' BertNormalizer and BertPreTokenizer do, and those use their own Unicode tables (the
unicode_categories crate for categories, Rust's for lowercase and NFD). java.lang.Character
disagrees with them on several hundred code points, and phones differ among themselves (each
Android release ships another Unicode version), so the core carries the reference's tables.

Every code point c (surrogates excluded) is run through the reference as "a" + c + "b":
  dropped     removed by clean_text
  spaces      turned into a space by clean_text (whitespace)
  punct       split off as a word of its own by BertPreTokenizer
  marks       removed by strip_accents, among code points NFD leaves unchanged (category Mn)
  decomposed  changed by the reference's own NFD (it leaves code points newer than its tables whole)
  lower       code point -> the code points lowercase=True gives, where they differ
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

from tokenizers import normalizers, pre_tokenizers

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "build" / "ref_tables.json"


def ranges(cps: list[int]) -> list[list[int]]:
    """Sorted code points as [first, last] runs."""
    out: list[list[int]] = []
    for cp in cps:
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def probe() -> dict:
    plain = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    lower = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    nfd = normalizers.NFD()
    pre = pre_tokenizers.BertPreTokenizer()
    dropped, spaces, punct, marks, decomposed, lowmap = [], [], [], [], [], {}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        t = "a" + c + "b"
        n = plain.normalize_str(t)
        if n == "ab":
            dropped.append(cp)
            continue
        if n == "a b":
            spaces.append(cp)
        elif n != t:
            print("unexpected clean_text result", hex(cp), ascii(n), file=sys.stderr)
        if [w for w, _ in pre.pre_tokenize_str(t)] == ["a", c, "b"]:
            punct.append(cp)
        if nfd.normalize_str(c) != c:
            decomposed.append(cp)
        s = strip.normalize_str(t)
        if unicodedata.normalize("NFD", c) == c:
            if s == "ab":
                marks.append(cp)
            elif s != n:  # whitespace is a space in both
                print("unexpected strip_accents result", hex(cp), ascii(s), file=sys.stderr)
        lowered = lower.normalize_str(c)
        if lowered != c:
            lowmap[cp] = [ord(x) for x in lowered]
    found = {"dropped": dropped, "spaces": spaces, "punct": punct, "marks": marks, "decomposed": decomposed}
    tables = {name: ranges(cps) for name, cps in found.items()}
    tables["lower"] = lowmap
    return tables


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    tables = probe()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(tables), encoding="utf-8")
    for name in ("dropped", "spaces", "punct", "marks", "decomposed"):
        print(name, len(tables[name]), "ranges,", sum(b - a + 1 for a, b in tables[name]), "code points")
    print("lower", len(tables["lower"]), "code points; multi-code-point:",
          [hex(cp) for cp, v in tables["lower"].items() if len(v) != 1])
    print("wrote", out)


if __name__ == "__main__":
    main()
