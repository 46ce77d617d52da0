package dev.mobiledistill.core;

/**
 * What one artifact did on the test sample: accuracy, latency, memory and every row's logits; or,
 * for an artifact that could not be benchmarked ({@link #failed}), why not. A failed artifact is
 * still written to the results file (status "contract-failed" or "not-run"), so the desktop's
 * gate 2 sees it instead of a file that silently lacks it.
 */
public final class BenchmarkResult {
  /** The status of an artifact that ran: every number below is filled. */
  public static final String RAN = "ran";
  /** The model file breaks its own contract (inputs or outputs unlike manifest.json's). */
  public static final String CONTRACT_FAILED = "contract-failed";
  /** Anything else that stopped the artifact: a changed model file, a bad bundle file, a runtime error. */
  public static final String NOT_RUN = "not-run";

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
  private final String status;
  private final String detail;
  private final String contractCheck;

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
    this.status = RAN;
    this.detail = null;
    this.contractCheck = null;
  }

  /** A result for an artifact that did not run; see {@link #failed(BundleIndex.Artifact, String, String)}. */
  private BenchmarkResult(BundleIndex.Artifact artifact, String status, String contractCheck, String detail) {
    this.artifact = artifact;
    this.sequenceLength = artifact.sequenceLength();
    this.runtime = null;
    this.timing = null;
    this.memory = null;
    this.predictions = new int[0];
    this.logits = new float[0][];
    this.accuracy = Double.NaN;
    this.macroF1 = Double.NaN;
    this.agreementReference = Double.NaN;
    this.modelSha256 = artifact.modelSha256();
    this.status = status;
    this.detail = detail;
    this.contractCheck = contractCheck;
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
    this.status = from.status;
    this.detail = from.detail;
    this.contractCheck = from.contractCheck;
  }

  /**
   * An artifact that could not be benchmarked, for the results file: {@code status} is
   * {@link #CONTRACT_FAILED} (written with a failed "input binding" contract check) or
   * {@link #NOT_RUN} (written with {@code detail} as its note). It has no runtime, accuracy,
   * performance, predictions or logits. Its model_sha256 starts as bundle.json's claim, as a
   * result of Benchmark.run does; record the hash of the file when it was hashed with
   * {@link #withModelSha256}.
   */
  public static BenchmarkResult failed(BundleIndex.Artifact artifact, String status, String detail) {
    return failed(artifact, status, ContractException.INPUT_BINDING, detail);
  }

  /**
   * The failed result {@code error} calls for: a ContractException (anywhere in its causes) is
   * {@link #CONTRACT_FAILED} under the check it names; anything else, such as a BundleException
   * for a model file that is not bundle.json's or the runtime refusing to load the file, is
   * {@link #NOT_RUN}. The detail is the error's message on one line.
   */
  public static BenchmarkResult failed(BundleIndex.Artifact artifact, Throwable error) {
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      if (cause instanceof ContractException contract) {
        return failed(artifact, CONTRACT_FAILED, contract.check(), JsonFields.oneLine(contract.getMessage()));
      }
    }
    for (Throwable cause = error; cause != null; cause = cause.getCause()) {
      if (cause instanceof BundleException) {
        return failed(artifact, NOT_RUN, null, JsonFields.oneLine(cause.getMessage()));
      }
    }
    String message = error.getMessage();
    String detail = error.getClass().getSimpleName() + (message == null || message.trim().isEmpty() ? ""
        : ": " + JsonFields.oneLine(message));
    return failed(artifact, NOT_RUN, null, detail);
  }

  private static BenchmarkResult failed(BundleIndex.Artifact artifact, String status, String check, String detail) {
    if (!status.equals(CONTRACT_FAILED) && !status.equals(NOT_RUN)) {
      throw new IllegalArgumentException("a failed result's status is '" + CONTRACT_FAILED + "' or '" + NOT_RUN
          + "', not '" + status + "'");
    }
    String text = detail == null || detail.trim().isEmpty() ? "no detail" : JsonFields.oneLine(detail);
    return new BenchmarkResult(artifact, status, status.equals(CONTRACT_FAILED) ? check : null, text);
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

  /** {@link #RAN}, {@link #CONTRACT_FAILED} or {@link #NOT_RUN}. */
  public String status() {
    return status;
  }

  /** Whether the artifact ran: only then are the numbers (latency, accuracy, logits...) there. */
  public boolean ran() {
    return RAN.equals(status);
  }

  /** Why a failed artifact did not run (one line); null when it ran. */
  public String detail() {
    return detail;
  }

  /** The contract check a {@link #CONTRACT_FAILED} artifact failed (e.g. "input binding"); null otherwise. */
  public String contractCheck() {
    return contractCheck;
  }

  /** Throws for the numbers of an artifact that did not run: there are none. */
  private void requireRan() {
    if (!ran()) {
      throw new IllegalStateException(artifact.name() + " did not run (" + status + ": " + detail + ")");
    }
  }

  public int sequenceLength() {
    return sequenceLength;
  }

  /** Null for an artifact that did not run. */
  public RuntimeInfo runtime() {
    return runtime;
  }

  /** Null for an artifact that did not run. */
  public Timing timing() {
    return timing;
  }

  public double accuracy() {
    requireRan();
    return accuracy;
  }

  public double macroF1() {
    requireRan();
    return macroF1;
  }

  /** Share of rows where this artifact agrees with the PyTorch reference's prediction. */
  public double agreementReference() {
    requireRan();
    return agreementReference;
  }

  public LatencyStats latency() {
    requireRan();
    return timing.latency();
  }

  public double loadSeconds() {
    requireRan();
    return timing.loadSeconds();
  }

  public double coldSeconds() {
    requireRan();
    return timing.coldSeconds();
  }

  /** VmHWM of this process after the run, in MB (kB / 1000); 0.0 where /proc is not readable. */
  public double peakRssMb() {
    requireRan();
    return memory.peakRssMb();
  }

  /** VmRSS before the model was loaded, in MB; 0.0 where /proc is not readable. */
  public double baselineRssMb() {
    requireRan();
    return memory.baselineRssMb();
  }

  /** One argmax per sample row; -1 where the logits held NaN or infinity. */
  public int[] predictions() {
    requireRan();
    return predictions.clone();
  }

  public float[][] logits() {
    requireRan();
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
    requireRan();
    return timing.runs();
  }

  public int warmup() {
    requireRan();
    return timing.warmup();
  }

  public String timingText() {
    requireRan();
    return timing.timingText();
  }

  /** Length of the timing text in code points (Python's len(), which the bench reports). */
  public int timingTextCharacters() {
    requireRan();
    String text = timing.timingText();
    return text.codePointCount(0, text.length());
  }

  public String modelSha256() {
    return modelSha256;
  }
}
