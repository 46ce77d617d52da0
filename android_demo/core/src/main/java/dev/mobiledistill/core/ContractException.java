package dev.mobiledistill.core;

/** The model file's inputs do not match what manifest.json promises (names or dtypes). Binding
 *  by position would silently feed the mask as ids, so every mismatch stops the run instead. */
public final class ContractException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public ContractException(String message) {
    super(message);
  }
}
