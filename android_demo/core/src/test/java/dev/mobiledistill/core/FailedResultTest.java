package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** An artifact that cannot be benchmarked still reaches the results file, as "contract-failed" or "not-run". */
class FailedResultTest {
  static final Set<String> FAILED_KEYS = Set.of("role", "name", "target", "precision", "path", "sequence_length",
      "size_bytes", "model_sha256", "status");

  private static JsonObject written(List<BenchmarkResult> results) {
    String json = ResultsWriter.toJson(ResultsWriterTest.PHONE, BundleFilesTest.sample(BundleFilesTest.SAMPLE),
        results, ResultsWriterTest.APP);
    return JsonParser.parseString(json).getAsJsonObject();
  }

  private static JsonObject model(JsonObject root, int index) {
    return root.getAsJsonArray("models").get(index).getAsJsonObject();
  }

  /** What Benchmark.run throws for this runner, recorded as the app and the JVM harness record it. */
  private static BenchmarkResult recorded(Benchmark.RunnerFactory factory) {
    Exception error = assertThrows(Exception.class, () -> Benchmark.run(factory, BenchmarkTest.manifest(),
        BenchmarkTest.tokenizer(), BundleFilesTest.sample(BundleFilesTest.SAMPLE), BenchmarkTest.ARTIFACT, 3, 0, null));
    return BenchmarkResult.failed(BenchmarkTest.ARTIFACT, error);
  }

  @Test
  void aBindingFailureIsWrittenAsContractFailedWithTheCheck() {
    BenchmarkTest.FakeRunner int64 = new BenchmarkTest.FakeRunner(List.of(new TensorSpec("input_ids", "int64"),
        new TensorSpec("attention_mask", "int64")));
    BenchmarkResult result = recorded(() -> int64);
    assertEquals(BenchmarkResult.CONTRACT_FAILED, result.status());
    assertFalse(result.ran());
    JsonObject model = model(written(List.of(result)), 0);
    Set<String> keys = new java.util.HashSet<>(FAILED_KEYS);
    keys.add("contract");
    assertEquals(keys, model.keySet());
    assertEquals("contract-failed", model.get("status").getAsString());
    JsonArray contract = model.getAsJsonArray("contract");
    assertEquals(1, contract.size());
    JsonObject check = contract.get(0).getAsJsonObject();
    assertEquals(Set.of("name", "ok", "detail"), check.keySet());
    assertEquals("input binding", check.get("name").getAsString());
    assertFalse(check.get("ok").getAsBoolean());
    assertTrue(check.get("detail").getAsString().contains("int64"), check.toString());
    assertEquals("abc123", model.get("model_sha256").getAsString());  // bundle.json's, until the file is hashed
    assertEquals(16, model.get("sequence_length").getAsInt());
  }

  @Test
  void aRuntimeErrorWhileLoadingIsWrittenAsNotRunWithANote() {
    BenchmarkResult result = recorded(() -> {
      throw new IllegalStateException("the runtime cannot load\nmodel.tflite: unsupported op");
    });
    assertEquals(BenchmarkResult.NOT_RUN, result.status());
    JsonObject model = model(written(List.of(result)), 0);
    Set<String> keys = new java.util.HashSet<>(FAILED_KEYS);
    keys.add("note");
    assertEquals(keys, model.keySet());
    assertEquals("not-run", model.get("status").getAsString());
    assertEquals("IllegalStateException: the runtime cannot load model.tflite: unsupported op",
        model.get("note").getAsString());
  }

  @Test
  void aModelFileThatIsNotBundleJsonsIsNotRunAndKeepsItsHash() {
    BundleException mismatch = assertThrows(BundleException.class,
        () -> BenchmarkTest.ARTIFACT.checkModelSha256("fff000"));
    assertTrue(mismatch.getMessage().contains("fff000") && mismatch.getMessage().contains("abc123"));
    BenchmarkTest.ARTIFACT.checkModelSha256("ABC123");  // hex case does not matter
    BenchmarkResult result = BenchmarkResult.failed(BenchmarkTest.ARTIFACT, mismatch).withModelSha256("fff000");
    assertEquals(BenchmarkResult.NOT_RUN, result.status());
    assertEquals(mismatch.getMessage(), result.detail());  // a BundleException's own words, no type name
    JsonObject root = written(List.of(result));
    assertEquals("fff000", model(root, 0).get("model_sha256").getAsString());
    assertEquals(mismatch.getMessage(), model(root, 0).get("note").getAsString());
    assertTrue(root.getAsJsonArray("warnings").get(0).getAsString().contains("sha256"));
  }

