package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class InputBinderTest {
  private static final Encoding ENCODING = new Encoding(new int[] {2, 7, 3, 0}, new int[] {1, 1, 1, 0},
      new int[] {0, 0, 0, 0});

  /** A manifest with the given inputs, all of one dtype, sequence_length 4. */
  static Manifest manifest(String dtype, String... names) {
    StringBuilder inputs = new StringBuilder();
    for (String name : names) {
      inputs.append(inputs.length() == 0 ? "" : ",").append("{\"name\":\"").append(name)
          .append("\",\"dtype\":\"").append(dtype).append("\",\"shape\":[1,4]}");
    }
    String json = "{\"target\":\"tflite\",\"precision\":\"fp32\",\"model_file\":\"model.tflite\",\"inputs\":["
        + inputs + "],\"output\":{\"name\":\"logits\"},\"sequence_length\":4,\"static_shapes\":true,"
        + "\"labels\":[\"negative\",\"positive\"],\"tokenizer\":{\"kind\":\"wordpiece\",\"lower_case\":true,"
        + "\"strip_accents\":null,\"max_length\":4}}";
    return Manifest.read(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)), "manifest.json");
  }

  private static List<TensorSpec> declared(String dtype, String... names) {
    return java.util.Arrays.stream(names).map(name -> new TensorSpec(name, dtype)).toList();
  }

  @Test
  void bindsInt64InputsByName() {
    InputBinder binder = InputBinder.bind(manifest("int64", "input_ids", "attention_mask"),
        declared("int64", "input_ids", "attention_mask"));
    Map<String, InputTensor> feeds = binder.feeds(ENCODING);
    assertEquals(List.of("input_ids", "attention_mask"), List.copyOf(feeds.keySet()));
    assertArrayEquals(new long[] {2, 7, 3, 0}, feeds.get("input_ids").asLongs());
    assertArrayEquals(new long[] {1, 4}, feeds.get("input_ids").shape());
    assertEquals("int64", feeds.get("attention_mask").dtype);
  }

  @Test
  void bindsInt32InputsIncludingTokenTypes() {
    InputBinder binder = InputBinder.bind(manifest("int32", "input_ids", "attention_mask", "token_type_ids"),
        declared("int32", "input_ids", "attention_mask", "token_type_ids"));
    Map<String, InputTensor> feeds = binder.feeds(ENCODING);
    assertArrayEquals(ENCODING.tokenTypeIds, feeds.get("token_type_ids").asInts());
    assertArrayEquals(ENCODING.attentionMask, feeds.get("attention_mask").asInts());
    assertEquals("int32", feeds.get("token_type_ids").dtype);
  }

  @Test
  void fillsByNameWhenTheModelDeclaresAnotherOrder() {
    InputBinder binder = InputBinder.bind(manifest("int64", "input_ids", "attention_mask", "token_type_ids"),
        declared("int64", "token_type_ids", "attention_mask", "input_ids"));
    Map<String, InputTensor> feeds = binder.feeds(ENCODING);
    assertSame(ENCODING.inputIds, feeds.get("input_ids").values);
    assertSame(ENCODING.attentionMask, feeds.get("attention_mask").values);
    assertSame(ENCODING.tokenTypeIds, feeds.get("token_type_ids").values);
    feeds.forEach((name, tensor) -> assertEquals(name, tensor.name));
  }

  @Test
  void aManifestInputTheModelLacksIsAContractError() {
    ContractException e = assertThrows(ContractException.class, () -> InputBinder.bind(
        manifest("int64", "input_ids", "attention_mask", "token_type_ids"), declared("int64", "input_ids",
            "attention_mask")));
    assertOneLine(e, "token_type_ids");
  }

  @Test
  void aDeclaredInputTheManifestLacksIsAContractError() {
    ContractException e = assertThrows(ContractException.class, () -> InputBinder.bind(
        manifest("int64", "input_ids", "attention_mask"), declared("int64", "input_ids", "attention_mask",
            "token_type_ids")));
    assertOneLine(e, "token_type_ids");
  }

  @Test
  void aDtypeMismatchNamesBothDtypes() {
    ContractException e = assertThrows(ContractException.class, () -> InputBinder.bind(
        manifest("int64", "input_ids", "attention_mask"), List.of(new TensorSpec("input_ids", "int64"),
            new TensorSpec("attention_mask", "int32"))));
    assertOneLine(e, "attention_mask");
    assertTrue(e.getMessage().contains("int64") && e.getMessage().contains("int32"), e.getMessage());
  }

  @Test
  void anInputTheTokenizerCannotFillIsAContractError() {
    ContractException e = assertThrows(ContractException.class, () -> InputBinder.bind(
        manifest("int64", "input_ids", "position_ids"), declared("int64", "input_ids", "position_ids")));
    assertOneLine(e, "position_ids");
  }

  @Test
  void anEncodingOfTheWrongLengthIsRejected() {
    InputBinder binder = InputBinder.bind(manifest("int64", "input_ids"), declared("int64", "input_ids"));
    Encoding longer = new Encoding(new int[8], new int[8], new int[8]);
    assertThrows(ContractException.class, () -> binder.feeds(longer));
  }

  private static void assertOneLine(ContractException e, String input) {
    String message = e.getMessage();
    assertTrue(message.contains("'" + input + "'"), message);
    assertTrue(message.contains("re-export or fix manifest.json"), message);
    assertFalse(message.contains("\n"), message);
  }
}
