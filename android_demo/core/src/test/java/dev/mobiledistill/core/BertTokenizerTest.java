package dev.mobiledistill.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Hand-made cases for each stage of the tokenizer; the golden test checks it against the reference. */
class BertTokenizerTest {
  private static final String LETTERS = "abcdefghijklmnopqrstuvwxyz";

  /** ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the tokens in order from 5. */
  static Vocab vocab(String... tokens) {
    List<String> lines = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"));
    lines.addAll(List.of(tokens));
    return Vocab.read(new ByteArrayInputStream(String.join("\n", lines).getBytes(StandardCharsets.UTF_8)), "test vocab");
  }

  /** Every letter as a word start and as a continuation, so any a-z word splits into letters. */
  static Vocab letters(String... more) {
    List<String> tokens = new ArrayList<>(List.of(more));
    for (char c : LETTERS.toCharArray()) {
      tokens.add(String.valueOf(c));
      tokens.add("##" + c);
    }
    return vocab(tokens.toArray(new String[0]));
  }

  private static BertTokenizer tokenizer(Vocab vocab, boolean lower, Boolean strip, int length) {
    return new BertTokenizer(vocab, TokenizerSettings.of(lower, strip, length));
  }

  @Test
  void splitsOnWhitespaceAndPunctuation() {
    BertTokenizer t = tokenizer(vocab("hello", ",", "world", "!", "$", "5"), true, null, 16);
    assertEquals(List.of("hello", ",", "world", "!", "$", "5"), t.tokenize("Hello,\tWORLD!$5"));
  }

  @Test
  void wordPieceTakesTheLongestMatchFirst() {
    BertTokenizer t = tokenizer(vocab("un", "una", "##aff", "##able", "##ffable"), true, null, 16);
    assertEquals(List.of("una", "##ffable"), t.tokenize("unaffable"));
  }

  @Test
  void aWordWithAnUnmatchablePartIsOneUnknown() {
    BertTokenizer t = tokenizer(vocab("un", "##aff", "ok"), true, null, 16);
    assertEquals(List.of("[UNK]", "ok"), t.tokenize("unaffz ok"));
  }

  @Test
  void wordsOverOneHundredCodePointsAreUnknown() {
    BertTokenizer t = tokenizer(letters(), false, false, 16);
    assertEquals(100, t.tokenize("a".repeat(100)).size());
    assertEquals(List.of("[UNK]"), t.tokenize("a".repeat(101)));
    // 100 code points but 200 UTF-16 chars: still one piece per code point, not [UNK]
    String emoji = "\uD83D\uDE00";
    BertTokenizer withEmoji = tokenizer(letters(emoji, "##" + emoji), false, false, 16);
    assertEquals(100, withEmoji.tokenize(emoji.repeat(100)).size());
  }

  @Test
  void supplementaryCharactersAreOneCodePoint() {
    String emoji = "\uD83D\uDE00";  // U+1F600, two UTF-16 chars
    BertTokenizer t = tokenizer(letters("##" + emoji), false, false, 16);
    assertEquals(List.of("a", "##" + emoji, "##b"), t.tokenize("a" + emoji + "b"));
  }

  @Test
  void cjkIdeographsAreWordsOfTheirOwn() {
    BertTokenizer t = tokenizer(vocab("\u7535", "\u5F71", "a", "\uD840\uDC00"), true, null, 16);
    assertEquals(List.of("a", "\u7535", "\u5F71", "a", "\uD840\uDC00"), t.tokenize("a\u7535\u5F71a\uD840\uDC00"));
  }

  @Test
  void accentsFollowLowerCaseUnlessSetExplicitly() {
    Vocab v = vocab("cafe", "caf\u00E9", "Cafe", "Caf\u00E9");
    assertEquals(List.of("cafe"), tokenizer(v, true, null, 8).tokenize("Caf\u00E9"));
    assertEquals(List.of("caf\u00E9"), tokenizer(v, true, false, 8).tokenize("Caf\u00E9"));
    assertEquals(List.of("Caf\u00E9"), tokenizer(v, false, null, 8).tokenize("Caf\u00E9"));
    assertEquals(List.of("Cafe"), tokenizer(v, false, true, 8).tokenize("Cafe\u0301"));
  }

