package dev.mobiledistill.core;

/** One tokenized text, already truncated and padded to the tokenizer's max_length. */
public final class Encoding {
  public final int[] inputIds;
  public final int[] attentionMask;
  public final int[] tokenTypeIds;

  public Encoding(int[] inputIds, int[] attentionMask, int[] tokenTypeIds) {
    if (inputIds.length != attentionMask.length || inputIds.length != tokenTypeIds.length) {
      throw new IllegalArgumentException("input_ids, attention_mask and token_type_ids differ in length: "
          + inputIds.length + ", " + attentionMask.length + ", " + tokenTypeIds.length);
    }
    this.inputIds = inputIds;
    this.attentionMask = attentionMask;
    this.tokenTypeIds = tokenTypeIds;
  }

  public int length() {
    return inputIds.length;
  }
}
