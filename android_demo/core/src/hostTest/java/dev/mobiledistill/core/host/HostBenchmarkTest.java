package dev.mobiledistill.core.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.mobiledistill.core.Hashing;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * HostBenchmark over a bundle of four artifacts, the runtime being a fake stdio worker (a shell
 * script): one runs, one's model file is not bundle.json's, one's worker cannot load it, one's
 * inputs are not the manifest's. The failed three are in the results file, and the exit code is 0.
 */
class HostBenchmarkTest {
  static final String WORKER = """
      #!/bin/sh
      # A stand-in for `python -m mobile_distill.runners.stdio FOLDER --threads N`: $3 is FOLDER.
      case "$3" in
        *unloadable*) echo '{"ready": false, "error": "onnxruntime: cannot load model.onnx"}'; exit 1 ;;
        *int32*) dtype=int32 ;;
        *) dtype=int64 ;;
      esac
      echo '{"ready": true, "runtime": "fake", "version": "0.1", "target": "onnx", "inputs": [{"name": "input_ids", "dtype": "'$dtype'"}, {"name": "attention_mask", "dtype": "'$dtype'"}], "load_seconds": 0.0}'
      while read -r line; do
        echo '{"logits": [0.25, -0.5], "seconds": 0.0001}'
      done
      """;

  static final String MANIFEST = """
      {"target": "onnx", "precision": "fp32", "model_file": "model.onnx",
       "inputs": [{"name": "input_ids", "dtype": "int64"}, {"name": "attention_mask", "dtype": "int64"}],
       "output": {"name": "logits"}, "sequence_length": 8, "static_shapes": false,
       "labels": ["negative", "positive"],
       "tokenizer": {"kind": "wordpiece", "lower_case": true, "strip_accents": null, "max_length": 8}}
      """;

  static final String SAMPLE = """
      {"kind": "mobile-distill-test-sample", "version": 1, "labels": ["negative", "positive"],
       "source": {"source": "planted", "split": "test"}, "reference": {"path": "student"},
       "rows": [{"text": "a fine film", "label": 0, "reference": 0},
                {"text": "dull", "label": 1, "reference": 0}]}
      """;

  /** name -> whether bundle.json's model_sha256 is the file's. */
  static Path bundle(Path root, Map<String, Boolean> artifacts) throws Exception {
    StringBuilder entries = new StringBuilder();
    for (Map.Entry<String, Boolean> artifact : artifacts.entrySet()) {
      Path folder = Files.createDirectories(root.resolve(artifact.getKey()));
      Files.write(folder.resolve("manifest.json"), MANIFEST.getBytes(StandardCharsets.UTF_8));
      Files.write(folder.resolve("vocab.txt"),
          "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nfine\nfilm\ndull\n".getBytes(StandardCharsets.UTF_8));
      byte[] model = ("model of " + artifact.getKey()).getBytes(StandardCharsets.UTF_8);
      Files.write(folder.resolve("model.onnx"), model);
      String sha256 = artifact.getValue() ? Hashing.sha256Hex(folder.resolve("model.onnx")) : "0123abcd";
      entries.append(entries.length() == 0 ? "" : ",").append("{\"name\": \"").append(artifact.getKey())
          .append("\", \"folder\": \"").append(artifact.getKey()).append("\", \"target\": \"onnx\", \"precision\":")
          .append(" \"fp32\", \"model_file\": \"model.onnx\", \"model_sha256\": \"").append(sha256)
          .append("\", \"size_bytes\": ").append(model.length).append(", \"sequence_length\": 8}");
    }
    Files.write(root.resolve("bundle.json"), ("{\"kind\": \"mobile-distill-app-bundle\", \"version\": 1,"
        + " \"sample\": \"test_sample.json\", \"artifacts\": [" + entries + "]}").getBytes(StandardCharsets.UTF_8));
    Files.write(root.resolve("test_sample.json"), SAMPLE.getBytes(StandardCharsets.UTF_8));
    Path worker = root.resolve("worker.sh");
    Files.write(worker, WORKER.getBytes(StandardCharsets.UTF_8));
    assertTrue(worker.toFile().setExecutable(true));
    return worker;
  }

