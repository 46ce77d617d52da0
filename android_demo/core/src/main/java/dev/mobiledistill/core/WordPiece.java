package dev.mobiledistill.core;

import java.util.ArrayList;
import java.util.List;

/** Greedy longest-match-first WordPiece over one pre-tokenized word, as in Hugging Face tokenizers. */
final class WordPiece {
  static final int MAX_WORD_CODE_POINTS = 100;
  private static final String CONTINUATION = "##";

  private final Vocab vocab;
  private final String unkToken;

  WordPiece(Vocab vocab, String unkToken) {
    this.vocab = vocab;
    this.unkToken = unkToken;
  }

  /** Appends the word's pieces; the whole word becomes [UNK] if any part of it cannot be matched. */
  void split(String word, List<String> out) {
    int[] cps = word.codePoints().toArray();
    if (cps.length > MAX_WORD_CODE_POINTS) {
      out.add(unkToken);
      return;
    }
    List<String> pieces = new ArrayList<>();
    for (int start = 0; start < cps.length; ) {
      int end = longestMatch(cps, start);
      if (end < 0) {
        out.add(unkToken);
        return;
      }
      pieces.add(piece(cps, start, end));
      start = end;
    }
    out.addAll(pieces);
  }

  /** The end of the longest vocabulary piece starting at {@code start}, or -1. Shrinks by code points. */
  private int longestMatch(int[] cps, int start) {
    for (int end = cps.length; end > start; end--) {
      if (vocab.contains(piece(cps, start, end))) {
        return end;
      }
    }
    return -1;
  }

  private static String piece(int[] cps, int start, int end) {
    String text = new String(cps, start, end - start);
    return start > 0 ? CONTINUATION + text : text;
  }
}
