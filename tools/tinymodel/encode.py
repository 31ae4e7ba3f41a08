"""The exported tokenizer's own Python implementation: byte-level BPE with the Llama-3 pre-tokenizer.

Reads a Hugging Face tokenizer.json (model.type "BPE", byte-level, ignore_merges honoured) and
encodes text; added (special) tokens are matched literally before pre-tokenization.
Usage: encode.py TOKENIZER_JSON < text  -> one line of space-separated token ids.
"""
import json
import sys
import unicodedata


def bytes_to_unicode():
    """GPT-2's printable stand-in character for every byte value."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = bytes_to_unicode()


def _is_letter(c):
    return unicodedata.category(c).startswith("L")


def _is_number(c):
    return unicodedata.category(c).startswith("N")


def _is_space(c):
    return c.isspace()


def pre_tokenize(s):
    """Splits like Llama-3's regex
    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+
    written out as code because Debian's python3 has no `regex` module (\\p{..} classes)."""
    out = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        # 1. contractions
        if c == "'" and i + 1 < n:
            low = s[i + 1:i + 3].lower()
            if low[:2] in ("re", "ve", "ll"):
                out.append(s[i:i + 3]); i += 3; continue
            if low[:1] in ("s", "t", "m", "d"):
                out.append(s[i:i + 2]); i += 2; continue
        # 2. optional non-letter/number/newline, then letters
        j = i
        if not _is_letter(c) and not _is_number(c) and c not in "\r\n" and i + 1 < n and _is_letter(s[i + 1]):
            j = i + 1
        if _is_letter(s[j]):
            k = j
            while k < n and _is_letter(s[k]):
                k += 1
            out.append(s[i:k]); i = k; continue
        # 3. up to three digits
        if _is_number(c):
            k = i
            while k < n and k < i + 3 and _is_number(s[k]):
                k += 1
            out.append(s[i:k]); i = k; continue
        # 4. optional space, punctuation run, trailing newlines
        j = i + 1 if c == " " and i + 1 < n else i
        if not _is_space(s[j]) and not _is_letter(s[j]) and not _is_number(s[j]):
            k = j
            while k < n and not _is_space(s[k]) and not _is_letter(s[k]) and not _is_number(s[k]):
                k += 1
            while k < n and s[k] in "\r\n":
                k += 1
            out.append(s[i:k]); i = k; continue
        # whitespace run [i, k)
        k = i
        while k < n and _is_space(s[k]):
            k += 1
        # 5. whitespace up to the last newline in the run
        last_nl = max((p for p in range(i, k) if s[p] in "\r\n"), default=-1)
        if last_nl >= 0:
            out.append(s[i:last_nl + 1]); i = last_nl + 1; continue
        # 6./7. whitespace not followed by non-space: leave the last space to the next word
        if k < n and k - 1 > i:
            out.append(s[i:k - 1]); i = k - 1; continue
        out.append(s[i:k]); i = k
    return out


def to_byte_chars(piece):
    return "".join(BYTE_CHARS[b] for b in piece.encode("utf-8"))


class tokenizer:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            tj = json.load(f)
        model = tj["model"]
        if model["type"] != "BPE":
            raise ValueError(f"{path}: model.type is {model['type']!r}, expected 'BPE'")
        self.vocab = model["vocab"]
        self.ignore_merges = bool(model.get("ignore_merges", False))
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.ranks = {m: r for r, m in enumerate(merges)}
        self.special = {t["content"]: t["id"] for t in tj["added_tokens"]}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.special.items()})
        self.byte_of = {c: b for b, c in BYTE_CHARS.items()}
        self.cache = {}

    def bpe(self, piece):
        word = to_byte_chars(piece)
        if word in self.cache:
            return self.cache[word]
        if self.ignore_merges and word in self.vocab:
            ids = [self.vocab[word]]
        else:
            parts = list(word)
            while len(parts) > 1:
                best = min(range(len(parts) - 1), key=lambda i: self.ranks.get((parts[i], parts[i + 1]), 1 << 30))
                if (parts[best], parts[best + 1]) not in self.ranks:
                    break
                parts[best:best + 2] = [parts[best] + parts[best + 1]]
            ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode_ordinary(self, text):
        ids = []
        for piece in pre_tokenize(text):
            ids.extend(self.bpe(piece))
        return ids

    def encode(self, text):
        """Splits out added tokens literally (longest first), encodes the text between them."""
        ids, i, start = [], 0, 0
        specials = sorted(self.special, key=len, reverse=True)
        while i < len(text):
            hit = next((s for s in specials if text.startswith(s, i)), None)
            if hit is None:
                i += 1
                continue
            ids.extend(self.encode_ordinary(text[start:i]))
            ids.append(self.special[hit])
            i += len(hit)
            start = i
        ids.extend(self.encode_ordinary(text[start:]))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            tok = self.id_to_token[i]
            if tok in self.special:
                out += tok.encode("utf-8")
            else:
                out += bytes(self.byte_of[c] for c in tok)
        return out.decode("utf-8", errors="replace")


if __name__ == "__main__":
    tok = tokenizer(sys.argv[1])
    print(" ".join(str(i) for i in tok.encode(sys.stdin.read())))
