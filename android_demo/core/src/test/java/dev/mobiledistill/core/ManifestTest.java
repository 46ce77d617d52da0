package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ManifestTest {
  /** The spec's example manifest.json. */
  static final String EXAMPLE = """
      {"manifest_version": 1, "target": "onnx", "precision": "int8-static", "model_file": "model.onnx",
       "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]},
                  {"name": "attention_mask", "dtype": "int64", "shape": ["batch", "sequence"]}],
       "output": {"name": "logits", "dtype": "float32", "shape": ["batch", 2]},
       "sequence_length": 64, "static_shapes": false, "labels": ["negative", "positive"],
       "tokenizer": {"kind": "wordpiece", "lower_case": true, "strip_accents": null, "max_length": 64,
         "padding_side": "right", "truncation_side": "right",
         "special_tokens": {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                            "unk_token": "[UNK]", "mask_token": "[MASK]"},
         "special_token_ids": {"cls_token": 101, "sep_token": 102, "pad_token": 0, "unk_token": 100,
                               "mask_token": 103},
         "files": ["tokenizer.json", "tokenizer_config.json", "vocab.txt"]}}
      """;

  static Manifest read(String json) {
    return Manifest.read(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "manifest.json");
  }

  @Test
  void readsTheSpecExample() {
    Manifest m = read(EXAMPLE);
    assertEquals("onnx", m.target());
    assertEquals("int8-static", m.precision());
    assertEquals("model.onnx", m.modelFile());
    assertEquals(List.of(new TensorSpec("input_ids", "int64"), new TensorSpec("attention_mask", "int64")), m.inputs());
    assertEquals(List.of("batch", "sequence"), m.inputs().get(0).shape());
    assertEquals("logits", m.outputName());
    assertEquals(64, m.sequenceLength());
    assertFalse(m.staticShapes());
    assertEquals(List.of("negative", "positive"), m.labels());
    TokenizerSettings t = m.tokenizer();
    assertTrue(t.lowerCase());
    assertNull(t.stripAccents());
    assertTrue(t.stripsAccents());
    assertEquals(64, t.maxLength());
    assertEquals("right", t.paddingSide());
    assertEquals("[CLS]", t.clsToken());
    assertEquals("[UNK]", t.unkToken());
  }

  @Test
  void aMissingFieldNamesTheFileAndTheField() {
    BundleException e = assertThrows(BundleException.class, () -> read(EXAMPLE.replace("\"model_file\"", "\"file\"")));
    assertTrue(e.getMessage().startsWith("manifest.json"), e.getMessage());
    assertTrue(e.getMessage().contains("'model_file' is missing"), e.getMessage());
    assertFalse(e.getMessage().contains("\n"));
  }

  @Test
  void aFloatInputDtypeIsRejected() {
    BundleException e = assertThrows(BundleException.class,
        () -> read(EXAMPLE.replaceFirst("\"int64\"", "\"float32\"")));
    assertTrue(e.getMessage().contains("float32"), e.getMessage());
  }

  @Test
  void tokenizerMaxLengthMustEqualSequenceLength() {
    BundleException e = assertThrows(BundleException.class,
        () -> read(EXAMPLE.replace("\"max_length\": 64", "\"max_length\": 128")));
    assertTrue(e.getMessage().contains("128"), e.getMessage());
  }

  @Test
  void onlyWordPieceTokenizersAreAccepted() {
    BundleException e = assertThrows(BundleException.class,
        () -> read(EXAMPLE.replace("\"wordpiece\"", "\"sentencepiece\"")));
    assertTrue(e.getMessage().contains("sentencepiece"), e.getMessage());
  }

  @Test
  void fractionalNumbersAreNotSilentlyTruncated() {
    assertThrows(BundleException.class, () -> read(EXAMPLE.replace("\"sequence_length\": 64", "\"sequence_length\": 64.5")));
  }

  @Test
  void invalidJsonIsABundleException() {
    BundleException e = assertThrows(BundleException.class, () -> read("{\"target\": "));
    assertTrue(e.getMessage().startsWith("manifest.json: not valid JSON"), e.getMessage());
  }

  @Test
  void settingsCanBeReadFromATokenizerOnlyManifest() {
    String json = "{\"sequence_length\": 48, \"tokenizer\": {\"kind\": \"wordpiece\", \"lower_case\": false,"
        + " \"strip_accents\": true, \"max_length\": 48, \"padding_side\": \"left\", \"truncation_side\": \"right\"}}";
    TokenizerSettings t = TokenizerSettings.fromManifestJson(
        new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "manifest.json");
    assertFalse(t.lowerCase());
    assertEquals(Boolean.TRUE, t.stripAccents());
    assertEquals(48, t.maxLength());
    assertEquals("left", t.paddingSide());
    assertEquals("[SEP]", t.sepToken());
    assertThrows(BundleException.class, () -> read(json));  // not a full manifest
  }

  @Test
  void aMissingFileIsABundleException(@TempDir Path dir) {
    BundleException e = assertThrows(BundleException.class, () -> Manifest.read(dir.resolve("manifest.json")));
    assertTrue(e.getMessage().contains("file not found"), e.getMessage());
  }
}
