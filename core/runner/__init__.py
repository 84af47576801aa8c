"""Running trainings for an asker that never imports TensorFlow: the worker processes and their typed messages, and the budget."""
