package dev.mobiledistill.core;

import java.util.Collections;
import java.util.List;
import java.util.Objects;

/** One model input: its name, integer dtype ("int32" or "int64") and, from a manifest, its shape. */
public final class TensorSpec {
  private final String name;
  private final String dtype;
  private final List<String> shape;

  public TensorSpec(String name, String dtype) {
    this(name, dtype, Collections.<String>emptyList());
  }

  /** {@code shape} as written in the manifest: symbolic ("batch") or numeric ("64") dimensions. */
  public TensorSpec(String name, String dtype, List<String> shape) {
    this.name = Objects.requireNonNull(name, "name");
    this.dtype = Objects.requireNonNull(dtype, "dtype");
    this.shape = AndroidCompat.listCopy(shape);
  }

  public String name() {
    return name;
  }

  public String dtype() {
    return dtype;
  }

  public List<String> shape() {
    return shape;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof TensorSpec spec && name.equals(spec.name) && dtype.equals(spec.dtype);
  }

  @Override
  public int hashCode() {
    return Objects.hash(name, dtype);
  }

  @Override
  public String toString() {
    return name + ":" + dtype;
  }
}
