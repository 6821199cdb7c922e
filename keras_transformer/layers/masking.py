"""Padding masks checked at the door: one `(batch, length)` boolean per token."""

from keras import ops


def check_padding_mask(mask, inputs, layer_name, what="padding mask"):
    """`mask` as booleans, after checking it is `(batch, length)` for `inputs`.

    A mask of another rank, `(B, T, 1)` say, would broadcast silently inside
    attention (and be misapplied when `T` equals the number of heads), so it
    is refused here with the shape expected and the shape given.

    Args:
        mask: None, or `(B, T)` booleans (or 0/1), True at real tokens.
        inputs: the tensor the mask describes, `(B, T, ...)`.
        layer_name: named in the error.
        what: which mask, named in the error.

    Returns:
        None, or the mask cast to bool.

    Example:
    >>> check_padding_mask(ops.ones((2, 5, 1)), ops.ones((2, 5, 8)), "MyLayer")
    Traceback (most recent call last):
    ValueError: MyLayer: the padding mask must have shape (batch, length) = (2, 5); got (2, 5, 1). ...
    """
    if mask is None:
        return None
    shape = tuple(mask.shape)
    expected = tuple(inputs.shape[:2])
    fits = len(shape) == 2 and all(
        given is None or wanted is None or given == wanted for given, wanted in zip(shape, expected)
    )
    if not fits:
        raise ValueError(
            f"{layer_name}: the {what} must have shape (batch, length) = {expected}; got {shape}. "
            "Pass one boolean per token, e.g. `token_ids != 0`, without a trailing axis."
        )
    return ops.cast(mask, "bool")
