package dev.mobiledistill.core;

import java.util.Arrays;

/**
 * Latency summary computed exactly as the Python bench computes it with numpy, so phone and
 * desktop figures are comparable: np.percentile's default "linear" method and np.std (ddof=0).
 */
public final class LatencyStats {
  private final double[] samples;
  private final double p50;
  private final double p90;
  private final double p99;
  private final double mean;
  private final double std;

  private LatencyStats(double[] samples) {
    this.samples = samples;
    double[] sorted = samples.clone();
    Arrays.sort(sorted);
    p50 = percentile(sorted, 50);
    p90 = percentile(sorted, 90);
    p99 = percentile(sorted, 99);
    mean = mean(samples);
    std = std(samples, mean);
  }

  /** Statistics of the timed runs, in milliseconds, in the order they ran. */
  public static LatencyStats of(double[] samplesMs) {
    if (samplesMs.length == 0) {
      throw new IllegalArgumentException("no latency samples: run at least one timed inference");
    }
    return new LatencyStats(samplesMs.clone());
  }

  /**
   * numpy's linear method: virtual index (n - 1) * q between the two closest ranks, blended with
   * numpy's _lerp, which computes from the upper neighbour when the fraction is >= 0.5.
   */
  static double percentile(double[] sorted, double percent) {
    double index = (sorted.length - 1) * (percent / 100.0);
    int below = (int) Math.floor(index);
    int above = Math.min(below + 1, sorted.length - 1);
    double fraction = index - below;
    double a = sorted[below];
    double b = sorted[above];
    double diff = b - a;
    return fraction >= 0.5 ? b - diff * (1 - fraction) : a + diff * fraction;
  }

  private static double mean(double[] values) {
    double sum = 0;
    for (double value : values) {
      sum += value;
    }
    return sum / values.length;
  }

  /** Population standard deviation (numpy's default ddof=0), from squared deviations. */
  private static double std(double[] values, double mean) {
    double sum = 0;
    for (double value : values) {
      double deviation = value - mean;
      sum += deviation * deviation;
    }
    return Math.sqrt(sum / values.length);
  }

  public double p50() {
    return p50;
  }

  public double p90() {
    return p90;
  }

  public double p99() {
    return p99;
  }

  public double mean() {
    return mean;
  }

  public double std() {
    return std;
  }

  public double[] samples() {
    return samples.clone();
  }
}
