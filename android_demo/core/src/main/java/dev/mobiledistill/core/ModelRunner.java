package dev.mobiledistill.core;

import java.util.List;
import java.util.Map;

/** One loaded model in one runtime (LiteRT, ONNX Runtime, ... or a process bridge on the JVM). */
public interface ModelRunner extends AutoCloseable {
  /** What the MODEL FILE declares (names, dtypes), not the manifest: InputBinder compares the two. */
  List<TensorSpec> declaredInputs();

  /** Batch 1; returns the logits row. */
  float[] run(Map<String, InputTensor> feeds);

  String runtimeName();

  String runtimeVersion();

  default String delegate() {
    return "cpu";
  }

  int threads();

  @Override
  void close();
}
