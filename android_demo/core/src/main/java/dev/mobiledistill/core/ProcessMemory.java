package dev.mobiledistill.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Resident memory of this process from /proc/self/status, which both Android and desktop Linux
 * have; Runtime.totalMemory would see only the Java heap, not a native runtime's weights.
 */
public final class ProcessMemory {
  private static final Path STATUS = Paths.get("/proc/self/status");

  private ProcessMemory() {}

  /** Current resident set (VmRSS) in MB (kB / 1000), 0.0 when not readable. */
  public static double rssMb() {
    return fieldMb(STATUS, "VmRSS:");
  }

  /** Peak resident set since the process started (VmHWM) in MB, 0.0 when not readable. */
  public static double peakRssMb() {
    return fieldMb(STATUS, "VmHWM:");
  }

  static double fieldMb(Path status, String field) {
    try {
      for (String line : Files.readAllLines(status, StandardCharsets.UTF_8)) {
        if (line.startsWith(field)) {
          return parseKb(line.substring(field.length())) / 1000.0;
        }
      }
    } catch (IOException | RuntimeException e) {
      return 0.0;  // not Linux, or a sandbox hides /proc: memory is reported as unknown (0.0)
    }
    return 0.0;
  }

  /** "   123456 kB" -> 123456. */
  private static double parseKb(String value) {
    String number = value.trim().split("\\s+")[0];
    return Long.parseLong(number);
  }
}
