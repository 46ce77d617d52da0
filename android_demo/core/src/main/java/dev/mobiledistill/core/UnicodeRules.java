package dev.mobiledistill.core;

/**
 * The character classes of Hugging Face tokenizers' BertNormalizer and BertPreTokenizer (Rust),
 * on code points: a Java char is a UTF-16 unit, and classifying the two halves of an emoji or a
 * CJK Extension B ideograph separately would split or drop them. Categories come from
 * UnicodeTables (the reference's own), not java.lang.Character (see there why).
 */
final class UnicodeRules {
  private static final int DOTTED_CAPITAL_I = 0x130;

  private UnicodeRules() {}

  /**
   * Rust's char::is_whitespace (the Unicode White_Space property, stable since Unicode 6.3).
   * Listed by hand because Java has no such query: Character.isWhitespace leaves out the no-break
   * spaces U+00A0, U+2007, U+202F and counts U+001C..U+001F.
   */
  static boolean isWhitespace(int cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
        || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
        || cp == 0x3000;
  }

  /** Removed by clean_text: NUL, U+FFFD and control/format/private-use characters except \t \n \r. */
  static boolean isDropped(int cp) {
    return UnicodeTables.contains(UnicodeTables.DROPPED, cp);
  }

  /**
   * The CJK ideograph blocks BERT isolates as one-character words (not kana or hangul). The
   * fifth range starts at U+2B920, not U+2B820 where Extension E begins: the reference carries
   * that slip from Google's original BERT code, so U+2B820..U+2B91F stay inside words.
   */
  static boolean isChinese(int cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
        || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF)
        || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
  }

  /** ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or a P* category. */
  static boolean isPunctuation(int cp) {
    return UnicodeTables.contains(UnicodeTables.PUNCTUATION, cp);
  }

  static boolean isNonSpacingMark(int cp) {
    return UnicodeTables.contains(UnicodeTables.NON_SPACING_MARKS, cp);
  }

  /**
   * Rust's char::to_lowercase, one code point at a time: no Greek final-sigma context (which
   * String.toLowerCase applies) and no locale (a Turkish phone must give the ids a server gives).
   */
  static void appendLowercase(StringBuilder out, int cp) {
    if (cp == DOTTED_CAPITAL_I) {
      out.append("i\u0307");  // the only lowercase that is two code points
    } else {
      out.appendCodePoint(UnicodeTables.lowercase(cp));
    }
  }
}
