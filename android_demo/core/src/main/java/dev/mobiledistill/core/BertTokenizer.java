package dev.mobiledistill.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The Hugging Face fast BertTokenizer (BertNormalizer + BertPreTokenizer + WordPiece + the BERT
 * template), reproduced id for id: one word split differently from the Python reference is a
 * silent accuracy loss on the phone, so tokenizer_golden.json pins it.
 */
public final class BertTokenizer {
  private final TokenizerSettings settings;
  private final Vocab vocab;
  private final BertNormalizer normalizer;
  private final WordPiece wordPiece;
  private final int clsId;
  private final int sepId;
  private final int padId;

  public BertTokenizer(Vocab vocab, TokenizerSettings settings) {
    this.vocab = vocab;
    this.settings = settings;
    this.normalizer = new BertNormalizer(settings.lowerCase(), settings.stripsAccents());
    this.wordPiece = new WordPiece(vocab, settings.unkToken());
    this.clsId = specialId(settings.clsToken(), "cls_token");
    this.sepId = specialId(settings.sepToken(), "sep_token");
    this.padId = specialId(settings.padToken(), "pad_token");
    specialId(settings.unkToken(), "unk_token");
  }

  private int specialId(String token, String field) {
    int id = vocab.id(token);
    if (id < 0) {
      throw new BundleException("vocab.txt: has no " + field + " '" + token
          + "' that manifest.json names; copy the artifact's own vocab.txt");
    }
    Integer expected = settings.specialTokenIds().get(field);
    if (expected != null && expected != id) {
      throw new BundleException("vocab.txt: " + field + " '" + token + "' is id " + id + " but manifest.json's"
          + " special_token_ids says " + expected + "; copy the artifact's own vocab.txt");
    }
    return id;
  }

  public TokenizerSettings settings() {
    return settings;
  }

  /** Normalized, pre-tokenized and WordPiece-split text, without [CLS]/[SEP]. */
  public List<String> tokenize(String text) {
    List<String> pieces = new ArrayList<>();
    for (String word : preTokenize(normalizer.normalize(text))) {
      wordPiece.split(word, pieces);
    }
    return pieces;
  }

  /** [CLS] text [SEP], truncated and padded to max_length. */
  public Encoding encode(String text) {
    int[] a = ids(tokenize(text));
    a = Truncation.cut(a, settings.maxLength() - 2, leftTruncation());
    return assemble(a, null);
  }

  /** [CLS] text [SEP] pair [SEP] with longest-first truncation; token type 1 for pair [SEP]. */
  public Encoding encode(String text, String pair) {
    int[][] cut = Truncation.longestFirst(ids(tokenize(text)), ids(tokenize(pair)), settings.maxLength() - 3,
        leftTruncation());
    return assemble(cut[0], cut[1]);
  }

  /**
   * BertPreTokenizer: whitespace separates words and is dropped; every punctuation character is
   * a word of its own.
   */
  static List<String> preTokenize(String text) {
    List<String> words = new ArrayList<>();
    StringBuilder word = new StringBuilder();
    text.codePoints().forEach(cp -> {
      if (UnicodeRules.isWhitespace(cp) || UnicodeRules.isPunctuation(cp)) {
        flush(word, words);
        if (!UnicodeRules.isWhitespace(cp)) {
          words.add(new String(Character.toChars(cp)));
        }
      } else {
        word.appendCodePoint(cp);
      }
    });
    flush(word, words);
    return words;
  }

  private static void flush(StringBuilder word, List<String> words) {
    if (word.length() > 0) {
      words.add(word.toString());
      word.setLength(0);
    }
  }

  private int[] ids(List<String> pieces) {
    int[] out = new int[pieces.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = vocab.id(pieces.get(i));  // WordPiece only emits vocabulary pieces or [UNK]
    }
    return out;
  }

  private boolean leftTruncation() {
    return settings.truncationSide().equals("left");
  }

  /** Lays out [CLS] a [SEP] (b [SEP]) with masks and segment ids, then pads to max_length. */
  private Encoding assemble(int[] a, int[] b) {
    int length = settings.maxLength();
    int used = a.length + 2 + (b == null ? 0 : b.length + 1);
    int offset = settings.paddingSide().equals("left") ? length - used : 0;
    int[] ids = new int[length];
    int[] mask = new int[length];
    int[] types = new int[length];
    Arrays.fill(ids, padId);
    int at = offset;
    ids[at++] = clsId;
    at = copy(a, ids, at);
    ids[at++] = sepId;
    if (b != null) {
      int start = at;
      at = copy(b, ids, at);
      ids[at++] = sepId;
      Arrays.fill(types, start, at, 1);
    }
    Arrays.fill(mask, offset, at, 1);
    return new Encoding(ids, mask, types);
  }

  private static int copy(int[] from, int[] to, int at) {
    System.arraycopy(from, 0, to, at, from.length);
    return at + from.length;
  }
}
