package dev.mobiledistill.core;

/** A bundle file (manifest.json, vocab.txt, bundle.json, test_sample.json) is missing or malformed.
 *  The message is one line naming the file, the field and what would fix it. */
public final class BundleException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public BundleException(String message) {
    super(message);
  }

  public BundleException(String message, Throwable cause) {
    super(message, cause);
  }
}