  private static Map<String, JsonObject> models(Path results) throws Exception {
    JsonObject root = JsonParser.parseString(new String(Files.readAllBytes(results), StandardCharsets.UTF_8))
        .getAsJsonObject();
    Map<String, JsonObject> out = new LinkedHashMap<>();
    root.getAsJsonArray("models").forEach(m -> out.put(m.getAsJsonObject().get("name").getAsString(),
        m.getAsJsonObject()));
    return out;
  }

  @Test
  void failedArtifactsAreRecordedAndTheRunStillSucceeds(@TempDir Path dir) throws Exception {
    Map<String, Boolean> artifacts = new LinkedHashMap<>();
    artifacts.put("onnx-ok", true);
    artifacts.put("onnx-changed", false);
    artifacts.put("onnx-unloadable", true);
    artifacts.put("onnx-int32", true);
    Path worker = bundle(dir.resolve("bundle"), artifacts);
    Path out = dir.resolve("results.json");
    int code = HostBenchmark.execute(new String[] {"--bundle", dir.resolve("bundle").toString(), "--out",
        out.toString(), "--runs", "2", "--warmup", "0", "--python", worker.toString()});
    assertEquals(0, code);
    Map<String, JsonObject> models = models(out);
    assertEquals(Set.of("onnx-ok", "onnx-changed", "onnx-unloadable", "onnx-int32"), models.keySet());

    assertEquals("ran", models.get("onnx-ok").get("status").getAsString());
    assertEquals(2, models.get("onnx-ok").getAsJsonArray("predictions").size());

    JsonObject changed = models.get("onnx-changed");
    assertEquals("not-run", changed.get("status").getAsString());
    assertTrue(changed.get("note").getAsString().contains("bundle.json says 0123abcd"), changed.toString());
    String actual = Hashing.sha256Hex(dir.resolve("bundle/onnx-changed/model.onnx"));
    assertEquals(actual, changed.get("model_sha256").getAsString());  // the file's, not bundle.json's claim
    assertFalse(changed.has("accuracy") || changed.has("performance") || changed.has("predictions")
        || changed.has("logits") || changed.has("runtime"));

    JsonObject unloadable = models.get("onnx-unloadable");
    assertEquals("not-run", unloadable.get("status").getAsString());
    assertTrue(unloadable.get("note").getAsString().contains("cannot load model.onnx"), unloadable.toString());

    JsonObject int32 = models.get("onnx-int32");
    assertEquals("contract-failed", int32.get("status").getAsString());
    JsonObject check = int32.getAsJsonArray("contract").get(0).getAsJsonObject();
    assertEquals("input binding", check.get("name").getAsString());
    assertFalse(check.get("ok").getAsBoolean());
    assertTrue(check.get("detail").getAsString().contains("int32"), check.toString());
    assertFalse(int32.has("note"));
  }

  @Test
  void aBadBundleOrArtifactNameStopsWithExitCode2BeforeAnythingRuns(@TempDir Path dir) throws Exception {
    Map<String, Boolean> artifacts = new LinkedHashMap<>();
    artifacts.put("onnx-ok", true);
    Path worker = bundle(dir.resolve("bundle"), artifacts);
    Path out = dir.resolve("results.json");
    assertEquals(2, HostBenchmark.execute(new String[] {"--bundle", dir.resolve("bundle").toString(), "--out",
        out.toString(), "--artifact", "nope", "--python", worker.toString()}));
    assertEquals(2, HostBenchmark.execute(new String[] {"--bundle", dir.resolve("missing").toString(), "--out",
        out.toString()}));
    assertEquals(2, HostBenchmark.execute(new String[] {"--bundle", dir.toString()}));
    assertFalse(Files.exists(out));
  }
}
