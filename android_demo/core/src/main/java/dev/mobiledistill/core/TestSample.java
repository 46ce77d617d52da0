package dev.mobiledistill.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** test_sample.json: the labelled test rows every artifact runs on, with the reference predictions. */
public final class TestSample {
  static final String KIND = "mobile-distill-test-sample";
  private static final String HINT = "re-create the bundle with `mobile-distill app-bundle`";

  private final List<String> texts = new ArrayList<>();
  private final int[] labels;
  private final int[] referencePredictions;
  private final List<String> labelNames;
  private final String sha256;
  private final JsonObject source;
  private final JsonObject reference;

  private TestSample(JsonFields json, String sha256) {
    json.requireKind(KIND);
    this.sha256 = sha256;
    labelNames = AndroidCompat.listCopy(json.strings("labels"));
    source = json.object("source").raw();
    reference = json.has("reference") ? json.object("reference").raw() : new JsonObject();
    List<JsonElement> rows = json.array("rows").asList();
    labels = new int[rows.size()];
    referencePredictions = new int[rows.size()];
    for (int i = 0; i < rows.size(); i++) {
      readRow(json, rows.get(i), i);
    }
    if (rows.isEmpty()) {
      throw json.error("rows", "is empty");
    }
  }

  private void readRow(JsonFields json, JsonElement element, int i) {
    if (!element.isJsonObject()) {
      throw json.error("rows[" + i + "]", "must be an object with text, label and reference");
    }
    JsonFields row = new JsonFields(element.getAsJsonObject(), json.source() + " rows[" + i + "]", HINT);
    texts.add(row.string("text"));
    labels[i] = row.integer("label");
    referencePredictions[i] = row.integer("reference");
    if (labels[i] < 0 || labels[i] >= labelNames.size()) {
      throw row.error("label", "is " + labels[i] + " but there are " + labelNames.size() + " labels");
    }
  }

  public static TestSample read(InputStream in, String source) {
    byte[] bytes;
    try {
      bytes = AndroidCompat.readAllBytes(in);
    } catch (IOException e) {
      throw new BundleException(source + ": cannot read (" + JsonFields.oneLine(e.getMessage()) + ")", e);
    }
    return new TestSample(JsonFields.parse(new ByteArrayInputStream(bytes), source, HINT), Hashing.sha256Hex(bytes));
  }

  public static TestSample read(Path testSampleJson) {
    try (InputStream in = JsonFields.open(testSampleJson)) {
      return read(in, testSampleJson.toString());
    } catch (IOException e) {
      throw new BundleException(testSampleJson + ": cannot read (" + e.getMessage() + ")", e);
    }
  }

  public List<String> texts() {
    return AndroidCompat.listCopy(texts);
  }

  public int[] labels() {
    return labels.clone();
  }

  public int[] referencePredictions() {
    return referencePredictions.clone();
  }

  public List<String> labelNames() {
    return labelNames;
  }

  /** sha256 hex of the file's bytes as read: ties a results file to the exact sample. */
  public String sha256() {
    return sha256;
  }

  /** The "source" object (dataset, split, fingerprint), echoed into the results file. */
  public JsonObject data() {
    return source.deepCopy();
  }

  /** The "reference" object (the PyTorch student the predictions came from), echoed too. */
  public JsonObject reference() {
    return reference.deepCopy();
  }

  public int rows() {
    return labels.length;
  }
}
