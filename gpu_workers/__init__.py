"""GPU workers: training and inference, plain CPU-testable logic wrapped by Modal apps."""
