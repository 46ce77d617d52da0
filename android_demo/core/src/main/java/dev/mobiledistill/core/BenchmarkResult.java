package dev.mobiledistill.core;

/** What one artifact did on the test sample: accuracy, latency, memory and every row's logits. */
public final class BenchmarkResult {
  /** Which runtime ran the model, as the runner reported it. */
  public record RuntimeInfo(String name, String version, int threads, String delegate) {}

  /** Resident memory of the measuring process (MB): before loading, and its peak after the run. */
  public record Memory(double baselineRssMb, double peakRssMb) {}

  /** The timed part: load, first inference, and the batch-1 runs of the timing text. */
  public record Timing(String timingText, int runs, int warmup, LatencyStats latency, double loadSeconds,
                       double coldSeconds) {}

  private final BundleIndex.Artifact artifact;
  private final int sequenceLength;
  private final RuntimeInfo runtime;
  private final Timing timing;
  private final Memory memory;
  private final int[] predictions;
  private final float[][] logits;
  private final double accuracy;
  private final double macroF1;
  private final double agreementReference;
  private final String modelSha256;

  BenchmarkResult(BundleIndex.Artifact artifact, int sequenceLength, RuntimeInfo runtime, Timing timing,
                  Memory memory, float[][] logits, TestSample sample, String modelSha256) {
    this.artifact = artifact;
    this.sequenceLength = sequenceLength;
    this.runtime = runtime;
    this.timing = timing;
    this.memory = memory;
    this.logits = logits;
    this.predictions = new int[logits.length];
    for (int i = 0; i < logits.length; i++) {
      predictions[i] = Metrics.argmax(logits[i]);
    }
    this.accuracy = Metrics.accuracy(predictions, sample.labels());
    this.macroF1 = Metrics.macroF1(predictions, sample.labels());
    this.agreementReference = Metrics.agreement(predictions, sample.referencePredictions());
    this.modelSha256 = modelSha256;
  }

  private BenchmarkResult(BenchmarkResult from, String modelSha256) {
    this.artifact = from.artifact;
    this.sequenceLength = from.sequenceLength;
    this.runtime = from.runtime;
    this.timing = from.timing;
    this.memory = from.memory;
    this.predictions = from.predictions;
    this.logits = from.logits;
    this.accuracy = from.accuracy;
    this.macroF1 = from.macroF1;
    this.agreementReference = from.agreementReference;
    this.modelSha256 = modelSha256;
  }

  /**
   * The same result recording the sha256 of the model bytes the app actually loaded (Benchmark
   * starts from bundle.json's claim, since only the caller knows which file the runner opened).
   */
  public BenchmarkResult withModelSha256(String sha256Hex) {
    return new BenchmarkResult(this, sha256Hex);
  }

  public BundleIndex.Artifact artifact() {
    return artifact;
  }

  public int sequenceLength() {
    return sequenceLength;
  }

  public RuntimeInfo runtime() {
    return runtime;
  }

  public Timing timing() {
    return timing;
  }

  public double accuracy() {
    return accuracy;
  }

  public double macroF1() {
    return macroF1;
  }

  /** Share of rows where this artifact agrees with the PyTorch reference's prediction. */
  public double agreementReference() {
    return agreementReference;
  }

  public LatencyStats latency() {
    return timing.latency();
  }

  public double loadSeconds() {
    return timing.loadSeconds();
  }

  public double coldSeconds() {
    return timing.coldSeconds();
  }

  /** VmHWM of this process after the run, in MB (kB / 1000); 0.0 where /proc is not readable. */
  public double peakRssMb() {
    return memory.peakRssMb();
  }

  /** VmRSS before the model was loaded, in MB; 0.0 where /proc is not readable. */
  public double baselineRssMb() {
    return memory.baselineRssMb();
  }

  /** One argmax per sample row; -1 where the logits held NaN or infinity. */
  public int[] predictions() {
    return predictions.clone();
  }

  public float[][] logits() {
    float[][] out = new float[logits.length][];
    for (int i = 0; i < logits.length; i++) {
      out[i] = logits[i].clone();
    }
    return out;
  }

  public int rows() {
    return predictions.length;
  }

  public int runs() {
    return timing.runs();
  }

  public int warmup() {
    return timing.warmup();
  }

  public String timingText() {
    return timing.timingText();
  }

  /** Length of the timing text in code points (Python's len(), which the bench reports). */
  public int timingTextCharacters() {
    String text = timing.timingText();
    return text.codePointCount(0, text.length());
  }

  public String modelSha256() {
    return modelSha256;
  }
}