  @Test
  void aWrappedContractExceptionIsStillAContractFailure() {
    BenchmarkResult result = BenchmarkResult.failed(BenchmarkTest.ARTIFACT,
        new RuntimeException("wrapped", new ContractException("input 'x' is int32 in manifest.json")));
    assertEquals(BenchmarkResult.CONTRACT_FAILED, result.status());
    assertEquals("input binding", result.contractCheck());
    assertEquals("input 'x' is int32 in manifest.json", result.detail());
  }

  @Test
  void logitsOfTheWrongWidthFailTheOutputsCheck() {
    BenchmarkTest.FakeRunner fake = new BenchmarkTest.FakeRunner(BenchmarkTest.int32Inputs());
    ModelRunner threeLogits = new ModelRunner() {
      @Override
      public List<TensorSpec> declaredInputs() {
        return fake.declaredInputs();
      }

      @Override
      public float[] run(java.util.Map<String, InputTensor> feeds) {
        return new float[] {0.1f, 0.2f, 0.3f};  // the manifest lists two labels
      }

      @Override
      public String runtimeName() {
        return fake.runtimeName();
      }

      @Override
      public String runtimeVersion() {
        return fake.runtimeVersion();
      }

      @Override
      public int threads() {
        return 1;
      }

      @Override
      public void close() {}
    };
    BenchmarkResult result = recorded(() -> threeLogits);
    assertEquals(BenchmarkResult.CONTRACT_FAILED, result.status());
    assertEquals("outputs", result.contractCheck());
    assertEquals("outputs", model(written(List.of(result)), 0).getAsJsonArray("contract").get(0).getAsJsonObject()
        .get("name").getAsString());
  }

  @Test
  void theExplicitFactoryTakesOnlyTheTwoFailedStatuses() {
    BenchmarkResult contract = BenchmarkResult.failed(BenchmarkTest.ARTIFACT, "contract-failed", "bad inputs");
    assertEquals("input binding", contract.contractCheck());
    BenchmarkResult notRun = BenchmarkResult.failed(BenchmarkTest.ARTIFACT, "not-run", "no runtime for coreml");
    assertNull(notRun.contractCheck());
    assertEquals("no runtime for coreml", model(written(List.of(notRun)), 0).get("note").getAsString());
    assertThrows(IllegalArgumentException.class, () -> BenchmarkResult.failed(BenchmarkTest.ARTIFACT, "ran", "x"));
  }

  @Test
  void aFailedResultHasNoNumbers() {
    BenchmarkResult result = BenchmarkResult.failed(BenchmarkTest.ARTIFACT, "not-run", "x");
    assertNull(result.runtime());
    assertEquals(0, result.rows());
    IllegalStateException e = assertThrows(IllegalStateException.class, result::latency);
    assertTrue(e.getMessage().contains("tflite-fp32-s16") && e.getMessage().contains("not-run"), e.getMessage());
    assertThrows(IllegalStateException.class, result::accuracy);
    assertThrows(IllegalStateException.class, result::predictions);
  }

  @Test
  void settingsComeFromTheArtifactsThatRanWhicheverComesFirst() throws Exception {
    BenchmarkResult ran = BenchmarkTest.run(new BenchmarkTest.FakeRunner(BenchmarkTest.int32Inputs()), 4, 1, null);
    BenchmarkResult failed = BenchmarkResult.failed(BenchmarkTest.ARTIFACT, "not-run", "x");
    JsonObject root = written(List.of(failed, ran));
    JsonObject settings = root.getAsJsonObject("settings");
    assertEquals("[2]", settings.get("threads").toString());
    assertEquals(4, settings.get("runs").getAsInt());
    assertEquals(1, settings.get("warmup").getAsInt());
    assertEquals(13, settings.get("timing_text_characters").getAsInt());
    assertEquals("not-run", model(root, 0).get("status").getAsString());
    assertEquals("ran", model(root, 1).get("status").getAsString());
    assertEquals(List.of(), List.copyOf(root.getAsJsonArray("warnings").asList()));
  }

  @Test
  void aFileWhereNothingRanIsStillWritten() {
    JsonObject root = written(List.of(BenchmarkResult.failed(BenchmarkTest.ARTIFACT, "not-run", "x")));
    JsonObject settings = root.getAsJsonObject("settings");
    assertEquals("[]", settings.get("threads").toString());
    assertEquals(0, settings.get("runs").getAsInt());
    assertEquals(1, root.getAsJsonArray("models").size());
  }
}
