package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BenchmarkTest {
  static final String MANIFEST = """
      {"target": "tflite", "precision": "fp32", "model_file": "model.tflite",
       "inputs": [{"name": "input_ids", "dtype": "int32"}, {"name": "attention_mask", "dtype": "int32"}],
       "output": {"name": "logits"}, "sequence_length": 16, "static_shapes": true,
       "labels": ["negative", "positive"],
       "tokenizer": {"kind": "wordpiece", "lower_case": true, "strip_accents": null, "max_length": 16}}
      """;
  static final BundleIndex.Artifact ARTIFACT = new BundleIndex.Artifact("tflite-fp32-s16", "tflite-fp32-s16",
      "tflite", "fp32", "model.tflite", "abc123", 1234, 16);

  /** Says "positive" for texts of more than 6 word pieces; NaN logits for the rows listed. */
  static final class FakeRunner implements ModelRunner {
    final List<TensorSpec> declared;
    final List<Map<String, InputTensor>> calls = new ArrayList<>();
    final List<Integer> nanAtCall;
    boolean closed;

    FakeRunner(List<TensorSpec> declared, Integer... nanAtCall) {
      this.declared = declared;
      this.nanAtCall = List.of(nanAtCall);
    }

    @Override
    public List<TensorSpec> declaredInputs() {
      return declared;
    }

    @Override
    public float[] run(Map<String, InputTensor> feeds) {
      calls.add(feeds);
      if (nanAtCall.contains(calls.size() - 1)) {
        return new float[] {Float.NaN, 0.5f};
      }
      int tokens = 0;
      for (int bit : feeds.get("attention_mask").values) {
        tokens += bit;
      }
      boolean positive = tokens - 2 > 6;
      return new float[] {positive ? -0.25f : 1.5f, positive ? 2.25f : 0.1f};
    }

    @Override
    public String runtimeName() {
      return "FakeRT";
    }

    @Override
    public String runtimeVersion() {
      return "0.0.1";
    }

    @Override
    public int threads() {
      return 2;
    }

    @Override
    public void close() {
      closed = true;
    }
  }

  static Manifest manifest() {
    return Manifest.read(new ByteArrayInputStream(MANIFEST.getBytes(StandardCharsets.UTF_8)), "manifest.json");
  }

  static BertTokenizer tokenizer() {
    return new BertTokenizer(BertTokenizerTest.letters(), manifest().tokenizer());
  }

  static List<TensorSpec> int32Inputs() {
    return List.of(new TensorSpec("attention_mask", "int32"), new TensorSpec("input_ids", "int32"));
  }

  /** The sample's three rows with a fake runner that fails (NaN) at the given call numbers. */
  static BenchmarkResult run(FakeRunner runner, int runs, int warmup, Benchmark.ProgressListener listener)
      throws Exception {
    return Benchmark.run(() -> runner, manifest(), tokenizer(), BundleFilesTest.sample(BundleFilesTest.SAMPLE),
        ARTIFACT, runs, warmup, listener);
  }

  @Test
  void runsColdWarmupTimedAndEveryRowInThatOrder() throws Exception {
    FakeRunner runner = new FakeRunner(int32Inputs());
    BenchmarkResult result = run(runner, 5, 2, null);
    assertEquals(1 + 2 + 5 + 3, runner.calls.size());
    Encoding timing = tokenizer().encode("a fine film .");  // median length of the three texts
    for (int call = 0; call < 8; call++) {
      assertArrayEquals(timing.inputIds, runner.calls.get(call).get("input_ids").values, "call " + call);
    }
    assertArrayEquals(tokenizer().encode("dull").inputIds, runner.calls.get(9).get("input_ids").values);
    assertEquals("a fine film .", result.timingText());
    assertEquals(13, result.timingTextCharacters());
    assertEquals(5, result.latency().samples().length);
    assertTrue(runner.closed, "the runner is closed after the run");
  }

  @Test
  void predictionsAndAccuracyComeFromEveryRow() throws Exception {
    BenchmarkResult result = run(new FakeRunner(int32Inputs()), 3, 0, null);
    assertArrayEquals(new int[] {1, 0, 1}, result.predictions());
    assertEquals(1.0, result.accuracy());
    assertEquals(1.0, result.macroF1());
    assertEquals(2.0 / 3, result.agreementReference(), 1e-12);
    assertArrayEquals(new float[] {1.5f, 0.1f}, result.logits()[1]);
    assertEquals("FakeRT", result.runtime().name());
    assertEquals(2, result.runtime().threads());
    assertEquals("cpu", result.runtime().delegate());
    assertTrue(result.loadSeconds() >= 0 && result.coldSeconds() >= 0);
  }

  @Test
  void nanLogitsArePredictionMinusOne() throws Exception {
    BenchmarkResult result = run(new FakeRunner(int32Inputs(), 1 + 3 + 1), 3, 0, null);  // second row
    assertArrayEquals(new int[] {1, -1, 1}, result.predictions());
    assertEquals(2.0 / 3, result.accuracy(), 1e-12);
  }

  @Test
  void progressEndsEachPhaseAtItsTotal() throws Exception {
    Map<String, String> last = new LinkedHashMap<>();
    run(new FakeRunner(int32Inputs()), 4, 2, (phase, done, total) -> last.put(phase, done + "/" + total));
    assertEquals(Map.of(Benchmark.PHASE_LOAD, "1/1", Benchmark.PHASE_WARMUP, "2/2", Benchmark.PHASE_LATENCY, "4/4",
        Benchmark.PHASE_PREDICTIONS, "3/3"), last);
    assertEquals(List.of("load", "warmup", "latency", "predictions"), List.copyOf(last.keySet()));
  }

  @Test
  void aModelWithOtherInputDtypesStopsBeforeRunningAndIsClosed() {
    FakeRunner runner = new FakeRunner(List.of(new TensorSpec("input_ids", "int64"),
        new TensorSpec("attention_mask", "int64")));
    assertThrows(ContractException.class, () -> run(runner, 3, 0, null));
    assertEquals(0, runner.calls.size());
    assertTrue(runner.closed);
  }

  @Test
  void theTimingTextIsTheMedianByCodePoints() {
    // Three emoji are 6 UTF-16 chars but 3 code points: shorter than "abcd".
    String emoji = "\uD83D\uDE00\uD83D\uDE00\uD83D\uDE00";
    assertEquals("abcd", Benchmark.timingText(List.of("abcdefgh", emoji, "abcd", "a")));
    assertEquals("bb", Benchmark.timingText(List.of("ccc", "a", "bb")));
  }

  @Test
  void processMemoryReadsProcStatusOrReportsZero() {
    double rss = ProcessMemory.rssMb();
    double peak = ProcessMemory.peakRssMb();
    if (java.nio.file.Files.isReadable(java.nio.file.Paths.get("/proc/self/status"))) {
      assertTrue(rss > 1 && peak >= rss, "rss " + rss + " peak " + peak);
    } else {
      assertEquals(0.0, rss);
    }
    assertEquals(0.0, ProcessMemory.fieldMb(java.nio.file.Paths.get("/nonexistent/status"), "VmRSS:"));
  }
}
