package dev.mobiledistill.core;

import com.google.gson.JsonElement;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** An artifact's manifest.json: the model file, its input contract, labels and tokenizer settings. */
public final class Manifest {
  private static final String HINT = "re-export the artifact (mobile-distill export) to rewrite manifest.json";
  private static final Set<String> ID_DTYPES = AndroidCompat.setOf("int32", "int64");

  private final String target;
  private final String precision;
  private final String modelFile;
  private final List<TensorSpec> inputs;
  private final String outputName;
  private final int sequenceLength;
  private final boolean staticShapes;
  private final List<String> labels;
  private final TokenizerSettings tokenizer;

  private Manifest(JsonFields json) {
    target = json.string("target");
    precision = json.string("precision");
    modelFile = json.string("model_file");
    inputs = readInputs(json);
    outputName = json.object("output").string("name");
    sequenceLength = json.integer("sequence_length");
    staticShapes = json.bool("static_shapes", false);
    labels = AndroidCompat.listCopy(json.strings("labels"));
    tokenizer = TokenizerSettings.fromJson(json.object("tokenizer"), sequenceLength);
    if (tokenizer.maxLength() != sequenceLength) {
      // Runners pad to sequence_length while the tokenizer pads to max_length: they must agree.
      throw json.error("tokenizer.max_length", "is " + tokenizer.maxLength() + " but sequence_length is "
          + sequenceLength);
    }
    if (labels.isEmpty()) {
      throw json.error("labels", "is empty");
    }
  }

  public static Manifest read(InputStream in, String source) {
    return new Manifest(JsonFields.parse(in, source, HINT));
  }

  public static Manifest read(Path manifestJson) {
    try (InputStream in = JsonFields.open(manifestJson)) {
      return read(in, manifestJson.toString());
    } catch (IOException e) {
      throw new BundleException(manifestJson + ": cannot read (" + e.getMessage() + ")", e);
    }
  }

  private static List<TensorSpec> readInputs(JsonFields json) {
    List<TensorSpec> out = new ArrayList<>();
    int index = 0;
    for (JsonElement item : json.array("inputs")) {
      String field = "inputs[" + index++ + "]";
      if (!item.isJsonObject()) {
        throw json.error(field, "must be an object with name and dtype");
      }
      JsonFields input = new JsonFields(item.getAsJsonObject(), json.source() + " " + field, HINT);
      String dtype = input.string("dtype");
      if (!ID_DTYPES.contains(dtype)) {
        throw input.error("dtype", "is '" + dtype + "' but token inputs must be int32 or int64");
      }
      out.add(new TensorSpec(input.string("name"), dtype, shape(input)));
    }
    if (out.isEmpty()) {
      throw json.error("inputs", "is empty");
    }
    return AndroidCompat.listCopy(out);
  }

  private static List<String> shape(JsonFields input) {
    List<String> dims = new ArrayList<>();
    if (input.has("shape")) {
      for (JsonElement dim : input.array("shape")) {
        if (!dim.isJsonPrimitive()) {
          throw input.error("shape", "must hold names or numbers");
        }
        dims.add(dim.getAsString());
      }
    }
    return dims;
  }

  /** "onnx" | "tflite" | "executorch" | "coreml". */
  public String target() {
    return target;
  }

  public String precision() {
    return precision;
  }

  /** The model's file name inside the artifact folder, e.g. "model.tflite". */
  public String modelFile() {
    return modelFile;
  }

  /** In manifest order. Bind by name (InputBinder), never by this position. */
  public List<TensorSpec> inputs() {
    return inputs;
  }

  public String outputName() {
    return outputName;
  }

  public int sequenceLength() {
    return sequenceLength;
  }

  public boolean staticShapes() {
    return staticShapes;
  }

  public List<String> labels() {
    return labels;
  }

  public TokenizerSettings tokenizer() {
    return tokenizer;
  }
}
