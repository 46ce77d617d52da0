package dev.mobiledistill.core.host;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.mobiledistill.core.InputTensor;
import dev.mobiledistill.core.ModelRunner;
import dev.mobiledistill.core.TensorSpec;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A ModelRunner whose runtime lives in a Python process (`python -m mobile_distill.runners.stdio`),
 * spoken to in line-delimited JSON. It lets the JVM harness run the exact Java tokenizer, binder
 * and benchmark code of the app against ONNX Runtime, LiteRT or ExecuTorch on a desktop, or,
 * with an emulated CPU, against their aarch64 builds under qemu (`mobile-distill emulate --serve`),
 * which speaks the same protocol. Latency includes the pipe and JSON on both sides.
 */
public final class StdioRunner implements ModelRunner {
  private static final int STDERR_LINES_KEPT = 20;

  private final Process process;
  private final BufferedWriter stdin;
  private final BufferedReader stdout;
  private final Deque<String> stderrTail = new ArrayDeque<>();
  private final int threads;
  private final String runtimeName;
  private final String runtimeVersion;
  private final List<TensorSpec> declared;
  private final double workerLoadSeconds;
  private boolean closed;

  /** Starts the worker for one artifact folder on this host's runtime and waits for its ready line. */
  public StdioRunner(Path artifactFolder, int threads, String python) throws IOException {
    this(artifactFolder, threads, python, null);
  }

  /** As above; with {@code emulatedCpu} set, the worker is the aarch64 lane's on that CPU (one thread). */
  public StdioRunner(Path artifactFolder, int threads, String python, String emulatedCpu) throws IOException {
    this.threads = emulatedCpu == null ? threads : 1;
    ProcessBuilder builder = emulatedCpu == null
        ? new ProcessBuilder(python, "-m", "mobile_distill.runners.stdio", artifactFolder.toString(), "--threads",
            Integer.toString(threads))
        : new ProcessBuilder(python, "-m", "mobile_distill.cli", "emulate", "--serve", artifactFolder.toString(),
            "--cpu", emulatedCpu);
    process = builder.start();  // working directory and environment (PYTHONPATH) are inherited
    stdin = new BufferedWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8));
    stdout = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    drainStderr();
    try {
      JsonObject ready = readReply("the ready line");
      if (!ready.has("ready") || !ready.get("ready").getAsBoolean()) {
        throw new IOException("the stdio worker could not load " + artifactFolder + ": " + message(ready));
      }
      runtimeName = field(ready, "runtime").getAsString();
      runtimeVersion = field(ready, "version").getAsString();
      declared = inputs(field(ready, "inputs").getAsJsonArray());
      workerLoadSeconds = ready.has("load_seconds") ? ready.get("load_seconds").getAsDouble() : Double.NaN;
    } catch (IOException | RuntimeException e) {
      close();
      throw e instanceof IOException io ? io : new IOException("the stdio worker's ready line is malformed ("
          + e.getMessage() + ")", e);
    }
  }

  private static JsonElement field(JsonObject line, String name) throws IOException {
    if (!line.has(name) || line.get(name).isJsonNull()) {
      throw new IOException("the stdio worker's ready line has no \"" + name + "\": " + abbreviate(line.toString()));
    }
    return line.get(name);
  }

  /** stderr is free text; it is kept (last lines, for error messages) and passed on to ours. */
  private void drainStderr() {
    Thread reader = new Thread(() -> {
      try (BufferedReader err = new BufferedReader(
          new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
        for (String line = err.readLine(); line != null; line = err.readLine()) {
          System.err.println("[stdio worker] " + line);
          synchronized (stderrTail) {
            stderrTail.addLast(line);
            if (stderrTail.size() > STDERR_LINES_KEPT) {
              stderrTail.removeFirst();
            }
          }
        }
      } catch (IOException e) {
        // the worker closed its stderr: nothing more to keep
      }
    }, "stdio-worker-stderr");
    reader.setDaemon(true);
    reader.start();
  }

  private static List<TensorSpec> inputs(JsonArray array) {
    List<TensorSpec> out = new ArrayList<>();
    for (JsonElement item : array) {
      JsonObject input = item.getAsJsonObject();
      out.add(new TensorSpec(input.get("name").getAsString(), input.get("dtype").getAsString()));
    }
    return List.copyOf(out);
  }

  private JsonObject readReply(String what) throws IOException {
    String line = stdout.readLine();
    if (line == null) {
      throw new IOException("the stdio worker exited before " + what + exitDetail());
    }
    try {
      return JsonParser.parseString(line).getAsJsonObject();
    } catch (JsonParseException | IllegalStateException e) {
      throw new IOException("the stdio worker wrote a line that is not a JSON object instead of " + what + ": "
          + abbreviate(line));
    }
  }

  private String exitDetail() {
    String code;
    try {
      code = process.waitFor(2, TimeUnit.SECONDS) ? " (exit code " + process.exitValue() + ")" : "";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      code = "";
    }
    synchronized (stderrTail) {
      String tail = stderrTail.isEmpty() ? "" : "; its stderr ended: " + String.join(" | ", stderrTail);
      return code + tail;
    }
  }

  private static String message(JsonObject reply) {
    return reply.has("error") ? reply.get("error").getAsString() : "no error message in " + abbreviate(reply.toString());
  }

  private static String abbreviate(String text) {
    return text.length() > 300 ? text.substring(0, 300) + "..." : text;
  }

  @Override
  public List<TensorSpec> declaredInputs() {
    return declared;
  }

  @Override
  public float[] run(Map<String, InputTensor> feeds) {
    try {
      stdin.write(request(feeds).toString());
      stdin.write('\n');
      stdin.flush();
      JsonObject reply = readReply("a reply");
      if (reply.has("error")) {
        throw new IllegalStateException("the stdio worker failed: " + message(reply));
      }
      return logits(reply.getAsJsonArray("logits"));
    } catch (IOException e) {
      throw new IllegalStateException("the stdio worker stopped answering: " + e.getMessage(), e);
    }
  }

  static JsonObject request(Map<String, InputTensor> feeds) {
    JsonObject inputs = new JsonObject();
    for (InputTensor tensor : feeds.values()) {
      JsonObject entry = new JsonObject();
      entry.addProperty("dtype", tensor.dtype);
      JsonArray shape = new JsonArray();
      for (long dim : tensor.shape()) {
        shape.add(dim);
      }
      entry.add("shape", shape);
      JsonArray data = new JsonArray();
      for (int value : tensor.values) {
        data.add(value);
      }
      entry.add("data", data);
      inputs.add(tensor.name, entry);
    }
    JsonObject request = new JsonObject();
    request.add("inputs", inputs);
    return request;
  }

  /** JSON null (Python's NaN written as null) becomes NaN, which Metrics.argmax reports as -1. */
  private static float[] logits(JsonArray array) {
    float[] out = new float[array.size()];
    for (int i = 0; i < out.length; i++) {
      JsonElement value = array.get(i);
      out[i] = value.isJsonNull() ? Float.NaN : value.getAsFloat();
    }
    return out;
  }

  @Override
  public String runtimeName() {
    return runtimeName;
  }

  @Override
  public String runtimeVersion() {
    return runtimeVersion;
  }

  @Override
  public int threads() {
    return threads;
  }

  /** The worker's own load time (the runtime session alone, without starting Python). */
  public double workerLoadSeconds() {
    return workerLoadSeconds;
  }

  /** Closes the worker's stdin (which ends it) and waits; destroys it after 10 s. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      stdin.close();
    } catch (IOException e) {
      // already gone: waiting below settles it
    }
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }
}