  @Test
  void lowercaseIsPerCodePointWithoutLocaleOrContext() {
    // Final sigma stays sigma (no String.toLowerCase context); dotted capital I becomes i + U+0307.
    BertTokenizer t = tokenizer(vocab("\u03BF\u03B4\u03BF\u03C3", "i\u0307", "istanbul"), true, false, 8);
    assertEquals(List.of("\u03BF\u03B4\u03BF\u03C3"), t.tokenize("\u039F\u0394\u039F\u03A3"));
    assertEquals(List.of("i\u0307"), t.tokenize("\u0130"));
    assertEquals(List.of("istanbul"), tokenizer(vocab("istanbul"), true, null, 8).tokenize("\u0130stanbul"));
  }

  @Test
  void controlAndFormatCharactersAreDroppedAndOddSpacesSplit() {
    BertTokenizer t = tokenizer(vocab("ab", "cd"), true, null, 8);
    assertEquals(List.of("ab", "cd"), t.tokenize("a\u200Bb\u00A0c\u0000d\uFFFD"));
    assertEquals(List.of("ab", "cd"), t.tokenize("a\u000Bb\u3000cd"));
  }

  @Test
  void encodeLaysOutSpecialsMaskAndPadding() {
    Encoding e = tokenizer(vocab("a", "b"), true, null, 6).encode("a b");
    assertArrayEquals(new int[] {2, 5, 6, 3, 0, 0}, e.inputIds);
    assertArrayEquals(new int[] {1, 1, 1, 1, 0, 0}, e.attentionMask);
    assertArrayEquals(new int[] {0, 0, 0, 0, 0, 0}, e.tokenTypeIds);
  }

  @Test
  void encodeTruncatesToMaxLength() {
    Encoding e = tokenizer(letters(), false, false, 5).encode("a b c d e");
    assertArrayEquals(new int[] {2, 5, 7, 9, 3}, e.inputIds);
    assertArrayEquals(new int[] {1, 1, 1, 1, 1}, e.attentionMask);
  }

  @Test
  void pairsGetSegmentIdsAndLongestFirstTruncation() {
    Encoding e = tokenizer(vocab("a", "b"), true, null, 8).encode("a", "b b");
    assertArrayEquals(new int[] {2, 5, 3, 6, 6, 3, 0, 0}, e.inputIds);
    assertArrayEquals(new int[] {0, 0, 0, 1, 1, 1, 0, 0}, e.tokenTypeIds);
    assertArrayEquals(new int[] {1, 1, 1, 1, 1, 1, 0, 0}, e.attentionMask);
  }

  @Test
  void longestFirstFollowsTheReferenceArithmetic() {
    // Measured with tokenizers 0.23: 40 + 50 pieces at max_length 64 keep 30 + 31, not 40 + 21.
    assertLengths(40, 50, 61, 30, 31);
    assertLengths(50, 40, 61, 31, 30);
    assertLengths(5, 100, 61, 5, 56);
    assertLengths(100, 5, 61, 56, 5);
    assertLengths(10, 20, 61, 10, 20);
    assertLengths(100, 100, 61, 30, 31);
    assertLengths(0, 100, 61, 0, 61);
  }

  private static void assertLengths(int n1, int n2, int budget, int keep1, int keep2) {
    int[][] cut = Truncation.longestFirst(new int[n1], new int[n2], budget, false);
    assertEquals(keep1, cut[0].length, "first of " + n1 + "+" + n2);
    assertEquals(keep2, cut[1].length, "second of " + n1 + "+" + n2);
  }

  @Test
  void leftSidesPadAndTruncateFromTheStart() {
    TokenizerSettings settings = TokenizerSettings.of(false, false, 5).withSides("left", "left");
    BertTokenizer t = new BertTokenizer(letters(), settings);
    assertArrayEquals(new int[] {2, 9, 11, 13, 3}, t.encode("a b c d e").inputIds);
    Encoding padded = t.encode("a");
    assertArrayEquals(new int[] {0, 0, 2, 5, 3}, padded.inputIds);
    assertArrayEquals(new int[] {0, 0, 1, 1, 1}, padded.attentionMask);
  }

