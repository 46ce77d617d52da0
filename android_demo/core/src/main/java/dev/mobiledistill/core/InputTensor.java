package dev.mobiledistill.core;

import java.util.Arrays;

/** One batch-1 model input, shape [1, length]. Values are held as int and widened on demand. */
public final class InputTensor {
  public final String name;
  public final String dtype;
  public final int[] values;

  public InputTensor(String name, String dtype, int[] values) {
    this.name = name;
    this.dtype = dtype;
    this.values = values;
  }

  public long[] asLongs() {
    return Arrays.stream(values).asLongStream().toArray();
  }

  public int[] asInts() {
    return values.clone();
  }

  public long[] shape() {
    return new long[] {1, values.length};
  }

  @Override
  public String toString() {
    return name + ":" + dtype + Arrays.toString(shape());
  }
}
