package dev.mobiledistill.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed access to one JSON object of a bundle file. Every failure becomes a one-line
 * BundleException naming the file ({@code source}), the field and the fix ({@code hint}), so the
 * app can show it as is instead of a Gson stack trace.
 */
final class JsonFields {
  private final JsonObject object;
  private final String source;
  private final String hint;

  JsonFields(JsonObject object, String source, String hint) {
    this.object = object;
    this.source = source;
    this.hint = hint;
  }

  static JsonFields parse(InputStream in, String source, String hint) {
    return parse(new InputStreamReader(in, StandardCharsets.UTF_8), source, hint);
  }

  static JsonFields parse(Reader reader, String source, String hint) {
    JsonElement root;
    try {
      root = JsonParser.parseReader(reader);
    } catch (JsonParseException e) {
      throw new BundleException(source + ": not valid JSON (" + oneLine(e.getMessage()) + "); " + hint, e);
    }
    if (!root.isJsonObject()) {
      throw new BundleException(source + ": expected a JSON object at the top level; " + hint);
    }
    return new JsonFields(root.getAsJsonObject(), source, hint);
  }

  /** Opens a file for one of the Path overloads; a missing file is a BundleException, not an IOException. */
  static InputStream open(Path path) {
    try {
      return Files.newInputStream(path);
    } catch (NoSuchFileException e) {
      throw new BundleException(path + ": file not found");
    } catch (IOException e) {
      throw new BundleException(path + ": cannot read (" + oneLine(e.getMessage()) + ")", e);
    }
  }

  static String oneLine(String message) {
    return message == null ? "no detail" : message.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
  }

  /** The file's "kind" and "version" fields must name this format, version 1. */
  void requireKind(String expected) {
    String kind = string("kind");
    if (!kind.equals(expected)) {
      throw error("kind", "is '" + kind + "', expected '" + expected + "'");
    }
    int version = integer("version");
    if (version != 1) {
      throw error("version", "is " + version + " but this app reads version 1; update the app");
    }
  }

  JsonObject raw() {
    return object;
  }

  String source() {
    return source;
  }

  boolean has(String field) {
    return object.has(field) && !object.get(field).isJsonNull();
  }

  BundleException error(String field, String problem) {
    return new BundleException(source + ": field '" + field + "' " + problem + "; " + hint);
  }

  JsonFields object(String field) {
    JsonElement value = require(field);
    if (!value.isJsonObject()) {
      throw error(field, "must be a JSON object");
    }
    return new JsonFields(value.getAsJsonObject(), source + " " + field, hint);
  }

  JsonArray array(String field) {
    JsonElement value = require(field);
    if (!value.isJsonArray()) {
      throw error(field, "must be a JSON array");
    }
    return value.getAsJsonArray();
  }

  String string(String field) {
    JsonElement value = require(field);
    if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
      throw error(field, "must be a string");
    }
    return value.getAsString();
  }

  String string(String field, String fallback) {
    return has(field) ? string(field) : fallback;
  }

  int integer(String field) {
    try {
      return integral(require(field), field).intValueExact();
    } catch (ArithmeticException e) {
      throw error(field, "is out of range");
    }
  }

  long longInteger(String field) {
    BigDecimal value = integral(require(field), field);
    try {
      return value.longValueExact();
    } catch (ArithmeticException e) {
      throw error(field, "is out of range");
    }
  }

  boolean bool(String field, boolean fallback) {
    return has(field) ? bool(field) : fallback;
  }

  boolean bool(String field) {
    JsonElement value = require(field);
    if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isBoolean()) {
      throw error(field, "must be true or false");
    }
    return value.getAsBoolean();
  }

  /** A boolean that may be null (JSON null or absent): strip_accents uses null for "follow lower_case". */
  Boolean nullableBool(String field) {
    return has(field) ? bool(field) : null;
  }

  List<String> strings(String field) {
    List<String> out = new ArrayList<>();
    for (JsonElement item : array(field)) {
      if (!item.isJsonPrimitive() || !item.getAsJsonPrimitive().isString()) {
        throw error(field, "must hold only strings");
      }
      out.add(item.getAsString());
    }
    return out;
  }

  private BigDecimal integral(JsonElement value, String field) {
    if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isNumber()) {
      throw error(field, "must be an integer");
    }
    BigDecimal number;
    try {
      number = value.getAsBigDecimal();
    } catch (NumberFormatException e) {
      throw error(field, "must be an integer");
    }
    // Gson would truncate 64.5 to 64 without a word; a fractional count is a broken file.
    if (number.signum() != 0 && number.stripTrailingZeros().scale() > 0) {
      throw error(field, "must be an integer, not " + number);
    }
    return number;
  }

  private JsonElement require(String field) {
    if (!has(field)) {
      throw error(field, "is missing");
    }
    return object.get(field);
  }
}
