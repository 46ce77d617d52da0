package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/**
 * LatencyStats and Metrics against vectors the Python side computed with numpy and scikit-learn
 * (system property results.vectors, from RESULTS_VECTORS): equal within 1e-9 relative.
 */
class LatencyStatsTest {
  static final double RELATIVE = 1e-9;

  private static JsonObject vectors() throws Exception {
    String path = System.getProperty("results.vectors", "");
    if (path.isBlank()) {
      fail("RESULTS_VECTORS not set: run tests/test_android_core.py, which writes the numpy/scikit-learn vectors");
    }
    try (Reader reader = Files.newBufferedReader(Paths.get(path), StandardCharsets.UTF_8)) {
      return JsonParser.parseReader(reader).getAsJsonObject();
    }
  }

  @Test
  void latencyStatisticsEqualNumpy() throws Exception {
    JsonArray cases = vectors().getAsJsonArray("cases");
    assertFalse(cases.isEmpty(), "no latency cases in the vectors file");
    for (JsonElement element : cases) {
      JsonObject c = element.getAsJsonObject();
      double[] samples = doubles(c.getAsJsonArray("samples"));
      LatencyStats stats = LatencyStats.of(samples);
      String where = samples.length + " samples";
      assertClose(c.get("p50").getAsDouble(), stats.p50(), "p50 of " + where);
      assertClose(c.get("p90").getAsDouble(), stats.p90(), "p90 of " + where);
      assertClose(c.get("p99").getAsDouble(), stats.p99(), "p99 of " + where);
      assertClose(c.get("mean").getAsDouble(), stats.mean(), "mean of " + where);
      assertClose(c.get("std").getAsDouble(), stats.std(), "std of " + where);
    }
  }

  @Test
  void metricsEqualScikitLearn() throws Exception {
    JsonArray cases = vectors().getAsJsonArray("metrics");
    assertFalse(cases.isEmpty(), "no metrics cases in the vectors file");
    for (JsonElement element : cases) {
      JsonObject c = element.getAsJsonObject();
      int[] predicted = ints(c.getAsJsonArray("predicted"));
      int[] labels = ints(c.getAsJsonArray("labels"));
      String where = labels.length + " rows";
      assertClose(c.get("accuracy").getAsDouble(), Metrics.accuracy(predicted, labels), "accuracy of " + where);
      assertClose(c.get("macro_f1").getAsDouble(), Metrics.macroF1(predicted, labels), "macro_f1 of " + where);
    }
  }

  /** |actual - expected| <= 1e-9 * |expected| (an exact zero allows 1e-12, for a constant sample's std). */
  static void assertClose(double expected, double actual, String what) {
    double tolerance = Math.max(RELATIVE * Math.abs(expected), 1e-12);
    assertTrue(Math.abs(actual - expected) <= tolerance, what + ": expected " + expected + ", got " + actual);
  }

  private static double[] doubles(JsonArray array) {
    double[] out = new double[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).getAsDouble();
    }
    return out;
  }

  private static int[] ints(JsonArray array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).getAsInt();
    }
    return out;
  }
}
