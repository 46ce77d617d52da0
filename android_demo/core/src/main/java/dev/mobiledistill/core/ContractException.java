package dev.mobiledistill.core;

/** The model file's inputs do not match what manifest.json promises (names or dtypes). Binding
 *  by position would silently feed the mask as ids, so every mismatch stops the run instead. */
public final class ContractException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The check binding inputs by name makes; the default for a ContractException. */
  public static final String INPUT_BINDING = "input binding";
  /** The check that the model returns one logit per manifest label. */
  public static final String OUTPUTS = "outputs";

  /** The contract check that failed, as the results file's "contract" list names it. */
  private final String check;

  public ContractException(String message) {
    this(INPUT_BINDING, message);
  }

  public ContractException(String check, String message) {
    super(message);
    this.check = check == null ? INPUT_BINDING : check;
  }

  /** Which contract check failed, e.g. {@link #INPUT_BINDING} or {@link #OUTPUTS}. */
  public String check() {
    return check;
  }
}
