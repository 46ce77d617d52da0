package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The Java tokenizer against tokenizer_golden.json files written by the Python reference
 * tokenizer: every row must give the same input_ids, attention_mask and token_type_ids.
 * Folders come from the system property golden.dirs (run-tests.sh maps GOLDEN_DIRS onto it).
 */
class TokenizerGoldenTest {
  private static final int MISMATCHES_SHOWN = 8;

  @TestFactory
  Stream<DynamicTest> everyGoldenRowMatches() {
    String dirs = System.getProperty("golden.dirs", "");
    if (dirs.isBlank()) {
      fail("GOLDEN_DIRS not set: run tests/test_android_core.py, which writes the golden folders");
    }
    return Arrays.stream(dirs.split(":")).filter(dir -> !dir.isBlank()).map(Paths::get)
        .map(folder -> DynamicTest.dynamicTest(folder.toString(), () -> checkFolder(folder)));
  }

  private static void checkFolder(Path folder) throws IOException {
    TokenizerSettings settings = TokenizerSettings.fromManifestJson(folder.resolve("manifest.json"));
    BertTokenizer tokenizer = new BertTokenizer(Vocab.read(folder.resolve("vocab.txt")), settings);
    JsonObject golden;
    try (Reader reader = Files.newBufferedReader(folder.resolve("tokenizer_golden.json"), StandardCharsets.UTF_8)) {
      golden = JsonParser.parseReader(reader).getAsJsonObject();
    }
    assertEquals(golden.get("sequence_length").getAsInt(), settings.maxLength(),
        folder + ": the golden file's sequence_length differs from manifest.json's tokenizer.max_length");
    checkSettingsAgree(folder, golden, settings);
    JsonArray rows = golden.getAsJsonArray("rows");
    assertFalse(rows.isEmpty(), folder + ": tokenizer_golden.json has no rows");
    List<String> mismatches = new ArrayList<>();
    for (int i = 0; i < rows.size(); i++) {
      String problem = compare(tokenizer, rows.get(i).getAsJsonObject());
      if (problem != null) {
        mismatches.add("row " + i + ": " + problem);
      }
    }
    if (!mismatches.isEmpty()) {
      fail(mismatches.size() + " of " + rows.size() + " golden rows differ in " + folder + " (lower_case="
          + settings.lowerCase() + ", strip_accents=" + settings.stripAccents() + "):\n"
          + String.join("\n", mismatches.subList(0, Math.min(MISMATCHES_SHOWN, mismatches.size()))));
    }
  }

  /** A golden file that records its own settings must agree with the manifest beside it. */
  private static void checkSettingsAgree(Path folder, JsonObject golden, TokenizerSettings settings) {
    if (golden.has("lower_case")) {
      assertEquals(golden.get("lower_case").getAsBoolean(), settings.lowerCase(), folder + ": lower_case");
    }
    if (golden.has("strip_accents")) {
      JsonElement strip = golden.get("strip_accents");
      assertEquals(strip.isJsonNull() ? null : strip.getAsBoolean(), settings.stripAccents(),
          folder + ": strip_accents");
    }
  }

  /** null when the row matches, else what differs, with the text escaped and the word pieces. */
  private static String compare(BertTokenizer tokenizer, JsonObject row) {
    String text = row.get("text").getAsString();
    String pair = row.has("text_pair") ? row.get("text_pair").getAsString() : null;
    Encoding actual = pair == null ? tokenizer.encode(text) : tokenizer.encode(text, pair);
    List<String> problems = new ArrayList<>();
    check(row, "input_ids", actual.inputIds, problems);
    check(row, "attention_mask", actual.attentionMask, problems);
    if (row.has("token_type_ids")) {
      check(row, "token_type_ids", actual.tokenTypeIds, problems);
    }
    if (problems.isEmpty()) {
      return null;
    }
    StringBuilder out = new StringBuilder("text \"").append(escape(text)).append('"');
    if (pair != null) {
      out.append(" pair \"").append(escape(pair)).append('"');
    }
    out.append("\n    ").append(String.join("\n    ", problems));
    out.append("\n    pieces ").append(escape(String.valueOf(tokenizer.tokenize(text))));
    if (pair != null) {
      out.append(" | ").append(escape(String.valueOf(tokenizer.tokenize(pair))));
    }
    return out.toString();
  }

  private static void check(JsonObject row, String field, int[] actual, List<String> problems) {
    int[] expected = ints(row.getAsJsonArray(field));
    if (!Arrays.equals(expected, actual)) {
      problems.add(field + " expected " + Arrays.toString(expected) + "\n    " + field + " actual   "
          + Arrays.toString(actual));
    }
  }

  private static int[] ints(JsonArray array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).getAsInt();
    }
    return out;
  }

  /** Printable ASCII as is, everything else as \\uXXXX or \\U{XXXXX} (code points, so emoji stay one escape). */
  static String escape(String text) {
    StringBuilder out = new StringBuilder();
    text.codePoints().forEach(cp -> {
      if (cp == '\\' || cp == '"') {
        out.append('\\').appendCodePoint(cp);
      } else if (cp >= 0x20 && cp < 0x7F) {
        out.appendCodePoint(cp);
      } else if (cp <= 0xFFFF) {
        out.append(String.format("\\u%04X", cp));
      } else {
        out.append(String.format("\\U{%X}", cp));
      }
    });
    return out.toString();
  }
}
