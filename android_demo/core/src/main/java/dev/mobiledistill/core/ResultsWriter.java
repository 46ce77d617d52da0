package dev.mobiledistill.core;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The device-results JSON: the Python bench's schema (kind "mobile-distill-bench"), so
 * `mobile-distill` reads a phone's results like its own. Model entries carry only the keys the
 * schema allows; NaN and infinity (which JSON cannot hold) are written as null.
 */
public final class ResultsWriter {
  static final String KIND = "mobile-distill-bench";

  private ResultsWriter() {}

  public static String toJson(DeviceInfo device, TestSample sample, List<BenchmarkResult> results, String appVersion) {
    JsonObject root = new JsonObject();
    root.addProperty("kind", KIND);
    root.addProperty("schema_version", 1);
    root.addProperty("created_at", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    root.add("device", device(device, appVersion));
    root.add("data", data(sample));
    root.add("settings", settings(results));
    root.add("thresholds", new JsonObject());
    JsonArray models = new JsonArray();
    JsonArray warnings = new JsonArray();
    for (BenchmarkResult result : results) {
      models.add(model(result));
      warnings(result).forEach(warnings::add);
    }
    root.add("models", models);
    root.add("warnings", warnings);
    root.add("notes", new JsonArray());
    root.addProperty("verdict", "PASS");  // no gate thresholds on a device: it reports, the desktop judges
    return new GsonBuilder().setPrettyPrinting().disableHtmlEscaping().create().toJson(root);
  }

  /**
   * Writes atomically: a temporary file in the same folder, then a rename, so a reader (or a
   * crash mid-write) never sees half a results file.
   */
  public static void write(Path out, DeviceInfo device, TestSample sample, List<BenchmarkResult> results,
                           String appVersion) throws IOException {
    Path folder = out.toAbsolutePath().getParent();
    Files.createDirectories(folder);
    Path temp = Files.createTempFile(folder, "." + out.getFileName() + ".", ".tmp");
    try {
      // Files.write, not writeString: Android has writeString only from API 36.1.
      Files.write(temp, toJson(device, sample, results, appVersion).getBytes(StandardCharsets.UTF_8));
      Files.move(temp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  private static JsonObject device(DeviceInfo device, String appVersion) {
    JsonObject out = new JsonObject();
    out.addProperty("kind", device.kind());
    out.addProperty("model", device.model());
    out.addProperty("manufacturer", device.manufacturer());
    out.addProperty("os", device.os());
    out.addProperty("abi", device.abi());
    out.addProperty("cpu_count", device.cpuCount());
    out.addProperty("app", appVersion);
    for (Map.Entry<String, String> entry : device.extra().entrySet()) {
      if (!out.has(entry.getKey())) {
        out.addProperty(entry.getKey(), entry.getValue());
      }
    }
    return out;
  }

  private static JsonObject data(TestSample sample) {
    JsonObject source = sample.data();
    JsonObject out = new JsonObject();
    out.add("source", source);
    out.addProperty("split", source.has("split") ? source.get("split").getAsString() : "test");
    out.addProperty("rows", sample.rows());
    out.add("labels", strings(sample.labelNames()));
    out.addProperty("sample_sha256", sample.sha256());
    out.add("row_labels", ints(sample.labels()));
    out.add("reference_predictions", ints(sample.referencePredictions()));
    out.add("reference", sample.reference());
    return out;
  }

  /** From the artifacts that ran (the failed ones have no runtime or timing); zeros when none did. */
  private static JsonObject settings(List<BenchmarkResult> results) {
    Set<Integer> threads = new LinkedHashSet<>();
    BenchmarkResult first = null;
    for (BenchmarkResult result : results) {
      if (result.ran()) {
        threads.add(result.runtime().threads());
        first = first == null ? result : first;
      }
    }
    JsonObject out = new JsonObject();
    out.add("threads", ints(threads.stream().mapToInt(Integer::intValue).toArray()));
    out.addProperty("runs", first == null ? 0 : first.runs());
    out.addProperty("warmup", first == null ? 0 : first.warmup());
    out.addProperty("timing_text_characters", first == null ? 0 : first.timingTextCharacters());
    return out;
  }

  private static JsonObject model(BenchmarkResult result) {
    BundleIndex.Artifact artifact = result.artifact();
    JsonObject out = new JsonObject();
    out.addProperty("role", "artifact");
    out.addProperty("name", artifact.name());
    out.addProperty("target", artifact.target());
    out.addProperty("precision", artifact.precision());
    out.addProperty("path", artifact.folder());
    out.addProperty("sequence_length", result.sequenceLength());
    out.addProperty("size_bytes", artifact.sizeBytes());
    out.addProperty("model_sha256", result.modelSha256());
    if (!result.ran()) {
      return failed(out, result);
    }
    out.add("runtime", runtime(result.runtime()));
    out.addProperty("status", BenchmarkResult.RAN);
    out.add("accuracy", accuracy(result));
    out.add("performance", performance(result));
    out.add("predictions", ints(result.predictions()));
    out.add("logits", logits(result.logits()));
    return out;
  }

  /**
   * An artifact that did not run: its status, and why: a failed contract check for
   * "contract-failed" (gate 2 fails it and lists the check), a note for "not-run". No runtime,
   * accuracy, performance, predictions or logits: there are none, and the schema allows them absent.
   */
  private static JsonObject failed(JsonObject out, BenchmarkResult result) {
    out.addProperty("status", result.status());
    if (BenchmarkResult.CONTRACT_FAILED.equals(result.status())) {
      JsonObject check = new JsonObject();
      check.addProperty("name", result.contractCheck());
      check.addProperty("ok", false);
      check.addProperty("detail", result.detail());
      JsonArray contract = new JsonArray();
      contract.add(check);
      out.add("contract", contract);
    } else {
      out.addProperty("note", result.detail());
    }
    return out;
  }

  private static JsonObject runtime(BenchmarkResult.RuntimeInfo runtime) {
    JsonObject out = new JsonObject();
    out.addProperty("name", runtime.name());
    out.addProperty("version", runtime.version());
    out.addProperty("threads", runtime.threads());
    out.addProperty("delegate", runtime.delegate());
    return out;
  }

  private static JsonObject accuracy(BenchmarkResult result) {
    JsonObject out = new JsonObject();
    out.addProperty("rows", result.rows());
    out.add("accuracy", number(result.accuracy()));
    out.add("macro_f1", number(result.macroF1()));
    out.add("agreement_reference", number(result.agreementReference()));
    return out;
  }

  private static JsonObject performance(BenchmarkResult result) {
    JsonObject out = new JsonObject();
    out.add("load_seconds", number(result.loadSeconds()));
    out.add("cold_seconds", number(result.coldSeconds()));
    out.add("peak_rss_mb", number(result.peakRssMb()));
    out.add("baseline_rss_mb", number(result.baselineRssMb()));
    JsonArray latency = new JsonArray();
    latency.add(latency(result));
    out.add("latency", latency);
    return out;
  }

  private static JsonObject latency(BenchmarkResult result) {
    LatencyStats stats = result.latency();
    JsonObject out = new JsonObject();
    out.addProperty("threads", result.runtime().threads());
    out.addProperty("runs", result.runs());
    out.addProperty("warmup", result.warmup());
    out.add("p50_ms", number(stats.p50()));
    out.add("p90_ms", number(stats.p90()));
    out.add("p99_ms", number(stats.p99()));
    out.add("mean_ms", number(stats.mean()));
    out.add("std_ms", number(stats.std()));
    JsonArray samples = new JsonArray();
    for (double sample : stats.samples()) {
      samples.add(number(sample));
    }
    out.add("samples_ms", samples);
    return out;
  }

  /** Reasons to read a model's numbers with care, for the top-level "warnings" list. */
  private static List<String> warnings(BenchmarkResult result) {
    String name = result.artifact().name();
    int bad = 0;
    for (int prediction : result.ran() ? result.predictions() : new int[0]) {
      bad += prediction < 0 ? 1 : 0;
    }
    List<String> out = new ArrayList<>();
    if (bad > 0) {
      out.add(name + ": " + bad + " of " + result.rows() + " rows gave NaN or infinite logits (written as null,"
          + " counted as wrong)");
    }
    String claimed = result.artifact().modelSha256();
    if (claimed != null && !claimed.isEmpty() && !Objects.equals(claimed, result.modelSha256())) {
      out.add(name + ": the model file's sha256 differs from bundle.json's; the bundle was changed");
    }
    return out;
  }

  private static JsonArray logits(float[][] logits) {
    JsonArray out = new JsonArray();
    for (float[] row : logits) {
      JsonArray values = new JsonArray();
      for (float value : row) {
        // Float, not double: 0.1f is written "0.1", not "0.10000000149011612".
        values.add(Float.isFinite(value) ? new JsonPrimitive(value) : JsonNull.INSTANCE);
      }
      out.add(values);
    }
    return out;
  }

  private static JsonElement number(double value) {
    return Double.isFinite(value) ? new JsonPrimitive(value) : JsonNull.INSTANCE;
  }

  private static JsonArray ints(int[] values) {
    JsonArray out = new JsonArray();
    for (int value : values) {
      out.add(value);
    }
    return out;
  }

  private static JsonArray strings(List<String> values) {
    JsonArray out = new JsonArray();
    values.forEach(out::add);
    return out;
  }
}
