"""English as readers type it: all capitals, all lower case, no final punctuation.

The subword vocabulary keeps case and punctuation, so a model trained on Tatoeba's
well-formed English sees ``WHERE IS THE CAFE`` as pieces it rarely met. What the model
should not distinguish is normalised before tokenizing, by rules learned from the
training English alone:

- a sentence with no lower-case letter, or none upper-case, is re-cased word by word
  with each word's most frequent spelling in training (``tom`` -> ``Tom``, ``i`` -> ``I``,
  ``CAFE`` -> ``cafe``), and its first letter is capitalised;
- a sentence without final punctuation gets the mark that training sentences starting
  with the same word end with most often (``where`` -> ``?``; ``.`` otherwise).

Mixed-case input with its final mark is left exactly as typed. The rules run as
TensorFlow ops, so a SavedModel applies them as the Python translator does::

    normalizer = InputNormalizer.learn([english for english, _ in train_pairs])
    normalizer(tf.constant(["WHERE IS THE CAFE", "tom is here"]))  # ["Where is the cafe?", "Tom is here."]
"""

from __future__ import annotations

import collections
import re

import tensorflow as tf

_WORD = re.compile(r"\w+(?:'\w+)?")
_ENDS = ".!?…"
# Letters and digits of every script (RE2's \w is ASCII only).
_WORD_CHAR, _NOT_WORD = r"[\p{L}\p{N}_]", r"[^\p{L}\p{N}_]"


class InputNormalizer:
    """Re-case all-capital or all-lower-case English and add a missing final mark (see the module).

    Args:
        cased: ``{lower-case word: its most frequent spelling}`` from training text.
        question_starts: first words (lower case) of training sentences that end with ``?``
            more often than with another mark.
    """

    def __init__(self, cased, question_starts):
        self.cased = dict(cased)
        self.question_starts = sorted(question_starts)
        keys = tf.constant(list(self.cased) or [""])
        values = tf.constant(list(self.cased.values()) or [""])
        self._table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value="")
        self._questions = tf.constant(self.question_starts or ["\x00"])

    @classmethod
    def learn(cls, sentences):
        """The rules of the training ``sentences``: each word's usual spelling, the question words."""
        spellings = collections.defaultdict(collections.Counter)
        endings = collections.defaultdict(collections.Counter)
        for sentence in sentences:
            words = _WORD.findall(sentence)
            for position, word in enumerate(words):
                # A sentence's first word is capitalised whatever it is: count it only if nothing else does.
                spellings[word.lower()][word] += 1 if position else 0.01
            if words and sentence.rstrip()[-1:] in _ENDS:
                endings[words[0].lower()][sentence.rstrip()[-1]] += 1
        cased = {lower: forms.most_common(1)[0][0] for lower, forms in spellings.items()}
        questions = [first for first, marks in endings.items() if marks.most_common(1)[0][0] == "?"]
        return cls(cased, questions)

    @property
    def trackables(self):  # what a SavedModel must track: the lookup table
        return [self._table]

    def __call__(self, texts):
        """``(B,)`` strings -> ``(B,)`` strings, normalised (a ``tf.Tensor``)."""
        texts = tf.strings.strip(tf.strings.regex_replace(tf.convert_to_tensor(texts, tf.string), r"\s+", " "))
        lower = tf.strings.lower(texts, encoding="utf-8")
        one_case = tf.logical_or(tf.equal(lower, texts), tf.equal(tf.strings.upper(texts, encoding="utf-8"), texts))
        texts = tf.where(one_case, self._recase(lower), texts)
        return self._add_final_mark(texts)

    def _recase(self, lower):
        words = tf.strings.split(lower)  # ragged (B, words); punctuation stays on its word
        core = tf.strings.regex_replace(words, rf"^{_NOT_WORD}*(.*?){_NOT_WORD}*$", r"\1")
        known = self._table.lookup(core.flat_values)
        cased = core.with_flat_values(tf.where(tf.equal(known, ""), core.flat_values, known))
        before = tf.strings.regex_replace(words, rf"^({_NOT_WORD}*).*$", r"\1")
        after = tf.strings.regex_replace(words, rf"^.*?({_NOT_WORD}*)$", r"\1")
        joined = tf.strings.reduce_join(before + cased + after, axis=-1, separator=" ")
        characters = tf.strings.unicode_split(joined, "UTF-8")
        first = tf.strings.upper(tf.strings.reduce_join(characters[:, :1], axis=-1), encoding="utf-8")
        return first + tf.strings.reduce_join(characters[:, 1:], axis=-1)

    def _add_final_mark(self, texts):
        ended = tf.strings.regex_full_match(texts, rf".*[{_ENDS}][\"')\]]*$") | tf.equal(texts, "")
        first = tf.strings.regex_replace(texts, rf"^{_NOT_WORD}*({_WORD_CHAR}+).*$", r"\1")
        first = tf.strings.lower(first, encoding="utf-8")
        question = tf.reduce_any(tf.equal(first[:, None], self._questions[None, :]), axis=1)
        return tf.where(ended, texts, texts + tf.where(question, "?", "."))

    def get_state(self):
        return {"cased": self.cased, "question_starts": self.question_starts}

    @classmethod
    def from_state(cls, state):
        return cls(state["cased"], state["question_starts"])
