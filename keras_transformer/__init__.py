"""keras_transformer: chapter 11 of Deep Learning with Python, in Keras 3."""
