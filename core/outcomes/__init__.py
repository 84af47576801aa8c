"""What a run leaves: typed results and readouts that load without TensorFlow, and the summaries of restarts over seeds."""
