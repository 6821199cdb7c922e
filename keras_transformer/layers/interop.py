"""Matching this package's encoder/decoder sublayers with keras-hub's.

With the default `key_dim = embed_dim // num_heads` the two libraries' layers
hold the same weights in the same shapes, so weights copy sublayer by
sublayer. The tests use this to check the layers agree; the decoding
benchmark uses it to run keras-hub's cached decoder on trained weights.
"""

from keras_transformer.layers.decoder import TransformerDecoder


def keras_hub_sublayer_pairs(ours, hub):
    """`[(ours_sublayer, hub_sublayer), ...]` for a built encoder or decoder pair."""
    pairs = [(ours.dense_proj_in, hub._feedforward_intermediate_dense),
             (ours.dense_proj_out, hub._feedforward_output_dense),
             (ours.dense_proj_norm, hub._feedforward_layer_norm)]
    if isinstance(ours, TransformerDecoder):
        pairs += [(ours.self_attention, hub._self_attention_layer),
                  (ours.self_attention_norm, hub._self_attention_layer_norm)]
        if ours.has_cross_attention:
            pairs += [(ours.cross_attention, hub._cross_attention_layer),
                      (ours.cross_attention_norm, hub._cross_attention_layer_norm)]
    else:
        pairs += [(ours.attention, hub._self_attention_layer),
                  (ours.attention_norm, hub._self_attention_layer_norm)]
    return pairs


def copy_weights_to_keras_hub(ours, hub):
    """Give keras-hub's built layer `hub` this package's layer's weights."""
    if ours.key_dim * ours.num_heads != ours.embed_dim:
        raise ValueError(
            f"keras-hub's layers need key_dim == embed_dim // num_heads; this layer has "
            f"key_dim={ours.key_dim}, embed_dim={ours.embed_dim}, num_heads={ours.num_heads}."
        )
    for mine, theirs in keras_hub_sublayer_pairs(ours, hub):
        theirs.set_weights(mine.get_weights())
