package dev.mobiledistill.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Plain equivalents of the Java 9+ library calls the core would otherwise use. The core is
 * compiled for Java 17 but runs on Android from API 26 (the app's minSdk), whose java.* lacks
 * them: List/Set/Map.of arrive with API 30, their copyOf with 31, InputStream.readAllBytes and
 * transferTo with 33, Files.readString/writeString only with 36.1. On an older phone such a call
 * is a NoSuchMethodError at run time, not a build error; core library desugaring covers some of
 * them but not all, so the core does not count on it. AndroidApiTest checks the compiled classes
 * for these calls.
 */
final class AndroidCompat {
  private AndroidCompat() {}

  /** All remaining bytes of {@code in} (InputStream.readAllBytes, API 33), read in a loop. */
  static byte[] readAllBytes(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buffer = new byte[1 << 16];
    for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
      out.write(buffer, 0, n);
    }
    return out.toByteArray();
  }

  /** An unmodifiable copy, in order (List.copyOf, API 31). */
  static <T> List<T> listCopy(Collection<? extends T> items) {
    return Collections.unmodifiableList(new ArrayList<>(items));
  }

  /** An unmodifiable set of the strings, in order (Set.of, API 30). */
  static Set<String> setOf(String... items) {
    return Collections.unmodifiableSet(new LinkedHashSet<>(Arrays.asList(items)));
  }

  /** An unmodifiable copy, in order (Map.copyOf, API 31). */
  static <K, V> Map<K, V> mapCopy(Map<? extends K, ? extends V> map) {
    return Collections.unmodifiableMap(new LinkedHashMap<>(map));
  }
}
