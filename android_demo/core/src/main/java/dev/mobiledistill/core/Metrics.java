package dev.mobiledistill.core;

import java.util.Arrays;
import java.util.TreeSet;

/** Accuracy, macro-F1 and agreement with the definitions the Python bench uses (scikit-learn's). */
public final class Metrics {
  private Metrics() {}

  /** Share of rows predicted right; NaN for no rows. */
  public static double accuracy(int[] predicted, int[] labels) {
    return agreement(predicted, labels);
  }

  /**
   * sklearn f1_score(average="macro", labels=unique(labels)): one F1 per label that occurs in
   * {@code labels}, 0 where the label was never predicted right, averaged. A class that is only
   * ever predicted (never true) does not count, as in the bench.
   */
  public static double macroF1(int[] predicted, int[] labels) {
    checkSameLength(predicted, labels);
    TreeSet<Integer> classes = new TreeSet<>();
    for (int label : labels) {
      classes.add(label);
    }
    if (classes.isEmpty()) {
      return Double.NaN;
    }
    double sum = 0;
    for (int label : classes) {
      sum += f1(predicted, labels, label);
    }
    return sum / classes.size();
  }

  /** 2tp / (2tp + fp + fn): equal to 2pr/(p+r) and 0 when nothing matched. */
  private static double f1(int[] predicted, int[] labels, int label) {
    int tp = 0;
    int fp = 0;
    int fn = 0;
    for (int i = 0; i < labels.length; i++) {
      boolean said = predicted[i] == label;
      boolean truth = labels[i] == label;
      tp += said && truth ? 1 : 0;
      fp += said && !truth ? 1 : 0;
      fn += !said && truth ? 1 : 0;
    }
    return tp == 0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn);
  }

  /** Share of rows where the two agree; NaN for no rows. */
  public static double agreement(int[] a, int[] b) {
    checkSameLength(a, b);
    if (a.length == 0) {
      return Double.NaN;
    }
    int same = 0;
    for (int i = 0; i < a.length; i++) {
      same += a[i] == b[i] ? 1 : 0;
    }
    return (double) same / a.length;
  }

  /** Index of the largest logit (the first on ties, like numpy); -1 if any logit is NaN or infinite. */
  public static int argmax(float[] logits) {
    int best = -1;
    for (int i = 0; i < logits.length; i++) {
      if (!Float.isFinite(logits[i])) {
        return -1;
      }
      if (best < 0 || logits[i] > logits[best]) {
        best = i;
      }
    }
    return best;
  }

  /**
   * Softmax of a logits row, for showing a probability beside the predicted label. Stable: the
   * largest logit is subtracted before exponentiating, so large logits do not overflow to NaN.
   * All NaN when any logit is NaN or infinite (argmax gives -1 for those rows too); empty for none.
   */
  public static double[] softmax(float[] logits) {
    double[] out = new double[logits.length];
    double max = Double.NEGATIVE_INFINITY;
    for (float logit : logits) {
      if (!Float.isFinite(logit)) {
        Arrays.fill(out, Double.NaN);
        return out;
      }
      max = Math.max(max, logit);
    }
    double sum = 0;
    for (int i = 0; i < logits.length; i++) {
      out[i] = Math.exp(logits[i] - max);
      sum += out[i];
    }
    for (int i = 0; i < out.length; i++) {
      out[i] /= sum;
    }
    return out;
  }

  private static void checkSameLength(int[] a, int[] b) {
    if (a.length != b.length) {
      throw new IllegalArgumentException("arrays differ in length: " + a.length + " and " + b.length);
    }
  }
}
