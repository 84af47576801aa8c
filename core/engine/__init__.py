"""The training engine, the only part that imports TensorFlow: Keras models, the compiled loop for one or many seeds, its callbacks."""