  @Test
  void aVocabularyWithoutTheSpecialTokensIsRejected() {
    Vocab noCls = Vocab.read(new ByteArrayInputStream("[PAD]\n[UNK]\n[SEP]\n".getBytes(StandardCharsets.UTF_8)), "v");
    BundleException e = assertThrows(BundleException.class,
        () -> new BertTokenizer(noCls, TokenizerSettings.of(true, null, 8)));
    assertTrue(e.getMessage().contains("[CLS]"), e.getMessage());
  }

  @Test
  void aVocabularyGivingSpecialsOtherIdsThanTheManifestIsRejected() {
    String manifest = "{\"tokenizer\": {\"kind\": \"wordpiece\", \"lower_case\": true, \"max_length\": 8,"
        + " \"special_token_ids\": {\"cls_token\": 101, \"sep_token\": 102, \"pad_token\": 0}}}";
    TokenizerSettings settings = TokenizerSettings.fromManifestJson(
        new ByteArrayInputStream(manifest.getBytes(StandardCharsets.UTF_8)), "manifest.json");
    assertEquals(101, settings.specialTokenIds().get("cls_token"));
    BundleException e = assertThrows(BundleException.class, () -> new BertTokenizer(vocab("a"), settings));
    assertTrue(e.getMessage().contains("cls_token '[CLS]' is id 2") && e.getMessage().contains("101"), e.getMessage());
  }

  @Test
  void vocabIdsAreLineNumbersAndTheLastDuplicateWins() {
    Vocab v = Vocab.read(new ByteArrayInputStream("a\r\nb\nc\ra\n".getBytes(StandardCharsets.UTF_8)), "v");
    assertEquals(3, v.id("a"));
    assertEquals(1, v.id("b"));
    assertEquals(2, v.id("c"));
    assertEquals(-1, v.id("d"));
    assertEquals(3, v.size());
    assertThrows(BundleException.class, () -> Vocab.read(new ByteArrayInputStream(new byte[0]), "empty"));
  }

  @Test
  void characterClassesAreTheReferencesNotThePlatforms() {
    // Measured on the reference, where its Unicode tables differ from java.lang.Character's:
    // U+2B820 (CJK Ext. E) is not isolated (the reference's range starts at U+2B920); U+166D is
    // punctuation (category Po before Unicode 12); U+08D3 is not a non-spacing mark to it and
    // U+11938 is not decomposed; U+1C89 (Unicode 16) lowercases to U+1C8A.
    BertTokenizer strip = tokenizer(vocab("a\uD86E\uDC20b", "a", "\u166D", "b", "a\u08D3b", "\uD806\uDD38"), false,
        true, 8);
    assertEquals(List.of("a\uD86E\uDC20b"), strip.tokenize("a\uD86E\uDC20b"));
    assertEquals(List.of("a", "\u166D", "b"), strip.tokenize("a\u166Db"));
    assertEquals(List.of("a\u08D3b"), strip.tokenize("a\u08D3b"));
    assertEquals(List.of("\uD806\uDD38"), strip.tokenize("\uD806\uDD38"));
    assertEquals(List.of("\u1C8A"), tokenizer(vocab("\u1C8A"), true, false, 8).tokenize("\u1C89"));
  }

  @Test
  void lowercaseTableRowsDecodeAsWritten() {
    assertEquals('a', UnicodeTables.lowercase('A'));
    assertEquals(0x101, UnicodeTables.lowercase(0x100));  // a step-2 row: even code points map down
    assertEquals(0x101, UnicodeTables.lowercase(0x101));  // the odd ones are already lowercase
    assertEquals(0x3C3, UnicodeTables.lowercase(0x3A3));
    assertEquals(0x1E922, UnicodeTables.lowercase(0x1E900));
    assertEquals('1', UnicodeTables.lowercase('1'));
  }

  @Test
  void escapingForFailureMessagesKeepsCodePointsWhole() {
    assertEquals("a\\u00E9\\U{1F600}\\u000A", TokenizerGoldenTest.escape("a\u00E9\uD83D\uDE00\n"));
  }
}
