package dev.mobiledistill.core;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/** Runs one artifact over the test sample: load, cold start, warm batch-1 latency, every row's logits. */
public final class Benchmark {
  public static final String PHASE_LOAD = "load";
  public static final String PHASE_WARMUP = "warmup";
  public static final String PHASE_LATENCY = "latency";
  public static final String PHASE_PREDICTIONS = "predictions";

  private Benchmark() {}

  public interface RunnerFactory {
    ModelRunner open() throws Exception;
  }

  public interface ProgressListener {
    void onProgress(String phase, int done, int total);
  }

  /**
   * Loads through the factory (timed: load_seconds), binds inputs by name, runs the first
   * inference on the timing text (cold_seconds), {@code warmup} untimed then {@code runs} timed
   * batch-1 runs of it, then every sample text once for predictions and logits. Throws what
   * stopped the run (a ContractException when the model file breaks manifest.json's contract,
   * the runner's error when it cannot load); record it with {@link BenchmarkResult#failed(
   * BundleIndex.Artifact, Throwable)} so the artifact still reaches the results file.
   */
  public static BenchmarkResult run(RunnerFactory factory, Manifest manifest, BertTokenizer tokenizer,
                                    TestSample sample, BundleIndex.Artifact artifact, int runs, int warmup,
                                    ProgressListener listener) throws Exception {
    if (runs < 1 || warmup < 0) {
      throw new IllegalArgumentException("runs must be >= 1 and warmup >= 0, got runs=" + runs + " warmup=" + warmup);
    }
    ProgressListener progress = listener != null ? listener : (phase, done, total) -> { };
    double baselineRss = ProcessMemory.rssMb();
    progress.onProgress(PHASE_LOAD, 0, 1);
    long start = System.nanoTime();
    try (ModelRunner runner = factory.open()) {
      double loadSeconds = seconds(System.nanoTime() - start);
      progress.onProgress(PHASE_LOAD, 1, 1);
      InputBinder binder = InputBinder.bind(manifest, runner.declaredInputs());
      String text = timingText(sample.texts());
      BenchmarkResult.Timing timing = time(runner, binder.feeds(tokenizer.encode(text)), text, runs, warmup,
          loadSeconds, progress);
      float[][] logits = predict(runner, binder, tokenizer, sample.texts(), progress);
      checkWidth(logits, manifest.labels().size());
      BenchmarkResult.Memory memory = new BenchmarkResult.Memory(baselineRss, ProcessMemory.peakRssMb());
      return new BenchmarkResult(artifact, manifest.sequenceLength(), runtimeInfo(runner), timing, memory, logits,
          sample, artifact.modelSha256());
    }
  }

  private static BenchmarkResult.RuntimeInfo runtimeInfo(ModelRunner runner) {
    return new BenchmarkResult.RuntimeInfo(runner.runtimeName(), runner.runtimeVersion(), runner.threads(),
        runner.delegate());
  }

  /**
   * The sample text of median length (a stable sort by code-point length, index n/2): a typical
   * input, chosen as the Python bench chooses it (sorted(texts, key=len)[n // 2], where len counts
   * code points). It is padded to full length like any text.
   */
  static String timingText(List<String> texts) {
    List<String> sorted = new ArrayList<>(texts);
    sorted.sort(Comparator.comparingInt(text -> text.codePointCount(0, text.length())));
    return sorted.get(sorted.size() / 2);
  }

  /** The cold first run, then {@code warmup} untimed and {@code runs} timed runs of the same feeds. */
  private static BenchmarkResult.Timing time(ModelRunner runner, Map<String, InputTensor> feeds, String text, int runs,
                                             int warmup, double loadSeconds, ProgressListener progress) {
    long start = System.nanoTime();
    runner.run(feeds);
    double coldSeconds = seconds(System.nanoTime() - start);
    for (int i = 0; i < warmup; i++) {
      runner.run(feeds);
      progress.onProgress(PHASE_WARMUP, i + 1, warmup);
    }
    double[] samplesMs = new double[runs];
    for (int i = 0; i < runs; i++) {
      start = System.nanoTime();
      runner.run(feeds);
      samplesMs[i] = (System.nanoTime() - start) / 1e6;
      progress.onProgress(PHASE_LATENCY, i + 1, runs);
    }
    return new BenchmarkResult.Timing(text, runs, warmup, LatencyStats.of(samplesMs), loadSeconds, coldSeconds);
  }

  private static float[][] predict(ModelRunner runner, InputBinder binder, BertTokenizer tokenizer,
                                   List<String> texts, ProgressListener progress) {
    float[][] logits = new float[texts.size()][];
    for (int i = 0; i < logits.length; i++) {
      logits[i] = runner.run(binder.feeds(tokenizer.encode(texts.get(i))));
      progress.onProgress(PHASE_PREDICTIONS, i + 1, logits.length);
    }
    return logits;
  }

  /** One logit per label, or the predictions would index labels that do not exist. */
  private static void checkWidth(float[][] logits, int labels) {
    for (float[] row : logits) {
      if (row == null || row.length != labels) {
        throw new ContractException(ContractException.OUTPUTS, "the model returned "
            + (row == null ? "no" : row.length) + " logits but manifest.json lists " + labels
            + " labels: re-export or fix manifest.json");
      }
    }
  }

  private static double seconds(long nanos) {
    return nanos / 1e9;
  }
}
