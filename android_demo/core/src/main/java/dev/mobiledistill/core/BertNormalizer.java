package dev.mobiledistill.core;

import java.text.Normalizer;

/**
 * Hugging Face tokenizers' BertNormalizer, in its order: clean_text, spaces around CJK ideographs,
 * strip_accents (NFD, then drop non-spacing marks), lowercase.
 */
final class BertNormalizer {
  private final boolean lowerCase;
  private final boolean stripAccents;

  BertNormalizer(boolean lowerCase, boolean stripAccents) {
    this.lowerCase = lowerCase;
    this.stripAccents = stripAccents;
  }

  String normalize(String text) {
    String out = cleanAndSpaceChinese(text);
    if (stripAccents) {
      out = stripAccents(out);
    }
    return lowerCase ? lowercase(out) : out;
  }

  private static String cleanAndSpaceChinese(String text) {
    StringBuilder out = new StringBuilder(text.length() + 8);
    text.codePoints().forEach(cp -> {
      if (UnicodeRules.isDropped(cp)) {
        return;
      }
      if (UnicodeRules.isWhitespace(cp)) {
        out.append(' ');
      } else if (UnicodeRules.isChinese(cp)) {
        out.append(' ').appendCodePoint(cp).append(' ');
      } else {
        out.appendCodePoint(cp);
      }
    });
    return out.toString();
  }

  /**
   * NFD, then drop non-spacing marks. NFD runs over whole stretches of text (canonical reordering
   * sees neighbours, as in the reference), split at any code point the platform would decompose
   * but the reference's older tables do not: those stay whole, as they do in the reference.
   */
  private static String stripAccents(String text) {
    StringBuilder decomposed = new StringBuilder(text.length() + 8);
    int start = 0;
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      int next = i + Character.charCount(cp);
      if (keptWhole(cp)) {
        decomposed.append(Normalizer.normalize(text.substring(start, i), Normalizer.Form.NFD)).appendCodePoint(cp);
        start = next;
      }
      i = next;
    }
    decomposed.append(Normalizer.normalize(text.substring(start), Normalizer.Form.NFD));
    StringBuilder out = new StringBuilder(decomposed.length());
    decomposed.codePoints().filter(cp -> !UnicodeRules.isNonSpacingMark(cp)).forEach(out::appendCodePoint);
    return out.toString();
  }

  private static boolean keptWhole(int cp) {
    return cp >= 0xC0 && !UnicodeTables.contains(UnicodeTables.DECOMPOSED, cp)
        && !Normalizer.isNormalized(new String(Character.toChars(cp)), Normalizer.Form.NFD);
  }

  private static String lowercase(String text) {
    StringBuilder out = new StringBuilder(text.length());
    text.codePoints().forEach(cp -> UnicodeRules.appendLowercase(out, cp));
    return out.toString();
  }
}
