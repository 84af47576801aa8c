"""The training engine (the one package that imports TensorFlow): Keras models, the compiled loop for one or many seeds, its stop flag."""
