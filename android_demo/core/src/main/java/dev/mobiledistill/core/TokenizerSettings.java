package dev.mobiledistill.core;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * How text becomes ids, from manifest.json's "tokenizer" object: WordPiece with the Hugging Face
 * BertNormalizer switches (lower_case, strip_accents), the padded length and the special tokens.
 */
public final class TokenizerSettings {
  private static final String HINT = "re-export the artifact (mobile-distill export) to rewrite manifest.json";

  private final boolean lowerCase;
  private final Boolean stripAccents;
  private final int maxLength;
  private final String paddingSide;
  private final String truncationSide;
  private final String clsToken;
  private final String sepToken;
  private final String padToken;
  private final String unkToken;
  private final String maskToken;
  private final Map<String, Integer> specialTokenIds;

  private TokenizerSettings(boolean lowerCase, Boolean stripAccents, int maxLength, String paddingSide,
                            String truncationSide, String[] specials, Map<String, Integer> specialTokenIds) {
    this.lowerCase = lowerCase;
    this.stripAccents = stripAccents;
    this.maxLength = maxLength;
    this.paddingSide = paddingSide;
    this.truncationSide = truncationSide;
    this.clsToken = specials[0];
    this.sepToken = specials[1];
    this.padToken = specials[2];
    this.unkToken = specials[3];
    this.maskToken = specials[4];
    this.specialTokenIds = specialTokenIds;
  }

  /** BERT's defaults (right padding and truncation, [CLS] [SEP] [PAD] [UNK] [MASK]); for tests. */
  public static TokenizerSettings of(boolean lowerCase, Boolean stripAccents, int maxLength) {
    checkLength(maxLength, "maxLength");
    return new TokenizerSettings(lowerCase, stripAccents, maxLength, "right", "right", defaultSpecials(),
        Collections.<String, Integer>emptyMap());
  }

  /** The same settings padded/truncated to {@code length} tokens instead. */
  public TokenizerSettings withMaxLength(int length) {
    checkLength(length, "max_length");
    return copy(lowerCase, stripAccents, length, paddingSide, truncationSide);
  }

  /** The same settings with padding and truncation on the given sides ("right" or "left"). */
  public TokenizerSettings withSides(String padding, String truncation) {
    return copy(lowerCase, stripAccents, maxLength, side(padding, "padding_side"), side(truncation, "truncation_side"));
  }

  private TokenizerSettings copy(boolean lower, Boolean strip, int length, String padding, String truncation) {
    return new TokenizerSettings(lower, strip, length, padding, truncation,
        new String[] {clsToken, sepToken, padToken, unkToken, maskToken}, specialTokenIds);
  }

  /** Reads only the "tokenizer" object of a manifest.json (test vocab folders have little else). */
  public static TokenizerSettings fromManifestJson(InputStream in, String source) {
    JsonFields manifest = JsonFields.parse(in, source, HINT);
    return fromJson(manifest.object("tokenizer"),
        manifest.has("sequence_length") ? manifest.integer("sequence_length") : -1);
  }

  public static TokenizerSettings fromManifestJson(Path manifestJson) {
    try (InputStream in = JsonFields.open(manifestJson)) {
      return fromManifestJson(in, manifestJson.toString());
    } catch (IOException e) {
      throw new BundleException(manifestJson + ": cannot read (" + e.getMessage() + ")", e);
    }
  }

  /** Alias of {@link #fromManifestJson(InputStream, String)}. */
  public static TokenizerSettings readFromManifest(InputStream in, String source) {
    return fromManifestJson(in, source);
  }

  /** {@code sequenceLength} (manifest's, or -1) stands in for a missing max_length. */
  static TokenizerSettings fromJson(JsonFields tokenizer, int sequenceLength) {
    String kind = tokenizer.string("kind");
    if (!kind.equals("wordpiece")) {
      throw tokenizer.error("kind", "is '" + kind + "' but the Java core implements only 'wordpiece' (BERT) tokenizers");
    }
    int maxLength = tokenizer.has("max_length") ? tokenizer.integer("max_length") : sequenceLength;
    if (maxLength < 2) {
      throw tokenizer.error("max_length", "must be at least 2 ([CLS] and [SEP]), got " + maxLength);
    }
    String padding = tokenizer.string("padding_side", "right");
    String truncation = tokenizer.string("truncation_side", "right");
    if (!isSide(padding)) {
      throw tokenizer.error("padding_side", "must be 'right' or 'left', got '" + padding + "'");
    }
    if (!isSide(truncation)) {
      throw tokenizer.error("truncation_side", "must be 'right' or 'left', got '" + truncation + "'");
    }
    return new TokenizerSettings(tokenizer.bool("lower_case"), tokenizer.nullableBool("strip_accents"), maxLength,
        padding, truncation, specials(tokenizer), specialIds(tokenizer));
  }

  /** special_token_ids, when the manifest records them: {"cls_token": 101, ...}. */
  private static Map<String, Integer> specialIds(JsonFields tokenizer) {
    if (!tokenizer.has("special_token_ids")) {
      return Collections.emptyMap();
    }
    JsonFields ids = tokenizer.object("special_token_ids");
    Map<String, Integer> out = new LinkedHashMap<>();
    for (String name : ids.raw().keySet()) {
      out.put(name, ids.integer(name));
    }
    return AndroidCompat.mapCopy(out);
  }

  private static String[] specials(JsonFields tokenizer) {
    String[] out = defaultSpecials();
    if (!tokenizer.has("special_tokens")) {
      return out;
    }
    JsonFields special = tokenizer.object("special_tokens");
    String[] names = {"cls_token", "sep_token", "pad_token", "unk_token", "mask_token"};
    for (int i = 0; i < names.length; i++) {
      out[i] = special.string(names[i], out[i]);
    }
    return out;
  }

  private static String[] defaultSpecials() {
    return new String[] {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
  }

  private static boolean isSide(String side) {
    return side.equals("right") || side.equals("left");
  }

  private static String side(String side, String field) {
    if (!isSide(side)) {
      throw new IllegalArgumentException(field + " must be 'right' or 'left', got '" + side + "'");
    }
    return side;
  }

  private static void checkLength(int length, String field) {
    if (length < 2) {
      throw new IllegalArgumentException(field + " must be at least 2 ([CLS] and [SEP]), got " + length);
    }
  }

  public boolean lowerCase() {
    return lowerCase;
  }

  /** true/false, or null: then accents are stripped exactly when lowerCase() (BERT's rule). */
  public Boolean stripAccents() {
    return stripAccents;
  }

  /** stripAccents() with null resolved the way the reference BertNormalizer resolves it. */
  public boolean stripsAccents() {
    return stripAccents != null ? stripAccents : lowerCase;
  }

  public int maxLength() {
    return maxLength;
  }

  public String paddingSide() {
    return paddingSide;
  }

  public String truncationSide() {
    return truncationSide;
  }

  public String clsToken() {
    return clsToken;
  }

  public String sepToken() {
    return sepToken;
  }

  public String padToken() {
    return padToken;
  }

  public String unkToken() {
    return unkToken;
  }

  public String maskToken() {
    return maskToken;
  }

  /**
   * The ids the exporting tokenizer gave its special tokens ("cls_token" -> 101, ...), empty when
   * the manifest does not record them. A vocab.txt that gives them other ids is from another model.
   */
  public Map<String, Integer> specialTokenIds() {
    return specialTokenIds;
  }
}
