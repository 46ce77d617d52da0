package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The core runs on Android from API 26 (the app's minSdk). Java 9+ library methods compile fine
 * against Java 17 but are missing from older phones' java.*: a NoSuchMethodError at run time. This
 * reads the compiled core classes' constant pools and fails on any call to such a method.
 */
class AndroidApiTest {
  /** owner class -> methods it lacks on Android API 26 (an empty list: the whole class is missing). */
  static final Map<String, List<String>> MISSING_ON_API_26 = new TreeMap<>(Map.ofEntries(
      Map.entry("java/io/InputStream", List.of("readAllBytes", "readNBytes", "transferTo", "nullInputStream",
          "skipNBytes")),
      Map.entry("java/io/ByteArrayInputStream", List.of("readAllBytes", "readNBytes", "transferTo")),
      Map.entry("java/io/FileInputStream", List.of("readAllBytes", "readNBytes", "transferTo")),
      Map.entry("java/io/BufferedInputStream", List.of("readAllBytes", "readNBytes", "transferTo")),
      Map.entry("java/io/Reader", List.of("transferTo", "nullReader")),
      Map.entry("java/io/OutputStream", List.of("nullOutputStream")),
      Map.entry("java/nio/file/Files", List.of("readString", "writeString", "mismatch")),
      Map.entry("java/nio/file/Path", List.of("of")),
      Map.entry("java/lang/String", List.of("repeat", "isBlank", "strip", "stripLeading", "stripTrailing", "lines",
          "indent", "transform", "formatted", "stripIndent", "translateEscapes", "describeConstable")),
      Map.entry("java/lang/CharSequence", List.of("isEmpty", "compare")),
      Map.entry("java/lang/Character", List.of("toString(I)")),
      Map.entry("java/util/List", List.of("of", "copyOf")),
      Map.entry("java/util/Set", List.of("of", "copyOf")),
      Map.entry("java/util/Map", List.of("of", "copyOf", "ofEntries", "entry")),
      Map.entry("java/util/Collection", List.of("toArray(Ljava/util/function/IntFunction;)")),
      Map.entry("java/util/stream/Stream", List.of("toList", "takeWhile", "dropWhile", "ofNullable", "mapMulti")),
      Map.entry("java/util/stream/Collectors", List.of("toUnmodifiableList", "toUnmodifiableSet",
          "toUnmodifiableMap", "teeing", "filtering", "flatMapping")),
      Map.entry("java/util/Optional", List.of("isEmpty", "orElseThrow()", "stream", "or", "ifPresentOrElse")),
      Map.entry("java/util/Objects", List.of("requireNonNullElse", "requireNonNullElseGet", "checkIndex",
          "checkFromToIndex", "checkFromIndexSize")),
      Map.entry("java/util/Arrays", List.of("mismatch", "compare", "compareUnsigned")),
      Map.entry("java/lang/Math", List.of("fma", "multiplyHigh", "absExact")),
      Map.entry("java/util/HexFormat", List.of()),
      Map.entry("java/lang/StackWalker", List.of()),
      Map.entry("java/lang/ProcessHandle", List.of()),
      Map.entry("java/lang/Runtime$Version", List.of())));

  /** Never called: a planted use of a missing method, to show the scan finds one. */
  @SuppressWarnings("unused")
  private static byte[] plantedReadAllBytes(InputStream in) throws IOException {
    return in.readAllBytes();
  }

  @Test
  void theCoreCallsNoMethodMissingOnAndroid26() throws Exception {
    List<String> found = new ArrayList<>();
    List<Path> classes = coreClasses();
    assertTrue(classes.size() > 20, "found only " + classes.size() + " core classes");
    for (Path file : classes) {
      for (String reference : references(Files.readAllBytes(file))) {
        if (missingOnAndroid(reference)) {
          found.add(file.getFileName() + " calls " + reference);
        }
      }
    }
    assertEquals(List.of(), found, "calls to methods Android 26 lacks (use AndroidCompat)");
  }

  @Test
  void theScanFindsAPlantedCall() throws Exception {
    byte[] self = resource(AndroidApiTest.class);
    List<String> flagged = references(self).stream().filter(AndroidApiTest::missingOnAndroid)
        .collect(Collectors.toList());
    assertTrue(flagged.contains("java/io/InputStream.readAllBytes()[B"), flagged.toString());
    assertFalse(references(resource(AndroidCompat.class)).stream().anyMatch(AndroidApiTest::missingOnAndroid));
  }

  @Test
  void readAllBytesReadsAStreamThatArrivesInPieces() throws Exception {
    byte[] data = new byte[200_000];  // more than the helper's buffer
    for (int i = 0; i < data.length; i++) {
      data[i] = (byte) (i * 31);
    }
    InputStream trickle = new FilterInputStream(new ByteArrayInputStream(data)) {
      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        return super.read(b, off, Math.min(len, 7));  // as a slow asset or network stream gives them
      }
    };
    assertTrue(Arrays.equals(data, AndroidCompat.readAllBytes(trickle)));
    assertEquals(0, AndroidCompat.readAllBytes(new ByteArrayInputStream(new byte[0])).length);
  }

  @Test
  void theTestSampleReadsAStreamThatArrivesInPieces() {
    byte[] json = BundleFilesTest.SAMPLE.getBytes(StandardCharsets.UTF_8);
    InputStream trickle = new FilterInputStream(new ByteArrayInputStream(json)) {
      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        return super.read(b, off, Math.min(len, 3));
      }
    };
    TestSample sample = TestSample.read(trickle, "test_sample.json");
    assertEquals(3, sample.rows());
    assertEquals(Hashing.sha256Hex(json), sample.sha256());
  }

  private static boolean missingOnAndroid(String reference) {
    int dot = reference.indexOf('.');
    String owner = reference.substring(0, dot);
    String method = reference.substring(dot + 1);
    List<String> names = MISSING_ON_API_26.get(owner);
    if (names == null) {
      return false;
    }
    if (names.isEmpty()) {
      return true;  // the whole class is missing
    }
    for (String name : names) {
      // "name" matches any overload; "name(args" only that descriptor's
      if (name.contains("(") ? method.startsWith(name) : method.startsWith(name + "(")) {
        return true;
      }
    }
    return false;
  }

  /** The compiled classes of package dev.mobiledistill.core (not the JVM-only host harness). */
  private static List<Path> coreClasses() throws URISyntaxException, IOException {
    Path root = Paths.get(Benchmark.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    Path folder = root.resolve("dev/mobiledistill/core");
    assertTrue(Files.isDirectory(folder), "the core classes are not in a folder: " + root);
    try (Stream<Path> files = Files.list(folder)) {
      return files.filter(p -> p.toString().endsWith(".class")).sorted().collect(Collectors.toList());
    }
  }

  private static byte[] resource(Class<?> type) throws IOException {
    try (InputStream in = type.getResourceAsStream(type.getSimpleName() + ".class")) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      in.transferTo(out);
      return out.toByteArray();
    }
  }

  /**
   * Every method and class a class file refers to, as "owner.name(descriptor)" or "owner." for
   * a class constant, from its constant pool (JVMS 4.4).
   */
  static List<String> references(byte[] classFile) throws IOException {
    DataInputStream in = new DataInputStream(new ByteArrayInputStream(classFile));
    if (in.readInt() != 0xCAFEBABE) {
      throw new IOException("not a class file");
    }
    in.readUnsignedShort();
    in.readUnsignedShort();
    int count = in.readUnsignedShort();
    String[] utf8 = new String[count];
    int[] tag = new int[count];
    int[] first = new int[count];
    int[] second = new int[count];
    for (int i = 1; i < count; i++) {
      tag[i] = in.readUnsignedByte();
      switch (tag[i]) {
        case 1 -> utf8[i] = in.readUTF();
        case 7, 8, 16, 19, 20 -> first[i] = in.readUnsignedShort();
        case 15 -> {
          in.readUnsignedByte();
          first[i] = in.readUnsignedShort();
        }
        case 3, 4 -> in.readInt();
        case 9, 10, 11, 12, 17, 18 -> {
          first[i] = in.readUnsignedShort();
          second[i] = in.readUnsignedShort();
        }
        case 5, 6 -> {
          in.readLong();
          i++;  // takes two slots
        }
        default -> throw new IOException("unknown constant pool tag " + tag[i] + " at " + i);
      }
    }
    List<String> out = new ArrayList<>();
    for (int i = 1; i < count; i++) {
      if (tag[i] == 10 || tag[i] == 11) {  // Methodref, InterfaceMethodref
        String owner = utf8[first[first[i]]];
        int nameAndType = second[i];
        out.add(owner + "." + utf8[first[nameAndType]] + utf8[second[nameAndType]]);
      } else if (tag[i] == 7) {
        out.add(utf8[first[i]] + ".");
      }
    }
    return out;
  }
}
