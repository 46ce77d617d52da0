package dev.mobiledistill.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * vocab.txt: one WordPiece token per line, id = line number (from 0). Read the way transformers'
 * load_vocab reads it: lines split at \n, \r or \r\n, nothing else trimmed, and a token listed twice
 * keeps its last line's id.
 */
public final class Vocab {
  private final Map<String, Integer> ids;
  private final int lines;

  private Vocab(Map<String, Integer> ids, int lines) {
    this.ids = ids;
    this.lines = lines;
  }

  public static Vocab read(InputStream in, String source) {
    Map<String, Integer> ids = new HashMap<>();
    int line = 0;
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      for (String token = reader.readLine(); token != null; token = reader.readLine()) {
        ids.put(token, line++);
      }
    } catch (IOException e) {
      throw new BundleException(source + ": cannot read (" + JsonFields.oneLine(e.getMessage()) + ")", e);
    }
    if (ids.isEmpty()) {
      throw new BundleException(source + ": the vocabulary is empty; copy the artifact's vocab.txt again");
    }
    return new Vocab(ids, line);
  }

  public static Vocab read(Path vocabTxt) {
    try (InputStream in = JsonFields.open(vocabTxt)) {
      return read(in, vocabTxt.toString());
    } catch (IOException e) {
      throw new BundleException(vocabTxt + ": cannot read (" + e.getMessage() + ")", e);
    }
  }

  /** The token's id, or -1 if the vocabulary does not hold it. */
  public int id(String token) {
    Integer id = ids.get(token);
    return id == null ? -1 : id;
  }

  public boolean contains(String token) {
    return ids.containsKey(token);
  }

  /** Distinct tokens (the size of the reference tokenizer's vocabulary dict). */
  public int size() {
    return ids.size();
  }

  /** Lines in the file; differs from size() only when a token is listed twice. */
  public int lines() {
    return lines;
  }
}
