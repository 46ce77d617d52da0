package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResultsWriterTest {
  static final DeviceInfo PHONE = new DeviceInfo("android", "Pixel 7", "Google", "Android 14 (SDK 34)", "arm64-v8a",
      8, Map.of("soc", "Tensor G2"));
  static final String APP = "mobile-distill android_demo 0.1.0";

  private static JsonObject written(BenchmarkResult result) {
    String json = ResultsWriter.toJson(PHONE, BundleFilesTest.sample(BundleFilesTest.SAMPLE), List.of(result), APP);
    return JsonParser.parseString(json).getAsJsonObject();
  }

  private static BenchmarkResult result(Integer... nanAtCall) throws Exception {
    return BenchmarkTest.run(new BenchmarkTest.FakeRunner(BenchmarkTest.int32Inputs(), nanAtCall), 4, 1, null);
  }

  @Test
  void theTopLevelFollowsTheBenchSchema() throws Exception {
    JsonObject root = written(result());
    assertEquals(Set.of("kind", "schema_version", "created_at", "device", "data", "settings", "thresholds", "models",
        "warnings", "notes", "verdict"), root.keySet());
    assertEquals("mobile-distill-bench", root.get("kind").getAsString());
    assertEquals(1, root.get("schema_version").getAsInt());
    assertTrue(root.get("created_at").getAsString().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ"));
    assertEquals("PASS", root.get("verdict").getAsString());
    JsonObject device = root.getAsJsonObject("device");
    assertEquals("android", device.get("kind").getAsString());
    assertEquals(8, device.get("cpu_count").getAsInt());
    assertEquals(APP, device.get("app").getAsString());
    assertEquals("Tensor G2", device.get("soc").getAsString());
  }

  @Test
  void dataAndSettingsEchoTheSampleAndTheRun() throws Exception {
    JsonObject root = written(result());
    JsonObject data = root.getAsJsonObject("data");
    assertEquals("rotten_tomatoes", data.getAsJsonObject("source").get("source").getAsString());
    assertEquals("test", data.get("split").getAsString());
    assertEquals(3, data.get("rows").getAsInt());
    assertEquals("[1,0,1]", data.get("row_labels").toString());
    assertEquals("[1,1,1]", data.get("reference_predictions").toString());
    assertEquals("68a8fbd572ae36bf", data.getAsJsonObject("reference").get("hash").getAsString());
    assertEquals(64, data.get("sample_sha256").getAsString().length());
    JsonObject settings = root.getAsJsonObject("settings");
    assertEquals("[2]", settings.get("threads").toString());
    assertEquals(4, settings.get("runs").getAsInt());
    assertEquals(1, settings.get("warmup").getAsInt());
    assertEquals(13, settings.get("timing_text_characters").getAsInt());
  }

  @Test
  void aModelEntryHasExactlyTheSchemaKeys() throws Exception {
    BenchmarkResult result = result();
    JsonObject model = written(result).getAsJsonArray("models").get(0).getAsJsonObject();
    assertEquals(Set.of("role", "name", "target", "precision", "path", "sequence_length", "size_bytes", "model_sha256",
        "runtime", "status", "accuracy", "performance", "predictions", "logits"), model.keySet());
    assertEquals("artifact", model.get("role").getAsString());
    assertEquals("ran", model.get("status").getAsString());
    assertEquals(16, model.get("sequence_length").getAsInt());
    assertEquals(Set.of("name", "version", "threads", "delegate"), model.getAsJsonObject("runtime").keySet());
    JsonObject accuracy = model.getAsJsonObject("accuracy");
    assertEquals(Set.of("rows", "accuracy", "macro_f1", "agreement_reference"), accuracy.keySet());
    assertEquals(1.0, accuracy.get("accuracy").getAsDouble());
    JsonObject performance = model.getAsJsonObject("performance");
    assertEquals(Set.of("load_seconds", "cold_seconds", "peak_rss_mb", "baseline_rss_mb", "latency"),
        performance.keySet());
    JsonObject latency = performance.getAsJsonArray("latency").get(0).getAsJsonObject();
    assertEquals(Set.of("threads", "runs", "warmup", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "samples_ms"),
        latency.keySet());
    assertEquals(result.latency().p90(), latency.get("p90_ms").getAsDouble());
    assertEquals(4, latency.getAsJsonArray("samples_ms").size());
    assertEquals("[1.5,0.1]", model.getAsJsonArray("logits").get(1).toString());
  }

  @Test
  void nanLogitsAreWrittenAsNullWithAWarning() throws Exception {
    JsonObject root = written(result(1 + 4 + 1 + 1));  // cold, warmup, 4 runs, then the second row
    JsonObject model = root.getAsJsonArray("models").get(0).getAsJsonObject();
    JsonArray row = model.getAsJsonArray("logits").get(1).getAsJsonArray();
    assertTrue(row.get(0).isJsonNull());
    assertEquals(0.5, row.get(1).getAsDouble());
    assertEquals(-1, model.getAsJsonArray("predictions").get(1).getAsInt());
    assertEquals(1, root.getAsJsonArray("warnings").size());
    assertTrue(root.getAsJsonArray("warnings").get(0).getAsString().contains("NaN"));
  }

  @Test
  void theLoadedModelHashIsRecordedAndADifferenceWarned() throws Exception {
    JsonObject root = written(result().withModelSha256("fff000"));
    assertEquals("fff000", root.getAsJsonArray("models").get(0).getAsJsonObject().get("model_sha256").getAsString());
    assertTrue(root.getAsJsonArray("warnings").get(0).getAsString().contains("sha256"));
  }

  @Test
  void writeReplacesTheFileAtomicallyAndLeavesNoTemporaryFile(@TempDir Path dir) throws Exception {
    Path out = dir.resolve("results").resolve("device.json");
    BenchmarkResult result = result();
    TestSample sample = BundleFilesTest.sample(BundleFilesTest.SAMPLE);
    ResultsWriter.write(out, PHONE, sample, List.of(result), APP);
    ResultsWriter.write(out, PHONE, sample, List.of(result, result), APP);
    JsonObject root = JsonParser.parseString(Files.readString(out, StandardCharsets.UTF_8)).getAsJsonObject();
    assertEquals(2, root.getAsJsonArray("models").size());
    try (Stream<Path> files = Files.list(out.getParent())) {
      assertEquals(Set.of("device.json"), files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
    }
  }
}
