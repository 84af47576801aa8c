"""Running trainings for an asker that never imports TensorFlow: the worker processes and their messages, the budget, stopping."""
