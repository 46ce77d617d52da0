package dev.mobiledistill.core;

import static dev.mobiledistill.core.LatencyStatsTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** Cases worked out by hand (numpy's linear percentile, population std), independent of any file. */
class LatencyStatsHandTest {
  @Test
  void fourSamples() {
    LatencyStats s = LatencyStats.of(new double[] {4, 1, 3, 2});
    assertClose(2.5, s.p50(), "p50: rank 1.5 between 2 and 3");
    assertClose(3.7, s.p90(), "p90: rank 2.7 between 3 and 4");
    assertClose(3.97, s.p99(), "p99: rank 2.97");
    assertClose(2.5, s.mean(), "mean");
    assertClose(Math.sqrt(1.25), s.std(), "population std (ddof=0), not sqrt(5/3)");
    assertArrayEquals(new double[] {4, 1, 3, 2}, s.samples(), "samples keep their run order");
  }

  @Test
  void oneSample() {
    LatencyStats s = LatencyStats.of(new double[] {5.5});
    assertClose(5.5, s.p50(), "p50");
    assertClose(5.5, s.p99(), "p99");
    assertClose(0.0, s.std(), "std");
  }

  @Test
  void twoSamplesInterpolateFromTheUpperNeighbourPastHalfway() {
    LatencyStats s = LatencyStats.of(new double[] {10, 0});
    assertClose(5.0, s.p50(), "p50");
    assertClose(9.0, s.p90(), "p90");
    assertClose(9.9, s.p99(), "p99");
    assertClose(5.0, s.std(), "std");
  }

  @Test
  void elevenSamplesHitExactRanks() {
    double[] samples = new double[11];
    for (int i = 0; i < samples.length; i++) {
      samples[i] = 10 - i;  // 10 .. 0, reversed
    }
    LatencyStats s = LatencyStats.of(samples);
    assertClose(5.0, s.p50(), "p50 is rank 5 exactly");
    assertClose(9.0, s.p90(), "p90 is rank 9 exactly");
    assertClose(9.9, s.p99(), "p99: rank 9.9");
    assertClose(Math.sqrt(10.0), s.std(), "std of 0..10");
  }

  @Test
  void noSamplesIsAnError() {
    assertThrows(IllegalArgumentException.class, () -> LatencyStats.of(new double[0]));
  }
}
