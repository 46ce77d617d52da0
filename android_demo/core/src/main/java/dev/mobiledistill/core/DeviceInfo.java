package dev.mobiledistill.core;

import java.util.LinkedHashMap;
import java.util.Map;

/** Where a benchmark ran: filled by the app from android.os.Build, or by the JVM harness. */
public final class DeviceInfo {
  private final String kind;
  private final String model;
  private final String manufacturer;
  private final String os;
  private final String abi;
  private final int cpuCount;
  private final Map<String, String> extra;

  /** {@code kind}: "android" or "jvm-host"; {@code extra}: more device keys, written as strings. */
  public DeviceInfo(String kind, String model, String manufacturer, String os, String abi, int cpuCount,
                    Map<String, String> extra) {
    this.kind = kind;
    this.model = model;
    this.manufacturer = manufacturer;
    this.os = os;
    this.abi = abi;
    this.cpuCount = cpuCount;
    this.extra = extra == null ? new LinkedHashMap<>() : new LinkedHashMap<>(extra);
  }

  public String kind() {
    return kind;
  }

  public String model() {
    return model;
  }

  public String manufacturer() {
    return manufacturer;
  }

  public String os() {
    return os;
  }

  public String abi() {
    return abi;
  }

  public int cpuCount() {
    return cpuCount;
  }

  public Map<String, String> extra() {
    return new LinkedHashMap<>(extra);
  }
}
