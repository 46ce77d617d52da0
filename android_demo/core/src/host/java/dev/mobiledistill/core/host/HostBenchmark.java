package dev.mobiledistill.core.host;

import dev.mobiledistill.core.Benchmark;
import dev.mobiledistill.core.BenchmarkResult;
import dev.mobiledistill.core.BertTokenizer;
import dev.mobiledistill.core.BundleException;
import dev.mobiledistill.core.BundleIndex;
import dev.mobiledistill.core.ContractException;
import dev.mobiledistill.core.DeviceInfo;
import dev.mobiledistill.core.Hashing;
import dev.mobiledistill.core.Manifest;
import dev.mobiledistill.core.ResultsWriter;
import dev.mobiledistill.core.TestSample;
import dev.mobiledistill.core.Vocab;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Benchmarks an app bundle on the JVM with the app's own core (tokenizer, binder, benchmark,
 * results writer), the runtime living in a Python process (StdioRunner). The results file is the
 * one a phone writes, with device kind "jvm-host".
 */
public final class HostBenchmark {
  static final String USAGE = "usage: HostBenchmark --bundle DIR --out results.json [--artifact NAME ...]"
      + " [--runs 30] [--warmup 3] [--threads 1] [--python python3] [--emulate CPU]";
  static final String APP = "mobile-distill android_demo 0.1.0 (HostBenchmark)";
  static final String NOTE = "runtime in a Python process over a pipe: latency includes the pipe; load_seconds"
      + " includes starting Python; memory is the JVM's";

  private HostBenchmark() {}

