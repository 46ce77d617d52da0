package dev.mobiledistill.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Feeds inputs by NAME after checking manifest.json against the model file. Models exported from
 * different tools order input_ids, attention_mask and token_type_ids differently; feeding by
 * position would run without error and give wrong answers, so any disagreement stops here.
 */
public final class InputBinder {
  private static final String FIX = "re-export or fix manifest.json";
  private static final Set<String> KNOWN = AndroidCompat.setOf("input_ids", "attention_mask", "token_type_ids");

  private final List<TensorSpec> inputs;
  private final int sequenceLength;

  private InputBinder(List<TensorSpec> inputs, int sequenceLength) {
    this.inputs = inputs;
    this.sequenceLength = sequenceLength;
  }

  /**
   * Every manifest input must be declared by the model with the same dtype, every declared input
   * must be in the manifest, and each must be one the tokenizer produces (an unknown name such as
   * position_ids fails here, at load time, rather than on the first text).
   */
  public static InputBinder bind(Manifest manifest, List<TensorSpec> declared) {
    return bind(manifest.inputs(), declared, manifest.sequenceLength());
  }

  /** The same check without a Manifest object (e.g. for a manifest read elsewhere). */
  public static InputBinder bind(List<TensorSpec> manifestInputs, List<TensorSpec> declared, int sequenceLength) {
    Map<String, TensorSpec> byName = byName(declared, "the model file");
    Map<String, TensorSpec> manifestByName = byName(manifestInputs, "manifest.json");
    for (TensorSpec expected : manifestInputs) {
      TensorSpec actual = byName.get(expected.name());
      if (actual == null) {
        throw new ContractException("input '" + expected.name() + "' (" + expected.dtype()
            + ") is in manifest.json but the model file does not declare it (it declares " + names(declared)
            + "): " + FIX);
      }
      if (!actual.dtype().equals(expected.dtype())) {
        throw new ContractException("input '" + expected.name() + "' is " + expected.dtype()
            + " in manifest.json but " + actual.dtype() + " in the model file: " + FIX);
      }
      checkKnown(expected);
    }
    for (TensorSpec actual : declared) {
      if (!manifestByName.containsKey(actual.name())) {
        throw new ContractException("the model file declares input '" + actual.name() + "' (" + actual.dtype()
            + ") that manifest.json does not list (it lists " + names(manifestInputs) + "): " + FIX);
      }
    }
    return new InputBinder(AndroidCompat.listCopy(manifestInputs), sequenceLength);
  }

  private static Map<String, TensorSpec> byName(List<TensorSpec> specs, String where) {
    Map<String, TensorSpec> out = new LinkedHashMap<>();
    for (TensorSpec spec : specs) {
      if (out.put(spec.name(), spec) != null) {
        throw new ContractException("input '" + spec.name() + "' appears twice in " + where + ": " + FIX);
      }
    }
    return out;
  }

  private static void checkKnown(TensorSpec spec) {
    if (!KNOWN.contains(spec.name())) {
      throw unknown(spec);
    }
  }

  private static ContractException unknown(TensorSpec spec) {
    return new ContractException("input '" + spec.name() + "' (" + spec.dtype()
        + ") is not one the tokenizer produces (input_ids, attention_mask, token_type_ids): " + FIX);
  }

  private static String names(List<TensorSpec> specs) {
    List<String> out = new ArrayList<>();
    for (TensorSpec spec : specs) {
      out.add(spec.name() + " " + spec.dtype());
    }
    return out.isEmpty() ? "none" : String.join(", ", out);
  }

  /** The bound inputs, in manifest order. */
  public List<TensorSpec> inputs() {
    return inputs;
  }

  /** One tensor per bound input, each filled from the encoding field of the same name. */
  public Map<String, InputTensor> feeds(Encoding encoding) {
    if (encoding.length() != sequenceLength) {
      throw new ContractException("the encoding has " + encoding.length() + " tokens but manifest.json's"
          + " sequence_length is " + sequenceLength + ": tokenize with the manifest's tokenizer settings");
    }
    Map<String, InputTensor> feeds = new LinkedHashMap<>();
    for (TensorSpec spec : inputs) {
      feeds.put(spec.name(), new InputTensor(spec.name(), spec.dtype(), values(spec, encoding)));
    }
    return feeds;
  }

  private static int[] values(TensorSpec spec, Encoding encoding) {
    return switch (spec.name()) {
      case "input_ids" -> encoding.inputIds;
      case "attention_mask" -> encoding.attentionMask;
      case "token_type_ids" -> encoding.tokenTypeIds;
      default -> throw unknown(spec);
    };
  }
}
