"""The registered text standardizations of the chapter's vectorizers.

A saved model holds its ``TextVectorization`` by reference to these functions,
so they live here, with the layers: ``import keras_transformer`` is all a
saved IMDB model or translator needs to load. Text is ``tf.string`` by
nature, so these are TensorFlow ops (imported when first called).
"""

import re
import string

import keras


# Characters that Python's str.splitlines() breaks lines at but TensorFlow's
# whitespace split keeps inside tokens. Keras saves a TextVectorization
# vocabulary one token a line and reads it back with splitlines(), so a token
# holding one of them (IMDB uses U+0085 as an ellipsis, and it is among the
# 20,000 most frequent tokens) corrupts the vocabulary of a saved model.
_LINE_BREAKS_TF_KEEPS = "[\\x{1c}-\\x{1e}\\x{85}\\x{2028}\\x{2029}]"
_PUNCTUATION = r"""[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~']"""

# The markers the book wraps every Spanish target in (decoding starts and stops at them).
START_TOKEN = "[start]"
END_TOKEN = "[end]"

# The book's choice for Spanish targets: ASCII punctuation plus "¿", keeping
# "[" and "]" so that [start] and [end] survive standardization as whole tokens.
STRIP_CHARS = string.punctuation.replace("[", "").replace("]", "") + "¿"
_STRIP_PATTERN = f"[{re.escape(STRIP_CHARS)}]"


@keras.saving.register_keras_serializable(package="keras_transformer")
def standardize_text(text):
    """Keras's ``lower_and_strip_punctuation``, plus odd line breaks made spaces.

    Without the second step a vocabulary token can hold U+0085 (IMDB's
    ellipsis), and a saved end-to-end model then reloads with a corrupted
    vocabulary (Keras reads vocabulary files with ``str.splitlines``).

    Example::

        standardize_text(tf.constant(["Great\x85 Film!"]))  # [b"great  film"]
    """
    import tensorflow as tf

    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, _LINE_BREAKS_TF_KEEPS, " ")
    return tf.strings.regex_replace(text, _PUNCTUATION, "")


@keras.saving.register_keras_serializable(package="keras_transformer")
def custom_standardization(input_string):
    """Lowercase and strip punctuation and "¿", keeping "[" and "]" (tf.string in, same shape out).

    Used as the target ``TextVectorization``'s ``standardize``; registered with
    Keras (as ``"keras_transformer>custom_standardization"``) so a saved
    vectorizer or model reloads with it, as soon as ``keras_transformer`` is
    imported.

    Example::

        custom_standardization(tf.constant(["[start] ¿Qué tal? [end]"]))
        # -> [b"[start] qu\\xc3\\xa9 tal [end]"]
    """
    import tensorflow as tf

    # utf-8 so that capitals such as "É" and "Á" are lowercased too.
    lowercase = tf.strings.lower(input_string, encoding="utf-8")
    return tf.strings.regex_replace(lowercase, _STRIP_PATTERN, "")
