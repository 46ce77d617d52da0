package dev.mobiledistill.core;

import static dev.mobiledistill.core.LatencyStatsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Hand-computed accuracy, macro-F1 (scikit-learn's definition), agreement and argmax. */
class MetricsTest {
  @Test
  void accuracyAndAgreement() {
    assertClose(0.75, Metrics.accuracy(new int[] {1, 0, 1, 1}, new int[] {1, 0, 0, 1}), "accuracy");
    assertClose(0.5, Metrics.agreement(new int[] {1, 2}, new int[] {1, 1}), "agreement");
    assertTrue(Double.isNaN(Metrics.accuracy(new int[0], new int[0])));
  }

  @Test
  void macroF1AveragesPerClassF1() {
    // class 0: tp 1, fp 0, fn 1 -> 2/3; class 1: tp 2, fp 1, fn 0 -> 4/5
    assertClose((2.0 / 3 + 0.8) / 2, Metrics.macroF1(new int[] {0, 1, 1, 1}, new int[] {0, 0, 1, 1}), "macro F1");
  }

  @Test
  void macroF1CountsOnlyClassesPresentInTheLabels() {
    // predicted class 1 never occurs in the labels: only class 0 is averaged (tp 1, fn 1 -> 2/3)
    assertClose(2.0 / 3, Metrics.macroF1(new int[] {0, 1}, new int[] {0, 0}), "predicted-only class ignored");
    // class 1 is true once and never predicted: its F1 is 0
    assertClose((2.0 / 3 + 0) / 2, Metrics.macroF1(new int[] {0, 0}, new int[] {0, 1}), "missed class is 0");
  }

  @Test
  void argmaxTakesTheFirstMaximumAndRejectsNonFiniteLogits() {
    assertEquals(1, Metrics.argmax(new float[] {0.1f, 2f, 2f}));
    assertEquals(0, Metrics.argmax(new float[] {-1f, -3f}));
    assertEquals(-1, Metrics.argmax(new float[] {1f, Float.NaN}));
    assertEquals(-1, Metrics.argmax(new float[] {Float.POSITIVE_INFINITY, 1f}));
    assertEquals(-1, Metrics.argmax(new float[0]));
  }

  @Test
  void softmaxIsNormalizedAndMatchesTheFormula() {
    double[] p = Metrics.softmax(new float[] {1f, 2f, 0.5f});
    double sum = Math.exp(1) + Math.exp(2) + Math.exp(0.5);
    assertClose(Math.exp(1) / sum, p[0], "p0");
    assertClose(Math.exp(2) / sum, p[1], "p1");
    assertClose(Math.exp(0.5) / sum, p[2], "p2");
    assertClose(1.0, p[0] + p[1] + p[2], "sum");
    assertEquals(0, Metrics.softmax(new float[0]).length);
  }

  @Test
  void softmaxOfLargeLogitsDoesNotOverflow() {
    // exp(1000) is infinite in double: a naive softmax gives NaN here
    double[] p = Metrics.softmax(new float[] {1000f, 999f});
    assertClose(1 / (1 + Math.exp(-1)), p[0], "p0");
    assertClose(1 / (1 + Math.exp(1)), p[1], "p1");
    double[] q = Metrics.softmax(new float[] {-1000f, -1000f});
    assertClose(0.5, q[0], "tiny logits");
  }

  @Test
  void softmaxOfNonFiniteLogitsIsAllNaN() {
    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
      double[] p = Metrics.softmax(new float[] {0.5f, bad, 1f});
      assertEquals(3, p.length);
      for (double value : p) {
        assertTrue(Double.isNaN(value), "softmax with " + bad + " gave " + value);
      }
    }
  }

  @Test
  void arraysOfDifferentLengthsAreAnError() {
    assertThrows(IllegalArgumentException.class, () -> Metrics.macroF1(new int[] {1}, new int[] {1, 0}));
    assertThrows(IllegalArgumentException.class, () -> Metrics.agreement(new int[] {1}, new int[0]));
  }
}
