package dev.mobiledistill.core;

import java.util.Arrays;

/** Truncation as Hugging Face tokenizers does it (utils/truncation.rs), on word-piece ids. */
final class Truncation {
  private Truncation() {}

  /** At most {@code keep} ids: the first ones, or the last ones when truncating on the left. */
  static int[] cut(int[] ids, int keep, boolean left) {
    if (ids.length <= keep) {
      return ids;
    }
    return left ? Arrays.copyOfRange(ids, ids.length - keep, ids.length) : Arrays.copyOf(ids, keep);
  }

  /**
   * "longest_first" for a pair within {@code budget} ids (max_length minus the 3 specials). The
   * lengths follow the reference's arithmetic, which differs from "trim the longer one piece by
   * piece": with n1 <= n2, n2 becomes max(n1, budget - n1), and if the two still overflow, both get
   * half the budget (the longer one the odd piece).
   */
  static int[][] longestFirst(int[] a, int[] b, int budget, boolean left) {
    if (budget < 0) {
      throw new IllegalArgumentException("max_length " + (budget + 3) + " is too short for a pair ([CLS] a [SEP] b [SEP])");
    }
    boolean swap = a.length > b.length;
    int n1 = Math.min(a.length, b.length);
    int n2 = Math.max(a.length, b.length);
    n2 = n1 > budget ? n1 : Math.max(n1, budget - n1);
    if (n1 + n2 > budget) {
      n1 = budget / 2;
      n2 = n1 + budget % 2;
    }
    int keepA = swap ? n2 : n1;
    int keepB = swap ? n1 : n2;
    return new int[][] {cut(a, keepA, left), cut(b, keepB, left)};
  }
}
