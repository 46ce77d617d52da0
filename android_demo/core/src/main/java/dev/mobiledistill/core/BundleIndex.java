package dev.mobiledistill.core;

import com.google.gson.JsonElement;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** bundle.json at the root of an app bundle: which artifact folders it holds and the sample file. */
public final class BundleIndex {
  static final String KIND = "mobile-distill-app-bundle";
  private static final String HINT = "re-create the bundle with `mobile-distill app-bundle`";

  private final List<Artifact> artifacts;
  private final String sampleFile;

  private BundleIndex(JsonFields json) {
    json.requireKind(KIND);
    sampleFile = json.string("sample");
    List<Artifact> list = new ArrayList<>();
    int index = 0;
    for (JsonElement item : json.array("artifacts")) {
      String field = "artifacts[" + index++ + "]";
      if (!item.isJsonObject()) {
        throw json.error(field, "must be an object");
      }
      list.add(new Artifact(new JsonFields(item.getAsJsonObject(), json.source() + " " + field, HINT)));
    }
    if (list.isEmpty()) {
      throw json.error("artifacts", "is empty");
    }
    artifacts = AndroidCompat.listCopy(list);
  }

  public static BundleIndex read(InputStream in, String source) {
    return new BundleIndex(JsonFields.parse(in, source, HINT));
  }

  public static BundleIndex read(Path bundleJson) {
    try (InputStream in = JsonFields.open(bundleJson)) {
      return read(in, bundleJson.toString());
    } catch (IOException e) {
      throw new BundleException(bundleJson + ": cannot read (" + e.getMessage() + ")", e);
    }
  }

  public List<Artifact> artifacts() {
    return artifacts;
  }

  /** The artifact called {@code name}, or null. */
  public Artifact artifact(String name) {
    for (Artifact artifact : artifacts) {
      if (artifact.name().equals(name)) {
        return artifact;
      }
    }
    return null;
  }

  /** The test sample's file name, relative to the bundle root (normally "test_sample.json"). */
  public String sampleFile() {
    return sampleFile;
  }

  /** One exported model in the bundle; its files live in {@code folder()}. */
  public static final class Artifact {
    private final String name;
    private final String folder;
    private final String target;
    private final String precision;
    private final String modelFile;
    private final String modelSha256;
    private final long sizeBytes;
    private final int sequenceLength;

    Artifact(JsonFields json) {
      name = json.string("name");
      folder = json.string("folder");
      target = json.string("target");
      precision = json.string("precision");
      modelFile = json.string("model_file");
      modelSha256 = json.string("model_sha256");
      sizeBytes = json.longInteger("size_bytes");
      sequenceLength = json.has("sequence_length") ? json.integer("sequence_length") : 0;
    }

    public Artifact(String name, String folder, String target, String precision, String modelFile,
                    String modelSha256, long sizeBytes, int sequenceLength) {
      this.name = name;
      this.folder = folder;
      this.target = target;
      this.precision = precision;
      this.modelFile = modelFile;
      this.modelSha256 = modelSha256;
      this.sizeBytes = sizeBytes;
      this.sequenceLength = sequenceLength;
    }

    public String name() {
      return name;
    }

    public String folder() {
      return folder;
    }

    public String target() {
      return target;
    }

    public String precision() {
      return precision;
    }

    public String modelFile() {
      return modelFile;
    }

    /** What bundle.json says; the results record the hash of the bytes actually loaded. */
    public String modelSha256() {
      return modelSha256;
    }

    public long sizeBytes() {
      return sizeBytes;
    }

    /**
     * Stops an artifact whose model file is not the one bundle.json names ({@code actualSha256}
     * is the hash of the file about to be loaded): its results would be reported under the wrong
     * name. A BundleException, which the results record as "not-run".
     */
    public void checkModelSha256(String actualSha256) {
      if (actualSha256 == null || !actualSha256.equalsIgnoreCase(modelSha256)) {
        throw new BundleException(folder + "/" + modelFile + ": sha256 is " + actualSha256 + " but bundle.json says "
            + modelSha256 + "; the bundle holds another model file: re-create the bundle with `mobile-distill"
            + " app-bundle`");
      }
    }

    /** 0 when bundle.json does not say (the manifest's sequence_length is authoritative). */
    public int sequenceLength() {
      return sequenceLength;
    }
  }
}
