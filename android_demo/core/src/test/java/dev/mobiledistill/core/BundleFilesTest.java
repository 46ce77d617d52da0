package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** bundle.json and test_sample.json. */
class BundleFilesTest {
  static final String BUNDLE = """
      {"kind": "mobile-distill-app-bundle", "version": 1, "created_at": "2026-11-29T20:00:00+00:00",
       "sample": "test_sample.json",
       "artifacts": [{"name": "tflite-fp32-s64", "folder": "tflite-fp32-s64", "target": "tflite",
                      "precision": "fp32", "model_file": "model.tflite", "model_sha256": "abc123",
                      "size_bytes": 123, "sequence_length": 64}]}
      """;

  static final String SAMPLE = """
      {"kind": "mobile-distill-test-sample", "version": 1,
       "labels": ["negative", "positive"],
       "source": {"source": "rotten_tomatoes", "split": "test", "fingerprint": "f00d"},
       "reference": {"path": "runs/default/student", "hash": "68a8fbd572ae36bf", "accuracy": 0.81},
       "rows": [{"text": "a fine film .", "label": 1, "reference": 1},
                {"text": "dull", "label": 0, "reference": 1},
                {"text": "a long and winding but rewarding film .", "label": 1, "reference": 1}]}
      """;

  static TestSample sample(String json) {
    return TestSample.read(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "test_sample.json");
  }

  @Test
  void readsTheBundleIndex() {
    BundleIndex index = BundleIndex.read(new ByteArrayInputStream(BUNDLE.getBytes(StandardCharsets.UTF_8)), "bundle.json");
    assertEquals("test_sample.json", index.sampleFile());
    BundleIndex.Artifact a = index.artifacts().get(0);
    assertEquals("tflite-fp32-s64", a.name());
    assertEquals("tflite-fp32-s64", a.folder());
    assertEquals("tflite", a.target());
    assertEquals("fp32", a.precision());
    assertEquals("model.tflite", a.modelFile());
    assertEquals("abc123", a.modelSha256());
    assertEquals(123L, a.sizeBytes());
    assertEquals(64, a.sequenceLength());
    assertEquals(a, index.artifact("tflite-fp32-s64"));
    assertNull(index.artifact("nope"));
  }

  @Test
  void aBundleOfAnotherKindIsRejected() {
    String other = BUNDLE.replace("mobile-distill-app-bundle", "something-else");
    BundleException e = assertThrows(BundleException.class,
        () -> BundleIndex.read(new ByteArrayInputStream(other.getBytes(StandardCharsets.UTF_8)), "bundle.json"));
    assertTrue(e.getMessage().contains("something-else"), e.getMessage());
  }

  @Test
  void readsTheTestSample() {
    TestSample s = sample(SAMPLE);
    assertEquals(List.of("a fine film .", "dull", "a long and winding but rewarding film ."), s.texts());
    assertArrayEquals(new int[] {1, 0, 1}, s.labels());
    assertArrayEquals(new int[] {1, 1, 1}, s.referencePredictions());
    assertEquals(List.of("negative", "positive"), s.labelNames());
    assertEquals("rotten_tomatoes", s.data().get("source").getAsString());
    assertEquals("68a8fbd572ae36bf", s.reference().get("hash").getAsString());
    assertEquals(3, s.rows());
  }

  @Test
  void theSampleHashIsOfTheBytesAsRead(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("test_sample.json");
    Files.writeString(file, SAMPLE, StandardCharsets.UTF_8);
    // sha256 of the same bytes, computed independently of TestSample
    java.security.MessageDigest digest = java.security.MessageDigest.getInstance("SHA-256");
    StringBuilder hex = new StringBuilder();
    for (byte b : digest.digest(Files.readAllBytes(file))) {
      hex.append(String.format("%02x", b));
    }
    assertEquals(hex.toString(), TestSample.read(file).sha256());
    assertEquals(hex.toString(), Hashing.sha256Hex(file));
  }

  @Test
  void aLabelOutsideTheLabelListIsRejected() {
    BundleException e = assertThrows(BundleException.class,
        () -> sample(SAMPLE.replace("\"label\": 0", "\"label\": 2")));
    assertTrue(e.getMessage().contains("rows[1]"), e.getMessage());
  }

  @Test
  void aRowWithoutReferenceIsRejected() {
    BundleException e = assertThrows(BundleException.class,
        () -> sample(SAMPLE.replace("\"label\": 0, \"reference\": 1", "\"label\": 0")));
    assertTrue(e.getMessage().contains("'reference' is missing"), e.getMessage());
  }
}
