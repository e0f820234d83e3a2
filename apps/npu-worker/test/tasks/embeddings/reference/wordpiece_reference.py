"""Reference BERT WordPiece tokenizer, written from the algorithm of Google BERT's tokenization.py
(BasicTokenizer + WordpieceTokenizer), plus the added-token extraction of Hugging Face tokenizers (special
tokens written in the text are kept whole, longest match first, before any normalisation).

It reads vocab.txt (one token per line, the line number is the id), not tokenizer.json, so it does not share
a single byte of logic or data with the JavaScript tokenizer it checks.
"""

import unicodedata

# CJK Unified Ideographs blocks, as BERT defines "Chinese characters" (Hangul and kana are not among them).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def is_control(ch):
    # Tab, newline and carriage return are whitespace, not control characters.
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    # Every non-alphanumeric ASCII character counts, e.g. ^ $ ` (not in Unicode's P* categories).
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp):
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


class BertWordPieceReference:
    """Uncased BERT tokenizer: `encode(text, max_length)` -> ids with [CLS] ... [SEP]."""

    def __init__(self, vocab_path, lowercase=True, max_input_chars_per_word=100):
        with open(vocab_path, encoding="utf-8") as f:
            tokens = f.read().split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        self.vocab = {token: index for index, token in enumerate(tokens)}
        self.lowercase = lowercase
        self.max_input_chars_per_word = max_input_chars_per_word
        self.specials = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t in self.vocab]
        self.unk = "[UNK]"

    # --- BasicTokenizer ---------------------------------------------------------------------------
    def clean_text(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or is_control(ch):
                continue
            out.append(" " if is_whitespace(ch) else ch)
        return "".join(out)

    def space_chinese_chars(self, text):
        out = []
        for ch in text:
            if is_chinese_char(ord(ch)):
                out.extend((" ", ch, " "))
            else:
                out.append(ch)
        return "".join(out)

    def strip_accents(self, text):
        return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")

    def split_on_punctuation(self, token):
        words = []
        current = []
        for ch in token:
            if is_punctuation(ch):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(ch)
            else:
                current.append(ch)
        if current:
            words.append("".join(current))
        return words

    def basic_tokenize(self, text):
        text = self.clean_text(text)
        text = self.space_chinese_chars(text)
        words = []
        for token in text.split():
            if self.lowercase:
                token = self.strip_accents(token.lower())
            words.extend(self.split_on_punctuation(token))
        return " ".join(words).split()

    # --- WordpieceTokenizer -----------------------------------------------------------------------
    def wordpiece(self, word):
        chars = list(word)
        if len(chars) > self.max_input_chars_per_word:
            return [self.unk]
        pieces = []
        start = 0
        while start < len(chars):
            end = len(chars)
            found = None
            while start < end:
                piece = "".join(chars[start:end])
                if start > 0:
                    piece = "##" + piece
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [self.unk]
            pieces.append(found)
            start = end
        return pieces

    # --- added tokens + the whole pipeline ---------------------------------------------------------
    def split_special_tokens(self, text):
        """Sections of `text`: (is_special, string), special tokens matched longest-first from the left."""
        sections = []
        plain_start = 0
        i = 0
        while i < len(text):
            match = max((s for s in self.specials if text.startswith(s, i)), key=len, default=None)
            if match is None:
                i += 1
                continue
            if i > plain_start:
                sections.append((False, text[plain_start:i]))
            sections.append((True, match))
            i += len(match)
            plain_start = i
        if plain_start < len(text):
            sections.append((False, text[plain_start:]))
        return sections

    def tokenize(self, text):
        tokens = []
        for special, section in self.split_special_tokens(text):
            if special:
                tokens.append(section)
                continue
            for word in self.basic_tokenize(section):
                tokens.extend(self.wordpiece(word))
        return tokens

    def encode(self, text, max_length):
        """Ids of `[CLS] tokens [SEP]`, the tokens truncated so the whole fits in `max_length`."""
        content = [self.vocab[t] for t in self.tokenize(text)][: max_length - 2]
        return [self.vocab["[CLS]"]] + content + [self.vocab["[SEP]"]]