  /** Bad command line or bundle: exit code 2. */
  static final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }

  /** The parsed command line. */
  /** {@code emulate}: an emulated ARM CPU of the aarch64 lane (`mobile-distill emulate`), or null for this host. */
  record Options(Path bundle, Path out, List<String> artifacts, int runs, int warmup, int threads, String python,
                 String emulate) {}

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /**
   * The exit code: 0 once the results file is written (failed artifacts included), 2 with a
   * one-line message for a bad command line, bundle.json or test sample (before any artifact
   * ran), 1 for anything else (e.g. the results file cannot be written).
   */
  static int execute(String[] args) {
    try {
      return run(parse(args));
    } catch (UsageException | BundleException | ContractException e) {
      System.err.println("error: " + oneLine(e.getMessage()));
      return 2;
    } catch (Exception e) {
      System.err.println("error: " + oneLine(e.getClass().getSimpleName() + ": " + e.getMessage()));
      return 1;
    }
  }

  static Options parse(String[] args) throws UsageException {
    Map<String, String> values = new LinkedHashMap<>();
    List<String> artifacts = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String option = args[i];
      if (option.equals("--artifact")) {
        i = names(args, i, artifacts);
      } else if (List.of("--bundle", "--out", "--runs", "--warmup", "--threads", "--python", "--emulate")
          .contains(option)) {
        if (i + 1 >= args.length) {
          throw new UsageException(option + " needs a value; " + USAGE);
        }
        values.put(option, args[++i]);
      } else {
        throw new UsageException("unknown option " + option + "; " + USAGE);
      }
    }
    if (!values.containsKey("--bundle") || !values.containsKey("--out")) {
      throw new UsageException("--bundle and --out are required; " + USAGE);
    }
    return new Options(Paths.get(values.get("--bundle")), Paths.get(values.get("--out")), List.copyOf(artifacts),
        count(values, "--runs", 30, 1), count(values, "--warmup", 3, 0), count(values, "--threads", 1, 1),
        values.getOrDefault("--python", "python3"), values.get("--emulate"));
  }

  /** --artifact takes one name or several, up to the next option. */
  private static int names(String[] args, int i, List<String> artifacts) throws UsageException {
    int start = i;
    while (i + 1 < args.length && !args[i + 1].startsWith("--")) {
      artifacts.add(args[++i]);
    }
    if (i == start) {
      throw new UsageException("--artifact needs a name; " + USAGE);
    }
    return i;
  }

  private static int count(Map<String, String> values, String option, int fallback, int minimum)
      throws UsageException {
    String text = values.get(option);
    if (text == null) {
      return fallback;
    }
    try {
      int value = Integer.parseInt(text);
      if (value >= minimum) {
        return value;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new UsageException(option + " must be an integer >= " + minimum + ", got '" + text + "'; " + USAGE);
  }

  /**
   * Benchmarks every selected artifact and writes the results file: 0 once it is written, even
   * when artifacts failed (each is recorded as "contract-failed" or "not-run", as the app
   * records them, and gate 2 judges them on the desktop). A bad bundle.json or test sample, or an
   * unknown artifact name, stops before any artifact runs (main's exit code 2).
   */
  static int run(Options options) throws Exception {
    BundleIndex index = BundleIndex.read(options.bundle().resolve("bundle.json"));
    TestSample sample = TestSample.read(options.bundle().resolve(index.sampleFile()));
    List<BenchmarkResult> results = new ArrayList<>();
    for (BundleIndex.Artifact artifact : select(index, options.artifacts())) {
      results.add(benchmark(options, artifact, sample));
    }
    ResultsWriter.write(options.out(), device(options), sample, results, APP);
    long failed = results.stream().filter(result -> !result.ran()).count();
    System.out.println("wrote " + options.out() + (failed == 0 ? "" : " (" + failed + " of " + results.size()
        + " artifacts did not run)"));
    return 0;
  }

  private static List<BundleIndex.Artifact> select(BundleIndex index, List<String> names) throws UsageException {
    if (names.isEmpty()) {
      return index.artifacts();
    }
    List<BundleIndex.Artifact> out = new ArrayList<>();
    for (String name : names) {
      BundleIndex.Artifact artifact = index.artifact(name);
      if (artifact == null) {
        List<String> known = index.artifacts().stream().map(BundleIndex.Artifact::name).toList();
        throw new UsageException("no artifact '" + name + "' in bundle.json (it has " + String.join(", ", known) + ")");
      }
      out.add(artifact);
    }
    return out;
  }

  /**
   * One artifact: its result, or the failed result of whatever stopped it (a bad manifest.json
   * or vocab.txt, a model file that is not bundle.json's, inputs unlike the manifest's, a worker
   * that cannot load the model), with the model file's hash whenever it was read.
   */
  private static BenchmarkResult benchmark(Options options, BundleIndex.Artifact artifact, TestSample sample) {
    Path folder = options.bundle().resolve(artifact.folder());
    String sha256 = null;
    try {
      Manifest manifest = Manifest.read(folder.resolve("manifest.json"));
      BertTokenizer tokenizer = new BertTokenizer(Vocab.read(folder.resolve("vocab.txt")), manifest.tokenizer());
      sha256 = Hashing.sha256Hex(folder.resolve(manifest.modelFile()));  // the bytes the worker is about to load
      artifact.checkModelSha256(sha256);
      BenchmarkResult result = Benchmark.run(
          () -> new StdioRunner(folder, options.threads(), options.python(), options.emulate()),
          manifest, tokenizer, sample, artifact, options.runs(), options.warmup(), progress(artifact.name()));
      System.err.println();
      System.out.printf(Locale.ROOT, "%s: accuracy %.4f, agreement %.4f, p50 %.3f ms (%s %s)%n", artifact.name(),
          result.accuracy(), result.agreementReference(), result.latency().p50(), result.runtime().name(),
          result.runtime().version());
      return result.withModelSha256(sha256);
    } catch (Exception e) {
      BenchmarkResult failed = BenchmarkResult.failed(artifact, e);
      System.err.println();
      System.out.println(artifact.name() + ": " + failed.status() + ": " + failed.detail());
      return sha256 == null ? failed : failed.withModelSha256(sha256);
    }
  }

  private static Benchmark.ProgressListener progress(String name) {
    return (phase, done, total) -> {
      if (done == total) {
        System.err.print("\r" + name + ": " + phase + " " + done + "/" + total + "   ");
      }
    };
  }

  private static DeviceInfo device(Options options) {
    Map<String, String> extra = new LinkedHashMap<>();
    extra.put("note", NOTE);
    extra.put("java", System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
    extra.put("python", options.python());
    String os = System.getProperty("os.name") + " " + System.getProperty("os.version");
    if (options.emulate() != null) {  // the app's Java code here, the phone's kernels in the aarch64 worker
      extra.put("emulated_cpu", options.emulate());
      extra.put("note", NOTE + "; the runtime is the aarch64 build under emulation: latency means nothing");
      return new DeviceInfo("jvm-host", "JVM host with an arm64 worker (emulated, " + options.emulate() + ")", "", os,
          "arm64-v8a", Runtime.getRuntime().availableProcessors(), extra);
    }
    return new DeviceInfo("jvm-host", System.getProperty("os.arch") + " JVM host", System.getProperty("java.vendor"),
        os, System.getProperty("os.arch"), Runtime.getRuntime().availableProcessors(), extra);
  }

  private static String oneLine(String message) {
    return message == null ? "no detail" : message.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
  }
}
